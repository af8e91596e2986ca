"""Evaluate the trained learned-diffusivity family: ``docs/results/diffusivity_family.md``, its JSON and figures.

Reads the members ``scripts/train_diffusivity_family.py`` trained (``RUNS/<variant>_<noise>/``) and scores them,
BM3D(+rc) and the shipped Neural PDE on the same MNI test inputs (:func:`monai_nad.experiments.diffusivity_family.family_results`);
the test metrics are also logged into each member's MLflow run
(``mlflow ui --backend-store-uri sqlite:///runs/diffusivity_family/mlflow.db``).

Usage:
    python scripts/diffusivity_family_results.py [--runs runs/diffusivity_family] [--out docs/results] [--limit N] [--no-bm3d]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from monai_nad.experiments.diffusivity_family import DEFAULT_OUTPUT, ROOT, family_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N slices")
    parser.add_argument("--no-bm3d", action="store_true", help="skip the BM3D references (fast checks)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = " ".join(["python scripts/diffusivity_family_results.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        results = family_results(args.runs, args.out, args.limit, not args.no_bm3d, command)
    except FileNotFoundError as err:
        print(f"diffusivity_family_results: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / 'diffusivity_family.md'}; test metrics logged to {results['mlflow_runs_updated']} MLflow runs")
    print(results["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
