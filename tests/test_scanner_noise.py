"""Scanner-noise simulation (issue 24): Monte Carlo checks of the analytic std maps and PSDs, Rician / chi
statistics, the benchmark 1d protocol against an independent implementation of its text, and the transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special
from scipy.ndimage import gaussian_filter

from monai_nad.transforms import (
    SCANNER_NOISE_CONDITIONS,
    RandScannerNoise,
    RandScannerNoised,
    coil_sensitivities,
    kspace_window,
    acf_correlation_lengths,
    estimate_noise,
    noise_correlation_matrix,
    psd_correlation_lengths,
    scanner_noise_slice,
    simulate_scanner_noise,
    smooth_phase,
)

SHAPE = (32, 40)
DRAWS = 400


def _object(shape=SHAPE, level=60.0):
    """A smooth, bright object filling the image (no air), so magnitude noise ~ the real-channel noise."""
    y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    return level * (1.0 + 0.4 * np.exp(-((y - 0.2) ** 2 + (x + 0.3) ** 2) / 0.3) + 0.2 * np.cos(2 * x))


def _phantom(shape=(33, 40)):
    """A head-like phantom with air around it, for the benchmark protocol."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    head = ((yy - cy) / (0.4 * shape[0])) ** 2 + ((xx - cx) / (0.4 * shape[1])) ** 2 < 1
    blob = ((yy - cy + 4) / 5.0) ** 2 + ((xx - cx - 3) / 6.0) ** 2 < 1
    return gaussian_filter(0.7 * head + 0.3 * blob, 1.0)


def _monte_carlo(clean, draws=DRAWS, seed=0, **kwargs):
    """Stack the complex and magnitude noise of ``draws`` simulations (same reference, independent noise)."""
    rng = np.random.default_rng(seed)
    complex_noise, magnitude_noise = [], []
    sample = None
    for _ in range(draws):
        sample = simulate_scanner_noise(clean, rng=rng, **kwargs)
        if sample.combined is not None:
            complex_noise.append(sample.combined - sample.combined_reference)
        magnitude_noise.append(sample.noisy - sample.reference)
    cn = np.stack(complex_noise) if complex_noise else None
    return sample, cn, np.stack(magnitude_noise)


def _std_agrees(empirical, predicted, median_tol=0.05, mean_tol=0.02):
    ratio = empirical / predicted
    return abs(np.median(ratio) - 1) < mean_tol and np.median(np.abs(ratio - 1)) < median_tol


def _empirical_psd(noise):
    """bm3d-convention PSD of real fields ``(draws, H, W)``: mean |fft2|^2 (the per-pixel mean removed)."""
    centred = noise - noise.mean(axis=0)
    return (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0) * noise.shape[0] / (noise.shape[0] - 1)


def _psd_agrees(empirical, predicted, tol=0.08):
    big = predicted > 0.01 * predicted.max()
    ratio = empirical[big] / predicted[big]
    zero_ok = np.all(empirical[predicted == 0] < 0.02 * predicted.max())
    return abs(empirical[big].sum() / predicted[big].sum() - 1) < 0.02 and np.median(np.abs(ratio - 1)) < tol and zero_ok


# ------------------------------------------------------------------------------ Monte Carlo: std maps and PSDs
def test_magnitude_hann_window_std_and_psd():
    clean = _object()
    phase = smooth_phase(SHAPE, np.random.default_rng(1), scale=0.3)
    w = kspace_window(SHAPE, "hann", fraction=0.8)
    s, cn, mn = _monte_carlo(clean, noise_std=1.0, window=w, phase=phase)
    assert s.stationary and np.allclose(s.noise_std_map, 1.0)
    assert _std_agrees(cn.real.std(axis=0), s.noise_std_map)
    assert _std_agrees(cn.imag.std(axis=0), s.noise_std_map)
    assert _std_agrees(mn.std(axis=0), s.noise_std_map)
    # the PSD: |W|^2 / mean(|W|^2) * s^2 * H * W for a symmetric window, and what one real channel shows
    assert np.allclose(s.noise_psd, np.abs(w) ** 2 / np.mean(np.abs(w) ** 2) * np.prod(SHAPE))
    assert _psd_agrees(_empirical_psd(cn.real), s.noise_psd)
    assert not _psd_agrees(_empirical_psd(cn.real), np.full(SHAPE, float(np.prod(SHAPE))))  # white would be caught
    assert not _std_agrees(cn.real.std(axis=0), 1.1 * s.noise_std_map)  # a 10 % error would be caught


