"""Undo the Rician bias of a self-supervised estimate: invert the Rician mean with a blind noise estimate.

A denoiser trained against noisy magnitude images (Noise2Self, blind-spot networks) estimates ``E[y]``, the mean of
the Rician distribution, not the underlying amplitude ``A``: in the background it returns about ``1.25 sigma``
instead of 0. With ``a = A / sigma`` the Rician mean is

    E[y] / sigma = sqrt(pi / 2) * L_{1/2}(-a^2 / 2) = sqrt(pi / 2) * ((1 + a^2 / 2) I0e(a^2 / 4) + (a^2 / 2) I1e(a^2 / 4))

(``I0e``, ``I1e``: exponentially scaled Bessel functions), increasing from ``sqrt(pi / 2)`` at ``a = 0`` towards
``sqrt(a^2 + 1)``. :func:`rician_mean_inversion` inverts it per pixel (0 below the floor;
:func:`~monai_nad.transforms.magnitude_mean_inversion` for one coil), with the ``sigma`` it is told: the blind estimate
of the noisy input (:func:`~monai_nad.transforms.second_difference_noise_std`, which the inferers pass), so no clean
image and no tuned strength are needed.

Scanner magnitudes are not all Rician: a root-sum-of-squares of ``N`` coils is non-central chi, whose floor in the air is
about ``sqrt(2 N) sigma``, and parallel imaging makes ``sigma`` vary across the image. :class:`MagnitudeMeanInversion`
inverts the ``N``-coil magnitude mean pixel by pixel with a per-pixel std map and the coil count, both as
:func:`~monai_nad.transforms.estimate_noise` reads them from the scan's air (the command line's blind estimate,
``--noise-estimate map``, which passes them). The mean of a pixel's magnitude depends on its own noise std and ``N``
only, not on the noise's correlation, so filtered (correlated) noise needs no other correction.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn as nn

from monai_nad.transforms.noise import blind_noise_std, magnitude_mean_inversion
from monai_nad.transforms.posterior_magnitude import posterior_magnitude

__all__ = ["POST_CORRECTIONS", "MagnitudeMeanInversion", "RicianMeanInversion", "rician_mean", "rician_mean_inversion", "with_post_correction"]

POST_CORRECTIONS = (None, "rician_mean", "magnitude_mean", "rician_mean_posterior", "magnitude_mean_posterior")
#: what :class:`RicianMeanInversion` says when called without a noise level
MISSING_LEVEL = (
    "the Rician mean inversion needs the noise level noise_std (B, C) of its input; when it is not known, pass the "
    "blind estimate: noise_std = monai_nad.transforms.second_difference_noise_std(x) (what the inferers do)."
)
#: what :class:`MagnitudeMeanInversion` says when called without a noise std
MISSING_MAP = (
    "the magnitude mean inversion needs the noise std of its input (a per-pixel map like it, or one value per image "
    "(B, C)) and the coil count: run it through monai_nad.inference.ScanInferer(noise_estimate='map', "
    "white_gain={'2d': 0.0, '3d': 0.0}), which estimates both from each scan's air (monai_nad.transforms.estimate_noise)."
)
_TABLE_POINTS = 4001  # the Rician mean tabulated at A / sigma = 0, 0.01, ..., 40 (the published rows used this table)


def rician_mean(a: torch.Tensor) -> torch.Tensor:
    """``E[y] / sigma`` of a Rician variable with amplitude ``a * sigma``."""
    z = a.double() ** 2 / 4.0
    value = math.sqrt(math.pi / 2.0) * ((1.0 + 2.0 * z) * torch.special.i0e(z) + 2.0 * z * torch.special.i1e(z))
    return value.to(a.dtype)


def rician_mean_inversion(m: torch.Tensor, noise_std: torch.Tensor) -> torch.Tensor:
    """The amplitude whose Rician mean is ``m``.

    Args:
        m: estimates of ``E[y]``, ``(B, C, ...)``.
        noise_std: ``(B, C)`` noise standard deviations (0 leaves ``m`` unchanged).

    Returns:
        amplitudes ``>= 0``, same shape as ``m``; 0 where ``m <= sqrt(pi / 2) noise_std``.
    """
    shape = list(noise_std.shape) + [1] * (m.ndim - 2)
    return magnitude_mean_inversion(m, noise_std.reshape(shape), coils=1, points=_TABLE_POINTS)


class RicianMeanInversion(nn.Module):
    """Apply :func:`rician_mean_inversion` to a network's output, with the noise level of the network's input.

    Args:
        network: a denoiser trained to estimate ``E[y]`` (e.g. self-supervised on magnitude images).
        posterior: return the posterior-mean amplitude given the estimate's own error
            (:func:`~monai_nad.transforms.posterior_magnitude`) instead of the exact inversion, which turns the
            estimate's scatter around the noise floor into speckle in the air. Defaults to False.

    The wrapper has no parameters of its own; load weights into ``network`` before wrapping.
    """

    #: the blind estimate of the level the inversion was validated with (a method of
    #: :func:`~monai_nad.transforms.estimate_noise_std`): the inferers pass it when the level is not known
    noise_std_method = "second_difference"

    def __init__(self, network: nn.Module, posterior: bool = False) -> None:
        super().__init__()
        self.network = network
        self.posterior = posterior

    def forward(self, x: torch.Tensor, noise_std: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` with the network and invert the Rician mean of its output.

        Args:
            x: noisy magnitude images ``(B, C, H, W[, D])``.
            noise_std: their noise levels ``(B, C)``, required; when not known, the blind estimate
                ``monai_nad.transforms.second_difference_noise_std(x)`` (:attr:`noise_std_method`, what the inferers
                pass). A network that takes a level is told it too.

        Raises:
            ValueError: no ``noise_std``.
        """
        if noise_std is None:
            raise ValueError(MISSING_LEVEL)
        sigma = torch.as_tensor(noise_std, dtype=x.dtype, device=x.device)
        inner = self.network(x, sigma) if _takes_noise_std(self.network) else self.network(x)
        if self.posterior:
            return _posterior_where_known(inner, sigma.reshape(list(sigma.shape) + [1] * (x.ndim - sigma.ndim)), 1)
        return rician_mean_inversion(inner, sigma)


