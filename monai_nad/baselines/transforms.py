"""Classical denoisers as MONAI dictionary transforms."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type, convert_to_numpy

from monai_nad.baselines.classical import BASELINES, classical_denoise
from monai_nad.transforms.array import RicianBiasCorrection

__all__ = ["ClassicalDenoised", "ClassicalDenoiseD", "ClassicalDenoiseDict"]


class ClassicalDenoised(MapTransform):
    """Denoise channel-first images ``(C, H, W[, D])`` with a classical method, channel by channel.

    Args:
        keys: keys of the images to denoise.
        method: a key of :data:`~monai_nad.baselines.classical.BASELINES`.
        noise_std: the noise level, a standard deviation (image units).
        params: the method's parameters (e.g. from :func:`~monai_nad.baselines.tuning.tune_baseline`).
        rician_b: when given, follow with the Rician bias correction of strength ``b`` at ``noise_std``.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([LoadImaged("image"), EnsureChannelFirstd("image"), ScaleIntensityd("image"),
                 ClassicalDenoised("image", "nlm", noise_std=0.05, params={"h_factor": 0.8}, rician_b=1.0)])
    """

    def __init__(
        self,
        keys: KeysCollection,
        method: str,
        noise_std: float,
        params: Mapping[str, Any] | None = None,
        rician_b: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if method not in BASELINES:
            raise ValueError(f"unknown baseline {method!r}; choose one of {sorted(BASELINES)}.")
        self.method, self.noise_std, self.params, self.rician_b = method, float(noise_std), dict(params or {}), rician_b

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = convert_to_numpy(d[key])
            out = np.stack([classical_denoise(self.method, channel, self.noise_std, **self.params) for channel in image])
            if self.rician_b is not None:
                out = RicianBiasCorrection(self.noise_std, self.rician_b)(out)
            d[key] = convert_to_dst_type(np.asarray(out, dtype=np.float32), d[key], dtype=np.float32)[0]
        return d


ClassicalDenoiseD = ClassicalDenoiseDict = ClassicalDenoised
