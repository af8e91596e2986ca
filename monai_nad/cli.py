"""Command line: ``monai-nad denoise`` for user scans, ``monai-nad bids`` for BIDS datasets, ``monai-nad demo`` for the embedded sample,
``monai-nad fit`` to fit the model to a user's own noisy scans (self-supervised) as a bundle for ``denoise --bundle``.

Both run the bundle's ``inference.json`` through MONAI's bundle workflow
(:func:`monai_nad.inference.workflow.run_inference`), so the command line and
``python -m monai.bundle run --config_file inference.json`` denoise identically.

This module is the top of the product's layers. It imports the modules a command needs when that command runs, so
``monai-nad --help`` imports neither torch nor MONAI. It never imports the experiments: ``monai-nad compare`` is the
one research command, named here by its module (:data:`RESEARCH_COMMANDS`) and loaded only when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from monai_nad import __version__, _optional

__all__ = ["main", "RESEARCH_COMMANDS"]

#: the module that carries out ``monai-nad compare`` (tables and figures of the experiments), loaded when it runs
RESEARCH_COMMANDS = "monai_nad.experiments.cli_commands"

#: the packages that importing MONAI loads when they are installed and that no command here uses through MONAI:
#: MONAI imports all its modules, and its MLflow handler, its pandas datasets, its profiling, its plots and one of its
#: metrics import these at module level with ``optional_import``. About a quarter of a small image's run
#: (:func:`_import_monai`).
MONAI_UNUSED = ("mlflow", "pandas", "sklearn", "matplotlib")

logger = logging.getLogger("monai_nad")


def _import_monai(lean: bool) -> None:
    """Import MONAI for a command; ``lean``: without the packages of :data:`MONAI_UNUSED`.

    While MONAI is imported those packages are unimportable, so MONAI's modules keep its placeholders for them (which
    raise :class:`~monai.utils.OptionalImportError` if used: MONAI's ``MLFlowHandler``, ``CSVDataset``, plots and
    embedding metrics; the bundles' inference uses none of them); then they are importable again, so the commands'
    own modules and any later ``import`` get the real packages (the demo's figure, pybids's pandas). Only where the
    process is the command's own (:func:`main` run as the program) and MONAI is not imported yet: a Python caller of
    ``main([...])`` keeps its MONAI as it is.
    """
    if not lean or "monai" in sys.modules:
        return
    absent = [name for name in MONAI_UNUSED if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError, as if not installed
    try:
        importlib.import_module("monai")
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _root_cause(err: BaseException) -> BaseException:
    """The innermost exception of a chain (bundle expressions wrap the real error in RuntimeErrors)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _summary(result: dict) -> str:
    lines = [f"denoised {len(result['written'])} image(s) in {result['seconds']:.1f} s"]
    lines += [f"  wrote {path}" for path in result["written"]]
    lines += [f"  noise map {line}" for line in result.get("noise_maps", [])]
    if result.get("existing"):
        lines.append(f"kept {len(result['existing'])} result(s) of an earlier run (--skip-existing)")
    if result.get("ignored"):
        lines.append(f"passed over {len(result['ignored'])} earlier result(s) found inside the input folders")
    if result["failures"]:
        lines.append(f"{len(result['failures'])} input(s) skipped:")
        lines += [f"  {source}: {reason}" for source, reason in result["failures"]]
    return "\n".join(lines)


