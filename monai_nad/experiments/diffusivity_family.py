"""The learned-diffusivity family ("Learning diffusion functions") on the MNI test slab: training commands,
evaluation, MLflow records, figures and the results page ``docs/results/diffusivity_family.md``.

``scripts/train_diffusivity_family.py`` trains every ``(variant, noise)`` member through the bundle
(:func:`member_command`); ``scripts/diffusivity_family_results.py`` calls :func:`family_results`, which, in one run
on the same noisy test inputs, scores through the project's one evaluation loop
(:func:`~monai_nad.experiments.evaluation.benchmark_cells`, one cell per column):

- every variant on the MNI test slab with Gaussian noise sigma 15/25/50 (out of 255; the model trained for that
  sigma) and with Rician noise s = 0.05/0.10/0.15 (the blind Rician model);
- references: the noisy input, BM3D told the true sigma (Gaussian) and BM3D+rc (Rician: the true sigma, ``b``
  tuned on the validation slab by the one tuner, as everywhere in the project), and the shipped Neural PDE;
- parameter counts and FLOPs for a 256x256 input (``torch.utils.flop_counter``), median ms per slice;
- figures: the learned diffusivity functions per noise level (the paper's Figure 5), the FoE-S kernels with
  their activations (Figure 2), and the last-step diffusivity maps of every variant on a test slice.

The test metrics are also logged into each member's MLflow run (``test_psnr_<setting>`` ...).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from monai_nad._optional import pyplot
from monai_nad.baselines import bm3d_denoise
from monai_nad.bundle import bundle_network, default_bundle, find_reproduction
from monai_nad.engines import load_network_weights
from monai_nad.engines.user_values import bundle_command
from monai_nad.experiments.evaluation import benchmark_cells, denoise_slices, mni_test_cell
from monai_nad.experiments.machine import machine_description
from monai_nad.experiments.methods import counted_flops
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.networks import DiffusivityPDE

__all__ = ["VARIANTS", "NOISES", "FOE_SIZES", "diffusivity_kwargs", "run_name", "member_command", "build", "load_runs", "family_results"]

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = default_bundle()
#: the family's bundle (``diffusivity.json``) and the v0.2 recipe it overrides (``train.json``)
FAMILY_BUNDLE = find_reproduction("diffusivity")
V02 = find_reproduction("neural_pde_v0.2")
DEFAULT_OUTPUT = ROOT / "runs" / "diffusivity_family"

VARIANTS = ("pm_exponential", "pm_rational", "ka", "foe_s", "foe_d", "foe_m", "foe_rb", "unet")
#: noise setting -> (noise model, training noise std (a number, or a (low, high) range), validation noise stds)
NOISES: dict[str, tuple[str, float | list[float], list[float]]] = {
    "gaussian15": ("gaussian", 15 / 255, [15 / 255]),
    "gaussian25": ("gaussian", 25 / 255, [25 / 255]),
    "gaussian50": ("gaussian", 50 / 255, [50 / 255]),
    "rician": ("rician", [0.05, 0.20], [0.05, 0.10, 0.15]),
}
#: the paper's FoE sizes (kernel size, number of experts) per Gaussian sigma; the blind Rician model takes sigma 25's
FOE_SIZES: dict[str, dict[int, tuple[int, int]]] = {
    "foe_s": {15: (6, 35), 25: (5, 30), 50: (9, 30)},
    "foe_d": {15: (8, 30), 25: (10, 25), 50: (7, 25)},
    "foe_m": {15: (7, 10), 25: (8, 10), 50: (6, 15)},
    "foe_rb": {15: (11, 30), 25: (12, 25), 50: (5, 20)},
}


def diffusivity_kwargs(variant: str, noise: str) -> dict[str, int]:
    """The size arguments of ``variant`` for the noise setting ``noise`` (empty for non-FoE variants)."""
    if variant not in FOE_SIZES:
        return {}
    sigma = int(noise.removeprefix("gaussian")) if noise.startswith("gaussian") else 25
    kernel_size, num_experts = FOE_SIZES[variant][sigma]
    return {"kernel_size": kernel_size, "num_experts": num_experts}


def run_name(variant: str, noise: str) -> str:
    return f"{variant}_{noise}"


def member_command(variant: str, noise: str, output: Path, max_epochs: int, quick: bool, tracking: bool) -> tuple[list[str], dict[str, str]]:
    """The ``python -m monai.bundle run`` command line and environment of one family member (paths passed as data)."""
    model, noise_std_range, val_noise_stds = NOISES[noise]
    configs = FAMILY_BUNDLE / "configs"
    values = {"bundle_root": str(FAMILY_BUNDLE), "output_dir": str(output / run_name(variant, noise))}
    ours = [
        "--diffusivity", variant,
        "--diffusivity_kwargs", json.dumps(diffusivity_kwargs(variant, noise)),
        "--noise", model,
        "--noise_std_range", json.dumps(noise_std_range),
        "--val_noise_stds", json.dumps(val_noise_stds),
        "--bias_correction", str(model == "rician"),
        "--max_epochs", str(max_epochs),
        "--val_interval", "1",
    ]
    if quick:
        ours += ["--patches_per_slice", "2", "--steps", "3", "--train#datalist", "$monai_nad.data.mni_slices('train')[:8]"]
    run_args = ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf")]
    if tracking:
        values["tracking_uri"] = f"sqlite:///{(output / 'mlflow.db').resolve()}"
        run_args += ["--tracking", "mlflow", "--experiment_name", "diffusivity_family", "--run_name", run_name(variant, noise)]
    return bundle_command([V02 / "configs" / "train.json", configs / "diffusivity.json"], values, ours, run_args)


LABELS = {
    "pm_exponential": "PM (exp., learned K)",
    "pm_rational": "PM (rational, learned K)",
    "ka": "KA",
    "foe_s": "FoE-S",
    "foe_d": "FoE-D",
    "foe_m": "FoE-M",
    "foe_rb": "FoE-RB",
    "unet": "U-Net diffusivity",
}
#: "Learning diffusion functions", Table 1 (BSDS500 validation, PSNR/SSIM at sigma 15/25/50) and Table 3
PAPER_TABLE1 = {
    "pm_exponential": "26.5/0.67, 23.1/0.49, 17.9/0.27 (PM)",
    "ka": "29.4/0.83, 26.7/0.72, 23.4/0.55",
    "foe_s": "29.5/0.83, 26.9/0.74, 24.1/0.60",
    "foe_d": "29.5/0.83, 26.9/0.74, 24.1/0.61",
    "foe_m": "29.1/0.81, 26.6/0.73, 23.9/0.59",
    "foe_rb": "28.2/0.77, 25.9/0.68, 23.4/0.55",
    "unet": "29.2/0.83, 27.1/0.76, 23.9/0.59",
}
PAPER_TABLE3 = {"pm_exponential": ("1", "N/A"), "ka": ("206K", "3.78G"), "foe_s": ("2K", "1.67G"), "unet": ("27.6K", "3.31G")}
GAUSSIAN = ("gaussian15", "gaussian25", "gaussian50")
RICIAN_LEVELS = (0.05, 0.10, 0.15)


def settings() -> list[tuple[str, str, float]]:
    """``(column, noise setting, noise_std)`` of every evaluation column."""
    cols = [(f"G{n.removeprefix('gaussian')}", n, NOISES[n][1]) for n in GAUSSIAN]
    return cols + [(f"R{lv:.2f}", "rician", lv) for lv in RICIAN_LEVELS]


def build(variant: str, noise: str, steps: int | None = None) -> DiffusivityPDE:
    kwargs = {"steps": steps} if steps else {}
    return DiffusivityPDE(
        diffusivity=variant, diffusivity_kwargs=diffusivity_kwargs(variant, noise), bias_correction=noise == "rician", **kwargs
    )


def load_runs(runs: Path, noises: tuple[str, ...] = tuple(NOISES)) -> dict[tuple[str, str], tuple[DiffusivityPDE, dict]]:
    """The trained members under ``runs`` for the given noise settings: ``(variant, noise) -> (network, done.json record)``."""
    loaded = {}
    for noise in noises:
        for variant in VARIANTS:
            done = runs / run_name(variant, noise) / "done.json"
            if not done.is_file():
                continue
            info = json.loads(done.read_text())
            net = build(variant, noise, steps=3 if info.get("quick") else None)
            load_network_weights(net, runs / info["checkpoint"]).eval()
            loaded[(variant, noise)] = (net, info)
    return loaded


def log_to_mlflow(runs: Path, results: dict) -> int:
    """Add the test metrics to each variant's MLflow runs; returns how many runs were updated."""
    db = runs / "mlflow.db"
    if not db.is_file():
        return 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db.resolve()}")
    experiment = client.get_experiment_by_name("diffusivity_family")
    if experiment is None:
        return 0
    updated = 0
    for variant, cols in results["methods"].items():
        if variant not in VARIANTS:
            continue
        for noise in NOISES:
            found = client.search_runs(  # the latest run of that name is the one whose checkpoint was evaluated
                [experiment.experiment_id], f"tags.mlflow.runName = '{run_name(variant, noise)}'",
                order_by=["attributes.start_time DESC"],
            )
            if not found:
                continue
            run_id = found[0].info.run_id
            for col, setting, _ in settings():
                if setting == noise and col in cols:
                    for metric, value in cols[col].items():
                        client.log_metric(run_id, f"test_{metric}_{col}", value)
            updated += 1
    return updated


