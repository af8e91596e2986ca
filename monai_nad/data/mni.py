"""MNI-Rician: the benchmark built from the MNI152 T1 template that ships inside nilearn (no download).

The ICBM152 2009a symmetric T1 template (1 mm, 197x233x189),
intensities divided by 255, axial slices (last array axis) split into train z in [20, 80) U [100, 150),
validation z in [80, 90) and test z in [90, 100); Rician noise, blind levels for training and a fixed
seed for evaluation. Two shifted versions of the clean slices (``dim`` and ``inverted``) test robustness to contrast.

Slices are kept in array order: ``image[0, i, j] = template[i, j, z]`` (first axis left-right, second
posterior-anterior), shape ``(1, 197, 233)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.data import Dataset
from torch.utils.data import ConcatDataset
from monai.transforms import Compose, MapTransform, Transform

from monai_nad._optional import require
from monai_nad.transforms import DeterministicNoisyPaird, RandNoisyPaird

__all__ = [
    "MNI_TEMPLATE_NAME",
    "MNI_SPLITS",
    "MNI_SHIFTS",
    "mni_template_path",
    "load_mni_template",
    "shift_contrast",
    "mni_slices",
    "mni_eval_dataset",
    "mni_eval_arrays",
    "pair_arrays",
    "mni_rician_eval_dataset",
    "mni_rician_train_dataset",
]

MNI_TEMPLATE_NAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"

#: Axial slice indices of each split.
MNI_SPLITS: dict[str, tuple[int, ...]] = {
    "train": tuple(range(20, 80)) + tuple(range(100, 150)),
    "validation": tuple(range(80, 90)),
    "test": tuple(range(90, 100)),
}

#: The contrast shifts of the clean test slices (:func:`shift_contrast`).
MNI_SHIFTS = ("dim", "inverted")


def mni_template_path() -> Path:
    """Path of the MNI152 T1 template inside the installed nilearn package.

    Raises:
        FileNotFoundError: nilearn is installed without the template (the path is named).
        monai.utils.OptionalImportError: nilearn is not installed (``pip install "monai_nad[experiments]"``).
    """
    nilearn = require("nilearn", "the MNI templates: the embedded sample and the training data")
    path = Path(nilearn.__file__).parent / "datasets" / "data" / MNI_TEMPLATE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"the MNI152 template is missing from the installed nilearn package: expected {path}.")
    return path


@functools.lru_cache(maxsize=1)
def _template() -> np.ndarray:
    volume = np.asarray(nib.load(str(mni_template_path())).get_fdata(), dtype=np.float32) / np.float32(255.0)
    volume.setflags(write=False)
    return volume


def load_mni_template() -> np.ndarray:
    """The clean MNI152 T1 template, intensities divided by 255 (so in ``[0, 1]``).

    Returns:
        a read-only float32 array of shape ``(197, 233, 189)`` (cached; copy it before changing it).
    """
    return _template()


def shift_contrast(clean: np.ndarray, shift: str | None) -> np.ndarray:
    """Apply a contrast shift (:data:`MNI_SHIFTS`) to clean intensities.

    Args:
        clean: clean image in ``[0, 1]``.
        shift: ``None`` (unchanged), ``"dim"`` (``0.3 * clean``) or ``"inverted"`` (``0.9 - 0.8 * clean`` where
            ``clean > 0.02``, 0 elsewhere: a synthetic T2-like contrast).

    Returns:
        a new float32 array.

    Raises:
        ValueError: unknown shift.
    """
    clean = np.asarray(clean, dtype=np.float32)
    if shift is None:
        return clean.copy()
    if shift == "dim":
        return clean * np.float32(0.3)
    if shift == "inverted":
        return np.where(clean > 0.02, np.float32(0.9) - np.float32(0.8) * clean, np.float32(0.0)).astype(np.float32)
    raise ValueError(f"unknown shift {shift!r}; choose None or one of {MNI_SHIFTS}.")


def mni_slices(split: str, shift: str | None = None) -> list[dict]:
    """Clean axial slices of one split.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        shift: optional contrast shift (see :func:`shift_contrast`); only meant for evaluation.

    Returns:
        one dict per slice: ``{"image": (1, 197, 233) float32, "id": "mni_<split>[_<shift>]_z<z>", "z": z}``.

    Raises:
        ValueError: unknown split or shift.
    """
    if split not in MNI_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(MNI_SPLITS)}.")
    volume = load_mni_template()
    tag = f"mni_{split}" + (f"_{shift}" if shift else "")
    return [{"image": shift_contrast(volume[None, :, :, z], shift), "id": f"{tag}_z{z:03d}", "z": z} for z in MNI_SPLITS[split]]


def mni_eval_dataset(
    split: str = "test",
    level: float | Sequence[float] = 0.1,
    seed: int = 0,
    shift: str | None = None,
    noise: str = "rician",
    noise_kwargs: dict | None = None,
) -> Dataset | ConcatDataset:
    """An evaluation set: fixed-seed noise, identical for every method, run and worker.

    Args:
        split: which slab. Defaults to ``"test"``.
        level: noise level (for ``"rician"``/``"gaussian"`` the standard deviation as a fraction of the maximum
            intensity 1, e.g. ``25 / 255``), or several levels (the dataset then holds every slice at every
            level, level-major). Defaults to 0.1.
        seed: evaluation seed. Defaults to 0.
        shift: optional contrast shift of the clean slices (:func:`shift_contrast`).
        noise: a noise model of :data:`~monai_nad.transforms.NOISE_MODELS`. Defaults to ``"rician"``.
        noise_kwargs: extra arguments of the noise model, e.g. ``{"correlation_length": 1.2}``.

    Returns:
        a MONAI dataset of ``{"image": noisy (1, H, W), "label": clean (1, H, W), "id", "z", "noise_model", ...}``,
        with ``"noise_std"`` (the level for the noise models whose level is a std, NaN for the others)
        (:data:`~monai_nad.transforms.NOISE_STD_MODELS`).
    """
    levels = [float(level)] if isinstance(level, (int, float)) else [float(v) for v in level]
    parts = [
        Dataset(mni_slices(split, shift), DeterministicNoisyPaird("image", level=lv, seed=seed, noise=noise, noise_kwargs=noise_kwargs))
        for lv in levels
    ]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def mni_eval_arrays(
    split: str = "test",
    level: float = 0.1,
    seed: int = 0,
    shift: str | None = None,
    noise: str = "rician",
    limit: int | None = None,
    noise_kwargs: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The slices of :func:`mni_eval_dataset` at one level as NumPy stacks, for benchmarks of 2D methods.

    Args:
        split, level, seed, shift, noise, noise_kwargs: as :func:`mni_eval_dataset` (one level).
        limit: keep only the first ``limit`` slices.

    Returns:
        ``(noisy, clean)``, each ``(N, H, W)`` float32.
    """
    ds = mni_eval_dataset(split, float(level), seed, shift, noise, noise_kwargs)
    return pair_arrays([ds[i] for i in range(len(ds) if limit is None else min(limit, len(ds)))])


