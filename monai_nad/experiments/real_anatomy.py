"""The real-anatomy benchmark (``../shared/BENCHMARK.md`` section 1c): a network beside BM3D+rc on the 18 cells.

Every method gets the same noisy slices (seed ``1000 + z``) and is scored by the same metric code. BM3D is told the
true noise level; its Rician bias-correction strength ``b`` is chosen per cell on the validation slab. The
network is run blind (its own noise estimate) and with the true noise level. Times are medians per slice on one
thread, measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from monai_nad.baselines.bm3d_denoiser import bm3d_denoise
from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL, real_anatomy_cell, real_anatomy_cell_name
from monai_nad.metrics import foreground_psnr, psnr, ssim
from monai_nad.transforms.noise_level import magnitude_bias_correction

__all__ = ["BM3D_B_GRID", "score_slices", "network_slices", "bm3d_rc_cell", "benchmark_cells"]

#: Rician correction strengths tried for BM3D on each cell's validation slab (BENCHMARK 1c).
BM3D_B_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def score_slices(denoised: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Mean PSNR, SSIM and foreground PSNR of ``(N, H, W)`` slices (outputs clipped to ``[0, 1]``)."""
    pred = torch.from_numpy(np.ascontiguousarray(denoised, dtype=np.float32))[:, None]
    ref = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[:, None]
    return {
        "psnr": float(psnr(pred, ref).mean()),
        "ssim": float(ssim(pred, ref).mean()),
        "fg_psnr": float(foreground_psnr(pred, ref).mean()),
    }


def network_slices(net: torch.nn.Module, noisy: np.ndarray, noise_std: float | None = None) -> tuple[np.ndarray, list[float]]:
    """Denoise ``(N, H, W)`` slices one at a time; return the result and the seconds per slice."""
    out, times = [], []
    with torch.no_grad():
        for image in noisy:
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
            start = time.perf_counter()
            y = net(x) if noise_std is None else net(x, noise_std=noise_std)
            times.append(time.perf_counter() - start)
            out.append(y[0, 0].numpy())
    return np.stack(out), times


def bm3d_rc_cell(
    noisy_val: np.ndarray, clean_val: np.ndarray, noisy_test: np.ndarray, level: float, grid: Sequence[float] = BM3D_B_GRID
) -> tuple[np.ndarray, float, list[float]]:
    """BM3D with the true noise level and the Rician correction whose ``b`` scores best on validation.

    Returns:
        ``(denoised test slices, chosen b, seconds per test slice)``.
    """
    val = np.stack([bm3d_denoise(image, level) for image in noisy_val])
    scores = [score_slices(np.asarray(magnitude_bias_correction(val, np.sqrt(b) * level)), clean_val)["psnr"] for b in grid]
    b = float(grid[int(np.argmax(scores))])
    out, times = [], []
    for image in noisy_test:
        start = time.perf_counter()
        out.append(np.asarray(magnitude_bias_correction(bm3d_denoise(image, level), np.sqrt(b) * level)))
        times.append(time.perf_counter() - start)
    return np.stack(out).astype(np.float32), b, times


def benchmark_cells(
    cells: Iterable[tuple[str, str | None, float]],
    methods: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, list[float]]]],
    bm3d: bool = True,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Score ``methods`` (and BM3D+rc) on the given cells of section 1c.

    Args:
        cells: ``(volume, shift, level)`` triples, e.g. ``("colin27", "inverted", 0.1)``.
        methods: name -> ``f(noisy (N, H, W), true level) -> (denoised, seconds per slice)``.
        bm3d: also run BM3D+rc (skipped at the near-clean level, where it is not part of the bar).
        limit: keep only the first ``limit`` slices of each slab (quick checks).
        log: progress messages.

    Returns:
        one row per cell and method: ``{"cell", "method", "psnr", "ssim", "fg_psnr", "input_psnr", "ms"[, "b"]}``.
    """
    rows = []
    for volume, shift, level in cells:
        name = real_anatomy_cell_name(volume, shift, level)
        noisy, clean, _ = real_anatomy_cell(volume, shift, level, "test")
        noisy, clean = noisy[:limit], clean[:limit]
        base = {"cell": name, "input_psnr": score_slices(noisy, clean)["psnr"]}
        for method, run in methods.items():
            out, times = run(noisy, level)
            rows.append(base | {"method": method, **score_slices(out, clean), "ms": 1000 * float(np.median(times))})
            log(f"{name:<24} {method:<16} {rows[-1]['psnr']:6.2f} dB")
        if bm3d and level != NEAR_CLEAN_LEVEL:
            noisy_val, clean_val, _ = real_anatomy_cell(volume, shift, level, "validation")
            out, b, times = bm3d_rc_cell(noisy_val[:limit], clean_val[:limit], noisy, level)
            rows.append(base | {"method": "bm3d_rc", **score_slices(out, clean), "ms": 1000 * float(np.median(times)), "b": b})
            log(f"{name:<24} {'bm3d_rc':<16} {rows[-1]['psnr']:6.2f} dB (b = {b})")
    return rows


def summarise_bar(rows: list[dict], net: torch.nn.Module | None = None) -> dict:
    """The quality bar of the real-scan model from :func:`benchmark_cells` rows.

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
    ms = {m: float(np.median([r["ms"] for r in rows if r["method"] == m])) for m in {r["method"] for r in rows}}
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
    if net is not None:
        summary["parameters"] = int(sum(p.numel() for p in net.parameters()))
        if hasattr(net, "flops_per_pixel"):
            summary["gflops_per_181x217_slice"] = float(net.flops_per_pixel()) * 181 * 217 / 1e9
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
    if "parameters" in summary:
        flops = f", {summary['gflops_per_181x217_slice']:.1f} GFLOPs per 181×217 slice" if "gflops_per_181x217_slice" in summary else ""
        size = summary.get("checkpoint_bytes")
        measured = f"{size:,} bytes, loaded with `weights_only=True`; " if size else ""
        met = ("yes" if size < 1_000_000 else "no") if size else "–"
        lines.append(f"| checkpoint < 1 MB, `weights_only=True` | {measured}{summary['parameters']:,} parameters{flops} | {met} |")
    return "\n".join(lines) + "\n"
