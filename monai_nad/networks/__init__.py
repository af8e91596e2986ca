"""Networks: the Neural PDE, the learned-diffusivity family, the guidance encoder and the diffusion stencils."""

from __future__ import annotations

from monai_nad.networks.blind_spot import BlindSpotNetwork, MaskedCentreConv
from monai_nad.networks.conditioned_cnn import CNN_BACKBONES, NoiseConditionedCNN
from monai_nad.networks.conditioned_diffusion import NoiseConditionedDiffusion
from monai_nad.networks.conditioned_pde import NoiseConditionedPDE, denormalised_output, noise_std_map, normalised_inputs
from monai_nad.networks.diffusivity import (
    DIFFUSIVITY_FORMS,
    FOE_ACTIVATIONS,
    ContrastParameterDiffusivity,
    Diffusivity,
    FieldsOfExpertsDiffusivity,
    PeronaMalikDiffusivity,
    UNetDiffusivity,
    squared_gradient_norm,
    standardise,
)
from monai_nad.networks.diffusivity_pde import DIFFUSIVITIES, DiffusivityPDE, make_diffusivity
from monai_nad.networks.mini_unet import MiniUNet
from monai_nad.networks.neural_pde import NeuralPDE
from monai_nad.networks.unrolled import UnrolledDenoiser, check_image_batch, robust_intensity_scale
from monai_nad.networks.layout import use_channels_last
from monai_nad.networks.narrow_conv import NarrowConv2d, NarrowConv3d, narrow_conv
from monai_nad.networks.padding import pad_to_multiple
from monai_nad.networks.post_correction import POST_CORRECTIONS, MagnitudeMeanInversion, RicianMeanInversion, rician_mean, rician_mean_inversion, with_post_correction
from monai_nad.networks.quantization import ActivationRanges, Int8Convolution, float_layers, int8_network, int8_supported, load_int8_ranges, weights_fingerprint
from monai_nad.networks.residual import ResidualDenoiser
from monai_nad.networks.self_ensemble import SELF_ENSEMBLE_SIZES, SelfEnsemble
from monai_nad.networks.slice_axis_diffusion import SliceAxisDiffusion
from monai_nad.networks.slice_context import SliceContextPDE, reflected_neighbours
from monai_nad.networks.stencil import SUPPORTED_NEIGHBOURS, DiffusionStencil, stencil_offsets, stencil_weights

__all__ = [
    "NoiseConditionedPDE",
    "SliceContextPDE",
    "SliceAxisDiffusion",
    "reflected_neighbours",
    "noise_std_map",
    "normalised_inputs",
    "denormalised_output",
    "CNN_BACKBONES",
    "NoiseConditionedCNN",
    "NoiseConditionedDiffusion",
    "BlindSpotNetwork",
    "MaskedCentreConv",
    "NeuralPDE",
    "MiniUNet",
    "DiffusionStencil",
    "SUPPORTED_NEIGHBOURS",
    "check_image_batch",
    "stencil_offsets",
    "stencil_weights",
    "robust_intensity_scale",
    "UnrolledDenoiser",
    "ResidualDenoiser",
    "pad_to_multiple",
    "use_channels_last",
    "NarrowConv2d",
    "NarrowConv3d",
    "narrow_conv",
    "SELF_ENSEMBLE_SIZES",
    "SelfEnsemble",
    "POST_CORRECTIONS",
    "MagnitudeMeanInversion",
    "RicianMeanInversion",
    "rician_mean",
    "rician_mean_inversion",
    "with_post_correction",
    "DiffusivityPDE",
    "DIFFUSIVITIES",
    "make_diffusivity",
    "Diffusivity",
    "DIFFUSIVITY_FORMS",
    "FOE_ACTIVATIONS",
    "PeronaMalikDiffusivity",
    "ContrastParameterDiffusivity",
    "FieldsOfExpertsDiffusivity",
    "UNetDiffusivity",
    "squared_gradient_norm",
    "standardise",
    "ActivationRanges",
    "Int8Convolution",
    "float_layers",
    "int8_network",
    "int8_supported",
    "load_int8_ranges",
    "weights_fingerprint",
]