def pair_arrays(items: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` stacks ``(N, H, W)`` of evaluation pairs ``{"image": (1, H, W), "label": (1, H, W)}``."""
    noisy = np.stack([np.asarray(it["image"], dtype=np.float32)[0] for it in items])
    clean = np.stack([np.asarray(it["label"], dtype=np.float32)[0] for it in items])
    return noisy, clean


def mni_rician_eval_dataset(
    split: str = "test", noise_std: float | Sequence[float] = 0.1, seed: int = 0, shift: str | None = None
) -> Dataset | ConcatDataset:
    """The MNI-Rician evaluation set: :func:`mni_eval_dataset` with Rician noise of std ``noise_std`` (one value, or
    several: every slice at every one, in that order)."""
    return mni_eval_dataset(split, noise_std, seed, shift, noise="rician")


def mni_rician_train_dataset(
    noise_std: float | Sequence[float] = (0.05, 0.20),
    transforms: Sequence[Transform | MapTransform] | None = None,
    split: str = "train",
) -> Dataset:
    """The training set: blind Rician noise redrawn at every read.

    Args:
        noise_std: the Rician noise std: a ``(low, high)`` range drawn from uniformly per item, or one value.
            Defaults to ``(0.05, 0.20)``.
        transforms: dictionary transforms applied to the clean ``"image"`` before the noise (cropping,
            flips, intensity and contrast augmentation).
        split: which slab. Defaults to ``"train"``.

    Returns:
        a MONAI dataset of ``{"image": noisy, "label": clean, "noise_std", ...}``; call
        ``dataset.transform.set_random_state(seed)`` for a reproducible stream.
    """
    chain = Compose(list(transforms or []) + [RandNoisyPaird("image", level=noise_std, noise="rician")])
    return Dataset(mni_slices(split), chain)
