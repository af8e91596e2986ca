"""Contrast augmentation that MONAI lacks: random contrast inversion inside the object, and the choice of contrast
transform by whether an item has tissue maps.

A denoiser trained only on T1-weighted images learns that dark tissue is background. Inverting the
contrast inside the head (bright CSF, dark white matter, as in T2-weighted images) while keeping the
background at zero teaches it otherwise.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import OneOf, Randomizable, RandomizableTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

from monai_nad.transforms.dictionary import RandDelegated

__all__ = [
    "RandContrastInversion",
    "RandContrastInversiond",
    "RandContrastInversionD",
    "RandContrastInversionDict",
    "RandContrastChoiced",
    "RandContrastChoiceD",
    "RandContrastChoiceDict",
]


class RandContrastInversion(RandomizableTransform):
    """Randomly invert the contrast of the foreground of a non-negative image.

    With ``m = max(x)``, foreground ``F = {x > threshold * m}`` and a random offset ``o ~ U(offset_range) * m``,
    the output is ``(m + o - x) * m / (m + o - threshold * m)`` on ``F`` and 0 elsewhere: the brightest tissue
    becomes the darkest, the range ``[0, m]`` is kept, and the background stays at zero.

    Args:
        prob: probability of inverting.
        threshold: foreground threshold as a fraction of the image maximum. Defaults to 0.02.
        offset_range: range of the random offset (fraction of the maximum) added before inverting, so that
            the darkest inverted tissue is not exactly black. Defaults to ``(0.05, 0.3)``.

    Raises:
        ValueError: for a negative ``threshold`` or an invalid ``offset_range``.

    Example::

        t = RandContrastInversion(prob=1.0)
        t.set_random_state(0)
        t2_like = t(t1_image)  # (C, H, W[, D])
    """

    def __init__(
        self, prob: float = 0.3, threshold: float = 0.02, offset_range: Sequence[float] = (0.05, 0.3)
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold!r}.")
        lo, hi = (float(v) for v in offset_range)
        if not 0 <= lo <= hi:
            raise ValueError(f"offset_range must satisfy 0 <= low <= high, got {tuple(offset_range)!r}.")
        self.threshold = threshold
        self.offset_range = (lo, hi)
        self._offset = 0.0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if self._do_transform:
            self._offset = float(self.R.uniform(*self.offset_range))

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Apply the transform to ``img`` of shape ``(C, H, W[, D])``; the input is never modified."""
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        x = convert_to_tensor(img, track_meta=False, dtype=torch.float32)
        peak = float(x.max()) if x.numel() else 0.0
        if peak <= 0:
            return img
        foreground = x > self.threshold * peak
        top = peak * (1.0 + self._offset)
        inverted = (top - x) * peak / (top - self.threshold * peak)
        out = torch.where(foreground, inverted, torch.zeros_like(x))
        return convert_to_dst_type(out, img, dtype=out.dtype)[0]


class RandContrastInversiond(RandDelegated):
    """Dictionary twin of :class:`RandContrastInversion`: the same random draw is used for all ``keys``.

    Args:
        keys: keys of the images to transform.
        prob, threshold, offset_range: see :class:`RandContrastInversion`.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.3,
        threshold: float = 0.02,
        offset_range: Sequence[float] = (0.05, 0.3),
        allow_missing_keys: bool = False,
    ) -> None:
        inverter = RandContrastInversion(prob=1.0, threshold=threshold, offset_range=offset_range)
        super().__init__(keys, prob, inverter, allow_missing_keys)


RandContrastInversionD = RandContrastInversionDict = RandContrastInversiond


class RandContrastChoiced(Randomizable, Transform):
    """Pick one contrast transform, with weights that depend on whether the item has tissue maps.

    An item with a ``"gm"`` map (MNI) goes through ``with_maps``, any other through ``without_maps``; each keeps a
    random state of its own, seeded from this transform's.

    Args:
        with_maps: the choice for items with tissue maps (e.g. tissue synthesis, band remap, inversion, as is).
        without_maps: the choice for the others.
    """

    def __init__(self, with_maps: OneOf, without_maps: OneOf) -> None:
        self.with_maps = with_maps
        self.without_maps = without_maps

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandContrastChoiced:
        super().set_random_state(seed, state)
        self.with_maps.set_random_state(seed=int(self.R.randint(2**31)))
        self.without_maps.set_random_state(seed=int(self.R.randint(2**31)))
        return self

    def randomize(self, data: Any = None) -> None:
        pass

    def __call__(self, data: Mapping[Hashable, Any]) -> Any:
        return (self.with_maps if "gm" in data else self.without_maps)(data)


RandContrastChoiceD = RandContrastChoiceDict = RandContrastChoiced
