"""Choose, scan by scan, between the 2D model (slice by slice) and the volume model (MONAI sliding windows)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.inferers import Inferer, sliding_window_inference

from monai_nad.engines.noise_batch import NoiseStdBatch
from monai_nad.inference.inferer import SliceWiseInferer, noise_std_method, takes_argument, takes_noise_std
from monai_nad.inference.series import SeriesDenoiser
from monai_nad.networks.quantization import int8_network, int8_supported, load_int8_ranges
from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS, estimate_noise_std
from monai_nad.transforms.noise_map import WHITE_EQUIVALENT_GAIN, estimate_noise, white_equivalent_factor

__all__ = ["MODES", "NOISE_ESTIMATES", "PRECISIONS", "RAW_NOISE_ESTIMATE", "ScanBatch", "ScanInferer", "choose_mode", "inference_dtype"]

logger = logging.getLogger(__name__)

#: The ``--mode`` choices: ``"auto"`` (the volume model for volumes with enough, thin enough slices), ``"2d"``, ``"3d"``.
MODES = ("auto", "2d", "3d")


#: How a blind run estimates the noise: ``"map"`` (once per scan and volume, a per-voxel std map and the coil count
#: from the air, :func:`~monai_nad.transforms.noise_map.estimate_noise`) or ``"level"`` (one white Rician level per 2D
#: image or per volume, :func:`~monai_nad.transforms.noise.estimate_noise_std`, decided by the inferer).
NOISE_ESTIMATES = ("map", "level")
#: ``white_gain`` that tells a network the estimated std map and coil count as they are, not as the white equivalent the
#: shipped models read: for :class:`~monai_nad.networks.MagnitudeMeanInversion`, whose inversion needs each pixel's own std
RAW_NOISE_ESTIMATE = {"2d": 0.0, "3d": 0.0}

#: The ``--precision`` choices.
PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def inference_dtype(precision: str = "auto", device: torch.device | str = "cpu") -> torch.dtype:
    """The dtype the networks' convolutions run in: ``"auto"`` takes bfloat16 on a CPU with native bfloat16 matrix units
    (AMX or AVX512-BF16, where it is faster; docs/results/volumes.md is measured so) and float32
    elsewhere (on other CPUs bfloat16 is emulated and slower; on CUDA the bundle's ``amp`` setting decides).

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "int8":  # the convolutions that stay float (monai_nad.networks.float_layers) run in float32
        return torch.float32
    if precision != "auto":
        return getattr(torch, precision)
    if torch.device(device).type != "cpu":
        return torch.float32
    native = any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return torch.bfloat16 if native else torch.float32


def choose_mode(
    shape: Sequence[int], spacing: Sequence[float] | None, mode: str = "auto", axis: int | None = None, min_slices: int = 5,
    max_anisotropy: float = 1.5, has_volume_network: bool = True,
) -> tuple[str, int, str]:
    """How to denoise one volume: the model, the slice axis and why.

    The slice axis is ``axis`` when given; otherwise the axis with the largest voxel size when the voxels are
    anisotropic (the in-plane axes of a thick-slice acquisition), else the last axis. ``"auto"`` takes the volume
    model unless the volume has fewer than ``min_slices`` slices along that axis, or its slices are more than
    ``max_anisotropy`` times as thick as the in-plane voxels (the volume model learnt from 1 mm isotropic
    neighbours; on thicker slices its neighbours are other anatomy), or there is no volume model.

    Args:
        shape: the spatial shape ``(X, Y, Z)``.
        spacing: the voxel size per axis (mm), or None (taken as isotropic).
        mode: ``"auto"``, ``"2d"`` or ``"3d"``.
        axis: the slice axis (0, 1, 2 or negative), or None (chosen as above).
        min_slices: the fewest slices for the volume model in ``"auto"``.
        max_anisotropy: the largest slice thickness over in-plane voxel size for the volume model in ``"auto"``.
        has_volume_network: whether a volume model is available.

    Returns:
        ``(model, axis, reason)``: ``"2d"`` or ``"3d"``, the axis in ``0..2``, and a sentence saying why (empty when the
        choice needs no explanation).

    Raises:
        ValueError: an unknown mode, a bad axis, or ``"3d"`` without a volume model.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if axis is not None and axis not in (-3, -2, -1, 0, 1, 2):
        raise ValueError(f"axis must be 0, 1, 2 or negative, got {axis!r}.")
    sizes = np.asarray(spacing if spacing is not None else (1.0, 1.0, 1.0), dtype=np.float64)
    if sizes.shape != (3,) or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        sizes = np.ones(3)
    if axis is None:
        axis = int(np.argmax(sizes)) if sizes.max() > 1.1 * sizes.min() else 2
    axis %= 3
    in_plane = float(np.min(np.delete(sizes, axis)))
    ratio = float(sizes[axis] / in_plane)
    if mode == "2d":
        return "2d", axis, ""
    if mode == "3d":
        if not has_volume_network:
            raise ValueError("--mode 3d needs a volume model (models/model_3d.pt and configs/volume.json in the bundle).")
        reason = f"slices {ratio:.1f}x as thick as the in-plane voxels; the volume model learnt from isotropic voxels" if ratio > max_anisotropy else ""
        return "3d", axis, reason
    if not has_volume_network:
        return "2d", axis, ""
    if shape[axis] < min_slices:
        return "2d", axis, f"only {shape[axis]} slices along axis {axis} (the volume model needs {min_slices}): denoised slice by slice"
    if ratio > max_anisotropy:
        return "2d", axis, (
            f"slices {sizes[axis]:g} mm thick against {in_plane:g} mm in plane ({ratio:.1f}x): neighbouring slices show other "
            f"anatomy, so denoised slice by slice along axis {axis} (--mode 3d forces the volume model)"
        )
    return "3d", axis, ""


class ScanBatch(NoiseStdBatch):
    """:class:`~monai_nad.engines.NoiseStdBatch` for user scans: also hands the voxel sizes (``"spacing"``) and the
    scans' names to a :class:`ScanInferer`, and a scan's noise level only when it is given (the inferer estimates it
    otherwise: ``estimate`` defaults to False)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"estimate": False, **kwargs})

    def __call__(self, batchdata, device=None, non_blocking: bool = False, **kwargs: Any):
        image, label, args, arguments = super().__call__(batchdata, device, non_blocking, **kwargs)
        if "spacing" in batchdata:
            arguments["spacing"] = torch.as_tensor(np.asarray(batchdata["spacing"], dtype=np.float64)).reshape(-1, 3)
        records = batchdata.get("scan")
        if isinstance(batchdata.get("name"), list):
            arguments["names"] = [str(name) for name in batchdata["name"]]
        elif isinstance(records, list):
            arguments["names"] = [str(record.loaded.path) for record in records]
        if isinstance(batchdata.get("diffusion"), list):  # series recognised by their gradient files
            arguments["diffusion"] = [bool(flag) for flag in batchdata["diffusion"]]
        return image, label, args, arguments


