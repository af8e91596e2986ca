"""monai_nad: learned anisotropic diffusion (Neural PDE) denoising as MONAI components.

Subpackages are imported on first use (``monai_nad.networks`` ...), so ``import monai_nad`` and ``monai-nad --help``
stay fast; bundle configs that write ``$import monai_nad`` then ``monai_nad.networks.NeuralPDE`` work unchanged.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "1.8.2"

_SUBPACKAGES = ("baselines", "bundle", "data", "diffdenoise", "engines", "experiments", "inference", "losses", "metrics", "networks", "transforms")

__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"monai_nad.{name}")
    raise AttributeError(f"module 'monai_nad' has no attribute {name!r}")
