"""BM3D (the ``bm3d`` package), optionally followed by the Rician bias correction."""

from __future__ import annotations

import numpy as np

from monai_nad._optional import require
from monai_nad.transforms.array import RicianBiasCorrection

__all__ = ["bm3d_denoise"]


def bm3d_denoise(image: np.ndarray, sigma: float, rician_level: float | None = None, b: float = 1.0, threads: int = 1) -> np.ndarray:
    """Denoise one 2D image with BM3D.

    Args:
        image: ``(H, W)`` intensities.
        sigma: the noise standard deviation BM3D assumes (in the units of ``image``).
        rician_level: when given, apply ``sqrt(max(f^2 - 2 b s^2, 0))`` with this Rician level ``s`` afterwards.
        b: strength of the bias correction. Defaults to 1.
        threads: threads of the ``bm3d`` library. Defaults to 1: the benchmarks time every method on one thread, and
            the library's own default (0: every core) also makes its result vary slightly from call to call.

    Returns:
        the denoised ``(H, W)`` float32 image.

    Raises:
        ValueError: not a 2D image, or a non-positive ``sigma``.
    """
    bm3d = require("bm3d", "the BM3D baseline")

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"bm3d_denoise takes one 2D image, got shape {image.shape}.")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}.")
    if int(threads) != threads or threads < 0:
        raise ValueError(f"threads must be a whole number >= 0 (0: every core), got {threads!r}.")
    profile = bm3d.BM3DProfile()
    profile.num_threads = int(threads)
    out = np.asarray(bm3d.bm3d(image.astype(np.float64), sigma_psd=float(sigma), profile=profile), dtype=np.float32)
    if rician_level is not None:
        out = np.asarray(RicianBiasCorrection(rician_level, b)(out), dtype=np.float32)
    return out
