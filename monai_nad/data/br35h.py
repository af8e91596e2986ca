"""Br35H (Kaggle "Br35H :: Brain Tumor Detection 2020"): the dataset of the original Neural PDE project.

The data cannot be downloaded here; these loaders work on any folder laid out like the Kaggle release
(``yes/`` and ``no/`` subfolders of JPEG/PNG slices of varying sizes, RGB or grey). Protocol of
``shared/BENCHMARK.md`` section 3: greyscale, resized to 128x128, scaled to [0, 1], stratified 70/15/15
split with seed 42.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import Compose, EnsureChannelFirstd, EnsureTyped, LoadImaged, MapTransform, Resized, ScaleIntensityRanged

__all__ = ["BR35H_CLASSES", "br35h_split", "br35h_transforms", "ToGreyscaled"]

#: Class folders and their labels.
BR35H_CLASSES = {"no": 0, "yes": 1}
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


class ToGreyscaled(MapTransform):
    """Convert channel-first RGB(A) images to one luminance channel (0.299 R + 0.587 G + 0.114 B).

    Single-channel images are returned unchanged; alpha is ignored.

    Args:
        keys: keys of the images.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if image.shape[0] in (3, 4):
                weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).reshape(3, *([1] * (image.ndim - 1)))
                d[key] = (torch.as_tensor(image[:3], dtype=torch.float32) * weights).sum(0, keepdim=True)
                if hasattr(image, "meta"):
                    d[key] = type(image)(d[key], meta=image.meta)
        return d


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
