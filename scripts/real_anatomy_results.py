"""Every method on the cells of the real-anatomy benchmark: docs/results/real_anatomy.md, its figures, and one MLflow run per method.

Classical methods are tuned per cell on the validation slab by the one tuner; BM3D+rc is BM3D told the true level
with b tuned there. Learned baselines trained for the same wall-clock budget are read from --runs (train them
first, one command each, with the budget written on the page):

    python scripts/train_real_scan.py --network pde   --time-budget 900 --output-dir runs/real_anatomy/neural_pde
    python scripts/train_real_scan.py --network dncnn --time-budget 900 --output-dir runs/real_anatomy/dncnn
    python scripts/train_real_scan.py --network unet  --time-budget 900 --output-dir runs/real_anatomy/unet
    python scripts/train_real_scan.py --network NAME  --time-budget 900 --output-dir runs/real_anatomy/NAME   # NAME: pm_exponential, ka, foe_s

Usage:
    python scripts/real_anatomy_results.py [--quick] [--runs runs/real_anatomy] [--classical gaussian tv nlm wavelet]
    python scripts/real_anatomy_results.py --render-only     # the page again from docs/results/real_anatomy.json

--render-only describes every row as the JSON stored it when the rows were measured (the shipped model's name,
parameters, cost and training; the budget runs' training), not from the bundle or the runs folder as they are now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL, REAL_ANATOMY_LEVELS, REAL_ANATOMY_SHIFTS, REAL_ANATOMY_VOLUMES, real_anatomy_cell
from monai_nad.experiments.evaluation import benchmark_cells, classical_tuner, network_slices
from monai_nad.experiments.real_anatomy_report import log_methods, qualitative_panel, quality_time_figure, render_page
from monai_nad.experiments.real_anatomy_setup import figures, learned_methods, preamble, render_record
from monai_nad.experiments.records import RecordError, read_record, write_record

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "real_anatomy", help="folder of the budget-trained baselines")
    parser.add_argument("--classical", nargs="*", default=["gaussian", "tv", "nlm", "wavelet"], help="classical methods (+rc), tuned per cell")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "real_anatomy.md")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default sqlite:///<runs>/mlflow.db)")
    parser.add_argument("--quick", action="store_true", help="2 slices per cell and 3 cells: checks the pipeline")
    parser.add_argument("--render-only", action="store_true", help="re-render the page and the Pareto figure from <out>.json (no evaluation)")
    parser.add_argument("--note", action="append", default=[], metavar="METHOD=TEXT",
                        help="with --render-only: add a note to a method's row (e.g. a condition of its measurement), kept in <out>.json")
    args = parser.parse_args(argv)
    out = args.out
    if args.render_only:  # every row described as the record stores it: nothing is read from the bundle or the runs now
        try:
            saved = read_record(out.with_suffix(".json"), keys=("command", "rows", "methods"))
        except RecordError as err:
            print(f"real_anatomy_results: error: {err}", file=sys.stderr)
            return 2
        for note in args.note:
            method, _, text = note.partition("=")
            if method not in saved["methods"] or not text:
                print(f"real_anatomy_results: error: --note {note!r}: expected METHOD=TEXT with a method of the page", file=sys.stderr)
                return 2
            saved["methods"][method]["note"] = text
        if args.note:
            write_record(out.with_suffix(".json"), saved, indent=2, default=str)
        render_record(saved, out)
        return 0
    torch.set_num_threads(1)
    try:
        nets, info = learned_methods(args.runs)
    except (FileNotFoundError, ValueError) as err:
        print(f"real_anatomy_results: error: {err}", file=sys.stderr)
        return 2
    pareto, panel = out.with_name(out.stem + "_pareto.png"), out.with_name(out.stem + "_cortex.png")
    methods = {name: (lambda noisy, noise_std, net=net: network_slices(net, noisy)) for name, net in nets.items()}
    tuned = {f"{name}_rc": classical_tuner(name) for name in args.classical}
    info.update({f"{name}_rc": {"kind": "classical", "training": "tuned per cell on validation", "parameters": 0} for name in args.classical})
    info["bm3d_rc"] = {"kind": "classical", "training": "true sigma, b tuned per cell on validation", "parameters": 0}
    cells = [(v, s, lv) for v in REAL_ANATOMY_VOLUMES for s in REAL_ANATOMY_SHIFTS for lv in REAL_ANATOMY_LEVELS]
    cells += [(v, None, NEAR_CLEAN_LEVEL) for v in REAL_ANATOMY_VOLUMES]
    if args.quick:
        cells = [("colin27", None, 0.1), ("mni", "inverted", 0.05), ("colin27", None, NEAR_CLEAN_LEVEL)]
    outputs: dict = {}
    rows = benchmark_cells(cells, methods, tuned, limit=2 if args.quick else None, tune_near_clean=True, outputs=outputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python scripts/real_anatomy_results.py", *(sys.argv[1:] if argv is None else argv)])
    write_record(out.with_suffix(".json"), {"command": command, "rows": rows, "methods": info}, indent=2, default=str)
    log_methods(rows, info, args.tracking_uri or f"sqlite:///{(args.runs / 'mlflow.db').resolve()}")
    quality_time_figure(rows, pareto)
    noisy, clean, zs = real_anatomy_cell("colin27", None, 0.1, "test")
    crops = {"clean": clean[0], "noisy (s = 0.10)": noisy[0]} | {m: img for (c, m), img in outputs.items() if c == "colin27_asis_0.10"}
    qualitative_panel(crops, (slice(20, 100), slice(100, 180)), panel, f"Colin27 as is, s = 0.10, z = {int(zs[0])}: cortex crop")
    out.write_text(render_page(rows, info, command, preamble(info, rows), figures(out)))
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
