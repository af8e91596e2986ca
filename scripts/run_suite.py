"""Run an experiment suite (``configs/suites/<name>.json``) and record every method as one MLflow run.

Suites: ``comparison``, ``unet_baseline``, ``noise_sweep``, ``ablation``, ``self_supervised`` on MNI, and ``br35h``
(``--data br35h --root DIR``: any folder laid out like Br35H, networks trained on it). Every method sees the same fixed-seed
noisy MNI test slices and is scored by the same code (``monai_nad.metrics.median_scores``: median PSNR, SSIM,
foreground PSNR and edge MSE; outputs clipped to [0, 1]); timings are medians per slice on one thread in the same
run. Classical methods use the parameters ``scripts/tune_baselines.py`` chose on the validation slab
(``configs/baselines_tuned.json``). Learned methods: the shipped Neural PDE bundle, the U-Net and DnCNN-style baselines
trained with the real-scan recipe for one wall-clock budget (``--budget-runs``, the runs of the real-anatomy page), and
the diffusivity family of ``scripts/train_diffusivity_family.py``. The ablation suite trains its configurations
itself through the bundle (finished ones are reused).

Runs go to the experiment ``<suite>`` of the SQLite store ``runs/suites/mlflow.db``; ``monai-nad compare --suite
<suite>`` turns them into ``docs/results/<suite>.md`` and figures.

Usage:
    python scripts/run_suite.py --suite comparison
    python scripts/run_suite.py --suite ablation --quick --output-dir /tmp/suites   # tiny budget, minutes
    python scripts/run_suite.py --data br35h --root ~/data/Br35H                     # the seed's experiment on Br35H
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402

from monai_nad.experiments import SUITES  # noqa: E402
from monai_nad.experiments.suites import ROOT, RUNNERS, Context  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=SUITES + ("all",), help="required unless --data br35h (which runs the br35h suite)")
    parser.add_argument("--data", choices=["mni", "br35h"], default="mni", help="mni: the suites on the MNI template; br35h: the Br35H suite")
    parser.add_argument("--root", type=Path, default=None, help="the Br35H-like folder (yes/ and no/ of JPEG/PNG slices)")
    parser.add_argument("--quick", action="store_true", help="2 test slices, few methods, tiny training budgets")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "runs" / "suites")
    parser.add_argument("--tuned", type=Path, default=ROOT / "configs" / "baselines_tuned.json")
    parser.add_argument("--budget-runs", type=Path, default=ROOT / "runs" / "real_anatomy",
                        help="the networks trained for one wall-clock budget (scripts/real_anatomy_results.py names the commands)")
    parser.add_argument("--variants", nargs="+", default=None, help="ablation: only these configurations (e.g. to split the work)")
    parser.add_argument("--only", nargs="+", default=None, help="self_supervised, noise_sweep: only these methods (e.g. to split the work, or to re-run one retrained model)")
    parser.add_argument("--family-runs", type=Path, default=ROOT / "runs" / "diffusivity_family")
    args = parser.parse_args(argv)
    if args.data == "br35h":
        if args.suite not in (None, "br35h"):
            parser.error("--data br35h runs the br35h suite; drop --suite or give --suite br35h")
        args.suite = "br35h"
    if args.suite is None:
        parser.error("give --suite (or --data br35h --root DIR)")
    if args.suite == "br35h" and (args.root is None or not args.root.is_dir()):
        parser.error(f"the br35h suite needs --root DIR, an existing Br35H-like folder (got {args.root})")
    torch.set_num_threads(1)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(args)
    chosen = [name for name in SUITES if name != "br35h" or args.root is not None] if args.suite == "all" else [args.suite]
    for suite in chosen:
        cfg = json.loads((ROOT / "configs" / "suites" / f"{suite}.json").read_text())
        ctx.limit = cfg["quick"]["limit"] if args.quick else cfg.get("limit")
        ctx.description = cfg["description"]
        start = time.time()
        RUNNERS[suite](cfg, ctx)
        print(f"[{suite}] done in {time.time() - start:.0f} s; runs in {ctx.tracking_uri}, experiment {suite!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
