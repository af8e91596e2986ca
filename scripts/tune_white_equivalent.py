"""Choose the gain of the white-equivalent noise level for the shipped models on the scanner-noise validation slabs.

    python scripts/tune_white_equivalent.py [--gains 0 0.5 0.6 0.7 0.8 0.9] [--models 2d 3d]
    python scripts/tune_white_equivalent.py --gains 0.7 --models 2d --weights-2d RUN/checkpoints/best_model.pt --out /tmp/run.md
    python scripts/tune_white_equivalent.py --gains 0.6 --models 3d --weights-3d RUN/checkpoints/snapshots/epoch_{2..8}.pt --out /tmp/mean.md
    python scripts/tune_white_equivalent.py --gains 0.7 --models 2d --self-ensemble 4 --out /tmp/passes4.md
    python scripts/tune_white_equivalent.py --gains 0.6 0.7 --int8 bundles/neural_pde_denoising/models/int8_ranges.json --out docs/results/int8_validation.md

Prints the validation PSNR and SSIM per cell, and writes their means per condition and over all cells for every gain,
with the best gain per model (what :data:`monai_nad.transforms.noise_map.WHITE_EQUIVALENT_GAIN` holds), to
``docs/results/white_equivalent_gain.md`` (``--out``). ``--weights-2d`` / ``--weights-3d`` score a training run's
weights in place of the bundle's (checkpoint selection on the scanner-noise validation slabs; write the page elsewhere);
several files score the mean of their weights, what ``train_real_scan.py --install-snapshot`` with those epochs installs.
``--int8 FILE`` scores the networks and their int8 copies with that calibration (what ``monai-nad denoise --precision
int8`` runs) and writes the comparison (``docs/results/int8_validation.md``) instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from monai_nad.experiments.white_equivalent_tuning import GAIN_GRID, render_gain_page, render_int8_page, scored_networks, tune_white_gain
from monai_nad.networks import int8_network, load_int8_ranges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gains", type=float, nargs="+", default=list(GAIN_GRID))
    parser.add_argument("--models", nargs="+", choices=("2d", "3d"), default=["2d", "3d"])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/results/white_equivalent_gain.md"))
    parser.add_argument("--weights-2d", type=Path, nargs="+", default=None, metavar="FILE",
                        help="score these 2D weights instead of the bundle's models/model.pt (several: the mean of their weights)")
    parser.add_argument("--weights-3d", type=Path, nargs="+", default=None, metavar="FILE",
                        help="score these volume-model weights instead of models/model_3d.pt (several: the mean of their weights)")
    parser.add_argument("--self-ensemble", type=int, choices=(1, 2, 4, 8), default=None, metavar="K",
                        help="mirror passes of both models (default: as the bundle's inference.json runs them: 2D 2, volume 1), as denoise --self-ensemble K")
    parser.add_argument("--int8", type=Path, default=None, metavar="FILE",
                        help="score the int8 copies of the networks with this calibration (scripts/calibrate_int8.py), as denoise --precision int8")
    args = parser.parse_args(argv)
    if any(g < 0 for g in args.gains):
        parser.error("--gains must be non-negative")
    weights = {m: p for m, p in (("2d", args.weights_2d), ("3d", args.weights_3d)) if p is not None}
    for model, paths in weights.items():
        for path in paths:
            if not path.is_file():
                parser.error(f"--weights-{model}: {path}: no such file")
    try:
        networks = scored_networks(args.bundle, weights, self_ensemble=args.self_ensemble)
    except ValueError as err:  # weights that do not fit the network
        parser.error(f"{err}".splitlines()[0])
    quantized = None
    if args.int8 is not None:
        try:
            quantized = tuple(
                net if ranges is None else int8_network(net, ranges)
                for net, ranges in ((n, load_int8_ranges(args.int8, n, kind)) for n, kind in zip(networks, ("2d", "3d")))
            )
        except ValueError as err:  # no such file, or ranges for other weights
            parser.error(f"--int8: {err}".splitlines()[0])
    torch.set_num_threads(1)
    table = tune_white_gain(args.gains, args.models, networks, log=lambda line: print(line, flush=True))
    command = " ".join(["python scripts/tune_white_equivalent.py", *(sys.argv[1:] if argv is None else argv)])
    if quantized is None:
        text = render_gain_page(table, command)
    else:
        int8_table = tune_white_gain(args.gains, args.models, quantized, log=lambda line: print(f"int8 {line}", flush=True))
        text = render_int8_page(table, int8_table, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
