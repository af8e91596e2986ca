"""Peak memory of ``monai-nad denoise`` on a synthetic diffusion series (bounded, e.g. for 140x140x90x300).

Writes a synthetic series (a smooth low-rank object in air, Rician noise, stored as int16 like a scanner's series) with
its ``.bval``/``.bvec`` into a temporary folder, runs ``monai-nad denoise`` on it in a child process on one thread, and
reports the child's peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), the seconds, and the peak against
the series' size in float32. A child that only imports the command line gives the baseline.

Usage:
    OMP_NUM_THREADS=1 python scripts/diffusion_series_memory.py --shape 140 140 90 30 --shape 140 140 90 60
    OMP_NUM_THREADS=1 python scripts/diffusion_series_memory.py --shape 140 140 90 300 --low-rank-only   # the series path without the model
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from monai_nad.transforms.noise import rician_noise

_CHILD = """
import sys, time, torch
torch.set_num_threads(1)
from monai_nad.cli import main
if sys.argv[1] == "imports":
    sys.exit(0)
if sys.argv[1] == "low-rank":  # the command line's loading (LoadScand), then the series path without a model
    from monai_nad.inference.series import SeriesDenoiser
    from monai_nad.inference.transforms import LoadScand
    item = LoadScand()({"image": sys.argv[2]})
    with torch.no_grad():
        out = SeriesDenoiser(None)(item["image"])
    sys.exit(0)
sys.exit(main(sys.argv[1:]))
"""


def synthetic_series(folder: Path, shape: tuple[int, int, int, int], sigma: float = 0.05, seed: int = 0) -> Path:
    """A Rician series ``shape`` = (X, Y, Z, V) of rank 4 inside an ellipsoid, int16 (scale 1000), with FSL gradient
    files; written volume by volume so that this process holds one float32 volume at a time."""
    x, y, z, v = shape
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in (x, y, z)], indexing="ij")
    inside = (grid[0] ** 2 + grid[1] ** 2 + grid[2] ** 2) < 0.8
    maps = np.stack([0.6 + 0.2 * np.sin(3 * grid[0]), 0.3 * (grid[1] + 1), 0.2 * np.cos(4 * grid[2]), 0.1 * grid[0] * grid[1]]) * inside
    bvals = np.where(np.arange(v) % 10 == 0, 0, 1000 + 1000 * (np.arange(v) % 2))
    weights = np.where(bvals[:, None] == 0, [1.0, 0.5, 0.3, 0.0], rng.uniform(0.2, 0.8, (v, 4)))
    data = np.empty((x, y, z, v), dtype=np.int16)
    for i in range(v):
        clean = np.tensordot(weights[i].astype(np.float32), maps, axes=1)
        noisy = rician_noise(clean, sigma, rng, dtype=np.float32)
        data[..., i] = np.round(1000 * noisy).astype(np.int16)
    image = folder / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), str(image))
    np.savetxt(folder / "dwi.bval", bvals[None], fmt="%d")
    directions = rng.standard_normal((v, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    directions[bvals == 0] = 0
    np.savetxt(folder / "dwi.bvec", directions.T, fmt="%.6f")
    return image


def peak_of_child(args: list[str]) -> tuple[float, float, int]:
    """Run the child with ``args``; ``(peak RSS in GB, seconds, exit code)`` (a fresh process per call, so the peak is
    its own: ``RUSAGE_CHILDREN`` keeps the largest of the waited-for children, measured before and after)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-c", _CHILD, *args], env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if after <= before:
        raise RuntimeError("the child's peak did not exceed an earlier child's: run one measurement per process (the largest last)")
    return after / 2**20, seconds, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", nargs=4, type=int, action="append", required=True, metavar=("X", "Y", "Z", "V"),
                        help="a series to measure (repeatable; give them smallest first)")
    parser.add_argument("--bundle", default=None, help="the bundle (default: the installed one)")
    parser.add_argument("--low-rank-only", action="store_true", help="the series path without the model (SeriesDenoiser(None)), not the command line")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more monai-nad denoise arguments (last)")
    args = parser.parse_args(argv)
    base, _, _ = peak_of_child(["imports"])
    print(json.dumps({"baseline_gb": round(base, 3)}), flush=True)
    for shape in args.shape:
        with tempfile.TemporaryDirectory() as tmp:
            image = synthetic_series(Path(tmp), tuple(shape))
            series_gb = float(np.prod(shape)) * 4 / 2**30
            if args.low_rank_only:
                child = ["low-rank", str(image)]
            else:
                child = ["denoise", str(image), "-o", str(Path(tmp) / "out"), *([] if args.bundle is None else ["--bundle", args.bundle]), *args.extra]
            peak, seconds, code = peak_of_child(child)
        print(json.dumps({"shape": shape, "series_float32_gb": round(series_gb, 3), "peak_rss_gb": round(peak, 3),
                          "above_baseline_per_series": round((peak - base) / series_gb, 2), "seconds": round(seconds, 1), "exit": code}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
