"""The scanner-noise benchmark: the shipped models blind against BM3D told the true noise, on the 32 cells.

Writes ``scanner_noise.json`` (the rows), ``scanner_noise.md`` (the page) and ``scanner_noise.png`` (one MNI test
slice at s = 0.05 per condition) into ``--output-dir``. Run it on one thread (``OMP_NUM_THREADS=1``); the whole
benchmark is about 50 BM3D calls per cell, 1-1.5 h on one core.

Usage:
    python scripts/benchmark_scanner_noise.py                                   # the benchmark
    python scripts/benchmark_scanner_noise.py --limit 1 --cells 'mni_asis_filtered_0.05' --methods neural_pde_2d dipy_nlmeans_std_map
    python scripts/benchmark_scanner_noise.py --render-only                     # the page again from scanner_noise.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monai_nad.bundle import default_bundle
from monai_nad.experiments import scanner_benchmark as sb
from monai_nad.experiments.model_card import replace_card_section
from monai_nad.experiments.records import RecordError, add_cell_arguments, add_record_arguments, earlier_record, invocation, merge_update, selected_cells, write_record

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    add_cell_arguments(parser, "slices per split (test and validation): a quick run", "'mni_*_sos8_*'")
    parser.add_argument("--methods", nargs="+", choices=sb.SCANNER_METHODS, default=list(sb.SCANNER_METHODS))
    parser.add_argument("--white-factors", nargs="+", type=float, default=list(sb.WHITE_FACTORS), help="the factors bm3d_white may choose from")
    add_record_arguments(parser, "the other methods' rows")
    args = parser.parse_args(argv)
    store, page, figure = (args.output_dir / f"scanner_noise.{ext}" for ext in ("json", "md", "png"))
    if not args.render_only:
        cells = selected_cells(parser, args.limit, lambda: sb.select_cells(args.cells))
    try:
        earlier = earlier_record(store, args)
    except RecordError as err:
        print(f"benchmark_scanner_noise: error: {err}", file=sys.stderr)
        return 2
    if args.render_only:
        record = earlier
    else:
        outputs: dict = {}
        rows = sb.run_scanner_benchmark(cells, args.methods, args.limit, args.white_factors, outputs=outputs, log=lambda m: print(m, flush=True))
        settings = {"limit": args.limit, "white_factors": args.white_factors, "methods": args.methods, "notes": args.note}
        # rows of methods the benchmark no longer has (renamed or dropped) go; the other methods' rows stay
        record = merge_update(earlier, rows, invocation("scripts/benchmark_scanner_noise.py", argv), settings, known=sb.SCANNER_METHODS)
        write_record(store, record)
        panels = {}
        for cell in cells:  # the figure: the first test slice (z = 90) of the MNI as-is cells at s = 0.05
            volume, shift, condition, noise_std = sb._KEYS[cell.name]
            if volume == "mni" and shift is None and noise_std == 0.05:
                noisy, reference = cell.load("test")
                panels[condition] = {"reference": reference[0], "noisy": noisy[0]}
                panels[condition].update({m: outputs[cell.name, m] for m in (sb.BLIND, sb.ANCHOR) if (cell.name, m) in outputs})
        if panels and (not args.update or all(sb.ANCHOR in panel for panel in panels.values())):  # an --update of our rows keeps the figure
            sb.scanner_figure(panels, figure)
    summary = sb.summarise_scanner(record["rows"])
    text = sb.render_scanner_page(record["rows"], summary, record["command"], record["settings"], figure.name if figure.is_file() else None)
    page.write_text(text)
    card = sb.scanner_card_section(summary, record["command"])
    if card is not None and args.output_dir.resolve() == (ROOT / "docs" / "results").resolve() and not record["settings"].get("limit"):
        replace_card_section(default_bundle() / "docs" / "README.md", "scanner-noise", card)
    print(text)
    print(f"wrote {store} and {page}" + (f" and {figure}" if figure.is_file() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
