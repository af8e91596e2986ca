"""Noisy-only data: what a scanner gives when no clean reference exists, and the noise conditions of DiffDenoise.

Self-supervised training must never see a clean image. :func:`noisy_slices` corrupts each MNI (or Colin27) training slice once per
assigned noise condition (fixed seed, like one acquisition per slice) and keeps only the noisy image.

Noise conditions are named ``<family>_<level>``. The DiffDenoise paper lists, for images in ``[0, 1]``: Gaussian
sigma = 6/255; Poisson lambda = 200 and 700; Gamma alpha = beta = 100 and 500 (multiplicative, mean 1, variance
1/alpha); spatially correlated noise with sigma = 0.5 and 1.2. The paper gives no amplitude for the correlated noise,
(``gaussian_6`` is sigma = 6/255), so we read sigma as the correlation length (Gaussian kernel, pixels) and choose a standard deviation of 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from monai.data import Dataset
from torch.utils.data import ConcatDataset

from monai_nad.data.colin27 import colin27_slices
from monai_nad.data.mni import MNI_SPLITS, mni_eval_arrays, mni_eval_dataset, mni_slices, pair_arrays
from monai_nad.transforms.pairs import DeterministicNoisyPaird
from monai_nad.transforms.scanner_noise import SCANNER_NOISE_CONDITIONS, scanner_noise_slice

__all__ = [
    "NOISE_CONDITIONS",
    "DIFFDENOISE_CONDITIONS",
    "RICIAN_CONDITIONS",
    "SCANNER_PREFIX",
    "SCANNER_TRAINING_CONDITIONS",
    "scanner_condition",
    "noise_condition",
    "noisy_slices",
    "noisy_pairs",
    "mni_condition_dataset",
    "mni_condition_arrays",
    "CONDITION_VOLUMES",
    "condition_arrays",
]

#: standard deviation of the spatially correlated noise (our choice; the DiffDenoise paper names only the kernel width).
CORRELATED_STD = 0.05

#: name -> (noise model, level, extra arguments), see :data:`monai_nad.transforms.NOISE_MODELS`.
NOISE_CONDITIONS: dict[str, tuple[str, float, dict[str, Any]]] = {
    "rician_0.05": ("rician", 0.05, {}),
    "rician_0.10": ("rician", 0.10, {}),
    "rician_0.15": ("rician", 0.15, {}),
    "rician_0.20": ("rician", 0.20, {}),
    "gaussian_6": ("gaussian", 6.0 / 255.0, {}),
    "poisson_200": ("poisson", 200.0, {}),
    "poisson_700": ("poisson", 700.0, {}),
    "gamma_100": ("gamma", 100.0, {}),
    "gamma_500": ("gamma", 500.0, {}),
    "correlated_0.5": ("correlated", CORRELATED_STD, {"correlation_length": 0.5}),
    "correlated_1.2": ("correlated", CORRELATED_STD, {"correlation_length": 1.2}),
}

#: the DiffDenoise paper's noise families at the levels it lists.
DIFFDENOISE_CONDITIONS = ("gaussian_6", "poisson_200", "poisson_700", "gamma_100", "gamma_500", "correlated_0.5", "correlated_1.2")
#: MNI-Rician at the levels of the blind training range.
RICIAN_CONDITIONS = ("rician_0.05", "rician_0.10", "rician_0.15", "rician_0.20")


#: a condition ``scanner_<condition>_<s>`` is the scanner-noise simulation of BENCHMARK 1d
#: (:func:`~monai_nad.transforms.scanner_noise_slice`) of that condition at k-space noise std ``s``
SCANNER_PREFIX = "scanner_"
#: the scanner conditions of BENCHMARK 1d that DiffDenoise's bar names (k-space filtered; 8 coils, root-sum-of-squares),
#: at its two levels, for noisy-only training on simulated scanner noise
SCANNER_TRAINING_CONDITIONS = ("scanner_filtered_0.05", "scanner_filtered_0.10", "scanner_sos8_0.05", "scanner_sos8_0.10")


def scanner_condition(name: str) -> tuple[str, float]:
    """``(scanner condition, s)`` of a :data:`SCANNER_PREFIX` condition name.

    Raises:
        ValueError: a name without the prefix, an unknown scanner condition or no finite noise std >= 0 after its last ``_``.
    """
    condition, _, level = name[len(SCANNER_PREFIX):].rpartition("_") if name.startswith(SCANNER_PREFIX) else ("", "", "")
    try:
        s = float(level)
    except ValueError:
        s = float("nan")
    if condition not in SCANNER_NOISE_CONDITIONS or not 0 <= s < float("inf"):
        raise ValueError(f"a scanner condition is named {SCANNER_PREFIX}<condition>_<noise std> with a condition from "
                         f"{SCANNER_NOISE_CONDITIONS}, e.g. scanner_filtered_0.05; got {name!r}.")
    return condition, s


def noise_condition(name: str) -> tuple[str, float, dict[str, Any]]:
    """Look up a named noise condition.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in NOISE_CONDITIONS:
        raise ValueError(f"unknown noise condition {name!r}; choose one of {sorted(NOISE_CONDITIONS)}.")
    noise, level, kwargs = NOISE_CONDITIONS[name]
    return noise, level, dict(kwargs)


