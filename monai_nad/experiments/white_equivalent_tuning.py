"""The gain of the white-equivalent noise level (:func:`~monai_nad.transforms.noise_map.white_equivalent_factor`),
chosen for the shipped models on the validation slabs of the scanner-noise benchmark; the same loop scores a training
snapshot in place of a shipped model (checkpoint selection on scanner noise)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from monai_nad.engines.checkpoints import load_network_weights
from monai_nad.experiments.evaluation import score_slices
from monai_nad.experiments.scanner_benchmark import SCANNER_CONDITIONS, scanner_cells
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference import ScanInferer

__all__ = ["GAIN_GRID", "render_gain_page", "render_int8_page", "scored_networks", "tune_white_gain"]

#: the gains tried.
GAIN_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def scored_networks(
    bundle: str | Path | None = None, weights: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
    self_ensemble: int | None = None,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The 2D and volume networks :func:`tune_white_gain` scores: the bundle's, with ``weights`` loaded in place of its own.

    Args:
        bundle: the bundle (None: the shipped one).
        weights: ``{"2d": file, "3d": file}``, weights to score in place of the bundle's ``models/model.pt`` /
            ``models/model_3d.pt`` (a training snapshot or ``best_model.pt``; several files of one network: the mean of
            their weights, as ``--install-snapshot`` installs it); None: the bundle's own.
        self_ensemble: mirror passes of both networks (1, 2, 4 or 8); None: as the bundle's ``inference.json`` runs them.

    Returns:
        ``(2D network, volume network)``.

    Raises:
        ValueError: ``weights`` names a model other than ``"2d"`` / ``"3d"``, or a file that does not fit its network.
        FileNotFoundError: a ``weights`` file does not exist.
    """
    net2d, net3d = shipped_models(bundle, self_ensemble)
    for model, path in (weights or {}).items():
        if model not in ("2d", "3d"):
            raise ValueError(f"weights must be keyed '2d' or '3d', got {model!r}.")
        load_network_weights(net2d if model == "2d" else net3d, path)
    return net2d, net3d


def tune_white_gain(
    gains: Sequence[float] = GAIN_GRID, models: Sequence[str] = ("2d", "3d"), networks: tuple[torch.nn.Module, torch.nn.Module] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, dict]]:
    """Mean PSNR and SSIM on the validation slabs of every scanner-noise cell, per model and gain, blind with the noise map.

    Each cell's validation slab (10 slices) goes through :class:`~monai_nad.inference.ScanInferer` as one volume
    with ``noise_estimate="map"``, as ``monai-nad denoise --noise-estimate map --mode 2d|3d`` runs it, with each gain
    for the model being tuned (gain 0: the std map as it is), scored by the benchmark's own scorer
    (:func:`~monai_nad.experiments.evaluation.score_slices`: PSNR and SSIM, the mean over the slices).

    Args:
        gains: the gains to try.
        models: ``"2d"`` and/or ``"3d"``.
        networks: ``(2D network, volume network)`` to score (:func:`scored_networks`: a bundle's, or a training run's
            weights in their place); None: the shipped bundle's.
        log: where the per-cell lines go (``gain:PSNR/SSIM``).

    Returns:
        ``{model: {"cells": {cell: {gain: PSNR dB}}, "conditions": {condition or "all": {gain: mean PSNR dB}},
        "cells_ssim": ..., "conditions_ssim": ...}}`` (the same for SSIM).
    """
    net2d, net3d = networks if networks is not None else scored_networks()
    scores: dict[str, dict[str, dict[str, dict[float, list[float]]]]] = {m: {"psnr": {}, "ssim": {}} for m in models}
    by_cell: dict[str, dict[str, dict[str, dict[float, float]]]] = {m: {"psnr": {}, "ssim": {}} for m in models}
    for cell in scanner_cells():
        noisy, clean = cell.load("validation")
        volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, 0, -1)))[None, None]
        condition = next(c for c in SCANNER_CONDITIONS if f"_{c}_" in cell.name)
        for model in models:
            for gain in gains:
                inferer = ScanInferer(volume_network=net3d, mode=model, noise_estimate="map", white_gain={"2d": gain, "3d": gain})
                with torch.no_grad():
                    out = inferer(volume, net2d)[0, 0].numpy()
                values = score_slices(np.moveaxis(out, -1, 0), clean)
                for metric in ("psnr", "ssim"):
                    by_cell[model][metric].setdefault(cell.name, {})[float(gain)] = values[metric]
                    for key in (condition, "all"):
                        scores[model][metric].setdefault(key, {}).setdefault(float(gain), []).append(values[metric])
            line = " ".join(f"{g:g}:{v:.2f}/{by_cell[model]['ssim'][cell.name][g]:.3f}" for g, v in by_cell[model]["psnr"][cell.name].items())
            log(f"{cell.name:<38} {model} {line}")

    def means(by: dict[str, dict[float, list[float]]]) -> dict[str, dict[float, float]]:
        return {k: {g: float(np.mean(v)) for g, v in per.items()} for k, per in by.items()}

    return {
        m: {"cells": by_cell[m]["psnr"], "conditions": means(scores[m]["psnr"]), "cells_ssim": by_cell[m]["ssim"], "conditions_ssim": means(scores[m]["ssim"])}
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
        "(gain 0: the network told the estimated per-pixel std as it is). Mean PSNR (dB) / SSIM over the cells of each "
        "condition (the benchmark's scorer, `monai_nad.experiments.evaluation.score_slices`); the gain is chosen on PSNR.",
    ]
    for model, parts in table.items():
        rows = parts["conditions"]
        gains = list(rows["all"])
        lines += ["", f"## {'2D model' if model == '2d' else 'Volume model'}", "", "| condition | " + " | ".join(f"gain {g:g}" for g in gains) + " |",
                  "|---|" + "---|" * len(gains)]
        similarity = parts.get("conditions_ssim", {})
        for key in [*SCANNER_CONDITIONS, "all"]:
            if key in rows:
                best = max(rows[key].values())
                cells = [(f"**{v:.2f}**" if v == best else f"{v:.2f}") + (f" / {similarity[key][g]:.3f}" if key in similarity else "")
                         for g, v in rows[key].items()]
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines += ["", f"Best over all cells: gain {max(rows['all'], key=rows['all'].get):g}."]
    return "\n".join(lines) + "\n"


