"""The quality bar of the real-scan model on the real-anatomy cells (docs/results/real_scan_benchmark.md).

:func:`summarise_bar` grades the rows of the evaluation loop (:func:`~monai_nad.experiments.evaluation.benchmark_cells`):
the blind network (``ours_blind``) against BM3D+rc and against itself told the true noise level, the near-clean cells,
SSIM, speed and size; :func:`render_markdown` writes the per-cell table and the graded bar as Markdown.
"""

from __future__ import annotations

import numpy as np
import torch

from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL

__all__ = ["summarise_bar", "render_markdown"]


def summarise_bar(rows: list[dict], net: torch.nn.Module | None = None) -> dict:
    """The quality bar of the real-scan model from the rows of :func:`~monai_nad.experiments.evaluation.benchmark_cells`.

    Returns:
        per-cell PSNR differences blind - BM3D+rc and blind - true-sigma, their mean and worst values, the number of
        cells where blind >= BM3D+rc, mean SSIMs, the near-clean output-minus-input PSNR, the median times and their
        ratio, and (with ``net``) the parameter count.
    """
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = sorted({r["cell"] for r in rows})
    graded = [c for c in cells if (c, "bm3d_rc") in by and (c, "ours_blind") in by]
    vs_bm3d = {c: by[c, "ours_blind"]["psnr"] - by[c, "bm3d_rc"]["psnr"] for c in graded}
    vs_true = {c: by[c, "ours_blind"]["psnr"] - by[c, "ours_true_sigma"]["psnr"] for c in cells if (c, "ours_true_sigma") in by}
    near = {c: by[c, "ours_blind"]["psnr"] - by[c, "ours_blind"]["input_psnr"] for c in cells if c.endswith(f"_{NEAR_CLEAN_LEVEL:g}")}
    ms = {m: float(np.median([r["ms"] for r in rows if r["method"] == m])) for m in dict.fromkeys(r["method"] for r in rows)}
    summary: dict = {
        "cells_graded": len(graded),
        "blind_minus_bm3d_rc": vs_bm3d,
        "mean_blind_minus_bm3d_rc": float(np.mean(list(vs_bm3d.values()))) if vs_bm3d else None,
        "worst_blind_minus_bm3d_rc": float(min(vs_bm3d.values())) if vs_bm3d else None,
        "cells_blind_at_least_bm3d_rc": sum(v >= 0 for v in vs_bm3d.values()),
        "mean_ssim_blind": float(np.mean([by[c, "ours_blind"]["ssim"] for c in graded])) if graded else None,
        "mean_ssim_bm3d_rc": float(np.mean([by[c, "bm3d_rc"]["ssim"] for c in graded])) if graded else None,
        "blind_minus_true_sigma": vs_true,
        "worst_abs_blind_minus_true_sigma": float(max(abs(v) for v in vs_true.values())) if vs_true else None,
        "near_clean_output_minus_input": near,
        "median_ms_per_slice": ms,
    }
    if "bm3d_rc" in ms and "ours_blind" in ms:
        summary["speedup_blind_vs_bm3d_rc"] = ms["bm3d_rc"] / ms["ours_blind"]
    one_pass = {c: by[c, "ours_blind_one_pass"]["psnr"] - by[c, "bm3d_rc"]["psnr"] for c in graded if (c, "ours_blind_one_pass") in by}
    if one_pass:
        summary["one_pass_minus_bm3d_rc"] = one_pass
        summary["one_pass_cells_at_least_bm3d_rc"] = sum(v >= 0 for v in one_pass.values())
        summary["one_pass_mean_minus_bm3d_rc"] = float(np.mean(list(one_pass.values())))
        if "bm3d_rc" in ms:
            summary["speedup_one_pass_vs_bm3d_rc"] = ms["bm3d_rc"] / ms["ours_blind_one_pass"]
    if net is not None:
        summary["parameters"] = int(sum(p.numel() for p in net.parameters()))
        if hasattr(net, "flops_per_pixel"):
            summary["passes"] = int(getattr(net, "self_ensemble", 1))
            summary["gflops_per_181x217_slice"] = float(net.flops_per_pixel()) * 181 * 217 / 1e9 * summary["passes"]
    return summary


