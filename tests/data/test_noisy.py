"""Noisy-only MNI data and the named noise conditions of DiffDenoise."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.data import DIFFDENOISE_CONDITIONS, condition_arrays, mni_condition_arrays, mni_condition_dataset, mni_noisy_slices, mni_slices


def test_noisy_slices_have_no_clean_reference_and_are_reproducible():
    items = mni_noisy_slices("train", ["rician_0.10", "poisson_200"], per_slice=1, limit=3)
    assert [it["condition"] for it in items] == ["rician_0.10", "poisson_200", "rician_0.10"]
    assert all("label" not in it for it in items)
    again = mni_noisy_slices("train", ["rician_0.10", "poisson_200"], per_slice=1, limit=3)
    assert np.array_equal(items[2]["image"], again[2]["image"])
    clean = mni_slices("train")[0]["image"]
    assert 0.05 < np.std(items[0]["image"] - clean) < 0.15
    every = mni_noisy_slices("train", ["rician_0.05", "rician_0.20"], per_slice=2, limit=2)
    assert len(every) == 4 and {it["condition"] for it in every[:2]} == {"rician_0.05", "rician_0.20"}


def test_conditions_match_the_seed_levels():
    noisy, clean = mni_condition_arrays("validation", "correlated_1.2", limit=2)
    assert np.std(noisy - clean) == pytest.approx(0.05, rel=0.05)
    noisy, clean = mni_condition_arrays("validation", "gaussian_6", limit=2)
    assert np.std(noisy - clean) == pytest.approx(6 / 255, rel=0.05)
    noisy, clean = mni_condition_arrays("validation", "gamma_100", limit=2)
    ratio = noisy[clean > 0.3] / clean[clean > 0.3]
    assert np.std(ratio) == pytest.approx(0.1, rel=0.1)  # Gamma(100, 1/100): mean 1, std 0.1
    assert len(DIFFDENOISE_CONDITIONS) == 7
    assert len(mni_condition_dataset("test", ["poisson_700", "gamma_500"])) == 20


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown noise condition 'rician_0.3'"):
        mni_noisy_slices("train", ["rician_0.3"])
    with pytest.raises(ValueError, match="per_slice"):
        mni_noisy_slices("train", ["rician_0.10"], per_slice=2)
    with pytest.raises(ValueError, match="unknown split"):
        mni_noisy_slices("training")


def test_condition_arrays_of_colin27_and_mni():
    noisy, clean = condition_arrays("test", "correlated_0.5", "colin27", limit=2)
    assert noisy.shape == clean.shape == (2, 181, 217)
    assert np.std(noisy - clean) == pytest.approx(0.05, rel=0.05)
    again, _ = condition_arrays("test", "correlated_0.5", "colin27", limit=2)
    assert np.array_equal(noisy, again)  # fixed-seed noise: every method sees the same slices
    mni, _ = condition_arrays("test", "gamma_100", "mni", limit=1)
    assert np.array_equal(mni, mni_condition_arrays("test", "gamma_100", limit=1)[0])
    with pytest.raises(ValueError, match="unknown volume 'brainweb'"):
        condition_arrays("test", "gamma_100", "brainweb")
