"""Why DiffDenoise's diffusion stage scores below its own blind-spot condition: measurements on the shipped networks.

Writes ``docs/results/diffdenoise_diagnosis.md`` (and ``--json``) from :mod:`monai_nad.experiments.diffdenoise_diagnosis`: the
training-loss record (if the MLflow store of the shipped run exists), the noise-prediction error per timestep on
held-out noisy MNI validation patches, the truncated and full DDIM chains (one run and SRDS) with the shipped and
the aligned timestep grids. About a minute on one CPU thread with the defaults; nothing is trained.

``--retrained DIR`` also measures a retrained diffusion network on the same patches and adds the page's section on
it; ``DIR`` holds its float16 weights and its training record, made once from the training run by ``--export-run``
(which writes nothing else). ``--diffusion`` measures another diffusion checkpoint in place of the shipped one (for
short probe trainings; write their ``--json`` and ``--output`` outside the repository's pages). The page as committed
measures the diffusion weights the bundle shipped before the retraining was installed (kept in
``docs/results/diffdenoise_original``, with the blind-spot network of bundles 0.1.0 to 0.3.0 they were trained with) at
their truncation (``--start-step 150``):

    OMP_NUM_THREADS=1 python scripts/diagnose_diffdenoise.py --diffusion docs/results/diffdenoise_original/diffusion.pt \
        --bsn docs/results/diffdenoise_original/bsn.pt --start-step 150 --retrained docs/results/diffdenoise_retrained \
        --slices 8 --conditions ...

Usage:
    OMP_NUM_THREADS=1 python scripts/diagnose_diffdenoise.py
    OMP_NUM_THREADS=1 python scripts/diagnose_diffdenoise.py --retrained docs/results/diffdenoise_retrained
    python scripts/diagnose_diffdenoise.py --export-run runs/dd_indep --retrained docs/results/diffdenoise_retrained \
        --training-commands docs/results/diffdenoise_retrained/train.sh [--probe LABEL=diagnosis.json ...]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from monai_nad.bundle import find_reproduction
from monai_nad.experiments.diffdenoise_diagnosis import CONDITIONS, export_retraining, measure, render

BUNDLE = find_reproduction("diffdenoise")
ROOT = Path(__file__).resolve().parents[1]
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--conditions", nargs="+", default=CONDITIONS)
    parser.add_argument("--slices", type=int, default=2, help="validation slices per condition")
    parser.add_argument("--patches-per-slice", type=int, default=2)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[5, 15, 30, 50, 100, 150, 300, 600])
    parser.add_argument("--start-steps", nargs="+", default=["50", "150", "300", "none"], help="truncation points; 'none' = full chain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mlflow-db", type=Path, default=BUNDLE / "runs" / "mlruns.db", help="the shipped training's MLflow store")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "results" / "diffdenoise_diagnosis.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw measurements")
    parser.add_argument("--diffusion", type=Path, default=None, help="measure this diffusion checkpoint instead of the shipped one")
    parser.add_argument("--bsn", type=Path, default=None,
                        help="the blind-spot network those diffusion weights were trained with, instead of the shipped one")
    parser.add_argument("--start-step", type=int, default=None,
                        help="the truncation the page's text and its SRDS noise correlation refer to (default: the bundle's start_step)")
    parser.add_argument("--retrained", type=Path, default=None, help="a retraining's record folder (weights + record.json) to measure too")
    parser.add_argument("--export-run", type=Path, default=None, help="only write --retrained from this training run's output dir")
    parser.add_argument("--training-commands", type=Path, default=None, help="with --export-run: a shell file of the commands that trained the run")
    parser.add_argument("--probe", action="append", default=[], metavar="LABEL=JSON", help="with --export-run: a probe's diagnosis --json")
    args = parser.parse_args(argv)
    if args.export_run is not None:
        if args.retrained is None:
            parser.error("--export-run needs --retrained (the record folder to write)")
        probes = dict(item.split("=", 1) for item in args.probe)
        export = "python scripts/diagnose_diffdenoise.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        commands = args.training_commands.read_text().strip() if args.training_commands is not None else ""
        record = export_retraining(args.export_run, args.retrained, commands, {k: Path(v) for k, v in probes.items()}, export_command=export)
        print(f"wrote {args.retrained}: {record['steps']} steps, {record['training_seconds'] / 60:.1f} min of training")
        return 0
    args.start_steps = [None if s.lower() == "none" else int(s) for s in args.start_steps]
    command = "OMP_NUM_THREADS=1 python scripts/diagnose_diffdenoise.py" + ("" if argv is None and len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:] if argv is None else argv))
    start = time.time()
    res = measure(args)
    seconds = time.time() - start
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(res, args, command, seconds))
    print(f"wrote {args.output} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