def test_partial_fourier_psd_is_symmetrised():
    clean = _object()
    w = kspace_window(SHAPE, "none", partial_fourier=0.625, partial_fourier_axis=0)
    f0 = np.fft.fftfreq(SHAPE[0])
    assert np.array_equal(w[:, 0], (f0 >= -0.125).astype(float)) and w.mean() == pytest.approx(0.625)
    s, cn, mn = _monte_carlo(clean, noise_std=2.0, window=w)
    assert _std_agrees(cn.real.std(axis=0), s.noise_std_map) and _std_agrees(mn.std(axis=0), s.noise_std_map)
    emp = _empirical_psd(cn.real)
    assert _psd_agrees(emp, s.noise_psd)
    literal = np.abs(w) ** 2 / np.mean(np.abs(w) ** 2) * 4.0 * np.prod(SHAPE)
    assert not _psd_agrees(emp, literal)  # one real channel does not see the asymmetric |W|^2
    # with zero phase the magnitude's noise is the real channel: same PSD
    assert _psd_agrees(_empirical_psd(mn), s.noise_psd)


def test_rss_eight_coils_std_and_psd():
    clean = _object()
    w = kspace_window(SHAPE, "hann", fraction=0.8)
    maps = coil_sensitivities(SHAPE, 8)
    s, cn, mn = _monte_carlo(clean, noise_std=1.0, window=w, coil_maps=maps, combination="rss")
    assert cn is None and s.stationary and s.effective_coils == 8
    assert np.allclose(s.noise_std_map, 1.0) and np.allclose(s.noise_power, 2 * 8 * 1.0)
    assert _std_agrees(mn.std(axis=0), s.noise_std_map)
    assert _psd_agrees(_empirical_psd(mn), s.noise_psd)
    # the bias: E[m^2] - reference^2 = 2 N s^2
    s2 = simulate_scanner_noise(clean, rng=np.random.default_rng(3), noise_std=1.0, window=w, coil_maps=maps, combination="rss")
    assert np.mean((s2.reference + mn) ** 2 - s2.reference**2) == pytest.approx(16.0, rel=0.05)


def test_roemer_std_map():
    clean = _object()
    maps = coil_sensitivities(SHAPE, 8)
    phase = smooth_phase(SHAPE, np.random.default_rng(2), scale=0.5)
    s, cn, mn = _monte_carlo(clean, noise_std=1.0, coil_maps=maps, combination="roemer", phase=phase)
    rss = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    assert np.allclose(s.noise_std_map, 1.0 / rss) and np.allclose(s.g_factor, 1.0)
    assert np.allclose(s.combined_reference, clean * np.exp(1j * phase))  # with the true maps: c itself
    assert _std_agrees(cn.real.std(axis=0), s.noise_std_map) and _std_agrees(mn.std(axis=0), s.noise_std_map)
    assert not s.stationary
    assert _psd_agrees(_empirical_psd(cn.real / s.noise_std_map), s.noise_psd)
    assert not _std_agrees(cn.real.std(axis=0), np.ones(SHAPE))  # ignoring the coil shading would be caught


