"""A two-level U-Net that encodes image context for the conduction network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Pool
from monai.utils import ensure_tuple_rep

__all__ = ["MiniUNet"]


def _conv_relu(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    conv = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    return nn.Sequential(conv, nn.ReLU(inplace=True))


class MiniUNet(nn.Module):
    """Guidance encoder: one down/up level with a skip connection, sigmoid features.

    The input is first smoothed by a 3x3(x3) box filter (so the encoder sees a less noisy image), then
    ``conv-conv -> max-pool -> conv -> upsample -> concat skip -> conv -> 1x1 conv -> sigmoid``.
    Any spatial size of at least 2 per axis works (odd sizes included: the upsampled map is resized
    to the skip connection's size).

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the input image.
        out_channels: number of guidance feature maps.
        features: widths of the two levels, an int is repeated. Defaults to ``(16, 32)``.

    Example::

        enc = MiniUNet(spatial_dims=2, in_channels=1, out_channels=8)
        g = enc(torch.rand(2, 1, 64, 60))   # (2, 8, 64, 60), values in (0, 1)
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 8,
        features: Sequence[int] | int = (16, 32),
    ) -> None:
        super().__init__()
        f1, f2 = ensure_tuple_rep(features, 2)
        self.spatial_dims = spatial_dims
        self.smooth = Pool[Pool.AVG, spatial_dims](kernel_size=3, stride=1, padding=1, count_include_pad=False)
        self.enc = nn.Sequential(_conv_relu(spatial_dims, in_channels, f1), _conv_relu(spatial_dims, f1, f1))
        self.down = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        self.bottom = _conv_relu(spatial_dims, f1, f2)
        self.dec = _conv_relu(spatial_dims, f1 + f2, f1)
        self.head = Conv[Conv.CONV, spatial_dims](f1, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``x`` of shape ``(B, C_in, H, W[, D])`` into ``(B, C_out, H, W[, D])`` features in ``(0, 1)``."""
        skip = self.enc(self.smooth(x))
        deep = self.bottom(self.down(skip))
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        deep = F.interpolate(deep, size=skip.shape[2:], mode=mode, align_corners=False)
        return torch.sigmoid(self.head(self.dec(torch.cat([skip, deep], dim=1))))
