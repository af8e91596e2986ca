"""estimate_noise (monai_nad.transforms.noise_map): a noise std map, the coil count and the correlation of scanner
noise, on a small synthetic phantom (never the benchmark's slices); and ``monai-nad denoise --noise-map``."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_nad.cli import main
from monai_nad.transforms import (
    SCANNER_NOISE_CONDITIONS,
    coil_sensitivities,
    estimate_image_noise_std,
    kspace_window,
    scanner_noise_slice,
    simulate_scanner_noise,
)
from monai_nad.transforms.noise_map import estimate_noise


def _phantom(n: int = 96) -> np.ndarray:
    """An ellipse (0.6) with a darker inner ellipse (0.35) and two brighter blobs, air around it."""
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    img = np.where((y / 0.55) ** 2 + (x / 0.45) ** 2 <= 1, 0.6, 0.0)
    img = np.where((y / 0.45) ** 2 + (x / 0.35) ** 2 <= 1, 0.35, img)
    img = np.where(((y + 0.18) / 0.15) ** 2 + ((x - 0.1) / 0.12) ** 2 <= 1, 1.0, img)
    return np.where(((y - 0.2) / 0.1) ** 2 + ((x + 0.1) / 0.18) ** 2 <= 1, 0.8, img)


@pytest.mark.parametrize("condition", SCANNER_NOISE_CONDITIONS)
def test_std_is_within_ten_percent_of_the_true_median_std(condition):
    clean = _phantom()
    for z in (0, 1):
        sample = scanner_noise_slice(clean, z, condition, 0.05)
        foreground = clean[: sample.noisy.shape[0]] > 0  # sense2 cuts to an even number of rows
        truth = float(np.median(sample.noise_std_map[foreground]))
        estimate = estimate_noise(sample.noisy)
        assert estimate.std == pytest.approx(truth, rel=0.10)
        assert estimate.std_map.shape == sample.noisy.shape and estimate.source == "air"
        assert estimate.coils == (8 if condition == "sos8" else 1) and estimate.coils_estimated


@pytest.mark.xfail(strict=True, reason="known limit: the map's order is chosen on the air's lower half, which hides "
                   "a smooth trend of the noise level; the map stays flat (see the noise_map module docstring)")
def test_the_map_follows_a_smooth_g_factor_pattern():
    """A g-factor map (smooth, 1 to 1.3 across the image) on the complex noise: the map should follow it inside the
    object. It does not yet (flat map, median 10 % low); nor does it follow the std maps of SENSE unfolding with few
    coils. The benchmark's sense2 (8 coils, 6 % variation) is checked above."""
    clean = _phantom(128)
    foreground = clean > 0
    _, x = np.mgrid[-1:1:128j, -1:1:128j]
    g = 1.0 + 0.15 * (x + 1.0)
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        noisy = np.abs(clean + 0.04 * g * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
        estimate = estimate_noise(noisy)
        assert np.corrcoef(estimate.std_map[foreground], 0.04 * g[foreground])[0, 1] > 0.8
        assert estimate.std == pytest.approx(0.04 * float(np.median(g[foreground])), rel=0.10)


@pytest.mark.parametrize("coils", [1, 4, 8, 16])
def test_the_coil_count_of_a_root_sum_of_squares_is_recovered(coils):
    clean = _phantom(128)
    sample = simulate_scanner_noise(
        clean, rng=np.random.default_rng(coils), noise_std=0.03, coil_maps=coil_sensitivities(clean.shape, coils),
        combination="rss" if coils > 1 else "magnitude",
    )  # fmt: skip
    estimate = estimate_noise(sample.noisy)
    assert estimate.coils == coils and estimate.coils_estimated
    assert estimate.std == pytest.approx(0.03, rel=0.05)
    told = estimate_noise(sample.noisy, coils=coils)
    assert told.coils == coils and not told.coils_estimated


def test_filtered_noise_is_correlated_and_white_noise_is_not():
    clean = _phantom()
    white = simulate_scanner_noise(clean, rng=np.random.default_rng(0), noise_std=0.05)
    filtered = simulate_scanner_noise(clean, rng=np.random.default_rng(0), noise_std=0.05, window=kspace_window(clean.shape, "hann", fraction=0.7))
    a, b = estimate_noise(white.noisy), estimate_noise(filtered.noisy)
    assert a.correlation_length <= 1.2
    assert b.correlation_length > 2.5  # |rho| of Hann over 70 % of k-space halves at 1.9 pixels: full width 3.7
    r = a.autocorrelation.shape[0] // 2
    assert a.autocorrelation[r, r] == 1.0 and b.autocorrelation[r + 1, r] > 0.6
    for e in (a, b):
        assert e.psd.shape == clean.shape and e.psd.mean() == pytest.approx(clean.size)
    assert b.psd[0, 0] > 2 * a.psd[0, 0]  # correlated noise: its power at low frequencies


def test_white_rician_noise_is_read_as_well_as_by_estimate_image_noise_std():
    clean = _phantom()
    errors_new, errors_old = [], []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        s = 0.04
        noisy = np.abs(clean + s * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
        errors_new.append(abs(estimate_noise(noisy).std / s - 1))
        errors_old.append(abs(float(estimate_image_noise_std(noisy[None])[0]) / s - 1))
    assert max(errors_new) < 0.04
    assert np.mean(errors_new) <= np.mean(errors_old) + 0.01


def test_volumes_tensors_and_scale():
    clean = np.repeat(_phantom(64)[..., None], 6, axis=2)
    sample = simulate_scanner_noise(clean, rng=np.random.default_rng(3), noise_std=0.05)
    estimate = estimate_noise(torch.as_tensor(sample.noisy, dtype=torch.float32))
    assert estimate.std_map.shape == clean.shape and estimate.std == pytest.approx(0.05, rel=0.10)
    assert len(estimate.correlation_lengths) == 3 and estimate.air.shape == clean.shape
    scaled = estimate_noise(1000.0 * sample.noisy)
    assert scaled.std == pytest.approx(1000.0 * estimate.std, rel=1e-3)
    strided = estimate_noise(sample.noisy, max_voxels=clean.size // 2)  # every second slice, interpolated back
    assert strided.std_map.shape == clean.shape and strided.std == pytest.approx(0.05, rel=0.10)


def test_without_air_the_map_is_the_fallback_constant():
    clean = _phantom(128)[40:88, 44:84]  # inside the object only
    rng = np.random.default_rng(5)
    noisy = np.abs(clean + 0.05 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
    estimate = estimate_noise(noisy)
    assert estimate.source == "fallback" and estimate.coils == 1 and not estimate.coils_estimated
    assert np.ptp(estimate.std_map) == 0 and estimate.std == pytest.approx(0.05, rel=0.15)


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.full((32, 32), np.nan), {}, "NaN"),
        (np.ones((32, 32)), {}, "constant"),
        (np.random.default_rng(0).random((10, 40)), {}, "too small"),
        (np.random.default_rng(0).random((32, 32)) - 0.5, {}, "negative"),
        (np.random.default_rng(0).random((2, 32, 32, 3)), {}, "2D image"),
        (np.random.default_rng(0).random((32, 32)), {"coils": 0}, "coils"),
        (np.random.default_rng(0).random((32, 32)), {"coils": 33}, "coils"),
    ],
)
def test_bad_input_is_refused_in_one_line(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_noise(image, **kwargs)


def test_denoise_writes_the_noise_map_in_the_scans_units(tiny_bundle, tmp_path, capsys):
    clean = np.repeat(_phantom(64)[..., None], 4, axis=2)
    sample = simulate_scanner_noise(clean, rng=np.random.default_rng(7), noise_std=0.04, coil_maps=coil_sensitivities(clean.shape, 4), combination="rss")
    units = 800.0
    affine = np.diag([1.2, 1.1, 3.0, 1.0])
    affine[:3, 3] = [-40.0, -35.0, 10.0]
    scan = tmp_path / "in" / "rss.nii.gz"
    scan.parent.mkdir()
    nib.save(nib.Nifti1Image((units * sample.noisy).astype(np.float32), affine), str(scan))
    out = tmp_path / "out"
    assert main(["denoise", str(scan), "-o", str(out), "--noise-map", "--coils", "4", "--bundle", str(tiny_bundle)]) == 0
    written = nib.load(str(out / "rss_denoised_noise_std.nii.gz"))
    values = np.asarray(written.get_fdata())
    assert values.shape == clean.shape and np.allclose(written.affine, affine)
    assert float(np.median(values[clean > 0])) == pytest.approx(units * 0.04, rel=0.10)
    printed = capsys.readouterr().out
    assert "noise map" in printed and "N = 4 (given)" in printed and "correlation length" in printed
