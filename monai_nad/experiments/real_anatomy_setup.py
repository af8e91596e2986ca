"""The learned methods of the real-anatomy page: the shipped models and the baselines trained for one wall-clock budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from monai_nad.bundle import bundle_network, bundle_parser, default_bundle, find_reproduction, reproduction_config
from monai_nad.engines.bundle_layout import BASELINE_CNN_CONFIG, DIFFUSIVITY_REAL_SCAN_CONFIG
from monai_nad.engines.bundle_training import REAL_SCAN_FAMILY
from monai_nad.experiments.methods import counted_flops
from monai_nad.experiments.real_anatomy_report import method_summary, quality_time_figure, render_page
from monai_nad.networks import RicianMeanInversion

__all__ = ["BUNDLE", "DIFFDENOISE", "REAL_SCAN_FAMILY", "BUDGET_RUNS", "FIGURES", "budget_run_network", "figures", "learned_methods", "preamble",
           "render_record", "shipped_label"]

BUNDLE = default_bundle()
DIFFDENOISE = find_reproduction("diffdenoise")

#: the reproductions of earlier models (v0.2 and its first stage), and the configs the baselines merge after train.json
V02, DIFFUSION_ONLY = find_reproduction("neural_pde_v0.2"), find_reproduction("diffusion_only")
_ROOT = Path(__file__).resolve().parents[2]  # the page names paths relative to the repository, never the machine's
_CNN = ["train.json", reproduction_config(BASELINE_CNN_CONFIG)]
_FAMILY = ["train.json", reproduction_config(DIFFUSIVITY_REAL_SCAN_CONFIG)]
#: page name -> (``train_real_scan.py --network`` value, folder under the runs directory, configs of the shipped bundle
#: or of a reproduction, config overrides)
BUDGET_RUNS: dict[str, tuple[str, str, list[str | Path], dict[str, Any]]] = {
    "neural_pde_budget": ("pde", "neural_pde", ["train.json"], {}),
    "dncnn_budget": ("dncnn", "dncnn", _CNN, {"backbone": "dncnn", "cnn_features": 48}),
    "unet_budget": ("unet", "unet", _CNN, {"backbone": "unet", "cnn_features": 16}),
    **{f"{name}_budget": (name, name, _FAMILY, {"diffusivity": name, "diffusivity_kwargs": size}) for name, size in REAL_SCAN_FAMILY.items()},
}


def budget_run_network(name: str, run_dir: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network of one budget run (a key of :data:`BUDGET_RUNS`) trained into ``run_dir``, and the run's record.

    Raises:
        FileNotFoundError: ``run_dir`` holds no trained checkpoint.
    """
    _, _, configs, overrides = BUDGET_RUNS[name]
    checkpoint = run_dir / "checkpoints" / "best_model.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no trained checkpoint at {checkpoint}")
    return bundle_network(BUNDLE, configs, checkpoint, overrides), json.loads((run_dir / "training_info.json").read_text())


def _cost(net: torch.nn.Module) -> dict[str, Any]:
    """Parameters and GFLOPs per 181x217 slice by two rules, each its own key (2 FLOPs per multiply-add in both):
    ``network_gflops``, the network's own count (``flops_per_pixel``: its convolutions and, for a Neural PDE, its
    diffusion steps), only for the networks that have one; ``counted_gflops``, one call under
    ``torch.utils.flop_counter`` (convolutions and matrix products only, whatever the network), for every network."""
    cost: dict[str, Any] = {"parameters": int(sum(p.numel() for p in net.parameters()))}
    if hasattr(net, "flops_per_pixel"):  # one pass; a self-ensemble runs the network once per orientation
        cost["network_gflops"] = float(net.flops_per_pixel()) * getattr(net, "self_ensemble", 1) * 181 * 217 / 1e9
    cost["counted_gflops"] = counted_flops(net, torch.rand(1, 1, 181, 217)) / 1e9
    return cost


def _iterations(run_dir: Path) -> int | None:
    """How many training iterations a run reached (its MLflow ``train_loss`` history), or None when it is not recorded."""
    store = run_dir / "mlruns.db"
    if not store.is_file():
        return None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store.resolve()}")
    steps = [len(client.get_metric_history(run.info.run_id, "train_loss"))
             for experiment in client.search_experiments() for run in client.search_runs([experiment.experiment_id])]
    return max(steps) if steps else None


def _diffdenoise_student() -> torch.nn.Module:
    parser = bundle_parser(DIFFDENOISE, ["inference.json"], {"bundle_root": str(DIFFDENOISE)})
    # trained on noisy magnitude images only, it estimates the Rician mean: inverted with a blind sigma, as its bundle's
    # post_correction "rician_mean" does for magnitude data (and as the comparison suite runs it)
    return RicianMeanInversion(parser.get_parsed_content("load_student")).eval()


def _bundle_version(bundle: Path) -> str:
    return json.loads((bundle / "configs" / "metadata.json").read_text())["version"]


