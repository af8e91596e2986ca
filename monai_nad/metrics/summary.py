"""Summaries of a method's scores over a set of slices, as the benchmark protocol reports them."""

from __future__ import annotations

import numpy as np
import torch

from monai_nad.metrics.image_quality import edge_mse, foreground_psnr, psnr, ssim

__all__ = ["median_scores"]


def median_scores(pred: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Median PSNR, SSIM, foreground PSNR and edge MSE of a stack of 2D slices (predictions clipped to ``[0, 1]``).

    Args:
        pred: denoised slices ``(N, H, W)``.
        clean: clean references ``(N, H, W)``.

    Returns:
        ``{"psnr", "ssim", "fg_psnr", "edge_mse"}``, each the median over the ``N`` slices (slices without foreground are
        ignored by the foreground PSNR).

    Raises:
        ValueError: different shapes.
    """
    if pred.shape != clean.shape or pred.ndim != 3:
        raise ValueError(f"pred and clean must both be (N, H, W) stacks, got {pred.shape} and {clean.shape}.")
    p, c = torch.from_numpy(np.ascontiguousarray(pred))[:, None], torch.from_numpy(np.ascontiguousarray(clean))[:, None]
    return {
        "psnr": float(np.median(psnr(p, c).numpy())),
        "ssim": float(np.median(ssim(p, c).numpy())),
        "fg_psnr": float(np.nanmedian(foreground_psnr(p, c).numpy())),
        "edge_mse": float(np.median(edge_mse(p, c).numpy())),
    }
