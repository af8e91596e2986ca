"""Apply a 2D denoiser slice by slice, timing each call (for benchmarks: medians, same machine, same run)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from monai_nad.inference.inferer import noise_level_arguments

__all__ = ["denoise_slices"]


def denoise_slices(denoiser: torch.nn.Module | Callable[[np.ndarray], np.ndarray], noisy: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Denoise a stack of 2D slices one at a time.

    Args:
        denoiser: a network taking ``(1, 1, H, W)`` tensors (run under ``torch.inference_mode``; one that takes a noise
            level is told the blind estimate of each slice, :func:`~monai_nad.inference.inferer.noise_level_arguments`,
            inside the timed call), or a function of one ``(H, W)`` array (a classical method).
        noisy: slices ``(N, H, W)``.

    Returns:
        ``(denoised (N, H, W) float32, seconds per slice)``.
    """
    outs, times = [], []
    is_net = isinstance(denoiser, torch.nn.Module)
    with torch.inference_mode():
        for image in noisy:
            start = time.perf_counter()
            if is_net:
                x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
                out = denoiser(x, **noise_level_arguments(denoiser, x))[0, 0].numpy()
            else:
                out = np.asarray(denoiser(image))
            times.append(time.perf_counter() - start)
            outs.append(np.asarray(out, dtype=np.float32))
    return np.stack(outs), times