class MagnitudeMeanInversion(nn.Module):
    """Apply :func:`~monai_nad.transforms.magnitude_mean_inversion` to a network's output: the ``N``-coil magnitude mean
    inverted pixel by pixel with the noise std (a per-pixel map or one value per image) and the coil count of the input.

    For denoisers that estimate ``E[M]`` (self-supervised on magnitude images), on multi-coil, filtered or parallel
    imaging data, where :class:`RicianMeanInversion`'s one white Rician level leaves the ``N``-coil floor in. The
    std and ``N`` come from the scan: :class:`~monai_nad.inference.ScanInferer` with ``noise_estimate="map"`` and a
    white gain of 0 passes :func:`~monai_nad.transforms.estimate_noise`'s map and coil count as they are (the bundles
    that offer ``post_correction="magnitude_mean"`` run that way). A wrapped network that takes a noise level itself is
    told the blind level it was trained with (its ``noise_std_method``), not the map.

    Args:
        network: a denoiser trained to estimate ``E[M]``; load its weights before wrapping.
        posterior: the posterior-mean signal given the estimate's own error
            (:func:`~monai_nad.transforms.posterior_magnitude`) instead of the exact inversion. Defaults to False.
    """

    def __init__(self, network: nn.Module, posterior: bool = False) -> None:
        super().__init__()
        self.network = network
        self.posterior = posterior

    def forward(self, x: torch.Tensor, noise_std: torch.Tensor | float | None = None, coils: int | float | torch.Tensor = 1) -> torch.Tensor:
        """Denoise ``x`` with the network and invert the ``N``-coil magnitude mean of its output.

        Args:
            x: noisy magnitude images ``(B, C, H, W[, D])``.
            noise_std: the std of one real channel of the noise: a per-pixel map of ``x``'s shape, ``(B, C)``, ``(B,)``
                or a number; required.
            coils: the effective coil count ``N`` (1: Rician): a number, or one per image ``(B,)``; rounded to an integer.

        Returns:
            the inverted output, ``x``'s shape, ``>= 0``.

        Raises:
            ValueError: no ``noise_std``, a ``noise_std`` that does not fit ``x`` or is not finite and non-negative, or a
                coil count below 1.
        """
        if noise_std is None:
            raise ValueError(MISSING_MAP)
        sigma = torch.as_tensor(noise_std, dtype=x.dtype, device=x.device)
        if sigma.shape != x.shape:
            if sigma.numel() == 1:
                sigma = sigma.reshape([1] * x.ndim)
            elif sigma.shape == x.shape[:1] or sigma.shape == x.shape[:2]:  # (B,) or (B, C)
                sigma = sigma.reshape(*sigma.shape, *[1] * (x.ndim - sigma.ndim))
            else:
                raise ValueError(f"noise_std must be a map of the input's shape {tuple(x.shape)}, (B, C), (B,) or a number; got shape {tuple(sigma.shape)}.")
        if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
            raise ValueError("noise_std must be finite and non-negative (0 leaves a pixel as the network returns it).")
        counts = torch.as_tensor(coils, dtype=torch.float64).reshape(-1)
        if counts.numel() not in (1, x.shape[0]) or not bool(torch.isfinite(counts).all()) or bool((counts.round() < 1).any()):
            raise ValueError(f"coils must be one count >= 1 or one per image ({x.shape[0]}), got {coils!r}.")
        if _takes_noise_std(self.network):  # told the blind level it was trained with, not the map
            inner = self.network(x, blind_noise_std(x, method=getattr(self.network, "noise_std_method", "auto")))
        else:
            inner = self.network(x)
        inner = inner.clamp(min=0)

        def invert(m: torch.Tensor, s: torch.Tensor, n: int) -> torch.Tensor:
            return _posterior_where_known(m, s, n) if self.posterior else magnitude_mean_inversion(m, s, coils=n)

        if counts.numel() == 1 or bool((counts == counts[0]).all()):
            return invert(inner, sigma, int(counts[0].round()))
        per_image = torch.broadcast_to(sigma, x.shape)
        return torch.cat([invert(inner[i : i + 1], per_image[i : i + 1], int(counts[i].round())) for i in range(x.shape[0])])


