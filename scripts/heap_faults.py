"""Minor page faults and time per slice of one call of the shipped 2D model (five random 197 x 233 slices, four
flips, one thread), with glibc returning freed memory to the system and with it kept
(:func:`monai_nad.inference.heap.keep_freed_memory`), each case in its own process. See
:mod:`monai_nad.experiments.heap_faults`.

Usage:
    python scripts/heap_faults.py
    python scripts/heap_faults.py --precisions int8 --repeats 3
"""

from __future__ import annotations

import argparse
import sys

from monai_nad.experiments.heap_faults import PRECISIONS, heap_fault_rows, render_heap_faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case, the median kept (default 5)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    print(render_heap_faults(heap_fault_rows(args.precisions, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
