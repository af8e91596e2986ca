"""Pad images to a size a U-Net accepts and crop the result back."""

from __future__ import annotations

import torch

__all__ = ["pad_to_multiple"]


def pad_to_multiple(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad every spatial axis of ``x`` symmetrically to a multiple of ``divisor``.

    Reflection padding where the axis is long enough, replication otherwise.

    Args:
        x: ``(B, C, H, W[, D])``.
        divisor: the multiple (1 leaves ``x`` unchanged).

    Returns:
        ``(padded, crop)`` with ``padded[crop]`` of the original shape.

    Raises:
        ValueError: ``divisor < 1``.
    """
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor!r}.")
    sizes = x.shape[2:]
    extra = [(-n) % divisor for n in sizes]
    crop = (slice(None), slice(None)) + tuple(slice(e // 2, e // 2 + n) for e, n in zip(extra, sizes))
    if not any(extra):
        return x, crop
    pads: list[int] = []
    for e in reversed(extra):
        pads += [e // 2, e - e // 2]
    mode = "reflect" if all(e - e // 2 < n for e, n in zip(extra, sizes)) else "replicate"
    return torch.nn.functional.pad(x, pads, mode=mode), crop