def _posterior_where_known(m: torch.Tensor, sigma: torch.Tensor, coils: int) -> torch.Tensor:
    """:func:`~monai_nad.transforms.posterior_magnitude` of each image whose noise std is positive everywhere; the exact
    inversion of the others (a std of 0 leaves a pixel as it is)."""
    per_image = torch.broadcast_to(sigma, m.shape)
    return torch.cat([
        posterior_magnitude(m[i : i + 1], per_image[i : i + 1], coils=coils) if bool((per_image[i] > 0).all())
        else magnitude_mean_inversion(m[i : i + 1], per_image[i : i + 1], coils=coils)
        for i in range(m.shape[0])
    ])


def _takes_noise_std(network: nn.Module) -> bool:
    try:
        return "noise_std" in inspect.signature(getattr(network, "forward", network)).parameters
    except (TypeError, ValueError):
        return False


def with_post_correction(network: nn.Module, correction: str | None) -> nn.Module:
    """``network`` itself (``None``), or wrapped in :class:`RicianMeanInversion` (``"rician_mean"``) or
    :class:`MagnitudeMeanInversion` (``"magnitude_mean"``); the ``"..._posterior"`` names return the posterior-mean
    signal given the estimate's error instead of the exact inversion (``posterior=True``).

    Raises:
        ValueError: an unknown correction.
    """
    if correction is None:
        return network
    if correction in ("rician_mean", "rician_mean_posterior"):
        return RicianMeanInversion(network, posterior=correction.endswith("_posterior"))
    if correction in ("magnitude_mean", "magnitude_mean_posterior"):
        return MagnitudeMeanInversion(network, posterior=correction.endswith("_posterior"))
    raise ValueError(f"unknown post_correction {correction!r}; choose one of {POST_CORRECTIONS}.")
