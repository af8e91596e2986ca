"""NoiseConditionedCNN: learned baselines with the Neural PDE's inputs, noise handling and output range."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import NoiseConditionedCNN
from monai_nad.transforms import blind_noise_std


@pytest.mark.parametrize("backbone, spatial_dims, size", [("dncnn", 2, (23, 30)), ("unet", 2, (23, 30)), ("dncnn", 3, (9, 11, 7)), ("unet", 3, (9, 11, 7))])
def test_shapes_range_and_scale_equivariance(backbone, spatial_dims, size):
    torch.manual_seed(0)
    net = NoiseConditionedCNN(spatial_dims, backbone=backbone, features=8, layers=3).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    x = torch.rand((2, 1) + size)
    with torch.no_grad():
        out = net(x, noise_std=0.05)
        blind = net(x, noise_std=blind_noise_std(x))
        scaled = net(10 * x, noise_std=0.5)
    assert out.shape == x.shape and blind.shape == x.shape and torch.isfinite(blind).all()
    assert out.min() >= 0 and (out <= x.flatten(1).amax(1).reshape(-1, *[1] * (x.ndim - 1)) + 1e-6).all()
    torch.testing.assert_close(scaled, 10 * out, rtol=1e-3, atol=2e-3)  # float32 sums in another order: outputs up to 10


def test_starts_as_the_bias_corrected_input():
    """Before training the output is sqrt(max(x^2 - 2 sigma^2, 0)): the same start and bias formula as the Neural PDE."""
    net = NoiseConditionedCNN(features=8, layers=3)
    x = torch.rand(1, 1, 16, 16) + 0.2
    with torch.no_grad():
        out = net(x, noise_std=0.1)
    torch.testing.assert_close(out, torch.sqrt(torch.clamp(x * x - 0.02, min=1e-6)), rtol=1e-4, atol=1e-4)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="backbone"):
        NoiseConditionedCNN(backbone="resnet")
    with pytest.raises(ValueError, match="layers"):
        NoiseConditionedCNN(layers=1)


@pytest.mark.parametrize("backbone", ["dncnn", "unet"])
def test_the_signal_reaches_the_last_layer(backbone):
    """Without normalisation layers, the initialisation must keep activations alive through the depth (a default
    initialisation shrank them about 3x per layer and the DnCNN did not learn in its budget)."""
    net = NoiseConditionedCNN(backbone=backbone, features=16, layers=11)
    captured = {}
    last = net.network[-1] if backbone == "dncnn" else net.network.final_conv
    last.register_forward_hook(lambda module, inputs, output: captured.setdefault("x", inputs[0]))
    net(torch.rand(2, 1, 32, 32) + 0.5, noise_std=0.05)
    assert captured["x"].std() > 0.05
