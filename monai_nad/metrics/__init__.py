"""Image quality metrics (full-reference and no-reference) and their Ignite handlers."""

from __future__ import annotations

from monai_nad.metrics.handlers import DenoisingPSNR, DenoisingSSIM, EdgeMSE, ForegroundPSNR, clip_to_range
from monai_nad.metrics.image_quality import (
    DATA_RANGE,
    FOREGROUND_THRESHOLD,
    SSIM_KERNEL,
    SSIM_WINDOW,
    EdgeMSEMetric,
    ForegroundPSNRMetric,
    edge_mse,
    foreground_psnr,
    make_psnr_metric,
    make_ssim_metric,
    psnr,
    ssim,
)
from monai_nad.metrics.no_reference import q_metric
from monai_nad.metrics.summary import median_scores

__all__ = [
    "DATA_RANGE",
    "FOREGROUND_THRESHOLD",
    "SSIM_KERNEL",
    "SSIM_WINDOW",
    "psnr",
    "ssim",
    "foreground_psnr",
    "edge_mse",
    "q_metric",
    "make_psnr_metric",
    "make_ssim_metric",
    "ForegroundPSNRMetric",
    "EdgeMSEMetric",
    "DenoisingPSNR",
    "DenoisingSSIM",
    "ForegroundPSNR",
    "EdgeMSE",
    "clip_to_range",
    "median_scores",
]
