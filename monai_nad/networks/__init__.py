"""Networks: the Neural PDE, its guidance encoder and the diffusion stencils."""

from __future__ import annotations

from monai_nad.networks.mini_unet import MiniUNet
from monai_nad.networks.neural_pde import NeuralPDE, check_image_batch
from monai_nad.networks.noise_estimation import estimate_noise_std, rician_bias_correction
from monai_nad.networks.stencil import SUPPORTED_NEIGHBOURS, DiffusionStencil, stencil_offsets, stencil_weights

__all__ = [
    "NeuralPDE",
    "MiniUNet",
    "DiffusionStencil",
    "SUPPORTED_NEIGHBOURS",
    "check_image_batch",
    "stencil_offsets",
    "stencil_weights",
    "estimate_noise_std",
    "rician_bias_correction",
]
