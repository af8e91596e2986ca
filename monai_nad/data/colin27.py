"""Colin27: a real single-subject T1 scan (with skull, scalp and air) for the real-anatomy benchmark.

Colin27 is the average of 27 T1 scans of one person, shipped by
Debian's ``mricron-data`` package as ``/usr/share/mricron/templates/ch2.nii.gz`` (181x217x181, 1 mm,
uint8; BSD-3). Intensities are divided by the volume's 99.5th percentile and clipped to ``[0, 1]``; axial
slices (last array axis) split into train z in [30, 80) U [100, 150), validation z in [80, 90) and test z in
[90, 100).

The file is looked for in ``$MONAI_NAD_COLIN27``, the Debian location, then the user cache
``${XDG_CACHE_HOME:-~/.cache}/monai_nad/mricron/usr/share/mricron/templates/ch2.nii.gz``. Without root,
fill the cache with::

    python -m monai_nad.data.colin27 --download

Slices are kept in array order, like :mod:`monai_nad.data.mni`: ``image[0, i, j] = volume[i, j, z]``,
shape ``(1, 181, 217)``.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from monai_nad.data.mni import MNI_SHIFTS, shift_contrast

__all__ = [
    "COLIN27_ENV",
    "COLIN27_SYSTEM_PATH",
    "COLIN27_SPLITS",
    "COLIN27_DOWNLOAD_COMMAND",
    "colin27_cache_dir",
    "colin27_candidates",
    "colin27_path",
    "load_colin27",
    "colin27_slices",
    "download_colin27",
    "main",
]

#: Environment variable naming the Colin27 file explicitly.
COLIN27_ENV = "MONAI_NAD_COLIN27"

#: Where Debian's ``mricron-data`` package installs the file.
COLIN27_SYSTEM_PATH = Path("/usr/share/mricron/templates/ch2.nii.gz")

#: The one command that fills the user cache.
COLIN27_DOWNLOAD_COMMAND = "python -m monai_nad.data.colin27 --download"

_PACKAGE = "mricron-data"
_RELATIVE = Path("usr/share/mricron/templates/ch2.nii.gz")

#: Axial slice indices of each split.
COLIN27_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(30, 80)) + tuple(range(100, 150)),
    "validation": tuple(range(80, 90)),
    "test": tuple(range(90, 100)),
}


def colin27_cache_dir() -> Path:
    """The folder the ``mricron-data`` package is unpacked into: ``${XDG_CACHE_HOME:-~/.cache}/monai_nad/mricron``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monai_nad" / "mricron"


def colin27_candidates() -> list[Path]:
    """The places :func:`colin27_path` looks, in order: ``$MONAI_NAD_COLIN27`` (if set), the Debian path, the cache."""
    places = []
    env = os.environ.get(COLIN27_ENV)
    if env:
        places.append(Path(env).expanduser())
    places += [COLIN27_SYSTEM_PATH, colin27_cache_dir() / _RELATIVE]
    return places


def colin27_path() -> Path:
    """Path of the Colin27 volume ``ch2.nii.gz``.

    Returns:
        the first existing file of :func:`colin27_candidates`.

    Raises:
        FileNotFoundError: none exists; the message names every place looked and the download command.
    """
    places = colin27_candidates()
    for path in places:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in places)
    raise FileNotFoundError(f"Colin27 (ch2.nii.gz) not found; looked in: {looked}. Fill the cache with: {COLIN27_DOWNLOAD_COMMAND}")


@functools.lru_cache(maxsize=1)
def _colin27(path: str) -> np.ndarray:
    volume = np.asarray(nib.load(path).get_fdata(dtype=np.float32), dtype=np.float32)
    scale = np.float32(np.percentile(volume, 99.5))
    if not scale > 0:
        raise ValueError(f"the Colin27 volume {path} has a non-positive 99.5th percentile ({scale}).")
    volume = np.clip(volume / scale, 0.0, 1.0).astype(np.float32)
    volume.setflags(write=False)
    return volume


