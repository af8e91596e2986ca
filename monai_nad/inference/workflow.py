"""Denoising with a bundle's inference workflow: what ``monai-nad denoise`` and ``monai-nad bids`` run.

:func:`run_inference` runs the bundle's ``inference.json`` through MONAI's bundle workflow, so the command line and
``python -m monai.bundle run --config_file inference.json`` denoise identically. User values reach the config as data
(:func:`~monai_nad.engines.data_overrides`), never as config text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigWorkflow

from monai_nad.bundle import bundle_config_files, default_bundle, int8_ranges_path
from monai_nad.engines.user_values import data_overrides
from monai_nad.inference.inferer import takes_noise_std
from monai_nad.inference.inputs import InputReport

__all__ = ["inference_workflow", "run_inference"]


@contextlib.contextmanager
def _silenced(name: str) -> Iterator[None]:
    """Raise the level of logger ``name`` to ERROR for the duration of the block."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def checked_device(device: str) -> str | None:
    """``device`` checked against this machine, or None for ``"auto"`` (the bundle's own choice)."""
    if device == "auto":
        return None
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"invalid --device {device!r}: {err}") from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device} was requested but CUDA is not available on this machine.")
    return str(parsed)


def inference_workflow(
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    bundle: str | Path | None = None,
    device: str = "auto",
    axis: int | None = None,
    batch_size: int = 16,
    overwrite: bool = False,
    save_conductance: bool = False,
    post_correction: str | None = None,
    noise_std: float | None = None,
    coils: int | None = None,
    self_ensemble: int | None = None,
    mode: str = "auto",
    precision: str | None = None,
    skip_existing: bool = False,
    verbose: bool = False,
    shard: tuple[int, int] | None = None,
    dicom_as_nifti: bool = False,
    outputs: Mapping[str | Path, str | Path] | None = None,
    noise_map: bool = False,
    noise_estimate: str | None = None,
    planned: InputReport | None = None,
    bvals: str | Path | None = None,
    bvecs: str | Path | None = None,
) -> ConfigWorkflow:
    """The bundle's inference workflow for ``inputs`` and these options, initialised; :func:`run_inference` runs it.

    Its ``inputs`` item (:func:`~monai_nad.inference.prepare_inputs`) plans the study; the network is loaded when the
    workflow runs (or here, to check that it takes a ``noise_std``).

    Args:
        inputs: files and/or folders.
        output_dir: where the denoised images go (must not be an input folder).
        bundle: bundle folder (``configs/inference.json`` merged after ``configs/common.json`` if present, ``models/model.pt``). Defaults to the shipped one.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        axis: slicing axis of 3D volumes; None: the bundle's choice (the thickest axis of anisotropic voxels, else the last).
        batch_size: slices per network call.
        overwrite: replace existing results.
        save_conductance: also write the step-averaged conductance maps next to each result.
        post_correction: for models trained self-supervised on magnitude images (they estimate the magnitude's mean):
            ``"rician_mean"`` (:class:`~monai_nad.networks.RicianMeanInversion`, one blind level per image) or
            ``"magnitude_mean"`` (:class:`~monai_nad.networks.MagnitudeMeanInversion`, the estimated std map and coil
            count of each scan; for bundles whose scan inferer passes them as they are,
            :data:`~monai_nad.inference.RAW_NOISE_ESTIMATE`); ``"rician_mean_posterior"``, ``"magnitude_mean_posterior"``:
            the same with the posterior-mean signal given the estimate's error
            (:func:`~monai_nad.transforms.posterior_magnitude`). Defaults to the bundle's setting.
        noise_std: the noise standard deviation in the inputs' own intensity units, for bundles whose network takes
            a noise level. Defaults to None: estimated blindly for each image (volumes: once per volume).
        coils: receiver coils of sum-of-squares magnitude inputs (non-central chi noise; 1: Rician). Defaults to None:
            read from the air of each scan (with the noise level) where the level is not given, else 1.
        self_ensemble: average the network over 1, 2, 4 or 8 flips/transposes of each slice (k times the time, a
            result that does not depend on orientation); for the 2D and the volume model alike, whatever the noise.
            Defaults to the bundle's settings (2D model: 2, and 4 for slices whose noise is correlated, see
            ``correlated_self_ensemble`` of :class:`~monai_nad.networks.NoiseConditionedPDE`; volume model: 1, whose
            neighbouring slices already average).
        mode: ``"auto"`` (the volume model for volumes with at least 5 slices no thicker than 1.5 times the in-plane
            voxels, the 2D model slice by slice otherwise), ``"2d"`` or ``"3d"``; see
            :func:`~monai_nad.inference.choose_mode`. Defaults to ``"auto"``.
        precision: ``"auto"`` (bfloat16 convolutions on CPUs with native bfloat16 units, float32 elsewhere),
            ``"float32"``, ``"bfloat16"`` or ``"int8"`` (the inner convolutions in 8-bit integers on the CPU, with the
            bundle's ``models/int8_ranges.json``); see :class:`~monai_nad.inference.ScanInferer`. Defaults to the bundle's.
        skip_existing: keep results already in ``output_dir`` and denoise only the other inputs. Defaults to False.
        shard: ``(k, n)``: denoise only the k-th of n shares of the inputs (see
            :func:`~monai_nad.inference.prepare_inputs`). Defaults to None: all of them.
        noise_estimate: how a blind run estimates the noise (:data:`~monai_nad.inference.NOISE_ESTIMATES`):
            ``"map"`` (a per-voxel std map, the coil count and the correlation from the air) or ``"level"`` (one white
            Rician level). Defaults to the bundle's (``"map"``).
        dicom_as_nifti: write DICOM series' results as NIfTI. Defaults to False: as new DICOM series (new UIDs, the
            source's headers and geometry, a description naming the denoiser and its version).
        verbose: print the engine's log (the bundle's ``logging.conf``) and the progress of the slices and windows
            within a scan. Defaults to False: one progress bar over the scans, warnings and errors only.
        outputs: input file -> its result path relative to ``output_dir`` (e.g. BIDS derivative names; see
            :func:`~monai_nad.inference.prepare_inputs`). Defaults to None: results are named as usual.
        noise_map: also write each input's estimated noise next to its result, ``<name>_noise_std.nii.gz`` (``.npy``
            for 2D images): the per-voxel noise std in the scan's own units, with the input's affine and header
            (:func:`~monai_nad.transforms.noise_map.estimate_noise`; see :class:`~monai_nad.inference.SaveDenoisedd`).
            The noise the network is told does not change. Defaults to False.
        planned: scans already planned (e.g. one batch of a study planned by another workflow; see
            :mod:`monai_nad.inference.ray_data`): the workflow denoises ``planned.items``, records in ``planned``, and
            plans nothing (``inputs`` is not read). Defaults to None: the workflow plans ``inputs``.
        bvals, bvecs: the ``.bval``/``.bvec`` files of a 4D diffusion series given as input (both or neither; see
            :func:`~monai_nad.inference.prepare_inputs`). Defaults to None: looked for beside each 4D NIfTI.

    Returns:
        the initialised :class:`monai.bundle.ConfigWorkflow`; ``workflow.parser.get_parsed_content("inputs")`` is the
        run's :class:`~monai_nad.inference.InputReport`.

    Raises:
        FileNotFoundError: the bundle, its config or its weights are missing.
        ValueError: a bad argument, a mismatched checkpoint, or no usable input.
    """
    bundle = Path(bundle) if bundle is not None else default_bundle()
    # a bundle may share definitions between its configs in configs/common.json (merged first)
    files = bundle_config_files(bundle, ["inference.json"])
    config = files[-1]
    if not config.is_file():
        raise FileNotFoundError(f"no inference config at {config}: is {bundle} a monai_nad bundle?")
    output_dir = Path(output_dir)
    # every user value reaches the config as data (a fixed expression returns it), never as config text:
    # MONAI would evaluate a file name starting with "$" as Python
    values = {
        "bundle_root": str(bundle), "output_dir": str(output_dir), "denoised_dir": str(output_dir),
        "input_paths": [str(p) for p in inputs], "slice_batch_size": int(batch_size),
        "overwrite": bool(overwrite), "save_conductance": bool(save_conductance),
        "skip_existing": bool(skip_existing),
    }
    if coils is not None:
        values["coils"] = int(coils)
    elif noise_std is not None:
        values["coils"] = 1  # a given level without a coil count: Rician, as before
    if shard is not None:
        values["shard"] = [int(shard[0]), int(shard[1])]
    if dicom_as_nifti:
        values["dicom_as_nifti"] = True
    if noise_estimate is not None:
        if noise_estimate not in ("level", "map"):
            raise ValueError(f"--noise-estimate must be level or map, got {noise_estimate!r}.")
        if "@noise_estimate" not in config.read_text():
            raise ValueError(f"the bundle {bundle} has no noise estimate setting: run it without --noise-estimate.")
        values["noise_estimate"] = noise_estimate
    if noise_map:
        if "@noise_map" not in config.read_text():
            raise ValueError(f"the bundle {bundle} cannot write noise maps (no noise_map in its inference.json): run it without --noise-map.")
        values["noise_map"] = True
    if (bvals is None) != (bvecs is None):
        raise ValueError("--bvals and --bvecs go together: name both files, or neither.")
    if bvals is not None:
        if "@bvals" not in config.read_text():
            raise ValueError(f"the bundle {bundle} cannot be given gradient files (no bvals in its inference.json): run it without --bvals/--bvecs.")
        for flag, path in (("--bvals", bvals), ("--bvecs", bvecs)):
            if not Path(path).is_file():
                raise ValueError(f"{flag} {path}: no such file.")
        values["bvals"], values["bvecs"] = str(bvals), str(bvecs)
    if outputs:
        if "@output_paths" not in config.read_text():
            raise ValueError(f"the bundle {bundle} cannot name its results (no output_paths in its inference.json): update the bundle.")
        values["output_paths"] = {str(source): str(target) for source, target in outputs.items()}
    if not verbose and "@progress" in config.read_text():
        values["progress"] = False  # the bars within a scan; the bar over the scans stays
    if axis is not None:
        values["slice_axis"] = int(axis)
    if noise_std is not None:
        values["noise_std"] = float(noise_std)
    if mode not in ("auto", "2d", "3d"):
        raise ValueError(f"--mode must be auto, 2d or 3d, got {mode!r}.")
    if mode != "auto":
        if "@mode" not in config.read_text():
            raise ValueError(f"the bundle {bundle} has no volume model to choose from: run it without --mode.")
        if mode == "3d" and not (bundle / "models" / "model_3d.pt").is_file():
            raise ValueError(f"--mode 3d needs the volume model {bundle / 'models' / 'model_3d.pt'}, which does not exist.")
        values["mode"] = mode
    if precision is not None:
        if precision not in ("auto", "float32", "bfloat16", "int8"):
            raise ValueError(f"--precision must be auto, float32, bfloat16 or int8, got {precision!r}.")
        if "@precision" not in config.read_text():
            raise ValueError(f"the bundle {bundle} has no precision setting: run it without --precision.")
        if precision == "int8" and not int8_ranges_path(bundle).is_file():
            raise ValueError(f"--precision int8 needs the bundle's int8 calibration {int8_ranges_path(bundle)}, which does not exist "
                             "(scripts/calibrate_int8.py writes it).")
        values["precision"] = precision
    if self_ensemble is not None:
        if self_ensemble not in (1, 2, 4, 8):
            raise ValueError(f"--self-ensemble must be 1, 2, 4 or 8, got {self_ensemble!r}.")
        definitions = [json.loads(c.read_text()).get("network_def") for c in files]
        if not any("@self_ensemble" in json.dumps(d) for d in definitions if d):  # the network takes the setting
            raise ValueError(f"the network of {bundle} has no self-ensemble setting: run it without --self-ensemble.")
        values["self_ensemble"] = int(self_ensemble)
        if any("@correlated_self_ensemble" in json.dumps(d) for d in definitions if d):  # K for every image, correlated noise too
            values["correlated_self_ensemble"] = int(self_ensemble)
        if "@volume_self_ensemble" in config.read_text():  # the volume model too
            values["volume_self_ensemble"] = int(self_ensemble)
    checked = checked_device(device)
    if checked is not None:
        values["device"] = checked
    if post_correction is not None:
        if str(post_correction).startswith("magnitude_mean") and "RAW_NOISE_ESTIMATE" not in config.read_text():
            raise ValueError(f"the bundle {bundle} does not pass the estimated noise map as it is (its inferer's white_gain): "
                             f"run it without --post-correction {post_correction}.")
        values["post_correction"] = str(post_correction)
    if planned is not None:
        values["inputs"] = planned
    quiet = contextlib.nullcontext() if verbose else _silenced("monai.bundle.workflows")  # its note on logging_file=False
    with quiet:
        workflow = ConfigWorkflow(
            config_file=[str(f) for f in files] if len(files) > 1 else str(config),
            meta_file=str(bundle / "configs" / "metadata.json"),
            workflow_type="inference",
            logging_file=None if verbose else False,  # False: leave the console's logging as the command line set it
            finalize=[],  # the command line prints its own summary of the results
            **data_overrides(values),
        )
    workflow.initialize()
    if noise_std is not None:
        network = workflow.parser.get_parsed_content("network")
        if not takes_noise_std(network):
            raise ValueError(f"the network of {bundle} ({type(network).__name__}) does not take a noise level: run it without --noise-std.")
    return workflow