def shipped_label(bundle: Path = BUNDLE) -> str:
    """The page's name for the model a bundle ships: ``neural_pde_v<major>.<minor>`` of its ``metadata.json`` version
    (rows measured with an earlier bundle keep the name their record gives them)."""
    return "neural_pde_v" + ".".join(_bundle_version(bundle).split(".")[:2])


def _shipped_training(record: dict[str, Any]) -> str:
    """How the shipped model was trained, from its training record: the wall time of all its stages (one per record in
    the ``started_from`` chain) and the cores of the machine."""
    stages, earlier = 0, record
    while earlier:
        stages, earlier = stages + 1, earlier.get("started_from")
    seconds = record.get("total_wall_time_s_all_stages", record["total_wall_time_s"])
    cores = record.get("hardware", {}).get("cpu_count", 2)
    return f"{seconds:.0f} s on {cores} CPU cores ({stages} stages)"


def learned_methods(runs: Path) -> tuple[dict[str, torch.nn.Module], dict[str, dict[str, Any]]]:
    """The networks of the page and what the page says about each.

    Args:
        runs: folder holding one sub-folder per budget run (see :data:`BUDGET_RUNS`); runs not there are left out
            and the page says how to train them.

    Returns:
        ``(name -> network, name -> {"kind", "parameters", "network_gflops", "counted_gflops", "training", "note"})``
        (the two costs: :func:`_cost`); the shipped model is named by :func:`shipped_label` and its two entries also
        say ``"bundle_version"``. A full run stores this in the page's record, and ``--render-only`` describes each
        row by the record alone (:func:`render_record`).
    """
    nets: dict[str, torch.nn.Module] = {}
    info: dict[str, dict[str, Any]] = {}
    training = _shipped_training(json.loads((BUNDLE / "docs" / "training_info_real_scan.json").read_text()))
    version, shipped = _bundle_version(BUNDLE), shipped_label(BUNDLE)
    nets[shipped] = bundle_network(BUNDLE, ["inference.json"], BUNDLE / "models" / "model.pt")
    info[shipped] = {"kind": "learned, shipped", "training": training, "note": "blind, 2 mirror passes (as shipped)", "bundle_version": version}
    nets[f"{shipped}_1pass"] = bundle_network(BUNDLE, ["inference.json"], BUNDLE / "models" / "model.pt", {"self_ensemble": 1, "correlated_self_ensemble": None})
    info[f"{shipped}_1pass"] = {"kind": "learned, shipped", "training": training, "note": "blind, one pass (`--self-ensemble 1`)",
                                "bundle_version": version}
    for name, (network, folder, _, _) in BUDGET_RUNS.items():
        if not (runs / folder / "checkpoints" / "best_model.pt").is_file():
            target = (runs / folder).resolve()
            shown = target.relative_to(_ROOT) if target.is_relative_to(_ROOT) else runs / folder
            info[name] = {"kind": "learned, budget", "note": f"not trained: `python scripts/train_real_scan.py --network {network} "
                                                             f"--time-budget 900 --output-dir {shown}`"}
            continue
        nets[name], record = budget_run_network(name, runs / folder)
        budget = record["invocations"][-1].get("time_budget_s")
        threads = record["hardware"]["torch_threads"]
        iterations = _iterations(runs / folder)
        reached = f", {iterations:,} iterations of 16 patches" if iterations else ""
        info[name] = {"kind": "learned, budget", "training": f"{budget:.0f} s budget, {threads} thread(s){reached}", "note": "blind, same recipe"}
    nets["neural_pde_v0.2"] = bundle_network(V02, ["train.json"])
    info["neural_pde_v0.2"] = {"kind": "learned, previous", "training": "MNI template only (v0.2)", "note": "blind"}
    nets["diffusion_only_v0.2"] = bundle_network(DIFFUSION_ONLY, [V02 / "configs" / "train.json", "diffusion_only.json"])
    info["diffusion_only_v0.2"] = {"kind": "learned, previous", "training": "MNI template only (v0.2, stage 1)",
                                   "note": "blind; the diffusion alone: maximum principle"}
    nets["diffdenoise_student"] = _diffdenoise_student()
    info["diffdenoise_student"] = {"kind": "learned, self-supervised", "training": "MNI template, Rician s 0.05-0.15 (its bundle)",
                                   "note": "distilled one-pass student of DiffDenoise, + Rician mean inversion"}
    for name, net in nets.items():
        info[name].update(_cost(net))
    return nets, info


