"""The noise of the randomised training pairs: white magnitude noise or a simulated acquisition, and the level told.

:func:`training_noise_pairs` draws, per item, white magnitude noise added to the image
(:class:`~monai_nad.transforms.RandMagnitudeNoisePaird`) or, with ``scanner_prob``, a pair made through a simulated
acquisition (:func:`scanner_noise_pairs`). Either writes the noisy ``"image"``, the clean ``"label"``, the true noise
std map ``"noise_std"`` and the effective coil count ``"coils"``; then the network is told either the per-pixel std
and the coil count rounded to a whole number (:class:`RoundCoilsd`) or, for correlated noise, its white-equivalent
level (:class:`WhiteEquivalentNoiseStdd`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import OneOf, Transform

from monai_nad.transforms.noise_map import white_equivalent_factor
from monai_nad.transforms.randomisation import RandMagnitudeNoisePaird
from monai_nad.transforms.scanner_noise import RandScannerNoised

__all__ = [
    "scanner_noise_pairs",
    "training_noise_pairs",
    "RoundCoilsd",
    "RoundCoilsD",
    "RoundCoilsDict",
    "WhiteEquivalentNoiseStdd",
    "WhiteEquivalentNoiseStdD",
    "WhiteEquivalentNoiseStdDict",
]


def scanner_noise_pairs(
    noise_std: Sequence[float] = (0.005, 0.2), sense_weight: float = 0.35, widths_key: str | None = None, partial_fourier_share: float = 0.0
) -> OneOf:
    """Training pairs through a simulated acquisition (:class:`~monai_nad.transforms.RandScannerNoised`): the noisy
    magnitude, its noise-free reference through the same pipeline as the label, the per-pixel noise std map and the
    effective coil count.

    Two draws share the chain: magnitude, root-sum-of-squares (2-16 coils) or Roemer combination with a k-space window
    (any taper, 60-100 % of k-space, partial Fourier in 30 %) and a per-coil level log-uniform in ``noise_std``; and,
    with ``sense_weight``, SENSE unfolding (R = 2 or 3) whose level is that of the aliased coil images, drawn from
    ``noise_std`` divided by 4 since unfolding multiplies it by about ``R g`` (2-8 with these coil rings).
    With ``partial_fourier_share``, a third draw: one coil, magnitude, partial Fourier (55-80 % on a random axis) with
    neither a taper nor a reduced extent, the acquisition a scanner's partial-Fourier magnitude image comes from and
    which the first draw makes in only about 5 % of its pairs (mixed with tapers and smaller extents).

    Args:
        noise_std: the ``(low, high)`` range of the per-coil noise std. Defaults to ``(0.005, 0.2)``.
        sense_weight: the share of SENSE pairs. Defaults to 0.35.
        widths_key: where the noise's correlation widths go, as :func:`~monai_nad.transforms.estimate_noise` reads
            them from the air (:attr:`~monai_nad.transforms.ScannerNoiseSample.correlation_lengths`, for
            :class:`WhiteEquivalentNoiseStdd`); None: not written. Defaults to None.
        partial_fourier_share: the share of one-coil partial-Fourier pairs, in ``[0, 1)``; the other two draws keep their
            proportions in the rest. Defaults to 0.

    Returns:
        a :class:`~monai.transforms.OneOf` writing ``"image"``, ``"label"``, ``"noise_std"`` (a map) and ``"coils"``.

    Raises:
        ValueError: ``partial_fourier_share`` outside ``[0, 1)``.
    """
    if not 0.0 <= partial_fourier_share < 1.0:
        raise ValueError(f"partial_fourier_share must lie in [0, 1), got {partial_fourier_share!r}.")
    keys = {"reference_key": "label", "noise_std_key": "noise_std", "coils_key": "coils", "correlation_key": widths_key, "log_uniform": True}
    direct = RandScannerNoised("image", noise_std=tuple(noise_std), coils=(2, 16), combinations=("magnitude", "rss", "roemer"),
                               combination_weights=(0.4, 0.45, 0.15), **keys)
    sense = RandScannerNoised("image", noise_std=(noise_std[0] / 4, noise_std[1] / 4), coils=(4, 16), combinations=("sense",),
                              accelerations=(2, 3), **keys)
    rest = 1.0 - partial_fourier_share
    draws, weights = [direct, sense], [rest * (1.0 - sense_weight), rest * sense_weight]
    if partial_fourier_share > 0.0:
        draws.append(RandScannerNoised("image", noise_std=tuple(noise_std), coils=(1, 1), combinations=("magnitude",), windows=("none",),
                                       fraction=(1.0, 1.0), partial_fourier=(0.55, 0.8), partial_fourier_prob=1.0, **keys))
        weights.append(partial_fourier_share)
    return OneOf(draws, weights=weights)


def training_noise_pairs(
    noise_std: Sequence[float], coil_prob: float, varying_prob: float, scanner_prob: float, widths_key: str | None = None,
    partial_fourier_share: float = 0.0,
) -> RandMagnitudeNoisePaird | OneOf:
    """White magnitude noise pairs, or with ``scanner_prob`` :func:`scanner_noise_pairs`.

    Args:
        noise_std: the ``(low, high)`` range of the noise std (log-uniform).
        coil_prob: probability of multi-coil (non-central chi) white noise.
        varying_prob: probability of a spatially varying white-noise std.
        scanner_prob: the share of simulated acquisitions, in ``[0, 1]``.
        widths_key: where a simulated acquisition writes its noise's correlation widths (see
            :func:`scanner_noise_pairs`); None: not written. Defaults to None.
        partial_fourier_share: the share of one-coil partial-Fourier acquisitions among the simulated ones (see
            :func:`scanner_noise_pairs`). Defaults to 0.

    Returns:
        the :class:`~monai_nad.transforms.RandMagnitudeNoisePaird` alone when ``scanner_prob`` is 0, else a
        :class:`~monai.transforms.OneOf` of it and :func:`scanner_noise_pairs`.

    Raises:
        ValueError: ``scanner_prob`` outside ``[0, 1]`` or ``partial_fourier_share`` outside ``[0, 1)``.
    """
    white = RandMagnitudeNoisePaird("image", noise_std=noise_std, coil_prob=coil_prob, varying_prob=varying_prob)
    if not 0.0 <= scanner_prob <= 1.0:
        raise ValueError(f"scanner_prob must lie in [0, 1], got {scanner_prob!r}.")
    if not 0.0 <= partial_fourier_share < 1.0:
        raise ValueError(f"partial_fourier_share must lie in [0, 1), got {partial_fourier_share!r}.")
    if scanner_prob == 0.0:
        return white
    scanner = scanner_noise_pairs(noise_std, widths_key=widths_key, partial_fourier_share=partial_fourier_share)
    return OneOf([white, scanner], weights=[1.0 - scanner_prob, scanner_prob])


class RoundCoilsd(Transform):
    """Round ``key`` (an effective coil count) to the whole number >= 1 the networks' bias formula takes."""

    def __init__(self, key: str = "coils") -> None:
        self.key = key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        d[self.key] = max(1, int(round(float(d[self.key]))))
        return d


