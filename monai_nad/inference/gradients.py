"""Recognise a 4D NIfTI as a diffusion series: its b-values and gradient directions from ``.bval``/``.bvec`` files.

Where the files are looked for (the first pair found is taken):

1. the files named by the user (``--bvals``/``--bvecs``);
2. beside the image, under the image's name: ``dwi.nii.gz`` -> ``dwi.bval`` and ``dwi.bvec`` (dcm2niix, FSL's tools and
   BIDS all write this), or ``dwi.bvals``/``dwi.bvecs``;
3. FSL's classic folder layout: ``bvals`` and ``bvecs`` beside the image;
4. BIDS inheritance: in the image's folder and each folder above it up to the dataset's root (the folder holding
   ``dataset_description.json``), a ``*dwi.bval``/``*dwi.bvec`` pair whose entities (``key-value`` parts) are all among
   the image's, e.g. ``task-x_dwi.bval`` or ``dwi.bval`` at the root for ``sub-01_task-x_dwi.nii.gz``.

Both files are FSL's text format: the b-values one row (or column) of ``V`` numbers, the directions three rows of ``V``
(or ``V`` rows of three).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DiffusionGradients", "read_bvals", "read_bvecs", "find_gradient_files", "diffusion_gradients"]

#: b-values closer than this (s/mm^2) are one shell; below it, b = 0.
SHELL_TOLERANCE = 50.0


@dataclass(frozen=True)
class DiffusionGradients:
    """The gradient table of a diffusion series.

    Attributes:
        bvals: ``(V,)`` b-values (s/mm^2).
        bvecs: ``(V, 3)`` gradient directions.
        bval_path, bvec_path: the files they were read from.
        found: how they were found: ``"given"``, ``"beside"`` (under the image's name), ``"fsl"`` (``bvals``/``bvecs``)
            or ``"bids"`` (inherited from a folder above).
    """

    bvals: np.ndarray
    bvecs: np.ndarray
    bval_path: Path
    bvec_path: Path
    found: str

    @property
    def shells(self) -> dict[int, int]:
        """Volumes per shell: ``{b (rounded to 50; 0 for b < 50): count}``, b ascending."""
        rounded = np.where(self.bvals < SHELL_TOLERANCE, 0, np.round(self.bvals / SHELL_TOLERANCE) * SHELL_TOLERANCE).astype(int)
        values, counts = np.unique(rounded, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}

    def summary(self) -> str:
        """One line, e.g. ``"diffusion series: 66 volumes, 6 at b=0, 30 at b=1000, 30 at b=2000 (dwi.bval, dwi.bvec)"``."""
        shells = ", ".join(f"{c} at b={b}" for b, c in self.shells.items())
        return f"diffusion series: {len(self.bvals)} volumes, {shells} ({self.bval_path.name}, {self.bvec_path.name})"

    def as_dict(self) -> dict:
        """What a report records: the files, how they were found, the volumes per shell."""
        return {"bvals": str(self.bval_path), "bvecs": str(self.bvec_path), "found": self.found, "volumes": int(len(self.bvals)),
                "shells": {str(b): c for b, c in self.shells.items()}}


def read_bvals(path: str | Path) -> np.ndarray:
    """The b-values of an FSL ``.bval`` file (one row or one column), ``(V,)`` float64.

    Raises:
        ValueError: not numbers, not one row or column, or negative.
    """
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: not a b-value file ({err})") from None
    if min(values.shape) != 1 or values.size == 0:
        raise ValueError(f"{path}: expected one row (or column) of b-values, got {values.shape[0]} x {values.shape[1]}.")
    values = values.reshape(-1)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: b-values must be finite and >= 0.")
    return values


def read_bvecs(path: str | Path) -> np.ndarray:
    """The gradient directions of an FSL ``.bvec`` file (three rows, or ``V`` rows of three), ``(V, 3)`` float64.

    A direction may be all NaN (some tools, and DIPY's example data, write that for b = 0 volumes):
    :func:`diffusion_gradients` accepts it on a b = 0 volume only, as the zero vector.

    Raises:
        ValueError: not numbers, neither three rows nor three columns, or partly NaN directions.
    """
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: not a gradient-direction file ({err})") from None
    if values.shape[0] == 3:
        values = values.T
    elif values.shape[1] != 3:
        raise ValueError(f"{path}: expected three rows (or three columns) of directions, got {values.shape[0]} x {values.shape[1]}.")
    finite = np.isfinite(values)
    if not np.all(finite.all(axis=1) | (~finite).all(axis=1)):
        raise ValueError(f"{path}: directions must be finite (a b = 0 volume's may be all NaN).")
    return np.ascontiguousarray(values)


def _stem(path: Path) -> str:
    name = path.name
    for ending in (".nii.gz", ".nii"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return path.stem


def _entities(stem: str) -> tuple[set[str], str]:
    """A BIDS name's ``key-value`` entities and its suffix (the last ``_`` part)."""
    parts = stem.split("_")
    return {p for p in parts[:-1] if "-" in p}, parts[-1]


def find_gradient_files(image: str | Path) -> tuple[Path, Path, str] | None:
    """The ``.bval``/``.bvec`` pair of a NIfTI file by the rules of this module's description (2-4), or None.

    Returns:
        ``(bval, bvec, found)`` with ``found`` one of ``"beside"``, ``"fsl"``, ``"bids"``.
    """
    image = Path(image)
    stem, folder = _stem(image), image.parent
    for bval, bvec in ((f"{stem}.bval", f"{stem}.bvec"), (f"{stem}.bvals", f"{stem}.bvecs")):
        if (folder / bval).is_file() and (folder / bvec).is_file():
            return folder / bval, folder / bvec, "beside"
    if (folder / "bvals").is_file() and (folder / "bvecs").is_file():
        return folder / "bvals", folder / "bvecs", "fsl"
    entities, suffix = _entities(stem)
    if suffix != "dwi":
        return None
    for level in (folder, *folder.parents):
        matches = []
        for bval in sorted(level.glob("*dwi.bval")):
            own, own_suffix = _entities(bval.name[: -len(".bval")])
            bvec = bval.with_suffix(".bvec")
            if own_suffix == "dwi" and own <= entities and bvec.is_file():
                matches.append((len(own), bval, bvec))
        if matches:
            _, bval, bvec = max(matches, key=lambda m: m[0])  # the most specific
            return bval, bvec, "bids"
        if (level / "dataset_description.json").is_file():
            break
    return None


def diffusion_gradients(image: str | Path, volumes: int | None = None, bvals: str | Path | None = None,
                        bvecs: str | Path | None = None) -> DiffusionGradients | None:
    """The gradient table of ``image`` if it is a diffusion series: from ``bvals``/``bvecs`` when given, else found
    beside it (:func:`find_gradient_files`); None when there are none.

    Args:
        image: the NIfTI file.
        volumes: the series' number of volumes ``V`` (checked against the files), or None.
        bvals, bvecs: files named by the user (both or neither).

    Raises:
        ValueError: only one of ``bvals``/``bvecs``; files that cannot be read; counts that disagree with each other or
            with ``volumes``.
    """
    if (bvals is None) != (bvecs is None):
        raise ValueError("--bvals and --bvecs go together: name both files, or neither.")
    if bvals is not None:
        found: tuple[Path, Path, str] | None = (Path(bvals), Path(bvecs), "given")  # type: ignore[arg-type]
    else:
        found = find_gradient_files(image)
    if found is None:
        return None
    bval_path, bvec_path, how = found
    for path in (bval_path, bvec_path):
        if not path.is_file():
            raise ValueError(f"{path}: no such file.")
    values, directions = read_bvals(bval_path), read_bvecs(bvec_path)
    if len(values) != len(directions):
        raise ValueError(f"{bval_path.name} has {len(values)} b-values but {bvec_path.name} {len(directions)} directions.")
    if volumes is not None and len(values) != volumes:
        raise ValueError(f"{Path(image).name} has {volumes} volumes but {bval_path.name} {len(values)} b-values.")
    undefined = ~np.isfinite(directions).all(axis=1)
    if np.any(undefined & (values >= SHELL_TOLERANCE)):
        raise ValueError(f"{bvec_path.name}: a diffusion-weighted volume (b >= {SHELL_TOLERANCE:g}) has no finite direction.")
    directions[undefined] = 0.0  # b = 0: no direction
    return DiffusionGradients(values, directions, bval_path, bvec_path, how)
