"""Training runs of the bundles through ``python -m monai.bundle run``, and their records.

The library side of ``scripts/train_real_scan.py`` (the shipped bundle's ``train.json``: the real-scan Neural PDE, the
volume model, and the learned baselines of ``bundles/reproductions`` on the same recipe) and
``scripts/train_pretrained.py`` (the reproduction ``bundles/reproductions/neural_pde_v0.2``: the two stages of the v0.2
model, or one run of its ``train.json`` with extra configs). Every run is a subprocess built by :func:`monai_nad.engines.bundle_command`, so user paths reach the
configs as data; its wall time and hardware are recorded (:mod:`monai_nad.engines.training_record`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser

from monai_nad.engines.bundle_layout import BASELINE_CNN_CONFIG, BR35H_CONFIG, DIFFUSIVITY_REAL_SCAN_CONFIG, REPRODUCTIONS
from monai_nad.engines.checkpoints import average_weights, save_weights, warm_start
from monai_nad.engines.resume import snapshot_path
from monai_nad.engines.training_record import (
    RECORD_NAME,
    hardware_info,
    install_checkpoint,
    installs_shipped_model,
    previous_record,
    recorded_path,
    update_record,
)
from monai_nad.engines.user_values import bundle_command

__all__ = [
    "PRETRAINED_STAGES",
    "REAL_SCAN_FAMILY",
    "RealScanOptions",
    "check_stages",
    "real_scan_command",
    "real_scan_init_checkpoint",
    "check_init_checkpoint",
    "run_bundle",
    "run_train_config",
    "train_pretrained_stages",
    "train_real_scan",
    "train_with_extra_configs",
]

#: the stages of the v0.2 model, in training order
PRETRAINED_STAGES = ("diffusion", "refinement")
#: the learned-diffusivity family members trained on the real-scan recipe as baselines (``--network``), with the sizes
#: of their diffusivities (``diffusivity_kwargs``; the sizes the family's paper gives for sigma 25/255)
REAL_SCAN_FAMILY: dict[str, dict[str, int]] = {"pm_exponential": {}, "ka": {}, "foe_s": {"kernel_size": 5, "num_experts": 30}}


def run_bundle(command: Sequence[str], env: Mapping[str, str]) -> tuple[int, float]:
    """Print and run one ``python -m monai.bundle run`` command line.

    Args:
        command: the command line, e.g. from :func:`monai_nad.engines.bundle_command`.
        env: its environment (which carries the user values).

    Returns:
        ``(returncode, seconds)``: the exit code of the subprocess and its wall time.
    """
    print("running:", " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run(list(command), check=False, env=dict(env))
    return result.returncode, time.time() - start


def run_train_config(
    bundle: Path,
    configs: Sequence[str | Path],
    output_dir: Path,
    overrides: Sequence[str],
    tracking: str | None = None,
    paths: Mapping[str, Path] | None = None,
) -> tuple[Path, float]:
    """Run the bundle's ``train.json`` merged with ``configs`` and find the checkpoint it keeps.

    Paths (``output_dir`` and ``paths``) reach the config as data (:func:`monai_nad.engines.bundle_command`), so a
    folder name starting with ``$`` or ``@`` is never evaluated.

    Args:
        bundle: the bundle folder (``bundles/reproductions/neural_pde_v0.2``).
        configs: configs merged after ``train.json``: names in ``<bundle>/configs``, or paths of other bundles' configs.
        output_dir: the run's output folder (checkpoints in ``<output_dir>/checkpoints``).
        overrides: ``--key value`` pairs passed to ``monai.bundle run`` unchanged.
        tracking: ``monai.bundle run --tracking`` (e.g. ``"mlflow"``); None for none.
        paths: further config key -> path, passed as data (e.g. ``init_ckpt_path``).

    Returns:
        ``(checkpoint, seconds)``: ``best_model.pt`` (the best validation checkpoint) or, where there is none (a
        self-supervised run keeps its final weights), ``final_model.pt``; and the wall time of the run.

    Raises:
        RuntimeError: the run failed or kept no checkpoint.
    """
    folder = bundle / "configs"
    values = {"bundle_root": str(bundle), "output_dir": str(output_dir), **{k: str(v) for k, v in (paths or {}).items()}}
    run_args = ["--meta_file", str(folder / "metadata.json"), "--logging_file", str(folder / "logging.conf")]
    command, env = bundle_command(
        [folder / name for name in ["train.json", *configs]], values, overrides, run_args + (["--tracking", tracking] if tracking else [])
    )
    returncode, elapsed = run_bundle(command, env)
    if returncode != 0:
        raise RuntimeError(f"training failed with exit code {returncode}: {' '.join(command)}")
    candidates = [output_dir / "checkpoints" / name for name in ("best_model.pt", "final_model.pt")]
    best = next((path for path in candidates if path.is_file()), None)
    if best is None:
        raise RuntimeError(f"no checkpoint at {' or '.join(map(str, candidates))}")
    return best, elapsed


def _run_info(command: str, best: Path, elapsed: float, **fields: Any) -> dict[str, Any]:
    """The record of one run of :func:`run_train_config`: ``fields`` then wall time, hardware and checkpoint size."""
    return {"command": command, **fields, "wall_time_s_this_invocation": round(elapsed, 1), "hardware": hardware_info(),
            "torch": torch.__version__, "checkpoint_bytes": best.stat().st_size}


def train_with_extra_configs(
    bundle: Path, configs: Sequence[str | Path], output_dir: Path, max_epochs: int, overrides: Sequence[str], tracking: str | None, command: str
) -> dict[str, Any]:
    """One run of ``train.json`` merged with ``configs`` (e.g. the baselines' ``unet_baseline.json``); nothing is installed.

    The record is written to ``<output_dir>/training_info.json`` and printed.

    Args:
        bundle: the bundle folder.
        configs: configs merged after ``train.json``: names in ``<bundle>/configs``, or paths of other bundles' configs.
        output_dir: the run's output folder.
        max_epochs: epochs of the run.
        overrides: further ``--key value`` pairs for ``monai.bundle run``.
        tracking: ``monai.bundle run --tracking``; None for none.
        command: the command line recorded as the run's origin.

    Returns:
        The record: command, epochs, wall time, hardware, torch version and checkpoint size.

    Raises:
        RuntimeError: the run failed or kept no checkpoint.
    """
    best, elapsed = run_train_config(bundle, configs, output_dir, ["--max_epochs", str(max_epochs), *overrides], tracking)
    info = _run_info(command, best, elapsed, max_epochs=max_epochs)
    (output_dir / RECORD_NAME).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return info


def check_stages(stages: Iterable[str]) -> list[str]:
    """The stage names of :data:`PRETRAINED_STAGES` in ``stages``, stripped, empty names dropped.

    Raises:
        ValueError: a name is not a stage.
    """
    stages = [s.strip() for s in stages if s.strip()]
    unknown = sorted(set(stages) - set(PRETRAINED_STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {list(PRETRAINED_STAGES)}")
    return stages


def train_pretrained_stages(
    bundle: Path,
    output_dir: Path,
    stages: Iterable[str],
    command: str,
    diffusion_epochs: int = 70,
    refinement_epochs: int = 50,
    refinement_lr: float = 5e-4,
    overrides: Sequence[str] = (),
    tracking: str | None = None,
    install: bool = True,
    diffusion_bundle: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Train the stages of the v0.2 model in ``<output_dir>/<stage>`` and install them in their bundles.

    ``diffusion``: ``train.json`` + ``diffusion_only.json`` (of ``diffusion_bundle``) without the log-MSE loss term,
    installed as ``<diffusion_bundle>/models/model.pt``; ``refinement``: ``train.json`` started from the diffusion
    stage's best checkpoint at ``refinement_lr``, installed as ``<bundle>/models/model.pt``. Each stage's record is
    written to ``<output_dir>/<stage>/training_info.json`` and printed; installing adds it to
    ``<bundle>/docs/training_info.json``.

    Args:
        bundle: the v0.2 bundle folder (``bundles/reproductions/neural_pde_v0.2``).
        output_dir: the folder of the stage folders.
        stages: the stages to run (trained in the order of :data:`PRETRAINED_STAGES`).
        command: the command line recorded as the runs' origin.
        diffusion_epochs: epochs of the diffusion stage.
        refinement_epochs: epochs of the refinement stage.
        refinement_lr: learning rate of the refinement stage.
        overrides: further ``--key value`` pairs for every stage.
        tracking: ``monai.bundle run --tracking``; None for none.
        install: copy each stage's checkpoint into its bundle's ``models`` and record it.
        diffusion_bundle: the bundle of the first stage; defaults to ``diffusion_only`` beside ``bundle``.

    Returns:
        Stage name -> its record, for the stages run.

    Raises:
        ValueError: an unknown stage name (before anything runs).
        RuntimeError: a run failed or kept no checkpoint, or the refinement stage has no diffusion stage to start from.
    """
    stages = check_stages(stages)
    diffusion_bundle = Path(bundle).parent / "diffusion_only" if diffusion_bundle is None else Path(diffusion_bundle)
    diffusion_ckpt = output_dir / "diffusion" / "checkpoints" / "best_model.pt"
    plan = {  # stage -> (configs after train.json, overrides, config paths, installed file)
        "diffusion": ([(diffusion_bundle / "configs" / "diffusion_only.json").resolve()],
                      ["--loss#log_mse_weight", "0.0", "--max_epochs", str(diffusion_epochs)], None, diffusion_bundle / "models" / "model.pt"),
        "refinement": ([], ["--learning_rate", str(refinement_lr), "--max_epochs", str(refinement_epochs)],
                       {"init_ckpt_path": diffusion_ckpt}, Path(bundle) / "models" / "model.pt"),
    }
    info_path = bundle / "docs" / "training_info.json"
    record = json.loads(info_path.read_text()) if info_path.is_file() else {}
    record = record if "stages" in record else {"stages": {}}
    done: dict[str, dict[str, Any]] = {}
    for stage in PRETRAINED_STAGES:
        if stage not in stages:
            continue
        if stage == "refinement" and not diffusion_ckpt.is_file():
            raise RuntimeError(f"the refinement stage starts from {diffusion_ckpt}: run the diffusion stage first")
        configs, stage_overrides, paths, target = plan[stage]
        all_overrides = [*stage_overrides, *overrides]
        best, elapsed = run_train_config(bundle, configs, output_dir / stage, all_overrides, tracking, paths)
        info = _run_info(command, best, elapsed, stage_configs=["train.json", *(Path(c).name for c in configs)], stage_overrides=" ".join(all_overrides))
        (output_dir / stage / RECORD_NAME).write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps({stage: info}, indent=2), flush=True)
        done[stage] = info
        if install:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(best, target)
            record["stages"][stage] = info | {"installed_as": f"{target.parents[1].name}/models/{target.name}"}
            info_path.parent.mkdir(parents=True, exist_ok=True)
            info_path.write_text(json.dumps(record, indent=2) + "\n")
            print(f"installed {target} ({info['checkpoint_bytes']} bytes); training info in {info_path}", flush=True)
    return done


