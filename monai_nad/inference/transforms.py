"""Dictionary transforms of the inference pipeline: load a user scan, write its denoised version."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_nad.data.scans import (
    LoadedImage,
    denormalise_intensity,
    load_image,
    normalisation_params,
    normalise_intensity,
    save_like,
    spacing_from_affine,
)
from monai_nad.transforms.noise_map import estimate_noise

logger = logging.getLogger(__name__)

__all__ = ["ScanRecord", "LoadScand", "SaveDenoisedd", "collate_scans"]


@dataclass(frozen=True)
class ScanRecord:
    """What is needed to write a result like its input: the loaded scan and its normalisation ``(offset, scale)``."""

    loaded: LoadedImage
    norm: tuple[float, float]


def collate_scans(items: list[dict]) -> dict:
    """Collate inference items: stack ``image`` (all items must share a shape), keep every other field as a list (None
    for an item without it)."""
    batch = {key: [item.get(key) for item in items] for key in dict.fromkeys(k for item in items for k in item)}
    images = [torch.as_tensor(item["image"]) for item in items]
    batch["image"] = images[0][None] if len(images) == 1 else torch.stack(images)  # one item: a view, not a copy
    return batch


class LoadScand(MapTransform):
    """Load a validated scan from the path in ``keys`` and normalise it to ``[0, 1]``-ish intensities.

    The item gets ``image`` as a float32 tensor ``(1, H, W)``, ``(1, X, Y, Z)`` or, for a 4D series of ``V`` volumes,
    ``(V, X, Y, Z)`` (one channel per volume), and ``"scan"``: the
    :class:`ScanRecord` needed to write the result back, and ``"spacing"``: the voxel size per axis from the affine.
    A DICOM folder that holds several series is read as the one whose files the item lists under ``"dicom_files"``. With a known noise level, ``"noise_std"`` holds it in the
    normalised intensity scale; ``"coils"`` is set when given (else the inferer reads it from the air).

    Args:
        keys: the key holding the path. Defaults to ``"image"``.
        noise_std: the noise standard deviation in the scan's own intensity units, or None (estimated blindly).
        coils: receiver coils of a sum-of-squares magnitude image (non-central chi noise; 1: Rician), or None.

    Raises:
        ValueError: a negative or non-finite ``noise_std``, or ``coils`` < 1.
    """

    def __init__(self, keys: KeysCollection = "image", noise_std: float | None = None, coils: int | None = None) -> None:
        super().__init__(keys)
        if noise_std is not None and not (np.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}.")
        if coils is not None and (int(coils) != coils or coils < 1):
            raise ValueError(f"coils must be an integer >= 1, got {coils!r}.")
        self.noise_std = noise_std
        self.coils = None if coils is None else int(coils)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            scan = load_image(str(d[key]), dicom_files=d.get("dicom_files"))
            if scan.array.ndim == 4:  # a series: one channel per volume, normalised in place on its one transposed copy
                params = normalisation_params(scan.array)  # one scale for a whole series
                channels = np.moveaxis(scan.array, -1, 0).copy()  # C order: a new array, the loaded one untouched
                channels -= np.float32(params[0])
                channels /= np.float32(params[1])
            else:
                normalised, params = normalise_intensity(scan.array)
                channels = np.ascontiguousarray(normalised[None])
            d[key] = torch.from_numpy(channels)
            d["scan"] = ScanRecord(scan, params)
            d["spacing"] = spacing_from_affine(scan.affine)
            if self.noise_std is not None:
                d["noise_std"] = float(self.noise_std) / params[1]
            if self.coils is not None:
                d["coils"] = self.coils
        return d


class SaveDenoisedd(MapTransform):
    """Write each ``pred`` back in its input's intensity scale, format and geometry to ``data["output"]``.

    Works on a collated batch (``pred`` of shape ``(B, 1, ...)``, ``scan``/``output`` lists of length ``B``,
    as produced by :func:`collate_scans` with an evaluator run with ``decollate=False``) and on single items.

    Args:
        keys: the key of the prediction. Defaults to ``"pred"``.
        overwrite: replace existing outputs. Defaults to False.
        conductance_source: an inferer with ``last_conductance`` (e.g. a :class:`SliceWiseInferer` created with
            ``return_conductance=True``); its step-averaged conductance maps are written next to each result as
            ``<name>_conductance.nii.gz`` (a 4D NIfTI, the last axis the edge directions) or ``.npy`` for 2D images.
        noise_map: also write the input's estimated noise next to each result as ``<name>_noise_std.nii.gz`` (``.npy``
            for 2D images): the per-voxel noise std in the scan's own intensity units
            (:func:`~monai_nad.transforms.noise_map.estimate_noise` of the input as loaded, each volume of a series on
            its own), with the input's affine and header (float32), and log one line per scan of what was estimated
            (also kept in :attr:`noise_log`). The coil count is the item's ``"coils"`` where given, else read from the
            air. A scan without a usable estimate (negative values, too small) gets a warning instead. A diffusion
            series that the inferer (``conductance_source``) denoised as a series gets its series path's map instead,
            one 3D map for the series (:attr:`~monai_nad.inference.ScanInferer.last_series_noise_maps`: the
            Marchenko-Pastur noise std per voxel, as MRtrix's ``dwidenoise -noise``). Defaults to False.
    """

    def __init__(
        self, keys: KeysCollection = "pred", overwrite: bool = False, conductance_source: object | None = None, noise_map: bool = False
    ) -> None:
        super().__init__(keys)
        self.overwrite = overwrite
        self.conductance_source = conductance_source
        self.noise_map = bool(noise_map)
        #: one line per noise map written: ``"<map>: noise std ..., N = ..., correlation length ... px"``.
        self.noise_log: list[str] = []

    def _save_series_noise_map(self, record: ScanRecord, output: Path, values: torch.Tensor) -> None:
        """Write a diffusion series' noise map ``(X, Y, Z)`` from its series path (normalised units) in the scan's units."""
        std = values.detach().float().cpu().numpy() * np.float32(record.norm[1])
        target = self._noise_target(output)
        header = nib.load(str(record.loaded.path)).header.copy()
        header.set_data_dtype(np.float32)
        header.set_slope_inter(1.0, 0.0)
        header.set_data_shape(std.shape)
        nib.save(nib.Nifti1Image(std.astype(np.float32), record.loaded.affine, header=header), str(target))
        line = (f"{target}: the series path's noise: Marchenko-Pastur std per voxel, median {float(np.median(std)):.4g} "
                f"(one map for the {record.loaded.array.shape[-1]} volumes)")
        self.noise_log.append(line)
        logger.info("%s: %s", record.loaded.path.name, line)

    def _noise_target(self, output: Path, as_array: bool = False) -> Path:
        stem = output.name[: -len(".nii.gz")] if output.name.endswith(".nii.gz") else output.stem
        target = output.with_name(f"{stem}_noise_std" + (".npy" if as_array else ".nii.gz"))
        if target.exists() and not self.overwrite:
            raise FileExistsError(f"{target} already exists; choose another output folder or use --overwrite (overwrite=True) to replace it.")
        return target

    def _save_noise_map(self, record: ScanRecord, output: Path, coils: object = None, index: int = 0) -> None:
        series_maps = getattr(self.conductance_source, "last_series_noise_maps", None) or {}
        if index in series_maps and record.loaded.kind == "nifti" and record.loaded.array.ndim == 4:
            self._save_series_noise_map(record, output, series_maps[index])
            return
        array = record.loaded.array
        volumes = [array] if array.ndim < 4 else [array[..., v] for v in range(array.shape[-1])]
        name = record.loaded.path.name
        try:
            if float(array.min()) < 0:
                raise ValueError("the image has negative values: not a magnitude image")
            told = None if coils is None else int(torch.as_tensor(coils).flatten()[0])
            estimates = [estimate_noise(volume, coils=told) for volume in volumes]
        except ValueError as err:
            logger.warning("%s: no noise map: %s", name, err)
            return
        stem = output.name[: -len(".nii.gz")] if output.name.endswith(".nii.gz") else output.stem
        as_array = record.loaded.kind == "image"
        target = output.with_name(f"{stem}_noise_std" + (".npy" if as_array else ".nii.gz"))
        if target.exists() and not self.overwrite:
            raise FileExistsError(f"{target} already exists; choose another output folder or use --overwrite (overwrite=True) to replace it.")
        values = estimates[0].std_map if len(estimates) == 1 else np.stack([e.std_map for e in estimates], axis=-1)
        values = values.astype(np.float32)
        if as_array:
            np.save(target, values)
        else:
            header = None
            if record.loaded.kind == "nifti":
                header = nib.load(str(record.loaded.path)).header.copy()
                header.set_data_dtype(np.float32)
                header.set_slope_inter(1.0, 0.0)
            nib.save(nib.Nifti1Image(values, record.loaded.affine, header=header), str(target))
        middle = estimates[len(estimates) // 2]
        line = f"{target}: " + middle.summary()
        if len(estimates) > 1:
            line += f" (volume {len(estimates) // 2 + 1} of {len(estimates)}; std of each: " + ", ".join(f"{e.std:.4g}" for e in estimates) + ")"
        self.noise_log.append(line)
        logger.info("%s: %s", name, line)

    def _save_conductance(self, index: int, record: ScanRecord, output: Path) -> None:
        maps = getattr(self.conductance_source, "last_conductance", None)
        if maps is None:
            return
        values = maps[index].detach().float().cpu().numpy()  # (E, *spatial)
        stem = output.name[: -len(".nii.gz")] if output.name.endswith(".nii.gz") else output.stem
        as_array = record.loaded.kind == "image"
        target = output.with_name(f"{stem}_conductance" + (".npy" if as_array else ".nii.gz"))
        if target.exists() and not self.overwrite:
            raise FileExistsError(f"{target} already exists; choose another output folder or use --overwrite (overwrite=True) to replace it.")
        if as_array:
            np.save(target, values)
        else:
            nib.save(nib.Nifti1Image(np.moveaxis(values, 0, -1).astype(np.float32), record.loaded.affine), str(target))

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        records = d["scan"] if isinstance(d["scan"], list) else [d["scan"]]
        outputs = d["output"] if isinstance(d["output"], list) else [d["output"]]
        for key in self.key_iterator(d):
            pred = d[key]
            values = pred.detach().float().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
            if not isinstance(d["scan"], list):
                values = values[None]
            written = []
            coils = d.get("coils") if isinstance(d["scan"], list) else [d.get("coils")]
            for index, (record, output, value) in enumerate(zip(records, outputs, values)):
                restored = denormalise_intensity(np.moveaxis(value, 0, -1) if record.loaded.array.ndim == 4 else value[0], record.norm)
                written.append(str(save_like(restored, record.loaded, Path(str(output)), overwrite=self.overwrite)))
                self._save_conductance(index, record, Path(str(output)))
                if self.noise_map:
                    self._save_noise_map(record, Path(str(output)), None if coils is None else coils[index], index)
            d["written"] = written if isinstance(d["scan"], list) else written[0]
        return d
