"""The gain of the white-equivalent noise level (:func:`~monai_nad.transforms.noise_map.white_equivalent_factor`),
chosen for the shipped models on the validation slabs of the scanner-noise benchmark."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from monai_nad.experiments.scanner_benchmark import SCANNER_CONDITIONS, scanner_cells
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference import ScanInferer
from monai_nad.metrics import psnr

__all__ = ["GAIN_GRID", "render_gain_page", "tune_white_gain"]

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
        ``{model: {"cells": {cell: {gain: PSNR dB}}, "conditions": {condition or "all": {gain: mean PSNR dB}}}}``.
    """
    net2d, net3d = shipped_models(bundle)
    scores: dict[str, dict[str, dict[float, list[float]]]] = {m: {} for m in models}
    by_cell: dict[str, dict[str, dict[float, float]]] = {m: {} for m in models}
    for cell in scanner_cells():
        noisy, clean = cell.load("validation")
        volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, 0, -1)))[None, None]
        condition = next(c for c in SCANNER_CONDITIONS if f"_{c}_" in cell.name)
        for model in models:
            for gain in gains:
                inferer = ScanInferer(volume_network=net3d, mode=model, noise_estimate="map", white_gain={"2d": gain, "3d": gain})
                with torch.no_grad():
                    out = inferer(volume, net2d)[0, 0].numpy()
                value = float(psnr(torch.from_numpy(np.moveaxis(out, -1, 0))[:, None], torch.from_numpy(clean)[:, None]).mean())
                by_cell[model].setdefault(cell.name, {})[float(gain)] = value
                for key in (condition, "all"):
                    scores[model].setdefault(key, {}).setdefault(float(gain), []).append(value)
            log(f"{cell.name:<38} {model} " + " ".join(f"{g:g}:{v:.2f}" for g, v in by_cell[model][cell.name].items()))
    return {
        m: {"cells": by_cell[m], "conditions": {k: {g: float(np.mean(v)) for g, v in by.items()} for k, by in scores[m].items()}}
        for m in models
    }


def render_gain_page(table: dict, command: str) -> str:
    """A results page of :func:`tune_white_gain`'s table: the mean validation PSNR per condition and gain, per model,
    and the best gain over all cells."""
    lines = [
        "# The gain of the white-equivalent noise level (scanner-noise validation slabs)",
        "",
        f"Produced by `{command}` (one thread). Each of the 32 cells of the scanner-noise benchmark's validation slabs "
        "(10 slices each, never the test slabs) goes through `ScanInferer(noise_estimate=\"map\")` as one volume, as "
        "`monai-nad denoise --mode 2d|3d` runs it, for each gain of `monai_nad.transforms.noise_map.white_equivalent_factor` "
        "(gain 0: the network told the estimated per-pixel std as it is). Mean PSNR (dB) over the cells of each condition.",
    ]
    for model, parts in table.items():
        rows = parts["conditions"]
        gains = list(rows["all"])
        lines += ["", f"## {'2D model' if model == '2d' else 'Volume model'}", "", "| condition | " + " | ".join(f"gain {g:g}" for g in gains) + " |",
                  "|---|" + "---|" * len(gains)]
        for key in [*SCANNER_CONDITIONS, "all"]:
            if key in rows:
                best = max(rows[key].values())
                cells = [f"**{v:.2f}**" if v == best else f"{v:.2f}" for v in rows[key].values()]
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines += ["", f"Best over all cells: gain {max(rows['all'], key=rows['all'].get):g}."]
    return "\n".join(lines) + "\n"
