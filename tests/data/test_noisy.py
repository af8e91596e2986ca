"""Noisy-only MNI and Colin27 data and the named noise conditions of DiffDenoise."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.data import (
    DIFFDENOISE_CONDITIONS,
    SCANNER_TRAINING_CONDITIONS,
    colin27_slices,
    condition_arrays,
    mni_condition_arrays,
    mni_condition_dataset,
    mni_slices,
    noisy_pairs,
    noisy_slices,
    scanner_condition,
)
from monai_nad.transforms import scanner_noise_slice


def test_noisy_slices_have_no_clean_reference_and_are_reproducible():
    items = noisy_slices("train", ["rician_0.10", "poisson_200"], per_slice=1, limit=3)
    assert [it["condition"] for it in items] == ["rician_0.10", "poisson_200", "rician_0.10"]
    assert all("label" not in it for it in items)
    again = noisy_slices("train", ["rician_0.10", "poisson_200"], per_slice=1, limit=3)
    assert np.array_equal(items[2]["image"], again[2]["image"])
    clean = mni_slices("train")[0]["image"]
    assert 0.05 < np.std(items[0]["image"] - clean) < 0.15
    every = noisy_slices("train", ["rician_0.05", "rician_0.20"], per_slice=2, limit=2)
    assert len(every) == 4 and {it["condition"] for it in every[:2]} == {"rician_0.05", "rician_0.20"}


def test_noisy_slices_of_both_volumes():
    both = noisy_slices("train", ["gaussian_6", "rician_0.10", "gamma_100"], limit=2, volumes=("mni", "colin27"))
    assert [it["id"] for it in both] == ["mni_train_z020_gaussian_6", "mni_train_z021_rician_0.10",
                                         "colin27_train_z030_gamma_100", "colin27_train_z031_gaussian_6"]
    assert both[2]["image"].shape == (1, 181, 217) and all("label" not in it for it in both)
    clean = colin27_slices("train")[0]["image"]
    ratio = both[2]["image"][clean > 0.3] / clean[clean > 0.3]
    assert np.std(ratio) == pytest.approx(0.1, rel=0.15)  # the named condition, applied to the Colin27 slice
    only_mni = noisy_slices("train", ["gaussian_6", "rician_0.10", "gamma_100"], limit=2)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(only_mni, both[:2]))  # the default is unchanged
    pairs = noisy_pairs("train", ["gaussian_6"], limit=1, volumes=["colin27"])
    assert len(pairs) == 1 and not np.array_equal(pairs[0]["image"], pairs[0]["image_b"])
    for bad in (["brainweb"], [], ["mni", "mni"], "mni"):
        with pytest.raises(ValueError, match="volumes"):
            noisy_slices("train", ["gaussian_6"], volumes=bad)


def test_scanner_conditions_are_the_benchmark_simulation_with_training_draws():
    items = noisy_slices("train", ["scanner_sos8_0.10", "scanner_filtered_0.05"], limit=2, volumes=["colin27"])
    assert [it["condition"] for it in items] == ["scanner_sos8_0.10", "scanner_filtered_0.05"]
    assert all("label" not in it and it["image"].dtype == np.float32 for it in items)
    clean = colin27_slices("train")[:2]
    expected = scanner_noise_slice(np.asarray(clean[1]["image"])[0], clean[1]["z"], "filtered", 0.05, seed=0)
    assert items[1]["image"].shape == (1, 181, 217)
    np.testing.assert_allclose(items[1]["image"][0], expected.noisy, atol=1e-6)  # normalised by the reference's maximum
    # 8 coils: the root-sum-of-squares keeps its noise floor in the air, about s' sqrt(2 N) with s' = s / scale
    air = np.asarray(clean[0]["image"])[0] < 1e-3
    sample = scanner_noise_slice(np.asarray(clean[0]["image"])[0], clean[0]["z"], "sos8", 0.10, seed=0)
    assert np.mean(items[0]["image"][0][air]) == pytest.approx(sample.noise_std * np.sqrt(2 * 8), rel=0.1)
    # the other seed of a pair is another acquisition of the same slice; the benchmark's own draw (seed None) is neither
    pair = noisy_pairs("train", ["scanner_sos8_0.10"], limit=1, volumes=["colin27"])[0]
    assert not np.array_equal(pair["image"], pair["image_b"])
    protocol = scanner_noise_slice(np.asarray(clean[0]["image"])[0], clean[0]["z"], "sos8", 0.10)
    assert not np.allclose(items[0]["image"][0], protocol.noisy)
    assert [scanner_condition(c)[0] for c in SCANNER_TRAINING_CONDITIONS] == ["filtered", "filtered", "sos8", "sos8"]


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
        noisy_slices("train", ["rician_0.3"])
    with pytest.raises(ValueError, match="per_slice"):
        noisy_slices("train", ["rician_0.10"], per_slice=2)
    with pytest.raises(ValueError, match="unknown split"):
        noisy_slices("training")
    for bad in ("scanner_sense4_0.05", "scanner_sos8", "scanner_sos8_x", "scanner_sos8_-0.1", "scanner_sos8_inf", "sos8_0.05"):
        with pytest.raises(ValueError, match="scanner condition is named"):
            scanner_condition(bad)
    with pytest.raises(ValueError, match="scanner condition is named"):
        noisy_slices("train", ["scanner_sense4_0.05"])


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
