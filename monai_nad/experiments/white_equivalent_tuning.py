"""The gain of the white-equivalent noise level (:func:`~monai_nad.transforms.noise_map.white_equivalent_factor`),
chosen for the shipped models on the validation slabs of the scanner-noise benchmark."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from monai_nad.experiments.scanner_benchmark import scanner_cells
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference import ScanInferer
from monai_nad.metrics import psnr

__all__ = ["GAIN_GRID", "tune_white_gain"]

#: the gains tried.
GAIN_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def tune_white_gain(
    gains: Sequence[float] = GAIN_GRID, models: Sequence[str] = ("2d", "3d"), bundle: str | None = None, log: Callable[[str], None] = print
) -> dict[str, dict[str, dict[float, float]]]:
    """Mean PSNR on the validation slabs of every scanner-noise cell, per model and gain, blind with the noise map.

    Each cell's validation slab (10 slices) goes through :class:`~monai_nad.inference.ScanInferer` as one volume
    with ``noise_estimate="map"``, as ``monai-nad denoise --noise-estimate map --mode 2d|3d`` runs it, with each gain
    for the model being tuned (gain 0: the std map as it is).

    Args:
        gains: the gains to try.
        models: ``"2d"`` and/or ``"3d"``.
        bundle: the bundle (None: the shipped one).
        log: where the per-cell lines go.

    Returns:
        ``{model: {cell or condition or "all": {gain: mean PSNR dB}}}``.
    """
    net2d, net3d = shipped_models(bundle)
    scores: dict[str, dict[str, dict[float, list[float]]]] = {m: {} for m in models}
    for cell in scanner_cells():
        noisy, clean = cell.load("validation")
        volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, 0, -1)))[None, None]
        condition = cell.name.split("_", 2)[2].rsplit("_", 1)[0]
        for model in models:
            line = []
            for gain in gains:
                inferer = ScanInferer(volume_network=net3d, mode=model, noise_estimate="map", white_gain={"2d": gain, "3d": gain})
                with torch.no_grad():
                    out = inferer(volume, net2d)[0, 0].numpy()
                value = float(psnr(torch.from_numpy(np.moveaxis(out, -1, 0))[:, None], torch.from_numpy(clean)[:, None]).mean())
                for key in (cell.name, condition, "all"):
                    scores[model].setdefault(key, {}).setdefault(float(gain), []).append(value)
                line.append(f"{gain:g}:{value:.2f}")
            log(f"{cell.name:<38} {model} " + " ".join(line))
    return {m: {k: {g: float(np.mean(v)) for g, v in by.items()} for k, by in table.items()} for m, table in scores.items()}
