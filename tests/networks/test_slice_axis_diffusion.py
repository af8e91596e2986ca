"""Diffusion between neighbouring slices: stability, conservation, symmetry and edge stopping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.networks import SliceAxisDiffusion, SliceContextPDE

SMALL = {"features": 8, "encoder_layers": 2, "refine_layers": 2, "steps": 4, "groups": 2, "detail_layers": 2, "detail_features": 4}


def _trained_like(steps: int, seed: int) -> SliceAxisDiffusion:
    """A module with random (not initial) rates and contrasts, as training could leave them."""
    torch.manual_seed(seed)
    module = SliceAxisDiffusion(steps)
    with torch.no_grad():
        module.rate_logit.uniform_(-6.0, 6.0)
        module.contrast_raw.uniform_(-3.0, 3.0)
    return module


@given(depth=st.integers(1, 9), steps=st.integers(1, 3), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_steps_are_stable_and_conserve_intensity_along_the_axis(depth, steps, seed):
    module = _trained_like(steps, seed)
    u = torch.rand(2, 1, 5, 4, depth, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3.0
    sigma = 0.05 + torch.rand_like(u)
    with torch.no_grad():
        v = module(u.float(), sigma.float()).double()
    assert torch.all(v.amax(-1) <= u.amax(-1) + 1e-5) and torch.all(v.amin(-1) >= u.amin(-1) - 1e-5)  # no new extrema along a line
    torch.testing.assert_close(v.sum(-1), u.sum(-1), rtol=1e-5, atol=1e-4)  # closed ends: nothing leaves the volume


@given(seed=st.integers(0, 10_000))
@settings(max_examples=20, deadline=None)
def test_reversing_the_slices_reverses_the_result(seed):
    module = _trained_like(2, seed)
    u = torch.rand(1, 1, 6, 5, 7, generator=torch.Generator().manual_seed(seed))
    sigma = 0.02 + torch.rand_like(u) * 0.1
    with torch.no_grad():
        forward = module(u, sigma)
        backward = module(u.flip(-1), sigma.flip(-1)).flip(-1)
    torch.testing.assert_close(forward, backward, rtol=0, atol=1e-6)


def test_a_constant_volume_and_a_single_slice_are_left_alone():
    module = SliceAxisDiffusion(2)
    constant = torch.full((1, 1, 4, 4, 6), 0.7)
    torch.testing.assert_close(module(constant, 0.05), constant)
    one = torch.rand(1, 1, 4, 4, 1)
    assert module(one, 0.05) is one


def test_small_differences_are_averaged_and_large_ones_kept():
    """Edge stopping: noise-sized differences between slices diffuse, an anatomical boundary (many sigmas) does not."""
    module = SliceAxisDiffusion(1, rate=0.25, contrast=2.5)
    sigma = 0.05
    noise = torch.tensor([0.50, 0.53, 0.48, 0.51, 0.49]).reshape(1, 1, 1, 1, -1)
    edge = torch.tensor([0.1, 0.1, 0.1, 0.9, 0.9]).reshape(1, 1, 1, 1, -1)
    with torch.no_grad():
        assert float(module(noise, sigma).std()) < 0.7 * float(noise.std())
        torch.testing.assert_close(module(edge, sigma), edge, rtol=0, atol=1e-6)


def test_bad_settings_are_named():
    for kwargs, word in (({"steps": 0}, "steps"), ({"rate": 0.5}, "rate"), ({"contrast": 0.0}, "contrast")):
        with pytest.raises(ValueError, match=word):
            SliceAxisDiffusion(**kwargs)
    with pytest.raises(ValueError, match="slice_axis_steps"):
        SliceContextPDE(slice_axis_steps=-1, **SMALL)


def test_the_volume_model_with_slice_diffusion_warm_starts_from_one_without(tmp_path):
    """A checkpoint of the volume model without the slice-axis steps initialises one with them; the result is the
    old model's output diffused along the slices with the initial rates."""
    torch.manual_seed(0)
    old = SliceContextPDE(context_slices=1, **SMALL).eval()
    torch.save(old.state_dict(), tmp_path / "old.pt")
    from monai_nad.engines import warm_start

    new = warm_start(SliceContextPDE(context_slices=1, slice_axis_steps=2, **SMALL), tmp_path / "old.pt").eval()
    x = torch.rand(1, 1, 20, 18, 6)
    with torch.no_grad():
        expected = new.axis_diffusion(old(x, noise_std=0.05), 0.05)
        torch.testing.assert_close(new(x, noise_std=0.05), expected, rtol=0, atol=1e-6)
    assert new.flops_per_pixel() > old.flops_per_pixel()
    assert np.isclose(float(new.axis_diffusion.rates().detach().sum()), 0.25)


def test_blocks_of_rows_give_the_one_pass_result():
    module = _trained_like(2, 3)
    u = torch.rand(2, 1, 13, 6, 5)
    sigma = 0.02 + torch.rand_like(u) * 0.1
    with torch.no_grad():
        whole = module(u, sigma)
        module.block_voxels = 37  # a few rows per block, the last one shorter
        torch.testing.assert_close(module(u, sigma), whole, rtol=0, atol=1e-7)
        torch.testing.assert_close(module(u, 0.05), SliceAxisDiffusion.forward(_trained_like(2, 3), u, 0.05), rtol=0, atol=1e-7)
