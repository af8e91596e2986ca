"""Calibrate the int8 inference of a bundle's models on the training slabs (``--precision int8``).

    python scripts/calibrate_int8.py [--bundle bundles/neural_pde_denoising] [--out FILE]

Runs the bundle's 2D and volume model (where it has one) in float32, as ``monai-nad denoise`` runs them, on blocks of training slices of
MNI and Colin27 through the scanner-noise conditions and white Rician noise
(:mod:`monai_nad.experiments.int8_calibration`), records the value range of every convolution that int8 inference
quantizes, and writes them with a fingerprint of the weights to ``models/int8_ranges.json`` of the bundle (``--out``).
Run it again after installing new weights: ranges for other weights are refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from monai_nad.bundle import bundle_network, default_bundle, int8_ranges_path
from monai_nad.experiments.int8_calibration import calibrate_int8
from monai_nad.experiments.volume_benchmark import shipped_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None, help="the bundle (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the ranges (default: BUNDLE/models/int8_ranges.json)")
    parser.add_argument("--slices", type=int, default=10, help="slices per calibration block (10; fewer: a quick check)")
    args = parser.parse_args(argv)
    if not 1 <= args.slices <= 10:
        parser.error("--slices must be 1 to 10")
    bundle = args.bundle or default_bundle()
    if not (bundle / "models" / "model.pt").is_file():
        parser.error(f"--bundle {bundle}: no models/model.pt")
    out = args.out or int8_ranges_path(bundle)
    torch.set_num_threads(1)
    try:
        if (bundle / "models" / "model_3d.pt").is_file():
            net2d, net3d = shipped_models(bundle)
        else:  # a bundle without a volume model (e.g. from monai-nad fit): the 2D model alone
            net2d, net3d = bundle_network(bundle, ["inference.json"], bundle / "models" / "model.pt"), None
        ranges = calibrate_int8(net2d, net3d, log=lambda line: print(line, flush=True), slices=args.slices)
    except (ValueError, RuntimeError, FileNotFoundError) as err:  # weights that do not fit, Colin27 not downloaded
        parser.error(f"{err}".splitlines()[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")  # written whole, then moved: an interrupted run leaves the old file
    partial.write_text(json.dumps(ranges, indent=1) + "\n")
    os.replace(partial, out)
    counts = ", ".join(f"{kind}: {len(entry['ranges'])} layers" for kind, entry in ranges.items())
    print(f"wrote {out} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
