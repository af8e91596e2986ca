"""The volume results page (``docs/results/volumes.md``): cell table, bar checks, thick slices, whole-volume time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from monai_nad.experiments.tracking import log_method_run
from monai_nad.experiments.volume_benchmark import summary

__all__ = ["volume_bar", "render_volume_page", "card_section", "log_volume_runs"]

OURS = "neural_pde_3d"


def _by_cell(rows: Sequence[Mapping[str, Any]], method: str) -> dict[str, float]:
    return {r["cell"]: r["psnr"] for r in rows if r["method"] == method}


def volume_bar(rows: Sequence[Mapping[str, Any]], timing: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, str, bool]]:
    """The volume model's quality bar, the quality and speed lines of docs/results/volumes.md: ``(line, measured, met)``."""
    ours = _by_cell(rows, OURS)
    lines: list[tuple[str, str, bool]] = []
    if not ours:
        return lines
    for other, text in (("neural_pde_2d", "beats the 2D model in every cell"), ("dipy_nlmeans", "beats DIPY nlmeans in every cell")):
        theirs = _by_cell(rows, other)
        if not theirs:
            continue
        gaps = [ours[c] - theirs[c] for c in theirs if c in ours]
        lines.append((text, f"{sum(g > 0 for g in gaps)} of {len(gaps)} (closest {min(gaps):+.2f} dB)", all(g > 0 for g in gaps)))
    bm4d = _by_cell(rows, "bm4d_rc")
    if bm4d:
        gaps = [ours[c] - bm4d[c] for c in bm4d if c in ours]
        two = _by_cell(rows, OURS + "_2pass")
        also = f" (two passes: {np.mean([two[c] - bm4d[c] for c in bm4d if c in two]):+.2f} dB)" if two else ""
        lines.append(("beats BM4D+rc on the mean", f"{np.mean(gaps):+.2f} dB{also}", float(np.mean(gaps)) > 0))
        worst = min(bm4d, key=lambda c: ours.get(c, np.inf) - bm4d[c])
        lines.append(("never more than 0.3 dB below BM4D+rc", f"worst {min(gaps):+.2f} dB ({worst}); {sum(g >= -0.3 for g in gaps)} of {len(gaps)} cells within",
                      min(gaps) >= -0.3))
    seconds = {r["method"]: r["seconds"] for r in timing}
    if not lines:
        return lines
    if OURS in seconds and "dipy_nlmeans" in seconds:
        lines.append(("whole Colin27 faster than DIPY nlmeans", f"{seconds[OURS]:.1f} s vs {seconds['dipy_nlmeans']:.1f} s", seconds[OURS] < seconds["dipy_nlmeans"]))
    return lines


