"""The v0.2 networks' blind noise estimate (``method="second_difference"``) and their learned Rician bias correction."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.networks import NeuralPDE
from monai_nad.transforms.noise import estimate_noise_std, magnitude_bias_correction, second_difference_noise_std


def _phantom(spatial_dims: int, sigma: float, seed: int = 0) -> torch.Tensor:
    """Half background, half smooth bright tissue, with Rician noise."""
    gen = torch.Generator().manual_seed(seed)
    shape = (2, 1) + ((96, 96) if spatial_dims == 2 else (28, 28, 28))
    clean = torch.zeros(shape)
    ramp = torch.linspace(0.4, 0.9, shape[2]).reshape([1, 1, -1] + [1] * (spatial_dims - 1))
    half = shape[-1] // 2
    clean[..., half:] = ramp.expand_as(clean[..., half:])
    n1, n2 = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    return torch.sqrt((clean + sigma * n1) ** 2 + (sigma * n2) ** 2)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_noise_estimate_is_close_to_truth(spatial_dims, sigma):
    estimate = estimate_noise_std(_phantom(spatial_dims, sigma), method="second_difference")
    assert estimate.shape == (2, 1)
    assert torch.allclose(estimate, torch.full_like(estimate, sigma), rtol=0.12)


def test_noise_estimate_scales_with_the_image():
    x = _phantom(2, 0.05)
    estimate = estimate_noise_std(x, method="second_difference")
    torch.testing.assert_close(estimate_noise_std(7.0 * x, method="second_difference"), 7.0 * estimate, rtol=1e-4, atol=0)


def test_bias_correction_formula_and_bounds():
    u = torch.tensor([[[[0.0, 0.05, 0.2, 1.0]]]])
    out = magnitude_bias_correction(u, torch.tensor([[0.1]]), b=torch.tensor(1.0), smooth=1e-6)
    expected = torch.sqrt(torch.clamp(u**2 - 0.02, min=0))
    torch.testing.assert_close(out, expected, atol=2e-6, rtol=0)
    assert (out <= u.abs()).all() and (out >= 0).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.3, 1.0, 3.0]))
def test_network_with_bias_correction_stays_in_range(seed, scale):
    """Diffusion + bias correction: output within [0, max(input)] for non-negative input, any weights."""
    gen = torch.Generator().manual_seed(seed)
    net = NeuralPDE(2, steps=20, refine=False, bias_correction=True).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
        x = torch.rand(2, 1, 17, 13, generator=gen, dtype=torch.float64)
        y = net(x, second_difference_noise_std(x))
    assert (y >= 0).all()
    assert (y.amax((2, 3)) <= x.amax((2, 3)) + 1e-10).all()


def test_bias_correction_removes_background_bias_untrained():
    x = _phantom(2, 0.08)
    with torch.no_grad():
        plain = NeuralPDE(2, steps=8, refine=False)(x)
        corrected = NeuralPDE(2, steps=8, refine=False, bias_correction=True)(x, second_difference_noise_std(x))
    background = (slice(None), slice(None), slice(None), slice(0, 40))
    assert corrected[background].mean() < 0.5 * plain[background].mean()


def test_bias_correction_needs_three_pixels_per_axis():
    with pytest.raises(ValueError, match="at least 3"):
        NeuralPDE(2, bias_correction=True)(torch.rand(1, 1, 2, 8))
