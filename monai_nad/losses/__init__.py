"""Losses for training denoisers."""

from __future__ import annotations

from monai_nad.losses.gradient import EdgeGradientLoss, finite_differences
from monai_nad.losses.hybrid import HybridDenoisingLoss
from monai_nad.losses.masked import MaskedLoss

__all__ = ["EdgeGradientLoss", "HybridDenoisingLoss", "MaskedLoss", "finite_differences"]
