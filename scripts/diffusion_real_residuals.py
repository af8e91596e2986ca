"""The real-data check of the series path: residuals (noisy minus denoised) of MP-PCA, Patch2Self and ``monai-nad denoise`` on
DIPY's example diffusion series (evaluation only; see :mod:`monai_nad.experiments.diffusion_real`).

Writes ``diffusion_real.json`` (the record) and ``diffusion_real.png`` (the figure) into ``--output-dir`` and re-renders
``diffusion.md`` there (the diffusion benchmark's page, from ``diffusion.json``), which shows them as a section. Run it on one
thread.

Usage:
    OMP_NUM_THREADS=1 python scripts/diffusion_real_residuals.py --steps
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from monai_nad.cli import main as cli_main
from monai_nad.experiments import diffusion_benchmark as db
from monai_nad.experiments.diffusion_real import REAL_SERIES, run_real_check
from monai_nad.experiments.volume_benchmark import shipped_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--series", nargs="+", choices=REAL_SERIES, default=list(REAL_SERIES))
    parser.add_argument("--note", action="append", default=[], help="a line for the section's notes (repeatable)")
    parser.add_argument("--steps", action="store_true", help="also the series path's steps (low-rank only, + floor, + volume model)")
    parser.add_argument("--bundle", type=Path, default=None, help="the bundle of the shipped models for --steps (default: the installed one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    volume_network = shipped_models(args.bundle)[1] if args.steps else None
    record = run_real_check(args.series, cli_main, args.output_dir / "diffusion_real.png", log=lambda m: print(m, flush=True),
                            volume_network=volume_network)
    record["command"] = shlex.join(["OMP_NUM_THREADS=1", "python", "scripts/diffusion_real_residuals.py", *(sys.argv[1:] if argv is None else argv)])
    record["notes"] = args.note
    (args.output_dir / "diffusion_real.json").write_text(json.dumps(record, indent=1) + "\n")
    store = args.output_dir / "diffusion.json"
    if store.is_file():  # the benchmark page, with this section
        recorded = json.loads(store.read_text())
        figure = args.output_dir / "diffusion.png"
        text = db.render_diffusion_page(recorded["rows"], recorded["command"], recorded["settings"], figure.name if figure.is_file() else None,
                                        real=record)
        (args.output_dir / "diffusion.md").write_text(text)
    print(f"wrote {args.output_dir / 'diffusion_real.json'}, {args.output_dir / 'diffusion_real.png'}"
          + (f" and {args.output_dir / 'diffusion.md'}" if store.is_file() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
