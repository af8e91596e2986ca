"""The experiment suites (``configs/suites/<name>.json``): every method on the same noisy MNI inputs, one MLflow run each.

Suites: ``comparison``, ``unet_baseline``, ``noise_sweep``, ``ablation``, ``self_supervised``. Every method sees the
same fixed-seed noisy MNI test slices and is scored by the one evaluation loop
(:func:`~monai_nad.experiments.evaluation.benchmark_cells` with ``monai_nad.metrics.median_scores``: median
PSNR, SSIM, foreground PSNR and edge MSE; outputs clipped to [0, 1]). Classical methods use the parameters the one
tuner (:func:`~monai_nad.baselines.tune_baseline`, ``scripts/tune_baselines.py``) chose on the validation slab.
``scripts/run_suite.py`` is the command; ``monai-nad compare --suite <suite>`` renders the pages.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from monai_nad.baselines import tune_baseline
from monai_nad.bundle import bundle_network, bundle_parser, default_bundle, find_reproduction
from monai_nad.data import br35h_eval_arrays, condition_arrays, mni_condition_arrays, mni_eval_arrays, SCANNER_PREFIX, noise_condition, scanner_condition
from monai_nad.diffdenoise import BlindSpotStage, sampling_variance
from monai_nad.diffdenoise.training import train_diffdenoise
from monai_nad.engines import RealScanOptions, bundle_command, train_real_scan, train_with_extra_configs
from monai_nad.engines.bundle_layout import REPRODUCTIONS, SHIPPED_BUNDLE
from monai_nad.experiments import (
    Method,
    classical_method,
    level_key,
    load_tuned,
    log_method_run,
    network_method,
    sqlite_uri,
)
from monai_nad.experiments.diffusivity_family import load_runs
from monai_nad.experiments.evaluation import TestCell, benchmark_cells, denoise_slices
from monai_nad.experiments.real_anatomy_setup import BUDGET_RUNS, budget_run_network
from monai_nad.experiments.scanner_benchmark import scanner_test_cell
from monai_nad.experiments.volume_benchmark import scan_method
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.inference.scan_inferer import RAW_NOISE_ESTIMATE
from monai_nad.networks import MagnitudeMeanInversion, RicianMeanInversion

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = default_bundle()
#: the v0.2 recipe (the ablation's runs) and the reproductions built on it
V02 = find_reproduction("neural_pde_v0.2")
DIFFUSION_ONLY = find_reproduction("diffusion_only")
SELF_SUPERVISED = find_reproduction("self_supervised")


class Context:
    """Paths and switches shared by the suites."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick = args.quick
        self.output = args.output_dir
        self.tracking_uri = sqlite_uri(self.output / "mlflow.db")
        self.tuned_path = args.tuned
        self.budget_runs: Path = args.budget_runs
        self.family_runs = args.family_runs
        self.limit: int | None = None
        self.description = ""
        self.only_variants: list[str] | None = args.variants
        self.only_methods: list[str] | None = args.only
        self.root: Path | None = getattr(args, "root", None)
        self.diffdenoise: tuple[torch.nn.Module, torch.nn.Module] | None = None
        self._tuned: dict | None = None

    def tuned(self, noise: str, noise_stds: list[float], methods: list[str]) -> dict:
        """Tuned baseline parameters; the quick mode tunes on 2 validation slices on the fly instead."""
        if not self.quick:
            if self._tuned is None:
                self._tuned = load_tuned(self.tuned_path)
            return self._tuned
        tuned: dict = {}
        for noise_std in noise_stds:
            noisy, clean = mni_eval_arrays("validation", noise_std, noise=noise, limit=2)
            for name in methods:
                tuned.setdefault(noise, {}).setdefault(level_key(noise_std), {})[name] = tune_baseline(
                    name, noisy, clean, noise_std, rician=noise == "rician"
                )
        return tuned


