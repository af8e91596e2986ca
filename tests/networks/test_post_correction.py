"""Inverting the Rician mean recovers the amplitude from what a self-supervised model estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_nad.networks import RicianMeanInversion, rician_mean, rician_mean_inversion, with_post_correction
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
