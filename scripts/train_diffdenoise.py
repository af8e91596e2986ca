"""Train the DiffDenoise bundle's three stages on noisy MNI slices only, and optionally install the weights.

Runs ``bundles/reproductions/diffdenoise/configs/train_{bsn,diffusion,student}.json`` (each merged after ``common.json``) through
``python -m monai.bundle run`` with MLflow tracking (experiment ``diffdenoise`` of ``<output-dir>/mlruns.db``), in
order: the blind-spot network, the diffusion model conditioned on it, then the student distilled from the
SRDS outputs. Each stage resumes from its last epoch when started again with the same ``--output-dir``; a finished
stage (its ``model.pt`` exists) is skipped. ``--install`` copies the three weight files into ``models/`` (the
diffusion U-Net and the student in float16 to keep the bundle small) and records times and hardware in ``docs/training_info.json``.

Usage:
    python scripts/train_diffdenoise.py --install                 # the shipped weights (about 45 min on 2 CPU cores)
    python scripts/train_diffdenoise.py --quick --output-dir /tmp/dd   # a tiny end-to-end check, about a minute
    B=bundles/reproductions/diffdenoise/models   # a retrained diffusion network: re-distil the student and install
    python scripts/train_diffdenoise.py --weights bsn=$B/bsn.pt diffusion=docs/results/diffdenoise_retrained/diffusion.pt \
        --output-dir runs/dd_redistil --install

``--weights STAGE=PATH`` gives the weights of a stage (``bsn`` or ``diffusion``) instead of training it: the later stages
read them and ``--install`` copies them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monai_nad.bundle import find_reproduction
from monai_nad.diffdenoise.training import TRAINING_STAGES, StageFailed, check_stage_weights, install_diffdenoise, stage_epochs, train_diffdenoise

BUNDLE = find_reproduction("diffdenoise")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=BUNDLE / "runs")
    parser.add_argument("--stages", nargs="+", choices=TRAINING_STAGES, default=list(TRAINING_STAGES))
    parser.add_argument("--quick", action="store_true", help="tiny data and budgets: checks the pipeline end to end")
    parser.add_argument("--install", action="store_true", help="copy the trained weights into the bundle's models/")
    parser.add_argument("--weights", nargs="+", default=[], metavar="STAGE=PATH",
                        help="weights of a stage that is not trained (bsn, diffusion), e.g. diffusion=docs/results/diffdenoise_retrained/diffusion.pt")
    args, extra = parser.parse_known_args(argv)
    try:
        pairs = [item.split("=", 1) for item in args.weights]
        if any(len(pair) != 2 or not pair[1] for pair in pairs):
            raise ValueError(f"--weights takes STAGE=PATH items, got {' '.join(args.weights)}")
        weights = check_stage_weights(dict(pairs), BUNDLE, extra)
    except (ValueError, FileNotFoundError) as err:
        print(f"train_diffdenoise: error: {err}", file=sys.stderr)
        return 2
    try:
        seconds = train_diffdenoise(BUNDLE, args.output_dir, args.stages, args.quick, extra, weights)
    except StageFailed as err:
        print(err, file=sys.stderr)
        return err.returncode
    if args.install:
        command = "python scripts/train_diffdenoise.py " + " ".join(sys.argv[1:] if argv is None else argv)
        try:
            epochs = {stage: stage_epochs(stage, args.quick, extra) for stage in seconds}
            install_diffdenoise(BUNDLE, args.output_dir, seconds, args.quick, command, weights, epochs)
        except (FileNotFoundError, ValueError) as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