@dataclass
class RealScanOptions:
    """What a real-scan run trains (the shipped bundle's ``configs/common.json`` + ``train.json`` and the network's
    configs).

    Args:
        network: ``"pde"`` (the Neural PDE), ``"volume"`` (``volume.json`` + ``train_volume.json``), ``"dncnn"`` or
            ``"unet"`` (``reproductions/baselines/configs/baseline_cnn.json``), or a member of
            :data:`REAL_SCAN_FAMILY` (``reproductions/diffusivity/configs/diffusivity_real_scan.json``).
        volumes: the training/validation volumes (``"mni"``, ``"colin27"``).
        volume_weights: one sampling weight per training volume (see
            :func:`~monai_nad.data.realistic_training_dataset`); None for equal weights.
        max_epochs: epochs (ignored with ``time_budget_s``).
        epoch_length: iterations per epoch.
        val_interval: epochs between validations (at most the epochs).
        loss: ``"l1"``, ``"mse"`` or ``"log_mse"`` (the mean over the patches of ``ln MSE``: every noise level weighed by
            its relative error, see :class:`~monai_nad.losses.HybridDenoisingLoss`).
        ssim_weight: with ``loss="log_mse"``, add this weight times ``1 - SSIM`` (7x7 Gaussian windows, data range 1) of
            each batch: it penalises a faint noise floor left in the air, which costs the MSE little but the SSIM much;
            None for the config's (0).
        learning_rate: the initial learning rate; None for the config's.
        noise_std_jitter: relative error of the noise level the network is told in training (log-normal, see
            :class:`~monai_nad.engines.NoiseStdBatch`); None for the config's (0.03).
        scanner_prob: the share of training pairs made through a simulated scanner acquisition (correlated,
            multi-coil, parallel-imaging noise; see :func:`~monai_nad.data.realistic_transforms`); None for the
            config's (0).
        partial_fourier_share: of those, the share of one-coil magnitude partial-Fourier acquisitions without taper or
            reduced extent (:func:`~monai_nad.transforms.scanner_noise_pairs`); None for the config's (0).
        simulation_margin: the context (pixels, every in-plane side) around each training patch that the augmentation
            and the noise simulation see before the patch is cropped (:func:`~monai_nad.data.realistic_transforms`);
            None for the config's (0).
        snapshot_interval: keep the network's weights after every this many epochs in
            ``<output_dir>/checkpoints/snapshots/epoch_N.pt`` (:class:`~monai_nad.engines.ResumeHandler`), to choose
            an epoch on other data afterwards; None for the config's (0: none).
        white_gain: tell the network the white-equivalent level of the simulated acquisitions' correlated noise
            (:func:`~monai_nad.data.realistic_transforms`'s ``white_gain``); None for the config's (the per-pixel std).
        noise_std_range: the range ``(low, high)`` of the per-channel noise std drawn in training; None for the config's
            (0.005 to 0.2).
        data: ``"real_anatomy"`` or ``"br35h"`` (which needs ``br35h_root``).
        br35h_root: the Br35H-like folder (``reproductions/br35h/configs/train_br35h.json``); None for the real-anatomy
            slabs.
        init_checkpoint: weights to start from (fine-tuning); None to start from scratch.
        detail_layers: layers of the Neural PDE's detail head; None for the config's.
        features: width of the Neural PDE's encoder and refinement head (``network_def#features``); None for the
            config's. A wider network started from ``init_checkpoint`` computes the checkpoint's function at first
            (:func:`~monai_nad.engines.warm_start`).
        detail_features: width of the Neural PDE's detail head (``network_def#detail_features``); None for the config's.
        correlation_input: whether the Neural PDE reads the noise's correlation widths (``correlation_input`` of
            ``configs/common.json``, true for the shipped model); None for the config's.
        volume_layers: layers of the volume model's 3D head; None for the config's.
        slice_axis_steps: the volume model's diffusion steps between slices; None for the config's.
        context_slices: the volume model's neighbouring slices either side; None for the config's.
        time_budget_s: train for this many seconds (not resumable) instead of ``max_epochs``; None for epochs.
    """

    network: str = "pde"
    volumes: Sequence[str] = ("mni", "colin27")
    volume_weights: Sequence[float] | None = None
    noise_std_jitter: float | None = None
    scanner_prob: float | None = None
    partial_fourier_share: float | None = None
    simulation_margin: int | None = None
    snapshot_interval: int | None = None
    white_gain: float | None = None
    noise_std_range: Sequence[float] | None = None
    max_epochs: int = 40
    epoch_length: int = 250
    val_interval: int = 4
    loss: str = "l1"
    ssim_weight: float | None = None
    learning_rate: float | None = None
    data: str = "real_anatomy"
    br35h_root: Path | None = None
    init_checkpoint: Path | None = None
    detail_layers: int | None = None
    features: int | None = None
    detail_features: int | None = None
    correlation_input: bool | None = None
    volume_layers: int | None = None
    slice_axis_steps: int | None = None
    context_slices: int | None = None
    time_budget_s: float | None = None


