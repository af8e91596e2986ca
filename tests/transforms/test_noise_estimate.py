"""The noise module: blind noise-level estimation, the Rician / non-central-chi bias correction, Rician noise."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from monai_nad.data import load_mni_template, shift_contrast
from monai_nad.transforms import (
    EstimateNoiseStd,
    EstimateNoiseStdD,
    EstimateNoiseStdd,
    EstimateNoiseStdDict,
    estimate_image_noise_std,
    estimate_noise_std,
    magnitude_bias_correction,
    remove_magnitude_bias,
    rician_noise,
)
from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS


def chi_noise(clean: np.ndarray, sigma: float, seed: int, coils: int = 1) -> np.ndarray:
    """``sqrt(sum_k (x_k + s n1_k)^2 + (s n2_k)^2)`` with ``x_k = x / sqrt(N)`` (noiseless magnitude ``x``)."""
    rng = np.random.default_rng(seed)
    n1 = rng.standard_normal((coils, *clean.shape))
    n2 = rng.standard_normal((coils, *clean.shape))
    x = clean[None] / np.sqrt(coils)
    return np.sqrt(((x + sigma * n1) ** 2 + (sigma * n2) ** 2).sum(0))


def phantom(shape: tuple[int, ...] = (176, 192), seed: int = 0) -> np.ndarray:
    """A head-like phantom in ``[0, 1]`` that fills most of the field of view (air only in the corners).

    Bright scalp, a dark skull (0.03) and dark ventricles (0.06) inside it, a textured brain (0.3 to 0.8).
    """
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij")
    semi = (0.97, 0.92, 0.9)[: len(shape)]
    r = np.sqrt(sum((g / a) ** 2 for g, a in zip(grid, semi)))
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    texture = (texture - texture.min()) / np.ptp(texture)
    img = np.where(r < 0.84, 0.3 + 0.5 * texture, 0.0)
    img[(r >= 0.84) & (r < 0.91)] = 0.03
    img[(r >= 0.91) & (r < 1.0)] = 0.8
    ventricle = sum(((g - c) / 0.12) ** 2 for g, c in zip(grid, (0.0, 0.15, 0.0))) < 1
    img[ventricle] = 0.06
    return img


def inverted(clean: np.ndarray) -> np.ndarray:
    return np.where(clean > 0.02, 0.9 - 0.8 * clean, 0.0)


def ratio(noisy: np.ndarray, sigma: float, **kwargs) -> float:
    return float(estimate_image_noise_std(noisy[None], **kwargs)[0]) / sigma


# --- accuracy --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("contrast", ["as is", "inverted", "dim"])
@pytest.mark.parametrize("sigma", [0.005, 0.05, 0.15])
@pytest.mark.parametrize("coils", [1, 4, 8])
def test_phantom_with_air_within_5_percent(contrast, sigma, coils):
    clean = phantom()
    clean = {"as is": clean, "inverted": inverted(clean), "dim": 0.3 * clean}[contrast]
    assert ratio(chi_noise(clean, sigma, seed=7, coils=coils), sigma, coils=coils) == pytest.approx(1.0, abs=0.05)


def test_3d_phantom_within_5_percent():
    clean = phantom((48, 56, 40), seed=1)
    for sigma in (0.005, 0.1):
        noisy = chi_noise(clean, sigma, seed=3)
        assert noisy.ndim == 3
        assert ratio(noisy, sigma) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("contrast", [None, "inverted"])
@pytest.mark.parametrize("z", [60, 95, 120])
def test_mni_slices_within_5_percent(contrast, z):
    clean = shift_contrast(load_mni_template()[:, :, z], contrast)
    assert ratio(chi_noise(clean, 0.05, seed=1000 + z), 0.05) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("contrast", [None, "inverted"])
@pytest.mark.parametrize("sigma", [0.05, 0.15])
def test_cropped_brain_without_background_uses_the_fallback_within_10_percent(contrast, sigma):
    clean = shift_contrast(load_mni_template()[60:140, 60:170, 95], contrast)
    noisy = chi_noise(clean, sigma, seed=11)
    assert ratio(noisy, sigma) == pytest.approx(1.0, abs=0.10)
    assert ratio(noisy, sigma, method="vst_mad") == pytest.approx(ratio(noisy, sigma), rel=1e-12)


def test_no_background_is_reported_by_the_background_method():
    noisy = chi_noise(phantom()[50:130, 50:140], 0.05, seed=2)  # textured brain only
    with pytest.raises(ValueError, match="no usable background"):
        estimate_image_noise_std(noisy[None], method="background")
    assert ratio(noisy, 0.05) == pytest.approx(1.0, abs=0.10)


def test_zero_filled_background_is_ignored():
    noisy = chi_noise(phantom(), 0.05, seed=6)
    noisy[:30] = 0.0  # a masked (zero-filled) band, as after a scanner's or a pipeline's masking
    noisy[:, :20] = 0.0
    assert ratio(noisy, 0.05, method="background") == pytest.approx(1.0, abs=0.05)


def test_avoids_the_known_pitfalls():
    """The darkest pixels (Rayleigh low tail) and a Gaussian MAD are far off on this image; the estimator is not."""
    noisy = chi_noise(phantom(), 0.05, seed=5)
    darkest = np.sort(noisy.ravel())[: noisy.size * 3 // 10]
    assert np.sqrt(np.mean(darkest**2) / 2) / 0.05 < 0.8
    assert ratio(noisy, 0.05, method="background") == pytest.approx(1.0, abs=0.03)


# --- invariances, shapes, types ------------------------------------------------------------------------------------


def test_scale_invariance():
    noisy = chi_noise(phantom(), 0.08, seed=4)[None]
    base = estimate_image_noise_std(noisy)
    for a in (1e-3, 7.3, 4096.0):
        np.testing.assert_allclose(estimate_image_noise_std(a * noisy), a * base, rtol=1e-9)
        fallback = estimate_image_noise_std(a * noisy, method="vst_mad")
        np.testing.assert_allclose(fallback, a * estimate_image_noise_std(noisy, method="vst_mad"), rtol=1e-9)


def test_per_channel_numpy_and_torch():
    clean = phantom()
    img = np.stack([chi_noise(clean, 0.02, seed=1), chi_noise(inverted(clean), 0.12, seed=2)]).astype(np.float32)
    out = estimate_image_noise_std(img)
    assert out.shape == (2,) and out.dtype == np.float64
    np.testing.assert_allclose(out, [0.02, 0.12], rtol=0.05)
    np.testing.assert_allclose(estimate_image_noise_std(torch.from_numpy(img)), out, rtol=1e-12)
    np.testing.assert_allclose(estimate_image_noise_std(img[::-1].copy()), out[::-1], rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 9, 10, 11)])
def test_noiseless_images_give_zero(shape):
    for value in (0.0, 3.0):
        out = estimate_image_noise_std(np.full(shape, value))
        assert out.shape == (shape[0],) and np.all(np.isfinite(out)) and np.all(out == 0.0)
        with pytest.raises(ValueError, match="background"):
            estimate_image_noise_std(np.full(shape, value), method="background")


@pytest.mark.parametrize(
    "image, kwargs",
    [
        (np.ones((16, 16)), {}),  # no channel axis
        (-np.ones((1, 16, 16)), {}),
        (np.full((1, 16, 16), np.nan), {}),
        (np.ones((1, 16, 16)), {"method": "wavelet"}),
        (np.ones((1, 16, 16)), {"coils": 0}),
    ],
)
def test_bad_inputs(image, kwargs):
    with pytest.raises(ValueError):
        estimate_image_noise_std(image, **kwargs)


def test_batch_matches_per_image_and_keeps_device_dtype():
    clean = phantom((96, 112))
    x = torch.tensor(np.stack([[chi_noise(clean, s, seed=i)] for i, s in enumerate((0.03, 0.1))]), dtype=torch.float32)
    x.requires_grad_(True)
    out = estimate_noise_std(x)
    assert out.shape == (2, 1) and out.dtype == torch.float32 and out.device == x.device and not out.requires_grad
    for b in range(2):
        np.testing.assert_allclose(out[b].numpy(), estimate_image_noise_std(x[b].detach()), rtol=1e-6)
    np.testing.assert_allclose(out[:, 0].numpy(), [0.03, 0.1], rtol=0.05)
    assert estimate_noise_std(x.detach().double()).dtype == torch.float64
    with pytest.raises(ValueError):
        estimate_noise_std(x[0])


def test_batch_estimate_methods_coils_per_image_and_voxel_bound():
    clean = phantom((64, 72))
    x = torch.tensor(np.stack([[chi_noise(clean, 0.05, seed=1)], [chi_noise(clean, 0.05, seed=2, coils=4)]]), dtype=torch.float32)
    per_image = estimate_noise_std(x, coils=torch.tensor([1, 4]))
    np.testing.assert_allclose(per_image[1].numpy(), estimate_image_noise_std(x[1], coils=4), rtol=1e-6)
    np.testing.assert_allclose(per_image[:, 0].numpy(), [0.05, 0.05], rtol=0.15)
    mad = estimate_noise_std(x[:1], method="second_difference")  # the v0.2 networks' estimate, in torch
    assert mad.shape == (1, 1) and mad.dtype == torch.float32 and float(mad) > 0  # its accuracy: tests/networks/test_bias_correction.py
    volume = x[:1, :, :, :, None].expand(1, 1, 64, 72, 8).contiguous()
    bounded = estimate_noise_std(volume, max_voxels=VOLUME_ESTIMATE_VOXELS)  # under the bound: every voxel
    torch.testing.assert_close(bounded, estimate_noise_std(volume), rtol=0, atol=0)
    with pytest.raises(ValueError, match="method"):
        estimate_noise_std(x, method="nope")


# --- bias correction --------------------------------------------------------------------------------------------------


def test_remove_magnitude_bias_floor_and_smooth():
    v = torch.tensor([0.5, 0.02, 0.0], requires_grad=True)
    np.testing.assert_allclose(remove_magnitude_bias(v, 0.01, floor=1e-6).detach().numpy(), np.sqrt([0.49, 0.01, 1e-6]), rtol=1e-6)
    smooth = remove_magnitude_bias(v, 0.01, smooth=1e-3)
    np.testing.assert_allclose(smooth.detach().numpy(), np.sqrt([0.49 + 1e-6, 0.01 + 1e-6, 1e-6]) - 1e-3, rtol=1e-5)
    smooth.sum().backward()
    assert torch.isfinite(v.grad).all()
    np.testing.assert_allclose(remove_magnitude_bias(torch.tensor([0.5, 0.0]), 0.01).numpy(), np.sqrt([0.49, 0.0]), rtol=1e-6)
    np.testing.assert_allclose(magnitude_bias_correction(np.array([0.5, 0.0]) ** 0.5, 0.1 / np.sqrt(2)), np.sqrt([0.49, 0.0]))


@pytest.mark.parametrize("snr", [0.5, 1.0, 3.0, 10.0])
def test_bias_correction_is_exact_on_rician_second_moments(snr):
    s = 0.07
    a = snr * s
    second = stats.rice(b=a / s, scale=s).moment(2)
    assert float(magnitude_bias_correction(np.sqrt(second), s)) == pytest.approx(a, rel=1e-9)
    assert float(np.sqrt(second)) > a * (1 + 1e-3)  # there was a bias to remove


@pytest.mark.parametrize("coils", [4, 8])
def test_bias_correction_is_exact_for_non_central_chi(coils):
    s, a = 0.05, 0.12
    second = stats.ncx2(df=2 * coils, nc=(a / s) ** 2, scale=s**2).mean()  # E[M^2]
    assert float(magnitude_bias_correction(np.sqrt(second), s, coils=coils)) == pytest.approx(a, rel=1e-9)
    assert float(magnitude_bias_correction(np.sqrt(second), s, coils=1)) > a * 1.2  # the coil count matters
    m = chi_noise(np.full(200_000, a), s, seed=coils, coils=coils)  # the construction the tests use
    assert float(magnitude_bias_correction(np.sqrt(np.mean(m**2)), s, coils=coils)) == pytest.approx(a, rel=0.01)


def test_bias_correction_types_and_sigma_shapes():
    m = np.array([[[0.0, 0.05, 0.3]], [[0.2, 0.2, 0.2]]], dtype=np.float32)  # (C=2, 1, 3)
    out = magnitude_bias_correction(m, 0.1)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == m.shape
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0, np.sqrt(0.09 - 0.02)], rtol=1e-6)
    per_channel = magnitude_bias_correction(m, np.array([0.0, 0.1]))
    np.testing.assert_allclose(per_channel[0], m[0], rtol=1e-6)
    np.testing.assert_allclose(per_channel[1], np.sqrt(0.04 - 0.02), rtol=1e-6)
    np.testing.assert_allclose(magnitude_bias_correction(m, np.full(m.shape, 0.1)), out, rtol=1e-6)

    t = torch.tensor(m, requires_grad=True)
    out_t = magnitude_bias_correction(t, torch.tensor([0.0, 0.1]))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.detach().numpy(), per_channel, rtol=1e-6)
    out_t.sum().backward()
    assert torch.isfinite(t.grad).all()
    with pytest.raises(ValueError):
        magnitude_bias_correction(m, -0.1)


# --- transforms -------------------------------------------------------------------------------------------------------


def test_array_and_dictionary_transforms():
    img = np.stack([chi_noise(phantom(), 0.04, seed=1), chi_noise(phantom(), 0.09, seed=2)])
    sig = EstimateNoiseStd()(img)
    assert isinstance(sig, torch.Tensor) and sig.dtype == torch.float32 and sig.shape == (2,)
    np.testing.assert_allclose(sig.numpy(), [0.04, 0.09], rtol=0.05)

    data = {"image": torch.from_numpy(img), "label": 1}
    out = EstimateNoiseStdd(keys="image")(data)
    assert set(out) == {"image", "label", "image_noise_std"} and "image_noise_std" not in data
    torch.testing.assert_close(out["image_noise_std"], sig)
    out = EstimateNoiseStdd(keys=["image", "other"], noise_key_postfix="sigma", allow_missing_keys=True)(data)
    assert "image_sigma" in out and "other_sigma" not in out
    assert EstimateNoiseStdD is EstimateNoiseStdd and EstimateNoiseStdDict is EstimateNoiseStdd
    with pytest.raises(ValueError):
        EstimateNoiseStd(method="mad")


def test_a_large_volume_is_estimated_from_a_subset_of_its_slices():
    """``max_voxels`` bounds what the estimator reads: every k-th slice of a large volume gives the same level (the noise
    of every slice is the same), and a volume under the limit is read whole (the same result as without a limit)."""
    rng = np.random.default_rng(5)
    shape = (1, 48, 40, 64)
    clean = np.zeros(shape)
    clean[:, 12:36, 10:30] = 0.7
    noisy = np.sqrt((clean + 0.05 * rng.standard_normal(shape)) ** 2 + (0.05 * rng.standard_normal(shape)) ** 2)
    whole = estimate_image_noise_std(noisy)
    np.testing.assert_array_equal(estimate_image_noise_std(noisy, max_voxels=noisy.size), whole)
    part = estimate_image_noise_std(noisy, max_voxels=noisy.size // 4)
    assert abs(part[0] / whole[0] - 1) < 0.05 and abs(part[0] / 0.05 - 1) < 0.08


# --- synthesis --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("coils", [1, 4])
def test_rician_noise_is_seeded_and_has_the_chi_second_moment(coils):
    clean = np.full((200, 300), 0.3)
    noisy = rician_noise(clean, 0.05, np.random.default_rng(0), coils=coils)
    np.testing.assert_array_equal(noisy, rician_noise(clean, 0.05, np.random.default_rng(0), coils=coils))
    assert noisy.dtype == np.float64 and noisy.shape == clean.shape
    assert float(np.mean(noisy**2)) == pytest.approx(0.09 + 2 * coils * 0.05**2, rel=0.01)  # E[M^2] = A^2 + 2 N s^2
    rng = np.random.default_rng(1)
    n1, n2 = rng.standard_normal(clean.shape), rng.standard_normal(clean.shape)
    if coils == 1:  # the textbook construction, n1 drawn before n2
        np.testing.assert_array_equal(rician_noise(clean, 0.05, np.random.default_rng(1)), np.sqrt((clean + 0.05 * n1) ** 2 + (0.05 * n2) ** 2))
    assert rician_noise(clean.astype(np.float32), 0.05, np.random.default_rng(0), dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="coils"):
        rician_noise(clean, 0.05, rng, coils=0)
