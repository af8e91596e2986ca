"""Randomised contrasts and magnitude noise: tissue contrast synthesis, band remap, magnitude-noise pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_nad.transforms import (
    TISSUE_CONTRASTS,
    RandIntensityBandRemap,
    RandIntensityBandRemapd,
    RandMagnitudeNoise,
    RandMagnitudeNoisePaird,
    RandTissueContrastd,
    tissue_intensities,
)


def _tissues(shape=(1, 30, 30)):
    """Three pure tissue stripes (GM, WM, CSF) and air in the last column block."""
    gm, wm, csf = (np.zeros(shape, np.float32) for _ in range(3))
    gm[..., 0:8] = 1
    wm[..., 8:16] = 1
    csf[..., 16:24] = 1
    t1 = 0.6 * gm + 0.9 * wm + 0.15 * csf
    return {"image": t1.astype(np.float32), "gm": gm, "wm": wm, "csf": csf}


# --- tissue contrast --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contrast, order",
    [("t1", ("wm", "gm", "csf")), ("t2", ("csf", "gm", "wm")), ("flair", ("gm", "wm", "csf"))],
)
def test_tissue_contrast_produces_the_family_order(contrast, order):
    t = RandTissueContrastd("image", prob=1.0, contrasts=(contrast,), texture=(0.0, 0.0))
    for seed in range(20):
        t.set_random_state(seed)
        out = t(_tissues())["image"]
        mean = {"gm": out[..., 0:8].mean(), "wm": out[..., 8:16].mean(), "csf": out[..., 16:24].mean()}
        assert mean[order[0]] > mean[order[1]] > mean[order[2]]
        assert (out[..., 24:] == 0).all()  # air stays black


def test_tissue_contrast_t2_keeps_csf_above_wm_with_texture_mixing():
    t = RandTissueContrastd("image", prob=1.0, contrasts=("t2",), texture=(0.3, 0.3))
    t.set_random_state(0)
    out = t(_tissues())["image"]
    assert out[..., 16:24].mean() > out[..., 8:16].mean()
    assert out.dtype == np.float32


def test_tissue_intensities_families():
    rng = np.random.RandomState(0)
    for _ in range(50):
        gm, wm, csf = tissue_intensities("pd", rng)
        assert gm >= wm and csf > 0.5 * gm
        values = tissue_intensities("random", rng)
        assert 0.7 <= values.max() <= 1.0 and (values > 0).all()
    with pytest.raises(ValueError, match="unknown contrast"):
        tissue_intensities("dwi", rng)
    assert set(TISSUE_CONTRASTS) == {"t1", "t2", "pd", "flair", "random"}


def test_tissue_contrast_is_a_no_op_without_maps_and_reproducible():
    t = RandTissueContrastd("image", prob=1.0)
    image = np.ones((1, 8, 8), np.float32)
    assert t({"image": image})["image"] is image
    data = _tissues()
    a = t.set_random_state(3)(data)["image"]
    b = t.set_random_state(3)(data)["image"]
    np.testing.assert_array_equal(a, b)
    torch_data = {k: torch.as_tensor(v) for k, v in data.items()}
    c = t.set_random_state(3)(torch_data)["image"]
    assert isinstance(c, torch.Tensor) and c.dtype == torch.float32
    np.testing.assert_allclose(c.numpy(), a, rtol=1e-6)
    with pytest.raises(ValueError, match="tissue_keys"):
        RandTissueContrastd("image", tissue_keys=("gm", "wm"))


# --- band remap --------------------------------------------------------------------------------------------------


def _head(shape=(1, 40, 40)):
    img = np.zeros(shape, np.float32)
    img[..., 5:35, 5:35] = 0.2  # "CSF"
    img[..., 10:30, 10:30] = 0.5  # "GM"
    img[..., 15:25, 15:25] = 0.8  # "WM"
    return img


@pytest.mark.parametrize("use_torch", [False, True])
def test_band_remap_keeps_air_at_zero(use_torch):
    img = _head()
    src = torch.as_tensor(img) if use_torch else img
    t = RandIntensityBandRemap(prob=1.0)
    for seed in range(10):
        out = t.set_random_state(seed)(src)
        out = out.numpy() if use_torch else out
        assert out.shape == img.shape and out.dtype == np.float32
        assert (out[img == 0] == 0).all() and (out[img > 0] > 0).all()


def test_band_remap_descending_reverses_the_order_and_dict_twin_uses_the_mask():
    img = _head()
    out = RandIntensityBandRemap(prob=1.0, orders=("descending",), num_bands=1).set_random_state(0)(img)
    assert out[0, 7, 7] > out[0, 12, 12] > out[0, 20, 20]  # CSF > GM > WM
    mask = np.zeros_like(img)
    mask[..., :20, :] = 1
    t = RandIntensityBandRemapd("image", prob=1.0, mask_key="mask", intensity_range=(0, 1)).set_random_state(1)
    d = t({"image": img, "mask": mask})
    assert (d["image"][mask == 0] == 0).all()
    e = t.set_random_state(1)({"image": img, "mask": mask})
    np.testing.assert_array_equal(d["image"], e["image"])
    with pytest.raises(ValueError):
        RandIntensityBandRemap(num_bands=(4, 2))


# --- magnitude noise ---------------------------------------------------------------------------------------------


def test_rician_noise_statistics_in_air():
    t = RandMagnitudeNoise(noise_std=0.1, log_uniform=False, coil_prob=0.0, varying_prob=0.0).set_random_state(0)
    air = np.zeros((1, 256, 256), np.float32)
    m = t(air).astype(np.float64)
    assert t.num_coils == 1 and t.noise_std == pytest.approx(0.1)
    assert np.sqrt((m**2).mean() / 2) == pytest.approx(0.1, rel=0.01)
    assert m.mean() == pytest.approx(0.1 * np.sqrt(np.pi / 2), rel=0.02)  # Rayleigh mean


def test_multi_coil_noise_statistics_and_noiseless_magnitude():
    t = RandMagnitudeNoise(noise_std=0.05, log_uniform=False, coils=4, coil_prob=1.0, varying_prob=0.0).set_random_state(0)
    m = t(np.zeros((1, 256, 256), np.float32)).astype(np.float64)
    assert t.num_coils == 4
    assert (m**2).mean() == pytest.approx(2 * 4 * 0.05**2, rel=0.02)
    bright = t(np.full((1, 128, 128), 0.8, np.float32)).astype(np.float64)
    assert (bright**2).mean() == pytest.approx(0.8**2 + 2 * 4 * 0.05**2, rel=0.005)  # E[M^2] = x^2 + 2 N s^2
    t_tiny = RandMagnitudeNoise(noise_std=1e-6, log_uniform=False, coils=(2, 8), coil_prob=1.0).set_random_state(0)
    x = np.random.default_rng(0).uniform(0, 1, (1, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(t_tiny(x), x, atol=1e-4)


def test_varying_sigma_is_smooth_positive_with_mean_one():
    t = RandMagnitudeNoise(noise_std=0.1, log_uniform=False, coil_prob=0.0, varying_prob=1.0).set_random_state(0)
    air = np.zeros((1, 128, 128), np.float32)
    m = t(air).astype(np.float64)
    sigma = t.noise_std_map(air.shape).astype(np.float64)
    gain = sigma / 0.1
    assert gain.mean() == pytest.approx(1.0, rel=1e-4)
    assert 0.5 < gain.min() < 1.0 < gain.max() < 2.0
    assert np.abs(np.diff(gain, axis=-1)).max() < 0.05  # smooth
    assert (m**2 / (2 * sigma**2)).mean() == pytest.approx(1.0, rel=0.02)


def test_log_uniform_levels_stay_in_range():
    t = RandMagnitudeNoise(noise_std=(0.005, 0.2)).set_random_state(0)
    levels = []
    for _ in range(200):
        t(np.zeros((1, 4, 4), np.float32))
        levels.append(t.noise_std)
    levels = np.log(levels)
    assert np.log(0.005) <= levels.min() and levels.max() <= np.log(0.2)
    assert abs(np.median(levels) - 0.5 * (np.log(0.005) + np.log(0.2))) < 0.4


@pytest.mark.parametrize("shape", [(1, 24, 24), (1, 8, 8, 8)])
@pytest.mark.parametrize("kind", ["numpy", "torch", "meta"])
def test_pair_keys_shapes_types_and_reproducibility(shape, kind):
    x = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    clean = {"numpy": x, "torch": torch.as_tensor(x), "meta": MetaTensor(torch.as_tensor(x))}[kind]
    pair = RandMagnitudeNoisePaird("image", coil_prob=0.5, varying_prob=0.5)
    outs = [pair.set_random_state(7)({"image": clean}) for _ in range(2)]
    for d in outs:
        assert set(d) >= {"image", "label", "noise_std", "coils"} and "noise_level" not in d  # one key for the level
        for key in ("image", "label", "noise_std"):
            assert tuple(d[key].shape) == shape and d[key].dtype in (np.float32, torch.float32)
            assert isinstance(d[key], np.ndarray) == (kind == "numpy")
        assert isinstance(d["coils"], int) and 1 <= d["coils"] <= 8
        np.testing.assert_array_equal(np.asarray(d["label"]), x)
        assert 0.005 <= float(np.asarray(d["noise_std"]).mean()) <= 0.2
    np.testing.assert_array_equal(np.asarray(outs[0]["image"]), np.asarray(outs[1]["image"]))
    np.testing.assert_array_equal(np.asarray(outs[0]["noise_std"]), np.asarray(outs[1]["noise_std"]))
    other = pair.set_random_state(8)({"image": clean})
    assert not np.array_equal(np.asarray(other["image"]), np.asarray(outs[0]["image"]))


def test_pair_draws_multi_coil_and_varying_sigma_at_the_requested_rates():
    pair = RandMagnitudeNoisePaird("image", coil_prob=0.3, varying_prob=0.3).set_random_state(0)
    coils, varying = [], []
    for _ in range(300):
        d = pair({"image": np.zeros((1, 8, 8), np.float32)})
        coils.append(d["coils"])
        varying.append(float(np.ptp(d["noise_std"])) > 0)
    assert 0.2 < np.mean(np.array(coils) > 1) < 0.4 and 0.2 < np.mean(varying) < 0.4
    assert max(coils) <= 8
    with pytest.raises(ValueError, match="exactly one"):
        RandMagnitudeNoisePaird(("image", "other"))
