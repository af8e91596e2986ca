"""The volume benchmark: the test slabs as volumes against BM4D+rc and DIPY nlmeans, whole-volume time and memory.

Writes ``docs/results/volumes.md``, ``volumes.json`` and ``volumes_views.png`` and one MLflow run per method
(``runs/volumes/mlflow.db``). Parts can be run separately; each run merges its rows into ``volumes.json``
(a later row of the same cell and method replaces the earlier one).

Usage:
    python scripts/benchmark_volumes.py                      # everything (about 45 min on one core)
    python scripts/benchmark_volumes.py --parts cells --methods bm4d_rc   # one part, one method
    python scripts/benchmark_volumes.py --render-only        # re-render the page from volumes.json
    python scripts/benchmark_volumes.py --quick --out /tmp/v # 2 slices per slab, no BM4D, no whole volume (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monai_nad.bundle import default_bundle
from monai_nad.data.real_anatomy import load_volume
from monai_nad.experiments import volume_benchmark as vb
from monai_nad.experiments.tracking import sqlite_uri
from monai_nad.experiments.model_card import replace_card_section
from monai_nad.experiments.records import invocation, merge_rows, write_record
from monai_nad.experiments.volume_report import card_section, log_volume_runs, render_volume_page

PARTS = ("cells", "other", "thick", "timing", "large")
BUNDLE = default_bundle()
METHODS = ("neural_pde_2d", "neural_pde_3d", "neural_pde_3d_2pass", "dipy_nlmeans", "bm4d_rc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--store", type=Path, default=Path("runs/volumes/mlflow.db"))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods of the cell table")
    parser.add_argument("--repeats", type=int, default=3, help="whole-volume timing runs per method (median)")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2 slices per slab, no BM4D/whole volume/large volume")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "volumes.json"
    data = json.loads(store.read_text()) if store.is_file() else {"rows": [], "thick": [], "timing": [], "large": None}
    data["rows"] = [r for r in data["rows"] if r["method"] in METHODS]  # rows of methods since renamed are dropped
    command = invocation("scripts/benchmark_volumes.py", argv)
    if not args.render_only:
        data["commands"] = [c for c in data.get("commands", []) if c != command] + [command]
        parts = ["cells", "other", "thick"] if args.quick else args.parts
        if "cells" in parts:
            methods = {k: v for k, v in vb.volume_methods().items() if k in args.methods}
            tuned = {"bm4d_rc": vb.BM4D_RC} if "bm4d_rc" in args.methods and not args.quick else {}
            new = vb.benchmark_cells(vb.volume_cells(), methods, tuned=tuned, bm3d=False, limit=2 if args.quick else None)
            data["rows"] = merge_rows(data["rows"], new)
        if "other" in parts:
            data["other"] = vb.run_other_cells(limit=2 if args.quick else None, bm4d=not args.quick)
        if "thick" in parts:
            data["thick"] = vb.thick_slice_rows(steps=(1, 2) if args.quick else (1, 2, 3))
        if "timing" in parts:
            data["timing"] = vb.whole_volume_timing(Path("runs/volumes/whole"), repeats=args.repeats)
        if "large" in parts:
            data["large"] = vb.large_volume_memory(Path("runs/volumes/large"))
        if data["rows"]:
            args.store.parent.mkdir(parents=True, exist_ok=True)
            log_volume_runs(data["rows"], data["timing"], sqlite_uri(args.store))
        write_record(store, data)
    figure = None
    outputs = {r["method"]: r["output"] for r in data["timing"] if Path(r["output"]).is_file() and r["method"] in ("neural_pde_2d", "neural_pde_3d", "dipy_nlmeans")}
    noisy = Path("runs/volumes/whole/colin27_s0.10.nii.gz")
    if outputs and noisy.is_file():
        vb.orthogonal_views(outputs, load_volume("colin27"), noisy, args.out / "volumes_views.png", "Colin27, Rician s = 0.10")
    if (args.out / "volumes_views.png").is_file():
        figure = "volumes_views.png"
    commands = data.get("commands") or ["python scripts/benchmark_volumes.py"]
    page = render_volume_page(data["rows"], data["thick"], data["timing"], data["large"], "`, then `".join(commands), figure,
                              other=data.get("other", []))
    (args.out / "volumes.md").write_text(page)
    if args.out == Path("docs/results") and data["rows"]:  # the model card's table comes from the same record
        replace_card_section(BUNDLE / "docs" / "README.md", "volumes", card_section(data["rows"], data["timing"], data["large"], "python scripts/benchmark_volumes.py"))
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