@contextmanager
def _quiet(what: str) -> Iterator[None]:
    """Run a training without its console output: this process's and its subprocesses' stdout and stderr go to a
    temporary file while it runs (the suites' results are their MLflow runs). A failure raises RuntimeError naming
    ``what``, with the end of that output."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    failure: Exception | None = None
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except Exception as err:  # noqa: BLE001  (raised again below, with the output)
            failure = err
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
        if failure is not None:
            log.seek(0)
            raise RuntimeError(f"{what} failed:\n{log.read().decode(errors='replace')[-4000:]}") from failure


def train_real_scan_run(run_dir: Path, options: RealScanOptions, what: str, announce: str | None = None) -> None:
    """Train a network of the real-scan recipe for a time budget into ``run_dir`` (:func:`~monai_nad.engines.train_real_scan`,
    never installed), quietly; ``announce``: a line printed first, with the command line. The run's record names the
    equivalent ``scripts/train_real_scan.py`` command line."""
    flags = ["--network", options.network, "--time-budget", repr(float(options.time_budget_s)), "--epoch-length", str(options.epoch_length),
             "--volumes", *options.volumes]
    if options.br35h_root is not None:
        flags += ["--data", options.data, "--root", str(options.br35h_root)]
    command = shlex.join(["python", "scripts/train_real_scan.py", *flags, "--no-install", "--output-dir", str(run_dir)])
    if announce:
        print(f"{announce}: {command}", flush=True)
    with _quiet(what):
        train_real_scan(BUNDLE, run_dir, options, command, install=False)


def shipped_neural_pde() -> Method:
    net = bundle_network(BUNDLE, ["inference.json"], BUNDLE / "models" / "model.pt")
    return network_method("neural_pde", net, {"bundle": f"bundles/{SHIPPED_BUNDLE}", "config": "inference.json"})


def budget_network(name: str, ctx: Context) -> Method | None:
    """A network trained with the real-scan recipe for the wall-clock budget of the real-anatomy page (``dncnn``, ``unet``,
    ``neural_pde_budget``), read from ``ctx.budget_runs``; the quick mode trains a tiny one when it is missing."""
    key = name if name.endswith("_budget") else f"{name}_budget"
    network, folder, _, _ = BUDGET_RUNS[key]
    run_dir = ctx.budget_runs / folder
    if not (run_dir / "checkpoints" / "best_model.pt").is_file() and ctx.quick:
        run_dir = ctx.output / "budget_quick" / folder
        if not (run_dir / "checkpoints" / "best_model.pt").is_file():
            options = RealScanOptions(network=network, time_budget_s=5.0, epoch_length=5, volumes=["mni"])
            train_real_scan_run(run_dir, options, f"the quick training of {name}")
    checkpoint = run_dir / "checkpoints" / "best_model.pt"
    if not checkpoint.is_file():
        print(f"{name} skipped: no checkpoint at {checkpoint} (train it with `python scripts/train_real_scan.py --network {network} "
              f"--time-budget 900 --output-dir {run_dir}`)", flush=True)
        return None
    net, record = budget_run_network(key, run_dir)
    budget = record["invocations"][-1].get("time_budget_s")
    shown = checkpoint.resolve().relative_to(ROOT) if checkpoint.resolve().is_relative_to(ROOT) else Path(checkpoint.name)  # no machine path
    return network_method(name, net, {"network": network, "training": f"real-scan recipe, {budget:g} s budget", "checkpoint": str(shown)})


def family_methods(ctx: Context) -> list[Method]:
    """The blind Rician members of the learned-diffusivity family that have been trained."""
    return [network_method(f"diffusivity_{variant}", net, {"family_run": f"{variant}_rician", "epochs": info["max_epochs"]})
            for (variant, _), (net, info) in load_runs(ctx.family_runs, noises=("rician",)).items()]


def evaluate(method: Method, noise: str, noise_stds: list[float], ctx: Context, shift: str | None = None,
             prefix: str = "", keep: tuple[float, int] | None = None,
             data: Callable[[float], tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[dict[str, float], dict[str, np.ndarray], list[float]]:
    """Score a method on the test slab at each of ``noise_stds``, through the one evaluation loop
    (:func:`~monai_nad.experiments.evaluation.benchmark_cells`, median over the slices).

    Args:
        data: ``noise_std -> (noisy, clean)`` test slices instead of the MNI test slab (e.g. Br35H's test split).

    Returns:
        ``(metrics named "<prefix><metric>_<noise std>", kept outputs, seconds per slice)``.
    """
    def loader(noise_std: float) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
        if data is not None:
            return lambda split: data(noise_std)
        return lambda split: mni_eval_arrays(split, noise_std, noise=noise, shift=shift, limit=ctx.limit)

    seconds: list[float] = []
    kept_run: list[np.ndarray] = []  # (noisy, outputs) at the kept level

    def run(noisy: np.ndarray, noise_std: float) -> tuple[np.ndarray, list[float]]:
        outs, times = denoise_slices(lambda image: method.denoise(image, noise_std), noisy)
        seconds.extend(times)
        if keep is not None and abs(noise_std - keep[0]) < 1e-9:
            kept_run[:] = [noisy, outs]
        return outs, times

    cells = [TestCell(level_key(noise_std), noise_std, loader(noise_std), tuned=False) for noise_std in noise_stds]
    rows = benchmark_cells(cells, {method.name: run}, bm3d=False, statistic="median", log=lambda _: None)
    metrics = {f"{prefix}{k}_{row['cell']}": row[k] for row in rows for k in ("psnr", "ssim", "fg_psnr", "edge_mse")}
    kept: dict[str, np.ndarray] = {}
    if kept_run:
        noisy, outs = kept_run
        index = min(keep[1], len(outs) - 1)
        kept["output"] = outs[index]
        kept["index"] = np.asarray(index)
        if method.network is not None and hasattr(method.network, "forward_with_conductance"):
            x = torch.from_numpy(noisy[index])[None, None]
            with torch.inference_mode():  # the level as the method's run was told it: blind (estimated once here)
                _, maps = method.network.forward_with_conductance(x, **noise_std_arguments(method.network, x))
            kept["conductance"] = maps[0].mean(dim=1).numpy()  # (T, H, W): mean over edge directions
    return metrics, kept, seconds


def record(ctx: Context, suite: str, method: Method, metrics: dict[str, float], seconds: list[float],
           extra_params: dict | None = None, kept: dict[str, np.ndarray] | None = None) -> None:
    metrics = dict(metrics)
    if seconds:
        metrics["ms_per_slice"] = 1000.0 * float(np.median(seconds))
    metrics["parameters"] = float(method.parameters)
    params = {"kind": method.kind, "quick": ctx.quick, "slices": ctx.limit or 10, **method.params, **(extra_params or {})}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = []
        if kept:
            path = Path(tmp) / "qualitative.npz"
            np.savez_compressed(path, **kept)
            artifacts.append(path)
        log_method_run(ctx.tracking_uri, suite, method.name, params, metrics, artifacts, {"description": ctx.description})
    shown = ", ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:4])
    print(f"[{suite}] {method.name}: {shown} ...", flush=True)


def learned_methods(names: list[str], ctx: Context) -> list[Method]:
    methods: list[Method] = []
    for name in names:
        if name == "neural_pde":
            methods.append(shipped_neural_pde())
        elif name in ("unet", "dncnn", "neural_pde_budget"):
            trained = budget_network(name, ctx)
            if trained is not None:
                methods.append(trained)
        elif name == "diffusivity_family":
            methods.extend(family_methods(ctx))
        elif name in ("diffdenoise", "diffdenoise_student"):
            pipeline, student = diffdenoise_networks(ctx)
            network = student if name == "diffdenoise_student" else pipeline.with_sampling(True)
            # trained on noisy magnitude images, it estimates the Rician mean: invert it (blind sigma) on this Rician suite
            methods.append(network_method(name, RicianMeanInversion(network), {"bundle": f"bundles/{REPRODUCTIONS}/diffdenoise", "post_correction": "rician_mean",
                                                                               "training": "self-supervised (noisy images only)"}))
        else:
            raise ValueError(f"unknown learned method {name!r}")
    return methods


def run_comparison(cfg: dict, ctx: Context) -> None:
    noise, noise_stds = cfg["noise"], [float(v) for v in cfg["levels"]]
    baselines = cfg["quick"]["baselines"] if ctx.quick else cfg["baselines"]
    tuned = ctx.tuned(noise, noise_stds, baselines)
    keep = (float(cfg["qualitative"]["level"]), int(cfg["qualitative"]["index"]))
    methods = [classical_method(b, tuned, noise, noise_stds, rc) for b in baselines for rc in cfg["bias_correction"]]
    methods += learned_methods(cfg["quick"]["learned"] if ctx.quick else cfg["learned"], ctx)
    for method in methods:
        metrics, kept, seconds = evaluate(method, noise, noise_stds, ctx, keep=keep)
        record(ctx, "comparison", method, metrics, seconds, {"qualitative": cfg["qualitative"]}, kept)


def run_noise_sweep(cfg: dict, ctx: Context) -> None:
    settings = cfg["quick"]["settings"] if ctx.quick else cfg["settings"]
    wanted = ctx.only_methods
    learned = learned_methods([m for m in cfg["learned"] if not wanted or m in wanted], ctx)
    classical: dict[str, list[tuple[str, Method]]] = {}
    baselines = cfg["quick"].get("baselines", cfg["baselines"]) if ctx.quick else cfg["baselines"]
    if wanted:  # e.g. --only neural_pde after retraining it: the other methods' runs stay as they are
        baselines = [b for b in baselines if b in wanted or f"{b}+rc" in wanted]
    for noise, noise_stds in settings.items():
        tuned = ctx.tuned(noise, [float(v) for v in noise_stds], baselines)
        for b in baselines:
            for rc in ([False, True] if noise == "rician" else [False]):
                method = classical_method(b, tuned, noise, [float(v) for v in noise_stds], rc)
                classical.setdefault(method.name, []).append((noise, method))
    for method in learned:
        metrics, seconds = {}, []
        for noise, noise_stds in settings.items():
            m, _, s = evaluate(method, noise, [float(v) for v in noise_stds], ctx, prefix=f"{noise}_")
            metrics.update(m)
            seconds += s
        record(ctx, "noise_sweep", method, metrics, seconds)
    for name, parts in classical.items():
        metrics, seconds, params = {}, [], {}
        for noise, method in parts:
            m, _, s = evaluate(method, noise, [float(v) for v in settings[noise]], ctx, prefix=f"{noise}_")
            metrics.update(m)
            seconds += s
            params[noise] = method.params["tuned"]
        record(ctx, "noise_sweep", Method(name, parts[0][1].denoise, {"library": parts[0][1].params["library"], "tuned": params}), metrics, seconds)


def run_unet_baseline(cfg: dict, ctx: Context) -> None:
    q = cfg["quick"] if ctx.quick else {}
    noise_stds = [float(v) for v in cfg["levels"]]
    out_of_range = [float(v) for v in q.get("out_of_range", cfg["out_of_range"])]
    shifted = q.get("shifted", cfg["shifted"])
    for method in learned_methods(cfg["learned"], ctx):
        metrics, _, seconds = evaluate(method, cfg["noise"], noise_stds, ctx)
        more, _, _ = evaluate(method, cfg["noise"], out_of_range, ctx, prefix="outside_")
        metrics.update(more)
        for shift, shift_levels in shifted.items():
            more, _, _ = evaluate(method, cfg["noise"], [float(v) for v in shift_levels], ctx, shift=shift, prefix=f"{shift}_")
            metrics.update(more)
        record(ctx, "unet_baseline", method, metrics, seconds)


def run_ablation(cfg: dict, ctx: Context) -> None:
    q = cfg["quick"] if ctx.quick else {}
    budget = q.get("budget", cfg["budget"])
    seeds = q.get("seeds", cfg["seeds"])
    variants = {k: cfg["variants"][k] for k in (ctx.only_variants or q.get("variants", cfg["variants"]))}
    noise_stds = [float(v) for v in cfg["levels"]]
    configs = V02 / "configs"
    for name, variant_overrides in variants.items():
        overrides = [*cfg.get("base", []), *variant_overrides]
        for seed in seeds:
            run_dir = ctx.output / "ablation" / f"{name}_seed{seed}"
            best = run_dir / "checkpoints" / "best_model.pt"
            done = run_dir / "done.json"
            if not done.is_file():
                command, env = bundle_command(
                    [configs / "train.json"], {"bundle_root": str(V02), "output_dir": str(run_dir)},
                    ["--seed", str(seed), *budget, *overrides],
                    ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf")],
                )
                print(f"[ablation] training {name} seed {seed}: {' '.join(command)}", flush=True)
                start = time.time()
                env["OMP_NUM_THREADS"] = os.environ.get("ABLATION_THREADS", "2")
                result = subprocess.run(command, capture_output=True, text=True, env=env)
                if result.returncode != 0 or not best.is_file():
                    raise RuntimeError(f"ablation run {name} seed {seed} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
                done.write_text(json.dumps({"seconds": round(time.time() - start, 1), "overrides": overrides, "budget": budget}) + "\n")
            info = json.loads(done.read_text())
            values = {key.removeprefix("--"): json.loads(value.lower() if value in ("True", "False") else value)
                      for key, value in zip(overrides[::2], overrides[1::2])}
            net = bundle_network(V02, ["train.json"], best, values)
            method = network_method(f"{name}_seed{seed}", net, {"variant": name, "seed": seed, "overrides": " ".join(variant_overrides) or "none",
                                                               "base": " ".join(cfg.get("base", [])) or "none",
                                                               "budget": " ".join(budget), "train_seconds": info["seconds"]})
            metrics, _, seconds = evaluate(method, "rician", noise_stds, ctx)
            record(ctx, "ablation", method, metrics, seconds)


DIFFDENOISE = find_reproduction("diffdenoise")


def diffdenoise_networks(ctx: Context) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The DiffDenoise pipeline and student: the bundle's shipped weights, or (quick mode) a tiny fresh training.

    Loaded once per run (the comparison suite asks for both the pipeline and the student).
    """
    if ctx.diffdenoise is None:
        ctx.diffdenoise = _load_diffdenoise(ctx)
    return ctx.diffdenoise


def _load_diffdenoise(ctx: Context) -> tuple[torch.nn.Module, torch.nn.Module]:
    parser = bundle_parser(DIFFDENOISE, ["inference.json"], {"bundle_root": str(DIFFDENOISE)})
    if ctx.quick:
        runs = ctx.output / "diffdenoise_quick"
        if not (runs / "student" / "model.pt").is_file():
            with _quiet("the quick DiffDenoise training"):
                train_diffdenoise(DIFFDENOISE, runs, quick=True)
        for stage in ("bsn", "diffusion", "student"):
            parser[f"{stage}_ckpt"] = str(runs / stage / "model.pt")
        parser["inference_steps"] = 2
    return parser.get_parsed_content("pipeline_def"), parser.get_parsed_content("load_student")


def self_supervised_network(checkpoint: str | Path) -> torch.nn.Module:
    """The self-supervised Neural PDE (the v0.2 recipe without refinement head, ``self_supervised.json``) with ``checkpoint``'s weights."""
    return bundle_network(SELF_SUPERVISED, [V02 / "configs" / "train.json", DIFFUSION_ONLY / "configs" / "diffusion_only.json", "self_supervised.json"], checkpoint)


def self_supervised_neural_pde(ctx: Context) -> Method:
    checkpoint = SELF_SUPERVISED / "models" / "model.pt"
    if ctx.quick:
        output = ctx.output / "self_supervised_quick"
        checkpoint = output / "checkpoints" / "final_model.pt"
        if not checkpoint.is_file():
            configs = [(DIFFUSION_ONLY / "configs" / "diffusion_only.json").resolve(), (SELF_SUPERVISED / "configs" / "self_supervised.json").resolve()]
            extra = ["--patches_per_slice", "1", "--train#datalist", "$monai_nad.data.noisy_slices('train', @self_supervised_conditions, limit=6)",
                     "--val_noise_stds", "[0.1]"]
            command = shlex.join(["python", "scripts/train_pretrained.py", *(f for c in configs for f in ("--extra-config", str(c))),
                                  "--output-dir", str(output), "--max-epochs", "1", "--val-interval", "1", *extra])
            with _quiet("the quick self-supervised training"):
                train_with_extra_configs(V02, configs, output, 1, ["--val_interval", "1", *extra], None, command)
    net = self_supervised_network(checkpoint)
    return network_method("neural_pde_self_supervised", net, {"training": "self-supervised (Noise2Self)", "checkpoint": str(checkpoint.relative_to(ROOT) if checkpoint.is_relative_to(ROOT) else checkpoint)})


def suite_noise(condition: str) -> tuple[str, float]:
    """``(noise family, level)`` of a suite condition: a :data:`~monai_nad.data.NOISE_CONDITIONS` name, or
    ``("scanner", s)`` for a :data:`SCANNER_PREFIX` one.

    Raises:
        ValueError: an unknown name.
    """
    if condition.startswith(SCANNER_PREFIX):
        return "scanner", scanner_condition(condition)[1]
    noise, level, _ = noise_condition(condition)
    return noise, level


def suite_condition_arrays(split: str, condition: str, volume: str = "mni", limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, reference)`` stacks ``(N, H, W)`` of a suite condition: :func:`~monai_nad.data.condition_arrays`, or the
    first ``limit`` slices of a BENCHMARK 1d cell for a :data:`SCANNER_PREFIX` name.

    Raises:
        ValueError: an unknown condition, volume or split.
    """
    if condition.startswith(SCANNER_PREFIX):
        noisy, reference = scanner_test_cell(volume, None, *scanner_condition(condition)).load(split)
        return noisy[:limit], reference[:limit]
    return condition_arrays(split, condition, volume, limit=limit)


def bm3d_for_condition(condition: str, ctx: Context, volume: str = "mni") -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """BM3D (+ Rician correction for Rician noise) tuned on validation slices of the condition (of ``volume``).

    For Rician noise the level is the known sigma; otherwise BM3D gets the standard deviation of (noisy - clean)
    measured on the validation slices, times a tuned factor: an oracle-tuned baseline (a white level: for the
    scanner conditions it is not BENCHMARK 1d's anchor, BM3D told the noise PSD or std map).
    """
    noise, level = suite_noise(condition)
    noisy, clean = suite_condition_arrays("validation", condition, volume, limit=2 if ctx.quick else 4)
    sigma = level if noise in ("rician", "gaussian") else float(np.std(noisy - clean))
    tuned = {noise: {level_key(sigma): {"bm3d": tune_baseline("bm3d", noisy, clean, sigma, rician=noise == "rician")}}}
    method = classical_method("bm3d", tuned, noise, [sigma], bias_correction=noise == "rician")
    return (lambda image: method.denoise(image, sigma)), {"sigma": sigma, **method.params["tuned"][level_key(sigma)]}


def run_self_supervised(cfg: dict, ctx: Context) -> None:
    q = cfg["quick"] if ctx.quick else {}
    conditions = q.get("conditions", cfg["conditions"])
    keep_condition, keep_index = cfg["qualitative"]["condition"], int(cfg["qualitative"]["index"])
    methods = [m for m in cfg["methods"] if not ctx.only_methods or m in ctx.only_methods]
    needs_diffdenoise = any(m in ("blind_spot", "diffdenoise_single", "diffdenoise", "diffdenoise_full_chain", "student") for m in methods)
    pipeline, student = diffdenoise_networks(ctx) if needs_diffdenoise else (None, None)
    learned = {} if pipeline is None else {
        "blind_spot": network_method("blind_spot", BlindSpotStage(pipeline), {"stage": "1: blind-spot network"}),
        "diffdenoise_single": network_method("diffdenoise_single", pipeline.with_sampling(False), {"stage": "2: one DDIM sample", "inference_steps": pipeline.inference_steps, "start_step": pipeline.start_step}),
        "diffdenoise": network_method("diffdenoise", pipeline.with_sampling(True), {"stage": "3: SRDS (+eps, -eps)", "inference_steps": pipeline.inference_steps, "start_step": pipeline.start_step}),
        "diffdenoise_full_chain": network_method("diffdenoise_full_chain", pipeline.replace(symmetric=True, inference_steps=10, start_step=None),
                                                 {"stage": "3: SRDS, full chain from pure noise", "inference_steps": 10}),
        "student": network_method("student", student, {"stage": "4: distilled student"}),
    }
    volumes = q.get("volumes", cfg.get("volumes", ["mni"]))
    corrected: dict[str, Method] = {}
    for name in methods:
        metrics: dict[str, float] = {}
        seconds: list[float] = []
        kept: dict[str, np.ndarray] = {}
        params: dict = {}
        # the noise families ("rician", "scanner") on which this method's output is corrected by the posterior-mean
        # signal (the config's "posterior"); on the others by the exact inversion of the magnitude mean
        posterior_families = set(cfg.get("posterior", {}).get(name, []))
        for volume, condition in [(v, c) for v in volumes for c in conditions]:
            column = condition if volume == "mni" else f"{volume}_{condition}"  # MNI keeps the bare condition names
            noisy, clean = suite_condition_arrays("test", condition, volume, limit=ctx.limit)
            family = suite_noise(condition)[0]
            if name == "bm3d":
                denoise, params[column] = bm3d_for_condition(condition, ctx, volume)
            else:
                if learned.get(name) is None:
                    learned[name] = self_supervised_neural_pde(ctx) if name == "neural_pde_self_supervised" else shipped_neural_pde()
                method = learned[name]
                if name != "neural_pde" and family == "rician":
                    # self-supervised models estimate the Rician mean E[y]; magnitude data: invert it with a blind sigma
                    method = corrected.setdefault(name, network_method(name, RicianMeanInversion(method.network, posterior="rician" in posterior_families), method.params))
                denoise = lambda image, m=method: m.denoise(image, 0.0)  # noqa: E731  (blind: no level)
            ran: dict[str, np.ndarray] = {}
            whole = None
            if name == "neural_pde" and family == "scanner":
                # the shipped model as the command line runs it on scanner noise (BENCHMARK 1d's neural_pde_2d): the slab
                # as one scan, the noise std map, coil count and correlation estimated from it
                whole = scan_method(method.network, None, "2d", noise_estimate="map")
            elif family == "scanner" and name != "bm3d":
                # self-supervised models estimate the magnitude mean E[M]: the slab as one scan, its N-coil mean inverted
                # with the std map and coil count estimated from its air (post_correction="magnitude_mean", as the bundle runs)
                whole = scan_method(MagnitudeMeanInversion(method.network, posterior="scanner" in posterior_families), None, "2d", noise_estimate="map", white_gain=RAW_NOISE_ESTIMATE,
                                    precision="float32")

            def run(stack: np.ndarray, _level: float, denoise=denoise, whole=whole) -> tuple[np.ndarray, list[float]]:
                ran["outs"], times = denoise_slices(denoise, stack) if whole is None else whole(stack, 0.0)
                seconds.extend(times)
                return ran["outs"], times

            cell = TestCell(column, 0.0, lambda split, pair=(noisy, clean): pair, tuned=False)  # blind: no level
            row = benchmark_cells([cell], {name: run}, bm3d=False, statistic="median", log=lambda _: None)[0]
            metrics.update({f"{k}_{column}": row[k] for k in ("psnr", "ssim", "fg_psnr", "edge_mse")})
            outs = ran["outs"]
            if volume == "mni" and condition == keep_condition:
                index = min(keep_index, len(outs) - 1)
                kept.update({"output": outs[index], "index": np.asarray(index)})
                if name == "bm3d":
                    kept.update({"noisy": noisy[index], "clean": clean[index]})
        if name == "diffdenoise":
            srds = q.get("srds", cfg["srds"])
            noisy, _ = mni_condition_arrays("test", srds["condition"], limit=srds["slices"])
            variance = sampling_variance(pipeline, torch.from_numpy(noisy)[:, None], repeats=srds["repeats"])
            metrics.update({f"srds_variance_{k}": v for k, v in variance.items()})
            params["srds"] = srds
        method = learned.get(name) or Method(name, lambda image, noise_std: image, {"library": "bm3d", "tuned": params})
        if "srds" in params:
            method.params["srds"] = params.pop("srds")
        if name in corrected:
            method.params["post_correction"] = (
                f"rician_mean{'_posterior' if 'rician' in posterior_families else ''} on Rician conditions, "
                f"magnitude_mean{'_posterior' if 'scanner' in posterior_families else ''} (estimated std map and N) on scanner conditions")
        record(ctx, "self_supervised", method, metrics, seconds,
               {"conditions": ",".join(conditions), "volumes": ",".join(volumes), "qualitative": cfg["qualitative"]}, kept)


def train_on_br35h(network: str, ctx: Context, budget_s: float, quick: bool) -> Path:
    """Train one network of the real-scan recipe on the Br35H training split for ``budget_s`` seconds (reused when done).

    Returns:
        the run folder (``checkpoints/best_model.pt``, ``training_info.json``).
    """
    run_dir = ctx.output / "br35h" / network
    done = run_dir / "done.json"
    if done.is_file() and json.loads(done.read_text()).get("budget_s") == budget_s:
        return run_dir
    options = RealScanOptions(network=network, data="br35h", br35h_root=ctx.root, time_budget_s=float(budget_s), **({"epoch_length": 5} if quick else {}))
    train_real_scan_run(run_dir, options, f"training {network} on Br35H", f"[br35h] training {network} for {budget_s:g} s")
    done.write_text(json.dumps({"budget_s": budget_s}) + "\n")
    return run_dir


def run_br35h(cfg: dict, ctx: Context) -> None:
    """The original Neural PDE project's experiment: Br35H train/validation/test split, Rician noise; the classical methods
    tuned on its validation split by the one tuner, the networks trained on its training split for one wall-clock budget."""
    if ctx.root is None:
        raise ValueError("the br35h suite needs the data: --root DIR (a folder with yes/ and no/ of JPEG/PNG slices)")
    q = cfg["quick"] if ctx.quick else {}
    noise_stds = [float(v) for v in cfg["levels"]]
    baselines = q.get("baselines", cfg["baselines"])
    val_limit = q.get("val_limit", cfg["val_limit"])
    tuned: dict = {"rician": {}}
    for noise_std in noise_stds:
        noisy, clean = br35h_eval_arrays(ctx.root, "validation", noise_std, limit=val_limit)
        tuned["rician"][level_key(noise_std)] = {name: tune_baseline(name, noisy, clean, noise_std, rician=True) for name in baselines}
    methods = [classical_method(b, tuned, "rician", noise_stds, rc) for b in baselines for rc in (False, True)]
    budget = float(q.get("budget_s", cfg["budget_s"]))
    for name in q.get("learned", cfg["learned"]):
        run_dir = train_on_br35h(BUDGET_RUNS[f"{name}_budget"][0], ctx, budget, ctx.quick)
        net, record_info = budget_run_network(f"{name}_budget", run_dir)
        methods.append(network_method(name, net, {"training": f"Br35H train split, {budget:g} s budget", "budget_s": budget,
                                                  "train_seconds": record_info.get("total_wall_time_s")}))
    test = {noise_std: br35h_eval_arrays(ctx.root, "test", noise_std, limit=ctx.limit) for noise_std in noise_stds}
    for method in methods:
        metrics, _, seconds = evaluate(method, "rician", noise_stds, ctx, data=test.__getitem__)
        record(ctx, "br35h", method, metrics, seconds, {"data": "br35h"})


RUNNERS = {"br35h": run_br35h, "comparison": run_comparison, "self_supervised": run_self_supervised, "unet_baseline": run_unet_baseline, "noise_sweep": run_noise_sweep, "ablation": run_ablation}
