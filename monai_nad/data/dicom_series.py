"""DICOM folders as scans: split a folder into its series, read one series as a volume ordered by its geometry.

A folder of ``.dcm`` files may hold several series (a localiser, several sequences, a series and its derived copy).
Each series (one ``SeriesInstanceUID``, one matrix size, one orientation) is one scan. Its slices are ordered by
their position along the slice normal (``ImagePositionPatient`` projected on the cross product of the
``ImageOrientationPatient`` cosines), not by ``InstanceNumber``, and the voxel-to-world affine is built from that
geometry in MONAI's convention (array axes: columns, rows, slices; world coordinates RAS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DicomSeries", "dicom_series_in", "read_dicom_series", "write_dicom_series"]


@dataclass(frozen=True)
class DicomSeries:
    """The files of one DICOM series in a folder.

    Attributes:
        folder: the folder holding the files.
        files: the series' files (in file-name order; :func:`read_dicom_series` orders the slices).
        label: ``""`` when the folder holds this series alone, else a short name unique within the folder
            (``"series<SeriesNumber>"``, with the first characters of the ``SeriesInstanceUID`` where the number
            does not tell the series apart).
        uid: the ``SeriesInstanceUID`` (``""`` when the files have none).
    """

    folder: Path
    files: tuple[Path, ...]
    label: str = ""
    uid: str = ""


def _header(path: Path):
    import pydicom

    return pydicom.dcmread(str(path), stop_before_pixels=True)


def _series_key(ds) -> tuple:
    orientation = tuple(round(float(v), 3) for v in getattr(ds, "ImageOrientationPatient", ()) or ())
    return (str(getattr(ds, "SeriesInstanceUID", "")), int(getattr(ds, "Rows", 0)), int(getattr(ds, "Columns", 0)), orientation)


def dicom_series_in(folder: str | Path, files: Sequence[str | Path]) -> tuple[list[DicomSeries], list[tuple[Path, str]]]:
    """Split the DICOM ``files`` of ``folder`` into series.

    Files that share ``SeriesInstanceUID``, matrix size and orientation form one series (a localiser that stores
    three planes under one UID becomes three scans).

    Args:
        folder: the folder the files are in (names the series).
        files: its ``.dcm`` files.

    Returns:
        ``(series, unreadable)``: the series in a deterministic order (by ``SeriesNumber``, then UID), and
        ``(file, reason)`` for every file that is not a readable DICOM image.
    """
    folder = Path(folder)
    groups: dict[tuple, list[Path]] = {}
    numbers: dict[tuple, int] = {}
    unreadable: list[tuple[Path, str]] = []
    for path in sorted(Path(f) for f in files):
        try:
            ds = _header(path)
        except Exception as err:  # noqa: BLE001 - pydicom raises many types for a file that is not DICOM
            unreadable.append((path, f"not a readable DICOM file ({type(err).__name__}: {err})".splitlines()[0]))
            continue
        if not (getattr(ds, "Rows", 0) and getattr(ds, "Columns", 0)):
            unreadable.append((path, "a DICOM file without an image (no Rows/Columns)"))
            continue
        key = _series_key(ds)
        groups.setdefault(key, []).append(path)
        number = getattr(ds, "SeriesNumber", None)
        numbers.setdefault(key, int(number) if number not in (None, "") else 0)
    keys = sorted(groups, key=lambda k: (numbers[k], k[0], k[1], k[2], k[3]))
    if len(keys) == 1:
        return [DicomSeries(folder, tuple(groups[keys[0]]), "", keys[0][0])], unreadable
    series = []
    for index, key in enumerate(keys):
        label = f"series{numbers[key]}"
        if sum(numbers[k] == numbers[key] for k in keys) > 1:
            same_uid = [k for k in keys if k[0] == key[0]]
            tail = key[0].replace(".", "")[-6:] or "nouid"
            label += f"_{tail}" + (f"_{same_uid.index(key) + 1}" if len(same_uid) > 1 else "")
        series.append(DicomSeries(folder, tuple(groups[key]), label, key[0]))
    return series, unreadable


def _pixels(ds) -> np.ndarray:
    """The slice's values after the modality LUT (``RescaleSlope``/``RescaleIntercept``), ``(Columns, Rows)``."""
    values = np.asarray(ds.pixel_array, dtype=np.float64)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return (values * slope + intercept).T


