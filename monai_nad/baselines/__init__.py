"""Classical denoising baselines, scored by the same code as the learned models."""

from __future__ import annotations

from monai_nad.baselines.bm3d_denoiser import bm3d_denoise

__all__ = ["bm3d_denoise"]
