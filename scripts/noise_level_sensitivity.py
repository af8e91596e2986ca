"""The shipped 2D and volume models told a wrong noise level, on the real-anatomy benchmark's 18 cells: docs/results/noise_level_sensitivity.md.

Usage:
    python scripts/noise_level_sensitivity.py [--out docs/results] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from monai_nad.experiments.noise_sensitivity import sensitivity_rows, write_sensitivity_page
from monai_nad.experiments.volume_benchmark import shipped_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--quick", action="store_true", help="2 slices per cell (a smoke test)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = " ".join(["python scripts/noise_level_sensitivity.py", *(sys.argv[1:] if argv is None else argv)])
    net2d, net3d = shipped_models()
    rows = sensitivity_rows(net2d, net3d, limit=2 if args.quick else None)
    print(write_sensitivity_page(rows, args.out, command).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