def test_sense_r2_std_map_and_psd():
    clean = _object()
    maps = coil_sensitivities(SHAPE, 8)
    s, cn, mn = _monte_carlo(clean, noise_std=1.0, coil_maps=maps, combination="sense", acceleration=2)
    assert np.allclose(s.combined_reference, clean)  # exact unfolding of the noise-free aliased images
    # independent formula: s * R * sqrt(diag((S^H S)^-1)) at the pixel pair (y, y + H/2)
    h = SHAPE[0] // 2
    a = np.stack([maps[:, :h], maps[:, h:]], axis=-1).transpose(1, 2, 0, 3)  # (H/2, W, N, 2)
    ginv = np.linalg.inv(np.conj(np.swapaxes(a, -1, -2)) @ a)
    expected = 2.0 * np.sqrt(np.real(np.concatenate([ginv[..., 0, 0], ginv[..., 1, 1]], axis=0)))
    assert np.allclose(s.noise_std_map, expected)
    assert _std_agrees(cn.real.std(axis=0), s.noise_std_map) and _std_agrees(mn.std(axis=0), s.noise_std_map)
    rss = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    assert np.allclose(s.noise_std_map, 2.0 * s.g_factor / rss) and s.g_factor.min() >= 1 - 1e-9
    assert not _std_agrees(cn.real.std(axis=0), s.g_factor)  # "g times s" is not the std here
    unit = cn.real / s.noise_std_map
    emp = _empirical_psd(unit)
    assert _psd_agrees(emp, s.noise_psd)
    assert not _psd_agrees(emp, np.full(SHAPE, float(np.prod(SHAPE))))  # the pair correlation is visible


@pytest.mark.parametrize("combination", ["rss", "roemer"])
def test_correlated_coils_std_map(combination):
    clean = _object()
    maps = coil_sensitivities(SHAPE, 6, rotation=0.3)
    psi = noise_correlation_matrix(6, 0.6, np.random.default_rng(5))
    assert np.allclose(np.diag(psi), 1) and np.all(np.linalg.eigvalsh(psi) > 0)
    s, cn, mn = _monte_carlo(clean, noise_std=1.0, coil_maps=maps, noise_correlation=psi, combination=combination)
    assert _std_agrees(mn.std(axis=0), s.noise_std_map)
    uncorrelated = simulate_scanner_noise(clean, rng=np.random.default_rng(0), noise_std=1.0, coil_maps=maps, combination=combination)
    assert not _std_agrees(mn.std(axis=0), uncorrelated.noise_std_map)  # the correlation matters and is caught
    if combination == "roemer":
        assert _std_agrees(cn.real.std(axis=0), s.noise_std_map)
        w = np.linalg.solve(psi, maps.reshape(6, -1))
        expected = 1.0 / np.sqrt(np.real((np.conj(maps.reshape(6, -1)) * w).sum(axis=0)))
        assert np.allclose(s.noise_std_map.ravel(), expected)
    else:
        assert s.effective_coils == pytest.approx(np.trace(psi).real ** 2 / np.trace(psi @ psi).real)


# ------------------------------------------------------------------------------------- Rician and chi statistics
def test_white_single_coil_is_rician():
    levels = np.array([0.0, 1.0, 2.0, 4.0])
    clean = np.repeat(levels, 16)[None, :].repeat(64, axis=0)  # four bands of constant A, s = 1
    rng = np.random.default_rng(7)
    m = np.stack([simulate_scanner_noise(clean, rng=rng, noise_std=1.0).noisy for _ in range(150)])
    for i, a in enumerate(levels):
        band = m[:, :, 16 * i : 16 * (i + 1)]
        x = -(a**2) / 2.0
        laguerre = (1 - x) * special.ive(0, -x / 2) - x * special.ive(1, -x / 2)  # e^{x/2}[(1-x)I0 - x I1](-x/2)
        assert laguerre == pytest.approx(special.hyp1f1(-0.5, 1, x))
        assert band.mean() == pytest.approx(np.sqrt(np.pi / 2) * laguerre, rel=0.01)
        assert (band**2).mean() == pytest.approx(a**2 + 2.0, rel=0.015)
    air = m[:, :, :16].ravel()
    assert np.mean(air < np.sqrt(2 * np.log(2))) == pytest.approx(0.5, abs=0.01)  # the Rayleigh median


def test_rss_of_white_coils_in_air_is_chi():
    n = 4
    rng = np.random.default_rng(8)
    m = np.stack([simulate_scanner_noise(np.zeros((48, 48)), rng=rng, noise_std=0.5, coils=n, combination="rss").noisy for _ in range(60)])
    m2 = m**2
    assert m2.mean() == pytest.approx(2 * n * 0.25, rel=0.02)
    assert m2.mean() ** 2 / m2.var() == pytest.approx(n, rel=0.05)


