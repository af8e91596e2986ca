"""Grid search of a classical method's free parameters (and of the Rician bias correction) on validation slices."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from monai_nad.baselines.classical import BASELINES, classical_denoise
from monai_nad.metrics.summary import median_scores
from monai_nad.transforms.array import RicianBiasCorrection

__all__ = ["B_GRID", "tune_baseline", "parameter_grid"]

#: Strengths ``b`` of the Rician bias correction ``sqrt(max(f^2 - 2 b s^2, 0))`` that are tried: steps of 0.1 where
#: the best values of every method lie (steps of 0.25 there cost BM3D+rc PSNR on Colin27), coarser above 1.5.
#: Trying a ``b`` costs no denoising, so the grid is cheap.
B_GRID = tuple(sorted({round(0.1 * i, 2) for i in range(16)} | {0.25, 0.75, 1.25, 1.75, 2.0, 2.5}))


def parameter_grid(name: str, grid: dict[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
    """Every parameter combination of a baseline's grid (or of ``grid``, a restriction of it)."""
    grid = BASELINES[name].grid if grid is None else grid
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _slices(stack: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` slices as they are; volumes ``(N, H, W, D)`` as their ``N * D`` slices along the last axis."""
    stack = np.asarray(stack)
    return np.moveaxis(stack, -1, 1).reshape(-1, *stack.shape[1:3]) if stack.ndim == 4 else stack


def tune_baseline(
    name: str,
    noisy: np.ndarray,
    clean: np.ndarray,
    noise_std: float,
    rician: bool = True,
    b_grid: Sequence[float] = B_GRID,
    grid: dict[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """Choose a baseline's parameters by median whole-slice PSNR on validation slices.

    Args:
        name: a key of :data:`~monai_nad.baselines.classical.BASELINES`.
        noisy: validation slices ``(N, H, W)``, or volumes ``(N, H, W, D)`` for a volumetric method (scored by the
            median over their slices along the last axis).
        clean: their references, the same shape.
        noise_std: the noise level, a standard deviation (image units).
        rician: also choose the parameters and ``b`` of the method followed by the Rician bias correction.
        b_grid: the ``b`` values tried.
        grid: parameter values to try instead of the baseline's own grid, e.g. ``{"sigma_factor": (1.0,)}`` for BM3D
            given the true noise level. Defaults to the baseline's grid.

    Returns:
        ``{"plain": {"params", "psnr"}, "rc": {"params", "b", "psnr"}}`` (``"rc"`` only when ``rician``), the
        PSNRs being the validation medians of the chosen settings.
    """
    best: dict[str, Any] = {}
    clean = _slices(clean)
    for params in parameter_grid(name, grid):
        out = _slices(np.stack([classical_denoise(name, image, noise_std, **params) for image in noisy]))
        value = median_scores(out, clean)["psnr"]
        if "plain" not in best or value > best["plain"]["psnr"]:
            best["plain"] = {"params": params, "psnr": value}
        if rician:
            for b in b_grid:
                corrected = np.asarray(RicianBiasCorrection(noise_std, b)(out), dtype=np.float32)
                value = median_scores(corrected, clean)["psnr"]
                if "rc" not in best or value > best["rc"]["psnr"]:
                    best["rc"] = {"params": params, "b": b, "psnr": value}
    return best
