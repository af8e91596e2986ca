"""Reading, validating, normalising and writing the scans a user brings (NIfTI, DICOM, PNG, JPEG).

Images are read with MONAI's image readers (``NibabelReader``, ``PydicomReader``, ``PILReader``) and
checked before any model sees them: a bad file gets an error that names the file and the problem.
Outputs keep the input's geometry: NIfTI is written with the input's affine and header, 2D images as
PNG of the input's bit depth, DICOM series as NIfTI with the affine MONAI derived from the DICOM tags.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.data import NibabelReader, PILReader
from PIL import Image

from monai_nad import __version__
from monai_nad.data.dicom_series import DicomSeries, dicom_series_in, read_dicom_series, write_dicom_series

__all__ = [
    "NIFTI_SUFFIXES",
    "IMAGE_SUFFIXES",
    "DICOM_SUFFIXES",
    "LoadedImage",
    "image_kind",
    "RESULTS_MARKER",
    "ScanSource",
    "find_images",
    "find_scans",
    "load_image",
    "normalisation_params",
    "normalise_intensity",
    "denormalise_intensity",
    "output_path_for",
    "save_like",
    "spacing_from_affine",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm",)


#: The smallest in-plane size (pixels per axis) a scan may have.
MIN_IMAGE_SIZE = 3

#: The file that marks a folder as holding results of ``monai-nad``: folder searches never read inputs from it.
RESULTS_MARKER = ".monai-nad-results"

#: The name endings of the files ``monai-nad`` writes (a result, its conductance maps, its noise map).
RESULT_STEMS = ("_denoised", "_denoised_conductance", "_denoised_noise_std")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def image_kind(path: str | Path) -> str | None:
    """``"nifti"``, ``"image"`` (PNG/JPEG), ``"dicom"`` (a .dcm file or a folder of them) or None."""
    path = Path(path)
    if path.is_dir():
        return "dicom" if any(_suffix(p) in DICOM_SUFFIXES for p in path.iterdir() if p.is_file()) else None
    suffix = _suffix(path)
    if suffix in NIFTI_SUFFIXES:
        return "nifti"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    return None


def find_images(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of images.

    A folder is searched recursively for NIfTI, PNG and JPEG files; a folder that directly holds ``.dcm`` files
    is one DICOM series (one volume).

    Args:
        paths: files and/or folders.

    Returns:
        the images, de-duplicated, in a deterministic order.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a file of an unsupported type, or a folder without images.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if path.is_file():
            if image_kind(path) is None:
                raise ValueError(
                    f"unsupported input file {path}: expected NIfTI ({', '.join(NIFTI_SUFFIXES)}), DICOM (.dcm) or "
                    f"PNG/JPEG."
                )
            found.append(path)
            continue
        before = len(found)
        for folder in sorted([path] + [p for p in path.rglob("*") if p.is_dir()]):
            if image_kind(folder) == "dicom":
                found.append(folder)
            found.extend(sorted(p for p in folder.iterdir() if p.is_file() and image_kind(p) in ("nifti", "image")))
        if len(found) == before:
            raise ValueError(f"no images (NIfTI, DICOM, PNG, JPEG) found in folder {path}")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


@dataclass(frozen=True)
class ScanSource:
    """One scan found in the inputs: an image file, or one series of a DICOM folder.

    Attributes:
        path: the file, or the DICOM folder.
        relative: where it sits below the input it was found in (``a/x.nii.gz`` for ``x.nii.gz`` found in folder
            ``a`` of a given folder; the bare name for a file given directly); results keep this layout.
        series: the DICOM series (None for other files).
    """

    path: Path
    relative: Path
    series: DicomSeries | None = None

    @property
    def name(self) -> str:
        """How messages name the scan: its path, and the series label where a folder holds several series."""
        return f"{self.path} [{self.series.label}]" if self.series is not None and self.series.label else str(self.path)


def _is_earlier_result(path: Path) -> bool:
    name = path.name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else path.stem
    return stem.endswith(RESULT_STEMS)


def find_scans(path: str | Path) -> tuple[list[ScanSource], list[tuple[str, str]], list[Path]]:
    """Expand one input (a file or a folder) into the scans to denoise.

    A folder is searched recursively for NIfTI, PNG and JPEG files and for folders of ``.dcm`` files; each DICOM
    series of such a folder is one scan (:func:`~monai_nad.data.dicom_series.dicom_series_in`). Earlier results are
    never read back: folders marked with :data:`RESULTS_MARKER` are skipped whole, and files named like a result
    (``*_denoised.*``) are skipped in folder searches (given directly, such a file is denoised like any other).

    Args:
        path: a file or a folder.

    Returns:
        ``(scans, problems, ignored)``: the scans in a deterministic order, ``(file, reason)`` for DICOM files that
        cannot be read, and the earlier results that were passed over.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: a file of an unsupported type, or a folder without images.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    root = path.resolve()
    problems: list[tuple[str, str]] = []
    ignored: list[Path] = []
    if path.is_file():
        if image_kind(path) is None:
            raise ValueError(
                f"unsupported input file {path}: expected NIfTI ({', '.join(NIFTI_SUFFIXES)}), DICOM (.dcm) or PNG/JPEG."
            )
        if image_kind(path) == "dicom":
            series, unreadable = dicom_series_in(root.parent, [root])
            problems += [(str(f), reason) for f, reason in unreadable]
            return [ScanSource(root, Path(path.name), s) for s in series], problems, ignored
        return [ScanSource(root, Path(path.name))], problems, ignored
    scans: list[ScanSource] = []
    folders = sorted([root] + [p for p in root.rglob("*") if p.is_dir()])
    marked = [f for f in folders if (f / RESULTS_MARKER).is_file()]
    for folder in folders:
        if any(folder.is_relative_to(m) for m in marked):
            ignored.extend(p for p in folder.iterdir() if p.is_file() and image_kind(p) is not None)
            continue
        files = sorted(p for p in folder.iterdir() if p.is_file())
        dicom = [p for p in files if image_kind(p) == "dicom"]
        if dicom and _is_earlier_result(folder):  # a DICOM result written by an earlier run
            ignored.append(folder)
        elif dicom:
            series, unreadable = dicom_series_in(folder, dicom)
            problems += [(str(f), reason) for f, reason in unreadable]
            folder_relative = Path(path.name) if folder == root else folder.relative_to(root)
            scans.extend(ScanSource(folder, folder_relative, s) for s in series)
        for file in files:
            if image_kind(file) not in ("nifti", "image"):
                continue
            if _is_earlier_result(file):
                ignored.append(file)
                continue
            scans.append(ScanSource(file, file.relative_to(root)))
    if not scans and not problems:
        reason = "only earlier results" if ignored else "no images (NIfTI, DICOM, PNG, JPEG)"
        raise ValueError(f"{reason} found in folder {path}")
    return scans, problems, ignored


