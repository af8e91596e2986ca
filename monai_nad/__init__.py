"""monai_nad: learned anisotropic diffusion (Neural PDE) denoising as MONAI components."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
