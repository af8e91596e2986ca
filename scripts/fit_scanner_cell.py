"""What ``monai-nad fit`` gains or loses on one cell of the scanner-noise benchmark.

Fits the shipped 2D model, self-supervised (:func:`monai_nad.inference.fit.fit_scans`, what ``monai-nad fit`` runs), to
the noisy validation slab of one cell (the reference is never read for the fit), then scores the shipped and the
fitted 2D model on the cell's test slab as the scanner-noise benchmark scores ``neural_pde_2d`` (the slab as one volume through
:class:`~monai_nad.inference.ScanInferer`, ``--mode 2d``, the blind noise map): the mean PSNR over the test slices.
The fit is resumable: the same command again continues it (``--epochs`` is the total).

The noise of the filtered cells is correlated across pixels (estimated widths about 3.7 px at ``mni_asis_filtered_0.05``),
so the fit hides a block around each scored pixel (``--mask-radius``, by default from the estimated widths).

Usage:
    OMP_NUM_THREADS=1 python scripts/fit_scanner_cell.py                              # 3 epochs x 100 iterations, about a minute
    OMP_NUM_THREADS=1 python scripts/fit_scanner_cell.py --epochs 8                   # the same fit continued to 800 iterations
    OMP_NUM_THREADS=1 python scripts/fit_scanner_cell.py --mask-radius 0 --output-dir runs/fit_scanner_r0    # the plain Noise2Self pixel mask
    OMP_NUM_THREADS=1 python scripts/fit_scanner_cell.py --target signal --output-dir runs/fit_scanner_signal  # the loss on the estimate itself
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from monai_nad.bundle import bundle_network, default_bundle
from monai_nad.experiments import scanner_benchmark as sb
from monai_nad.experiments.volume_benchmark import scan_method
from monai_nad.inference.fit import FitOptions, fit_scans
from monai_nad.metrics import psnr


def _cell(name: str):
    for key in sb.scanner_cell_keys():
        if sb.scanner_cell_name(*key) == name:
            return sb.scanner_test_cell(*key)
    raise SystemExit(f"unknown cell {name!r}; one of: {', '.join(sb.scanner_cell_name(*k) for k in sb.scanner_cell_keys())}")


def _score(bundle: Path, noisy: np.ndarray, reference: np.ndarray, noise_std: float) -> float:
    network = bundle_network(bundle, ["inference.json"], bundle / "models" / "model.pt")
    denoised, _ = scan_method(network, None, "2d", noise_estimate="map")(noisy, noise_std)
    return float(psnr(torch.from_numpy(denoised)[:, None], torch.from_numpy(reference)[:, None]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", default="mni_asis_filtered_0.05", help="a cell of the scanner-noise benchmark (default: mni_asis_filtered_0.05)")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/fit_scanner"), help="the validation slab as NIfTI and the fitted bundle")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--epoch-length", type=int, default=100)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-6)
    parser.add_argument("--mask-stride", type=int, default=4)
    parser.add_argument("--mask-radius", type=int, default=None, help="the blind block's half-width (default: from the estimated correlation)")
    parser.add_argument("--target", choices=["magnitude_mean", "signal"], default="magnitude_mean",
                        help="the loss against the noisy magnitude's mean of the estimate (default) or the estimate itself")
    parser.add_argument("--bundle", type=Path, default=None, help="the bundle to fit and to compare with (default: the shipped one)")
    parser.add_argument("--overwrite", action="store_true", help="start the fit over")
    args = parser.parse_args(argv)
    if args.bundle is not None and not (args.bundle / "models" / "model.pt").is_file():
        parser.error(f"--bundle {args.bundle}: no models/model.pt there to fit")  # before anything is written
    cell = _cell(args.cell)
    scans = args.output_dir / "scans"
    scans.mkdir(parents=True, exist_ok=True)
    noisy, _ = cell.load("validation")  # the noisy slab only: the fit never sees a reference
    nib.save(nib.Nifti1Image(np.ascontiguousarray(np.moveaxis(noisy, 0, -1)), np.eye(4)), str(scans / "validation.nii.gz"))
    options = FitOptions(epochs=args.epochs, epoch_length=args.epoch_length, patch_size=args.patch_size, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, mask_stride=args.mask_stride,
                         mask_radius=args.mask_radius, target=args.target, device="cpu", progress=False)
    command = "python scripts/fit_scanner_cell.py " + " ".join(sys.argv[1:] if argv is None else argv)
    fitted = args.output_dir / "bundle"
    record = fit_scans([scans], fitted, options, bundle=args.bundle, overwrite=args.overwrite, command=command, echo=lambda line: print(line, flush=True))
    test_noisy, reference = cell.load("test")
    noisy_psnr = float(psnr(torch.from_numpy(test_noisy)[:, None], torch.from_numpy(reference)[:, None]).mean())
    shipped = _score(args.bundle or default_bundle(), test_noisy, reference, cell.noise_std)
    mine = _score(fitted, test_noisy, reference, cell.noise_std)
    iterations = record["epochs"] * args.epoch_length
    print(f"{cell.name}, test slab ({len(test_noisy)} slices), mean PSNR: noisy {noisy_psnr:.2f} dB, shipped 2D model {shipped:.2f} dB, "
          f"fitted to the noisy validation slab ({record['epochs']} epochs x {args.epoch_length} iterations = {iterations}, "
          f"batch {args.batch_size} of {args.patch_size}x{args.patch_size}, lr {args.learning_rate:g}, mask radius "
          f"{record['invocations'][-1]['mask_radius']} stride {record['invocations'][-1]['mask_stride']}, target {args.target}, "
          f"{record['total_wall_time_s']:.0f} s) "
          f"{mine:.2f} dB ({mine - shipped:+.2f} dB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
