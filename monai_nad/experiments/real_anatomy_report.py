"""The real-anatomy results page: every method on the cells of the real-anatomy benchmark, its cost, and its trade-off.

The rows come from :func:`~monai_nad.experiments.evaluation.benchmark_cells` (one evaluation loop). This module
summarises them per method, records one MLflow run per method, and renders the Markdown page, the quality-vs-time
(Pareto) figure and a qualitative panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_nad._optional import pyplot
from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL
from monai_nad.experiments.tracking import log_method_run

__all__ = ["method_summary", "pareto_front", "log_methods", "render_page", "quality_time_figure", "qualitative_panel"]


def _graded(cell: str) -> bool:
    return not cell.endswith(f"_{NEAR_CLEAN_LEVEL:g}")


def method_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per method: mean PSNR, SSIM and foreground PSNR over the graded cells it ran on, and its median ms per slice.

    Returns:
        ``{method: {"psnr", "ssim", "fg_psnr", "ms", "cells"}}`` in the order the methods first appear.
    """
    out: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method and _graded(r["cell"])]
        if not mine:
            continue
        out[method] = {k: float(np.mean([r[k] for r in mine])) for k in ("psnr", "ssim", "fg_psnr")}
        out[method]["ms"] = float(np.median([r["ms"] for r in rows if r["method"] == method]))
        out[method]["cells"] = len(mine)
    return out


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names whose ``(ms, psnr)`` no other point beats in both time (lower) and quality (higher), fastest first."""
    front = [
        name
        for name, (ms, value) in points.items()
        if not any((m2 <= ms and v2 >= value) and (m2 < ms or v2 > value) for other, (m2, v2) in points.items() if other != name)
    ]
    return sorted(front, key=lambda n: points[n][0])


def log_methods(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Mapping[str, Any]], tracking_uri: str, experiment: str = "real_anatomy") -> None:
    """One MLflow run per method: per-cell PSNR/SSIM/foreground PSNR, the means, ms per slice, and its description."""
    summary = method_summary(rows)
    for method, values in summary.items():
        metrics = {f"{r['cell']}_{k}": r[k] for r in rows if r["method"] == method for k in ("psnr", "ssim", "fg_psnr")}
        metrics.update({f"mean_{k}": v for k, v in values.items() if k != "ms"} | {"ms_per_slice": values["ms"]})
        params = {k: v for k, v in info.get(method, {}).items() if v is not None}
        log_method_run(tracking_uri, experiment, method, params, metrics)


def _cell_table(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], key: str, fmt: str) -> list[str]:
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    lines = ["| cell | noisy | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for cell in cells:
        values = []
        best = max((by[cell, m][key] for m in methods if (cell, m) in by), default=None)
        for m in methods:
            r = by.get((cell, m))
            text = format(r[key], fmt) if r else "–"
            values.append(f"**{text}**" if r and r[key] == best else text)
        noisy = format(next(r for r in rows if r["cell"] == cell)["input_psnr"], ".2f") if key == "psnr" else ""
        lines.append(f"| {cell} | {noisy} | " + " | ".join(values) + " |")
    return lines


def render_page(
    rows: Sequence[Mapping[str, Any]],
    info: Mapping[str, Mapping[str, Any]],
    command: str,
    preamble: str = "",
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """The Markdown page: the method table (means, cost), the Pareto front, and per-cell PSNR, SSIM and foreground PSNR.

    Args:
        rows: :func:`~monai_nad.experiments.evaluation.benchmark_cells` rows.
        info: per method: ``{"kind", "parameters", "network_gflops", "counted_gflops", "training", "note"}`` (any may
            be missing): the two GFLOPs by their two rules, each in its own column (``real_anatomy_setup._cost``).
        command: the command that produced the rows.
        preamble: Markdown placed after the title (set-up, budgets, what was checked).
        figures: ``(caption, relative path)`` pairs.
    """
    summary = method_summary(rows)
    methods = list(summary)
    front = pareto_front({m: (v["ms"], v["psnr"]) for m, v in summary.items()})
    lines = ["# Real anatomy: every method on the 18 cells of BENCHMARK 1c", "", f"Produced by `{command}`.", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    lines += ["## Methods", "",
              "| method | kind | mean PSNR | mean SSIM | mean fg PSNR | ms / slice | parameters | GFLOPs / 181×217 slice, network's count "
              "| GFLOPs / 181×217 slice, torch counter | training | note |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in sorted(methods, key=lambda k: -summary[k]["psnr"]):
        v, i = summary[m], info.get(m, {})
        params = f"{i['parameters']:,}" if i.get("parameters") else "–"
        own = f"{i['network_gflops']:.1f}" if i.get("network_gflops") is not None else "–"
        counted = f"{i['counted_gflops']:.2f}" if i.get("counted_gflops") is not None else "–"
        star = " (Pareto)" if m in front else ""
        lines.append(f"| {m}{star} | {i.get('kind', '')} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['fg_psnr']:.2f} | {v['ms']:.0f} | {params} | {own} | {counted} | "
                     f"{i.get('training', '')} | {i.get('note', '')} |")
    lines += ["", f"Means over the {max(v['cells'] for v in summary.values())} graded cells a method ran on; ms: median per slice, "
              "one thread, same run. Pareto: no other method is both faster and better on mean PSNR. GFLOPs count a "
              "multiply-add as 2, by two rules: the network's count (`flops_per_pixel`: its convolutions and, for a Neural "
              "PDE, its diffusion steps; only the networks that define one) and torch's counter over one call "
              "(`torch.utils.flop_counter`: convolutions and matrix products only, so a diffusion that is all "
              "element-wise arithmetic counts about 0).", ""]
    for caption, path in figures:
        lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    for title, key, fmt in (("PSNR (dB)", "psnr", ".2f"), ("SSIM", "ssim", ".3f"), ("Foreground PSNR (dB, clean > 0.05)", "fg_psnr", ".2f")):
        lines += [f"## {title} per cell", "", *_cell_table(rows, methods, key, fmt), ""]
    return "\n".join(lines)


def quality_time_figure(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> None:
    """Mean PSNR against ms per slice (log scale), the Pareto front joined by a line."""
    plt = pyplot("the quality-time figure")

    summary = method_summary(rows)
    points = {m: (v["ms"], v["psnr"]) for m, v in summary.items()}
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (ms, value) in points.items():
        ax.scatter(ms, value, color="tab:red" if name in front else "tab:blue", zorder=3)
        ax.annotate(name, (ms, value), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.plot([points[n][0] for n in front], [points[n][1] for n in front], color="tab:red", lw=1, zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("ms per 181×217 slice (one CPU thread, log scale)")
    ax.set_ylabel("mean PSNR over the graded cells (dB)")
    ax.set_title(title or "Quality vs time (red: Pareto front)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def qualitative_panel(
    images: Mapping[str, np.ndarray], crop: tuple[slice, slice], path: str | Path, title: str = "", columns: int = 4
) -> None:
    """Crops of the same slice side by side (e.g. clean, noisy and each method), grey scale in ``[0, 1]``."""
    plt = pyplot("the qualitative panel")

    names = list(images)
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        ax.imshow(np.clip(np.asarray(images[name])[crop].T, 0, 1), cmap="gray", vmin=0, vmax=1, origin="lower")
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
