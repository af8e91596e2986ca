"""The ``self_supervised`` suite's page: DiffDenoise stages, self-supervised Neural PDE, SRDS and distillation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from monai_nad._optional import pyplot
from monai_nad.experiments.tables import table_number as _fmt

__all__ = ["self_supervised_section"]

#: display order and what each run is
METHODS = {
    "bm3d": "BM3D, oracle-tuned on validation (+ Rician correction on Rician noise; told a white level on the scanner conditions, not BENCHMARK 1d's anchor told the noise PSD)",
    "blind_spot": "DiffDenoise stage 1: blind-spot network",
    "diffdenoise_single": "DiffDenoise stage 2: one DDIM sample conditioned on the blind-spot estimate and the noisy image (truncated chain)",
    "diffdenoise": "DiffDenoise stage 3: SRDS (mean of the runs from +eps and -eps), truncated chain from the noised blind-spot estimate (the bundle's default)",
    "diffdenoise_full_chain": "DiffDenoise stage 3 as the seed describes it: SRDS over the full chain from pure noise (10 DDIM steps)",
    "student": "DiffDenoise stage 4: distilled student (the frozen blind-spot network and a MONAI UNet that corrects its estimate)",
    "neural_pde_self_supervised": "Neural PDE trained self-supervised (Noise2Self masking of 5 x 5 blocks)",
    "neural_pde": "Neural PDE trained supervised (the shipped model; clean references). On the scanner conditions it runs as the command line does, the slices as one scan with the noise std map, coil count and correlation estimated from it (BENCHMARK 1d's neural_pde_2d); elsewhere one slice at a time with a blind level",
}


#: the slabs' names on the page
VOLUME_NAMES = {"mni": "MNI", "colin27": "Colin27"}


def _margins(runs: dict, better: str, worse: str, columns: list[str]) -> list[tuple[str, float]]:
    """``(column, PSNR of better - PSNR of worse)`` for the columns both runs scored."""
    a, b = runs[better]["metrics"], runs[worse]["metrics"]
    return [(c, a[f"psnr_{c}"] - b[f"psnr_{c}"]) for c in columns if f"psnr_{c}" in a and f"psnr_{c}" in b]


def _least(runs: dict, better: str, worse: str, columns: list[str], what: str = "") -> str:
    """``", least +x.xx dB (cell)"``: the smallest margin of ``better`` over ``worse`` (empty if no cell has both)."""
    margins = _margins(runs, better, worse, columns)
    if not margins:
        return ""
    cell, margin = min(margins, key=lambda m: m[1])
    return f", least {margin:+.2f} dB{' ' + what if what else ''} ({cell})"


def _mean(run: dict, metric: str, conditions: list[str]) -> float | None:
    values = [run["metrics"].get(f"{metric}_{c}") for c in conditions]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def self_supervised_section(runs: list[dict[str, Any]], out: Path, artifact) -> list[str]:
    """Tables and figures of the suite.

    Args:
        runs: the newest run of each method (``latest_runs``).
        out: the output folder for figures.
        artifact: ``f(run, name) -> dict of arrays | None`` reading a run's ``.npz`` artifact.

    Returns:
        Markdown lines.
    """
    by_name = {r["name"]: r for r in runs}
    order = [n for n in METHODS if n in by_name] + [r["name"] for r in runs if r["name"] not in METHODS]
    conditions = next((r["params"]["conditions"].split(",") for r in runs if "conditions" in r["params"]), [])
    volumes = next((r["params"]["volumes"].split(",") for r in runs if "volumes" in r["params"]), ["mni"])
    columns = {v: [c if v == "mni" else f"{v}_{c}" for c in conditions] for v in volumes}
    every = [c for v in volumes for c in columns[v]]
    rician = [c for c in every if c.split("_")[-2] == "rician"]
    lines = ["## Methods", ""] + [f"- `{n}`: {METHODS.get(n, n)}" for n in order] + [""]
    lines += ["Every model here except `neural_pde` learned from noisy images, so on magnitude (Rician) data it estimates the "
              "Rician mean E[y] (biased upwards, about 1.25 sigma in the background). On the Rician conditions their outputs "
              "therefore go through `monai_nad.networks.RicianMeanInversion` (the Rician mean inverted with a blindly estimated "
              "sigma; no clean data, nothing tuned). On the scanner conditions they go through "
              "`monai_nad.networks.MagnitudeMeanInversion` (the N-coil magnitude mean inverted with the std map and coil "
              "count estimated from the slices' air, run as one scan, as `--post-correction magnitude_mean` does). The "
              "other noise families get the raw outputs.", ""]
    corrections = {n: by_name[n]["params"]["post_correction"] for n in order if by_name[n]["params"].get("post_correction")}
    if any("_posterior" in c for c in corrections.values()):
        lines += ["Where a row's correction ends in `_posterior`, its output is corrected by the posterior-mean signal instead of "
                  "the exact inversion (`posterior=True`, `monai_nad.transforms.posterior_magnitude`: the estimate's error read "
                  "from the pixels near the noise floor, a prior fitted to the image; no clean data), which removes the speckle "
                  "the exact inversion makes of the estimate's scatter in the air. Per noise family, each of the blind-spot network, "
                  "SRDS, the student and the self-supervised Neural PDE has the correction that scored higher on validation "
                  "slices (`docs/results/diffdenoise_both/post_correction_probe.md`; the other DiffDenoise rows follow SRDS):", ""]
        lines += [f"- `{n}`: {c}" for n, c in corrections.items()] + [""]
    if any(c.startswith("scanner_") for c in conditions):
        lines += ["The `scanner_*` columns are BENCHMARK 1d's cells of that name as is (`monai_nad.experiments.suites."
                  "suite_condition_arrays`: their first slices), scored against the reference through the same noise-free "
                  "pipeline. The self-supervised Neural PDE (bundle 0.4.0) and DiffDenoise's diffusion network and student "
                  "(0.7.0) were trained on the same simulation of other slices, the training slabs' "
                  "(`monai_nad.data.SCANNER_TRAINING_CONDITIONS`, their own draws); the blind-spot network was not "
                  "(`docs/results/diffdenoise_both/noisy_validation.md`).", ""]
    for metric, digits, title in (("psnr", 2, "PSNR (dB)"), ("ssim", 3, "SSIM")):
        for volume in volumes:
            lines += [f"## {title} per noise condition, {VOLUME_NAMES.get(volume, volume)} test slices", "",
                      "| method | " + " | ".join(conditions) + " | mean |", "|---|" + "---|" * (len(conditions) + 1)]
            for name in order:
                run = by_name[name]
                cells = [_fmt(run["metrics"].get(f"{metric}_{c}"), digits) for c in columns[volume]]
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {_fmt(_mean(run, metric, columns[volume]), digits)} |")
            lines.append("")
    lines += ["## Cost", "", "| method | parameters | ms/slice |", "|---|---|---|"]
    for name in order:
        run = by_name[name]
        lines.append(f"| {name} | {int(run['metrics'].get('parameters', 0)):,} | {_fmt(run['metrics'].get('ms_per_slice'), 1)} |")
    lines.append("")

    facts = []
    srds = by_name.get("diffdenoise", {}).get("metrics", {})
    if "srds_variance_symmetric" in srds:
        facts.append(
            f"**SRDS variance** (per-pixel variance over {by_name['diffdenoise']['params'].get('srds.repeats', '?')} draws, "
            f"{by_name['diffdenoise']['params'].get('srds.condition', '?')}, image units squared): one sample "
            f"{srds['srds_variance_single']:.3g}; mean of two independent samples {srds['srds_variance_independent']:.3g}; "
            f"SRDS pair (+eps, -eps) {srds['srds_variance_symmetric']:.3g}, i.e. {100 * srds['srds_variance_reduction']:.0f}% "
            "less than two independent samples (seed 002 reports 58%)."
        )
    if "diffdenoise" in by_name and "diffdenoise_single" in by_name:
        gain = _mean(by_name["diffdenoise"], "psnr", every) - _mean(by_name["diffdenoise_single"], "psnr", every)
        facts.append(f"**SRDS against one sample**: {gain:+.2f} dB mean PSNR over the conditions (seed 002 reports 2-3 dB).")
    both = lambda *names: all(n in by_name for n in names)  # noqa: E731
    if both("diffdenoise", "blind_spot"):
        diff = _mean(by_name["diffdenoise"], "psnr", every) - _mean(by_name["blind_spot"], "psnr", every)
        facts.append(f"**Diffusion against its own condition**: SRDS minus the blind-spot estimate it is conditioned on: {diff:+.2f} dB "
                     f"mean PSNR{_least(by_name, 'diffdenoise', 'blind_spot', every)} (seed 002 expects the diffusion stage to add "
                     "detail the blind-spot network lost; negative = it did not).")
    if both("diffdenoise", "student"):
        teacher_ms = by_name["diffdenoise"]["metrics"].get("ms_per_slice")
        student_ms = by_name["student"]["metrics"].get("ms_per_slice")
        cost = _mean(by_name["diffdenoise"], "psnr", every) - _mean(by_name["student"], "psnr", every)
        if teacher_ms and student_ms:
            facts.append(
                f"**Distillation**: the student takes {student_ms:.0f} ms per slice against {teacher_ms:.0f} ms for the SRDS "
                f"pipeline ({teacher_ms / student_ms:.0f}x faster) at a mean PSNR cost of {cost:+.2f} dB (positive = student "
                f"worse; the student minus SRDS{_least(by_name, 'student', 'diffdenoise', every)[1:].replace('least', 'at worst')}; "
                "seed 002 reports 10x and about 0.1 dB)."
            )
    if both("diffdenoise", "neural_pde_self_supervised"):
        margins = _margins(by_name, "diffdenoise", "neural_pde_self_supervised", every)
        below = [c for c, m in margins if m < 0]
        facts.append(f"**SRDS against the self-supervised Neural PDE**: ahead in {len(margins) - len(below)} of {len(margins)} cells"
                     f"{_least(by_name, 'diffdenoise', 'neural_pde_self_supervised', every)}" + (f"; below: {', '.join(below)}." if below else "."))
    correlated = [c for c in every if c.split("_")[-2] == "correlated"]
    if both("diffdenoise", "neural_pde") and correlated:
        facts.append("**SRDS against the supervised Neural PDE on correlated noise**: "
                     + ", ".join(f"{c} {m:+.2f} dB" for c, m in _margins(by_name, "diffdenoise", "neural_pde", correlated))
                     + " (the issue asks for no worse than -1 dB).")
    if both("neural_pde_self_supervised", "neural_pde") and rician:
        gap = _mean(by_name["neural_pde"], "psnr", rician) - _mean(by_name["neural_pde_self_supervised"], "psnr", rician)
        facts.append(f"**Self-supervised Neural PDE**: {gap:.2f} dB below the supervised Neural PDE on the Rician conditions (mean over {', '.join(rician)}).")
    if "bm3d" in by_name:
        best = {c: max(order, key=lambda n: by_name[n]["metrics"].get(f"psnr_{c}", -1e9)) for c in every}
        facts.append("**Best method per condition**: " + "; ".join(f"{c}: {n}" for c, n in best.items()) + ".")
    lines += [f for fact in facts for f in (fact, "")]
    lines += _figure(by_name, order, out, artifact)
    return lines


def _figure(by_name: dict, order: list[str], out: Path, artifact) -> list[str]:
    reference = by_name.get("bm3d")
    data = artifact(reference, "qualitative.npz") if reference is not None else None
    if data is None or "noisy" not in data:
        return []
    plt = pyplot("the suite figures")
    clean = data["clean"]
    panels = [("clean", clean), ("noisy", data["noisy"])]
    for name in order:
        kept = data if name == "bm3d" else artifact(by_name[name], "qualitative.npz")
        if kept is not None and "output" in kept:
            panels.append((name, kept["output"]))
    fig, axes = plt.subplots(2, len(panels), figsize=(2.2 * len(panels), 5), squeeze=False)
    for col, (title, image) in enumerate(panels):
        axes[0, col].imshow(np.clip(image, 0, 1).T, cmap="gray", vmin=0, vmax=1, origin="lower")
        axes[0, col].set_title(title, fontsize=7)
        axes[1, col].imshow(np.abs(np.clip(image, 0, 1) - clean).T, cmap="inferno", vmin=0, vmax=0.15, origin="lower")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "self_supervised_qualitative.png", dpi=100)
    plt.close(fig)
    condition = reference["params"].get("qualitative.condition", "")
    return [f"## Qualitative ({condition}): image and absolute error (0-0.15)", "", "![qualitative](self_supervised_qualitative.png)", ""]
