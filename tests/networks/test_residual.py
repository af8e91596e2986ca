"""ResidualDenoiser: residual learning and scale equivariance around any network."""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNet

from monai_nad.networks import ResidualDenoiser


class _Zero(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_a_zero_residual_is_the_identity():
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(ResidualDenoiser(_Zero())(x), x)


def test_scale_equivariance_with_a_unet():
    torch.manual_seed(0)
    net = ResidualDenoiser(BasicUNet(2, 1, 1, features=(4, 4, 8, 8, 8, 4), norm="batch")).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(0.2 * x), 0.2 * net(x), atol=1e-5, rtol=1e-4)