def read_dicom_series(files: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read the files of one series as a volume whose slices follow the geometry.

    Args:
        files: the series' files (any order).

    Returns:
        ``(array, affine, meta)``: the values ``(Columns, Rows)`` for one file, ``(Columns, Rows, slices)`` for several,
        ordered along the slice normal; the 4x4 RAS voxel-to-world affine; the first slice's identifying tags.

    Raises:
        ValueError: the files differ in matrix size or orientation, two slices share a position, or a file cannot
            be decoded (the message names the file).
    """
    import pydicom

    datasets = []
    for path in files:
        try:
            datasets.append((pydicom.dcmread(str(path)), Path(path)))
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"cannot read {path} as DICOM: {type(err).__name__}: {err}".splitlines()[0]) from err
    if not datasets:
        raise ValueError("no DICOM files to read.")
    first = datasets[0][0]
    orientation = np.asarray(getattr(first, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=np.float64)
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    for ds, path in datasets:
        if _series_key(ds)[1:] != _series_key(first)[1:]:
            raise ValueError(f"{path} has another matrix size or orientation than {datasets[0][1]}: not one series.")

    def position(ds) -> np.ndarray:
        return np.asarray(getattr(ds, "ImagePositionPatient", [0.0, 0.0, 0.0]), dtype=np.float64)

    if all(hasattr(ds, "ImagePositionPatient") for ds, _ in datasets):
        datasets.sort(key=lambda item: float(position(item[0]) @ normal))
        along = [float(position(ds) @ normal) for ds, _ in datasets]
        if len(datasets) > 1 and np.min(np.diff(along)) <= 1e-6:
            raise ValueError(f"two slices of the series in {datasets[0][1].parent} share a position: a duplicated or mixed series.")
    else:
        datasets.sort(key=lambda item: int(getattr(item[0], "InstanceNumber", 0) or 0))
    try:
        slices = [_pixels(ds) for ds, _ in datasets]
    except Exception as err:  # noqa: BLE001 - decoding errors (compressed data without a handler, truncated files)
        raise ValueError(f"cannot decode the pixels of the series in {datasets[0][1].parent}: {type(err).__name__}: {err}") from err
    array = slices[0] if len(slices) == 1 else np.stack(slices, axis=-1)
    spacing = [float(v) for v in getattr(first, "PixelSpacing", [1.0, 1.0])]
    affine = np.eye(4)
    affine[:3, 0] = row * spacing[1]  # array axis 0 runs along a row (the column index)
    affine[:3, 1] = column * spacing[0]
    if len(datasets) > 1:
        affine[:3, 2] = (position(datasets[-1][0]) - position(datasets[0][0])) / (len(datasets) - 1)
    else:
        affine[:3, 2] = normal * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    affine[:3, 3] = position(datasets[0][0])
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine  # DICOM's LPS to RAS, as MONAI's readers do
    meta = {key: str(getattr(first, key, "")) for key in ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "StudyInstanceUID")}
    meta["affine"] = affine
    meta["files"] = [str(path) for _, path in datasets]  # in slice order: write_dicom_series copies their headers
    return array, affine, meta


def write_dicom_series(array: np.ndarray, source_files: Sequence[str | Path], folder: str | Path, description: str) -> Path:
    """Write ``array`` as a new DICOM series that copies the headers of the series it was computed from.

    Each slice keeps its source slice's geometry and the patient, study and acquisition tags; the series gets a new
    ``SeriesInstanceUID`` (and ``SeriesNumber`` + 1000), every image a new ``SOPInstanceUID``, ``ImageType``
    becomes ``DERIVED\\SECONDARY``, and ``SeriesDescription`` and ``DerivationDescription`` say how it was made.
    Values are stored in the source's pixel data type through its ``RescaleSlope``/``RescaleIntercept``, rounded and
    clipped to the type's range.

    Args:
        array: ``(Columns, Rows)`` or ``(Columns, Rows, slices)``, as :func:`read_dicom_series` returned it.
        source_files: the source series' files in slice order (``meta["files"]`` of :func:`read_dicom_series`).
        folder: the new series' folder (created; must not exist).
        description: appended to the source's ``SeriesDescription`` (e.g. ``"denoised (monai_nad <version>)"``).

    Returns:
        ``folder``.

    Raises:
        ValueError: the array does not match the source series.
    """
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    slices = array[..., None] if array.ndim == 2 else array
    if slices.shape[-1] != len(source_files):
        raise ValueError(f"{slices.shape[-1]} slices to write but {len(source_files)} source files.")
    series_uid = generate_uid()
    folder.mkdir(parents=True)
    for index, source in enumerate(source_files):
        ds = pydicom.dcmread(str(source))
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        values = np.asarray(slices[..., index], dtype=np.float64).T  # back to (Rows, Columns)
        if values.shape != (int(ds.Rows), int(ds.Columns)):
            raise ValueError(f"slice {index} has shape {values.shape}, the source {source} {(int(ds.Rows), int(ds.Columns))}.")
        slope = float(getattr(ds, "RescaleSlope", 1) or 1)
        intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
        stored_type = ds.pixel_array.dtype
        info = np.iinfo(stored_type) if np.issubdtype(stored_type, np.integer) else None
        stored = np.rint((values - intercept) / slope)
        if info is not None:
            stored = np.clip(stored, info.min, info.max)
        ds.PixelData = stored.astype(stored_type).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesNumber = int(getattr(ds, "SeriesNumber", 0) or 0) + 1000
        kind = list(getattr(ds, "ImageType", []) or [])
        ds.ImageType = ["DERIVED", "SECONDARY", *kind[2:]]
        ds.SeriesDescription = f"{getattr(ds, 'SeriesDescription', '') or ''} {description}".strip()[:64]
        ds.DerivationDescription = description[:1024]
        ds.InstanceNumber = index + 1
        ds.save_as(str(folder / f"IM{index + 1:05d}.dcm"), enforce_file_format=True)
    return folder