class ScanInferer(Inferer):
    """Denoise 2D images slice-wise and volumes with the volume model where it fits, one choice per scan.

    2D images and the volumes :func:`choose_mode` gives to the 2D model go through a
    :class:`~monai_nad.inference.SliceWiseInferer`. The others go through MONAI's
    :func:`~monai.inferers.sliding_window_inference` with the volume model: windows of ``roi_size`` in plane
    (smaller volumes: one window) and the full depth along the slice axis (the volume model runs its slices in
    bounded chunks), overlapping by ``overlap`` and blended with Gaussian weights. The noise level is estimated
    once per volume (a 4D series: per volume of the series) unless given. A 4D series recognised as a diffusion series
    (the call's ``diffusion``: one flag per scan, from :class:`ScanBatch`) is denoised as a series
    (:class:`~monai_nad.inference.series.SeriesDenoiser`: a local low-rank step, then the chosen model told the noise it
    left; reported as ``"series+3d"`` or ``"series+2d"``). Every choice that is not the obvious one
    is logged in one line naming the scan.

    Args:
        volume_network: the volume model (``(B, 1, H, W, D)`` in and out, e.g.
            :class:`~monai_nad.networks.SliceContextPDE`), or None (every scan slice by slice).
        mode: ``"auto"``, ``"2d"`` or ``"3d"`` (see :func:`choose_mode`). Defaults to ``"auto"``.
        axis: the slice axis of volumes, or None to choose it from the voxel size. Defaults to None.
        batch_size: slices per call of the 2D model (on the CPU fewer for large slices:
            :data:`~monai_nad.inference.inferer.CPU_BATCH_PIXELS`). Defaults to 16.
        progress: show progress bars (slices of the 2D model; volumes and windows of the volume model). Defaults to False.
        return_conductance: keep the 2D model's conductance maps (see :class:`SliceWiseInferer`); the volume model
            has none, so scans that would take it are denoised slice by slice. Defaults to False.
        roi_size: in-plane window size of the sliding windows. Defaults to 320.
        overlap: window overlap (fraction). Defaults to 0.25.
        min_slices, max_anisotropy: see :func:`choose_mode`.
        precision: ``"auto"``, ``"float32"`` or ``"bfloat16"``: the dtype of the networks' convolutions on the CPU
            (:func:`inference_dtype`); ``"int8"``: on the CPU, the networks' inner convolutions in 8-bit integers with
            the ranges of ``int8_ranges`` (:func:`~monai_nad.networks.int8_network`; a network without ranges there runs
            in float32). Results are float32 either way. Defaults to ``"auto"``.
        int8_ranges: the int8 calibration file (``models/int8_ranges.json`` of a bundle, written by
            ``scripts/calibrate_int8.py``), read with ``precision="int8"`` only. Defaults to None.
        noise_estimate: how a blind run (no ``noise_std``) estimates each scan's noise, once per scan and volume:
            ``"map"`` (a per-voxel std map, the coil count unless given, and the noise's correlation, from the air:
            white Rician noise and scanner noise that is filtered, multi-coil or varies across the image; correlated
            noise is told as its white equivalent, see ``white_gain``) or ``"level"`` (one white Rician level, as
            before 2026-12). Defaults to ``"map"`` (``docs/results/scanner_noise.md``). What was estimated is in
            :attr:`last_noise` and logged.
        white_gain: with ``noise_estimate="map"``, the gain of
            :func:`~monai_nad.transforms.noise_map.white_equivalent_factor` for the 2D and the volume model
            (``{"2d": g, "3d": g}``): noise correlated across pixels is told as the white noise of the same
            low-frequency power, with the magnitude bias of its own level. None: the shipped models' gains
            (:data:`~monai_nad.transforms.noise_map.WHITE_EQUIVALENT_GAIN`); 0: the std map as it is.
    """

    def __init__(
        self,
        volume_network: Callable[..., torch.Tensor] | None = None,
        mode: str = "auto",
        axis: int | None = None,
        batch_size: int = 16,
        progress: bool = False,
        return_conductance: bool = False,
        roi_size: int = 320,
        overlap: float = 0.25,
        min_slices: int = 5,
        max_anisotropy: float = 1.5,
        precision: str = "auto",
        noise_estimate: str = "map",
        white_gain: dict[str, float] | None = None,
        int8_ranges: str | None = None,
    ) -> None:
        super().__init__()
        gains = dict(WHITE_EQUIVALENT_GAIN if white_gain is None else white_gain)
        if set(gains) != {"2d", "3d"} or not all(isinstance(g, (int, float)) and np.isfinite(g) and g >= 0 for g in gains.values()):
            raise ValueError(f"white_gain must give a non-negative number for '2d' and '3d', got {white_gain!r}.")
        self.white_gain = gains
        if noise_estimate not in NOISE_ESTIMATES:
            raise ValueError(f"noise_estimate must be one of {NOISE_ESTIMATES}, got {noise_estimate!r}.")
        self.noise_estimate = noise_estimate
        inference_dtype(precision)  # checks the name
        if precision == "int8" and not int8_supported():
            raise ValueError("--precision int8: this PyTorch build has no quantized CPU engine; use float32.")
        if precision == "int8" and int8_ranges is None:
            raise ValueError("--precision int8 needs the bundle's int8 calibration (models/int8_ranges.json; scripts/calibrate_int8.py writes it).")
        self.int8_ranges = int8_ranges
        self._int8: dict[int, tuple[Any, Any]] = {}  # id of a float network -> (it, its int8 copy)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        if mode == "3d" and volume_network is None:
            raise ValueError("--mode 3d needs a volume model (models/model_3d.pt and configs/volume.json in the bundle).")
        if int(roi_size) != roi_size or roi_size < 8:
            raise ValueError(f"roi_size must be an integer >= 8, got {roi_size!r}.")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap!r}.")
        self.volume_network = volume_network
        self.mode = mode
        self.axis = axis
        self.progress = progress
        self.return_conductance = return_conductance
        self.roi_size = int(roi_size)
        self.overlap = float(overlap)
        self.min_slices = int(min_slices)
        self.max_anisotropy = float(max_anisotropy)
        self.precision = precision
        self.slice_inferer = SliceWiseInferer(axis=-1 if axis is None else axis, batch_size=batch_size, progress=progress, return_conductance=return_conductance)
        self._widths: dict[int, list[float]] = {}  # per scan, the estimated correlation widths (pixels, per axis)
        #: the model each scan of the last call went to: ``[("2d" | "3d", axis, reason), ...]``
        self.last_choices: list[tuple[str, int, str]] = []
        #: what was estimated of each scan's noise in the last call (blind runs with ``noise_estimate="map"``):
        #: ``{"noise_std": median std over the foreground, "coils": N, "correlation_length": pixels}`` in the scan's
        #: normalised units, or ``{}`` where the level was given
        self.last_noise: list[dict] = []
        #: the noise maps of the last call's diffusion series ``{scan index: (X, Y, Z)}`` in the normalised units: the
        #: series path's per-voxel estimate (:attr:`~monai_nad.inference.series.SeriesDenoiser.last_noise_map`), which
        #: :class:`~monai_nad.inference.SaveDenoisedd` writes for ``--noise-map``
        self.last_series_noise_maps: dict[int, torch.Tensor] = {}

    @property
    def last_conductance(self) -> torch.Tensor | None:
        """The 2D model's conductance maps of the last call (see :class:`SliceWiseInferer`)."""
        return self.slice_inferer.last_conductance

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, spacing: Any = None, names: Sequence[str] | None = None,
        noise_std: Any = None, coils: Any = None, **kwargs: Any
    ) -> torch.Tensor:
        """
        Args:
            inputs: ``(B, C, H, W)`` images, or ``(B, C, X, Y, Z)`` volumes (``C > 1``: a 4D series of ``C`` volumes).
            network: the 2D model.
            spacing: voxel sizes ``(B, 3)`` (or one triple for all), or None (isotropic).
            names: the scans' names, for the log.
            noise_std: one value per scan ``(B,)`` or per scan and volume ``(B, C)``, a number, or None (blind).
            coils: receiver coils of sum-of-squares magnitudes (1: Rician).

        Returns:
            the denoised batch, ``inputs``' shape.

        Raises:
            ValueError: ``"3d"`` for a 2D image, or a bad batch.
        """
        if self.precision == "int8" and inputs.device.type == "cpu":
            float_volume, self.volume_network = self.volume_network, self._int8_copy(self.volume_network, "3d")
            try:
                network = self._int8_copy(network, "2d")
                return self._infer(inputs, network, *args, spacing=spacing, names=names, noise_std=noise_std, coils=coils, **kwargs)
            finally:
                self.volume_network = float_volume
        if self.precision == "int8":
            logger.info("--precision int8 applies on the CPU; on %s the networks run in float32", inputs.device)
        dtype = inference_dtype(self.precision, inputs.device)
        if inputs.device.type != "cpu" or dtype == torch.float32:
            return self._infer(inputs, network, *args, spacing=spacing, names=names, noise_std=noise_std, coils=coils, **kwargs)
        with torch.autocast("cpu", dtype=dtype):
            out = self._infer(inputs, network, *args, spacing=spacing, names=names, noise_std=noise_std, coils=coils, **kwargs)
        return out.float()

    def _int8_copy(self, network: Any, kind: str) -> Any:
        """``network``'s int8 copy with the ranges of ``kind`` (``"2d"`` or ``"3d"``) in :attr:`int8_ranges`, made once;
        ``network`` itself where the file has no ranges for it (or it is None)."""
        if network is None:
            return None
        cached = self._int8.get(id(network))
        if cached is None or cached[0] is not network:
            ranges = load_int8_ranges(self.int8_ranges, network, kind)
            cached = (network, network if ranges is None else int8_network(network, ranges))
            self._int8[id(network)] = cached
        return cached[1]

    def _infer(
        self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, spacing: Any = None, names: Sequence[str] | None = None,
        noise_std: Any = None, coils: Any = None, diffusion: Sequence[bool] | None = None, **kwargs: Any
    ) -> torch.Tensor:
        self.last_choices = []
        self.last_noise = [{} for _ in range(inputs.shape[0])]
        self.last_series_noise_maps = {}
        self._levels: dict[int, torch.Tensor] = {}  # per scan, one estimated level per volume (for the volume model)
        self._widths = {}
        # a network trained with its own blind estimate (the v0.2 family, noise_std_method) is told that one by the
        # slice inferer, image by image, never the map
        if noise_std is None and self.noise_estimate == "map" and takes_noise_std(network) and noise_std_method(network) == "auto":
            try:
                noise_std, coils = self._estimate(inputs, coils, names, diffusion)
            except ValueError as err:  # too small, or no usable statistics: one white level, as noise_estimate="level"
                logger.info("%s: %s; estimating one white level instead", names[0] if names else "scan", err)
                self.last_noise = [{} for _ in range(inputs.shape[0])]
                self._levels, self._widths = {}, {}
        extra = {k: v for k, v in (("noise_std", noise_std), ("coils", coils)) if v is not None}
        if inputs.ndim == 4:
            if self.mode == "3d":
                raise ValueError("--mode 3d needs a volume; this is a 2D image (use --mode auto or 2d).")
            self.last_choices = [("2d", -1, "")] * inputs.shape[0]
            if not self._widths:
                return self.slice_inferer(inputs, network, *args, **extra, **kwargs)
            return torch.cat([  # estimated: each image told its own white-equivalent level
                self.slice_inferer(inputs[i : i + 1], network, *args, **self._told(i, "2d", -1, noise_std[i : i + 1], coils[i]), **kwargs)
                for i in range(inputs.shape[0])
            ])
        if inputs.ndim != 5:
            raise ValueError(f"expected a (B, C, H, W) or (B, C, X, Y, Z) batch, got shape {tuple(inputs.shape)}.")
        spacings = None if spacing is None else torch.as_tensor(spacing, dtype=torch.float64).reshape(-1, 3)
        outputs = []
        for i in range(inputs.shape[0]):
            one = inputs[i : i + 1]
            space = None if spacings is None else spacings[min(i, len(spacings) - 1)].tolist()
            model, axis, reason = choose_mode(
                one.shape[2:], space, self.mode, self.axis, self.min_slices, self.max_anisotropy, self.volume_network is not None
            )
            if model == "3d" and self.return_conductance:
                model, reason = "2d", "conductance maps come from the 2D model: denoised slice by slice"
            if reason:
                logger.warning("%s: %s", names[i] if names is not None and i < len(names) else f"scan {i}", reason)
            self.last_choices.append((model, axis, reason))
            level = None if noise_std is None else _one_scan(noise_std, i, inputs.shape[0])
            if diffusion is not None and i < len(diffusion) and diffusion[i] and one.shape[1] > 1 and not self.return_conductance \
                    and takes_noise_std(network if model == "2d" else self.volume_network) and noise_std_method(network) == "auto":
                self.last_choices[-1] = (f"series+{model}", axis, reason)  # a diffusion series, denoised as a series
                outputs.append(self._series(one, network, model, axis, level, coils, names[i] if names is not None and i < len(names) else f"scan {i}", i))
            elif model == "2d":
                self.slice_inferer.axis = axis
                sub = dict(extra)
                if level is not None:
                    sub["noise_std"] = level
                if i in self._widths:
                    sub.update(self._told(i, "2d", axis, level, coils[i]))
                outputs.append(self.slice_inferer(one, network, *args, **sub, **kwargs))
            elif i in self._widths:  # the volume model takes one level per volume: the estimated map's median
                told = self._told(i, "3d", axis, self._levels[i], coils[i])
                outputs.append(self._volume(one, axis, told["noise_std"], told["coils"], told.get("correlation")))
            else:
                outputs.append(self._volume(one, axis, level, coils))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)  # one scan: no copy (a series may be gigabytes)

    def noise_for_2d(self, scan: torch.Tensor, axis: int = -1, coils: int | None = None, name: str | None = None) -> dict[str, Any]:
        """What the 2D model is told of one scan's noise, estimated as a blind run with ``noise_estimate="map"`` does.

        For a self-supervised fit (:mod:`monai_nad.inference.fit`) that feeds the 2D model the same noise as
        ``monai-nad denoise`` will.

        Args:
            scan: one scan ``(1, C, H, W)`` or ``(1, C, X, Y, Z)`` in the normalised intensity units.
            axis: the slice axis of a volume (ignored for a 2D image).
            coils: the receiver coils when known, else read from the air.
            name: the scan's name, for the log.

        Returns:
            ``{"noise_std": map like scan (the white-equivalent level told), "coils": the coils told,
            "correlation": widths in the slice's plane (2,), "std": the estimated per-voxel std map (the magnitude's
            own noise), "estimated_coils": N}``.

        Raises:
            ValueError: the scan gives no usable noise statistics (too small, negative values).
        """
        self.last_noise = [{}]
        self._levels, self._widths = {}, {}
        maps, counts = self._estimate(scan, coils, None if name is None else [name])
        told = self._told(0, "2d", axis % 3 if scan.ndim == 5 else -1, maps, counts[0])
        return {**told, "std": maps, "estimated_coils": int(counts[0])}

    def _told(self, index: int, model: str, axis: int, noise_std: torch.Tensor, coils: Any) -> dict[str, Any]:
        """What ``model`` is told of scan ``index``'s estimated noise: the white-equivalent level ``f s`` and ``N / f^2``
        coils (:func:`~monai_nad.transforms.noise_map.white_equivalent_factor`), ``f`` from the correlation widths
        across the axes the model works on (the 2D model: the slice's plane; the volume model: all three); the 2D model
        is also given those widths (``correlation``, read by a network built with ``correlation_input``)."""
        widths = list(self._widths[index])
        if model == "2d" and len(widths) == 3:
            del widths[axis]
        factor = white_equivalent_factor(widths, self.white_gain[model]) if self.white_gain[model] > 0 else 1.0
        self.last_noise[index]["white_equivalent_factor"] = factor
        told = {"noise_std": noise_std * factor, "coils": float(torch.as_tensor(coils).flatten()[0]) / factor**2}
        # the widths in the slice's plane, for a network that reads them (correlation_input): the 2D model's slices, or
        # the volume model's, whose slices lie across ``axis``
        in_plane = widths if model == "2d" else [w for a, w in enumerate(self._widths[index]) if a != axis]
        told["correlation"] = torch.tensor(in_plane, dtype=torch.float64)
        return told

    def _estimate(
        self, inputs: torch.Tensor, coils: Any, names: Sequence[str] | None, diffusion: Sequence[bool] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The noise of every scan and volume, estimated once (:func:`~monai_nad.transforms.noise_map.estimate_noise`):
        a per-voxel std map like ``inputs`` and one coil count per scan (the given one, else the one the air shows). A
        diffusion series (``diffusion``) is read on its first volume only: the series path estimates its own noise and
        takes only the coil count from here."""
        given = None if coils is None else torch.as_tensor(coils).reshape(-1)
        all_series = diffusion is not None and len(diffusion) >= inputs.shape[0] and all(bool(f) for f in diffusion[: inputs.shape[0]])
        # a batch of diffusion series: one map per scan (its series path reads only the coil count), not one per volume
        maps = torch.empty((inputs.shape[0], 1, *inputs.shape[2:]), dtype=inputs.dtype, device=inputs.device) if all_series else torch.empty_like(inputs)
        counts = []
        for i in range(inputs.shape[0]):
            told = None if given is None else int(given[min(i, len(given) - 1)])
            series = diffusion is not None and i < len(diffusion) and bool(diffusion[i])
            read = range(1) if series else range(inputs.shape[1])
            estimates = [_estimate_one(inputs[i, c].detach().float().cpu().numpy(), told) for c in read]
            estimates = estimates * inputs.shape[1] if series else estimates
            self._levels[i] = torch.as_tensor([e.std for e in estimates], dtype=inputs.dtype)
            for c, estimate in enumerate(estimates[: maps.shape[1]]):
                maps[i, c] = torch.as_tensor(estimate.std_map, dtype=inputs.dtype, device=inputs.device)
            count = told if told is not None else int(np.median([e.coils for e in estimates]))
            counts.append(count)
            self._widths[i] = [float(np.median([e.correlation_lengths[a] for e in estimates])) for a in range(len(estimates[0].correlation_lengths))]
            noise = {
                "noise_std": float(np.median([e.std for e in estimates])),
                "coils": count,
                "coils_estimated": told is None,
                "correlation_length": float(np.median([e.correlation_length for e in estimates])),
            }
            self.last_noise[i] = noise
            logger.info(
                "%s: noise estimated: std %.4g of the normalised intensity, %d coil(s)%s, correlation length %.2f px",
                names[i] if names is not None and i < len(names) else f"scan {i}", noise["noise_std"], count,
                " (from the air)" if told is None else " (given)", noise["correlation_length"],
            )
        return maps, torch.as_tensor(counts)

    def _series(self, one: torch.Tensor, network: Callable[..., torch.Tensor], model: str, axis: int, noise_std: Any, coils: Any,
                name: str, index: int = 0) -> torch.Tensor:
        """A diffusion series ``(1, V, X, Y, Z)`` as a series (:class:`~monai_nad.inference.series.SeriesDenoiser`): the
        local low-rank step, then ``model`` (the volume model along ``axis`` in windows as :meth:`_volume`, or the 2D
        model ``network`` slice by slice) told the noise left. What the series path estimated goes into
        :attr:`last_noise` ``[index]`` (whatever ``noise_estimate``): ``noise_std`` (the channel noise the floor removal
        used), ``coils``, ``kept_fraction``, ``noise_from`` (``"air"``, ``"low-rank"`` or ``"given"``) and
        ``series_residual_std`` (the level the model was told), in the normalised units."""
        given = None if noise_std is None or torch.as_tensor(noise_std).numel() != 1 else float(torch.as_tensor(noise_std))
        told = None if coils is None else int(torch.as_tensor(coils).flatten()[0])
        if model == "3d":
            def run(volume: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
                return self._volume(volume, axis, level, 1)
        else:
            def run(volume: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
                self.slice_inferer.axis = axis
                return self.slice_inferer(volume, network, noise_std=level, coils=1)
        series = SeriesDenoiser(network, run_volume=run)
        out = series(one[0], noise_std=given, coils=told)
        noise = series.last
        if series.last_noise_map is not None:
            self.last_series_noise_maps[index] = series.last_noise_map
        record = self.last_noise[index] if index < len(self.last_noise) else {}
        record.update(noise_std=noise["noise_std"], coils=noise["coils"], kept_fraction=noise["kept"], noise_from=noise["noise_from"],
                      series_residual_std=noise["residual_std"])
        record.setdefault("coils_estimated", told is None and noise["noise_from"] == "air")
        logger.info("%s: denoised as a diffusion series: noise std %.4g (%s), %d coil(s), %.1f%% of the components kept, "
                    "the volume model told %.4g", name, noise["noise_std"], noise["noise_from"], noise["coils"], 100 * noise["kept"],
                    noise["residual_std"])
        return out[None].to(one.dtype)

    def _volume(self, one: torch.Tensor, axis: int, noise_std: Any, coils: Any, correlation: Any = None) -> torch.Tensor:
        """One scan ``(1, V, X, Y, Z)`` (``V`` volumes of a series) through the volume model along ``axis``; ``correlation``:
        the noise's widths in the plane of its slices, for a volume model that reads them."""
        extra = {} if correlation is None or not takes_argument(self.volume_network, "correlation") else {"correlation": correlation}
        coil_count = 1 if coils is None else float(torch.as_tensor(coils).flatten()[0])
        volumes = torch.movedim(one[0], 1 + axis, -1)  # (V, H, W, D), slices last
        if noise_std is None:
            levels = estimate_noise_std(volumes[:, None], coils=coil_count, max_voxels=VOLUME_ESTIMATE_VOXELS)[:, 0]
        else:
            levels = torch.broadcast_to(torch.as_tensor(noise_std, dtype=one.dtype).reshape(-1), (volumes.shape[0],))
        levels = levels.to(dtype=one.dtype, device=one.device)
        plane = volumes.shape[1:3]
        roi = (min(self.roi_size, int(plane[0])), min(self.roi_size, int(plane[1])), -1)
        results = []
        series = range(volumes.shape[0])
        if self.progress and volumes.shape[0] > 1:
            from tqdm.auto import tqdm

            series = tqdm(series, desc="volumes", unit="volume", leave=False)
        windows = roi[0] < plane[0] or roi[1] < plane[1]
        for v in series:
            volume = volumes[v][None, None]
            if not windows:  # one window holds the volume: the network itself (what the blending would return)
                results.append(self.volume_network(volume, noise_std=levels[v : v + 1], coils=coil_count, **extra))
                continue
            results.append(
                sliding_window_inference(
                    volume, roi, 1, self.volume_network, overlap=self.overlap, mode="gaussian", progress=self.progress,
                    noise_std=levels[v : v + 1], coils=coil_count, **extra,
                )
            )
        out = torch.cat(results, dim=0)[:, 0]  # (V, H, W, D)
        return torch.movedim(out, -1, 1 + axis)[None]


def _estimate_one(volume: np.ndarray, coils: int | None):
    """:func:`~monai_nad.transforms.noise_map.estimate_noise` of one volume, with a check of what it calls air: air
    surrounds an object, so where nearly everything (over 90 %) is "air" (a flat, bright image with no background,
    whose values a chi law of many coils also fits) the coil count is not trusted and the level is read for one coil."""
    estimate = estimate_noise(volume, coils=coils)
    if coils is None and estimate.coils > 1 and float(estimate.air.mean()) > 0.9:
        estimate = estimate_noise(volume, coils=1)
    return estimate


def _one_scan(noise_std: Any, index: int, batch: int) -> torch.Tensor:
    """The noise level(s) of scan ``index`` of a batch: a number, ``(B,)``, ``(B, C)``, or a map ``(B, C, ...)`` (kept
    as ``(1, C, ...)``, the shape of the scan's inputs)."""
    value = torch.as_tensor(noise_std)
    if value.ndim == 0:
        return value
    if value.ndim > 2 and value.shape[0] == batch:
        return value[index : index + 1]
    if value.shape[0] == batch:
        return value[index]
    return value