# ------------------------------------------------------------------------------------------ benchmark protocol
def _protocol(clean, z, condition, s):
    """An independent implementation of the text of BENCHMARK section 1d (with the documented readings)."""
    x = np.asarray(clean, dtype=float)
    if condition == "sense2" and x.shape[0] % 2:
        x = x[:-1]
    h, w = x.shape
    rng = np.random.default_rng(2000 + z)
    yy = np.linspace(-1, 1, h)[:, None]
    xx = np.linspace(-1, 1, w)[None, :]
    phi = np.zeros((h, w))
    for i in range(4):
        for j in range(4 - i):
            phi = phi + rng.standard_normal() * yy**i * xx**j
    c = x * np.exp(1j * phi)
    n = 8 if condition in ("sos8", "sense2") else 1
    if n == 1:
        maps = np.ones((1, h, w), dtype=complex)
    else:
        maps = []
        for k in range(n):
            a = 2 * np.pi * k / n
            r2 = (xx - 1.4 * np.sin(a)) ** 2 + (yy - 1.4 * np.cos(a)) ** 2
            maps.append(np.exp(1j * (a + 0.5 * (yy * np.cos(a) + xx * np.sin(a)))) / np.sqrt(1 + r2 / 0.6))
        maps = np.array(maps)
        maps = maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0)).max()
    f0, f1 = np.fft.fftfreq(h), np.fft.fftfreq(w)

    def hann(f, half):
        return np.where(np.abs(f) <= half, 0.5 + 0.5 * np.cos(np.pi * f / half), 0.0)

    if condition == "filtered":
        win = np.outer(hann(f0, 0.35), hann(f1, 0.35))
    elif condition == "partial_fourier":
        win = np.outer(f0 >= -0.125, np.ones(w)).astype(float)
    elif condition == "sos8":
        win = np.outer(hann(f0, 0.4), hann(f1, 0.4))
    else:
        win = np.outer(np.arange(h) % 2 == 0, np.ones(w)).astype(float)
    kstd = s * h * w / np.sqrt((win**2).sum())
    images, refs = [], []
    for k in range(n):
        kspace = np.fft.fft2(c * maps[k])
        real = rng.standard_normal((h, w))
        imag = rng.standard_normal((h, w))
        images.append(np.fft.ifft2((kspace + kstd * (real + 1j * imag)) * win))
        refs.append(np.fft.ifft2(kspace * win))
    images, refs = np.array(images), np.array(refs)
    std = np.full((h, w), s)
    if n == 1:
        noisy, ref = np.abs(images[0]), np.abs(refs[0])
    elif condition == "sos8":
        noisy, ref = np.sqrt((np.abs(images) ** 2).sum(0)), np.sqrt((np.abs(refs) ** 2).sum(0))
    else:
        half = h // 2
        a = np.stack([maps[:, :half], maps[:, half:]], axis=-1).transpose(1, 2, 0, 3) / 2  # (h/2, w, N, 2)
        pinv = np.linalg.pinv(a)

        def unfold(im):
            rho = (pinv @ im[:, :half].transpose(1, 2, 0)[..., None])[..., 0]
            return np.concatenate([rho[..., 0], rho[..., 1]], axis=0)

        noisy, ref = np.abs(unfold(images)), np.abs(unfold(refs))
        std = s * np.sqrt(np.concatenate([(np.abs(pinv[..., 0, :]) ** 2).sum(-1), (np.abs(pinv[..., 1, :]) ** 2).sum(-1)]))
    top = ref.max()
    return noisy / top, ref / top, std / top, phi, c, win


