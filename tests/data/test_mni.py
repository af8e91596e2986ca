"""MNI-Rician benchmark data."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.data import MNI_SPLITS, load_mni_template, mni_rician_eval_dataset, mni_rician_train_dataset, mni_slices, shift_contrast


def test_template_shape_range_and_read_only():
    volume = load_mni_template()
    assert volume.shape == (197, 233, 189) and volume.dtype == np.float32
    assert volume.min() >= 0 and volume.max() <= 1
    with pytest.raises(ValueError):
        volume[0, 0, 0] = 1.0


def test_splits_sizes_and_disjoint():
    sizes = {k: len(v) for k, v in MNI_SPLITS.items()}
    assert sizes == {"train": 110, "validation": 10, "test": 10}
    sets = [set(v) for v in MNI_SPLITS.values()]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_slices_and_shifts_follow_the_protocol():
    plain = mni_slices("test")
    assert len(plain) == 10 and plain[0]["image"].shape == (1, 197, 233) and plain[0]["id"] == "mni_test_z090"
    volume = load_mni_template()
    np.testing.assert_array_equal(plain[3]["image"][0], volume[:, :, 93])
    dim = mni_slices("test", "dim")[3]["image"]
    np.testing.assert_allclose(dim, 0.3 * plain[3]["image"], rtol=1e-6)
    inverted = mni_slices("test", "inverted")[3]["image"]
    clean = plain[3]["image"]
    np.testing.assert_allclose(inverted[clean > 0.02], 0.9 - 0.8 * clean[clean > 0.02], rtol=1e-6)
    assert (inverted[clean <= 0.02] == 0).all()
    with pytest.raises(ValueError, match="unknown shift"):
        shift_contrast(clean, "bright")
    with pytest.raises(ValueError, match="unknown split"):
        mni_slices("val")


def test_eval_dataset_is_fixed_and_level_dependent():
    a = mni_rician_eval_dataset("validation", noise_std=0.1, seed=0)[2]
    b = mni_rician_eval_dataset("validation", noise_std=0.1, seed=0)[2]
    c = mni_rician_eval_dataset("validation", noise_std=0.15, seed=0)[2]
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"]) and (a["noise_std"], c["noise_std"]) == (0.1, 0.15)
    np.testing.assert_array_equal(a["label"], mni_slices("validation")[2]["image"])
    assert len(mni_rician_eval_dataset("test", noise_std=[0.05, 0.1, 0.15])) == 30


def test_train_dataset_redraws_noise():
    ds = mni_rician_train_dataset()
    first, second = ds[0], ds[0]
    assert not np.array_equal(np.asarray(first["image"]), np.asarray(second["image"]))
    assert 0.05 <= first["noise_std"] <= 0.20
