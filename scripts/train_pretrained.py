"""Train the shipped Neural PDE bundle model on MNI-Rician and install it in the bundle's ``models/``.

Every stage runs the bundle's ``train.json`` through ``python -m monai.bundle run`` (so the published weights come
from exactly the configuration users run) and keeps its best-validation checkpoint. The shipped model is trained in
two stages:

1. ``diffusion``: the diffusion alone (``train.json`` + ``diffusion_only.json``: no refinement head), lr 2e-3, the
   hybrid loss without its log-MSE
   term (``--loss#log_mse_weight 0``), ``--diffusion-epochs`` epochs;
   installed as ``models/diffusion_only.pt`` (the pure PDE, with its maximum principle).
2. ``refinement``: the full network of ``train.json`` (diffusion + residual refinement head), initialised from
   stage 1 (``--init_ckpt_path``; the new head starts as the identity, see ``monai_nad.engines.warm_start``), every
   part fine-tuned at lr 5e-4 for ``--refinement-epochs`` epochs with the loss of ``train.json`` (including the
   per-image log-MSE term that weighs low-noise images as much as noisy ones); installed as ``models/model_v0.2.pt`` (the v0.2 model; the shipped v1.0 comes from ``scripts/train_real_scan.py``).

The training time and hardware of each stage are recorded in ``docs/training_info.json``. Interrupted stages resume
from their last epoch when started again with the same ``--output-dir``; finished stages are skipped.

With ``--extra-config`` (e.g. ``unet_baseline.json``, ``self_supervised.json``) one run of ``train.json`` merged with
those configs is made instead (``--max-epochs``), and nothing is installed.

Usage:
    python scripts/train_pretrained.py [--diffusion-epochs 70] [--refinement-epochs 50] [--stages diffusion,refinement]
    python scripts/train_pretrained.py --extra-config unet_baseline.json --output-dir runs/unet_baseline --max-epochs 70
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

from monai_nad.engines.user_values import bundle_command

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising"
STAGES = ("diffusion", "refinement")


def _hardware() -> dict:
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _run_bundle(
    configs: list[str], output_dir: Path, overrides: list[str], tracking: str | None, paths: dict[str, Path] | None = None
) -> tuple[Path, float]:
    """Run ``train.json`` (+ ``configs``) through monai.bundle; return the kept checkpoint and the wall time.

    Paths (``output_dir`` and ``paths``) reach the config as data (:func:`monai_nad.engines.bundle_command`), so a
    folder name starting with ``$`` or ``@`` is never evaluated.
    """
    folder = BUNDLE / "configs"
    values = {"bundle_root": str(BUNDLE), "output_dir": str(output_dir), **{k: str(v) for k, v in (paths or {}).items()}}
    run_args = ["--meta_file", str(folder / "metadata.json"), "--logging_file", str(folder / "logging.conf")]
    command, env = bundle_command(
        [folder / name for name in ["train.json", *configs]], values, overrides, run_args + (["--tracking", tracking] if tracking else [])
    )
    print("running:", " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run(command, check=False, env=env)
    elapsed = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"training failed with exit code {result.returncode}: {' '.join(command)}")
    # best validation checkpoint; self-supervised runs (self_supervised.json) keep the final weights instead
    candidates = [output_dir / "checkpoints" / name for name in ("best_model.pt", "final_model.pt")]
    best = next((path for path in candidates if path.is_file()), None)
    if best is None:
        raise RuntimeError(f"no checkpoint at {' or '.join(map(str, candidates))}")
    return best, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of: " + ", ".join(STAGES))
    parser.add_argument("--diffusion-epochs", type=int, default=70)
    parser.add_argument("--refinement-epochs", type=int, default=50)
    parser.add_argument("--refinement-lr", type=float, default=5e-4)
    parser.add_argument("--max-epochs", type=int, default=70, help="epochs of an --extra-config run")
    parser.add_argument("--val-interval", type=int, default=5)
    parser.add_argument("--output-dir", default=str(BUNDLE / "runs"))
    parser.add_argument("--tracking", default=None, help="e.g. 'mlflow' to record the runs in MLflow")
    parser.add_argument("--no-install", action="store_true", help="do not copy the results into models/")
    parser.add_argument(
        "--extra-config", action="append", default=[],
        help="a config of the bundle merged after train.json, e.g. unet_baseline.json (one run; implies --no-install)",
    )
    args, extra = parser.parse_known_args(argv)
    command = " ".join([Path(sys.executable).name, "scripts/train_pretrained.py"] + (argv if argv is not None else sys.argv[1:]))
    output = Path(args.output_dir)
    common = ["--val_interval", str(args.val_interval), *extra]

    try:
        if args.extra_config:
            best, elapsed = _run_bundle(args.extra_config, output, ["--max_epochs", str(args.max_epochs), *common], args.tracking)
            info = {"command": command, "max_epochs": args.max_epochs, "wall_time_s_this_invocation": round(elapsed, 1),
                    "hardware": _hardware(), "torch": torch.__version__, "checkpoint_bytes": best.stat().st_size}
            (output / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
            print(json.dumps(info, indent=2))
            return 0

        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            parser.error(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
        diffusion_ckpt = output / "diffusion" / "checkpoints" / "best_model.pt"
        plan = {
            "diffusion": (["--loss#log_mse_weight", "0.0", "--max_epochs", str(args.diffusion_epochs)], "diffusion_only.pt"),
            "refinement": ([
                "--learning_rate", str(args.refinement_lr),
                "--max_epochs", str(args.refinement_epochs),
            ], "model_v0.2.pt"),
        }
        info_path = BUNDLE / "docs" / "training_info.json"
        record = json.loads(info_path.read_text()) if info_path.is_file() else {}
        record = record if "stages" in record else {"stages": {}}
        for stage in STAGES:
            if stage not in stages:
                continue
            if stage == "refinement" and not diffusion_ckpt.is_file():
                raise RuntimeError(f"the refinement stage starts from {diffusion_ckpt}: run the diffusion stage first")
            overrides, target_name = plan[stage]
            configs = ["diffusion_only.json"] if stage == "diffusion" else []
            paths = {"init_ckpt_path": diffusion_ckpt} if stage == "refinement" else None
            best, elapsed = _run_bundle(configs, output / stage, overrides + common, args.tracking, paths)
            info = {
                "command": command, "stage_configs": ["train.json", *configs], "stage_overrides": " ".join(overrides + common), "wall_time_s_this_invocation": round(elapsed, 1),
                "hardware": _hardware(), "torch": torch.__version__, "checkpoint_bytes": best.stat().st_size,
            }
            (output / stage / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
            print(json.dumps({stage: info}, indent=2), flush=True)
            if not args.no_install:
                target = BUNDLE / "models" / target_name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(best, target)
                record["stages"][stage] = info | {"installed_as": f"models/{target_name}"}
                info_path.parent.mkdir(parents=True, exist_ok=True)
                info_path.write_text(json.dumps(record, indent=2) + "\n")
                print(f"installed {target} ({info['checkpoint_bytes']} bytes); training info in {info_path}", flush=True)
    except RuntimeError as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