#: the volumes whose slabs :func:`condition_arrays` and :func:`noisy_slices` read
CONDITION_VOLUMES = ("mni", "colin27")

_CLEAN_SLICES = {"mni": mni_slices, "colin27": colin27_slices}


def _check_volumes(volumes: Sequence[str]) -> list[str]:
    volumes = list(volumes)
    if not volumes:
        raise ValueError(f"volumes must name at least one of {CONDITION_VOLUMES}.")
    unknown = [v for v in volumes if v not in CONDITION_VOLUMES]
    if unknown or len(set(volumes)) != len(volumes):
        raise ValueError(f"volumes must be distinct names from {CONDITION_VOLUMES}, got {volumes}.")
    return volumes


def noisy_slices(
    split: str = "train",
    conditions: Sequence[str] = RICIAN_CONDITIONS,
    per_slice: int = 1,
    seed: int = 0,
    limit: int | None = None,
    volumes: Sequence[str] = ("mni",),
) -> list[dict]:
    """Noisy axial slices of the MNI template and/or Colin27, without their clean references.

    The slices of the named volumes' splits are taken in order (all of the first volume's, then the next's), and the
    ``i``-th slice gets conditions ``conditions[(i * per_slice + r) % n]`` for ``r < per_slice``: with
    ``per_slice = 1`` every slice is acquired once and the conditions rotate over the slices; with
    ``per_slice = len(conditions)`` every slice appears under every condition.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        conditions: names from :data:`NOISE_CONDITIONS`, or scanner conditions (:func:`scanner_condition`, e.g.
            :data:`SCANNER_TRAINING_CONDITIONS`): the slice through the scanner simulation, divided by its noise-free
            reference's maximum as BENCHMARK 1d does, with phase and noise drawn from ``(seed, z)``.
        per_slice: noisy copies per slice (1 to ``len(conditions)``). Defaults to 1.
        seed: noise seed (each item's noise is a pure function of slice, condition and seed). Defaults to 0.
        limit: keep only the first ``limit`` slices of each volume's split.
        volumes: distinct names from :data:`CONDITION_VOLUMES`. Defaults to ``("mni",)``.

    Returns:
        ``[{"image": noisy (1, H, W) float32, "id", "z", "condition"}, ...]``; no ``"label"``. The slices of
        different volumes differ in size (MNI 197 x 233, Colin27 181 x 217).

    Raises:
        ValueError: unknown split, condition or volume, empty ``conditions`` or ``volumes``, or ``per_slice`` out of range.
        FileNotFoundError: Colin27 is named and its file is missing.
    """
    if split not in MNI_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(MNI_SPLITS)}.")
    conditions = list(conditions)
    if not conditions:
        raise ValueError("conditions must name at least one noise condition.")
    specs = {name: scanner_condition(name) if name.startswith(SCANNER_PREFIX) else noise_condition(name) for name in conditions}
    if not 1 <= per_slice <= len(conditions):
        raise ValueError(f"per_slice must be between 1 and {len(conditions)}, got {per_slice!r}.")
    clean = [item for volume in _check_volumes(volumes) for item in _CLEAN_SLICES[volume](split)[:limit]]
    items = []
    for i, item in enumerate(clean):
        for r in range(per_slice):
            name = conditions[(i * per_slice + r) % len(conditions)]
            if name.startswith(SCANNER_PREFIX):
                clean_slice = np.asarray(item["image"], dtype=np.float64)[0]
                noisy = scanner_noise_slice(clean_slice, item["z"], *specs[name], seed=seed).noisy[None]
            else:
                noise, level, kwargs = specs[name]
                noisy = DeterministicNoisyPaird("image", noise=noise, level=level, seed=seed, noise_kwargs=kwargs)(item)["image"]
            items.append({"image": np.asarray(noisy, dtype=np.float32), "id": f"{item['id']}_{name}", "z": item["z"], "condition": name})
    return items


