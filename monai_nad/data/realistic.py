"""Randomised realistic training data from the training slabs of MNI152 (T1 + GM/WM maps) and Colin27.

The real-anatomy benchmark (:mod:`monai_nad.data.real_anatomy`) allows training only on the training and validation
slabs of the MNI templates shipped in nilearn (T1, GM, WM) and of Colin27, and on what is synthesised from them.
This module turns those slabs into an endless supply of patches in which no contrast, intensity scale or SNR is special:

1. a random axial training slice and a ``P x P`` crop that (usually) contains tissue
   (:class:`~monai_nad.transforms.RandTissuePatchd`);
2. a random contrast: a tissue-map synthesis (MNI, :class:`~monai_nad.transforms.RandTissueContrastd`), a
   random intensity band remap (:class:`~monai_nad.transforms.RandIntensityBandRemapd`), an inversion, or
   the image as is;
3. gamma, global scale ``U(0.1, 1)``, bias field, blur, lower resolution, Gibbs ringing, flips and rotations
   (MONAI transforms); the clean image is clipped to ``>= 0``;
4. magnitude noise (Rician or non-central chi, constant or varying sigma, ``s`` log-uniform) with the true
   sigma map (:class:`~monai_nad.transforms.RandMagnitudeNoisePaird`).

Everything expensive (tissue maps, head masks, crop positions) is computed once per volume, so an item costs a
few milliseconds on one CPU thread. Only the training z indices of each volume are ever read.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.data import Dataset
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    EnsureTyped,
    Identity,
    OneOf,
    RandAdjustContrastd,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianSmoothd,
    RandGibbsNoised,
    RandRotate90d,
    RandScaleIntensityd,
    RandSimulateLowResolutiond,
    SelectItemsd,
)
from scipy import ndimage as ndi

from monai_nad.data.mni import mni_template_path, shift_contrast
from monai_nad.data.real_anatomy import VOLUME_SPLITS, load_volume
from monai_nad.transforms.augment import RandContrastChoiced, RandContrastInversiond
from monai_nad.transforms.intensity import ClipNonNegatived
from monai_nad.transforms.noise import rician_noise
from monai_nad.transforms.patches import RandTissueBlockd, RandTissuePatchd
from monai_nad.transforms.randomisation import RandIntensityBandRemapd, RandTissueContrastd
from monai_nad.transforms.training_noise import RoundCoilsd, WhiteEquivalentNoiseStdd, training_noise_pairs

__all__ = [
    "MNI_GM_NAME",
    "MNI_WM_NAME",
    "REALISTIC_VOLUMES",
    "REALISTIC_VALIDATION_CONTRASTS",
    "load_mni_tissue_maps",
    "head_mask",
    "training_slabs",
    "training_blocks",
    "realistic_transforms",
    "realistic_training_dataset",
    "volume_sampling_weights",
    "realistic_validation_arrays",
    "realistic_validation_dataset",
]

MNI_GM_NAME = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
MNI_WM_NAME = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"

#: Volumes the training data may come from.
REALISTIC_VOLUMES = ("mni", "colin27")

#: Contrasts of :func:`realistic_validation_arrays`.
REALISTIC_VALIDATION_CONTRASTS = ("asis", "inverted", "dim", "t2")


# fixed T2-like contrasts of the validation sets: (gm, wm, csf) intensities for MNI, and a band map of the
# Colin27 T1 intensities (skull dark, CSF bright, GM above WM, fat/scalp mid-bright)
_T2_TISSUE = (0.55, 0.35, 0.9)
_T2_KNOTS = (0.0, 0.06, 0.2, 0.42, 0.55, 0.66, 1.0)
_T2_VALUES = (0.05, 0.15, 0.9, 0.6, 0.45, 0.3, 0.6)


@functools.lru_cache(maxsize=1)
def _tissue_maps() -> tuple[np.ndarray, np.ndarray]:
    folder = mni_template_path().parent
    maps = []
    for name in (MNI_GM_NAME, MNI_WM_NAME):
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"the MNI152 tissue map is missing from the installed nilearn package: expected {path}.")
        volume = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32), dtype=np.float32) / np.float32(255.0)
        volume.setflags(write=False)
        maps.append(volume)
    return maps[0], maps[1]


def load_mni_tissue_maps() -> dict[str, np.ndarray]:
    """The MNI152 2009a grey- and white-matter probability maps shipped with nilearn, divided by 255.

    Returns:
        ``{"gm": ..., "wm": ...}``, read-only float32 arrays in ``[0, 1]`` of the template's shape
        ``(197, 233, 189)`` (cached).

    Raises:
        FileNotFoundError: a map is missing from the installed nilearn.
    """
    gm, wm = _tissue_maps()
    return {"gm": gm, "wm": wm}


def head_mask(image: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """The head (or brain) mask of 2D slices: ``image > threshold`` with the holes filled, slice by slice.

    Args:
        image: one slice ``(H, W)`` or a stack ``(N, H, W)``.
        threshold: intensity threshold (images in ``[0, 1]``). Defaults to 0.01.

    Returns:
        a boolean array of the same shape.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        return ndi.binary_fill_holes(image > threshold)
    return np.stack([ndi.binary_fill_holes(s > threshold) for s in image])


