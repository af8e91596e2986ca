"""Apply a 2D denoiser to 2D images and, slice by slice, to 3D volumes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.inferers import Inferer

__all__ = ["SliceWiseInferer"]


class SliceWiseInferer(Inferer):
    """Run a 2D network on ``(B, C, H, W)`` batches directly and on ``(B, C, X, Y, Z)`` volumes slice by slice.

    Args:
        axis: the spatial axis (0, 1 or 2 of ``X, Y, Z``; -1 is the last) along which 3D volumes are cut.
            Defaults to -1 (axial for RAS-like NIfTI).
        batch_size: slices per network call. Defaults to 16.
        progress: show a progress bar over the slices of each volume. Defaults to False.
    """

    def __init__(self, axis: int = -1, batch_size: int = 16, progress: bool = False) -> None:
        super().__init__()
        if axis not in (-3, -2, -1, 0, 1, 2):
            raise ValueError(f"axis must be a spatial axis of a 3D volume (0, 1, 2 or negative), got {axis!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
        self.axis = axis % 3
        self.batch_size = batch_size
        self.progress = progress

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args, **kwargs) -> torch.Tensor:
        """
        Args:
            inputs: ``(B, C, H, W)`` or ``(B, C, X, Y, Z)``.
            network: a 2D network mapping ``(N, C, H, W)`` to the same shape.

        Returns:
            the network output, same shape as ``inputs``.
        """
        if inputs.ndim == 4:
            return network(inputs, *args, **kwargs)
        if inputs.ndim != 5:
            raise ValueError(f"expected a (B, C, H, W) or (B, C, X, Y, Z) batch, got shape {tuple(inputs.shape)}.")
        b, c = inputs.shape[:2]
        moved = torch.movedim(inputs, 2 + self.axis, 2)  # (B, C, S, h, w)
        s = moved.shape[2]
        slices = moved.transpose(1, 2).reshape(b * s, c, *moved.shape[3:])
        starts = range(0, slices.shape[0], self.batch_size)
        if self.progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="slices", unit="batch", leave=False)
        out = torch.cat([network(slices[i : i + self.batch_size], *args, **kwargs) for i in starts])
        out = out.reshape(b, s, c, *moved.shape[3:]).transpose(1, 2)
        return torch.movedim(out, 2, 2 + self.axis)
