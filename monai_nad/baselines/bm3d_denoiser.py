"""BM3D (the ``bm3d`` package). The bias correction of magnitude images follows it where a method asks for one
(:class:`~monai_nad.transforms.RicianBiasCorrection`, with ``b`` tuned by the benchmarks)."""

from __future__ import annotations

import numpy as np

from monai_nad._optional import require

__all__ = ["bm3d_denoise"]


def bm3d_denoise(image: np.ndarray, noise_std: float, threads: int = 1) -> np.ndarray:
    """Denoise one 2D image with BM3D.

    Args:
        image: ``(H, W)`` intensities.
        noise_std: the noise standard deviation BM3D assumes (in the units of ``image``).
        threads: threads of the ``bm3d`` library. Defaults to 1: the benchmarks time every method on one thread, and
            the library's own default (0: every core) also makes its result vary slightly from call to call.

    Returns:
        the denoised ``(H, W)`` float32 image.

    Raises:
        ValueError: not a 2D image, or a non-positive ``noise_std``.
    """
    bm3d = require("bm3d", "the BM3D baseline")

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"bm3d_denoise takes one 2D image, got shape {image.shape}.")
    if not noise_std > 0:
        raise ValueError(f"noise_std must be positive, got {noise_std!r}.")
    if int(threads) != threads or threads < 0:
        raise ValueError(f"threads must be a whole number >= 0 (0: every core), got {threads!r}.")
    profile = bm3d.BM3DProfile()
    profile.num_threads = int(threads)
    return np.asarray(bm3d.bm3d(image.astype(np.float64), sigma_psd=float(noise_std), profile=profile), dtype=np.float32)
