"""Train the learned-diffusivity family ("Learning diffusion functions") through the bundle, one MLflow run per (variant, noise).

Every run is ``python -m monai.bundle run`` with the v0.2 recipe (``bundles/reproductions/neural_pde_v0.2/configs/train.json``)
overridden by ``bundles/reproductions/diffusivity/configs/diffusivity.json``
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
import subprocess
import sys
import time
from pathlib import Path

from monai_nad.experiments.diffusivity_family import DEFAULT_OUTPUT, NOISES, VARIANTS, diffusivity_kwargs, member_command, run_name


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
