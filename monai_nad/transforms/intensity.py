"""Deterministic intensity transforms MONAI lacks: RGB(A) to one grey channel, and clipping to ``>= 0``."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

__all__ = ["ToGreyscaled", "ToGreyscaleD", "ToGreyscaleDict", "ClipNonNegatived", "ClipNonNegativeD", "ClipNonNegativeDict"]


class ToGreyscaled(MapTransform):
    """Convert channel-first RGB(A) images to one luminance channel (0.299 R + 0.587 G + 0.114 B).

    Single-channel images are returned unchanged; alpha is ignored.

    Args:
        keys: keys of the images.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if image.shape[0] in (3, 4):
                weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).reshape(3, *([1] * (image.ndim - 1)))
                d[key] = (torch.as_tensor(image[:3], dtype=torch.float32) * weights).sum(0, keepdim=True)
                if hasattr(image, "meta"):
                    d[key] = type(image)(d[key], meta=image.meta)
        return d


class ClipNonNegatived(Transform):
    """Clip ``key`` to ``>= 0`` (cheap, type-preserving: a tensor stays a tensor, an array a float32-clipped array)."""

    def __init__(self, key: str = "image") -> None:
        self.key = key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        x = d[self.key]
        d[self.key] = x.clamp_min(0.0) if isinstance(x, torch.Tensor) else np.maximum(x, np.float32(0.0))
        return d


ToGreyscaleD = ToGreyscaleDict = ToGreyscaled
ClipNonNegativeD = ClipNonNegativeDict = ClipNonNegatived
