"""monai_nad: learned anisotropic diffusion (Neural PDE) denoising as MONAI components."""

from __future__ import annotations

__version__ = "0.1.0"

from monai_nad import data, diffdenoise, engines, inference, losses, metrics, networks, transforms  # noqa: E402

__all__ = ["__version__", "data", "diffdenoise", "engines", "inference", "losses", "metrics", "networks", "transforms"]