def _side_by_side(clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, path: Path, title: str) -> None:
    plt = _optional.pyplot("the demo's side-by-side figure")  # without matplotlib: one line naming the extra

    panels = [("clean", clean), ("noisy", noisy), ("Neural PDE", denoised), ("|error| x4", np.abs(denoised - clean) * 4)]
    fig, axes = plt.subplots(1, 4, figsize=(13, 4))
    for ax, (name, image) in zip(axes, panels):
        ax.imshow(np.rot90(image), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def demo(output_dir: str | Path, bundle: str | Path | None = None, device: str = "auto", overwrite: bool = False) -> dict:
    """Denoise the embedded MNI sample, write a side-by-side PNG and report PSNR/SSIM before and after."""
    import nibabel as nib
    import torch

    from monai_nad.inference import SAMPLE_NOISE_STD, write_embedded_sample
    from monai_nad.inference.workflow import run_inference
    from monai_nad.metrics import psnr, ssim

    output_dir = Path(output_dir)
    noisy_path, clean_path = write_embedded_sample(output_dir / "sample")
    result = run_inference([noisy_path], output_dir / "denoised", bundle=bundle, device=device, overwrite=overwrite)
    if not result["written"]:
        raise RuntimeError(_summary(result))
    clean = nib.load(str(clean_path)).get_fdata().astype(np.float32)
    noisy = nib.load(str(noisy_path)).get_fdata().astype(np.float32)
    denoised = nib.load(result["written"][0]).get_fdata().astype(np.float32)

    def per_slice(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.moveaxis(images, -1, 0)[:, None].copy())

    scores = {}
    for name, image in (("noisy", noisy), ("denoised", denoised)):
        scores[name] = (float(psnr(per_slice(image), per_slice(clean)).mean()), float(ssim(per_slice(image), per_slice(clean)).mean()))
    middle = clean.shape[-1] // 2
    figure = output_dir / "side_by_side.png"
    title = f"MNI test slab, Rician s={SAMPLE_NOISE_STD}: PSNR {scores['noisy'][0]:.2f} -> {scores['denoised'][0]:.2f} dB"
    _side_by_side(clean[..., middle], noisy[..., middle], denoised[..., middle], figure, title)
    result.update(scores=scores, figure=str(figure))
    return result


def _number(kind: type, minimum: float, what: str, maximum: float = float("inf")):
    """An argparse type: a finite ``kind`` value from ``minimum`` to below ``maximum``, or a one-line error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not minimum <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what} >= {minimum:g}, got {text!r}")
        if not value < maximum:
            raise argparse.ArgumentTypeError(f"expected {what} below {maximum:g}, got {text!r}")
        return value

    return parse


def _shard(text: str) -> tuple[int, int]:
    """An argparse type: ``K/N`` with ``1 <= K <= N``."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 1/4), got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return k, n


def default_threads() -> int:
    """The CPU threads a run can use without oversubscribing the machine: the cores this process may run on, less
    the load other processes put on them (the one-minute load average), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(round(os.getloadavg()[0]))
    except OSError:
        busy = 0
    return max(1, cores - busy)


def _write_report(path: Path, result: dict, threads: int) -> None:
    """The machine-readable report of a run (``--report``): one entry per input, written atomically."""
    from monai_nad.inference.reports import study_digest

    report = result["report"]
    entries = report.entries() if report is not None else [
        {"input": source, "output": None, "status": "failed", "error": reason} for source, reason in result["failures"]
    ]
    body = {
        "monai_nad_version": __version__, "interrupted": bool(result.get("interrupted")), "threads": threads,
        "seconds": round(float(result.get("seconds", 0.0)), 3),
        "shard": None if report is None or report.shard is None else "%d/%d" % report.shard,
        "study": None if report is None else {"inputs": len(report.study), "sha256": study_digest(report.study)},
        "files": entries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(body, indent=1))
    os.replace(partial, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-nad", description="Learned anisotropic diffusion (Neural PDE) MRI denoising.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bundle", default=None, help="bundle folder to take the model from (default: the shipped one)")
    common.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    common.add_argument("--overwrite", action="store_true", help="replace existing results")
    batch = argparse.ArgumentParser(add_help=False)  # what denoise and bids share: a study's run
    batch.add_argument("--coils", type=_number(int, 1, "an integer"), default=None,
                       help="receiver coils of sum-of-squares magnitude images (default: read from the air; 1, Rician, with --noise-estimate level)")
    batch.add_argument("--skip-existing", action="store_true",
                       help="keep results already in the output folder and denoise the rest (finish an interrupted run)")
    batch.add_argument("--report", default=None, metavar="FILE",
                       help="write a JSON report: per input its output, status, error, model, noise, coils and seconds")
    batch.add_argument("--threads", type=_number(int, 1, "an integer"), default=None, metavar="N",
                       help="CPU threads (default: the cores not busy with other processes)")
    batch.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                       help="denoise only the K-th of N shares of the inputs (job arrays: N jobs cover the inputs exactly once)")
    batch.add_argument("-v", "--verbose", action="store_true", help="also print the engine's log")
    den = sub.add_parser("denoise", parents=[common, batch], help="denoise NIfTI/DICOM/PNG/JPEG files or folders")
    den.add_argument("inputs", nargs="+", help="files or folders")
    den.add_argument("-o", "--output-dir", required=True, help="output folder (never an input folder)")
    den.add_argument("--axis", type=int, choices=[-3, -2, -1, 0, 1, 2], default=None,
                     help="slice axis of 3D volumes (default: the thickest axis of anisotropic voxels, else the last)")
    den.add_argument("--precision", choices=["auto", "float32", "bfloat16", "int8"], default=None,
                     help="convolutions in bfloat16 (auto, the default: where the CPU has native bfloat16 units, about 2x faster) or float32; "
                          "int8: the inner convolutions in 8-bit integers on the CPU (1.5x faster per slice on a CPU with VNNI in the scanner-noise benchmark; "
                          "docs/results/int8_validation.md)")
    den.add_argument("--mode", choices=["auto", "2d", "3d"], default="auto",
                     help="auto (default): the volume model for volumes of 5 or more slices no thicker than 1.5x the in-plane voxels, "
                          "the 2D model slice by slice otherwise; 2d or 3d force one")
    den.add_argument("--batch-size", type=int, default=16, help="slices per network call (on the CPU the 2D model takes fewer of large slices)")
    den.add_argument("--save-conductance", action="store_true", help="also write the conductance maps (where diffusion stops)")
    den.add_argument("--noise-map", action="store_true",
                     help="also write <name>_noise_std.nii.gz (.npy for 2D images) next to each result: the estimated per-voxel "
                          "noise std in the scan's units, with its affine and header (the network is told the same noise as without it)")
    den.add_argument("--noise-std", type=_number(float, 0, "a finite number", float(np.finfo(np.float32).max)), default=None, metavar="SIGMA",
                     help="known noise standard deviation in the inputs' intensity units (default: estimated per image)")
    den.add_argument("--self-ensemble", type=int, choices=[1, 2, 4, 8], default=None, metavar="K",
                     help="average over K = 1, 2, 4 or 8 flips/transposes of each slice: K times the time, a little better "
                          "(default: the bundle's; the shipped 2D model: 2, and 4 where the noise is correlated)")
    den.add_argument("--noise-estimate", choices=["level", "map"], default=None,
                     help="blind runs: a per-voxel noise map, the coil count and the noise's correlation read from the air (map, "
                          "the default: white, filtered, multi-coil or parallel-imaging noise; see docs/results/scanner_noise.md) "
                          "or one white Rician noise level (level)")
    den.add_argument("--bvals", default=None, metavar="FILE",
                     help="the b-values (FSL .bval) of a 4D diffusion series given as input, with --bvecs (default: found beside the image)")
    den.add_argument("--bvecs", default=None, metavar="FILE",
                     help="the gradient directions (FSL .bvec) of a 4D diffusion series given as input, with --bvals")
    den.add_argument("--dicom-as-nifti", action="store_true",
                     help="write DICOM inputs' results as NIfTI (default: as a new DICOM series beside the others)")
    den.add_argument("--post-correction", choices=["rician_mean", "magnitude_mean", "rician_mean_posterior", "magnitude_mean_posterior"], default=None,
                     help="for models trained self-supervised on magnitude images (e.g. --bundle bundles/reproductions/diffdenoise), which "
                          "estimate the magnitude's mean: rician_mean inverts the Rician mean with one blind level per image; "
                          "magnitude_mean inverts the N-coil mean with the std map and coil count read from each scan's air "
                          "(multi-coil, filtered or parallel-imaging data; bundles that run the scan inferer with the estimate as it is); "
                          "the _posterior variants return the posterior-mean signal given the estimate's own error, read from the "
                          "air, instead of the exact inversion (no speckle in the air)")
    den.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                     help="denoise on a Ray cluster (pip install \"monai_nad[cluster]\"): auto (the default; the cluster started "
                          "with ray start, or RAY_ADDRESS), an address (ray://head:10001), or local (a Ray instance on this machine)")
    den.add_argument("--workers", type=_number(int, 1, "an integer"), default=2, metavar="N",
                     help="with --ray: N workers, each with its own model and --threads CPUs (default: 2)")
    bid = sub.add_parser("bids", parents=[common, batch], help="denoise a BIDS dataset into a BIDS derivative dataset (BIDS App arguments)")
    bid.add_argument("bids_dir", help="the BIDS dataset (with its dataset_description.json)")
    bid.add_argument("output_dir", help="the derivative dataset to write (outside the dataset, or under its derivatives/)")
    bid.add_argument("analysis_level", choices=["participant", "group"], help="participant (group: nothing to do)")
    bid.add_argument("--participant-label", nargs="+", default=None, metavar="LABEL",
                     help="the participants to denoise (01 or sub-01; default: all)")
    bid.add_argument("--suffix", nargs="+", default=None, metavar="SUFFIX",
                     help="the BIDS suffixes to denoise (default: T1w T2w FLAIR PD dwi)")
    bid.add_argument("--mode", choices=["auto", "2d", "3d"], default="auto", help="as for denoise")
    bid.add_argument("--precision", choices=["auto", "float32", "bfloat16", "int8"], default=None, help="as for denoise")
    bid.add_argument("--batch-size", type=int, default=16, help="slices per network call")
    dem = sub.add_parser("demo", parents=[common], help="denoise the embedded MNI sample and report PSNR/SSIM")
    dem.add_argument("-o", "--output-dir", default="outputs/demo", help="output folder (default: outputs/demo)")
    fit = sub.add_parser("fit", parents=[common], help="experimental: fit the 2D model to your own noisy scans (self-supervised, no "
                                                        "clean images) and write a bundle for denoise --bundle; on simulated scanner "
                                                        "noise such fits scored below the shipped model, so compare before use")
    fit.add_argument("inputs", nargs="+", help="files or folders of noisy scans (NIfTI, DICOM folders, PNG/JPEG)")
    fit.add_argument("-o", "--output", required=True, metavar="OUT_BUNDLE",
                     help="the bundle to write; running the same command again continues the fit from its last epoch")
    fit.add_argument("--epochs", type=_number(int, 1, "an integer"), default=5, help="total epochs (default: 5)")
    fit.add_argument("--epoch-length", type=_number(int, 1, "an integer"), default=100, help="iterations per epoch (default: 100)")
    fit.add_argument("--patch-size", type=_number(int, 8, "an integer"), default=64, help="square training patches, pixels (default: 64)")
    fit.add_argument("--batch-size", type=_number(int, 1, "an integer"), default=8, help="patches per iteration (default: 8)")
    fit.add_argument("--learning-rate", type=_number(float, 0, "a positive number"), default=2e-6, help="Adam's learning rate (default: 2e-6; 2e-5 cost the shipped model 6-7 dB on correlated noise)")
    fit.add_argument("--mask-radius", type=_number(int, 0, "an integer"), default=None, metavar="R",
                     help="hide the (2R+1)-wide block around each scored pixel (default: from the noise's estimated correlation; 0: white noise)")
    fit.add_argument("--coils", type=_number(int, 1, "an integer"), default=None,
                     help="receiver coils of sum-of-squares magnitude images (default: read from the air)")
    fit.add_argument("--threads", type=_number(int, 1, "an integer"), default=None, metavar="N",
                     help="CPU threads (default: the cores not busy with other processes)")
    fit.add_argument("--no-mlflow", action="store_true", help="do not track the fit in OUT_BUNDLE/runs/mlruns.db")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar (the one line per epoch stays)")
    cmp_ = sub.add_parser("compare", help="tables and figures of an experiment suite, read back from MLflow")
    cmp_.add_argument("--suite", required=True,
                      help="a suite read back from MLflow (comparison, unet_baseline, noise_sweep, ablation, self_supervised, br35h), "
                           "or a page rendered again from the record its benchmark wrote (real_anatomy, diffusivity_family, volumes)")
    cmp_.add_argument("--store", default="runs/suites/mlflow.db", help="the suites' MLflow SQLite store")
    cmp_.add_argument("-o", "--output-dir", default="docs/results", help="where <suite>.md and figures go")
    rep = sub.add_parser("report", help="the --report files of a study's runs: merge the shards' reports")
    rep_sub = rep.add_subparsers(dest="report_command", required=True)
    merge = rep_sub.add_parser("merge", help="combine the --report files of --shard 1/N ... N/N into one, checking "
                                             "that every input of the study appears exactly once")
    merge.add_argument("reports", nargs="+", help="the report files")
    merge.add_argument("-o", "--output", required=True, metavar="FILE", help="the combined report to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``monai-nad`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with _console(verbose=bool(getattr(args, "verbose", False))):
        return _run(args, argv)


@contextlib.contextmanager
def _console(verbose: bool):
    """The project's log on the console for one command: warnings and errors, one line each (``-v``: everything).

    The handler is the command's own (to this call's ``sys.stderr``), whatever logging the host process set up.
    """
    log = logging.getLogger("monai_nad")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False  # one line per message, whatever the host's (or, with -v, the bundle's) logging adds
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def _finish_study(args: argparse.Namespace, result: dict, threads: int, extra: str = "") -> int:
    """The end of a ``denoise`` or ``bids`` run: the ``--report``, the summary (after Ctrl-C with one line first), the
    exit status (0 all done, 1 some skipped, 130 interrupted)."""
    if args.report:
        _write_report(Path(args.report), result, threads)
    if result["interrupted"]:
        print("monai-nad: interrupted (Ctrl-C); the results listed below are complete, the rest were not started "
              "or were discarded", file=sys.stderr)
        print(_summary(result))
        return 130
    print(_summary(result))
    if extra:
        print(extra)
    return 1 if result["failures"] else 0


def _run(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    """Carry out the parsed command; returns the exit status."""
    try:
        lean = argv is None  # the process is the command's own: MONAI without what it would load and no command uses
        if args.command == "report":
            _import_monai(lean)
            from monai_nad.inference.reports import merge_reports, write_report_file

            merged = merge_reports(args.reports)
            statuses = sorted({row["status"] for row in merged["files"]})
            counts = ", ".join(f"{sum(row['status'] == s for row in merged['files'])} {s}" for s in statuses)
            print(f"merged {len(args.reports)} report(s): {len(merged['files'])} input(s), each once ({counts}) -> "
                  f"{write_report_file(args.output, merged)}")
            return 0
        if args.command == "compare":
            command = "monai-nad " + " ".join(sys.argv[1:] if argv is None else argv)
            return importlib.import_module(RESEARCH_COMMANDS).compare(args.suite, args.store, args.output_dir, command)
        if args.command == "fit":
            _import_monai(False)  # the fit is tracked with MLflow
            import torch

            from monai_nad.inference.fit import FitOptions, fit_scans

            torch.set_num_threads(args.threads or default_threads())
            options = FitOptions(
                epochs=args.epochs, epoch_length=args.epoch_length, patch_size=args.patch_size, batch_size=args.batch_size,
                learning_rate=args.learning_rate, mask_radius=args.mask_radius, device=args.device, coils=args.coils, tracking=not args.no_mlflow,
                progress=not args.no_progress,
            )
            command = "monai-nad " + " ".join(sys.argv[1:] if argv is None else argv)
            record = fit_scans(args.inputs, args.output, options, bundle=args.bundle, overwrite=args.overwrite, command=command,
                               echo=lambda line: print(line, flush=True))
            print(f"fitted {record['epochs']} epoch(s) to {len(record['scans'])} scan(s) in {record['total_wall_time_s']:.0f} s: "
                  f"bundle {args.output} (monai-nad denoise --bundle {args.output} ...)")
            print("experimental: on simulated scanner noise such fits scored below the shipped model "
                  "(scripts/fit_scanner_cell.py); compare its output with the shipped model's before using it")
            return 0
        if args.command == "bids":
            if args.analysis_level == "group":
                print("monai-nad: nothing to do at group level (scans are denoised at participant level)")
                return 0
            _import_monai(lean)
            import torch

            from monai_nad.bids import denoise_bids  # pybids only for this command

            if args.overwrite and args.skip_existing:
                raise ValueError("--overwrite and --skip-existing contradict each other: give one.")
            threads = args.threads or default_threads()
            torch.set_num_threads(threads)
            result = denoise_bids(
                args.bids_dir, args.output_dir, participant_labels=args.participant_label, suffixes=args.suffix,
                bundle=args.bundle, device=args.device, batch_size=args.batch_size, overwrite=args.overwrite, coils=args.coils,
                mode=args.mode, precision=args.precision, skip_existing=args.skip_existing, verbose=args.verbose, shard=args.shard,
            )
            extra = f"BIDS derivative dataset: {args.output_dir} ({len(result['sidecars'])} sidecar/bval/bvec file(s) written)"
            return _finish_study(args, result, threads, extra)
        if args.command == "denoise":
            _import_monai(lean)
            import torch

            from monai_nad.inference.ray_data import denoise_with_ray
            from monai_nad.inference.workflow import run_inference

            if args.overwrite and args.skip_existing:
                raise ValueError("--overwrite and --skip-existing contradict each other: give one.")
            threads = args.threads or default_threads()
            torch.set_num_threads(threads)
            on_ray = {} if args.ray is None else {"address": args.ray, "workers": args.workers, "cpus_per_worker": args.threads or 1}
            result = (run_inference if args.ray is None else denoise_with_ray)(
                args.inputs, args.output_dir, **on_ray, bundle=args.bundle, device=args.device, axis=args.axis,
                batch_size=args.batch_size, overwrite=args.overwrite, save_conductance=args.save_conductance,
                post_correction=args.post_correction, noise_std=args.noise_std, coils=args.coils,
                self_ensemble=args.self_ensemble, mode=args.mode, precision=args.precision, skip_existing=args.skip_existing,
                verbose=args.verbose, shard=args.shard, dicom_as_nifti=args.dicom_as_nifti, noise_map=args.noise_map,
                noise_estimate=args.noise_estimate, bvals=args.bvals, bvecs=args.bvecs,
            )
            return _finish_study(args, result, threads)
        _import_monai(lean)
        result = demo(args.output_dir, bundle=args.bundle, device=args.device, overwrite=args.overwrite)
        print(_summary(result))
        for name in ("noisy", "denoised"):
            print(f"{name:>9}: PSNR {result['scores'][name][0]:6.2f} dB   SSIM {result['scores'][name][1]:.4f}")
        print(f"side-by-side figure: {result['figure']}")
        return 0
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, _optional.OptionalImportError) as err:  # a missing extra too
        print(f"monai-nad: error: {_root_cause(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "fit":
            print("monai-nad: interrupted (Ctrl-C); run the same command again to continue from the last completed epoch", file=sys.stderr)
            return 130
        print("monai-nad: interrupted (Ctrl-C) before any scan was denoised", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
