"""Time per slice of the shipped models (blind) on whole scanner-noise volumes and on the benchmark's slabs, against
BM3D told the true noise, in one run.

Writes ``scanner_noise_speed.json`` (the rows) and ``scanner_noise_speed.md`` into ``--output-dir``. Run it on one
thread on a quiet machine; about 20 minutes with the defaults (all four models). See :mod:`monai_nad.experiments.scanner_speed`.

Usage:
    OMP_NUM_THREADS=1 python scripts/benchmark_scanner_speed.py
    OMP_NUM_THREADS=1 python scripts/benchmark_scanner_speed.py --conditions sos8 --repeats 1 --output-dir /tmp/speed
    OMP_NUM_THREADS=1 python scripts/benchmark_scanner_speed.py --methods neural_pde_2d neural_pde_2d_int8 bm3d_true_noise
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monai_nad.experiments.records import invocation
from monai_nad.experiments.scanner_speed import SPEED_METHODS, render_speed_page, scanner_speed
from monai_nad.transforms.scanner_noise import SCANNER_NOISE_CONDITIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("docs/results"))
    parser.add_argument("--conditions", nargs="+", choices=SCANNER_NOISE_CONDITIONS, default=list(SCANNER_NOISE_CONDITIONS))
    parser.add_argument("--noise-std", type=float, default=0.05, help="s, the noise std of one real channel (default 0.05)")
    parser.add_argument("--bm3d-slices", type=int, default=5, help="slices BM3D denoises per condition (default 5)")
    parser.add_argument("--repeats", type=int, default=2, help="calls per model and input, the median kept (default 2)")
    parser.add_argument("--methods", nargs="+", choices=SPEED_METHODS, default=list(SPEED_METHODS), help="the methods timed (default: all)")
    args = parser.parse_args(argv)
    if not 0 < args.noise_std <= 1 or args.bm3d_slices < 1 or args.repeats < 1:
        parser.error("--noise-std must lie in (0, 1], --bm3d-slices and --repeats must be at least 1")
    record = scanner_speed(args.conditions, args.noise_std, bm3d_slices=args.bm3d_slices, repeats=args.repeats, log=lambda m: print(m, flush=True),
                           methods=args.methods)
    command = "OMP_NUM_THREADS=1 " + invocation("scripts/benchmark_scanner_speed.py", argv)
    record = {"command": command, **record}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    store, page = args.output_dir / "scanner_noise_speed.json", args.output_dir / "scanner_noise_speed.md"
    store.write_text(json.dumps(record, indent=1) + "\n")
    text = render_speed_page(record, command)
    page.write_text(text)
    print(text)
    print(f"wrote {store} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
