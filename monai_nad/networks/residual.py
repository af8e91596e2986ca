"""A wrapper that makes any image-to-image network a scale-invariant residual denoiser (for learned baselines)."""

from __future__ import annotations

import torch
import torch.nn as nn

from monai_nad.networks.padding import pad_to_multiple
from monai_nad.networks.unrolled import robust_intensity_scale

__all__ = ["ResidualDenoiser"]


class ResidualDenoiser(nn.Module):
    """``y = s * (x / s + net(x / s))`` with ``s`` each image's robust intensity scale (as the Neural PDE uses).

    The usual set-up of a CNN denoiser (residual learning, as DnCNN), with the same intensity normalisation as
    :class:`~monai_nad.networks.NeuralPDE`, so that a U-Net baseline is compared on equal terms: without it a
    plain MONAI ``BasicUNet`` trained on the intensity-augmented data got the structure right but the intensity
    level wrong.

    Args:
        network: maps ``(B, C, H, W[, D])`` to the same shape (e.g. ``monai.networks.nets.BasicUNet``).
        scale_invariant: normalise by the robust scale. Defaults to True.
        scale_quantile: the quantile used as the scale. Defaults to 0.99.
        size_divisor: pad the input to a multiple of this before ``network`` (e.g. 4 for a MONAI ``UNet`` with
            strides ``(2, 2)``) and crop the output back. Defaults to 1 (no padding).
    """

    def __init__(self, network: nn.Module, scale_invariant: bool = True, scale_quantile: float = 0.99, size_divisor: int = 1) -> None:
        super().__init__()
        self.size_divisor = size_divisor
        self.network = network
        self.scale_invariant = scale_invariant
        self.scale_quantile = scale_quantile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = robust_intensity_scale(x, self.scale_quantile) if self.scale_invariant else torch.ones_like(x[:, :1, ...])
        u, crop = pad_to_multiple(x / scale, self.size_divisor)
        return ((u + self.network(u)) * scale)[crop]
