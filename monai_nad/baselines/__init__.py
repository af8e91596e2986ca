"""Classical denoising baselines, tunable and usable inside MONAI chains, scored by the same code as the models."""

from __future__ import annotations

from monai_nad.baselines.bm3d_denoiser import bm3d_denoise
from monai_nad.baselines.classical import BASELINES, Baseline, classical_denoise
from monai_nad.baselines.transforms import ClassicalDenoised, ClassicalDenoiseD, ClassicalDenoiseDict
from monai_nad.baselines.tuning import B_GRID, parameter_grid, tune_baseline

__all__ = [
    "bm3d_denoise",
    "BASELINES",
    "Baseline",
    "classical_denoise",
    "ClassicalDenoised",
    "ClassicalDenoiseD",
    "ClassicalDenoiseDict",
    "B_GRID",
    "parameter_grid",
    "tune_baseline",
]
