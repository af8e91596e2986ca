"""How much the shipped models depend on the noise level they are told: ``docs/results/noise_level_sensitivity.md``.

The networks are noise-conditioned: they read the noise level as an input. ``monai-nad denoise`` gives them the blind
estimate (:func:`~monai_nad.transforms.estimate_image_noise_std`), which is accurate on the benchmark's white Rician noise
but can be off on scanner data (parallel imaging, masked backgrounds). This page scores the shipped 2D model (slice by
slice) and the volume model on the real-anatomy benchmark's 18 cells (:func:`~monai_nad.data.real_anatomy_cell`; each slab as a
volume for the volume model) told ``factor`` times the true noise level, beside their blind runs, through the one evaluation loop
(:func:`~monai_nad.experiments.evaluation.benchmark_cells`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from monai_nad.data.real_anatomy import REAL_ANATOMY_LEVELS, REAL_ANATOMY_SHIFTS, REAL_ANATOMY_VOLUMES
from monai_nad.experiments.evaluation import benchmark_cells
from monai_nad.experiments.volume_benchmark import scan_method

__all__ = ["FACTORS", "sensitivity_methods", "sensitivity_rows", "render_sensitivity_page", "write_sensitivity_page"]

#: Multiples of the true noise level the models are told.
FACTORS = (0.8, 0.9, 1.0, 1.1, 1.25)

def sensitivity_methods(net2d: torch.nn.Module, net3d: torch.nn.Module | None, factors: Sequence[float] = FACTORS) -> dict:
    """``"<model>_blind"`` and ``"<model>_x<factor>"`` for the 2D model (``2d``) and the volume model (``3d``), each run
    as ``monai-nad denoise --mode 2d|3d`` runs it (:func:`~monai_nad.experiments.volume_benchmark.scan_method`)."""
    methods = {}
    for model, volume in (("2d", None), ("3d", net3d)):
        if model == "3d" and net3d is None:
            continue
        methods[f"{model}_blind"] = scan_method(net2d, volume, model)
        methods.update({f"{model}_x{factor:g}": scan_method(net2d, volume, model, factor) for factor in factors})
    return methods


def sensitivity_rows(net2d: torch.nn.Module, net3d: torch.nn.Module | None, factors: Sequence[float] = FACTORS,
                     limit: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Score :func:`sensitivity_methods` on the real-anatomy benchmark's 18 cells (``limit``: the first slices only)."""
    cells = [(v, s, noise_std) for v in REAL_ANATOMY_VOLUMES for s in REAL_ANATOMY_SHIFTS for noise_std in REAL_ANATOMY_LEVELS]
    return benchmark_cells(cells, sensitivity_methods(net2d, net3d, factors), bm3d=False, limit=limit, log=log)


def render_sensitivity_page(rows: Sequence[dict], command: str) -> str:
    """The page: mean PSNR over the cells per model and factor, the change against the true level, the worst cell."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["cell"], r["method"]): r["psnr"] for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    out = [
        "# Noise-level sensitivity: the shipped models told a wrong noise level",
        "",
        f"Produced by `{command}`. The shipped 2D model (`models/model.pt`, slice by slice, two passes as shipped) and the volume model (one",
        "pass as shipped), each slab as one volume through the command line's code path (`monai-nad denoise --mode 2d|3d`), on the 18 cells of the real-anatomy benchmark (`docs/results/real_scan_benchmark.md`: MNI and Colin27,",
        "as is, dim and inverted, Rician s = 0.05 / 0.10 / 0.15), told `x` times the true noise level, beside their blind",
        "runs (the command line's default). Mean PSNR (dB) over the cells; the change against the true level; the worst cell.",
        "",
        "| model | told | mean PSNR | change vs true level (mean) | worst cell change |",
        "|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(m.split("_")[0] for m in methods):
        true = f"{model}_x1"
        for method in [m for m in methods if m.startswith(model + "_")]:
            values = [by[c, method] for c in cells if (c, method) in by]
            told = "blind estimate" if method.endswith("blind") else method.split("_x")[1] + " x true s"
            if (cells[0], true) in by:
                diffs = [by[c, method] - by[c, true] for c in cells if (c, method) in by and (c, true) in by]
                worst = min(range(len(diffs)), key=lambda i: diffs[i])
                change, worst_text = f"{np.mean(diffs):+.2f}", f"{diffs[worst]:+.2f} ({cells[worst]})"
            else:
                change = worst_text = "-"
            out.append(f"| {model.upper()} | {told} | {np.mean(values):.2f} | {change} | {worst_text} |")
    summary = []
    for model in dict.fromkeys(m.split("_")[0] for m in methods):
        true = f"{model}_x1"
        parts = []
        for factor in (0.9, 1.1):
            method = f"{model}_x{factor:g}"
            diffs = [by[c, method] - by[c, true] for c in cells if (c, method) in by and (c, true) in by]
            if diffs:
                parts.append(f"{factor:g} x: {np.mean(diffs):+.2f} dB on average, {min(diffs):+.2f} dB in the worst cell")
        if parts:
            summary.append(f"{model.upper()} told a level 10% off: " + "; ".join(parts) + ".")
    out += ["", *summary, "",
            "Too low a level leaves noise and Rician background bias in; too high a level smooths tissue away, most on the",
            "dim contrast, whose signal is closest to the noise. The blind estimate is what `monai-nad denoise` uses unless",
            "`--noise-std` is given.", ""]
    return "\n".join(out)


def write_sensitivity_page(rows: Sequence[dict], out: str | Path, command: str) -> Path:
    """Write ``noise_level_sensitivity.md`` and its record ``noise_level_sensitivity.json`` into ``out``."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "noise_level_sensitivity.json").write_text(json.dumps({"command": command, "rows": list(rows)}, indent=1) + "\n")
    page = out / "noise_level_sensitivity.md"
    page.write_text(render_sensitivity_page(rows, command))
    return page
