"""A blind-spot network: each output pixel is predicted from its neighbourhood without ever seeing itself."""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv

from monai_nad.networks.unrolled import check_image_batch, robust_intensity_scale

__all__ = ["BlindSpotNetwork", "MaskedCentreConv"]


class MaskedCentreConv(nn.Module):
    """A convolution whose central ``(2 r + 1)^d`` block of weights is held at zero (the blind spot).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        radius: blind-spot radius ``r`` (0 hides the centre pixel only).

    The kernel size is ``2 r + 3``: one ring of visible pixels around the hidden block.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, radius: int = 0) -> None:
        super().__init__()
        size = 2 * radius + 3
        self.conv = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, size, padding=radius + 1)
        mask = torch.ones_like(self.conv.weight)
        centre = tuple([slice(None), slice(None)] + [slice(1, size - 1)] * spatial_dims)
        mask[centre] = 0.0
        self.register_buffer("mask", mask, persistent=False)

        self._functional = nn.functional.conv2d if spatial_dims == 2 else nn.functional.conv3d
        self.padding = radius + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._functional(x, self.conv.weight * self.mask, self.conv.bias, padding=self.padding)


class BlindSpotNetwork(nn.Module):
    """A dilated blind-spot network (in the spirit of DBSN, Wu et al. 2020) for self-supervised denoising.

    Layers: a :class:`MaskedCentreConv` (kernel ``2r+3`` with its central ``(2r+1)^d`` block hidden), then ``depth``
    residual blocks of 3x3 convolutions dilated by ``2r + 2`` and 1x1 convolutions, then 1x1 convolutions to the
    output. Every offset reachable after the first layer is a multiple of ``2r + 2`` per axis, and the first layer
    only sees offsets with some component of size exactly ``r + 1``, so no path reaches the hidden block: the
    output at a pixel never depends on the input within distance ``r`` (Chebyshev) of it. Zero padding keeps
    this true at the borders (reflection would fold the pixel back onto itself).

    Trained with a plain loss against the noisy input itself (``loss(net(y), y)``), it learns ``E[y | neighbours]``:
    a denoiser for noise that is independent between pixels (a larger ``radius`` for spatially correlated noise).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input (= output) channels. Defaults to 1.
        features: channels of the hidden layers. Defaults to 32.
        depth: number of dilated residual blocks. Defaults to 5.
        radius: blind-spot radius in pixels. Defaults to 0 (the centre pixel only).
        scale_invariant: divide each image by its robust intensity scale (99th percentile of absolute values,
            computed without gradient) and multiply the output back. Defaults to True.

    Raises:
        ValueError: invalid ``spatial_dims``, ``depth``, ``features`` or ``radius``.

    Example::

        net = BlindSpotNetwork(spatial_dims=2)
        loss = torch.nn.functional.mse_loss(net(noisy), noisy)  # noisy (B, 1, H, W); no clean image needed
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        features: int = 32,
        depth: int = 5,
        radius: int = 0,
        scale_invariant: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if depth < 0 or features < 1 or radius < 0:
            raise ValueError(f"need depth >= 0, features >= 1 and radius >= 0, got {depth}, {features}, {radius}.")
        conv = Conv[Conv.CONV, spatial_dims]
        dilation = 2 * radius + 2
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.radius = radius
        self.scale_invariant = scale_invariant
        self.head = MaskedCentreConv(spatial_dims, in_channels, features, radius)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.1),
                conv(features, features, 3, padding=dilation, dilation=dilation),
                nn.LeakyReLU(0.1),
                conv(features, features, 1),
            )
            for _ in range(depth)
        )
        self.tail = nn.Sequential(nn.LeakyReLU(0.1), conv(features, features, 1), nn.LeakyReLU(0.1), conv(features, in_channels, 1))
        self.receptive_radius = radius + 1 + depth * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict every pixel from its surroundings.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.

        Returns:
            the blind-spot estimate, same shape.

        Raises:
            TypeError, ValueError: an invalid input batch (see :func:`~monai_nad.networks.check_image_batch`).
        """
        check_image_batch(x, self.spatial_dims, self.in_channels, 2 * self.radius + 3)
        scale = robust_intensity_scale(x) if self.scale_invariant else torch.ones_like(x[:, :1, ...])
        h = self.head(x / scale)
        for block in self.blocks:
            h = h + block(h)
        return self.tail(h) * scale
