"""Array noise transforms that MONAI lacks, and the Rician bias correction.

MONAI already provides Gaussian and Rician noise (:class:`monai.transforms.RandGaussianNoise`,
:class:`monai.transforms.RandRicianNoise`); this module adds the other noise families used by
DiffDenoise (Poisson photon counts, multiplicative Gamma speckle, spatially correlated Gaussian noise)
and the standard bias correction for Rician magnitude data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import RandomizableTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor
from scipy.ndimage import gaussian_filter

from monai_nad.transforms.noise import magnitude_bias_correction

__all__ = ["RandPoissonNoise", "RandGammaNoise", "RandCorrelatedNoise", "RicianBiasCorrection", "as_range"]


def as_range(value: float | Sequence[float], name: str, minimum: float = 0.0, strict: bool = False) -> tuple[float, float]:
    """Normalise a number or a ``(low, high)`` pair into a validated range.

    Args:
        value: a number (a fixed value) or a two-element sequence.
        name: the argument name, for error messages.
        minimum: the smallest allowed value.
        strict: if True, values must be strictly greater than ``minimum``.

    Returns:
        ``(low, high)`` with ``low <= high``.

    Raises:
        ValueError: non-finite, out-of-bounds or inverted values.
    """
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}.")
    low, high = float(pair[0]), float(pair[1])
    for v in (low, high):
        if not math.isfinite(v) or v < minimum or (strict and v == minimum):
            bound = ">" if strict else ">="
            raise ValueError(f"{name} values must be finite and {bound} {minimum}, got {value!r}.")
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}.")
    return low, high


def _float_image(img: NdarrayOrTensor) -> torch.Tensor:
    """A floating-point tensor view of ``img`` (float64 stays float64, everything else becomes float32)."""
    dtype = torch.float64 if getattr(img, "dtype", None) in (np.float64, torch.float64) else torch.float32
    return convert_to_tensor(img, track_meta=get_track_meta(), dtype=dtype)


class _RandLevelNoise(RandomizableTransform):
    """Shared mechanics: a noise level drawn per call from a range, and a float copy of the input to corrupt."""

    def __init__(self, prob: float, level: tuple[float, float]) -> None:
        RandomizableTransform.__init__(self, prob)
        self._level_range = level
        self._level = level[0]

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if self._do_transform:
            self._level = float(self.R.uniform(*self._level_range))

    def _add_noise(self, x: torch.Tensor, level: float) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Apply to ``img`` of shape ``(C, H, W[, D])``; returns a new array/tensor of the input's kind."""
        x = _float_image(img)
        if randomize:
            self.randomize()
        if not self._do_transform:
            return convert_to_dst_type(x, img, dtype=x.dtype)[0]
        out = self._add_noise(x, self._level)
        return convert_to_dst_type(out, img, dtype=out.dtype)[0]


class RandPoissonNoise(_RandLevelNoise):
    """Photon-count (Poisson) noise: ``Poisson(lam * x) / lam``, so the mean is kept and the variance is ``x / lam``.

    DiffDenoise uses ``lam`` of 200 and 700 for images in ``[0, 1]``; smaller ``lam`` means fewer photons and more noise.

    Args:
        prob: probability of adding noise.
        lam: photon count scale, a number or a ``(low, high)`` range sampled uniformly. Defaults to ``(200, 700)``.

    Raises:
        ValueError: a non-positive or inverted ``lam``; a negative image value.

    Example::

        noisy = RandPoissonNoise(prob=1.0, lam=200.0)(image)  # image (C, H, W[, D]) in [0, 1]
    """

    def __init__(self, prob: float = 0.1, lam: float | Sequence[float] = (200.0, 700.0)) -> None:
        self.lam = as_range(lam, "lam", strict=True)
        super().__init__(prob, self.lam)

    def _add_noise(self, x: torch.Tensor, level: float) -> torch.Tensor:
        values = x.detach().cpu().numpy()
        if (values < 0).any():
            raise ValueError(f"RandPoissonNoise needs non-negative intensities, got a minimum of {values.min():.4g}.")
        counts = self.R.poisson(values.astype(np.float64) * level).astype(values.dtype) / level
        return x * 0 + torch.as_tensor(counts, device=x.device)