def render_volume_page(
    rows: Sequence[Mapping[str, Any]], thick: Sequence[Mapping[str, Any]], timing: Sequence[Mapping[str, Any]], large: Mapping[str, Any] | None,
    command: str, figure: str | None = None, notes: Sequence[str] = (), other: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The Markdown of the volume results page (``other``: rows of the cells outside the bar, see
    :func:`~monai_nad.experiments.volume_benchmark.other_cells`)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    table = {(r["cell"], r["method"]): r for r in rows}
    means = summary(rows)
    out = [
        "# Volumes: the test slabs as volumes, against BM4D and DIPY",
        "",
        f"Produced by `{command}` (one thread per method; each run merges its rows into `volumes.json`, from which",
        "`--render-only` or `monai-nad compare --suite volumes` render the page again). The cells are the",
        "MNI and Colin27 test slabs (z in [90, 100)) taken as volumes of 10 slices, as is and inverted, with the Rician noise",
        "of the real-anatomy cells (`real_anatomy.md`; `monai_nad.experiments.evaluation.real_anatomy_test_cell`).",
        "`neural_pde_2d` is the shipped 2D model slice by slice, `neural_pde_3d` the",
        "volume model (`models/model_3d.pt`: the 2D model given two slices either side, then two learned edge-stopping",
        "diffusion steps between neighbouring slices, fine-tuned on 3D patches of the training slabs), both blind, as `monai-nad denoise --mode 2d|3d` runs them (the 2D model averaged over two mirror",
        "images, the volume model in one pass; `neural_pde_3d_2pass`: the volume model averaged over two mirror images too).",
        "The networks' convolutions run in bfloat16 where the CPU has native bfloat16 units, as the command line does (`--precision`).",
        "BM4D+rc is told the true noise level and its Rician correction strength `b` is tuned on the validation slab",
        "(z in [80, 90)) as a volume; DIPY's nlmeans uses its own noise estimate, Rician mode and default radii.",
        "",
        "## The bar",
        "",
        "| line | measured | met |",
        "|---|---|---|",
    ]
    out += [f"| {line} | {measured} | {'yes' if met else '**no**'} |" for line, measured, met in volume_bar(rows, timing)]
    out += ["", "## PSNR (dB) per cell", "", "| cell | input | " + " | ".join(methods) + " |", "|---" * (len(methods) + 2) + "|"]
    for cell in cells:
        first = next(r for r in rows if r["cell"] == cell)
        values = [f"{table[cell, m]['psnr']:.2f}" if (cell, m) in table else "" for m in methods]
        out.append(f"| {cell} | {first['input_psnr']:.2f} | " + " | ".join(values) + " |")
    out.append("| **mean** | | " + " | ".join(f"**{means[m]['psnr']:.2f}**" for m in methods) + " |")
    out.append("| mean SSIM | | " + " | ".join(f"{means[m]['ssim']:.4f}" for m in methods) + " |")
    out.append("| ms per slice (median) | | " + " | ".join(f"{means[m]['ms']:.0f}" for m in methods) + " |")
    chosen = sorted({f"{r['cell']}: b = {r['b']}" for r in rows if r["method"] == "bm4d_rc" and "b" in r})
    if chosen:
        out += ["", "BM4D+rc's `b` chosen on validation: " + "; ".join(chosen) + "."]
    if other:
        others = list(dict.fromkeys(r["method"] for r in other))
        index = {(r["cell"], r["method"]): r for r in other}
        out += ["", "## Dim contrast and nearly clean volumes (outside the bar)", "",
                "The same models on the dim contrast of section 1c and on the as-is slabs at s = 0.005, where a denoiser",
                "must keep fine detail (it should not lose PSNR against its input), beside BM4D+rc tuned the same way on each",
                "cell's validation slab. PSNR (dB); foreground PSNR in brackets.", "",
                "| cell | input | " + " | ".join(others) + " |", "|---" * (len(others) + 2) + "|"]
        for cell in dict.fromkeys(r["cell"] for r in other):
            first = next(r for r in other if r["cell"] == cell)
            values = [f"{index[cell, m]['psnr']:.2f} ({index[cell, m]['fg_psnr']:.2f})" if (cell, m) in index else "" for m in others]
            out.append(f"| {cell} | {first['input_psnr']:.2f} | " + " | ".join(values) + " |")
    if timing:
        out += ["", "## A whole volume: Colin27 (181 x 217 x 181), one thread each, same run", "",
                "Each method in a fresh process reads the NIfTI, denoises it and writes the result (the command line's code",
                "path for the Neural PDE); seconds are the median of the runs, memory is the process's peak resident size.",
                "The PSNR is over the whole volume, whose training slabs the models have seen: it is there to show the",
                "output is sound, not as a quality result.", "",
                "| method | seconds | peak memory (MB) | whole-volume PSNR |", "|---|---|---|---|"]
        out += [f"| {r['method']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['psnr_whole']:.2f} |" for r in timing]
        machines = sorted({r["machine"] for r in timing if r.get("machine")})
        if machines:
            out += ["", "Timed on " + "; ".join(machines) + "."]
    if large:
        shape = " x ".join(str(s) for s in large["shape"])
        out += ["", f"A synthetic {shape} volume through `monai-nad denoise --mode 3d` (sliding windows of",
                f"320 x 320 in plane, the full depth, overlap 0.25): {large['seconds']:.0f} s, peak memory {large['peak_rss_mb']:.0f} MB",
                f"({large['peak_rss_mb'] / 1024:.2f} GB; the bound is 4 GB)."]
    if thick:
        steps = sorted({r["step"] for r in thick})
        out += ["", "## Thicker slices: the 2D and the volume model on every k-th slice (k mm)", "",
                "Why `--mode auto` falls back to the 2D model when slices are more than 1.5 times as thick as the in-plane voxels:",
                "the volume model learnt from 1 mm neighbours. As-is test slabs, PSNR (dB); the volume model forced.", "",
                "| volume | s | " + " | ".join(f"{k} mm: 2D | {k} mm: 3D" for k in steps) + " |", "|---|---|" + "---|---|" * len(steps)]
        keys = list(dict.fromkeys((r["volume"], r["level"]) for r in thick))
        index = {(r["volume"], r["level"], r["step"], r["model"]): r["psnr"] for r in thick}
        for volume, level in keys:
            values = [f"{index[volume, level, k, '2d']:.2f} | {index[volume, level, k, '3d']:.2f}" for k in steps]
            out.append(f"| {volume} | {level:.2f} | " + " | ".join(values) + " |")
    if figure:
        out += ["", "## Orthogonal views", "", f"![orthogonal views]({figure})", "",
                "Whole Colin27 at s = 0.10: axial, coronal and sagittal mid-planes of the clean, noisy and denoised volumes."]
    if " then " in command:  # rows from more than one run
        notes = [*notes, "Each method's rows come from the last run that measured it (the commands above, in order); times per slice "
                         "compare within one run only (BM4D+rc was timed in its own run while another process used the second core)."]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def log_volume_runs(rows: Sequence[Mapping[str, Any]], timing: Sequence[Mapping[str, Any]], tracking_uri: str, experiment: str = "volumes") -> None:
    """One MLflow run per method: its PSNR/SSIM per cell, its mean, and its whole-volume time and memory."""
    times = {r["method"]: r for r in timing}
    for method, values in summary(rows).items():
        metrics = {f"psnr_{r['cell']}": r["psnr"] for r in rows if r["method"] == method}
        metrics.update({f"ssim_{r['cell']}": r["ssim"] for r in rows if r["method"] == method})
        metrics.update(mean_psnr=values["psnr"], mean_ssim=values["ssim"], ms_per_slice=values["ms"])
        if method in times:
            metrics.update(whole_volume_s=times[method]["seconds"], peak_rss_mb=times[method]["peak_rss_mb"])
        log_method_run(tracking_uri, experiment, method, {"benchmark": "volumes"}, metrics)


def card_section(rows: Sequence[Mapping[str, Any]], timing: Sequence[Mapping[str, Any]], large: Mapping[str, Any] | None, command: str) -> str:
    """The model card's volume table: the bar, the mean of each method, whole-volume time and memory."""
    means = summary(rows)
    seconds = {r["method"]: r for r in timing}
    out = [f"Measured by `{command}` ([`docs/results/volumes.md`](../../../docs/results/volumes.md)): the MNI and Colin27 test",
           "slabs as volumes, as is and inverted, s = 0.05 / 0.10 / 0.15, one thread per method.", "",
           "| line | measured | met |", "|---|---|---|"]
    out += [f"| {line} | {measured} | {'yes' if met else '**no**'} |" for line, measured, met in volume_bar(rows, timing)]
    if large:
        out.append(f"| 512x512x300 volume within 4 GB | peak {large['peak_rss_mb'] / 1024:.2f} GB, {large['seconds']:.0f} s | "
                   f"{'yes' if large['peak_rss_mb'] < 4096 else '**no**'} |")
    out += ["", "| method | mean PSNR | mean SSIM | ms per slice | whole Colin27 (s) | peak memory (MB) |", "|---|---|---|---|---|---|"]
    for method, values in means.items():
        whole = seconds.get(method)
        extra = f"{whole['seconds']:.1f} | {whole['peak_rss_mb']:.0f}" if whole else "– | –"
        out.append(f"| {method} | {values['psnr']:.2f} | {values['ssim']:.4f} | {values['ms']:.0f} | {extra} |")
    return "\n".join(out) + "\n"