def render_int8_page(float_table: dict, int8_table: dict, command: str) -> str:
    """A results page comparing :func:`tune_white_gain`'s tables of the float32 networks and their int8 copies
    (:func:`~monai_nad.networks.int8_network`, ``monai-nad denoise --precision int8``): per model and gain, the mean
    validation PSNR / SSIM per condition of both and the difference, and the cell the int8 copy loses most on."""
    lines = [
        "# int8 inference on the scanner-noise validation slabs",
        "",
        f"Produced by `{command}` (one thread). The shipped models in float32 and their int8 copies "
        "(`monai_nad.networks.int8_network` with the bundle's `models/int8_ranges.json`, calibrated on the training slabs by "
        "`python scripts/calibrate_int8.py`: the inner convolutions in 8-bit integers, the ones that read the images or write "
        "the corrections in float32, `monai_nad.networks.float_layers`), each of the 32 validation slabs of the "
        "scanner-noise benchmark through `ScanInferer(noise_estimate=\"map\")` as `monai-nad denoise` runs it (never the "
        "test slabs). Mean PSNR (dB) / SSIM over the cells of each condition (`monai_nad.experiments.evaluation.score_slices`).",
    ]
    for model, parts in float_table.items():
        quant = int8_table[model]
        for gain in parts["conditions"]["all"]:
            lines += ["", f"## {'2D model' if model == '2d' else 'Volume model'}, gain {gain:g}", "",
                      "| condition | float32 | int8 | int8 − float32 |", "|---|---|---|---|"]
            for key in [*SCANNER_CONDITIONS, "all"]:
                if key not in parts["conditions"]:
                    continue
                a, b = parts["conditions"][key][gain], quant["conditions"][key][gain]
                sa, sb = parts["conditions_ssim"][key][gain], quant["conditions_ssim"][key][gain]
                lines.append(f"| {key} | {a:.3f} / {sa:.4f} | {b:.3f} / {sb:.4f} | {b - a:+.3f} dB / {sb - sa:+.4f} |")
            diffs = {cell: quant["cells"][cell][gain] - values[gain] for cell, values in parts["cells"].items()}
            worst = min(diffs, key=diffs.get)
            lines += ["", f"Per cell: int8 − float32 from {diffs[worst]:+.3f} dB ({worst}) to {max(diffs.values()):+.3f} dB; "
                          f"{sum(v < 0 for v in diffs.values())} of {len(diffs)} cells lower."]
    return "\n".join(lines) + "\n"