def real_scan_init_checkpoint(bundle: Path, network: str, init_checkpoint: Path | None, time_budget_s: float | None) -> Path | None:
    """The weights a real-scan run starts from: ``init_checkpoint``, or for the volume model trained for epochs the
    shipped volume model ``<bundle>/models/model_3d.pt`` (fine-tuned further; the shipped volume model itself started
    from the shipped 2D model, ``scripts/train_volume.sh``); None to start from scratch."""
    if network == "volume" and init_checkpoint is None and time_budget_s is None:
        return bundle / "models" / "model_3d.pt"
    return init_checkpoint


def network_overrides(options: RealScanOptions) -> dict[str, int | bool]:
    """The config values a real-scan run sets on the network's shape (:func:`real_scan_command` passes them to the bundle
    run, :func:`check_init_checkpoint` builds the same network): the options given, the volume model's only for it."""
    shape = {"detail_layers": options.detail_layers, "network_def#features": options.features,
             "network_def#detail_features": options.detail_features}
    if options.network == "volume":
        shape.update(volume_layers=options.volume_layers, slice_axis_steps=options.slice_axis_steps, context_slices=options.context_slices)
    out: dict[str, int | bool] = {k: int(v) for k, v in shape.items() if v is not None}
    if options.correlation_input is not None:
        out["correlation_input"] = bool(options.correlation_input)
    return out