def _slab(volume: str, split: str) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[int, ...]]:
    """Clean slices ``(N, H, W)``, their tissue maps (MNI: gm, wm, csf) and z, reading only the split's z."""
    if volume not in VOLUME_SPLITS:
        raise ValueError(f"unknown volume {volume!r}; choose from {REALISTIC_VOLUMES}.")
    zs = VOLUME_SPLITS[volume][split]
    index = list(zs)
    image = np.ascontiguousarray(np.moveaxis(np.asarray(load_volume(volume)[:, :, index], dtype=np.float32), -1, 0))
    maps: dict[str, np.ndarray] = {}
    if volume == "mni":
        tissue = load_mni_tissue_maps()
        for name in ("gm", "wm"):
            maps[name] = np.ascontiguousarray(np.moveaxis(np.asarray(tissue[name][:, :, index], dtype=np.float32), -1, 0))
    return image, maps, zs


def training_slabs(volumes: Sequence[str] = REALISTIC_VOLUMES, patch_size: int = 64, min_tissue: float = 0.25) -> list[dict[str, Any]]:
    """Precompute, once, everything the patch sampler needs from the training slabs.

    Args:
        volumes: which volumes (``"mni"``, ``"colin27"``). Defaults to both.
        patch_size: the patch side ``P``. Defaults to 64.
        min_tissue: a crop "contains tissue" when at least this fraction of it is inside the head mask.
            Defaults to 0.25.

    Returns:
        one dict per training slice: ``{"volume", "z", "stack": (K, H, W) float32 channels [image, mask(, gm, wm,
        csf)], "channels": names, "corners": flat indices of the tissue-containing top-left corners}``. The
        stacks of a volume are views of one read-only array.

    Raises:
        ValueError: unknown volume, or a patch larger than a slice.
    """
    items: list[dict[str, Any]] = []
    p = int(patch_size)
    for volume in volumes:
        image, maps, zs = _slab(volume, "train")
        n, h, w = image.shape
        if p > h or p > w or p < 1:
            raise ValueError(f"patch_size {p} does not fit the {volume} slices ({h}x{w}).")
        mask = head_mask(image).astype(np.float32)
        channels = ["image", "mask"]
        parts = [image, mask]
        if maps:
            csf = np.clip(mask * (1.0 - maps["gm"] - maps["wm"]), 0.0, 1.0).astype(np.float32)
            channels += ["gm", "wm", "csf"]
            parts += [maps["gm"], maps["wm"], csf]
        stack = np.stack(parts, axis=1)  # (N, K, H, W)
        stack.setflags(write=False)
        # tissue fraction of every P x P window, from an integral image of the mask
        integral = np.pad(mask.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
        window = integral[:, p:, p:] - integral[:, :-p, p:] - integral[:, p:, :-p] + integral[:, :-p, :-p]
        for i, z in enumerate(zs):
            corners = np.flatnonzero(window[i] >= min_tissue * p * p).astype(np.int32)
            items.append({"volume": volume, "z": int(z), "stack": stack[i], "channels": tuple(channels), "corners": corners})
    return items


def training_blocks(
    volumes: Sequence[str] = REALISTIC_VOLUMES, patch_size: int = 64, depth: int = 8, min_tissue: float = 0.25
) -> list[dict[str, Any]]:
    """:func:`training_slabs` grouped into blocks of ``depth`` consecutive training slices, for volume patches.

    Args:
        volumes: which volumes. Defaults to both.
        patch_size: the in-plane patch side ``P``. Defaults to 64.
        depth: slices per block ``D``. Defaults to 8.
        min_tissue: see :func:`training_slabs`. Defaults to 0.25.

    Returns:
        one dict per block of ``D`` consecutive training z (never crossing into the validation or test slabs):
        ``{"volume", "z": first z, "stack": (D, K, H, W) view, "channels", "corners": those of the middle slice}``.

    Raises:
        ValueError: unknown volume, a patch larger than a slice, or ``depth < 1``.
    """
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}.")
    slabs = training_slabs(volumes, patch_size, min_tissue)
    blocks: list[dict[str, Any]] = []
    for volume in volumes:
        items = [item for item in slabs if item["volume"] == volume]
        whole = np.stack([item["stack"] for item in items])  # (N, K, H, W), one copy per volume; blocks are views
        whole.setflags(write=False)
        for i in range(len(items) - depth + 1):
            if items[i + depth - 1]["z"] - items[i]["z"] != depth - 1:
                continue  # the block would cross the gap between two training slabs
            middle = items[i + depth // 2]
            blocks.append(
                {"volume": volume, "z": items[i]["z"], "stack": whole[i : i + depth], "channels": middle["channels"], "corners": middle["corners"]}
            )
    if not blocks:
        raise ValueError(f"no {depth} consecutive training slices in {tuple(volumes)}.")
    return blocks


def realistic_transforms(
    patch_size: int = 64,
    noise_std: Sequence[float] = (0.005, 0.2),
    tissue_prob: float = 0.9,
    coil_prob: float = 0.3,
    varying_prob: float = 0.3,
    depth: int | None = None,
    scanner_prob: float = 0.0,
    white_gain: float | None = None,
    correlation: bool = False,
    partial_fourier_share: float = 0.0,
    simulation_margin: int = 0,
) -> Compose:
    """The randomisation chain applied to :func:`training_slabs` items (see the module docstring).

    Args:
        patch_size: patch side. Defaults to 64.
        noise_std: the ``(low, high)`` range of the per-channel noise std ``s`` (log-uniform). Defaults to ``(0.005, 0.2)``.
        tissue_prob: probability of a tissue-containing crop. Defaults to 0.9.
        coil_prob: probability of multi-coil (non-central chi) noise. Defaults to 0.3.
        varying_prob: probability of a spatially varying sigma. Defaults to 0.3.
        depth: for :func:`training_blocks` items: volume patches ``(1, P, P, D)`` of ``D = depth`` slices, blurred,
            subsampled and flipped along the slice axis too (rotations stay in plane). Defaults to None (2D patches).
        scanner_prob: the share of pairs made through a simulated acquisition
            (:func:`~monai_nad.transforms.scanner_noise_pairs`: correlated,
            multi-coil and parallel-imaging noise, the label the reference through the same noise-free pipeline)
            instead of white magnitude noise added to the image. Defaults to 0.
        white_gain: tell the network the white-equivalent level of a simulated acquisition's correlated noise
            (:class:`~monai_nad.transforms.WhiteEquivalentNoiseStdd`: the std map times
            ``f = white_equivalent_factor(widths, white_gain)`` with the widths of the simulated noise's correlation as
            the estimator reads them from the air, the coil count over ``f^2``, which inference tells the network from
            the estimated widths);
            None: the per-pixel std and the effective coil count rounded to a whole number. Defaults to None.
        correlation: also write ``"correlation"``, the widths of each pair's noise correlation per spatial axis (1 for
            white noise), for a network built with ``correlation_input``. Defaults to False.
        partial_fourier_share: the share of one-coil partial-Fourier acquisitions (no taper, full extent) among the
            simulated ones (:func:`~monai_nad.transforms.scanner_noise_pairs`). Defaults to 0.
        simulation_margin: crop ``patch_size + 2 m`` (zeros beyond the slice), augment and add the noise to that,
            and keep the central ``patch_size`` (:class:`~monai_nad.transforms.RandTissuePatchd`'s ``margin``): a
            simulated acquisition then sees the patch's surroundings instead of wrapping its opposite edges into
            each other. Defaults to 0 (the patch alone).

    Returns:
        a :class:`~monai.transforms.Compose` producing ``{"image": noisy (1, P, P), "label": clean (1, P, P),
        "noise_std": (1, P, P), "coils": N}`` (and ``"correlation"``) with float32 tensors.
    """
    band = RandIntensityBandRemapd("image", prob=1.0, mask_key="mask", intensity_range=(0.0, 1.0))
    invert = RandContrastInversiond("image", prob=1.0)
    contrast = RandContrastChoiced(
        # MNI: tissue synthesis, band remap, inversion, as is
        OneOf([RandTissueContrastd("image", prob=1.0), band, invert, Identity()], weights=[0.4, 0.15, 0.15, 0.3]),
        # Colin27: band remap, inversion, as is
        OneOf(
            [
                RandIntensityBandRemapd("image", prob=1.0, mask_key="mask", intensity_range=(0.0, 1.0)),
                RandContrastInversiond("image", prob=1.0),
                Identity(),
            ],
            weights=[0.4, 0.2, 0.4],
        ),
    )
    return Compose(
        [
            RandTissuePatchd(patch_size, tissue_prob, simulation_margin) if depth is None else RandTissueBlockd(patch_size, tissue_prob, simulation_margin),
            contrast,
            RandAdjustContrastd("image", prob=0.3, gamma=(0.6, 1.6)),
            RandScaleIntensityd("image", factors=(-0.9, 0.0), prob=0.8),
            RandBiasFieldd("image", prob=0.3, degree=3, coeff_range=(-0.2, 0.2)),
            RandGaussianSmoothd("image", sigma_x=(0.3, 1.0), sigma_y=(0.3, 1.0), sigma_z=(0.3, 1.0), prob=0.15),
            RandSimulateLowResolutiond(
                "image", prob=0.15, downsample_mode="area", upsample_mode="bilinear" if depth is None else "trilinear", zoom_range=(0.4, 0.9)
            ),
            RandGibbsNoised("image", prob=0.1, alpha=(0.1, 0.5)),
            RandFlipd("image", prob=0.5, spatial_axis=0),
            RandFlipd("image", prob=0.5, spatial_axis=1),
            *([RandFlipd("image", prob=0.5, spatial_axis=2)] if depth is not None else []),
            RandRotate90d("image", prob=0.5, max_k=3),
            ClipNonNegatived("image"),
            training_noise_pairs(
                noise_std, coil_prob, varying_prob, scanner_prob, widths_key="widths" if white_gain is not None or correlation else None,
                partial_fourier_share=partial_fourier_share,
            ),
            *([RoundCoilsd("coils")] if white_gain is None else []),
            *([WhiteEquivalentNoiseStdd(white_gain, "widths", correlation_key="correlation" if correlation else None)] if white_gain is not None or correlation else []),
            *([CenterSpatialCropd(("image", "label", "noise_std"), (patch_size, patch_size) if depth is None else (patch_size, patch_size, -1))]
              if simulation_margin else []),
            SelectItemsd(("image", "label", "noise_std", "coils", *(("correlation",) if correlation else ()))),
            EnsureTyped(("image", "label", "noise_std"), data_type="tensor", dtype=torch.float32, track_meta=False),
        ]
    )


def volume_sampling_weights(volumes: Sequence[str], volume_weights: Sequence[float] | None) -> list[float]:
    """The sampling weight of each training volume (:func:`realistic_training_dataset`'s ``volume_weights``).

    Args:
        volumes: the training volumes.
        volume_weights: one weight per volume, or None (every weight 1).

    Returns:
        the weights as floats, one per volume.

    Raises:
        ValueError: not one finite positive number per volume.
    """
    weights = [1.0] * len(volumes) if volume_weights is None else [float(w) for w in volume_weights]
    if len(weights) != len(volumes) or not all(math.isfinite(w) and w > 0 for w in weights):
        raise ValueError(f"volume_weights must be one positive number per volume {tuple(volumes)}, got {volume_weights!r}.")
    return weights


def realistic_training_dataset(
    patch_size: int = 64,
    samples_per_slice: int = 32,
    seed: int = 0,
    volumes: Sequence[str] = REALISTIC_VOLUMES,
    noise_std: Sequence[float] = (0.005, 0.2),
    depth: int | None = None,
    volume_weights: Sequence[float] | None = None,
    scanner_prob: float = 0.0,
    white_gain: float | None = None,
    correlation: bool = False,
    partial_fourier_share: float = 0.0,
    simulation_margin: int = 0,
) -> Dataset:
    """Randomised realistic training patches from the training slabs (see the module docstring).

    Args:
        patch_size: patch side ``P``. Defaults to 64.
        samples_per_slice: how many items each training slice contributes per epoch (each a fresh random
            patch). Defaults to 32.
        seed: seed of the random stream (``dataset.transform.set_random_state(seed)``); data-loader workers reseed
            it as usual in MONAI. Defaults to 0.
        volumes: source volumes, ``"mni"`` and/or ``"colin27"``. Defaults to both.
        noise_std: the ``(low, high)`` range of the noise std ``s`` (log-uniform). Defaults to ``(0.005, 0.2)``.
        depth: volume patches of ``depth`` consecutive training slices (:func:`training_blocks`; each block counts
            as one "slice" for ``samples_per_slice``). Defaults to None (2D patches).
        volume_weights: one weight per entry of ``volumes``: a slice (block) of a volume of weight ``w`` contributes
            ``round(w * samples_per_slice)`` items (at least 1), e.g. ``(1, 2)`` draws twice as many Colin27 patches as
            before (a single-subject scan) beside the MNI template. Defaults to None (every volume weight 1).
        scanner_prob: the share of pairs made through a simulated scanner acquisition (see
            :func:`realistic_transforms`). Defaults to 0.
        white_gain: the white-equivalent level of correlated noise told to the network (see
            :func:`realistic_transforms`). Defaults to None.
        correlation: also give each pair its noise's correlation widths (see :func:`realistic_transforms`). Defaults
            to False.
        partial_fourier_share: the share of one-coil partial-Fourier acquisitions among the simulated ones (see
            :func:`realistic_transforms`). Defaults to 0.
        simulation_margin: the context around each patch that the augmentation and the noise simulation see (see
            :func:`realistic_transforms`). Defaults to 0.

    Returns:
        a MONAI dataset of ``{"image": noisy (1, P, P[, D]), "label": clean, "noise_std": sigma map, "coils": N}``
        (float32 tensors, an int), redrawn at every read.

    Raises:
        ValueError: unknown volume, a patch larger than a slice, or ``volume_weights`` not one positive number per volume.
        FileNotFoundError: Colin27 requested but missing (see :func:`~monai_nad.data.colin27_path`).
    """
    if samples_per_slice < 1:
        raise ValueError(f"samples_per_slice must be >= 1, got {samples_per_slice!r}.")
    weights = volume_sampling_weights(volumes, volume_weights)
    copies = {v: max(1, round(w * int(samples_per_slice))) for v, w in zip(volumes, weights)}
    slabs = training_slabs(volumes, patch_size) if depth is None else training_blocks(volumes, patch_size, depth)
    data = [item for item in slabs for _ in range(copies[item["volume"]])]
    chain = realistic_transforms(
        patch_size, noise_std, depth=depth, scanner_prob=scanner_prob, white_gain=white_gain, correlation=correlation,
        partial_fourier_share=partial_fourier_share, simulation_margin=simulation_margin,
    )
    chain.set_random_state(seed)
    return Dataset(data, chain)


def _t2_like(volume: str, clean: np.ndarray, maps: dict[str, np.ndarray]) -> np.ndarray:
    mask = head_mask(clean)
    if volume == "mni":
        csf = np.clip(mask * (1.0 - maps["gm"] - maps["wm"]), 0.0, 1.0)
        gm_i, wm_i, csf_i = _T2_TISSUE
        return (gm_i * maps["gm"] + wm_i * maps["wm"] + csf_i * csf).astype(np.float32)
    mapped = np.interp(clean, _T2_KNOTS, _T2_VALUES)
    return np.where(mask, mapped, 0.0).astype(np.float32)


def realistic_validation_arrays(
    seed: int = 0,
    noise_stds: Sequence[float] = (0.01, 0.05, 0.1, 0.15),
    volumes: Sequence[str] = REALISTIC_VOLUMES,
    contrasts: Sequence[str] = REALISTIC_VALIDATION_CONTRASTS,
) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """Fixed-seed validation sets from the validation slabs, for model selection.

    Each set is one volume in one contrast (``"asis"``; ``"inverted"`` and ``"dim"`` as in the real-anatomy benchmark,
    :func:`~monai_nad.data.shift_contrast`; ``"t2"``: a fixed T2-like contrast, tissue-map synthesis for MNI, a band
    map for Colin27) with Rician noise at one level,
    drawn from ``numpy.random.default_rng([seed, volume, contrast, level index])``.

    Args:
        seed: the validation seed. Defaults to 0.
        noise_stds: the noise std ``s`` of each set. Defaults to ``(0.01, 0.05, 0.1, 0.15)``.
        volumes: which volumes. Defaults to both.
        contrasts: which contrasts (:data:`REALISTIC_VALIDATION_CONTRASTS`). Defaults to all four.

    Returns:
        a list of ``(name, noisy (N, H, W), clean (N, H, W), sigma)`` with names like ``"colin27_t2_0.05"``.

    Raises:
        ValueError: unknown volume or contrast.
    """
    out: list[tuple[str, np.ndarray, np.ndarray, float]] = []
    for volume in volumes:
        image, maps, _ = _slab(volume, "validation")
        for contrast in contrasts:
            if contrast not in REALISTIC_VALIDATION_CONTRASTS:
                raise ValueError(f"unknown contrast {contrast!r}; choose from {REALISTIC_VALIDATION_CONTRASTS}.")
            c_index = REALISTIC_VALIDATION_CONTRASTS.index(contrast)
            if contrast == "t2":
                clean = np.stack([_t2_like(volume, image[i], {k: m[i] for k, m in maps.items()}) for i in range(len(image))])
            else:
                clean = shift_contrast(image, None if contrast == "asis" else contrast)
            for l_index, level in enumerate(noise_stds):
                rng = np.random.default_rng([int(seed), REALISTIC_VOLUMES.index(volume), c_index, l_index])
                noisy = rician_noise(clean, level, rng).astype(np.float32)
                out.append((f"{volume}_{contrast}_{level:g}", noisy, clean.astype(np.float32), float(level)))
    return out


def realistic_validation_dataset(
    seed: int = 0,
    noise_stds: Sequence[float] = (0.01, 0.05, 0.1, 0.15),
    limit: int | None = None,
    volumes: Sequence[str] = REALISTIC_VOLUMES,
    contrasts: Sequence[str] = REALISTIC_VALIDATION_CONTRASTS,
    as_volumes: bool = False,
) -> Dataset:
    """:func:`realistic_validation_arrays` as a MONAI dataset of single slices (or volumes), for a validation engine.

    Args:
        seed, noise_stds, volumes, contrasts: see :func:`realistic_validation_arrays`.
        limit: keep only the first ``limit`` slices of every set (all when None). Defaults to None.
        as_volumes: one item per set, its slices stacked as a volume ``(1, H, W, N)`` (for volumetric networks).
            Defaults to False.

    Returns:
        a dataset of ``{"image": noisy (1, H, W), "label": clean (1, H, W), "noise_std": (1, H, W) filled with
        the set's sigma, "coils": 1, "id": "<set name>_<slice index>"}`` (float32 tensors; slice sizes differ
        between volumes, so batch them one at a time).
    """
    items = []
    for name, noisy, clean, sigma in realistic_validation_arrays(seed, noise_stds, volumes, contrasts):
        count = len(noisy) if limit is None else min(int(limit), len(noisy))
        if as_volumes:
            volume_noisy = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy[:count], 0, -1)))[None]
            volume_clean = torch.from_numpy(np.ascontiguousarray(np.moveaxis(clean[:count], 0, -1)))[None]
            items.append({"image": volume_noisy, "label": volume_clean, "noise_std": torch.full_like(volume_noisy, float(sigma)), "coils": 1, "id": name})
            continue
        for i in range(count):
            items.append(
                {
                    "image": torch.from_numpy(noisy[i : i + 1].copy()),
                    "label": torch.from_numpy(clean[i : i + 1].copy()),
                    "noise_std": torch.full((1, *noisy.shape[1:]), float(sigma), dtype=torch.float32),
                    "coils": 1,
                    "id": f"{name}_{i}",
                }
            )
    return Dataset(items)