@dataclass
class LoadedImage:
    """A validated image and what is needed to write a result like it.

    Attributes:
        array: float32 array, ``(H, W)`` for 2D images or ``(X, Y, Z)`` for volumes.
        path: the source file (or DICOM folder).
        kind: ``"nifti"``, ``"dicom"`` or ``"image"``.
        affine: the 4x4 voxel-to-world matrix (identity for PNG/JPEG).
        meta: the reader's metadata.
        dtype: the stored data type (for writing 2D images back at the same bit depth).
    """

    array: np.ndarray
    path: Path
    kind: str
    affine: np.ndarray
    meta: dict = field(default_factory=dict)
    dtype: np.dtype = np.dtype(np.float32)


def _reader(kind: str):
    if kind == "nifti":
        return NibabelReader()
    return PILReader(reverse_indexing=False)


def _read_dicom(path: Path, files: Sequence[str | Path] | None) -> tuple[np.ndarray, dict]:
    """The values and metadata of the DICOM series at ``path`` (a file, or a folder of one series or of ``files``)."""
    if files is None:
        if path.is_file():
            files = [path]
        else:
            dicom = [p for p in sorted(path.iterdir()) if p.is_file() and image_kind(p) == "dicom"]
            series, _ = dicom_series_in(path, dicom)
            if len(series) != 1:
                raise ValueError(f"{path} holds {len(series)} DICOM series: read each one with its files (find_scans lists them).")
            files = series[0].files
    array, _, meta = read_dicom_series(files)
    return array, meta


