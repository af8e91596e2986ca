"""Train the learned-diffusivity family of seed 003 through the bundle, one MLflow run per (variant, noise).

Every run is ``python -m monai.bundle run`` with ``configs/train.json`` overridden by ``configs/diffusivity.json``
(the :class:`~monai_nad.networks.DiffusivityPDE`: 4 neighbours, 10 explicit steps, 8-pixel mean padding, MSE
loss as in the paper) and a few command-line overrides: the diffusivity, its size for the noise level (the
paper's kernel size / number of experts per sigma for the FoE variants), the noise model and its level.
Noise settings: MNI-Gaussian sigma 15, 25, 50 (out of 255; one model per sigma, as in the paper) and
MNI-Rician (one blind model for s ~ U(0.05, 0.20), with the learned blind Rician bias correction).

Runs land in ``OUTPUT/<variant>_<noise>/`` (checkpoints) and in one MLflow experiment ``diffusivity_family``
in the SQLite store ``OUTPUT/mlflow.db``. Finished runs (a ``done.json`` next to the checkpoints) are skipped,
interrupted ones resume from their last epoch, so the script can simply be started again.

Usage:
    python scripts/train_diffusivity_family.py [--max-epochs 4] [--variants foe_s ka] [--noises gaussian25]
    python scripts/train_diffusivity_family.py --quick      # every variant, tiny budget, a few minutes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from monai_nad.engines.user_values import bundle_command

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "neural_pde_denoising"
DEFAULT_OUTPUT = ROOT / "runs" / "diffusivity_family"

VARIANTS = ("pm_exponential", "pm_rational", "ka", "foe_s", "foe_d", "foe_m", "foe_rb", "unet")
#: noise setting -> (noise model, training level(s), validation levels)
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
    model, level, val_levels = NOISES[noise]
    configs = BUNDLE / "configs"
    values = {"bundle_root": str(BUNDLE), "output_dir": str(output / run_name(variant, noise))}
    ours = [
        "--diffusivity", variant,
        "--diffusivity_kwargs", json.dumps(diffusivity_kwargs(variant, noise)),
        "--noise", model,
        "--noise_levels", json.dumps(level),
        "--val_levels", json.dumps(val_levels),
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
    return bundle_command([configs / "train.json", configs / "diffusivity.json"], values, ours, run_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--noises", nargs="+", default=list(NOISES), choices=list(NOISES))
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 8 slices with 3 steps: checks the pipeline")
    parser.add_argument("--no-tracking", action="store_true", help="do not record the runs in MLflow")
    args = parser.parse_args(argv)
    max_epochs = 1 if args.quick else args.max_epochs
    args.output_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for noise in args.noises:
        for variant in args.variants:
            name = run_name(variant, noise)
            done = args.output_dir / name / "done.json"
            if done.is_file() and json.loads(done.read_text()).get("max_epochs") == max_epochs:
                print(f"[{name}] already trained ({done}); skipping", flush=True)
                continue
            command, env = member_command(variant, noise, args.output_dir, max_epochs, args.quick, not args.no_tracking)
            env.setdefault("OMP_NUM_THREADS", "2")
            print(f"[{name}] running: {' '.join(command)}", flush=True)
            start = time.time()
            result = subprocess.run(command, env=env, check=False)
            elapsed = time.time() - start
            best = args.output_dir / name / "checkpoints" / "best_model.pt"
            if result.returncode != 0 or not best.is_file():
                print(f"[{name}] FAILED (exit code {result.returncode})", file=sys.stderr, flush=True)
                failures.append(name)
                continue
            done.write_text(json.dumps({
                "variant": variant, "noise": noise, "max_epochs": max_epochs, "quick": args.quick,
                "diffusivity_kwargs": diffusivity_kwargs(variant, noise), "wall_time_s": round(elapsed, 1),
                "checkpoint": str(best.relative_to(args.output_dir)),
            }, indent=2) + "\n")
            print(f"[{name}] trained in {elapsed:.0f} s", flush=True)
    if failures:
        print(f"failed runs: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
