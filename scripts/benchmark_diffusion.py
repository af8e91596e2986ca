"""The diffusion benchmark (diffusion MRI series): DIPY's MP-PCA, Patch2Self, local PCA and non-local means against the shipped
models run volume by volume, on the 4 cells of the diffusion phantom.

Writes ``diffusion.json`` (the rows), ``diffusion.md`` (the page) and ``diffusion.png`` (a b = 1000 volume and the FA
map of the middle test slice of ``rician_snr10``) into ``--output-dir``. Run it on one thread (``OMP_NUM_THREADS=1``).

Usage:
    OMP_NUM_THREADS=1 python scripts/benchmark_diffusion.py                      # the benchmark
    python scripts/benchmark_diffusion.py --limit 5 --cells rician_snr10 --methods neural_pde_3d dipy_patch2self --output-dir /tmp/quick
    python scripts/benchmark_diffusion.py --render-only                          # the page again from diffusion.json
    OMP_NUM_THREADS=1 python scripts/benchmark_diffusion.py --update --methods neural_pde_3d_guided   # re-run some methods
    OMP_NUM_THREADS=1 python scripts/benchmark_diffusion.py --figure-only --methods dipy_mppca dipy_patch2self neural_pde_series
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monai_nad.data.dwi_phantom import dwi_gradient_table
from monai_nad.experiments import diffusion_benchmark as db
from monai_nad.experiments.records import RecordError, add_cell_arguments, add_record_arguments, earlier_record, invocation, merge_update, selected_cells, write_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    add_cell_arguments(parser, "2 mm slices per split (test and validation): a quick run", "'sos4_*'")
    parser.add_argument("--methods", nargs="+", choices=db.DIFFUSION_METHODS, default=list(db.DIFFUSION_METHODS))
    parser.add_argument("--bundle", type=Path, default=None, help="the bundle of the shipped models (default: the installed one)")
    add_record_arguments(parser, "the other rows and the figure")
    parser.add_argument("--figure-only", action="store_true",
                        help=f"redraw only the figure from --methods run on {db.FIGURE_CELL}'s test series (the record and its rows stay)")
    args = parser.parse_args(argv)
    store, page, figure = (args.output_dir / f"diffusion.{ext}" for ext in ("json", "md", "png"))
    if args.figure_only:
        return _figure_only(args, figure)
    if not args.render_only:
        cells = selected_cells(parser, args.limit, lambda: db.select_cells(args.cells, args.limit))
    try:
        earlier = earlier_record(store, args)
    except RecordError as err:
        print(f"benchmark_diffusion: error: {err}", file=sys.stderr)
        return 2
    if args.render_only:
        record = earlier
    else:
        outputs: dict = {}
        rows = db.run_diffusion_benchmark(cells, args.methods, args.bundle, outputs=outputs, log=lambda m: print(m, flush=True))
        settings = {"limit": args.limit, "methods": args.methods, "all_cells": len(cells) == len(db.diffusion_cell_keys()), "notes": args.note}
        record = merge_update(earlier, rows, invocation("scripts/benchmark_diffusion.py", argv), settings)
        write_record(store, record)
        figure_cell = next((c for c in cells if c.name == db.FIGURE_CELL), None)
        if figure_cell is not None and outputs and not args.update:
            _draw(figure_cell, outputs, figure)
    real_store = args.output_dir / "diffusion_real.json"  # the real-data check (scripts/diffusion_real_residuals.py), if run
    real = json.loads(real_store.read_text()) if real_store.is_file() else None
    text = db.render_diffusion_page(record["rows"], record["command"], record["settings"], figure.name if figure.is_file() else None, real=real)
    page.write_text(text)
    print(text)
    print(f"wrote {store} and {page}" + (f" and {figure}" if figure.is_file() else ""))
    return 0


_PANELS = {"dipy_mppca": "MP-PCA", "dipy_patch2self": "Patch2Self", "neural_pde_3d": "ours (volume model)", "neural_pde_series": "ours (series)"}


def _draw(cell, outputs: dict, figure: Path) -> None:
    """The figure: clean, noisy and the methods' outputs of the middle test slice of ``cell``."""
    noisy, clean = cell.load("test")
    z = min(5, clean.shape[3] - 1)
    panels = {"clean": clean[0][:, :, z], "noisy": noisy[0][:, :, z]}
    panels |= {label: outputs[db.FIGURE_CELL, m] for m, label in _PANELS.items() if (db.FIGURE_CELL, m) in outputs}
    db.diffusion_figure(panels, *dwi_gradient_table(), figure)


def _figure_only(args: argparse.Namespace, figure: Path) -> int:
    """Run ``args.methods`` on the figure's cell only and redraw the figure (no rows are written)."""
    cell = db.select_cells([db.FIGURE_CELL], args.limit)[0]
    outputs: dict = {}
    db.run_diffusion_benchmark([cell], args.methods, args.bundle, outputs=outputs, log=lambda m: print(m, flush=True))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    _draw(cell, outputs, figure)
    print(f"wrote {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
