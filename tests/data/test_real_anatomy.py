"""The real-anatomy evaluation cells (BENCHMARK.md 1c) on synthetic volumes."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.data import real_anatomy as ra
from monai_nad.data import NEAR_CLEAN_LEVEL, real_anatomy_cell, real_anatomy_cells, shift_contrast


@pytest.fixture()
def volumes(monkeypatch):
    rng = np.random.default_rng(0)
    mni = rng.uniform(0, 1, size=(9, 11, 160)).astype(np.float32)
    colin = rng.uniform(0, 1, size=(7, 8, 160)).astype(np.float32)
    mni[:2] = 0
    monkeypatch.setattr(ra, "load_mni_template", lambda: mni)
    monkeypatch.setattr(ra, "load_colin27", lambda: colin)
    return {"mni": mni, "colin27": colin}


def test_cell_reproduces_the_seed_protocol(volumes):
    noisy, clean, z = real_anatomy_cell("colin27", "inverted", 0.1)
    assert noisy.shape == clean.shape == (10, 7, 8) and noisy.dtype == clean.dtype == np.float32
    np.testing.assert_array_equal(z, np.arange(90, 100))
    x = shift_contrast(volumes["colin27"][:, :, 93], "inverted").astype(np.float64)
    rng = np.random.default_rng(1093)
    n1 = rng.standard_normal(x.shape)
    n2 = rng.standard_normal(x.shape)
    expected = np.sqrt((x + 0.1 * n1) ** 2 + (0.1 * n2) ** 2).astype(np.float32)
    np.testing.assert_array_equal(noisy[3], expected)
    np.testing.assert_array_equal(clean[3], x.astype(np.float32))


def test_validation_split_uses_its_own_slices(volumes):
    noisy, clean, z = real_anatomy_cell("mni", None, 0.05, split="validation")
    np.testing.assert_array_equal(z, np.arange(80, 90))
    np.testing.assert_array_equal(clean[0], volumes["mni"][:, :, 80])
    x = volumes["mni"][:, :, 80].astype(np.float64)
    rng = np.random.default_rng(1080)
    n1, n2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    np.testing.assert_array_equal(noisy[0], np.sqrt((x + 0.05 * n1) ** 2 + (0.05 * n2) ** 2).astype(np.float32))


def test_cells_cover_the_grid_and_the_near_clean_sets(volumes):
    cells = list(real_anatomy_cells())
    names = [name for name, _, _ in cells]
    assert len(names) == 20 and len(set(names)) == 20
    assert names[0] == "mni_asis_0.05" and "colin27_inverted_0.10" in names and "mni_dim_0.15" in names
    assert names[-2:] == ["mni_asis_0.005", "colin27_asis_0.005"]
    _, noisy, clean = cells[-1]
    assert np.abs(noisy - clean).mean() < 3 * NEAR_CLEAN_LEVEL
    assert len(list(real_anatomy_cells(include_near_clean=False))) == 18


def test_unknown_arguments_are_rejected(volumes):
    with pytest.raises(ValueError, match="unknown volume"):
        real_anatomy_cell("brainweb", None, 0.1)
    with pytest.raises(ValueError, match="unknown shift"):
        real_anatomy_cell("mni", "bright", 0.1)
    with pytest.raises(ValueError, match="unknown split"):
        real_anatomy_cell("mni", None, 0.1, split="val")
