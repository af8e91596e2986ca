"""Train the real-scan Neural PDE (the shipped bundle's ``configs/common.json`` + ``train.json``), or a learned baseline, and install it.

One ``python -m monai.bundle run``, MLflow-tracked (``<output-dir>/mlruns.db``), resumable: started again with the same
``--output-dir`` it continues from its last epoch (``--max-epochs`` may extend it). It uses CUDA with AMP where a GPU
is present and the CPU otherwise. The Neural PDE's best-validation checkpoint is copied to ``models/model.pt`` (the
shipped model; never for a baseline, a --time-budget run or Br35H) and the run's record (wall time, hardware, and the record of the run a fine-tuning started from) to
``docs/training_info_real_scan.json``. The shipped model came from eight stages: ``bash scripts/train_v1.sh``.

Usage:
    python scripts/train_real_scan.py [--max-epochs 40] [--output-dir bundles/neural_pde_denoising/runs/real_scan]
    python scripts/train_real_scan.py --init-checkpoint bundles/neural_pde_denoising/models/model.pt --learning-rate 5e-4 \
        --max-epochs 20 --output-dir runs/finetune      # continue from the shipped weights with a new schedule
    python scripts/train_real_scan.py --network dncnn --time-budget 900 --output-dir runs/real_anatomy/dncnn  # a fair baseline
    python scripts/train_real_scan.py --max-epochs 1 --epoch-length 20 --output-dir runs/smoke --no-install --volumes mni  # smoke run
    python scripts/train_real_scan.py --network volume --max-epochs 12 --epoch-length 150 --output-dir runs/volume  # the volume model
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from monai_nad.bundle import default_bundle
from monai_nad.data.colin27 import colin27_path
from monai_nad.data.realistic import volume_sampling_weights
from monai_nad.engines.bundle_training import REAL_SCAN_FAMILY as FAMILY
from monai_nad.engines.bundle_training import RealScanOptions, check_init_checkpoint, real_scan_init_checkpoint, train_real_scan

BUNDLE = default_bundle()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--epoch-length", type=int, default=250, help="iterations per epoch")
    parser.add_argument("--val-interval", type=int, default=4)
    parser.add_argument("--output-dir", type=Path, default=BUNDLE / "runs" / "real_scan")
    parser.add_argument("--volumes", nargs="+", default=["mni", "colin27"], choices=["mni", "colin27"], help="training/validation volumes")
    parser.add_argument("--volume-weights", nargs="+", type=float, default=None, metavar="W",
                        help="one sampling weight per --volumes entry (default equal), e.g. 1 2: twice the Colin27 patches")
    parser.add_argument("--data", choices=["real_anatomy", "br35h"], default="real_anatomy",
                        help="training data: the MNI/Colin27 slabs (default) or a Br35H-like folder (--root; bundles/reproductions/br35h)")
    parser.add_argument("--root", type=Path, default=None, help="the Br35H-like folder (yes/ and no/ of JPEG/PNG slices)")
    parser.add_argument("--init-checkpoint", type=Path, default=None,
                        help="start from these weights (e.g. models/model.pt) instead of from scratch: fine-tuning with a new schedule")
    parser.add_argument("--learning-rate", type=float, default=None, help="initial learning rate (config default 2e-3)")
    parser.add_argument("--loss", choices=["l1", "mse", "log_mse"], default="l1",
                        help="training loss (default l1; mse fine-tunes for PSNR; log_mse for the mean PSNR over noise levels)")
    parser.add_argument("--ssim-weight", type=float, default=None, metavar="W",
                        help="with --loss log_mse: add W x (1 - SSIM) of each batch, against a faint noise floor left in the air "
                             "(costs the MSE little, the SSIM much; default 0)")
    parser.add_argument("--noise-std-jitter", "--sigma-jitter", dest="noise_std_jitter", type=float, default=None, metavar="R",
                        help="relative error of the noise level told in training (log-normal; config default 0.03): a model that tolerates a misread level")
    parser.add_argument("--scanner-prob", type=float, default=None, metavar="P",
                        help="share of training pairs made through a simulated scanner acquisition (correlated, multi-coil and "
                             "parallel-imaging noise; config default 0)")
    parser.add_argument("--partial-fourier-share", type=float, default=None, metavar="P",
                        help="of the simulated acquisitions, the share that are one-coil magnitude partial Fourier with neither "
                             "taper nor reduced extent (config default 0; needs --scanner-prob > 0 to matter)")
    parser.add_argument("--simulation-margin", type=int, default=None, metavar="M",
                        help="pixels of context on every side of a training patch that the augmentation and the noise "
                             "simulation see before the patch is cropped, so that a k-space window does not wrap the patch's "
                             "opposite edges into each other (config default 0)")
    parser.add_argument("--white-gain", type=float, default=None, metavar="G",
                        help="tell the network the white-equivalent level of the simulated acquisitions' correlated noise "
                             "(the std times max(1, G sqrt(P(0))), as inference does; default: the per-pixel std)")
    parser.add_argument("--noise-std-range", "--noise-levels", dest="noise_std_range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="range of the per-channel noise std drawn in training (config default 0.005 0.2)")
    parser.add_argument("--network", choices=["pde", "volume", "dncnn", "unet", *FAMILY], default="pde",
                        help="the Neural PDE (default); the volume model (configs/volume.json + train_volume.json: 3D patches, "
                             "fine-tuned from --init-checkpoint, default the shipped volume model models/model_3d.pt, installed as models/model_3d.pt); "
                             "or a learned baseline with the same inputs: a CNN (bundles/reproductions/baselines/configs/baseline_cnn.json) "
                             "or a member of the learned-diffusivity family (bundles/reproductions/diffusivity/configs/diffusivity_real_scan.json); "
                             "baselines are never installed")
    parser.add_argument("--detail-layers", type=int, default=None,
                        help="layers of the Neural PDE's full-resolution detail head (common.json default; 0: none, as in stages 1-2 of v1.0)")
    parser.add_argument("--features", type=int, default=None,
                        help="width of the Neural PDE's encoder and refinement head (common.json default 48); a wider network "
                             "started from --init-checkpoint computes the checkpoint's function at first")
    parser.add_argument("--detail-features", type=int, default=None, help="width of the Neural PDE's detail head (common.json default 24)")
    parser.add_argument("--no-correlation-input", dest="correlation_input", action="store_false", default=None,
                        help="the Neural PDE without the noise's correlation widths as inputs (stages 1-5 of the shipped model; "
                             "common.json's correlation_input is true)")
    parser.add_argument("--volume-layers", type=int, default=None,
                        help="--network volume: layers of its volumetric 3x3x3 head (volume.json default; a checkpoint "
                             "without one starts it at zero)")
    parser.add_argument("--slice-axis-steps", type=int, default=None,
                        help="--network volume: diffusion steps between neighbouring slices (volume.json default; a checkpoint "
                             "without them starts them at their initial rate)")
    parser.add_argument("--context-slices", type=int, default=None,
                        help="--network volume: neighbouring slices either side (volume.json default; a checkpoint with fewer starts the new ones at zero)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                        help="train for this many seconds (cosine learning rate over the budget; not resumable) instead of --max-epochs")
    parser.add_argument("--snapshot-interval", type=int, default=None, metavar="N",
                        help="keep the network's weights after every N epochs in OUTPUT_DIR/checkpoints/snapshots/epoch_N.pt "
                             "(config default 0: none), to compare epochs on the scanner-noise validation slabs afterwards "
                             "(python scripts/tune_white_equivalent.py --weights-2d FILE)")
    parser.add_argument("--install-snapshot", type=int, nargs="+", default=None, metavar="N",
                        help="install the run's snapshot of epoch N (OUTPUT_DIR/checkpoints/snapshots/epoch_N.pt, kept by "
                             "--snapshot-interval), or the mean of the weights of several, instead of its best checkpoint on the "
                             "training's own validation, e.g. chosen on the scanner-noise validation slabs; run the training's "
                             "command again with it")
    parser.add_argument("--no-install", action="store_true", help="do not copy the best checkpoint into models/")
    args = parser.parse_args(argv)
    if args.time_budget is not None and args.time_budget <= 0:
        parser.error("--time-budget must be positive seconds")
    for flag, value, least in (("--features", args.features, 1), ("--detail-features", args.detail_features, 1), ("--context-slices", args.context_slices, 1), ("--slice-axis-steps", args.slice_axis_steps, 0), ("--volume-layers", args.volume_layers, 0)):
        if value is not None and value < least:
            parser.error(f"{flag} must be at least {least}, got {value}")
    try:
        volume_sampling_weights(args.volumes, args.volume_weights)
    except ValueError:
        parser.error(f"--volume-weights needs one positive number per volume ({' '.join(args.volumes)})")
    if args.volume_weights is not None and args.data == "br35h":
        parser.error("--volume-weights weighs the MNI/Colin27 slabs; --data br35h has none")
    if args.noise_std_jitter is not None and not 0 <= args.noise_std_jitter <= 1:
        parser.error(f"--noise-std-jitter must lie in [0, 1], got {args.noise_std_jitter}")
    if args.scanner_prob is not None and not 0 <= args.scanner_prob <= 1:
        parser.error(f"--scanner-prob must lie in [0, 1], got {args.scanner_prob}")
    if args.partial_fourier_share is not None and not 0 <= args.partial_fourier_share < 1:
        parser.error(f"--partial-fourier-share must lie in [0, 1), got {args.partial_fourier_share}")
    if args.simulation_margin is not None and args.simulation_margin < 0:
        parser.error(f"--simulation-margin must be >= 0, got {args.simulation_margin}")
    if args.snapshot_interval is not None and args.snapshot_interval < 0:
        parser.error(f"--snapshot-interval must be >= 0, got {args.snapshot_interval}")
    if args.install_snapshot is not None and (min(args.install_snapshot) < 1 or len(set(args.install_snapshot)) < len(args.install_snapshot) or args.no_install):
        parser.error(f"--install-snapshot needs distinct epochs >= 1 and no --no-install, got {' '.join(map(str, args.install_snapshot))}")
    if args.white_gain is not None and not (args.white_gain > 0 and math.isfinite(args.white_gain)):
        parser.error(f"--white-gain must be a positive number, got {args.white_gain}")
    if args.noise_std_range is not None and not (0 < args.noise_std_range[0] <= args.noise_std_range[1] and math.isfinite(args.noise_std_range[1])):
        parser.error(f"--noise-std-range needs 0 < LOW <= HIGH, got {args.noise_std_range[0]} {args.noise_std_range[1]}")
    if args.ssim_weight is not None and not (args.loss == "log_mse" and args.ssim_weight >= 0 and math.isfinite(args.ssim_weight)):
        parser.error(f"--ssim-weight needs --loss log_mse and a number >= 0, got {args.ssim_weight} with --loss {args.loss}")
    if (args.data == "br35h") != (args.root is not None):
        parser.error("--data br35h needs --root DIR, and --root is only for --data br35h")
    if args.root is not None and not args.root.is_dir():
        print(f"train_real_scan: error: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    if args.data == "real_anatomy" and "colin27" in args.volumes:
        try:  # before the bundle run, whose config evaluation would bury this in a traceback
            colin27_path()
        except FileNotFoundError as err:
            print(f"train_real_scan: error: {err}", file=sys.stderr)
            return 2
    args.output_dir.resolve().mkdir(parents=True, exist_ok=True)
    init = real_scan_init_checkpoint(BUNDLE, args.network, args.init_checkpoint, args.time_budget)
    if init is not None and not init.is_file():
        print(f"train_real_scan: error: --init-checkpoint {init} does not exist", file=sys.stderr)
        return 2
    options = RealScanOptions(
        network=args.network, volumes=args.volumes, volume_weights=args.volume_weights, max_epochs=args.max_epochs, epoch_length=args.epoch_length,
        val_interval=args.val_interval, loss=args.loss, ssim_weight=args.ssim_weight, noise_std_jitter=args.noise_std_jitter, scanner_prob=args.scanner_prob, partial_fourier_share=args.partial_fourier_share, simulation_margin=args.simulation_margin, snapshot_interval=args.snapshot_interval, white_gain=args.white_gain, noise_std_range=args.noise_std_range, learning_rate=args.learning_rate, data=args.data, br35h_root=args.root,
        init_checkpoint=init, detail_layers=args.detail_layers, features=args.features, detail_features=args.detail_features, correlation_input=args.correlation_input, volume_layers=args.volume_layers,
        slice_axis_steps=args.slice_axis_steps, context_slices=args.context_slices, time_budget_s=args.time_budget,
    )
    try:  # before the bundle run, whose config evaluation would bury a mismatch in a traceback
        check_init_checkpoint(BUNDLE, options)
    except ValueError as err:
        print(f"train_real_scan: error: --init-checkpoint {init}: {err}", file=sys.stderr)
        return 2
    command = "python scripts/train_real_scan.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        train_real_scan(BUNDLE, args.output_dir, options, command, install=not args.no_install, install_snapshot=args.install_snapshot)
    except RuntimeError as err:
        print(f"train_real_scan: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