def render_markdown(rows: list[dict], summary: dict, command: str) -> str:
    """The per-cell table (PSNR / SSIM / foreground PSNR) and the quality-bar summary as Markdown."""
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [f"Produced by `{command}` (one thread; every method on the same noisy slices, same metric code).", ""]
    lines.append("| cell | noisy | " + " | ".join(methods) + " | blind − BM3D+rc |")
    lines.append("|---|---|" + "---|" * len(methods) + "---|")
    for cell in cells:
        values = []
        for method in methods:
            r = by.get((cell, method))
            values.append(f"{r['psnr']:.2f} / {r['ssim']:.3f} / {r['fg_psnr']:.2f}" if r else "–")
        delta = summary["blind_minus_bm3d_rc"].get(cell)
        lines.append(f"| {cell} | {by[cell, methods[0]]['input_psnr']:.2f} | " + " | ".join(values) + f" | {'' if delta is None else f'{delta:+.2f}'} |")
    ms = summary["median_ms_per_slice"]
    lines += [
        "",
        "Cells: PSNR (dB) / SSIM / foreground PSNR (clean > 0.05), mean over the test slices.",
        "",
        "| quality bar | measured | met |",
        "|---|---|---|",
    ]
    graded = summary["cells_graded"]
    mean, worst = summary["mean_blind_minus_bm3d_rc"], summary["worst_blind_minus_bm3d_rc"]
    if graded:
        lines.append(f"| blind ≥ BM3D+rc in every cell | {summary['cells_blind_at_least_bm3d_rc']} of {graded} cells (worst {worst:+.2f} dB) | "
                     f"{'yes' if summary['cells_blind_at_least_bm3d_rc'] == graded else 'no'} |")
        lines.append(f"| mean over the cells ≥ BM3D+rc + 0.5 dB | {mean:+.2f} dB | {'yes' if mean >= 0.5 else 'no'} |")
        lines.append(f"| mean SSIM ≥ BM3D+rc's | {summary['mean_ssim_blind']:.4f} vs {summary['mean_ssim_bm3d_rc']:.4f} | "
                     f"{'yes' if summary['mean_ssim_blind'] >= summary['mean_ssim_bm3d_rc'] else 'no'} |")
    worst_true = summary["worst_abs_blind_minus_true_sigma"]
    if worst_true is not None:
        lines.append(f"| blind within 0.2 dB of the true sigma in every cell | worst {worst_true:.3f} dB | {'yes' if worst_true <= 0.2 else 'no'} |")
    near = summary["near_clean_output_minus_input"]
    if near:
        low = min(near.values())
        lines.append(f"| near-clean: output ≥ input − 0.1 dB | {', '.join(f'{k} {v:+.2f} dB' for k, v in near.items())} | {'yes' if low >= -0.1 else 'no'} |")
    if "speedup_blind_vs_bm3d_rc" in summary:
        speed = summary["speedup_blind_vs_bm3d_rc"]
        lines.append(f"| ≥ 10× faster than BM3D per slice (one thread) | {ms['ours_blind']:.0f} vs {ms['bm3d_rc']:.0f} ms: {speed:.1f}× | {'yes' if speed >= 10 else 'no'} |")
    if "speedup_one_pass_vs_bm3d_rc" in summary:
        speed = summary["speedup_one_pass_vs_bm3d_rc"]
        lines.append(f"| the same network in one pass (`self_ensemble` 1): cells ≥ BM3D+rc, speed | "
                     f"{summary['one_pass_cells_at_least_bm3d_rc']} of {graded} cells (mean {summary['one_pass_mean_minus_bm3d_rc']:+.2f} dB, "
                     f"worst {min(summary['one_pass_minus_bm3d_rc'].values()):+.2f} dB); {ms['ours_blind_one_pass']:.0f} ms: {speed:.1f}× | – |")
    if "parameters" in summary:
        passes = summary.get("passes", 1)
        flops = (f", {summary['gflops_per_181x217_slice']:.1f} GFLOPs per 181×217 slice" + (f" ({passes} passes)" if passes > 1 else "")
                 if "gflops_per_181x217_slice" in summary else "")
        size = summary.get("checkpoint_bytes")
        measured = f"{size:,} bytes, loaded with `weights_only=True`; " if size else ""
        met = ("yes" if size < 1_000_000 else "no") if size else "–"
        lines.append(f"| checkpoint < 1 MB, `weights_only=True` | {measured}{summary['parameters']:,} parameters{flops} | {met} |")
    return "\n".join(lines) + "\n"
