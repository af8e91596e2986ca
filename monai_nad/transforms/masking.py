"""Noise2Self-style masking: train any denoiser from noisy images alone.

A random grid of pixels (one in ``stride`` along every axis, random phase) is hidden: each hidden pixel is replaced
by the mean of its ``3^d - 1`` neighbours, and the loss is computed on the hidden pixels only, against the noisy
value the network never saw (Batson & Royer 2019, "Noise2Self"). For noise that is independent between pixels and
zero-mean given the signal, the expected masked loss is the loss against the clean image plus a constant, so
minimising it needs no clean reference. With ``stride >= 2`` no hidden pixel lies in another's 3x3 neighbourhood,
so no replacement value contains a hidden pixel.

Noise correlated across pixels (filtered or interpolated k-space) breaks the assumption: the neighbours carry part of
the hidden pixel's noise, and the network learns to reproduce it. ``radius`` r hides a ``(2 r + 1)``-wide block around
each scored pixel instead (each block replaced by the mean of the ring of pixels just outside it), so the network sees
nothing closer than ``r + 1`` pixels to the pixel it is scored on.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["BlindSpotMaskd", "BlindSpotMaskD", "BlindSpotMaskDict", "neighbour_mean", "ring_mean"]


def neighbour_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of the ``3^d - 1`` neighbours of every pixel (the pixel itself excluded; reflecting borders).

    Args:
        x: ``(C, H, W[, D])``.

    Returns:
        the same shape.
    """
    spatial_dims = x.ndim - 1
    padded = torch.nn.functional.pad(x[None].float(), [1] * (2 * spatial_dims), mode="reflect")[0]
    total = torch.zeros_like(x, dtype=torch.float32)
    sizes = x.shape[1:]
    for offset in torch.cartesian_prod(*[torch.arange(3)] * spatial_dims).reshape(-1, spatial_dims).tolist():
        if all(o == 1 for o in offset):
            continue
        index = (slice(None),) + tuple(slice(o, o + n) for o, n in zip(offset, sizes))
        total = total + padded[index]
    return (total / (3**spatial_dims - 1)).to(x.dtype)


def ring_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of the pixels at Chebyshev distance exactly ``radius + 1`` from every pixel (reflecting borders);
    :func:`neighbour_mean` for ``radius`` 0.

    Args:
        x: ``(C, H, W[, D])``.
        radius: the half-width of the block inside the ring (>= 0).

    Returns:
        the same shape.
    """
    spatial_dims = x.ndim - 1
    pool = torch.nn.functional.avg_pool2d if spatial_dims == 2 else torch.nn.functional.avg_pool3d
    outer, inner = 2 * radius + 3, 2 * radius + 1
    padded = torch.nn.functional.pad(x[None].float(), [radius + 1] * (2 * spatial_dims), mode="reflect")
    total = pool(padded, outer, stride=1) * outer**spatial_dims
    core = pool(padded, inner, stride=1, padding=0)
    core = core[(slice(None), slice(None)) + (slice(1, -1),) * spatial_dims] * inner**spatial_dims
    return ((total - core) / (outer**spatial_dims - inner**spatial_dims))[0].to(x.dtype)


class BlindSpotMaskd(RandomizableTransform, MapTransform):
    """Hide a random pixel grid of the noisy ``image`` and make the self-supervised ``label``.

    Output: ``image`` with the hidden pixels replaced by their neighbour mean, and ``label`` of ``2 C`` channels:
    the unmodified noisy image (channels ``:C``) and the 0/1 mask of hidden pixels (channels ``C:``), as
    :class:`~monai_nad.losses.MaskedLoss` expects. Anything already under ``label_key`` (e.g. a clean image) is
    replaced, so the training loss cannot see it. The input dictionary and arrays are not modified.

    Args:
        keys: the noisy image key (a single key). Defaults to ``"image"``.
        label_key: where to write the target. Defaults to ``"label"``.
        stride: one hidden pixel per ``stride`` along every axis (at least 2, at least ``2 radius + 2``). Defaults to 4.
        radius: hide the ``(2 radius + 1)``-wide block around each scored pixel, replaced by the mean of the ring just
            outside it, for noise correlated across pixels (0: the pixel alone, replaced by its neighbours' mean).
            Defaults to 0.

    Raises:
        ValueError: ``stride`` too small, more than one key, or an image smaller than 2 pixels along an axis.
    """

    def __init__(self, keys: KeysCollection = "image", label_key: str = "label", stride: int = 4, radius: int = 0) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"BlindSpotMaskd takes exactly one image key, got {self.keys!r}.")
        if int(stride) < 2:
            raise ValueError(f"stride must be at least 2 (hidden pixels must not be neighbours), got {stride!r}.")
        if int(radius) < 0 or int(stride) < 2 * int(radius) + 2:
            raise ValueError(f"radius must be >= 0 and stride at least 2 radius + 2 (blocks must not touch), got radius {radius!r}, stride {stride!r}.")
        self.label_key = label_key
        self.stride = int(stride)
        self.radius = int(radius)
        self._phase: tuple[int, ...] = ()

    def randomize(self, spatial_dims: int) -> None:  # type: ignore[override]
        super().randomize(None)
        self._phase = tuple(int(p) for p in self.R.randint(0, self.stride, size=spatial_dims))

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        key = self.keys[0]
        if key not in d:
            raise KeyError(f"key {key!r} not found in the data; available keys: {list(d)}.")
        noisy = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
        if noisy.ndim < 3 or min(noisy.shape[1:]) < 2:
            raise ValueError(f"BlindSpotMaskd needs a channel-first image (C, H, W[, D]) of >= 2 pixels per axis, got {tuple(noisy.shape)}.")
        self.randomize(noisy.ndim - 1)
        mask = torch.zeros_like(noisy)
        grid = (slice(None),) + tuple(slice(p, None, self.stride) for p in self._phase)
        mask[grid] = 1.0
        if self.radius == 0:
            hidden = torch.where(mask > 0, neighbour_mean(noisy), noisy)
        else:  # each block takes its centre's ring mean (blocks do not overlap: a box sum spreads the centre's value)
            width = 2 * self.radius + 1
            pool = torch.nn.functional.avg_pool2d if noisy.ndim == 3 else torch.nn.functional.avg_pool3d
            both = torch.cat([ring_mean(noisy, self.radius) * mask, mask])[None]  # (1, 2C, ...): values at the centres, the centres
            spread = pool(both, width, stride=1, padding=self.radius, count_include_pad=True)[0] * width ** (noisy.ndim - 1)
            c = noisy.shape[0]
            hidden = torch.where(spread[c:] > 0.5, spread[:c], noisy)
        d[key] = convert_to_dst_type(hidden, d[key], dtype=torch.float32)[0]
        d[self.label_key] = convert_to_dst_type(torch.cat([noisy, mask], dim=0), d[key], dtype=torch.float32)[0]
        return d


BlindSpotMaskD = BlindSpotMaskDict = BlindSpotMaskd
