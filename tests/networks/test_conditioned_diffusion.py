"""The learned-diffusivity family under the real-scan recipe: same call, same noise handling, same output range."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import NoiseConditionedDiffusion
from monai_nad.transforms import blind_noise_std

SIZES = {"foe_s": {"kernel_size": 3, "num_experts": 4}}


@pytest.mark.parametrize("diffusivity", ["pm_exponential", "ka", "foe_s"])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_range_and_scale_equivariance(diffusivity, spatial_dims):
    torch.manual_seed(0)
    net = NoiseConditionedDiffusion(spatial_dims, diffusivity=diffusivity, diffusivity_kwargs=SIZES.get(diffusivity), steps=3, padding=2)
    x = torch.rand(2, 1, *[12] * spatial_dims)
    y = net(x, noise_std=0.05)
    assert y.shape == x.shape
    assert bool((y >= 0).all()) and bool((y <= x.amax(dim=tuple(range(1, x.ndim)), keepdim=True) + 1e-6).all())
    torch.testing.assert_close(net(4.0 * x, noise_std=0.2), 4.0 * y, rtol=1e-4, atol=1e-5)
    assert net(x, noise_std=blind_noise_std(x)).shape == x.shape  # blind: the noise level estimated first
    with pytest.raises(ValueError, match="blind_noise_std"):
        net(x, noise_std=None)  # the network never estimates it


def test_noise_level_steers_the_smoothing():
    """The image is diffused in units of its noise level: a larger given level smooths a noisy image more."""
    torch.manual_seed(0)
    net = NoiseConditionedDiffusion(diffusivity="pm_exponential")
    x = 0.5 + 0.05 * torch.randn(1, 1, 32, 32)
    weak, strong = net(x, noise_std=0.005), net(x, noise_std=0.05)
    assert float(strong.std()) < 0.5 * float(weak.std())


def test_mirroring_the_image_mirrors_the_result():
    net = NoiseConditionedDiffusion(diffusivity="pm_exponential", padding=0)
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(net(x.flip(-1), noise_std=0.1), net(x, noise_std=0.1).flip(-1), rtol=1e-5, atol=1e-6)


def test_every_parameter_learns():
    net = NoiseConditionedDiffusion(diffusivity="ka")
    x = torch.rand(2, 1, 24, 24)
    net(x, noise_std=0.1).mean().backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in net.parameters())
    assert float(net.bias_logit.grad.abs()) > 0
