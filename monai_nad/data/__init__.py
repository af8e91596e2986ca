"""Datasets (MNI-Rician, Br35H) and the reading/writing of user scans."""

from __future__ import annotations

from monai_nad.data.br35h import BR35H_CLASSES, ToGreyscaled, br35h_split, br35h_transforms
from monai_nad.data.mni import (
    MNI_SHIFTS,
    MNI_SPLITS,
    MNI_TEMPLATE_NAME,
    load_mni_template,
    mni_eval_arrays,
    mni_eval_dataset,
    mni_rician_eval_dataset,
    mni_rician_train_dataset,
    mni_slices,
    mni_template_path,
    shift_contrast,
)
from monai_nad.data.noisy import DIFFDENOISE_CONDITIONS, NOISE_CONDITIONS, RICIAN_CONDITIONS, mni_condition_arrays, mni_condition_dataset, mni_noisy_slices, noise_condition
from monai_nad.data.volumes import (
    LoadedImage,
    denormalise_intensity,
    find_images,
    image_kind,
    load_image,
    normalise_intensity,
    output_path_for,
    save_like,
)

__all__ = [
    "DIFFDENOISE_CONDITIONS",
    "NOISE_CONDITIONS",
    "RICIAN_CONDITIONS",
    "mni_noisy_slices",
    "mni_condition_arrays",
    "mni_condition_dataset",
    "noise_condition",
    "BR35H_CLASSES",
    "ToGreyscaled",
    "br35h_split",
    "br35h_transforms",
    "MNI_SHIFTS",
    "MNI_SPLITS",
    "MNI_TEMPLATE_NAME",
    "load_mni_template",
    "mni_eval_arrays",
    "mni_eval_dataset",
    "mni_rician_eval_dataset",
    "mni_rician_train_dataset",
    "mni_slices",
    "mni_template_path",
    "shift_contrast",
    "LoadedImage",
    "denormalise_intensity",
    "find_images",
    "image_kind",
    "load_image",
    "normalise_intensity",
    "output_path_for",
    "save_like",
]
