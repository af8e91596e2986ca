"""Br35H (Kaggle "Br35H :: Brain Tumor Detection 2020"): the dataset of the original Neural PDE project.

The data cannot be downloaded here; these loaders work on any folder laid out like the Kaggle release
(``yes/`` and ``no/`` subfolders of JPEG/PNG slices of varying sizes, RGB or grey). The protocol: greyscale,
resized to 128x128, scaled to [0, 1], stratified 70/15/15 split with seed 42.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, Dataset
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    RandFlipd,
    RandRotate90d,
    RandSpatialCropd,
    Resized,
    ScaleIntensityRanged,
    SelectItemsd,
)

from monai_nad.transforms.intensity import ToGreyscaled
from monai_nad.transforms.noise import rician_noise
from monai_nad.transforms.randomisation import RandMagnitudeNoisePaird

__all__ = [
    "BR35H_CLASSES",
    "BR35H_LEVELS",
    "br35h_split",
    "br35h_transforms",
    "br35h_images",
    "br35h_eval_arrays",
    "br35h_training_dataset",
    "br35h_validation_dataset",
]

#: Class folders and their labels.
BR35H_CLASSES = {"no": 0, "yes": 1}
#: Evaluation noise levels (Rician ``s``, fraction of the maximum intensity), as on the MNI protocol.
BR35H_LEVELS = (0.05, 0.10, 0.15)
_SUFFIXES = (".jpg", ".jpeg", ".png")


def br35h_split(
    root: str | Path, seed: int = 42, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[dict]]:
    """Stratified, deterministic train/validation/test split of a Br35H-like folder.

    Each class's files (``.jpg``, ``.jpeg``, ``.png``, any case) are sorted, shuffled with
    ``numpy.random.default_rng(seed)`` and cut: ``round(n * fractions[0])`` for training,
    ``round(n * fractions[1])`` for validation, the rest for testing.

    Args:
        root: folder with ``yes/`` and ``no/`` subfolders.
        seed: shuffling seed. Defaults to 42.
        fractions: train, validation and test fractions, summing to 1. Defaults to ``(0.7, 0.15, 0.15)``.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}`` of
        ``{"image": path, "label_class": 0 | 1, "id": path relative to root}``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: a class folder is missing or holds no images; invalid ``fractions``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Br35H folder not found: {root}")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)!r}.")
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for name, label in BR35H_CLASSES.items():
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"{root} is not laid out like Br35H: missing the class folder {folder}")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if not files:
            raise ValueError(f"no JPEG/PNG images in {folder}")
        order = np.random.default_rng(seed).permutation(len(files))
        cut1 = min(len(files), int(round(len(files) * fractions[0])))
        cut2 = min(len(files), cut1 + int(round(len(files) * fractions[1])))
        for split, indices in (("train", order[:cut1]), ("validation", order[cut1:cut2]), ("test", order[cut2:])):
            splits[split] += [
                {"image": str(files[i]), "label_class": label, "id": files[i].relative_to(root).as_posix()} for i in indices
            ]
    return splits


def br35h_transforms(spatial_size: int = 128) -> Compose:
    """Load a Br35H item as a ``(1, spatial_size, spatial_size)`` float32 image in ``[0, 1]``.

    MONAI's ``PILReader`` returns images transposed (``W, H``); for denoising the orientation is irrelevant
    and it is kept as read.

    Args:
        spatial_size: output side. Defaults to 128.

    Returns:
        a dictionary transform chain on key ``"image"``.
    """
    return Compose(
        [
            LoadImaged("image", reader="PILReader", image_only=True),
            EnsureChannelFirstd("image"),
            ToGreyscaled("image"),
            Resized("image", (spatial_size, spatial_size), mode="area"),
            ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=0, b_max=1, clip=True),
            EnsureTyped("image", dtype=torch.float32),
        ]
    )


def br35h_images(root: str | Path, split: str, spatial_size: int = 128, limit: int | None = None) -> np.ndarray:
    """The clean images of one split, ``(N, S, S)`` float32 in ``[0, 1]`` (the order of :func:`br35h_split`).

    Args:
        root: folder with ``yes/`` and ``no/`` subfolders.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        spatial_size: image side ``S``. Defaults to 128.
        limit: keep only the first ``limit`` images.

    Raises:
        ValueError: unknown split, or a folder not laid out like Br35H (see :func:`br35h_split`).
        FileNotFoundError: ``root`` does not exist.
    """
    items = br35h_split(root)
    if split not in items:
        raise ValueError(f"split must be one of {tuple(items)}, got {split!r}.")
    load = br35h_transforms(spatial_size)
    return np.stack([np.asarray(load(dict(item))["image"][0], dtype=np.float32) for item in items[split][:limit]])


