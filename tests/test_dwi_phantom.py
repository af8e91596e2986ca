"""The diffusion phantom of benchmark 1e (monai_nad.data.dwi_phantom): the signal model against its formula, the
gradient table, the noise statistics and the splits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monai_nad.data.dwi_phantom import (
    DWI_NOISE_SEED,
    DWI_SPLITS,
    dwi_gradient_table,
    dwi_noise,
    dwi_noisy_series,
    dwi_phantom,
    dwi_noise_std,
    dwi_signal,
    fibre_directions,
)


def _formula(gm: float, wm: float, csf: float, v: np.ndarray, b: float, g: np.ndarray) -> float:
    """``S0 [f_csf e^(-b 3.0e-3) + f_gm e^(-b 0.8e-3) + f_wm e^(-b g'Dg)]``, written out for one voxel and volume."""
    d = 1.7e-3 * np.outer(v, v) + 0.3e-3 * (np.eye(3) - np.outer(v, v))
    s0 = 1.0 * csf + 0.65 * gm + 0.5 * wm
    return s0 * (csf * math.exp(-b * 3.0e-3) + gm * math.exp(-b * 0.8e-3) + wm * math.exp(-b * float(g @ d @ g)))


def test_signal_matches_the_formula_on_synthetic_voxels():
    rng = np.random.default_rng(1)
    fractions = rng.dirichlet((1, 1, 1), size=5)  # gm, wm, csf per voxel
    v = rng.standard_normal((5, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    bvals, bvecs = dwi_gradient_table()
    got = dwi_signal(fractions[:, 0], fractions[:, 1], fractions[:, 2], v, bvals, bvecs)
    assert got.shape == (5, 66) and got.dtype == np.float32
    for i in range(5):
        for k in (0, 5, 6, 20, 36, 65):
            want = _formula(*fractions[i], v[i], bvals[k], bvecs[k])
            assert got[i, k] == pytest.approx(want, rel=1e-5)


def test_pure_tissues():
    bvals, bvecs = dwi_gradient_table()
    v = np.array([[0.0, 0.0, 1.0]])
    wm = dwi_signal(np.zeros(1), np.ones(1), np.zeros(1), v, bvals, bvecs)[0]
    np.testing.assert_allclose(wm[:6], 0.5)  # the SNR's reference: white matter at b = 0
    cos2 = bvecs[6:36, 2] ** 2
    np.testing.assert_allclose(wm[6:36], 0.5 * np.exp(-1000 * (0.3e-3 + 1.4e-3 * cos2)), rtol=1e-6)
    csf = dwi_signal(np.zeros(1), np.zeros(1), np.ones(1), v, bvals, bvecs)[0]
    np.testing.assert_allclose(csf[[0, 6, 36]], [1.0, math.exp(-3.0), math.exp(-6.0)], rtol=1e-6)


def test_gradient_table():
    bvals, bvecs = dwi_gradient_table()
    assert bvals.shape == (66,) and bvecs.shape == (66, 3)
    np.testing.assert_array_equal(bvals, [0] * 6 + [1000] * 30 + [2000] * 30)
    np.testing.assert_array_equal(bvecs[:6], 0)
    np.testing.assert_allclose(np.linalg.norm(bvecs[6:], axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(bvecs[6:36], bvecs[36:])  # the same 30 directions on both shells
    cosines = np.abs(bvecs[6:36] @ bvecs[6:36].T) - 2 * np.eye(30)
    assert math.degrees(math.acos(cosines.max())) > 15  # dispersed (antipodes count as the same direction)
    again, _ = dwi_gradient_table.__wrapped__()
    np.testing.assert_array_equal(again, bvals)


def test_fibre_directions_follow_a_tube():
    """A tube of white matter along axis 1: the direction of least change is along the tube."""
    wm = np.zeros((24, 24, 24))
    wm[9:15, :, 9:15] = 1.0
    v = fibre_directions(wm)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.abs(v[12, 4:20, 12, 1]) > 0.99)


def test_rician_noise_statistics():
    sigma = dwi_noise_std(10)
    assert sigma == pytest.approx(0.05)
    background = dwi_noise(np.zeros((200, 200, 4)), sigma, 1, 7)
    assert np.mean(background.astype(np.float64) ** 2) == pytest.approx(2 * sigma**2, rel=0.02)  # Rayleigh
    assert np.mean(background) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.02)
    bright = dwi_noise(np.full((200, 200, 4), 0.8), sigma, 1, 7)
    assert np.mean(bright) == pytest.approx(0.8 + sigma**2 / (2 * 0.8), abs=1e-3)
    assert np.std(bright) == pytest.approx(sigma, rel=0.03)
    # the formula of the protocol, with the draws in the order the module documents
    rng = np.random.default_rng(7)
    clean = np.linspace(0, 1, 3 * 5 * 2).reshape(3, 5, 2)
    n1, n2 = rng.standard_normal(clean.shape), rng.standard_normal(clean.shape)
    np.testing.assert_allclose(dwi_noise(clean, sigma, 1, 7), np.sqrt((clean + sigma * n1) ** 2 + (sigma * n2) ** 2), rtol=1e-6)


def test_four_coil_noise_statistics():
    sigma, coils = dwi_noise_std(20), 4
    background = dwi_noise(np.zeros((200, 200, 4)), sigma, coils, 3).astype(np.float64)
    m2 = background**2
    assert np.mean(m2) == pytest.approx(2 * coils * sigma**2, rel=0.02)
    assert np.mean(m2) ** 2 / np.var(m2) == pytest.approx(coils, rel=0.05)  # the effective coil count in air
    bright = dwi_noise(np.full((100, 100, 4), 0.6), sigma, coils, 3).astype(np.float64)
    assert np.mean(bright**2) == pytest.approx(0.36 + 2 * coils * sigma**2, rel=0.01)


def test_noise_errors():
    with pytest.raises(ValueError, match="coils"):
        dwi_noise(np.zeros((2, 2, 2)), 0.1, 0, 1)
    with pytest.raises(ValueError, match="snr"):
        dwi_noise_std(0)


def test_splits_are_disjoint_and_keep_the_test_neighbourhood_out_of_training():
    test, val, train = (set(DWI_SPLITS[s]) for s in ("test", "validation", "train"))
    assert test == set(range(40, 50)) and val == set(range(30, 40))
    assert not (test & val) and not (train & (test | val))
    assert not any(76 <= 2 * k + 1 and 2 * k < 104 for k in train)  # 1 mm z 76-103 out of training
    assert max(train) == 93


def test_phantom_voxels_against_the_formula_and_noise_seed_per_slice():
    ph = dwi_phantom("test", slices=[44, 45])
    assert ph.clean.shape == (98, 116, 2, 66) and ph.zs == (44, 45)
    assert ph.brain.sum() > 5000 and ph.white_matter.sum() > 1000
    wm = np.argwhere(ph.white_matter)
    csf = np.argwhere(ph.csf > 0.8)
    for x, y, z in (*wm[:: len(wm) // 3][:3], csf[0]):
        for k in (0, 10, 50):
            want = _formula(ph.gm[x, y, z], ph.wm[x, y, z], ph.csf[x, y, z], ph.fibre[x, y, z].astype(np.float64), ph.bvals[k], ph.bvecs[k])
            assert ph.clean[x, y, z, k] == pytest.approx(want, rel=1e-5)
    assert ph.clean.max() <= 1.0 + 1e-6 and ph.clean.min() >= 0
    noisy = dwi_noisy_series(ph.clean, ph.zs, 20, 1)
    np.testing.assert_array_equal(noisy[:, :, 1], dwi_noise(ph.clean[:, :, 1], 0.025, 1, DWI_NOISE_SEED + 45))
    with pytest.raises(ValueError, match="slices"):
        dwi_phantom("test", slices=[30])