def load_image(path: str | Path, dicom_files: Sequence[str | Path] | None = None) -> LoadedImage:
    """Load and validate one image (NIfTI, DICOM file or series folder, PNG, JPEG).

    RGB(A) images are converted to grey (luminance). Trailing singleton axes beyond the third are squeezed; a NIfTI
    with one more axis is a 4D series ``(X, Y, Z, V)`` of ``V`` volumes.

    Args:
        path: the file, or a folder holding one DICOM series.
        dicom_files: for a DICOM folder that holds several series, the files of the one to read
            (:attr:`DicomSeries.files`). Defaults to None: every DICOM file of the folder, which must then be one series.

    Returns:
        a :class:`LoadedImage`.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unsupported type, unreadable/corrupt file, empty image, not 2D/3D/4D, non-finite values, or a
            constant image; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    kind = image_kind(path)
    if kind is None:
        raise ValueError(f"unsupported input {path}: expected NIfTI, DICOM, PNG or JPEG.")
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes).")
    if kind == "dicom":
        data, meta = _read_dicom(path, dicom_files)
    else:
        try:
            reader = _reader(kind)  # one reader, no silent fall-back to others for a corrupt file
            data, meta = reader.get_data(reader.read(str(path)))
        except Exception as err:  # readers raise many types for corrupt files; report them uniformly
            raise ValueError(f"cannot read {path} as {kind}: {type(err).__name__}: {err}") from err
    array = np.asarray(data)
    stored_dtype = array.dtype
    if kind == "image" and array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    array = array.astype(np.float32, copy=False)  # the reader's float32 kept, not copied (a series may be gigabytes)
    if array.ndim > 3:
        squeezed = array.reshape([s for i, s in enumerate(array.shape) if i < 3 or s != 1])
        if squeezed.ndim > 4 or (squeezed.ndim == 4 and kind != "nifti"):
            raise ValueError(
                f"{path} has shape {array.shape}: a {squeezed.ndim}D {kind} image; 2D images, 3D volumes and 4D NIfTI "
                f"series (x, y, z, volume) are supported (split higher-dimensional data into 4D series first)."
            )
        array = squeezed
    if array.ndim == 3 and 1 in array.shape and kind == "image":
        array = array.reshape([s for s in array.shape if s != 1])
    if array.ndim not in (2, 3, 4):
        raise ValueError(f"{path} has shape {array.shape}: only 2D images, 3D volumes and 4D series are supported.")
    if array.size == 0:
        raise ValueError(f"{path} holds an empty image of shape {array.shape}.")
    if sum(size >= MIN_IMAGE_SIZE for size in array.shape[:3]) < 2:
        raise ValueError(
            f"{path} has shape {array.shape}: too small to denoise (at least two axes need {MIN_IMAGE_SIZE} or more voxels)."
        )
    bad = int((~np.isfinite(array)).sum())
    if bad:
        raise ValueError(f"{path} has {bad} non-finite (NaN or Inf) voxels; fix or mask them before denoising.")
    if float(array.max()) == float(array.min()):
        raise ValueError(f"{path} is a constant image (every voxel is {float(array.min()):g}): nothing to denoise.")
    affine = np.asarray(meta.get("affine", np.eye(4)), dtype=np.float64)
    if affine.shape != (4, 4):
        affine = np.eye(4)
    stored = nib.load(str(path)).affine if kind == "nifti" else affine  # what a result is written with
    if not (np.isfinite(affine).all() and np.isfinite(stored).all()) or abs(np.linalg.det(affine[:3, :3])) == 0:
        raise ValueError(f"{path} has an invalid voxel-to-world affine (non-finite or singular); fix its header before denoising.")
    return LoadedImage(array=array, path=path, kind=kind, affine=affine, meta=dict(meta), dtype=stored_dtype)


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """The voxel size along each array axis: the lengths of the first three columns of a 4x4 affine."""
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    return tuple(float(v) for v in np.linalg.norm(matrix, axis=0))


def normalise_intensity(x: np.ndarray, upper_percentile: float = 99.5) -> tuple[np.ndarray, tuple[float, float]]:
    """Map a scan of any intensity scale to roughly ``[0, 1]``: ``(x - offset) / (p_upper - offset)``, not clipped.

    The offset is ``min(x)`` for images with negative values and 0 otherwise: a magnitude image keeps its zero, so
    its noise stays Rician (a shifted image would not be). Nothing is clipped, so :func:`denormalise_intensity`
    inverts it exactly (bright outliers end above 1).

    Args:
        x: the image.
        upper_percentile: the percentile mapped to 1. Defaults to 99.5.

    Returns:
        ``(normalised float32 image, (offset, scale))``.

    Raises:
        ValueError: a constant image.
    """
    x = np.asarray(x, dtype=np.float32)
    low, scale = normalisation_params(x, upper_percentile)
    out = x - np.float32(low)
    out /= np.float32(scale)  # in place: one copy of the image, not two
    return out, (low, scale)


def normalisation_params(x: np.ndarray, upper_percentile: float = 99.5) -> tuple[float, float]:
    """The ``(offset, scale)`` of :func:`normalise_intensity` (``(x - offset) / scale``) without the normalised copy.

    Raises:
        ValueError: a constant image.
    """
    x = np.asarray(x, dtype=np.float32)
    low = min(float(x.min()), 0.0)
    high = float(np.percentile(x, upper_percentile))
    if high <= low:
        high = float(x.max())
    if high <= low or float(x.max()) == float(x.min()):
        raise ValueError(f"cannot normalise a constant image (value {float(x.min()):g}).")
    return low, high - low


def denormalise_intensity(x01: np.ndarray, params: Sequence[float]) -> np.ndarray:
    """Invert :func:`normalise_intensity`."""
    offset, scale = params
    out = np.asarray(x01, dtype=np.float32) * np.float32(scale)
    out += np.float32(offset)  # in place: one copy, not two
    return out


def output_path_for(
    source: str | Path, output_dir: str | Path, suffix: str = "_denoised", kind: str | None = None, keep_extension: bool = False,
    dicom_as_nifti: bool = True,
) -> Path:
    """Where the result for ``source`` goes: NIfTI stays NIfTI, 2D images become PNG, DICOM becomes NIfTI.

    Args:
        source: the input; a relative path (e.g. :attr:`ScanSource.relative`) keeps its folders below ``output_dir``,
            an absolute one gives its name alone.
        output_dir: the output folder.
        suffix: added to the name. Defaults to ``"_denoised"``.
        kind: the input's kind (:func:`image_kind`). Defaults to the kind of ``source``.
        keep_extension: keep the input's whole name, extension included, before ``suffix`` (``x.nii_denoised.nii.gz``),
            which tells apart inputs that differ only in their extension. Defaults to False.
        dicom_as_nifti: a DICOM input's result is a NIfTI file; False: a folder for a new DICOM series. Defaults to True.
    """
    source = Path(source)
    kind = kind or image_kind(source)
    name = source.name
    stem = name if keep_extension else name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else Path(name).stem
    extension = ".png" if kind == "image" else "" if kind == "dicom" and not dicom_as_nifti else ".nii.gz"
    folders = Path() if source.is_absolute() else source.parent
    return Path(output_dir) / folders / f"{stem}{suffix}{extension}"


def save_like(array: np.ndarray, reference: LoadedImage, out_path: str | Path, overwrite: bool = False) -> Path:
    """Write ``array`` like ``reference``: same affine/header for NIfTI (its ``descrip`` saying it was denoised and by
    which version), same bit depth for 2D images.

    A DICOM input written to a path without a NIfTI suffix becomes a new DICOM series in that folder
    (:func:`~monai_nad.data.dicom_series.write_dicom_series`: the source's headers and geometry, new UIDs, a
    description saying it was denoised and by which version).

    Args:
        array: the result, same shape as ``reference.array``.
        reference: the loaded input.
        out_path: destination (``.nii``/``.nii.gz``, ``.png``, or a folder for a DICOM series).
        overwrite: replace an existing file. Defaults to False.

    Returns:
        the written path.

    Raises:
        ValueError: shape mismatch, or ``out_path`` is the input itself.
        FileExistsError: ``out_path`` exists and ``overwrite`` is False.
    """
    out_path = Path(out_path)
    if out_path.resolve() == reference.path.resolve():
        raise ValueError(f"refusing to write over the input {reference.path}.")
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"{out_path} already exists; choose another output folder or use --overwrite (overwrite=True) to replace it.")
    array = np.asarray(array, dtype=np.float32)
    if array.shape != reference.array.shape:
        raise ValueError(f"result shape {array.shape} differs from the input {reference.path} shape {reference.array.shape}.")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if reference.kind == "dicom" and _suffix(out_path) not in NIFTI_SUFFIXES:
        with _atomic_folder(out_path) as partial:
            write_dicom_series(array, reference.meta["files"], partial, _provenance())
        return out_path
    if _suffix(out_path) in NIFTI_SUFFIXES:
        header = None
        if reference.kind == "nifti":
            source = nib.load(str(reference.path))
            header = source.header.copy()
            array = _as_stored_dtype(array, header)
            header.set_data_dtype(array.dtype)
            header["scl_slope"], header["scl_inter"] = np.nan, np.nan  # the data are written unscaled
        image = nib.Nifti1Image(array, reference.affine, header=header)
        image.header["descrip"] = _provenance(image.header["descrip"].item().decode("latin-1", "replace"), 80)
        if header is not None:
            image.set_qform(*source.get_qform(coded=True))
            image.set_sform(*source.get_sform(coded=True))
        with _atomic(out_path) as partial:
            nib.save(image, str(partial))
        return out_path
    if array.ndim != 2:
        raise ValueError(f"cannot write a {array.ndim}D result as {out_path.suffix}; use .nii.gz.")
    info = np.iinfo(reference.dtype) if np.issubdtype(reference.dtype, np.integer) else np.iinfo(np.uint8)
    pixel = np.uint16 if info.max > 255 else np.uint8
    values = np.clip(np.rint(array), 0, np.iinfo(pixel).max).astype(pixel)
    with _atomic(out_path) as partial:
        Image.fromarray(values).save(str(partial), format="PNG")
    return out_path


def _provenance(source: str = "", limit: int | None = None) -> str:
    """What a result says of its making: ``"denoised (monai_nad <version>)"``, after the source's own description
    (a NIfTI header's ``descrip``), cut to ``limit`` characters keeping the provenance whole where it fits."""
    own = f"denoised (monai_nad {__version__})"
    if limit is None:
        return own
    return f"{source.strip()[: max(0, limit - len(own) - 1)]} {own}".strip()[:limit]


def _as_stored_dtype(array: np.ndarray, header: nib.Nifti1Header) -> np.ndarray:
    """``array`` in the input's integer data type when the input stored unscaled integers and the rounded result fits.

    Otherwise float32 (an input with a scaling slope, a float input, or a result outside the integer range).
    """
    dtype = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    if not np.issubdtype(dtype, np.integer) or slope not in (None, 1.0) or inter not in (None, 0.0):
        return array
    rounded = np.rint(array)
    info = np.iinfo(dtype)
    if rounded.size and (rounded.min() < info.min or rounded.max() > info.max):
        return array
    return rounded.astype(dtype)


@contextlib.contextmanager
def _atomic_folder(out_path: Path) -> Iterator[Path]:
    """Like :func:`_atomic` for a folder of files: written beside ``out_path``, moved into place when complete (an
    older folder there is replaced only then)."""
    partial = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".partial", dir=out_path.parent))
    partial.rmdir()  # the writer creates it
    old = out_path.with_name(f".{out_path.name}.old")
    try:
        yield partial
        mode = 0o666 & ~_umask()
        for file in partial.iterdir():
            os.chmod(file, mode)
        os.chmod(partial, 0o777 & ~_umask())
        if out_path.exists():
            os.replace(out_path, old)
        os.replace(partial, out_path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _umask() -> int:
    """The process's file-creation mask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic(out_path: Path) -> Iterator[Path]:
    """Write to a temporary file beside ``out_path`` and rename it into place only when the write succeeded.

    An interrupted or failed write leaves ``out_path`` as it was (an older result survives a failed overwrite) and no
    partial file behind.
    """
    name = out_path.name
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else out_path.suffix
    handle, temporary = tempfile.mkstemp(prefix=f".{name[: len(name) - len(suffix)]}.", suffix=f".partial{suffix}", dir=out_path.parent)
    os.close(handle)
    partial = Path(temporary)
    try:
        yield partial
        os.chmod(partial, 0o666 & ~_umask())  # mkstemp made it private; a result gets the permissions of any new file
        os.replace(partial, out_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
