"""Inverting the Rician mean recovers the amplitude from what a self-supervised model estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_nad.inference import RAW_NOISE_ESTIMATE, ScanInferer
from monai_nad.networks import POST_CORRECTIONS, MagnitudeMeanInversion, RicianMeanInversion, rician_mean, rician_mean_inversion, with_post_correction
from monai_nad.transforms.noise import second_difference_noise_std


def test_the_mean_formula_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for amplitude in (0.0, 0.7, 2.0, 6.0):
        samples = np.hypot(amplitude + rng.standard_normal(400_000), rng.standard_normal(400_000))
        assert float(rician_mean(torch.tensor(amplitude))) == pytest.approx(samples.mean(), rel=3e-3)
    assert float(rician_mean(torch.tensor(0.0))) == pytest.approx(math.sqrt(math.pi / 2))


def test_inversion_recovers_the_amplitude_and_clamps_the_floor():
    sigma = torch.tensor([[0.1]])
    amplitudes = torch.tensor([0.0, 0.02, 0.1, 0.35, 1.0, 5.0])
    means = rician_mean(amplitudes / 0.1) * 0.1
    torch.testing.assert_close(rician_mean_inversion(means[None, None], sigma)[0, 0], amplitudes, atol=2e-4, rtol=1e-4)
    below = torch.tensor([[[0.0, 0.05, 0.12]]])  # under sqrt(pi/2) * sigma = 0.125
    assert torch.equal(rician_mean_inversion(below, sigma), torch.zeros_like(below))
    unchanged = torch.rand(1, 1, 5)
    assert torch.equal(rician_mean_inversion(unchanged, torch.zeros(1, 1)), unchanged)  # sigma 0: nothing to undo


def test_wrapper_removes_the_background_bias_of_a_mean_estimator():
    """A 'denoiser' returning the local mean of magnitude data is biased; the wrapper brings it back."""
    rng = np.random.default_rng(1)
    clean = np.zeros((64, 64), np.float32)
    clean[16:48, 16:48] = 0.6
    noisy = np.hypot(clean + 0.1 * rng.standard_normal(clean.shape), 0.1 * rng.standard_normal(clean.shape)).astype(np.float32)
    smooth = torch.nn.AvgPool2d(7, 1, 3, count_include_pad=False)
    x = torch.from_numpy(noisy)[None, None]
    raw, corrected = smooth(x)[0, 0], RicianMeanInversion(smooth)(x, second_difference_noise_std(x))[0, 0]
    background = (slice(0, 10), slice(None))  # away from the square: the local means see background only
    assert raw[background].mean() > 0.11 and corrected[background].mean() < 0.02
    inside = (slice(24, 40), slice(24, 40))
    assert abs(corrected[inside].mean() - 0.6) < abs(raw[inside].mean() - 0.6)
    assert with_post_correction(smooth, None) is smooth
    with pytest.raises(ValueError, match="unknown post_correction 'rician'"):
        with_post_correction(smooth, "rician")


def _sos_volume(coils: int, sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An N-coil root-sum-of-squares volume ``(96, 96, 6)``: a bright square in air (each coil sees A / sqrt(N))."""
    rng = np.random.default_rng(seed)
    clean = np.zeros((96, 96, 6), np.float32)
    clean[32:64, 32:64] = 0.6
    per_coil = clean / math.sqrt(coils)
    power = sum((per_coil + sigma * rng.standard_normal(clean.shape)) ** 2 + (sigma * rng.standard_normal(clean.shape)) ** 2 for _ in range(coils))
    return np.sqrt(power).astype(np.float32), clean


def test_the_n_coil_inversion_removes_the_floor_the_rician_one_leaves():
    """A mean estimator on 8-coil data: told the std and N, the inversion brings the air to 0 and the square to its
    amplitude; one Rician level per image leaves most of the sqrt(2N) sigma floor."""
    noisy, clean = _sos_volume(8, 0.05)
    smooth = torch.nn.AvgPool2d(7, 1, 3, count_include_pad=False)
    x = torch.from_numpy(np.moveaxis(noisy, -1, 0))[:, None]  # the slices as a batch
    wrapped = with_post_correction(smooth, "magnitude_mean")
    assert isinstance(wrapped, MagnitudeMeanInversion)
    raw = smooth(x)
    told = wrapped(x, torch.full_like(x, 0.05), coils=8)
    per_image = wrapped(x, torch.full((x.shape[0],), 0.05), coils=torch.full((x.shape[0],), 8))
    torch.testing.assert_close(told, per_image)
    rician = RicianMeanInversion(smooth)(x, second_difference_noise_std(x))
    air, inside = (slice(None), 0, slice(0, 20), slice(None)), (slice(None), 0, slice(40, 56), slice(40, 56))
    assert raw[air].mean() > 0.18 and rician[air].mean() > 0.1  # the floor: about sqrt(16) * 0.05 = 0.2
    assert told[air].mean() < 0.03  # a tenth of the floor: what is left is the estimator's own spread near the floor
    assert abs(float(told[inside].mean()) - 0.6) < 0.01 < abs(float(raw[inside].mean()) - 0.6)


def test_the_scan_inferer_passes_the_estimated_map_and_coil_count_as_they_are():
    """Blind, through the inferer the bundles use: the std map and N come from the scan's air (N = 8 estimated)."""
    noisy, clean = _sos_volume(8, 0.05, seed=3)
    smooth = torch.nn.AvgPool2d(7, 1, 3, count_include_pad=False)
    inferer = ScanInferer(mode="2d", noise_estimate="map", white_gain=RAW_NOISE_ESTIMATE, precision="float32")
    with torch.no_grad():
        out = inferer(torch.from_numpy(noisy)[None, None], MagnitudeMeanInversion(smooth))[0, 0].numpy()
    assert inferer.last_noise[0]["coils"] == 8
    assert out[:20].mean() < 0.03
    assert abs(out[40:56, 40:56].mean() - 0.6) < 0.015


def test_the_magnitude_mean_inversion_rejects_what_it_cannot_use():
    wrapped = MagnitudeMeanInversion(torch.nn.Identity())
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(ValueError, match="needs the noise std"):
        wrapped(x)
    with pytest.raises(ValueError, match="noise_std must be a map"):
        wrapped(x, torch.rand(3, 16))
    for bad in (float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="finite and non-negative"):
            wrapped(x, torch.full_like(x, bad))
    with pytest.raises(ValueError, match="coils must be"):
        wrapped(x, 0.1, coils=0)
    with pytest.raises(ValueError, match="coils must be"):
        wrapped(x, 0.1, coils=torch.tensor([1, 2, 3]))


def test_the_command_line_offers_every_post_correction():
    """The command line keeps its own list (it imports no torch for --help): it must name every correction there is."""
    from monai_nad.cli import _parser

    denoise = next(a for a in _parser()._subparsers._group_actions[0].choices["denoise"]._actions if a.dest == "post_correction")
    assert set(denoise.choices) == {c for c in POST_CORRECTIONS if c is not None}