def br35h_eval_arrays(
    root: str | Path, split: str, noise_std: float, seed: int = 0, limit: int | None = None, spatial_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed Rician noisy/clean pairs of one split: the same noise for every method and every read.

    Image ``i`` at noise std ``s = noise_std`` gets ``sqrt((x + s n1)^2 + (s n2)^2)`` with ``n1, n2`` drawn from
    ``numpy.random.default_rng([seed, i, round(1e6 s)])``.

    Returns:
        ``(noisy, clean)``, both ``(N, S, S)`` float32.
    """
    clean = br35h_images(root, split, spatial_size, limit)
    noisy = np.empty_like(clean)
    for i, x in enumerate(clean):
        noisy[i] = rician_noise(x, noise_std, np.random.default_rng([int(seed), i, int(round(1e6 * noise_std))]))
    return noisy, clean


def br35h_training_dataset(
    root: str | Path,
    patch_size: int = 64,
    samples_per_image: int = 4,
    noise_std: Sequence[float] = (0.05, 0.2),
    seed: int = 0,
    spatial_size: int = 128,
) -> Dataset:
    """Training pairs from the training split, the original project's protocol: Rician ``s ~ U(noise_std)`` per patch, random crops,
    flips and 90-degree rotations; the loaded images are cached in memory.

    Args:
        root: folder with ``yes/`` and ``no/`` subfolders.
        patch_size: crop side (at most ``spatial_size``). Defaults to 64.
        samples_per_image: items per training image and epoch. Defaults to 4.
        noise_std: the ``(low, high)`` range of the uniform noise std ``s``. Defaults to the original project's ``(0.05, 0.2)``.
        seed: seed of the random stream. Defaults to 0.
        spatial_size: image side after resizing. Defaults to 128.

    Returns:
        a dataset of ``{"image": noisy (1, P, P), "label": clean (1, P, P), "noise_std": (1, P, P), "coils": 1}``,
        the items of :func:`~monai_nad.data.realistic_training_dataset`, so the same engines train on either.

    Raises:
        ValueError: ``patch_size`` larger than ``spatial_size``, or a folder not laid out like Br35H.
    """
    if not 1 <= patch_size <= spatial_size:
        raise ValueError(f"patch_size must be in [1, {spatial_size}], got {patch_size!r}.")
    items = [dict(item) for item in br35h_split(root)["train"] for _ in range(int(samples_per_image))]
    random = Compose(
        [
            RandSpatialCropd("image", (patch_size, patch_size), random_size=False),
            RandFlipd("image", prob=0.5, spatial_axis=0),
            RandFlipd("image", prob=0.5, spatial_axis=1),
            RandRotate90d("image", prob=0.5, max_k=3),
            RandMagnitudeNoisePaird("image", noise_std=tuple(noise_std), log_uniform=False, coil_prob=0.0, varying_prob=0.0),
            SelectItemsd(("image", "label", "noise_std", "coils")),
            EnsureTyped(("image", "label", "noise_std"), data_type="tensor", dtype=torch.float32, track_meta=False),
        ]
    )
    random.set_random_state(seed)
    chain = Compose([*br35h_transforms(spatial_size).transforms, *random.transforms])
    return CacheDataset(items, chain, progress=False)


def br35h_validation_dataset(
    root: str | Path, noise_stds: Sequence[float] = BR35H_LEVELS, limit: int | None = 20, seed: int = 0, spatial_size: int = 128
) -> Dataset:
    """The validation split with fixed-seed noise (:func:`br35h_eval_arrays`) at each of ``noise_stds`` as single items, for
    model selection.

    Returns:
        a dataset of ``{"image", "label", "noise_std" (filled with s), "coils": 1, "id"}`` (float32 ``(1, S, S)``).
    """
    data = []
    for level in noise_stds:
        noisy, clean = br35h_eval_arrays(root, "validation", level, seed, limit, spatial_size)
        for i, (x, y) in enumerate(zip(noisy, clean)):
            data.append({"image": torch.from_numpy(x)[None], "label": torch.from_numpy(y)[None],
                         "noise_std": torch.full((1, *x.shape), float(level)), "coils": 1, "id": f"br35h_{level:g}_{i}"})
    return Dataset(data)
