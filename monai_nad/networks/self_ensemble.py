"""Self-ensembles: a network averaged over flips and transposes of its input, each output turned back.

A denoiser that is not exactly equivariant to the image's orientation makes errors that partly differ from one
orientation to the next; the average of ``k`` orientations cancels some of them for ``k`` times the time. The
orientations are the 8 of the square's symmetry group acting on the last two axes (flips of either, then the
transpose), taken in a fixed order: 2 is the identity and one mirror, 4 the four flips, 8 all of them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

__all__ = ["SELF_ENSEMBLE_SIZES", "SelfEnsemble", "orientations", "turn", "turn_back"]

#: the supported numbers of orientations
SELF_ENSEMBLE_SIZES = (1, 2, 4, 8)


def orientations(count: int) -> list[tuple[tuple[int, ...], bool]]:
    """The first ``count`` orientations ``(flipped axes counted from the last, transposed)``; 2 is the identity and the
    mirror of the last axis.

    Raises:
        ValueError: ``count`` not in :data:`SELF_ENSEMBLE_SIZES`.
    """
    if count not in SELF_ENSEMBLE_SIZES:
        raise ValueError(f"self_ensemble must be one of {SELF_ENSEMBLE_SIZES}, got {count!r}.")
    flips = [(), (0,), (1,), (0, 1)]
    return [(f, t) for t in (False, True) for f in flips][:count] if count != 2 else [((), False), ((0,), False)]


def turn(t: torch.Tensor, flips: tuple[int, ...], transpose: bool) -> torch.Tensor:
    """``t`` in one orientation: the axes ``flips`` (counted from the last) flipped, then the last two transposed."""
    t = t.flip([t.ndim - 1 - a for a in flips]) if flips else t
    return t.transpose(-1, -2) if transpose else t


def turn_back(t: torch.Tensor, flips: tuple[int, ...], transpose: bool) -> torch.Tensor:
    """The inverse of :func:`turn`."""
    t = t.transpose(-1, -2) if transpose else t
    return t.flip([t.ndim - 1 - a for a in flips]) if flips else t


class SelfEnsemble(nn.Module):
    """``network`` averaged over ``count`` orientations of its input (:func:`orientations`).

    Extra arguments reach every call unchanged, so they must not depend on the orientation (a per-pixel noise map
    would have to be turned too: :class:`~monai_nad.networks.NoiseConditionedPDE` has its own ``self_ensemble``).

    Args:
        network: maps ``(B, C, H, W[, D])`` to the same shape, for images of either orientation of the last two axes.
        count: orientations, one of :data:`SELF_ENSEMBLE_SIZES` (1: the network itself). Defaults to 1.

    Raises:
        ValueError: an unsupported ``count``.
    """

    def __init__(self, network: nn.Module, count: int = 1) -> None:
        super().__init__()
        self.chosen = orientations(int(count))
        self.network = network
        self.count = int(count)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The average of ``network`` over the orientations of ``x`` (``(B, C, H, W[, D])``), each turned back."""
        if self.count == 1:
            return self.network(x, *args, **kwargs)
        total = torch.zeros_like(x)
        for flips, transpose in self.chosen:
            total = total + turn_back(self.network(turn(x, flips, transpose), *args, **kwargs), flips, transpose)
        return total / self.count