def run_inference(inputs: Sequence[str | Path], output_dir: str | Path, **options: Any) -> dict:
    """Denoise ``inputs`` with a bundle's inference workflow (:func:`inference_workflow`).

    Args:
        inputs: files and/or folders.
        output_dir: where the denoised images go (must not be an input folder).
        options: the keyword arguments of :func:`inference_workflow` (``bundle``, ``device``, ``mode``, ...).

    Returns:
        ``{"written": [...], "failures": [(input, reason), ...], "existing": [(input, result), ...], "ignored": [...],
        "seconds": float, "interrupted": bool, "report": InputReport}``: ``written`` lists only what this run wrote;
        ``interrupted`` is True when Ctrl-C stopped the run (what finished before is kept and listed).

    Raises:
        FileNotFoundError: the bundle, its config or its weights are missing.
        ValueError: a bad argument, a mismatched checkpoint, or no usable input.
    """
    start = time.time()
    workflow = inference_workflow(inputs, output_dir, **options)
    report = workflow.parser.get_parsed_content("inputs")
    interrupted = False
    try:
        workflow.run()
    except KeyboardInterrupt:
        interrupted = True
    else:
        workflow.finalize()
    return {
        "written": list(report.written), "failures": list(report.failures), "existing": list(report.existing),
        "ignored": list(report.ignored), "seconds": time.time() - start, "interrupted": interrupted, "report": report,
        "noise_maps": _noise_log(workflow) if options.get("noise_map") else [],
    }


def _noise_log(workflow: object) -> list[str]:
    """The lines the bundle's :class:`~monai_nad.inference.SaveDenoisedd` kept of the noise maps it wrote."""
    post = workflow.parser.get_parsed_content("postprocessing")
    return [line for t in getattr(post, "transforms", [post]) for line in getattr(t, "noise_log", [])]
