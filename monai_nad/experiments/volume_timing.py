"""Denoise one NIfTI volume with one method and report its time and peak memory (run in a fresh process per method).

Each method reads the file, denoises it and writes the result, as a user would; the time excludes the interpreter's
start and every method's imports (made before the clock starts), the peak memory (``ru_maxrss``) is that of the whole
process. Used by
:func:`~monai_nad.experiments.volume_benchmark.whole_volume_timing`.

Usage::

    python -m monai_nad.experiments.volume_timing neural_pde_3d scan.nii.gz out_dir
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from monai_nad._optional import require

__all__ = ["TIMED_METHODS", "dipy_nlmeans_blind", "main"]

#: Methods this module can time: the shipped models through the command line's code path, DIPY and BM4D.
TIMED_METHODS = ("neural_pde_3d", "neural_pde_3d_2pass", "neural_pde_2d", "dipy_nlmeans", "bm4d")


def dipy_nlmeans_blind(volume, num_threads: int = 1):
    """DIPY's non-local means as a user runs it: Rician, its own noise estimate (``estimate_sigma``, one coil), its
    default patch and search radii.

    Args:
        volume: ``(X, Y, Z)`` magnitudes.
        num_threads: threads of DIPY. Defaults to 1.

    Returns:
        ``(denoised float32 volume, estimated sigma)``.
    """
    import numpy as np

    nlmeans = require("dipy.denoise.nlmeans", "DIPY nlmeans").nlmeans
    estimate_sigma = require("dipy.denoise.noise_estimate", "DIPY nlmeans").estimate_sigma

    data = np.asarray(volume, dtype=np.float64)
    sigma = float(np.ravel(estimate_sigma(data, N=1))[0])
    return np.asarray(nlmeans(data, sigma=sigma, rician=True, num_threads=num_threads), dtype=np.float32), sigma


def _preload(method: str) -> None:
    """Import what ``method`` needs before the clock starts (no method's time includes its imports)."""
    modules = {"dipy_nlmeans": ("dipy.denoise.nlmeans", "dipy.denoise.noise_estimate"), "bm4d": ("bm4d", "monai_nad.baselines")}
    neural = ("torch", "monai.bundle", "monai.engines", "ignite.engine", "monai_nad.inference.workflow", "monai_nad.networks",
              "monai_nad.bundle", "monai_nad.transforms.noise", "tqdm.auto")
    for name in modules.get(method, neural):
        require(name, method)  # a missing optional package: the extra to install, in one line


def _run(method: str, source: Path, out_dir: Path, noise_std: float | None) -> dict:
    import nibabel as nib
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{method}.nii.gz"
    _preload(method)
    start = time.perf_counter()
    extra: dict = {}
    if method.startswith("neural_pde"):
        from monai_nad.inference.workflow import run_inference

        mode = "2d" if method == "neural_pde_2d" else "3d"
        result = run_inference([source], out_dir / method, mode=mode, self_ensemble=2 if method.endswith("2pass") else None, overwrite=True)
        if result["failures"]:
            raise RuntimeError(str(result["failures"]))
        Path(result["written"][0]).replace(target)
    else:
        image = nib.load(str(source))
        data = np.asarray(image.dataobj, dtype=np.float32)
        if method == "dipy_nlmeans":
            out, sigma = dipy_nlmeans_blind(data)
            extra["sigma_estimate"] = sigma
        elif method == "bm4d":
            from monai_nad.baselines import classical_denoise
            from monai_nad.transforms.array import RicianBiasCorrection

            if noise_std is None:
                raise ValueError("bm4d needs --noise-std (it is told the true noise std)")
            out = np.asarray(RicianBiasCorrection(noise_std, 1.0)(classical_denoise("bm4d", data, noise_std, sigma_factor=1.0)), dtype=np.float32)
        else:
            raise ValueError(f"unknown method {method!r}; choose one of {TIMED_METHODS}")
        nib.save(nib.Nifti1Image(out, image.affine, image.header), str(target))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"method": method, "seconds": seconds, "peak_rss_mb": peak_mb, "output": str(target), **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("method", choices=TIMED_METHODS)
    parser.add_argument("source", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--noise-std", "--level", dest="noise_std", type=float, default=None,
                        help="the true noise std (BM4D only; --level is the old spelling)")
    args = parser.parse_args(argv)
    print(json.dumps(_run(args.method, args.source, args.out_dir, args.noise_std)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
