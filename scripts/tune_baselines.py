"""Tune every classical baseline's free parameters on the MNI validation slab, per noise model and level.

For each method of ``monai_nad.baselines.BASELINES`` and each level, a grid search (the method's grid, and for
Rician noise also the bias-correction strength ``b``) picks the settings with the best median whole-slice PSNR
on the validation slab (z in [80, 90), fixed-seed noise); the test slab is never used. The chosen values are
recorded in ``configs/baselines_tuned.json`` (merged with what is already there, so levels can be added later),
which the experiment suites read.

Usage:
    python scripts/tune_baselines.py                                  # Rician 0.05/0.10/0.15, Gaussian 15/25/50
    python scripts/tune_baselines.py --noise rician --noise-stds 0.02 0.2 --methods bm3d nlm dipy_nlm
    python scripts/tune_baselines.py --quick --out /tmp/tuned.json    # 2 slices, 2 methods: a smoke test
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

from monai_nad.baselines import BASELINES, tune_baseline  # noqa: E402
from monai_nad.data import mni_eval_arrays  # noqa: E402
from monai_nad.experiments import level_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "configs" / "baselines_tuned.json"
DEFAULT_SETTINGS = {"rician": (0.05, 0.10, 0.15), "gaussian": (15 / 255, 25 / 255, 50 / 255)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noise", choices=sorted(DEFAULT_SETTINGS), nargs="+", default=sorted(DEFAULT_SETTINGS))
    parser.add_argument("--noise-stds", "--levels", dest="noise_stds", type=float, nargs="+", default=None,
                        help="the noise stds to tune at; default: the benchmark's levels of each noise")
    slice_methods = sorted(n for n, b in BASELINES.items() if 2 in b.dims)  # tuned here on 2D slices
    parser.add_argument("--methods", nargs="+", default=slice_methods, choices=slice_methods)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="2 validation slices and 2 methods (not a result)")
    args = parser.parse_args(argv)
    methods = ["tv", "gaussian"] if args.quick else args.methods
    limit = 2 if args.quick else None
    tuned = json.loads(args.out.read_text()) if args.out.is_file() else {}
    tuned.setdefault("_about", {})
    tuned["_about"] = {
        "command": "python scripts/tune_baselines.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip(),
        "criterion": "median whole-slice PSNR on the MNI validation slab (z 80-89), fixed-seed noise, seed 0",
        "quick": args.quick,
    }
    for noise in args.noise:
        for noise_std in args.noise_stds or DEFAULT_SETTINGS[noise]:
            noisy, clean = mni_eval_arrays("validation", noise_std, noise=noise, limit=limit)
            for method in methods:
                start = time.time()
                result = tune_baseline(method, noisy, clean, noise_std, rician=noise == "rician")
                result["seconds"] = round(time.time() - start, 1)
                tuned.setdefault(noise, {}).setdefault(level_key(noise_std), {})[method] = result
                print(f"{noise} {level_key(noise_std)} {method}: {json.dumps(result)}", flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(tuned, indent=2, sort_keys=True) + "\n")  # keep partial progress
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