def noisy_pairs(
    split: str = "train",
    conditions: Sequence[str] = RICIAN_CONDITIONS,
    per_slice: int = 1,
    seed: int = 0,
    limit: int | None = None,
    pair_key: str = "image_b",
    pair_seed: int | None = None,
    volumes: Sequence[str] = ("mni",),
) -> list[dict]:
    """Noisy slices acquired twice: two copies of each item of :func:`noisy_slices` under the *same* noise
    condition with independent noise (noise seeds ``seed`` and ``pair_seed``), and no clean reference.

    Training pairs of Noise2Noise type: ``E[y_b | y_a] = E[x | y_a]`` when the two noises are independent and ``y_b``'s
    has zero mean given the clean slice.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        conditions: names from :data:`NOISE_CONDITIONS`.
        per_slice: noisy pairs per slice (conditions assigned as in :func:`noisy_slices`). Defaults to 1.
        seed: noise seed of ``"image"``. Defaults to 0.
        limit: keep only the first ``limit`` slices of each volume's split.
        pair_key: the key of the second copy. Defaults to ``"image_b"``.
        pair_seed: noise seed of the second copy. Defaults to ``seed + 1``.
        volumes: distinct names from :data:`CONDITION_VOLUMES`. Defaults to ``("mni",)``.

    Returns:
        the items of :func:`noisy_slices` with the second copy under ``pair_key``.

    Raises:
        ValueError: as :func:`noisy_slices`, or ``pair_seed == seed`` (the copies would be identical).
    """
    pair_seed = seed + 1 if pair_seed is None else pair_seed
    if pair_seed == seed:
        raise ValueError(f"pair_seed must differ from seed ({seed}): the two copies would carry the same noise.")
    first = noisy_slices(split, conditions, per_slice, seed, limit, volumes)
    second = noisy_slices(split, conditions, per_slice, pair_seed, limit, volumes)
    return [{**a, pair_key: b["image"]} for a, b in zip(first, second)]


def mni_condition_dataset(split: str = "validation", conditions: Sequence[str] = RICIAN_CONDITIONS, seed: int = 0) -> Dataset | ConcatDataset:
    """Evaluation pairs (noisy ``image``, clean ``label``) of a split under each named condition, condition-major.

    Raises:
        ValueError: unknown condition or split.
    """
    parts = []
    for name in conditions:
        noise, level, kwargs = noise_condition(name)
        parts.append(mni_eval_dataset(split, level, seed, noise=noise, noise_kwargs=kwargs))
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def mni_condition_arrays(split: str, condition: str, seed: int = 0, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` stacks ``(N, H, W)`` of a split under one named condition (see :func:`mni_eval_arrays`)."""
    return condition_arrays(split, condition, "mni", seed, limit)


def condition_arrays(split: str, condition: str, volume: str = "mni", seed: int = 0, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` stacks ``(N, H, W)`` of a split of the MNI template or Colin27 under one named condition.

    The noise of each slice is a pure function of its id, the condition and ``seed`` (as in
    :func:`~monai_nad.data.mni_eval_dataset`), so every method and run sees the same noisy slices.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        condition: a name from :data:`NOISE_CONDITIONS`.
        volume: one of :data:`CONDITION_VOLUMES`. Defaults to ``"mni"``.
        seed: evaluation seed. Defaults to 0.
        limit: keep only the first ``limit`` slices.

    Raises:
        ValueError: unknown split, condition or volume.
    """
    if volume not in CONDITION_VOLUMES:
        raise ValueError(f"unknown volume {volume!r}; choose one of {CONDITION_VOLUMES}.")
    noise, level, kwargs = noise_condition(condition)
    if volume == "mni":
        return mni_eval_arrays(split, level, seed, noise=noise, limit=limit, noise_kwargs=kwargs)
    pair = DeterministicNoisyPaird("image", level=level, seed=seed, noise=noise, noise_kwargs=kwargs)
    return pair_arrays([pair(item) for item in colin27_slices(split)[:limit]])
