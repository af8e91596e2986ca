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

#: Strengths ``b`` of the Rician bias correction ``sqrt(max(f^2 - 2 b s^2, 0))`` that are tried.
B_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)


def parameter_grid(name: str) -> list[dict[str, Any]]:
    """Every parameter combination of a baseline's grid."""
    grid = BASELINES[name].grid
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def tune_baseline(
    name: str, noisy: np.ndarray, clean: np.ndarray, level: float, rician: bool = True, b_grid: Sequence[float] = B_GRID
) -> dict[str, Any]:
    """Choose a baseline's parameters by median whole-slice PSNR on validation slices.

    Args:
        name: a key of :data:`~monai_nad.baselines.classical.BASELINES`.
        noisy: validation slices ``(N, H, W)``.
        clean: their references ``(N, H, W)``.
        level: the noise level.
        rician: also choose the parameters and ``b`` of the method followed by the Rician bias correction.
        b_grid: the ``b`` values tried.

    Returns:
        ``{"plain": {"params", "psnr"}, "rc": {"params", "b", "psnr"}}`` (``"rc"`` only when ``rician``), the
        PSNRs being the validation medians of the chosen settings.
    """
    best: dict[str, Any] = {}
    for params in parameter_grid(name):
        out = np.stack([classical_denoise(name, image, level, **params) for image in noisy])
        value = median_scores(out, clean)["psnr"]
        if "plain" not in best or value > best["plain"]["psnr"]:
            best["plain"] = {"params": params, "psnr": value}
        if rician:
            for b in b_grid:
                corrected = np.asarray(RicianBiasCorrection(level, b)(out), dtype=np.float32)
                value = median_scores(corrected, clean)["psnr"]
                if "rc" not in best or value > best["rc"]["psnr"]:
                    best["rc"] = {"params": params, "b": b, "psnr": value}
    return best
