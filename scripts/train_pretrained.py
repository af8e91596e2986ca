"""Train the v0.2 Neural PDE (the reproduction ``bundles/reproductions/neural_pde_v0.2``) on MNI-Rician and install it.

Every stage runs that bundle's ``train.json`` through ``python -m monai.bundle run`` and keeps its best-validation
checkpoint. The v0.2 model is trained in two stages (the shipped model comes from ``scripts/train_real_scan.py``):

1. ``diffusion``: the diffusion alone (``train.json`` + ``bundles/reproductions/diffusion_only/configs/diffusion_only.json``:
   no refinement head), lr 2e-3, the hybrid loss without its log-MSE term (``--loss#log_mse_weight 0``),
   ``--diffusion-epochs`` epochs; installed as ``bundles/reproductions/diffusion_only/models/model.pt`` (the pure PDE,
   with its maximum principle).
2. ``refinement``: the full network of ``train.json`` (diffusion + residual refinement head), initialised from
   stage 1 (``--init_ckpt_path``; the new head starts as the identity, see ``monai_nad.engines.warm_start``), every
   part fine-tuned at lr 5e-4 for ``--refinement-epochs`` epochs with the loss of ``train.json`` (including the
   per-image log-MSE term that weighs low-noise images as much as noisy ones); installed as
   ``bundles/reproductions/neural_pde_v0.2/models/model.pt``.

The training time and hardware of each stage are recorded in that bundle's ``docs/training_info.json``. Interrupted
stages resume from their last epoch when started again with the same ``--output-dir``; finished stages are skipped.

With ``--extra-config`` (a config file, e.g. ``bundles/reproductions/baselines/configs/unet_baseline.json``, or the name
of a config of the v0.2 bundle) one run of ``train.json`` merged with those configs is made instead (``--max-epochs``),
and nothing is installed.

Usage:
    python scripts/train_pretrained.py [--diffusion-epochs 70] [--refinement-epochs 50] [--stages diffusion,refinement]
    python scripts/train_pretrained.py --extra-config bundles/reproductions/baselines/configs/unet_baseline.json \
        --output-dir runs/unet_baseline --max-epochs 70
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monai_nad.bundle import find_reproduction
from monai_nad.engines.bundle_training import PRETRAINED_STAGES as STAGES
from monai_nad.engines.bundle_training import check_stages, train_pretrained_stages, train_with_extra_configs

BUNDLE = find_reproduction("neural_pde_v0.2")


def extra_config(value: str) -> str | Path:
    """An ``--extra-config``: a config file (made absolute), or the name of a config of the v0.2 bundle."""
    return Path(value).resolve() if Path(value).is_file() else value


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
        help="a config file merged after train.json, e.g. bundles/reproductions/baselines/configs/unet_baseline.json "
             "(one run; implies --no-install)",
    )
    args, extra = parser.parse_known_args(argv)
    command = " ".join([Path(sys.executable).name, "scripts/train_pretrained.py"] + (argv if argv is not None else sys.argv[1:]))
    output = Path(args.output_dir)
    common = ["--val_interval", str(args.val_interval), *extra]
    try:
        if args.extra_config:
            configs = [extra_config(value) for value in args.extra_config]
            train_with_extra_configs(BUNDLE, configs, output, args.max_epochs, common, args.tracking, command)
            return 0
        try:
            stages = check_stages(args.stages.split(","))
        except ValueError as err:
            parser.error(str(err))
        train_pretrained_stages(
            BUNDLE, output, stages, command, diffusion_epochs=args.diffusion_epochs, refinement_epochs=args.refinement_epochs,
            refinement_lr=args.refinement_lr, overrides=common, tracking=args.tracking, install=not args.no_install,
        )
    except RuntimeError as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