def check_init_checkpoint(bundle: Path, options: RealScanOptions) -> None:
    """Check, before a run, that ``options.init_checkpoint`` can start the Neural PDE or volume network the run builds
    (:func:`~monai_nad.engines.warm_start`: the same network, or a narrower or smaller configuration of it).

    Raises:
        ValueError: it cannot (another network, or a wider one): the message names the checkpoint and the mismatch.
        FileNotFoundError: the checkpoint does not exist.
    """
    if options.init_checkpoint is None or options.network not in ("pde", "volume"):
        return
    names = ["common.json", "train.json"] + (["volume.json", "train_volume.json"] if options.network == "volume" else [])
    parser = ConfigParser()
    parser.read_config([str(Path(bundle) / "configs" / name) for name in names])
    for key, value in network_overrides(options).items():
        parser[key] = value
    warm_start(parser.get_parsed_content("network_def", instantiate=True), options.init_checkpoint)


def real_scan_command(
    bundle: Path, output_dir: Path, options: RealScanOptions, reproductions: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """The ``python -m monai.bundle run`` command line and environment of a real-scan run, MLflow-tracked in
    ``<output_dir>/mlruns.db`` (experiment ``real_scan``, run ``v1.0`` for the Neural PDE, else the network's name).

    Args:
        bundle: the shipped bundle's folder.
        output_dir: the run's output folder.
        options: what to train.
        reproductions: the folder of the reproduction bundles whose configs a baseline or the Br35H data merge after
            ``train.json``; defaults to :data:`~monai_nad.engines.bundle_layout.REPRODUCTIONS` beside ``bundle``.

    Returns:
        ``(command, env)``: run it as ``subprocess.run(command, env=env)``.

    Raises:
        KeyError: ``options.network`` is neither a known network nor a member of the learned-diffusivity family.
    """
    configs = bundle / "configs"
    reproductions = Path(bundle).parent / REPRODUCTIONS if reproductions is None else Path(reproductions)
    output = Path(output_dir).resolve()
    values = {"bundle_root": str(bundle), "output_dir": str(output), "tracking_uri": f"sqlite:///{output / 'mlruns.db'}"}
    if options.init_checkpoint is not None:
        values["init_ckpt_path"] = str(Path(options.init_checkpoint).resolve())
    epochs = 100_000 if options.time_budget_s is not None else options.max_epochs  # the budget ends the run
    ours = ["--volumes", json.dumps(list(options.volumes)), *(["--volume_weights", json.dumps([float(w) for w in options.volume_weights])] if options.volume_weights else []),
            "--max_epochs", str(epochs), "--epoch_length", str(options.epoch_length),
            "--val_interval", str(min(options.val_interval, epochs)), "--loss_name", options.loss]
    if options.noise_std_jitter is not None:
        ours += ["--noise_std_jitter", repr(float(options.noise_std_jitter))]
    if options.scanner_prob is not None:
        ours += ["--scanner_prob", repr(float(options.scanner_prob))]
    if options.partial_fourier_share is not None:
        ours += ["--partial_fourier_share", repr(float(options.partial_fourier_share))]
    if options.simulation_margin is not None:
        ours += ["--simulation_margin", str(int(options.simulation_margin))]
    if options.snapshot_interval is not None:
        ours += ["--snapshot_interval", str(int(options.snapshot_interval))]
    if options.white_gain is not None:
        ours += ["--white_gain", repr(float(options.white_gain))]
    if options.noise_std_range is not None:
        ours += ["--noise_std_range", json.dumps([float(v) for v in options.noise_std_range])]
    if options.learning_rate is not None:
        ours += ["--learning_rate", repr(float(options.learning_rate))]
    if options.ssim_weight is not None:
        ours += ["--ssim_loss_weight", repr(float(options.ssim_weight))]
    files = [configs / "common.json", configs / "train.json"]
    if options.br35h_root is not None:
        files.append(reproductions / BR35H_CONFIG)
        values["br35h_root"] = str(Path(options.br35h_root).resolve())
    for key, value in network_overrides(options).items():  # ints and booleans: "64", "true"
        ours += [f"--{key}", json.dumps(value)]
    if options.network in ("dncnn", "unet"):
        files.append(reproductions / BASELINE_CNN_CONFIG)
        ours += ["--backbone", options.network, "--cnn_features", "48" if options.network == "dncnn" else "16"]
    elif options.network == "volume":
        files += [configs / "volume.json", configs / "train_volume.json"]
    elif options.network != "pde":
        files.append(reproductions / DIFFUSIVITY_REAL_SCAN_CONFIG)
        ours += ["--diffusivity", options.network, "--diffusivity_kwargs", json.dumps(REAL_SCAN_FAMILY[options.network])]
    if options.time_budget_s is not None:
        ours += ["--time_budget_s", repr(float(options.time_budget_s)), "--resume", "false"]
    run_args = ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"),
                "--tracking", "mlflow", "--experiment_name", "real_scan", "--run_name", {"pde": "v1.0"}.get(options.network, options.network)]
    return bundle_command(files, values, ours, run_args)