@pytest.mark.parametrize("condition", SCANNER_NOISE_CONDITIONS)
def test_benchmark_protocol_matches_its_text(condition):
    clean = _phantom()
    out = scanner_noise_slice(clean, 93, condition, 0.05)
    noisy, ref, std, phi, c, win = _protocol(clean, 93, condition, 0.05)
    assert out.noisy.shape == noisy.shape == ((32, 40) if condition == "sense2" else (33, 40))
    assert np.allclose(out.noisy, noisy, rtol=0, atol=1e-10)
    assert np.allclose(out.reference, ref, rtol=0, atol=1e-10)
    assert np.allclose(out.noise_std_map, std, rtol=1e-9, atol=0)
    assert np.allclose(out.window, win) and out.noise_std == pytest.approx(0.05 / out.scale)
    assert out.effective_coils == (8.0 if condition == "sos8" else 1.0)
    p = win.size
    if condition == "sense2":
        assert np.allclose(out.reference, clean[:-1] / clean[:-1].max(), rtol=0, atol=1e-12)
        assert not out.stationary and out.noise_psd.mean() == pytest.approx(p)
        corr = out.noise_psd[0, 0] / p - 1  # bin 0: 1 + c
        assert np.allclose(out.noise_psd, p * (1 + corr * (-1.0) ** np.arange(out.noise_psd.shape[0]))[:, None])
    else:
        assert out.stationary and np.allclose(out.noise_std_map, out.noise_std)
        sym = (win**2 + np.roll(win[::-1, ::-1], 1, axis=(0, 1)) ** 2) / 2
        assert np.allclose(out.noise_psd, sym / np.mean(win**2) * out.noise_std**2 * p)
        if condition != "partial_fourier":  # the symmetric windows: exactly the benchmark's |W|^2 formula
            assert np.allclose(out.noise_psd, win**2 / np.mean(win**2) * out.noise_std**2 * p)
        top = ref.max() * out.scale
        if condition != "sos8":  # one coil of sensitivity 1: the window's blur of |c| only
            assert np.allclose(out.reference * out.scale, np.abs(np.fft.ifft2(np.fft.fft2(c) * win)))
            assert np.abs(out.reference - clean / top).mean() < 0.03 * clean.max()


def test_benchmark_seeding_and_levels():
    clean = _phantom()
    a = scanner_noise_slice(clean, 90, "sos8", 0.1)
    b = scanner_noise_slice(clean, 90, "sos8", 0.1)
    c = scanner_noise_slice(clean, 91, "sos8", 0.1)
    assert np.array_equal(a.noisy, b.noisy)
    assert not np.allclose(a.noisy, c.noisy)
    assert not np.allclose(a.reference, c.reference)  # the phase (and so the reference) is per slice too
    one, half = scanner_noise_slice(clean, 90, "filtered", 0.1), scanner_noise_slice(clean, 90, "filtered", 0.05)
    assert np.allclose(half.combined - half.combined_reference, 0.5 * (one.combined - one.combined_reference))
    with pytest.raises(ValueError, match="unknown condition"):
        scanner_noise_slice(clean, 90, "sense4", 0.05)
    # a seed gives other draws of the same condition (training acquisitions), reproducibly; None is the protocol
    d, e = scanner_noise_slice(clean, 90, "sos8", 0.1, seed=3), scanner_noise_slice(clean, 90, "sos8", 0.1, seed=3)
    assert np.array_equal(d.noisy, e.noisy) and not np.allclose(d.noisy, a.noisy)
    assert not np.allclose(d.noisy, scanner_noise_slice(clean, 90, "sos8", 0.1, seed=4).noisy)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed"):
            scanner_noise_slice(clean, 90, "sos8", 0.1, seed=bad)
    with pytest.raises(ValueError):
        scanner_noise_slice(clean[None], 90, "filtered", 0.05)


@pytest.mark.parametrize(
    "condition, low, high",
    # one coil: about 25 dB (s' ~ 0.05 plus the Rician bias in air); 8-coil RSS: the chi bias of 2 N s^2 in air;
    # SENSE R = 2: s is the aliased coil images' std, the unfolding gives about 2 g s / rss, g ~ 2 for these maps
    [("filtered", 21, 30), ("partial_fourier", 21, 30), ("sos8", 14, 22), ("sense2", 9, 16)],
)
def test_benchmark_psnr_is_plausible(condition, low, high):
    clean = _phantom((64, 72))
    out = scanner_noise_slice(clean, 95, condition, 0.05)
    psnr = 10 * np.log10(1.0 / np.mean((out.noisy - out.reference) ** 2))
    assert low < psnr < high
    # the measured error power agrees with the analytic noise power where there is signal (high SNR)
    inside = out.reference > 0.5
    ratio = np.mean((out.noisy**2 - out.reference**2)[inside]) / np.mean(out.noise_power[inside])
    assert 0.7 < ratio < 1.3