def figure_functions(loaded: dict, out: Path) -> None:
    """The learned diffusivity functions per noise level (the paper's Figure 5)."""
    plt = pyplot("the diffusivity figure")

    styles = {"gaussian15": "-", "gaussian25": "--", "gaussian50": ":", "rician": "-."}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    grad = torch.linspace(0, 0.4, 200)
    for variant, colour in (("pm_exponential", "C0"), ("pm_rational", "C1")):
        for noise, style in styles.items():
            if (variant, noise) in loaded:
                pm = loaded[(variant, noise)][0].diffusivity
                k = float(pm.k.detach())
                g = torch.exp(-(grad / k) ** 2) if pm.form == "exponential" else 1 / (1 + (grad / k) ** 2)
                axes[0].plot(grad, g, style, color=colour, label=f"{LABELS[variant]}, {noise} (K={k:.3f})")
    axes[0].set(title="Perona-Malik: learned g(|grad u|)", xlabel="|grad u| (scaled intensities)", ylabel="g")
    if axes[0].lines:
        axes[0].legend(fontsize=6)
    e = torch.linspace(0, 1, 201)
    for ax, variant in zip(axes[1:], ("foe_s", "foe_d")):
        for noise, style in styles.items():
            if (variant, noise) not in loaded:
                continue
            foe = loaded[(variant, noise)][0].diffusivity
            with torch.no_grad():
                phi = foe.activations(e.reshape(1, 1, -1).expand(1, foe.num_experts, -1))[0]
            spread = phi.max(dim=1).values - phi.min(dim=1).values
            for rank, n in enumerate(spread.argsort(descending=True)[:3].tolist()):
                ax.plot(e, torch.exp(phi[n]), style, color=f"C{rank}", label=f"{noise}, expert {n}")
        ax.set(title=f"{LABELS[variant]}: exp(phi_n(x)), 3 most active experts", xlabel="expert response x = sigmoid(k_n * u)", ylabel="exp(phi_n)")
        ax.set_yscale("log")
        if ax.lines:
            ax.legend(fontsize=6)
    fig.suptitle("Learned diffusivities per noise level (solid: sigma 15, dashed: 25, dotted: 50, dash-dot: Rician)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def figure_kernels(loaded: dict, out: Path) -> None:
    """FoE-S kernels and activations for sigma 15/25/50 (the paper's Figure 2, 5 experts per row)."""
    plt = pyplot("the kernel figure")

    rows = [n for n in GAUSSIAN if ("foe_s", n) in loaded]
    if not rows:
        return
    experts = 5
    fig, axes = plt.subplots(2 * len(rows), experts, figsize=(2.2 * experts, 4.2 * len(rows)), squeeze=False)
    e = torch.linspace(0, 1, 101)
    for r, noise in enumerate(rows):
        foe = loaded[("foe_s", noise)][0].diffusivity
        with torch.no_grad():
            phi = foe.activations(e.reshape(1, 1, -1).expand(1, foe.num_experts, -1))[0]
        order = (phi.max(dim=1).values - phi.min(dim=1).values).argsort(descending=True)[:experts].tolist()
        kernels = foe.kernels.weight.detach()[:, 0]
        for c, n in enumerate(order):
            axes[2 * r, c].imshow(kernels[n].numpy(), cmap="RdBu_r")
            axes[2 * r, c].set_title(f"{noise} k{n}", fontsize=8)
            axes[2 * r, c].axis("off")
            axes[2 * r + 1, c].plot(e, phi[n])
            axes[2 * r + 1, c].tick_params(labelsize=6)
    fig.suptitle("FoE-S: kernels (above) and their spline activations phi_n (below), most active experts")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def figure_maps(loaded: dict, noisy: np.ndarray, clean: np.ndarray, noise: str, out: Path) -> None:
    """Denoised images and last-step diffusivity maps of every variant on one test slice."""
    plt = pyplot("the diffusivity maps")

    variants = [v for v in VARIANTS if (v, noise) in loaded]
    fig, axes = plt.subplots(2, len(variants) + 1, figsize=(2.6 * (len(variants) + 1), 6), squeeze=False)
    axes[0, 0].imshow(noisy.T, cmap="gray", vmin=0, vmax=1, origin="lower")
    axes[0, 0].set_title(f"noisy ({noise})", fontsize=8)
    axes[1, 0].imshow(clean.T, cmap="gray", vmin=0, vmax=1, origin="lower")
    axes[1, 0].set_title("clean", fontsize=8)
    x = torch.from_numpy(noisy)[None, None]
    for i, variant in enumerate(variants, start=1):
        with torch.inference_mode():
            net = loaded[(variant, noise)][0]
            y, g = net.forward_with_diffusivity(x, **noise_std_arguments(net, x))
        axes[0, i].imshow(y[0, 0].clamp(0, 1).numpy().T, cmap="gray", vmin=0, vmax=1, origin="lower")
        axes[0, i].set_title(LABELS[variant], fontsize=8)
        last = g[0, -1, 0].numpy()
        axes[1, i].imshow(last.T / max(float(last.max()), 1e-12), cmap="magma", vmin=0, vmax=1, origin="lower")
        axes[1, i].set_title("g, last step (/max)", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Restored outputs (top) and the diffusivity at the last step (bottom): dark = diffusion stopped")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def fmt(cell: dict | None) -> str:
    return "-" if cell is None else f"{cell['psnr']:.2f}/{cell['ssim']:.3f}"


def render(results: dict) -> str:
    cols = [c for c, _, _ in settings()]
    lines = [
        "# The learned-diffusivity family (seed 003) on MNI",
        "",
        f"Generated by `{results['command']}` after `{results['train_command']}` "
        f"({results['machine']}; evaluation took {results['seconds']:.0f} s). Do not edit by hand.",
        "",
        "All models are the same unrolled explicit Perona-Malik scheme (`monai_nad.networks.DiffusivityPDE`: 4 "
        "neighbours, 10 steps, 8-pixel mean padding, step size adapted so that every step obeys the maximum "
        "principle) with different learned diffusivities, trained through the bundle "
        "(`bundles/reproductions/neural_pde_v0.2/configs/train.json` + `bundles/reproductions/diffusivity/configs/diffusivity.json`, "
        "MSE loss) on the MNI training slab for "
        f"{results['epochs']} epochs each, one model per Gaussian sigma (G15/G25/G50, sigma out of 255) and one "
        "blind model for Rician s ~ U(0.05, 0.20) (R columns, with the learned blind Rician bias correction). "
        "Scores: median over the 10 test slices, PSNR (dB, data range 1) / SSIM (7x7 uniform window), outputs "
        "clipped to [0, 1]; identical fixed-seed noise for every method; every column is one cell of the project's one "
        "evaluation loop (`monai_nad.experiments.evaluation.benchmark_cells`, the loop of every results page).",
        "",
        "## PSNR / SSIM on the MNI test slab (our Table 1)",
        "",
        "| method | " + " | ".join(cols) + " | ms/slice (G25) |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    for method, row in results["methods"].items():
        label = LABELS.get(method, method)
        ms = results["ms_per_slice"].get(method)
        lines.append(f"| {label} | " + " | ".join(fmt(row.get(c)) for c in cols) + f" | {ms:.1f} |" if ms else f"| {label} | " + " | ".join(fmt(row.get(c)) for c in cols) + " | - |")
    lines += [
        "",
        "References in the same run on the same inputs: BM3D with the true sigma for Gaussian noise; for Rician "
        "noise BM3D+rc: BM3D told the true sigma, then the Rician bias correction with `b` tuned per level on the "
        "validation slab by the project's one tuner (`monai_nad.baselines.tune_baseline`); the shipped Neural PDE "
        "(blind, trained on real-anatomy Rician/non-central-chi noise, never on Gaussian noise).",
        "",
        "## Size and cost (our Table 3)",
        "",
        "| method | parameters (G25 model) | FLOPs, 256x256 input | paper: parameters | paper: FLOPs |",
        "|---|---|---|---|---|",
    ]
    for method, info in results["size"].items():
        paper = PAPER_TABLE3.get(method, ("-", "-"))
        lines.append(f"| {LABELS.get(method, method)} | {info['parameters']:,} | {info['flops'] / 1e9:.3f} G | {paper[0]} | {paper[1]} |")
    lines += [
        "",
        "FLOPs counted by `torch.utils.flop_counter.FlopCounterMode` (a multiply-add counts 2; convolutions and "
        "matrix products only, so the pointwise work of Perona-Malik's scheme shows as 0).",
        "",
        "## The paper's numbers, for reference only (BSDS500 natural images, 0-255 scale; not comparable in absolute terms)",
        "",
        "| method | PSNR/SSIM at sigma 15, 25, 50 |",
        "|---|---|",
    ]
    lines += [f"| {LABELS[m]} | {v} |" for m, v in PAPER_TABLE1.items()]
    lines += [
        "",
        "## Figures",
        "",
        "- `diffusivity_functions.png`: the learned diffusivity functions per noise level (the paper's Figure 5): "
        "Perona-Malik's g with the learned K, and exp(phi_n) of the most active FoE-S / FoE-D experts.",
        "- `foe_kernels.png`: the FoE-S kernels with their activations for sigma 15/25/50 (the paper's Figure 2).",
        "- `diffusivity_maps.png`: outputs and last-step diffusivity maps of every variant on a test slice (G25).",
        "",
        "![functions](diffusivity_functions.png)",
        "",
        "![kernels](foe_kernels.png)",
        "",
        "![maps](diffusivity_maps.png)",
        "",
        "## Reading the table",
        "",
        results["summary"],
        "",
        "Observations: the paper's 8-pixel padding with the mean grey value suits natural images but not MR slices "
        "with a dark background: the bright padding diffuses into the background along the image border (visible "
        "as a bright frame in the error maps of `docs/results/comparison_qualitative.png`), which costs whole-slice "
        "PSNR; `DiffusivityPDE(padding=0)` removes it. The blind Rician models must cover s = 0.05-0.20 with one "
        "set of weights, while the tuned classical Perona-Malik of the comparison suite knows the level.",
        "",
    ]
    return "\n".join(lines)


def summarise(results: dict) -> str:
    methods = results["methods"]
    learned = [m for m in VARIANTS if m in methods]
    if not learned:
        return "No trained variants were found."
    parts = []
    for col, _, _ in settings():
        ranked = sorted((methods[m][col]["psnr"], m) for m in learned if col in methods[m])
        if not ranked:
            continue
        best_psnr, best = ranked[-1]
        ref = "bm3d" if col.startswith("G") else "bm3d_rc"
        text = f"{col}: best variant {LABELS[best]} {best_psnr:.2f} dB"
        if col in methods.get(ref, {}):
            text += f" ({best_psnr - methods[ref][col]['psnr']:+.2f} dB vs {ref.upper().replace('_RC', '+rc')})"
        parts.append(text)
    return "Best learned diffusivity per column, against BM3D(+rc): " + "; ".join(parts) + "."



def _setting_methods(loaded: dict, noise: str, shipped: torch.nn.Module, bm3d: bool) -> dict:
    """The methods of one noise setting's column: BM3D told the true sigma (Gaussian), the shipped Neural PDE, and
    every variant trained for that setting; each ``f(noisy (N, H, W), noise_std) -> (denoised, seconds per slice)``."""
    methods: dict = {}
    if bm3d and NOISES[noise][0] == "gaussian":
        methods["bm3d"] = lambda noisy, noise_std: denoise_slices(lambda image: bm3d_denoise(image, noise_std), noisy)
    methods["neural_pde (shipped, blind Rician)"] = lambda noisy, noise_std: denoise_slices(shipped, noisy)
    for variant in VARIANTS:
        if (variant, noise) in loaded:
            methods[variant] = lambda noisy, noise_std, net=loaded[(variant, noise)][0]: denoise_slices(net, noisy)
    return methods


def family_results(runs: Path, out: Path, limit: int | None = None, bm3d: bool = True, command: str = "") -> dict:
    """Evaluate every trained member under ``runs`` and write the page, its JSON and its figures into ``out``.

    Every column is one cell (:func:`~monai_nad.experiments.evaluation.mni_test_cell`: the MNI test
    slab with that column's noise) scored by the project's one evaluation loop
    (:func:`~monai_nad.experiments.evaluation.benchmark_cells`, median over the slices as the MNI suites report):
    BM3D+rc on the Rician columns is its tuner (:data:`~monai_nad.experiments.evaluation.BM3D_RC`, ``b`` on the
    validation slab), as on every page.

    Args:
        runs: the output folder of ``scripts/train_diffusivity_family.py`` (``<variant>_<noise>/done.json`` per member).
        out: folder for ``diffusivity_family.{md,json}`` and the figures.
        limit: evaluate only the first ``limit`` test (and validation) slices.
        bm3d: also run the BM3D references.
        command: the command line to name on the page.

    Returns:
        the results written to ``diffusivity_family.json``.

    Raises:
        FileNotFoundError: no trained member under ``runs``.
    """
    torch.manual_seed(0)
    start = time.time()
    loaded = load_runs(runs)
    if not loaded:
        raise FileNotFoundError(f"no trained runs under {runs}; run scripts/train_diffusivity_family.py first")
    epochs = sorted({info["max_epochs"] for _, info in loaded.values()})
    shipped = bundle_network(BUNDLE, ["inference.json"], BUNDLE / "models" / "model.pt")
    methods: dict[str, dict] = {"noisy": {}}
    if bm3d:
        methods["bm3d"], methods["bm3d_rc"] = {}, {}
    ms: dict[str, float] = {}
    tuned_b: dict[str, float] = {}
    rows: list[dict] = []
    for col, noise, noise_std in settings():
        cell = mni_test_cell(col, noise_std, NOISES[noise][0])
        found = benchmark_cells([cell], _setting_methods(loaded, noise, shipped, bm3d), bm3d=bm3d, limit=limit, statistic="median", log=lambda _: None)
        rows += found
        methods["noisy"][col] = {"psnr": found[0]["input_psnr"], "ssim": found[0]["input_ssim"]}
        for row in found:
            methods.setdefault(row["method"], {})[col] = {k: row[k] for k in ("psnr", "ssim", "fg_psnr")}
            if noise == "gaussian25" and row["method"] in VARIANTS:
                ms[row["method"]] = row["ms"]
            if row["method"] == "bm3d_rc":
                tuned_b[col] = row["b"]
        print(f"{col}: " + ", ".join(f"{m} {r[col]['psnr']:.2f}" for m, r in methods.items() if col in r), flush=True)
    example_noisy, example_clean = mni_test_cell("G25", NOISES["gaussian25"][1], "gaussian").load("test")
    example = (example_noisy[len(example_noisy) // 2], example_clean[len(example_clean) // 2])
    size = {}
    for variant in VARIANTS:
        key = (variant, "gaussian25") if (variant, "gaussian25") in loaded else next((k for k in loaded if k[0] == variant), None)
        if key is not None:
            net = loaded[key][0]
            size[variant] = {"parameters": sum(p.numel() for p in net.parameters()), "flops": counted_flops(net, torch.rand(1, 1, 256, 256))}
    results = {
        "command": command or "python scripts/diffusivity_family_results.py",
        "train_command": f"python scripts/train_diffusivity_family.py --max-epochs {epochs[-1]}",
        "machine": machine_description(),
        "epochs": "/".join(map(str, epochs)),
        "methods": methods,
        "bm3d_rc_b": tuned_b,
        "ms_per_slice": ms,
        "rows": rows,
        "size": size,
        "training_seconds": {f"{v}_{n}": info.get("wall_time_s") for (v, n), (_, info) in loaded.items()},
    }
    results["summary"] = summarise(results)
    results["seconds"] = time.time() - start
    out.mkdir(parents=True, exist_ok=True)
    figure_functions(loaded, out / "diffusivity_functions.png")
    figure_kernels(loaded, out / "foe_kernels.png")
    figure_maps(loaded, example[0], example[1], "gaussian25", out / "diffusivity_maps.png")
    (out / "diffusivity_family.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "diffusivity_family.md").write_text(render(results))
    results["mlflow_runs_updated"] = log_to_mlflow(runs, results)
    return results
