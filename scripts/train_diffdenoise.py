"""Train the DiffDenoise bundle's three stages on noisy MNI slices only, and optionally install the weights.

Runs ``bundles/diffdenoise/configs/train_{bsn,diffusion,student}.json`` (each merged after ``common.json``) through
``python -m monai.bundle run`` with MLflow tracking (experiment ``diffdenoise`` of ``<output-dir>/mlruns.db``), in
order: the blind-spot network, the diffusion model conditioned on it, then the student distilled from the
SRDS outputs. Each stage resumes from its last epoch when started again with the same ``--output-dir``; a finished
stage (its ``model.pt`` exists) is skipped. ``--install`` copies the three weight files into ``models/`` (the
diffusion U-Net in float16 to keep the bundle small) and records times and hardware in ``docs/training_info.json``.

Usage:
    python scripts/train_diffdenoise.py --install                 # the shipped weights (about 45 min on 2 CPU cores)
    python scripts/train_diffdenoise.py --quick --output-dir /tmp/dd   # a tiny end-to-end check, about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from monai_nad.bundle import find_bundle
from monai_nad.engines.user_values import bundle_command

BUNDLE = find_bundle("diffdenoise")
STAGES = ("bsn", "diffusion", "student")
#: epochs per stage for the shipped weights
EPOCHS = {"bsn": 20, "diffusion": 45, "student": 200}
QUICK = ["--train_limit", "3", "--val_limit", "1", "--val_interval", "1", "--inference_steps", "2", "--patches_per_slice", "2"]


def stage_command(stage: str, output_dir: Path, epochs: int, quick: bool, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``python -m monai.bundle run`` command line and environment of one stage (paths passed as data)."""
    configs = BUNDLE / "configs"
    run_args = [
        "--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"),
        "--tracking", "mlflow", "--experiment_name", "diffdenoise", "--run_name", stage,
    ]
    ours = ["--max_epochs", str(epochs)] + (QUICK if quick else []) + extra
    values = {"bundle_root": str(BUNDLE), "output_dir": str(output_dir)}
    return bundle_command([configs / "common.json", configs / f"train_{stage}.json"], values, ours, run_args)


def install(output_dir: Path, seconds: dict[str, float], quick: bool) -> None:
    models = BUNDLE / "models"
    models.mkdir(exist_ok=True)
    missing = [stage for stage in STAGES if not (output_dir / stage / "model.pt").is_file()]
    if missing:
        raise FileNotFoundError(f"cannot install: no trained weights for stage(s) {missing} in {output_dir}; train them first "
                                f"(python scripts/train_diffdenoise.py --stages {' '.join(missing)} --output-dir {output_dir}).")
    for stage, name in (("bsn", "bsn.pt"), ("diffusion", "diffusion.pt"), ("student", "model.pt")):
        state = torch.load(output_dir / stage / "model.pt", map_location="cpu", weights_only=True)
        state = state.get("model", state)
        if stage == "diffusion":
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        torch.save(state, models / name)
        print(f"installed {models / name} ({(models / name).stat().st_size / 1024:.0f} KB)")
    info_path = BUNDLE / "docs" / "training_info.json"
    previous = json.loads(info_path.read_text()).get("seconds_per_stage", {}) if info_path.is_file() and not quick else {}
    info = {
        "command": "python scripts/train_diffdenoise.py --install" + (" --quick" if quick else ""),
        "epochs": EPOCHS,
        "seconds_per_stage": {**previous, **{k: round(v, 1) for k, v in seconds.items()}},  # stages trained earlier keep their record
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"),
        "torch": torch.__version__,
    }
    info_path.parent.mkdir(exist_ok=True)
    info_path.write_text(json.dumps(info, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=BUNDLE / "runs")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--quick", action="store_true", help="tiny data and budgets: checks the pipeline end to end")
    parser.add_argument("--install", action="store_true", help="copy the trained weights into the bundle's models/")
    args, extra = parser.parse_known_args(argv)
    seconds: dict[str, float] = {}
    for stage in args.stages:
        if (args.output_dir / stage / "model.pt").is_file():
            print(f"stage {stage}: {args.output_dir / stage / 'model.pt'} exists, skipped", flush=True)
            continue
        command, env = stage_command(stage, args.output_dir, 1 if args.quick else EPOCHS[stage], args.quick, extra)
        print(f"stage {stage}: running", " ".join(command), flush=True)
        start = time.time()
        result = subprocess.run(command, check=False, env=env)
        seconds[stage] = time.time() - start
        if result.returncode != 0:
            print(f"stage {stage} failed with exit code {result.returncode}", file=sys.stderr)
            return result.returncode
        print(f"stage {stage}: done in {seconds[stage] / 60:.1f} min", flush=True)
    if args.install:
        try:
            install(args.output_dir, seconds, args.quick)
        except FileNotFoundError as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
