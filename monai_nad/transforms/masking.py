"""Noise2Self-style masking: train any denoiser from noisy images alone.

A random grid of pixels (one in ``stride`` along every axis, random phase) is hidden: each hidden pixel is replaced
by the mean of its ``3^d - 1`` neighbours, and the loss is computed on the hidden pixels only, against the noisy
value the network never saw (Batson & Royer 2019, "Noise2Self"). For noise that is independent between pixels and
zero-mean given the signal, the expected masked loss is the loss against the clean image plus a constant, so
minimising it needs no clean reference. With ``stride >= 2`` no hidden pixel lies in another's 3x3 neighbourhood,
so no replacement value contains a hidden pixel.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["BlindSpotMaskd", "BlindSpotMaskD", "BlindSpotMaskDict", "neighbour_mean"]


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


class BlindSpotMaskd(RandomizableTransform, MapTransform):
    """Hide a random pixel grid of the noisy ``image`` and make the self-supervised ``label``.

    Output: ``image`` with the hidden pixels replaced by their neighbour mean, and ``label`` of ``2 C`` channels:
    the unmodified noisy image (channels ``:C``) and the 0/1 mask of hidden pixels (channels ``C:``), as
    :class:`~monai_nad.losses.MaskedLoss` expects. Anything already under ``label_key`` (e.g. a clean image) is
    replaced, so the training loss cannot see it. The input dictionary and arrays are not modified.

    Args:
        keys: the noisy image key (a single key). Defaults to ``"image"``.
        label_key: where to write the target. Defaults to ``"label"``.
        stride: one hidden pixel per ``stride`` along every axis (at least 2). Defaults to 4.

    Raises:
        ValueError: ``stride < 2``, more than one key, or an image smaller than 2 pixels along an axis.
    """

    def __init__(self, keys: KeysCollection = "image", label_key: str = "label", stride: int = 4) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"BlindSpotMaskd takes exactly one image key, got {self.keys!r}.")
        if int(stride) < 2:
            raise ValueError(f"stride must be at least 2 (hidden pixels must not be neighbours), got {stride!r}.")
        self.label_key = label_key
        self.stride = int(stride)
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
        hidden = torch.where(mask > 0, neighbour_mean(noisy), noisy)
        d[key] = convert_to_dst_type(hidden, d[key], dtype=torch.float32)[0]
        d[self.label_key] = convert_to_dst_type(torch.cat([noisy, mask], dim=0), d[key], dtype=torch.float32)[0]
        return d


BlindSpotMaskD = BlindSpotMaskDict = BlindSpotMaskd
