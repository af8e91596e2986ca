"""The series denoiser's variants on the VALIDATION series of the diffusion benchmark (tuning only; the test split is scored by
scripts/benchmark_diffusion.py): the local low-rank step alone, with the noise floor removed, and then the volume model
told ``residual_scale x sigma sqrt(kept)`` for several scales. Writes a Markdown table to stdout (and --output).

Usage:
    OMP_NUM_THREADS=1 python scripts/diffusion_series_validation.py --output docs/results/diffusion_series_validation.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from monai_nad.data.dwi_phantom import dwi_gradient_table, dwi_phantom
from monai_nad.data.scans import denormalise_intensity, normalise_intensity
from monai_nad.experiments import diffusion_benchmark as db
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference.series import SeriesDenoiser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=None, metavar="PATTERN")
    parser.add_argument("--scales", nargs="+", type=float, default=[0.5, 0.75, 1.0, 1.25, 1.5])
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    _, volume = shipped_models(None)
    phantom = dwi_phantom("validation")
    bvals, bvecs = (np.asarray(a) for a in dwi_gradient_table())
    variants = [("low-rank only", None, False), ("low-rank, floor removed", None, True)] + [(f"+ volume model, scale {s:g}", s, True) for s in args.scales]
    lines = ["| cell | variant | PSNR b=0 | PSNR b=1000 | PSNR b=2000 | FA MAE | MD MAE | s |", "|---|---|---|---|---|---|---|---|"]
    for cell in db.select_cells(args.cells):
        noisy, clean = cell.load("validation")
        noisy, clean = noisy[0], clean[0]
        maps = db.tensor_maps(clean, bvals, bvecs, phantom.white_matter)
        for label, scale, floor in variants:
            denoiser = SeriesDenoiser(volume if scale is not None else None, residual_scale=scale or 1.0, floor=floor)
            start = time.perf_counter()
            scaled, params = normalise_intensity(noisy)  # as the command line scales a series
            with torch.no_grad():
                out = denoiser(torch.from_numpy(np.ascontiguousarray(np.moveaxis(scaled, -1, 0))))
            out = denormalise_intensity(np.moveaxis(out.numpy(), 0, -1), params)
            seconds = time.perf_counter() - start
            s = db.score_series(out, clean, phantom.brain, phantom.white_matter, bvals, bvecs, maps)
            lines.append(f"| {cell.name} | {label} | {s['psnr_b0']:.2f} | {s['psnr_b1000']:.2f} | {s['psnr_b2000']:.2f} | "
                         f"{s['fa_mae']:.3f} | {s['md_mae']:.3f} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    command = shlex.join(["python", "scripts/diffusion_series_validation.py", *(sys.argv[1:] if argv is None else argv)])
    text = "\n".join([f"Produced by `OMP_NUM_THREADS=1 {command}` (the validation series, 1 mm z 60-79; one thread).", "", *lines]) + "\n"
    print(text)
    if args.output is not None:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
