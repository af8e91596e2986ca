"""The command line's blind noise estimates (--noise-estimate map, the default, and level) on the real-anatomy benchmark's
white Rician cells, against the stored BM3D+rc rows of that benchmark.

    python scripts/check_blind_estimates.py [--limit N]

Writes docs/results/blind_estimates_1c.md (--out) and prints it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from monai_nad.experiments.blind_estimate_check import anchor_record, check_blind_estimates, render_estimate_page
from monai_nad.experiments.records import RecordError, check_limit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="slices per slab (a quick check)")
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--anchor", type=Path, default=Path("docs/results/real_scan_benchmark.json"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/blind_estimates_1c.md"))
    args = parser.parse_args(argv)
    check_limit(parser, args.limit)
    try:
        anchor_rows, anchor_command = anchor_record(args.anchor)
    except RecordError as err:
        print(f"check_blind_estimates: error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    rows = check_blind_estimates(args.bundle, args.limit, log=lambda line: print(line, flush=True))
    command = " ".join(["python scripts/check_blind_estimates.py", *(sys.argv[1:] if argv is None else argv)])
    text = render_estimate_page(rows, anchor_rows, command, anchor_command, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
