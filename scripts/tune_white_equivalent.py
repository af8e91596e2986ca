"""Choose the gain of the white-equivalent noise level for the shipped models on the scanner-noise validation slabs.

    python scripts/tune_white_equivalent.py [--gains 0 0.5 0.6 0.7 0.8 0.9] [--models 2d 3d]

Prints the mean PSNR per cell, per condition and over all cells for every gain, and the best gain per model
(what :data:`monai_nad.transforms.noise_map.WHITE_EQUIVALENT_GAIN` holds).
"""

from __future__ import annotations

import argparse

import torch

from monai_nad.experiments.white_equivalent_tuning import GAIN_GRID, tune_white_gain


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gains", type=float, nargs="+", default=list(GAIN_GRID))
    parser.add_argument("--models", nargs="+", choices=("2d", "3d"), default=["2d", "3d"])
    parser.add_argument("--bundle", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = tune_white_gain(args.gains, args.models, args.bundle, log=lambda line: print(line, flush=True))
    for model, rows in table.items():
        print(f"\n{model}: mean validation PSNR (dB) per gain")
        for key in [k for k in rows if "_" not in k or k in ("partial_fourier",)] :
            print(f"  {key:<16} " + " ".join(f"{g:g}:{v:.2f}" for g, v in rows[key].items()))
        best = max(rows["all"], key=rows["all"].get)
        print(f"  best gain over all cells: {best:g}")


if __name__ == "__main__":
    main()