# -------------------------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("as_torch", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_array_transform_2d(as_torch, dtype):
    img = (_object((18, 20)) / 60.0)[None].astype(dtype)
    img = torch.as_tensor(img) if as_torch else img
    t = RandScannerNoise(noise_std=(0.02, 0.05), coils=(2, 8)).set_random_state(3)
    outs = [t(img) for _ in range(8)]
    for out in outs:
        assert type(out) is type(img) and out.shape == img.shape and out.dtype == img.dtype
        assert np.isfinite(np.asarray(out)).all()
        assert t.noise_std_map.shape == tuple(img.shape) and t.reference.shape == tuple(img.shape)
    again = RandScannerNoise(noise_std=(0.02, 0.05), coils=(2, 8)).set_random_state(3)
    for out in outs:
        assert np.array_equal(np.asarray(again(img)), np.asarray(out))


def test_array_transform_3d_and_odd_sense():
    vol = np.stack([_object((17, 20)) / 60.0] * 5, axis=-1)[None].astype(np.float32)  # (1, 17, 20, 5)
    for kd in (2, 3):
        t = RandScannerNoise(noise_std=0.03, coils=(4, 6), combinations=("sense",), accelerations=(2, 3), kspace_dims=kd,
                             windows=("none",), fraction=1.0, partial_fourier_prob=0.0)  # fmt: skip
        t.set_random_state(kd)
        for _ in range(4):
            out = t(torch.as_tensor(vol))
            assert out.shape == vol.shape and out.dtype == torch.float32
            assert t.noise_std_map.shape == vol.shape and (t.noise_std_map > 0.03).all()
            assert t.noise_psd.shape == vol.shape[1 : 1 + kd]
            assert np.allclose(t.reference, vol, atol=1e-5)  # untapered SENSE unfolds the object exactly, padded and cropped back
    t = RandScannerNoise(prob=0.0)
    assert t(vol) is vol and not t.noise_std_map.any()


@pytest.mark.parametrize("window_kind, partial_fourier", [("none", 0.625), ("hann", 1.0)])
def test_correlation_lengths_are_those_of_the_complex_noise(window_kind, partial_fourier):
    """``correlation_lengths`` are the widths of ``|rho|`` of the complex noise (Monte Carlo), what the air shows; a
    real channel (the PSD's) sees ``Re rho``: the same for a symmetric window, narrower for partial Fourier."""
    clean = _object()
    w = kspace_window(SHAPE, window_kind, fraction=0.8 if window_kind == "hann" else 1.0, partial_fourier=partial_fourier, partial_fourier_axis=0)
    s, cn, _ = _monte_carlo(clean, draws=200, noise_std=1.0, window=w)
    centred = cn - cn.mean(axis=0)
    spectrum = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0)
    measured = acf_correlation_lengths(np.fft.ifft2(spectrum))
    assert np.allclose(s.correlation_lengths, measured, atol=0.08), (s.correlation_lengths, measured)
    real_channel = psd_correlation_lengths(s.noise_psd)
    if partial_fourier < 1.0:
        assert s.correlation_lengths[0] > real_channel[0] + 0.4 and s.correlation_lengths[1] == pytest.approx(1.0)
    else:
        assert np.allclose(s.correlation_lengths, real_channel, atol=1e-6)


def test_the_estimator_reads_the_air_widths_of_partial_fourier_noise():
    """Pure partial-Fourier noise (air): the blind estimate's widths are ``correlation_lengths``, not the PSD's."""
    shape = (96, 96)
    w = kspace_window(shape, "none", partial_fourier=0.625, partial_fourier_axis=0)
    sample = simulate_scanner_noise(np.zeros(shape), rng=np.random.default_rng(5), noise_std=0.05, window=w)
    estimate = estimate_noise(sample.noisy)
    assert np.allclose(estimate.correlation_lengths, sample.correlation_lengths, atol=0.15), (estimate.correlation_lengths, sample.correlation_lengths)
    assert abs(estimate.correlation_lengths[0] - psd_correlation_lengths(sample.noise_psd)[0]) > 0.4