class RandGammaNoise(_RandLevelNoise):
    """Multiplicative (speckle) Gamma noise: ``x * g`` with ``g ~ Gamma(k, 1/k)``, mean 1 and variance ``1/k``.

    DiffDenoise uses shapes ``k`` of 100 and 500; a smaller ``k`` means stronger speckle.

    Args:
        prob: probability of adding noise.
        shape: Gamma shape ``k``, a number or a ``(low, high)`` range sampled uniformly. Defaults to ``(100, 500)``.

    Raises:
        ValueError: a non-positive or inverted ``shape``.
    """

    def __init__(self, prob: float = 0.1, shape: float | Sequence[float] = (100.0, 500.0)) -> None:
        self.shape = as_range(shape, "shape", strict=True)
        super().__init__(prob, self.shape)

    def _add_noise(self, x: torch.Tensor, level: float) -> torch.Tensor:
        gain = self.R.gamma(level, 1.0 / level, size=tuple(x.shape))
        return x * torch.as_tensor(gain, dtype=x.dtype, device=x.device)


class RandCorrelatedNoise(_RandLevelNoise):
    """Additive, spatially correlated Gaussian noise.

    White Gaussian noise is filtered by a Gaussian kernel of standard deviation ``correlation_length`` (in
    pixels, along every spatial axis; reflecting borders), then divided by its own empirical standard
    deviation and multiplied by the requested ``std``, so the added field has exactly that standard
    deviation over the image. ``correlation_length = 0`` gives white noise.

    Args:
        prob: probability of adding noise.
        std: noise standard deviation (same intensity units as the image), a number or a ``(low, high)``
            range sampled uniformly. Defaults to ``(0.0, 0.1)``.
        correlation_length: Gaussian kernel sigma in pixels. Defaults to 1.0.

    Raises:
        ValueError: a negative or inverted ``std``, or a negative ``correlation_length``.
    """

    def __init__(
        self, prob: float = 0.1, std: float | Sequence[float] = (0.0, 0.1), correlation_length: float = 1.0
    ) -> None:
        self.std = as_range(std, "std")
        as_range(correlation_length, "correlation_length")
        self.correlation_length = float(correlation_length)
        super().__init__(prob, self.std)

    def _add_noise(self, x: torch.Tensor, level: float) -> torch.Tensor:
        white = self.R.standard_normal(size=tuple(x.shape))
        sigma = [0.0] + [self.correlation_length] * (x.ndim - 1)
        field = gaussian_filter(white, sigma=sigma, mode="reflect") if self.correlation_length > 0 else white
        spread = field.std()
        field = field * (level / spread) if spread > 0 else np.zeros_like(field)
        return x + torch.as_tensor(field, dtype=x.dtype, device=x.device)


class RicianBiasCorrection(Transform):
    """Rician bias correction of a magnitude image: ``sqrt(max(u^2 - 2 * b * noise_std^2, 0))``, the transform form of
    :func:`~monai_nad.transforms.noise.magnitude_bias_correction`.

    The magnitude of complex Gaussian noise has a positive bias (``noise_std * sqrt(pi / 2)`` in the background);
    subtracting ``2 noise_std^2`` from the second moment removes it. ``b`` (1 for the textbook correction) is
    tuned per method on validation data by the benchmark.

    Args:
        noise_std: Rician noise level (same units as the image), ``>= 0``.
        b: correction strength, ``>= 0``. Defaults to 1.0.

    Raises:
        ValueError: negative or non-finite ``noise_std`` or ``b``.
    """

    def __init__(self, noise_std: float, b: float = 1.0) -> None:
        self.noise_std = as_range(noise_std, "noise_std")[0]
        self.b = as_range(b, "b")[0]

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """Correct ``img`` of any shape; returns a new array/tensor of the input's kind."""
        out = magnitude_bias_correction(_float_image(img), self.noise_std, b=self.b)
        return convert_to_dst_type(out, img, dtype=out.dtype)[0]