def train_real_scan(
    bundle: Path, output_dir: Path, options: RealScanOptions, command: str, install: bool = True,
    install_snapshot: int | Sequence[int] | None = None,
) -> tuple[dict[str, Any], Path | None]:
    """Run a real-scan training (:func:`real_scan_command`), record it and install the shipped model it replaces.

    The run resumes from its last epoch when started again with the same ``output_dir``. The invocation is added to
    ``<output_dir>/training_info.json`` (:func:`monai_nad.engines.training_record.update_record`, with the record of
    the run a fine-tuning started from), which is printed without that earlier record. A Neural PDE or volume model
    trained for epochs on the real-anatomy data replaces ``models/model.pt`` or ``models/model_3d.pt``
    (:func:`monai_nad.engines.training_record.installs_shipped_model`), its record in
    ``docs/training_info_real_scan.json`` or ``docs/training_info_volume.json``.

    Args:
        bundle: the bundle folder.
        output_dir: the run's output folder (created if needed).
        options: what to train.
        command: the command line recorded as the run's origin.
        install: False never installs.
        install_snapshot: install the weights the run kept after this epoch (``checkpoints/snapshots/epoch_N.pt``,
            :func:`~monai_nad.engines.snapshot_path`; a run with ``snapshot_interval``) instead of
            ``checkpoints/best_model.pt`` (the best on the training's own validation): an epoch chosen on other data,
            e.g. the scanner-noise validation slabs (``python scripts/tune_white_equivalent.py --weights-2d``); several
            epochs: the mean of their weights (:func:`~monai_nad.engines.checkpoints.average_weights`), written as
            ``checkpoints/snapshots/mean_epochs_A_B_....pt``. The record names the file installed
            (``"installed_checkpoint"``). None: ``best_model.pt``.

    Returns:
        ``(record, installed)``: the run's record and the installed model file (None if nothing was installed).

    Raises:
        RuntimeError: the run failed or kept no ``checkpoints/best_model.pt``, or no snapshot of ``install_snapshot``.
    """
    output = Path(output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    returncode, elapsed = run_bundle(*real_scan_command(bundle, output, options))
    best = output / "checkpoints" / "best_model.pt"
    if returncode != 0 or not best.is_file():
        raise RuntimeError(f"training failed (exit code {returncode}); no checkpoint at {best}")
    init = options.init_checkpoint
    invocation = {
        "wall_time_s": round(elapsed, 1), "max_epochs": options.max_epochs, "epoch_length": options.epoch_length,
        "init_checkpoint": recorded_path(init, bundle) if init else None, "learning_rate": options.learning_rate,
        "loss": options.loss, "ssim_weight": options.ssim_weight, "volume_weights": list(options.volume_weights) if options.volume_weights else None, "noise_std_jitter": options.noise_std_jitter, "scanner_prob": options.scanner_prob, "partial_fourier_share": options.partial_fourier_share, "simulation_margin": options.simulation_margin, "snapshot_interval": options.snapshot_interval, "white_gain": options.white_gain, "noise_std_range": list(options.noise_std_range) if options.noise_std_range else None, "network": options.network, "volume_layers": options.volume_layers,
        "slice_axis_steps": options.slice_axis_steps, "context_slices": options.context_slices, "time_budget_s": options.time_budget_s, "detail_layers": options.detail_layers,
        "features": options.features, "detail_features": options.detail_features, "correlation_input": options.correlation_input,
        "data": options.data,
    }
    info_name = "training_info_volume.json" if options.network == "volume" else "training_info_real_scan.json"
    started_info = "training_info_volume.json" if init and Path(init).name == "model_3d.pt" else "training_info_real_scan.json"
    started = previous_record(init, bundle / "docs" / started_info)
    record = update_record(output, invocation, command, best, started)
    print(json.dumps({k: v for k, v in record.items() if k != "started_from"}, indent=2))
    model_name = installs_shipped_model(options.network, options.data, options.time_budget_s, not install)
    chosen = best
    if model_name and install_snapshot is not None:
        epochs = [install_snapshot] if isinstance(install_snapshot, int) else list(install_snapshot)
        snapshots = [snapshot_path(output / "checkpoints", e) for e in epochs]
        for epoch, path in zip(epochs, snapshots):
            if not path.is_file():
                raise RuntimeError(f"no snapshot of epoch {epoch} at {path}; the run keeps one after every --snapshot-interval epochs")
        chosen = snapshots[0]
        if len(snapshots) > 1:
            try:
                mean = average_weights(snapshots)
            except ValueError as err:
                raise RuntimeError(str(err)) from None
            chosen = save_weights(mean, chosen.parent / f"mean_epochs_{'_'.join(str(e) for e in epochs)}.pt")
    if model_name:
        record = dict(record, installed_checkpoint=chosen.relative_to(output).as_posix())
    installed = install_checkpoint(chosen, bundle, record, info_name, model_name) if model_name else None
    if installed is not None:
        print(f"installed {installed}")
    return record, installed