def test_dictionary_transform():
    img = torch.as_tensor(_object((16, 20)) / 60.0, dtype=torch.float32)[None]
    t = RandScannerNoised("image", reference_key="label", noise_std_key="sigma", psd_key="psd", coils_key="coils", correlation_key="widths",
                          noise_std=0.05, combinations=("rss",), coils=8, windows=("hann",), fraction=0.8,
                          partial_fourier_prob=0.0, correlation_prob=0.0)  # fmt: skip
    t.set_random_state(0)
    d = t({"image": img, "other": 1})
    assert d["other"] == 1 and d["image"].shape == img.shape and d["image"].dtype == torch.float32
    assert d["label"].shape == img.shape and torch.allclose(d["sigma"], torch.full_like(img, 0.05))
    assert d["coils"] == 8.0 and d["psd"].shape == (16, 20)
    assert d["widths"].dtype == torch.float32 and torch.allclose(d["widths"], torch.tensor(psd_correlation_lengths(d["psd"].numpy()), dtype=torch.float32))
    w = kspace_window((16, 20), "hann", fraction=0.8)
    assert np.allclose(d["psd"].numpy(), w**2 / np.mean(w**2) * 0.05**2 * 320, rtol=1e-5)
    assert not torch.equal(d["image"], img)
    d2 = t.set_random_state(0)({"image": img})
    assert torch.equal(d2["image"], d["image"]) and "label" in d2
    off = RandScannerNoised("image", reference_key="label", prob=0.0)({"image": img})
    assert off["image"] is img and torch.equal(off["label"], img) and not off["noise_std"].any()
    with pytest.raises(ValueError, match="exactly one"):
        RandScannerNoised(["image", "label"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"coils": 0}, "coils"),
        ({"coils": 33}, "coils"),
        ({"coils": (1, 33)}, "coils"),
        ({"windows": ("gauss",)}, "window"),
        ({"combinations": ("sum",)}, "combination"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"fraction": 1.5}, "fraction"),
        ({"partial_fourier": 0.4}, "partial_fourier"),
        ({"coils": 2, "combinations": ("sense",), "accelerations": (4,)}, "sense"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        RandScannerNoise(**kwargs)
    assert "\n" not in str(err.value)


def test_bad_inputs_raise_one_line():
    img = np.ones((1, 8, 8), dtype=np.float32)
    img[0, 2, 3] = np.nan
    for call in (
        lambda: RandScannerNoise()(img),
        lambda: RandScannerNoise()(np.ones((8, 8))),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=-1.0),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, coils=33),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, coils=0),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, combination="x"),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, window="gauss"),
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, coils=4),
        lambda: simulate_scanner_noise(np.ones((9, 8)), rng=np.random.default_rng(0), noise_std=1.0, coils=4,
                                       combination="sense", acceleration=2),  # fmt: skip
        lambda: simulate_scanner_noise(np.ones((8, 8)), rng=np.random.default_rng(0), noise_std=1.0, coils=2,
                                       combination="rss", noise_correlation=np.array([[1, 2], [2, 1]])),  # fmt: skip
        lambda: simulate_scanner_noise(img[0], rng=np.random.default_rng(0), noise_std=1.0),
    ):
        with pytest.raises(ValueError) as err:
            call()
        assert "\n" not in str(err.value)


def test_kspace_windows():
    shape = (16, 20)
    for kind in ("none", "hann", "hamming", "tukey", "fermi"):
        w = kspace_window(shape, kind, fraction=0.75)
        f0 = np.fft.fftfreq(16)
        assert w.shape == shape and w[0, 0] == pytest.approx(1.0, abs=0.02) and w.min() >= 0 and w.max() <= 1
        assert not w[np.abs(f0) > 0.375].any()
    assert np.array_equal(kspace_window(shape), np.ones(shape))
    assert np.allclose(kspace_window(shape, "tukey", tukey_alpha=1.0, fraction=0.5), kspace_window(shape, "hann", fraction=0.5))
    maps = coil_sensitivities((12, 14, 5), 8)
    assert maps.shape == (8, 12, 14, 5) and np.sqrt((np.abs(maps) ** 2).sum(0)).max() == pytest.approx(1.0)
