"""Train the shipped Neural PDE bundle model on MNI-Rician and install it as ``models/model.pt``.

Runs the bundle's ``train.json`` through ``python -m monai.bundle run`` (so the published weights come from
exactly the configuration users run), then copies the best-validation checkpoint into the bundle and records
the training time and hardware next to it (``docs/training_info.json``). Interrupted runs resume from their
last epoch when started again with the same ``--output-dir``.

Usage:
    python scripts/train_pretrained.py [--max-epochs 80] [--output-dir bundles/neural_pde_denoising/runs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=80)
    parser.add_argument("--val-interval", type=int, default=5)
    parser.add_argument("--output-dir", default=str(BUNDLE / "runs"))
    parser.add_argument("--tracking", default=None, help="e.g. 'mlflow' to record the run in MLflow")
    parser.add_argument("--no-install", action="store_true", help="do not copy the result into models/model.pt")
    parser.add_argument(
        "--extra-config", action="append", default=[],
        help="a config of the bundle merged after train.json, e.g. unet_baseline.json (implies --no-install)",
    )
    args, extra = parser.parse_known_args(argv)

    configs = BUNDLE / "configs"
    command = [
        sys.executable, "-m", "monai.bundle", "run",
        "--config_file", json.dumps([str(configs / name) for name in ["train.json", *args.extra_config]]),
        "--meta_file", str(configs / "metadata.json"),
        "--logging_file", str(configs / "logging.conf"),
        "--bundle_root", str(BUNDLE),
        "--output_dir", args.output_dir,
        "--max_epochs", str(args.max_epochs),
        "--val_interval", str(args.val_interval),
    ] + (["--tracking", args.tracking] if args.tracking else []) + extra
    print("running:", " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run(command, check=False)
    elapsed = time.time() - start
    if result.returncode != 0:
        print(f"training failed with exit code {result.returncode}", file=sys.stderr)
        return result.returncode
    # best validation checkpoint; self-supervised runs (self_supervised.json) keep the final weights instead
    candidates = [Path(args.output_dir) / "checkpoints" / name for name in ("best_model.pt", "final_model.pt")]
    best = next((path for path in candidates if path.is_file()), candidates[0])
    if not best.is_file():
        print(f"no checkpoint at {' or '.join(map(str, candidates))}", file=sys.stderr)
        return 1
    info = {
        "command": " ".join([Path(sys.executable).name, "scripts/train_pretrained.py"] + (argv if argv is not None else sys.argv[1:])),
        "max_epochs": args.max_epochs,
        "wall_time_s_this_invocation": round(elapsed, 1),
        "hardware": {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "torch": torch.__version__,
        "checkpoint_bytes": best.stat().st_size,
    }
    (Path(args.output_dir) / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
    if not args.no_install and not args.extra_config:
        target = BUNDLE / "models" / "model.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, target)
        info_path = BUNDLE / "docs" / "training_info.json"
        info_path.parent.mkdir(parents=True, exist_ok=True)
        info_path.write_text(json.dumps(info, indent=2) + "\n")
        print(f"installed {target} ({info['checkpoint_bytes']} bytes); training info in {info_path}")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