def load_colin27() -> np.ndarray:
    """The clean Colin27 volume, divided by its 99.5th percentile and clipped to ``[0, 1]``.

    Returns:
        a read-only float32 array of shape ``(181, 217, 181)`` (cached per file; copy it before changing it).

    Raises:
        FileNotFoundError: the file is missing (see :func:`colin27_path`).
    """
    return _colin27(str(colin27_path()))


load_colin27.cache_clear = _colin27.cache_clear  # type: ignore[attr-defined]


def colin27_slices(split: str, shift: str | None = None) -> list[dict]:
    """Clean axial slices of one split, laid out like :func:`~monai_nad.data.mni_slices`.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        shift: optional contrast shift (``"dim"`` or ``"inverted"``, see :func:`~monai_nad.data.shift_contrast`);
            only meant for evaluation.

    Returns:
        one dict per slice: ``{"image": (1, 181, 217) float32, "id": "colin27_<split>[_<shift>]_z<z>", "z": z}``.

    Raises:
        ValueError: unknown split or shift.
        FileNotFoundError: the file is missing.
    """
    if split not in COLIN27_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(COLIN27_SPLITS)}.")
    if shift is not None and shift not in MNI_SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose None or one of {MNI_SHIFTS}.")
    volume = load_colin27()
    tag = f"colin27_{split}" + (f"_{shift}" if shift else "")
    return [{"image": shift_contrast(volume[None, :, :, z], shift), "id": f"{tag}_z{z:03d}", "z": z} for z in COLIN27_SPLITS[split]]


def download_colin27(cache_dir: str | Path | None = None) -> Path:
    """Fetch Debian's ``mricron-data`` package with ``apt-get download`` (no root) and unpack it into the cache.

    Does nothing if the cached file already exists.

    Args:
        cache_dir: where to unpack. Defaults to :func:`colin27_cache_dir`.

    Returns:
        the path of ``ch2.nii.gz`` in the cache.

    Raises:
        RuntimeError: ``apt-get`` or ``dpkg-deb`` is missing or fails, or the package lacks the file.
    """
    root = Path(cache_dir) if cache_dir is not None else colin27_cache_dir()
    target = root / _RELATIVE
    if target.is_file():
        return target
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: fetching Colin27 needs a Debian/Ubuntu system (or set ${COLIN27_ENV} to a ch2.nii.gz).")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["apt-get", "download", _PACKAGE], cwd=tmp, capture_output=True, text=True)
        debs = sorted(Path(tmp).glob(f"{_PACKAGE}_*.deb"))
        if run.returncode != 0 or not debs:
            last = (run.stderr or run.stdout).strip().splitlines()
            hint = last[-1] if last else f"exit code {run.returncode}"
            raise RuntimeError(f"apt-get download {_PACKAGE} failed ({hint}); try `apt-get update` or set ${COLIN27_ENV}.")
        root.mkdir(parents=True, exist_ok=True)
        unpack = subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], capture_output=True, text=True)
        if unpack.returncode != 0:
            last = (unpack.stderr or unpack.stdout).strip().splitlines()
            raise RuntimeError(f"dpkg-deb -x {debs[-1].name} failed ({last[-1] if last else unpack.returncode}).")
    if not target.is_file():
        raise RuntimeError(f"the {_PACKAGE} package was unpacked into {root} but has no {_RELATIVE}.")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m monai_nad.data.colin27 [--download]`` prints where Colin27 is (fetching it first)."""
    parser = argparse.ArgumentParser(prog="python -m monai_nad.data.colin27", description="Locate (or fetch) the Colin27 T1 volume.")
    parser.add_argument("--download", action="store_true", help="fetch Debian's mricron-data with apt-get download into the user cache")
    args = parser.parse_args(argv)
    try:
        if args.download:
            try:
                path = colin27_path()
            except FileNotFoundError:
                path = download_colin27()
        else:
            path = colin27_path()
    except (FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