class WhiteEquivalentNoiseStdd(Transform):
    """Tell the white-equivalent level of correlated noise: ``noise_std`` times ``f``, ``coils`` divided by ``f^2``.

    ``f`` is :func:`~monai_nad.transforms.white_equivalent_factor` of the widths of the item's noise correlation as
    :func:`~monai_nad.transforms.estimate_noise` reads them from the air (written by a simulated acquisition,
    :func:`scanner_noise_pairs`' ``widths_key``), what inference computes from the estimated widths; an item without
    them (white noise) keeps ``f = 1``. The widths key is removed. With ``correlation_key``, the widths themselves,
    one per spatial axis of the image (1 for white noise, and along the slices of a volume whose acquisition is
    in-plane), are written there as a float32 tensor, for a network built with ``correlation_input``
    (:class:`~monai_nad.networks.NoiseConditionedPDE`): the network is trained on the widths it is told at inference.

    Args:
        gain: the gain of :func:`~monai_nad.transforms.white_equivalent_factor`; None keeps the level and the coil count
            as they are (only the widths are written).
        widths_key, noise_std_key, coils_key: the keys of the widths, the noise std map and the coil count.
        correlation_key: where the widths go; None: not written. Defaults to None.
        image_key: the image, whose spatial axes a white item's widths count. Defaults to ``"image"``.
    """

    def __init__(
        self, gain: float | None, widths_key: str = "widths", noise_std_key: str = "noise_std", coils_key: str = "coils",
        correlation_key: str | None = None, image_key: str = "image",
    ) -> None:
        if gain is not None:
            white_equivalent_factor((1.0,), gain)  # validates the gain
        self.gain, self.widths_key, self.noise_std_key, self.coils_key = None if gain is None else float(gain), widths_key, noise_std_key, coils_key
        self.correlation_key, self.image_key = correlation_key, image_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        measured = d.pop(self.widths_key, None)
        spatial = len(d[self.image_key].shape) - 1
        if measured is None:
            widths: tuple[float, ...] = (1.0,) * spatial
        else:
            widths = tuple(float(w) for w in torch.as_tensor(measured).flatten())
            factor = 1.0 if self.gain is None else white_equivalent_factor(widths, self.gain)
            widths = widths + (1.0,) * (spatial - len(widths))  # an in-plane acquisition: independent across slices
            d[self.noise_std_key] = d[self.noise_std_key] * factor
            d[self.coils_key] = float(d[self.coils_key]) / factor**2
        if self.correlation_key is not None:
            d[self.correlation_key] = torch.tensor(widths, dtype=torch.float32)
        return d


RoundCoilsD = RoundCoilsDict = RoundCoilsd
WhiteEquivalentNoiseStdD = WhiteEquivalentNoiseStdDict = WhiteEquivalentNoiseStdd
