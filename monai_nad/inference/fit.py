"""Fit the 2D model to a user's own noisy scans, self-supervised (``monai-nad fit``): no clean image is needed.

The shipped (supervised) 2D model is fine-tuned on random patches of the scans with the Noise2Self loss of the
self-supervised reproduction (:class:`~monai_nad.transforms.BlindSpotMaskd` hides a pixel grid,
:class:`~monai_nad.losses.MaskedLoss` scores the hidden pixels against their noisy values). Each scan's noise is
estimated once, as ``monai-nad denoise`` estimates it (:meth:`~monai_nad.inference.ScanInferer.noise_for_2d`: a
per-voxel std map, the coil count and the correlation widths read from the air), and the network is told it exactly
as it will be at inference. The loss on noisy magnitudes is minimised by their mean ``E[M]``, which is biased above
the signal ``A`` where the signal is weak; the network keeps estimating ``A`` and is trained through the magnitude's
mean (:func:`~monai_nad.transforms.magnitude_mean` of its output, for the estimated std map and coils).

Training is a MONAI :class:`~monai.engines.SupervisedTrainer` run: a progress bar and one line per epoch, the whole
training state saved after every epoch (:class:`~monai_nad.engines.ResumeHandler`, so running the same command again
continues the fit), tracked in MLflow (``OUT/runs/mlruns.db``, SQLite). The output is a bundle: the source bundle's
configs with ``models/model.pt`` replaced by the fitted weights (written after every epoch) and no volume model, so
its ``inference.json`` denoises volumes slice by slice with the fitted 2D model; ``docs/training_info_fit.json``
records the command, the scans' names, the epochs and the wall time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedTrainer
from monai.transforms import Compose, RandSpatialCropd
from torch import nn

from monai_nad import __version__
from monai_nad.bundle import bundle_network, default_bundle
from monai_nad.data.scans import ScanSource, find_scans, load_image, normalisation_params, spacing_from_affine
from monai_nad.engines import MLflowRunExtras, NoiseStdBatch, ResumeHandler, latest_checkpoint
from monai_nad.engines.training_record import hardware_info
from monai_nad.inference.scan_inferer import ScanInferer, choose_mode
from monai_nad.inference.workflow import checked_device
from monai_nad.losses import MaskedLoss
from monai_nad.transforms import BlindSpotMaskd, magnitude_mean
from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS, blind_noise_std, estimate_noise_std

__all__ = ["FIT_RECORD", "FitOptions", "FitBatch", "MagnitudeMeanOutput", "ScanSlices", "fit_scans", "list_fit_scans", "mask_radius_for", "read_fit_scans"]

logger = logging.getLogger(__name__)

#: the fit's record in the output bundle
FIT_RECORD = Path("docs") / "training_info_fit.json"
#: what a fit writes into its output bundle (all that ``--overwrite`` removes)
WRITTEN = ("configs", "models", "docs", "runs", "LICENSE")
#: the source bundle's files copied into the output bundle (besides ``configs/``)
COPIED = ("LICENSE", "docs/data_license.txt")


@dataclass
class FitOptions:
    """The settings of a fit.

    Attributes:
        epochs: the total number of epochs (a resumed fit continues up to it).
        epoch_length: iterations per epoch.
        patch_size: square patches (pixels; cut to the smallest slice).
        batch_size: patches per iteration.
        learning_rate: Adam's learning rate.
        mask_stride: one scored pixel per ``mask_stride`` along each axis (Noise2Self; raised to ``2 mask_radius + 2``).
        mask_radius: the half-width of the block hidden around each scored pixel
            (:class:`~monai_nad.transforms.BlindSpotMaskd` ``radius``), or None: from the scans' estimated correlation
            widths (:func:`mask_radius_for`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        target: what the masked loss compares with the noisy pixels: ``"magnitude_mean"`` (the mean of the noisy
            magnitude of the network's estimate, :class:`MagnitudeMeanOutput`) or ``"signal"`` (the estimate itself,
            which then learns the biased ``E[M]``).
        seed: the random seed of a fit started from scratch.
        coils: the receiver coils of the scans when known (else read from the air).
        tracking: track the fit in MLflow (``OUT/runs/mlruns.db``).
        progress: show a progress bar.
    """

    epochs: int = 5
    epoch_length: int = 100
    patch_size: int = 64
    batch_size: int = 8
    learning_rate: float = 2e-6
    mask_stride: int = 4
    mask_radius: int | None = None
    device: str = "auto"
    target: str = "magnitude_mean"
    seed: int = 0
    coils: int | None = None
    tracking: bool = True
    progress: bool = True

    def check(self) -> None:
        """Raises ValueError: a setting out of range."""
        for name in ("epochs", "epoch_length", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)!r}.")
        if int(self.patch_size) < 8:
            raise ValueError(f"patch-size must be at least 8, got {self.patch_size!r}.")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning-rate must be a positive number, got {self.learning_rate!r}.")
        if int(self.mask_stride) < 2:
            raise ValueError(f"mask stride must be at least 2, got {self.mask_stride!r}.")
        if self.target not in ("magnitude_mean", "signal"):
            raise ValueError(f"target must be 'magnitude_mean' or 'signal', got {self.target!r}.")
        if self.mask_radius is not None and int(self.mask_radius) < 0:
            raise ValueError(f"mask radius must be >= 0, got {self.mask_radius!r}.")


def mask_radius_for(widths: Sequence[float]) -> int:
    """The blind block's half-width for noise of these correlation widths (pixels, full width at half maximum): 0 for
    white noise (widths up to 1.5), else the width rounded, less one, so that the nearest pixel the network sees while
    scored on a pixel is about one width away."""
    width = max((float(w) for w in widths), default=1.0)
    return 0 if width <= 1.5 else max(int(round(width)) - 1, 1)


@dataclass
class ScanSlices:
    """One scan (or one volume of a 4D series) cut into the 2D model's slices, with the noise it is told.

    Attributes:
        name: the scan's name (its path below the input it was found in).
        image: ``(S, H, W)`` slices, normalised as ``monai-nad denoise`` normalises them.
        noise_std: ``(S, H, W)``: the noise level the 2D model is told (white-equivalent).
        coils: the coils the 2D model is told.
        correlation: ``(2,)`` the noise's correlation widths in the slices' plane.
        std: ``(S, H, W)``: the estimated std of the magnitude's noise (for its mean).
        magnitude_coils: the estimated (or given) receiver coils.
    """

    name: str
    image: torch.Tensor
    noise_std: torch.Tensor
    coils: float
    correlation: torch.Tensor
    std: torch.Tensor
    magnitude_coils: int


def _scan_volumes(source: ScanSource) -> tuple[list[np.ndarray], tuple[float, float, float]]:
    """The normalised 2D image or volumes of one scan (a 4D series: one per volume, one scale for all) and its voxel size."""
    loaded = load_image(source.path, dicom_files=None if source.series is None else source.series.files)
    array = loaded.array
    low, scale = normalisation_params(array)
    volumes = [array[..., v] for v in range(array.shape[-1])] if array.ndim == 4 else [array]
    return [((v - np.float32(low)) / np.float32(scale)).astype(np.float32) for v in volumes], spacing_from_affine(loaded.affine)


def _slices_of(name: str, image: np.ndarray, spacing: Sequence[float], coils: int | None) -> ScanSlices:
    """Estimate the noise of one image or volume (as ``monai-nad denoise``) and cut both into the 2D model's slices."""
    volume = image.ndim == 3
    axis = choose_mode(image.shape, spacing, "2d")[1] if volume else -1
    scan = torch.from_numpy(np.ascontiguousarray(image))[None, None]
    try:
        told = ScanInferer(noise_estimate="map").noise_for_2d(scan, axis, coils, name)
    except ValueError as err:  # no usable statistics in the air: one white level, as denoise does then
        logger.warning("%s: %s; the fit tells the model one white noise level instead", name, err)
        level = estimate_noise_std(scan, coils=coils or 1, max_voxels=VOLUME_ESTIMATE_VOXELS) if volume else blind_noise_std(scan, coils=coils or 1)
        flat = torch.full_like(scan, float(torch.as_tensor(level).reshape(-1)[0]))
        told = {"noise_std": flat, "coils": float(coils or 1), "correlation": torch.ones(2, dtype=torch.float64), "std": flat,
                "estimated_coils": int(coils or 1)}

    def cut(t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32).reshape(scan.shape)[0, 0]
        return torch.movedim(t, axis, 0).contiguous() if volume else t[None]

    return ScanSlices(
        name=name, image=cut(scan), noise_std=cut(told["noise_std"]), coils=float(told["coils"]),
        correlation=torch.as_tensor(told["correlation"], dtype=torch.float32).reshape(-1)[:2], std=cut(told["std"]),
        magnitude_coils=int(told["estimated_coils"]),
    )


def list_fit_scans(inputs: Sequence[str | Path]) -> list[tuple[ScanSource, str]]:
    """The scans to fit to and their names (NIfTI, DICOM folders, PNG/JPEG; folders searched as ``monai-nad denoise``
    searches them).

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: an input without images, or an unreadable DICOM file (naming the file).
    """
    found: list[ScanSource] = []
    for path in inputs:
        scans, problems, _ = find_scans(path)
        if problems:
            file, reason = problems[0]
            raise ValueError(f"cannot read {file}: {reason}")
        found.extend(scans)
    return [(s, str(s.relative) + (f" [{s.series.label}]" if s.series is not None and s.series.label else "")) for s in found]


def read_fit_scans(inputs: Sequence[str | Path] | Sequence[tuple[ScanSource, str]], coils: int | None = None) -> list[ScanSlices]:
    """Read the scans to fit to (files or folders, or what :func:`list_fit_scans` found) and estimate their noise.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: an input without images, or a scan that cannot be read (naming the file).
    """
    listed = [item if isinstance(item, tuple) else None for item in inputs]
    found = listed if all(item is not None for item in listed) and listed else list_fit_scans(inputs)  # type: ignore[arg-type]
    out = []
    for source, name in found:
        volumes, spacing = _scan_volumes(source)
        for v, image in enumerate(volumes):
            out.append(_slices_of(name if len(volumes) == 1 else f"{name} [volume {v}]", image, spacing, coils))
    return out


class MagnitudeMeanOutput(nn.Module):
    """The 2D model's estimate of the signal ``A`` mapped to the mean of its noisy magnitude ``E[M]``
    (:func:`~monai_nad.transforms.magnitude_mean`), what the Noise2Self loss on magnitude images is minimised by.

    Args:
        network: the 2D model (``network(x, noise_std=..., coils=..., correlation=...)``).
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, x: torch.Tensor, noise_std: torch.Tensor, coils: Any = 1, correlation: Any = None, magnitude_std: torch.Tensor | None = None,
        magnitude_coils: torch.Tensor | None = None,
    ) -> torch.Tensor:
        signal = self.network(x, noise_std=noise_std, coils=coils, correlation=correlation)
        if magnitude_std is None:
            return signal
        counts = torch.ones(x.shape[0], device=x.device) if magnitude_coils is None else torch.as_tensor(magnitude_coils).reshape(-1)
        out = torch.zeros_like(signal)
        for n in torch.unique(counts).tolist():
            chosen = (counts == n).reshape(-1, *[1] * (signal.ndim - 1)).to(signal.device)
            out = torch.where(chosen, magnitude_mean(signal, magnitude_std.to(signal.dtype), int(n)), out)
        return out


class FitBatch(NoiseStdBatch):
    """:class:`~monai_nad.engines.NoiseStdBatch` that also hands :class:`MagnitudeMeanOutput` the magnitude's own
    noise (``"std"``, ``"magnitude_coils"``; ``magnitude=False``: not, so that it returns the estimate itself)."""

    def __init__(self, magnitude: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.magnitude = bool(magnitude)

    def __call__(self, batchdata, device=None, non_blocking: bool = False, **kwargs: Any):
        image, label, args, arguments = super().__call__(batchdata, device, non_blocking, **kwargs)
        if self.magnitude:
            arguments["magnitude_std"] = torch.as_tensor(batchdata["std"]).to(device=device).float()
            arguments["magnitude_coils"] = torch.as_tensor(batchdata["magnitude_coils"]).to(device=device).reshape(-1)
        return image, label, args, arguments


def _patch_size(scans: Sequence[ScanSlices], wanted: int) -> int:
    smallest = min(min(s.image.shape[1:]) for s in scans)
    size = min(int(wanted), int(smallest))
    size -= size % 2
    if size < 8:
        raise ValueError(f"the scans' slices are too small to fit to ({smallest} pixels; at least 8 are needed).")
    return size


def _items(scans: Sequence[ScanSlices]) -> list[dict[Hashable, Any]]:
    return [
        {"image": s.image[i][None], "noise_std": s.noise_std[i][None], "std": s.std[i][None], "coils": s.coils,
         "correlation": s.correlation, "magnitude_coils": s.magnitude_coils}
        for s in scans for i in range(s.image.shape[0])
    ]


def _device(device: str) -> torch.device:
    """``device`` checked as ``monai-nad denoise`` checks it; ``"auto"``: CUDA where present, else the CPU."""
    checked = checked_device(device)
    return torch.device(checked) if checked is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_output(output: Path, names: list[str], overwrite: bool) -> dict | None:
    """Check the output bundle before anything is written: the record of a previous fit of the same scans (resumed),
    or None (a fresh fit); a folder holding something else is refused unless ``overwrite``."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"the output bundle {output} exists and is not a folder.")
    if overwrite:
        return None
    record_path = output / FIT_RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else None
    if record is not None and record.get("scans") != names:
        raise ValueError(f"{output} holds a fit to other scans ({len(record.get('scans', []))} scan(s): "
                         f"{', '.join(record.get('scans', [])[:3])}...): give --overwrite to start over, or another -o.")
    if record is None and output.is_dir() and any(output.iterdir()):
        raise ValueError(f"the output bundle {output} exists and is not empty (no fit recorded in it): give --overwrite to replace it, or another -o.")
    return record


def _lay_out(output: Path, source: Path, overwrite: bool) -> None:
    """The output bundle's folders and the source bundle's configs (``overwrite``: what a fit writes removed first)."""
    if overwrite:
        for name in WRITTEN:
            target = output / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    (output / "models").mkdir(parents=True, exist_ok=True)
    (output / "docs").mkdir(parents=True, exist_ok=True)
    if not (output / "configs").is_dir():
        shutil.copytree(source / "configs", output / "configs")
    for name in COPIED:
        if (source / name).is_file() and not (output / name).exists():
            shutil.copy2(source / name, output / name)
    if not (output / "models" / "model.pt").is_file():  # the starting weights until the first epoch is fitted
        shutil.copy2(source / "models" / "model.pt", output / "models" / "model.pt")


def _save_weights(network: nn.Module, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, partial)
    os.replace(partial, path)


def _write_record(path: Path, record: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)


def fit_scans(
    inputs: Sequence[str | Path], output: str | Path, options: FitOptions | None = None, bundle: str | Path | None = None,
    overwrite: bool = False, command: str = "", echo: Callable[[str], None] | None = None,
) -> dict:
    """Fit the 2D model of ``bundle`` to the scans in ``inputs`` and write the fitted bundle to ``output``.

    A previous fit of the same scans in ``output`` is continued from its last completed epoch up to
    ``options.epochs``; another non-empty ``output`` is refused unless ``overwrite`` (which removes what a fit writes
    there, and starts over).

    Args:
        inputs: files or folders of scans.
        output: the bundle folder to write.
        options: the fit's settings (:class:`FitOptions`).
        bundle: the bundle to start from. Defaults to the shipped one.
        overwrite: start over, replacing an earlier fit or other contents in ``output``.
        command: the command line, for the record.
        echo: where the one line per epoch goes. Defaults to the log (INFO).

    Returns:
        the record written to ``output/docs/training_info_fit.json``, plus ``"resumed_from_epoch"``.

    Raises:
        FileNotFoundError, ValueError: bad inputs, settings or output folder.
    """
    options = options or FitOptions()
    options.check()
    say = echo or logger.info
    source = Path(bundle) if bundle is not None else default_bundle()
    if not (source / "models" / "model.pt").is_file():
        raise FileNotFoundError(f"bundle {source} has no models/model.pt to start the fit from.")
    device = _device(options.device)
    output = Path(output)
    if output.resolve() == source.resolve():
        raise ValueError(f"the output bundle {output} is the bundle the fit starts from: give another -o.")
    started = time.time()
    found = list_fit_scans(inputs)
    names = [name for _, name in found]
    record = _check_output(output, names, overwrite)
    scans = read_fit_scans(found, options.coils)
    _lay_out(output, source, overwrite)
    ckpt_dir = output / "runs" / "checkpoints"
    last = latest_checkpoint(ckpt_dir)
    done = 0
    if last is not None:
        state = torch.load(last, map_location="cpu", weights_only=True, mmap=True)["trainer"]
        done = int(state["iteration"]) // max(int(state["epoch_length"]), 1)
    if record is None:
        record = {
            "monai_nad_version": __version__, "command": command, "source_bundle": source.name, "scans": names, "epochs": 0,
            "training": "self-supervised fit (Noise2Self masking, masked MSE against the noisy magnitude's mean E[M] of the "
                        "network's estimate; the noise told as monai-nad denoise estimates it)",
            "invocations": [], "total_wall_time_s": 0.0,
        }
    if done >= options.epochs:
        say(f"{output} is fitted for {done} epoch(s) already (--epochs {options.epochs}): nothing to do; give a larger --epochs to continue")
        return {**record, "resumed_from_epoch": done}

    patch = _patch_size(scans, options.patch_size)
    torch.manual_seed(options.seed + done)  # a resumed fit draws its patches as reproducibly as a fresh one
    np.random.seed(options.seed + done)
    crop = RandSpatialCropd(keys=["image", "noise_std", "std"], roi_size=(patch, patch), random_size=False)
    radius = options.mask_radius if options.mask_radius is not None else mask_radius_for([float(s.correlation.max()) for s in scans])
    stride = max(int(options.mask_stride), 2 * int(radius) + 2)
    if radius and not done:
        say(f"the noise is correlated across pixels (widths up to {max(float(s.correlation.max()) for s in scans):.1f} px): each scored "
            f"pixel hidden in a block of {2 * radius + 1} pixels; a self-supervised fit can learn such noise as signal, so "
            f"compare the fitted bundle with the shipped one on your scans")
    mask = BlindSpotMaskd(keys="image", label_key="label", stride=stride, radius=int(radius))
    seed = options.seed + done
    crop.set_random_state(seed)
    mask.set_random_state(seed + 1)
    dataset = Dataset(_items(scans), transform=Compose([crop, mask]))
    generator = torch.Generator().manual_seed(seed + 2)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=options.epoch_length * options.batch_size, generator=generator)
    loader = DataLoader(dataset, batch_size=options.batch_size, sampler=sampler, num_workers=0)

    network = bundle_network(source, ["inference.json"], source / "models" / "model.pt", {"self_ensemble": 1, "correlated_self_ensemble": None}).to(device).train()
    trainer_net = MagnitudeMeanOutput(network)
    optimizer = torch.optim.Adam(network.parameters(), lr=options.learning_rate)
    params = {
        "epochs": options.epochs, "epoch_length": options.epoch_length, "patch_size": patch, "batch_size": options.batch_size,
        "learning_rate": options.learning_rate, "mask_stride": stride, "mask_radius": int(radius), "target": options.target, "device": str(device), "scans": len(names),
        "slices": len(dataset), "source_bundle": source.name,
    }
    handlers: list[Any] = [ResumeHandler(str(ckpt_dir), network, optimizer, map_location=device)]
    if options.tracking:
        from monai.handlers import MLFlowHandler, from_engine

        handlers.append(MLFlowHandler(
            tracking_uri=f"sqlite:///{(output / 'runs' / 'mlruns.db').resolve()}", experiment_name="fit", run_name="fit",
            output_transform=from_engine(["loss"], first=True), tag_name="train_loss", close_on_complete=True,
        ))
        handlers.append(MLflowRunExtras(params))
    trainer = SupervisedTrainer(
        device=device, max_epochs=options.epochs, train_data_loader=loader, epoch_length=options.epoch_length,
        network=trainer_net, optimizer=optimizer, loss_function=MaskedLoss("mse"), prepare_batch=FitBatch(magnitude=options.target == "magnitude_mean"),
        amp=device.type == "cuda", train_handlers=handlers,
    )
    if options.progress:
        from ignite.handlers import ProgressBar

        ProgressBar(persist=False, desc="fit").attach(trainer, output_transform=lambda out: {"loss": _loss(out)})
    invocation = {"command": command, "from_epoch": done, "to_epoch": done, "wall_time_s": 0.0, "device": str(device),
                  **{k: params[k] for k in ("epoch_length", "patch_size", "batch_size", "learning_rate", "mask_stride", "mask_radius", "target")}}
    record["invocations"].append(invocation)
    losses: list[float] = []
    from ignite.engine import Events

    @trainer.on(Events.ITERATION_COMPLETED)
    def _collect(engine) -> None:
        losses.append(_loss(engine.state.output))

    @trainer.on(Events.EPOCH_COMPLETED)
    def _epoch(engine) -> None:
        _save_weights(network, output / "models" / "model.pt")
        elapsed = time.time() - started
        invocation.update(to_epoch=engine.state.epoch, wall_time_s=round(elapsed, 1))
        record.update(
            epochs=engine.state.epoch, last_epoch_loss=float(np.mean(losses)) if losses else None,
            total_wall_time_s=round(sum(i["wall_time_s"] for i in record["invocations"]), 1), hardware=hardware_info(),
            torch=torch.__version__,
        )
        _write_record(output / FIT_RECORD, record)
        say(f"epoch {engine.state.epoch}/{engine.state.max_epochs}: masked loss {record['last_epoch_loss']:.4g} "
            f"({len(losses)} iterations, {elapsed:.0f} s)")
        losses.clear()

    _write_record(output / FIT_RECORD, record)
    if done:
        say(f"resuming the fit in {output} from epoch {done}")
    trainer.run()
    return {**record, "resumed_from_epoch": done}


def _loss(output: Any) -> float:
    """The loss of one iteration's output (a dict, or the list of per-item dicts of a decollated batch)."""
    first = output[0] if isinstance(output, list) else output
    value = first["loss"] if isinstance(first, Mapping) else first
    return float(torch.as_tensor(value).detach().float().mean())
