"""Noise models, noisy/clean pair construction, bias correction and contrast augmentation, in MONAI style."""

from __future__ import annotations

from monai.transforms import RandGaussianNoise, RandGaussianNoised, RandRicianNoise, RandRicianNoised

from monai_nad.transforms.array import RandCorrelatedNoise, RandGammaNoise, RandPoissonNoise, RicianBiasCorrection
from monai_nad.transforms.augment import (
    RandContrastInversion,
    RandContrastInversiond,
    RandContrastInversionD,
    RandContrastInversionDict,
)
from monai_nad.transforms.dictionary import (
    RandCorrelatedNoised,
    RandCorrelatedNoiseD,
    RandCorrelatedNoiseDict,
    RandGammaNoised,
    RandGammaNoiseD,
    RandGammaNoiseDict,
    RandPoissonNoised,
    RandPoissonNoiseD,
    RandPoissonNoiseDict,
    RicianBiasCorrectiond,
    RicianBiasCorrectionD,
    RicianBiasCorrectionDict,
)
from monai_nad.transforms.masking import BlindSpotMaskd, BlindSpotMaskD, BlindSpotMaskDict, neighbour_mean
from monai_nad.transforms.pairs import (
    NOISE_MODELS,
    DeterministicNoisyPaird,
    DeterministicNoisyPairD,
    DeterministicNoisyPairDict,
    RandNoisyPaird,
    RandNoisyPairD,
    RandNoisyPairDict,
    make_noise_transform,
    noise_seed,
)

__all__ = [
    "BlindSpotMaskd",
    "BlindSpotMaskD",
    "BlindSpotMaskDict",
    "neighbour_mean",
    "NOISE_MODELS",
    "make_noise_transform",
    "noise_seed",
    "RandRicianNoise",
    "RandRicianNoised",
    "RandGaussianNoise",
    "RandGaussianNoised",
    "RandPoissonNoise",
    "RandPoissonNoised",
    "RandPoissonNoiseD",
    "RandPoissonNoiseDict",
    "RandGammaNoise",
    "RandGammaNoised",
    "RandGammaNoiseD",
    "RandGammaNoiseDict",
    "RandCorrelatedNoise",
    "RandCorrelatedNoised",
    "RandCorrelatedNoiseD",
    "RandCorrelatedNoiseDict",
    "RicianBiasCorrection",
    "RicianBiasCorrectiond",
    "RicianBiasCorrectionD",
    "RicianBiasCorrectionDict",
    "RandContrastInversion",
    "RandContrastInversiond",
    "RandContrastInversionD",
    "RandContrastInversionDict",
    "RandNoisyPaird",
    "RandNoisyPairD",
    "RandNoisyPairDict",
    "DeterministicNoisyPaird",
    "DeterministicNoisyPairD",
    "DeterministicNoisyPairDict",
]