def _below_classical(info: dict[str, dict[str, Any]], rows: list[dict]) -> list[str]:
    """A paragraph on the budget-trained methods whose mean PSNR is below the best tuned classical method's."""
    summary = method_summary(rows)
    classical = {m: v["psnr"] for m, v in summary.items() if info.get(m, {}).get("kind") == "classical"}
    if not classical:
        return []
    best = max(classical, key=classical.get)
    below = [m for m, v in summary.items() if m.endswith("_budget") and v["psnr"] < classical[best]]
    if not below:
        return ["", f"Every budget-trained network is above the best tuned classical method ({best}, {classical[best]:.2f} dB mean)."]
    listed = "; ".join(f"`{m}` {summary[m]['psnr']:.2f} dB ({info[m].get('training', '')})" for m in below)
    return ["", f"**Below the best tuned classical method** ({best}, {classical[best]:.2f} dB mean): {listed}. What was checked: each ran",
            "for its whole budget with the learning rate annealed to its end (iterations above: a method whose every step costs",
            "more gets fewer in the same time), was selected by validation PSNR on the validation slabs only, and received the",
            "same inputs, noise and loss as the Neural PDE; nothing was tuned per method on the test cells."]


def preamble(info: dict[str, dict[str, Any]], rows: list[dict] | None = None) -> str:
    """What the page's set-up is, from the methods' records (and, given the rows, which baselines fell below a classical method)."""
    shipped = next((k for k, v in info.items() if v.get("kind") == "learned, shipped"), "neural_pde")
    budgets = sorted({v["training"].split(",")[0] + ", one thread" for k, v in info.items() if k.endswith("_budget") and v.get("training")})
    missing = [v["note"] for k, v in info.items() if k.endswith("_budget") and "not trained" in v.get("note", "")]
    lines = [
        "Every method sees the same noisy test slices of each cell (seed 1000 + z) and is scored by the same metric code",
        "(outputs clipped to [0, 1]); learned methods run blind, estimating the noise level themselves.",
        "",
        "- **Fair learned baselines**: `*_budget` are the Neural PDE, a DnCNN-style CNN (MONAI `Convolution` blocks, about",
        "  the Neural PDE's parameter count) and a MONAI `BasicUNet`, all with the same inputs (image, bias-corrected image,",
        "  noise map), the same output clamp, and the same training recipe (`bundles/neural_pde_denoising/configs/train.json`: data,",
        "  randomisation, Rician/non-central-chi noise, L1 loss, batch 16 of 64² patches), each trained for the same",
        f"  wall-clock budget on this machine ({'; '.join(budgets) or 'none trained yet'}), the learning rate a cosine of the elapsed",
        f"  budget. The shipped `{shipped}` had a longer schedule (its row says how long).",
        "- **Classical** methods are followed by the Rician correction; their parameters and correction strength are tuned per",
        "  cell on the validation slab (z 80-89) by the one tuner (`monai_nad.baselines.tune_baseline`). BM3D+rc is BM3D",
        "  told the true sigma, with b tuned the same way.",
        "- `neural_pde_v0.2`, its first stage `diffusion_only_v0.2` and `diffdenoise_student` were trained on the MNI template",
        "  only (their bundles: `bundles/reproductions/neural_pde_v0.2`, `bundles/reproductions/diffusion_only`, `bundles/reproductions/diffdenoise`); they are shown",
        "  as shipped, not retrained.",
        "- The **learned-diffusivity family** (seed 003: `pm_exponential`, `ka`, `foe_s`; the paper's 4 neighbours, 10 steps,",
        "  8-pixel padding, FoE size for sigma 25/255) is retrained after the edge-conductance fix with the same recipe and",
        "  budget, wrapped by `NoiseConditionedDiffusion` (`bundles/reproductions/diffusivity/configs/diffusivity_real_scan.json`): same inputs, the image",
        "  divided by its noise level before the diffusion, the second-moment bias removal with a learned strength.",
    ]
    if missing:
        lines += ["", "Not trained when this page was made: " + "; ".join(missing) + "."]
    if rows:
        lines += _below_classical(info, rows)
    return "\n".join(lines)


#: the page's figures: (caption, suffix of the page's stem)
FIGURES = (("Mean PSNR vs ms per slice; red: the Pareto front", "_pareto.png"), ("Colin27 cortex, s = 0.10, every method", "_cortex.png"))


def figures(page: Path) -> list[tuple[str, str]]:
    """The ``(caption, file name)`` of the page's figures, beside ``page`` (e.g. ``real_anatomy_pareto.png``)."""
    return [(caption, page.stem + suffix) for caption, suffix in FIGURES]


def render_record(record: dict[str, Any], page: Path) -> None:
    """The page and its Pareto figure again from its record (``{"command", "rows", "methods"}``), without evaluating.

    Every row is described as its record states it: the methods' names, kinds, costs, training and notes are those
    the run stored when it measured the rows, never those of the bundle or the runs folder now (a newer shipped model
    has other parameters and another name). The cortex panel is not redrawn (it needs the methods' outputs).
    """
    rows, info = record["rows"], record["methods"]
    quality_time_figure(rows, page.with_name(page.stem + FIGURES[0][1]))
    page.write_text(render_page(rows, info, record["command"], preamble(info, rows), figures(page)))
