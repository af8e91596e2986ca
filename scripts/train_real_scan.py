"""Train the real-scan Neural PDE (``configs/common.json`` + ``train_real_scan.json``), or a learned baseline, and install it.

One ``python -m monai.bundle run``, MLflow-tracked (``<output-dir>/mlruns.db``), resumable: started again with the same
``--output-dir`` it continues from its last epoch (``--max-epochs`` may extend it). It uses CUDA with AMP where a GPU
is present and the CPU otherwise. The Neural PDE's best-validation checkpoint is copied to ``models/model.pt`` (the
shipped model; never for a baseline, a --time-budget run or Br35H) and the run's record (wall time, hardware, and the record of the run a fine-tuning started from) to
``docs/training_info_real_scan.json``. The shipped model came from four stages: ``bash scripts/train_v1.sh``.

Usage:
    python scripts/train_real_scan.py [--max-epochs 40] [--output-dir bundles/neural_pde_denoising/runs/real_scan]
    python scripts/train_real_scan.py --init-checkpoint bundles/neural_pde_denoising/models/model.pt --learning-rate 5e-4 \
        --max-epochs 20 --output-dir runs/finetune      # continue from the shipped weights with a new schedule
    python scripts/train_real_scan.py --network dncnn --time-budget 900 --output-dir runs/real_anatomy/dncnn  # a fair baseline
    python scripts/train_real_scan.py --max-epochs 1 --epoch-length 20 --output-dir runs/smoke --no-install --volumes mni  # smoke run
    python scripts/train_real_scan.py --network volume --max-epochs 12 --epoch-length 150 --output-dir runs/volume  # the volume model
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from monai_nad.engines.training_record import install_checkpoint, installs_shipped_model, previous_record, update_record
from monai_nad.engines.user_values import bundle_command
from monai_nad.experiments.real_anatomy_setup import REAL_SCAN_FAMILY as FAMILY

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising"

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--epoch-length", type=int, default=250, help="iterations per epoch")
    parser.add_argument("--val-interval", type=int, default=4)
    parser.add_argument("--output-dir", type=Path, default=BUNDLE / "runs" / "real_scan")
    parser.add_argument("--volumes", nargs="+", default=["mni", "colin27"], choices=["mni", "colin27"], help="training/validation volumes")
    parser.add_argument("--data", choices=["real_anatomy", "br35h"], default="real_anatomy",
                        help="training data: the MNI/Colin27 slabs (default) or a Br35H-like folder (--root; configs/train_br35h.json)")
    parser.add_argument("--root", type=Path, default=None, help="the Br35H-like folder (yes/ and no/ of JPEG/PNG slices)")
    parser.add_argument("--init-checkpoint", type=Path, default=None,
                        help="start from these weights (e.g. models/model.pt) instead of from scratch: fine-tuning with a new schedule")
    parser.add_argument("--learning-rate", type=float, default=None, help="initial learning rate (config default 2e-3)")
    parser.add_argument("--loss", choices=["l1", "mse"], default="l1", help="training loss (default l1; mse fine-tunes for PSNR)")
    parser.add_argument("--network", choices=["pde", "volume", "dncnn", "unet", *FAMILY], default="pde",
                        help="the Neural PDE (default); the volume model (configs/volume.json + train_volume.json: 3D patches, "
                             "fine-tuned from --init-checkpoint, default the shipped models/model.pt, installed as models/model_3d.pt); "
                             "or a learned baseline with the same inputs: a CNN (configs/baseline_cnn.json) "
                             "or a member of the learned-diffusivity family (configs/diffusivity_real_scan.json); baselines are never installed")
    parser.add_argument("--detail-layers", type=int, default=None,
                        help="layers of the Neural PDE's full-resolution detail head (common.json default; 0: none, as in stages 1-2 of v1.0)")
    parser.add_argument("--volume-layers", type=int, default=None,
                        help="--network volume: layers of its volumetric 3x3x3 head (volume.json default; a checkpoint "
                             "without one starts it at zero)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                        help="train for this many seconds (cosine learning rate over the budget; not resumable) instead of --max-epochs")
    parser.add_argument("--no-install", action="store_true", help="do not copy the best checkpoint into models/")
    args = parser.parse_args(argv)
    if args.time_budget is not None and args.time_budget <= 0:
        parser.error("--time-budget must be positive seconds")
    if (args.data == "br35h") != (args.root is not None):
        parser.error("--data br35h needs --root DIR, and --root is only for --data br35h")
    if args.root is not None and not args.root.is_dir():
        print(f"train_real_scan: error: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    configs = BUNDLE / "configs"
    output = args.output_dir.resolve()
    output.mkdir(parents=True, exist_ok=True)
    values = {"bundle_root": str(BUNDLE), "output_dir": str(output), "tracking_uri": f"sqlite:///{output / 'mlruns.db'}"}
    if args.network == "volume" and args.init_checkpoint is None and args.time_budget is None:
        args.init_checkpoint = BUNDLE / "models" / "model.pt"  # the volume model starts as the shipped 2D model
    if args.init_checkpoint is not None:
        if not args.init_checkpoint.is_file():
            print(f"train_real_scan: error: --init-checkpoint {args.init_checkpoint} does not exist", file=sys.stderr)
            return 2
        values["init_ckpt_path"] = str(args.init_checkpoint.resolve())
    epochs = 100_000 if args.time_budget is not None else args.max_epochs  # the budget ends the run
    ours = ["--volumes", json.dumps(args.volumes), "--max_epochs", str(epochs), "--epoch_length", str(args.epoch_length), "--val_interval", str(min(args.val_interval, epochs)),
            "--loss_name", args.loss]
    if args.learning_rate is not None:
        ours += ["--learning_rate", repr(float(args.learning_rate))]
    files = [configs / "common.json", configs / "train_real_scan.json"]
    if args.root is not None:
        files.append(configs / "train_br35h.json")
        values["br35h_root"] = str(args.root.resolve())
    if args.detail_layers is not None:
        ours += ["--detail_layers", str(int(args.detail_layers))]
    if args.network in ("dncnn", "unet"):
        files.append(configs / "baseline_cnn.json")
        ours += ["--backbone", args.network, "--cnn_features", "48" if args.network == "dncnn" else "16"]
    elif args.network == "volume":
        files += [configs / "volume.json", configs / "train_volume.json"]
        if args.volume_layers is not None:
            ours += ["--volume_layers", str(int(args.volume_layers))]
    elif args.network != "pde":
        files.append(configs / "diffusivity_real_scan.json")
        ours += ["--diffusivity", args.network, "--diffusivity_kwargs", json.dumps(FAMILY[args.network])]
    if args.time_budget is not None:
        ours += ["--time_budget_s", repr(float(args.time_budget)), "--resume", "false"]
    run_args = ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"),
                "--tracking", "mlflow", "--experiment_name", "real_scan", "--run_name", {"pde": "v1.0"}.get(args.network, args.network)]
    command, env = bundle_command(files, values, ours, run_args)
    print("running:", " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run(command, env=env, check=False)
    elapsed = time.time() - start
    best = output / "checkpoints" / "best_model.pt"
    if result.returncode != 0 or not best.is_file():
        print(f"train_real_scan: training failed (exit code {result.returncode}); no checkpoint at {best}", file=sys.stderr)
        return 1
    invocation = {
        "wall_time_s": round(elapsed, 1), "max_epochs": args.max_epochs, "epoch_length": args.epoch_length,
        "init_checkpoint": str(args.init_checkpoint) if args.init_checkpoint else None, "learning_rate": args.learning_rate,
        "loss": args.loss, "network": args.network, "volume_layers": args.volume_layers, "time_budget_s": args.time_budget, "detail_layers": args.detail_layers, "data": args.data,
    }
    command = "python scripts/train_real_scan.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info_name = "training_info_volume.json" if args.network == "volume" else "training_info_real_scan.json"
    started_info = "training_info_volume.json" if args.init_checkpoint and args.init_checkpoint.name == "model_3d.pt" else "training_info_real_scan.json"
    started = previous_record(args.init_checkpoint, BUNDLE / "docs" / started_info)
    record = update_record(output, invocation, command, best, started)
    print(json.dumps({k: v for k, v in record.items() if k != "started_from"}, indent=2))
    model_name = installs_shipped_model(args.network, args.data, args.time_budget, args.no_install)
    if model_name:
        print(f"installed {install_checkpoint(best, BUNDLE, record, info_name, model_name)}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
