"""MNI-Rician benchmark of the v0.2 Neural PDE (`models/model_v0.2.pt`, built from `train.json`) against BM3D (with and without Rician bias correction).

Implements ``shared/BENCHMARK.md`` sections 1 and 1b in one run: every method sees the same fixed-seed noisy
slices and is scored by the same metric code (``monai_nad.metrics``; predictions clipped to [0, 1]).
BM3D's noise parameter (a multiple of the true level) and the bias-correction strength ``b`` are tuned per level
on the validation slab by whole-slice PSNR, never on the test slab. Timings are medians per slice, one thread,
measured in this run on this machine.

Writes ``<out>/benchmark.json`` and ``<out>/benchmark.md`` (default: the bundle's ``docs/``), including whether
the bundle's quality bar is met.

Usage:
    python scripts/benchmark_mni.py [--checkpoint bundles/neural_pde_denoising/models/model_v0.2.pt] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from monai_nad.baselines import bm3d_denoise  # noqa: E402
from monai_nad.data import mni_eval_arrays  # noqa: E402
from monai_nad.experiments.methods import bundle_network  # noqa: E402
from monai_nad.experiments.model_card import replace_card_section  # noqa: E402
from monai_nad.inference import denoise_slices  # noqa: E402
from monai_nad.metrics import median_scores  # noqa: E402
from monai_nad.transforms import RicianBiasCorrection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "neural_pde_denoising"
LEVELS = (0.05, 0.10, 0.15)
SHIFT_LEVELS = (0.05, 0.10)  # the levels of the quality bar on the shifted sets
SHIFT_REPORT_LEVELS = (0.05, 0.10, 0.15)  # the levels scored and reported (0.15: outside the bar, within training)
SIGMA_FACTORS = (0.8, 1.0, 1.2)
B_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def _bm3d(noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, list[float]]:
    return denoise_slices(lambda image: bm3d_denoise(image, sigma), noisy)


def _rc(images: np.ndarray, level: float, b: float) -> np.ndarray:
    return np.asarray(RicianBiasCorrection(level, b)(images), dtype=np.float32)


def tune_bm3d(level: float, limit: int | None) -> dict[str, float]:
    """Choose BM3D's sigma factor, then ``b`` for BM3D+rc, by median validation PSNR."""
    noisy, clean = mni_eval_arrays("validation", level, shift=None, limit=limit)
    best = None
    for factor in SIGMA_FACTORS:
        out, _ = _bm3d(noisy, factor * level)
        plain = median_scores(out, clean)["psnr"]
        rc = max((median_scores(_rc(out, level, b), clean)["psnr"], b) for b in B_GRID)
        if best is None or plain > best["plain_psnr"]:
            best = {**(best or {}), "sigma_factor": factor, "plain_psnr": plain}
        if rc[0] > best.get("rc_psnr", -1):
            best.update(rc_sigma_factor=factor, rc_b=rc[1], rc_psnr=rc[0])
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(BUNDLE / "models" / "model_v0.2.pt"))
    parser.add_argument(
        "--diffusion-checkpoint", default=None,
        help="the diffusion-only model (first training stage), scored alongside; default: the bundle's "
        "models/diffusion_only.pt when it exists",
    )
    parser.add_argument("--out", default=str(BUNDLE / "docs"))
    parser.add_argument("--quick", action="store_true", help="2 slices per set (a smoke test, not a result)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    limit = 2 if args.quick else None

    net = bundle_network(BUNDLE, ["train.json"], args.checkpoint)
    diffusion_ckpt = args.diffusion_checkpoint or BUNDLE / "models" / "diffusion_only.pt"
    diffusion_only = None
    if args.diffusion_checkpoint or Path(diffusion_ckpt).is_file():  # a path given explicitly must exist
        diffusion_only = bundle_network(BUNDLE, ["train.json", "diffusion_only.json"], diffusion_ckpt)

    started = time.time()
    results: dict = {"levels": {}, "shifted": {}}
    tuned = {}
    for level in LEVELS:
        tuned[level] = tune_bm3d(level, limit)
        print(f"tuned BM3D at s={level}: {tuned[level]}", flush=True)
    for shift, levels in ((None, LEVELS), ("dim", SHIFT_REPORT_LEVELS), ("inverted", SHIFT_REPORT_LEVELS)):
        for level in levels:
            noisy, clean = mni_eval_arrays("test", level, shift=shift, limit=limit)
            t = tuned[level]
            plain, bm3d_times = _bm3d(noisy, t["sigma_factor"] * level)
            rc_input = plain if t["rc_sigma_factor"] == t["sigma_factor"] else _bm3d(noisy, t["rc_sigma_factor"] * level)[0]
            ours, our_times = denoise_slices(net, noisy)
            row = {
                "noisy": median_scores(noisy, clean),
                "bm3d": median_scores(plain, clean),
                "bm3d_rc": median_scores(_rc(rc_input, level, t["rc_b"]), clean),
                "neural_pde": median_scores(ours, clean),
                "ms_per_slice": {"bm3d": 1000 * float(np.median(bm3d_times)), "neural_pde": 1000 * float(np.median(our_times))},
            }
            if diffusion_only is not None:
                row["diffusion_only"] = median_scores(denoise_slices(diffusion_only, noisy)[0], clean)
            (results["levels"] if shift is None else results["shifted"].setdefault(shift, {}))[str(level)] = row
            print(f"{shift or 'test'} s={level}: {json.dumps(row)}", flush=True)

    bar = []
    for level in LEVELS:
        r = results["levels"][str(level)]
        bar.append((f"s={level}: PSNR >= BM3D+rc + 1 dB", r["neural_pde"]["psnr"] >= r["bm3d_rc"]["psnr"] + 1.0))
        bar.append((f"s={level}: SSIM >= BM3D+rc", r["neural_pde"]["ssim"] >= r["bm3d_rc"]["ssim"]))
        bar.append((f"s={level}: foreground PSNR >= BM3D", r["neural_pde"]["fg_psnr"] >= r["bm3d"]["fg_psnr"]))
    for shift in ("dim", "inverted"):
        for level in SHIFT_LEVELS:
            r = results["shifted"][shift][str(level)]
            bar.append((f"{shift} s={level}: PSNR >= BM3D+rc", r["neural_pde"]["psnr"] >= r["bm3d_rc"]["psnr"]))
    results.update(
        tuned={str(k): v for k, v in tuned.items()},
        quality_bar={name: bool(ok) for name, ok in bar},
        quality_bar_met=all(ok for _, ok in bar),
        checkpoint=str(Path(args.checkpoint).resolve().relative_to(ROOT)) if Path(args.checkpoint).resolve().is_relative_to(ROOT) else args.checkpoint,
        parameters=sum(p.numel() for p in net.parameters()),
        quick=args.quick,
        seconds=round(time.time() - started, 1),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread",
        command="python scripts/benchmark_mni.py" + (" --quick" if args.quick else ""),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "benchmark.md").write_text(render_markdown(results))
    card = out / "README.md"
    if card.is_file() and not args.quick:
        replace_card_section(card, "benchmark", render_markdown(results))
    print(render_markdown(results))
    return 0


def render_markdown(results: dict) -> str:
    """The benchmark tables as Markdown."""
    lines = [
        f"Produced by `{results['command']}` ({results['machine']}; {results['seconds']} s).",
        "Medians over the 10 test slices; PSNR in dB (data range 1), SSIM with a 7x7 uniform window, foreground = clean > 0.05.",
        "",
        "### MNI-Rician test slab",
        "",
        "| s | noisy PSNR/SSIM | BM3D PSNR/SSIM | BM3D+rc PSNR/SSIM | Neural PDE PSNR/SSIM | fg PSNR noisy / BM3D / BM3D+rc / Neural PDE | ms/slice BM3D / Neural PDE |",
        "|---|---|---|---|---|---|---|",
    ]
    has_diffusion_only = all("diffusion_only" in r for r in results["levels"].values())

    def ps(s: dict) -> str:
        return f"{s['psnr']:.2f}/{s['ssim']:.3f}"

    for level, r in results["levels"].items():
        lines.append(
            f"| {level} | {ps(r['noisy'])} | {ps(r['bm3d'])} | {ps(r['bm3d_rc'])} | **{ps(r['neural_pde'])}** | "
            f"{r['noisy']['fg_psnr']:.2f} / {r['bm3d']['fg_psnr']:.2f} / {r['bm3d_rc']['fg_psnr']:.2f} / **{r['neural_pde']['fg_psnr']:.2f}** | "
            f"{r['ms_per_slice']['bm3d']:.0f} / {r['ms_per_slice']['neural_pde']:.0f} |"
        )
    if has_diffusion_only:
        lines += [
            "", "The diffusion alone (`models/diffusion_only.pt`, the first training stage: no refinement head, so the maximum "
            "principle holds), PSNR/SSIM and foreground PSNR: "
            + "; ".join(f"s={lv}: {ps(r['diffusion_only'])}, fg {r['diffusion_only']['fg_psnr']:.2f}" for lv, r in results["levels"].items())
            + ".",
        ]
    extra = " diffusion only PSNR/SSIM |" if has_diffusion_only else ""
    bar_levels = {str(level) for level in SHIFT_LEVELS}
    lines += ["", "### Shifted test sets (section 1b)", "",
              f"The quality bar covers s in {{{', '.join(sorted(bar_levels))}}}; rows marked * are reported but outside it.", "",
              "| set | s | noisy PSNR | BM3D+rc PSNR/SSIM | Neural PDE PSNR/SSIM |" + extra,
              "|---|---|---|---|---|" + ("---|" if extra else "")]
    for shift, rows in results["shifted"].items():
        for level, r in rows.items():
            mark = "" if level in bar_levels else "*"
            lines.append(f"| {shift} | {level}{mark} | {r['noisy']['psnr']:.2f} | {ps(r['bm3d_rc'])} | **{ps(r['neural_pde'])}** |"
                         + (f" {ps(r['diffusion_only'])} |" if extra else ""))
    lines += ["", "### Quality bar", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in results["quality_bar"].items()]
    lines += ["", f"Quality bar met: **{'yes' if results['quality_bar_met'] else 'no'}**.", ""]
    tuned = "; ".join(
        f"s={k}: BM3D sigma = {v['sigma_factor']} s, BM3D+rc sigma = {v['rc_sigma_factor']} s with b = {v['rc_b']}" for k, v in results["tuned"].items()
    )
    lines += [f"BM3D parameters tuned on the validation slab: {tuned}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
