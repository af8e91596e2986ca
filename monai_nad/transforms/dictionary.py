"""Dictionary twins of :mod:`monai_nad.transforms.array` (one random draw shared by all ``keys``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform

from monai_nad.transforms.array import RandCorrelatedNoise, RandGammaNoise, RandPoissonNoise, RicianBiasCorrection

__all__ = [
    "RandDelegated",
    "RandPoissonNoised",
    "RandPoissonNoiseD",
    "RandPoissonNoiseDict",
    "RandGammaNoised",
    "RandGammaNoiseD",
    "RandGammaNoiseDict",
    "RandCorrelatedNoised",
    "RandCorrelatedNoiseD",
    "RandCorrelatedNoiseDict",
    "RicianBiasCorrectiond",
    "RicianBiasCorrectionD",
    "RicianBiasCorrectionDict",
]


class RandDelegated(RandomizableTransform, MapTransform):
    """Apply one random array transform, drawn once per call, to every key (the base of the dictionary twins).

    Args:
        keys: keys of the images to transform.
        prob: probability of applying it.
        transform: the array transform (its own ``prob`` should be 1); it must accept ``randomize=False``.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(self, keys: KeysCollection, prob: float, transform: RandomizableTransform, allow_missing_keys: bool) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.transform = transform

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandDelegated:
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.transform.randomize(None)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key], randomize=False)
        return d


class RandPoissonNoised(RandDelegated):
    """Dictionary twin of :class:`~monai_nad.transforms.RandPoissonNoise`.

    Args:
        keys: keys of the images to corrupt.
        prob: probability of adding noise.
        lam: photon count scale or ``(low, high)`` range.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        lam: float | Sequence[float] = (200.0, 700.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, RandPoissonNoise(prob=1.0, lam=lam), allow_missing_keys)


class RandGammaNoised(RandDelegated):
    """Dictionary twin of :class:`~monai_nad.transforms.RandGammaNoise`.

    Args:
        keys: keys of the images to corrupt.
        prob: probability of adding noise.
        shape: Gamma shape ``k`` or ``(low, high)`` range.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        shape: float | Sequence[float] = (100.0, 500.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, RandGammaNoise(prob=1.0, shape=shape), allow_missing_keys)


class RandCorrelatedNoised(RandDelegated):
    """Dictionary twin of :class:`~monai_nad.transforms.RandCorrelatedNoise`.

    Args:
        keys: keys of the images to corrupt.
        prob: probability of adding noise.
        std: noise standard deviation or ``(low, high)`` range.
        correlation_length: Gaussian kernel sigma in pixels.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        std: float | Sequence[float] = (0.0, 0.1),
        correlation_length: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        noise = RandCorrelatedNoise(prob=1.0, std=std, correlation_length=correlation_length)
        super().__init__(keys, prob, noise, allow_missing_keys)


class RicianBiasCorrectiond(MapTransform):
    """Dictionary twin of :class:`~monai_nad.transforms.RicianBiasCorrection`.

    Args:
        keys: keys of the images to correct.
        noise_std: Rician noise level. If None, it is read per item from ``data[noise_std_key]``.
        b: correction strength.
        noise_std_key: where to read the noise level when ``noise_std`` is None. Defaults to ``"noise_std"``, the
            key :class:`~monai_nad.transforms.DeterministicNoisyPaird` and :class:`~monai_nad.transforms.RandNoisyPaird`
            write (one number per item).
        allow_missing_keys: don't raise if a key is missing.

    Raises:
        KeyError: ``noise_std`` is None and the item has no ``noise_std_key``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        noise_std: float | None = None,
        b: float = 1.0,
        noise_std_key: str = "noise_std",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.noise_std = noise_std
        self.b = b
        self.noise_std_key = noise_std_key
        if noise_std is not None:
            RicianBiasCorrection(noise_std, b)  # validate early

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        noise_std = self.noise_std
        if noise_std is None:
            if self.noise_std_key not in d:
                raise KeyError(f"RicianBiasCorrectiond: no noise_std given and the item has no {self.noise_std_key!r} key.")
            noise_std = float(d[self.noise_std_key])
        correct = RicianBiasCorrection(noise_std, self.b)
        for key in self.key_iterator(d):
            d[key] = correct(d[key])
        return d


RandPoissonNoiseD = RandPoissonNoiseDict = RandPoissonNoised
RandGammaNoiseD = RandGammaNoiseDict = RandGammaNoised
RandCorrelatedNoiseD = RandCorrelatedNoiseDict = RandCorrelatedNoised
RicianBiasCorrectionD = RicianBiasCorrectionDict = RicianBiasCorrectiond
