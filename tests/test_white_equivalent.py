"""The white-equivalent noise level: how the denoiser is told correlated scanner noise it was not trained on
(monai_nad.transforms.noise_map.white_equivalent_factor, ScanInferer with noise_estimate="map"), and the
fractional coil counts the networks accept for it. Small synthetic phantoms only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_nad.inference import ScanInferer
from monai_nad.networks import NoiseConditionedPDE
from monai_nad.transforms import WHITE_EQUIVALENT_GAIN, blind_noise_std, estimate_noise, psd_correlation_lengths, scanner_noise_slice, white_equivalent_factor


def _phantom(n: int = 96) -> np.ndarray:
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    img = np.where((y / 0.55) ** 2 + (x / 0.45) ** 2 <= 1, 0.6, 0.0)
    img = np.where((y / 0.45) ** 2 + (x / 0.35) ** 2 <= 1, 0.35, img)
    return np.where(((y + 0.18) / 0.15) ** 2 + ((x - 0.1) / 0.12) ** 2 <= 1, 1.0, img)


def _slab(condition: str, depth: int = 8, level: float = 0.05) -> tuple[np.ndarray, float]:
    """``(H, W, depth)`` of the phantom through the scanner-noise condition (independent noise per slice) and the
    true per-pixel std (every slice is scaled by the same reference maximum)."""
    samples = [scanner_noise_slice(_phantom(), z, condition, level) for z in range(depth)]
    return np.stack([s.noisy for s in samples], axis=-1), float(np.median(samples[0].noise_std_map))


def test_the_factor_is_one_for_white_noise_and_grows_with_the_correlation():
    assert white_equivalent_factor([1.0, 1.0], 0.75) == 1.0
    assert white_equivalent_factor([1.0, 1.0, 1.0], 0.75) == 1.0
    widths = [1.0, 1.5, 2.0, 3.0, 4.0]
    factors = [white_equivalent_factor([w, w], 0.75) for w in widths]
    assert factors == sorted(factors) and factors[-1] > 2.5
    # a Gaussian autocorrelation of FWHM w sums to about 1.06 w per axis: sqrt(P(0)) is about 1.06 w in 2D
    assert white_equivalent_factor([4.0, 4.0], 1.0) == pytest.approx(1.0 + 1.0645 * 3.0, rel=1e-3)
    # white along an axis adds nothing
    assert white_equivalent_factor([3.0, 3.0, 1.0], 0.6) == white_equivalent_factor([3.0, 3.0], 0.6)


@pytest.mark.parametrize("bad", [([-1.0, 1.0], 0.7), ([math.nan, 1.0], 0.7), ([2.0, 2.0], 0.0), ([2.0, 2.0], -1.0)])
def test_the_factor_refuses_bad_arguments(bad):
    with pytest.raises(ValueError):
        white_equivalent_factor(*bad)


@pytest.mark.parametrize("condition", ["filtered", "sos8"])
def test_a_thin_slab_of_correlated_noise_is_read_from_its_air(condition):
    volume, truth = _slab(condition)
    estimate = estimate_noise(volume)
    assert estimate.source == "air" and estimate.std == pytest.approx(truth, rel=0.10)
    assert min(estimate.correlation_lengths[:2]) > 2.5 and estimate.correlation_lengths[2] < 1.5
    assert estimate.coils == (8 if condition == "sos8" else 1)
    assert estimate.std_map.shape == volume.shape and estimate.air.shape == volume.shape


class _Recorder(torch.nn.Module):
    """Returns its input; records the level and coils it was told."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[float, float]] = []

    def forward(self, x: torch.Tensor, noise_std=None, coils=1) -> torch.Tensor:
        self.told.append((float(torch.as_tensor(noise_std).median()), float(torch.as_tensor(coils).flatten()[0])))
        return x


@pytest.mark.parametrize("model", ["2d", "3d"])
def test_correlated_noise_is_told_as_white_noise_with_its_own_magnitude_bias(model):
    volume, truth = _slab("sos8")
    x = torch.from_numpy(volume.astype(np.float32))[None, None]
    net2d, net3d = _Recorder(), _Recorder()
    inferer = ScanInferer(volume_network=net3d, mode=model, noise_estimate="map")
    inferer(x, net2d)
    told = (net2d if model == "2d" else net3d).told
    factor = inferer.last_noise[0]["white_equivalent_factor"]
    assert factor > 1.5  # Hann over 80 % of k-space: correlated over about 3 pixels
    for level, coils in told:
        assert level == pytest.approx(factor * truth, rel=0.12)
        assert coils * level**2 == pytest.approx(8 * truth**2, rel=0.25)  # the bias 2 N s^2 of the true level
    untouched = ScanInferer(volume_network=_Recorder(), mode="2d", noise_estimate="map", white_gain={"2d": 0, "3d": 0})
    plain = _Recorder()
    untouched(x, plain)
    assert plain.told[0][0] == pytest.approx(truth, rel=0.12) and plain.told[0][1] == 8


def test_white_rician_noise_is_told_as_it_is():
    rng = np.random.default_rng(0)
    clean = np.repeat(_phantom()[..., None], 8, axis=-1)
    noisy = np.abs(clean + 0.04 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
    inferer = ScanInferer(volume_network=_Recorder(), mode="2d", noise_estimate="map")
    net = _Recorder()
    inferer(torch.from_numpy(noisy.astype(np.float32))[None, None], net)
    assert inferer.last_noise[0]["white_equivalent_factor"] == 1.0
    assert net.told[0] == (pytest.approx(0.04, rel=0.1), 1.0)


def test_networks_take_a_fractional_coil_count_a_blind_estimate_an_integer_one():
    net = NoiseConditionedPDE(spatial_dims=2).eval()
    x = torch.rand(1, 1, 32, 32) + 0.1
    with torch.no_grad():
        same = net(x, noise_std=0.1, coils=1), net(x, noise_std=0.1, coils=1.0)
        assert torch.equal(*same)
        assert net(x, noise_std=0.2, coils=0.25).shape == x.shape  # 2 N s^2 of s = 0.1, N = 1
        for bad in (0, -1.0, math.nan):
            with pytest.raises(ValueError):
                net(x, noise_std=0.1, coils=bad)
        with pytest.raises(ValueError, match="coils"):
            blind_noise_std(x, coils=0.5)  # a blind estimate needs an integer count


@pytest.mark.parametrize("condition", ["filtered", "sos8", "partial_fourier"])
def test_the_widths_of_a_true_psd_are_what_the_estimator_reads_from_the_air(condition):
    """Training tells the white-equivalent level from the simulation's true PSD; inference from the widths the
    estimator measures: the two levels agree (the widths of a white PSD are 1). Partial Fourier's PSD is that of the
    real channel, narrower than the ``|rho|`` read from the air's power, but both tell ``f = 1``."""
    assert psd_correlation_lengths(np.ones((64, 64))) == (1.0, 1.0)
    assert psd_correlation_lengths(np.zeros((32, 32))) == (1.0, 1.0)
    volume, _ = _slab(condition)
    measured = estimate_noise(volume).correlation_lengths[:2]
    true = psd_correlation_lengths(scanner_noise_slice(_phantom(), 0, condition, 0.05).noise_psd)
    if condition != "partial_fourier":
        assert true == pytest.approx(measured, rel=0.2, abs=0.2)
    for gain in WHITE_EQUIVALENT_GAIN.values():
        assert white_equivalent_factor(true, gain) == pytest.approx(white_equivalent_factor(measured, gain), rel=0.15)


class _WidthRecorder(_Recorder):
    """A 2D network that also reads the correlation widths: records them."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[list[float]] = []

    def forward(self, x: torch.Tensor, noise_std=None, coils=1, correlation=None) -> torch.Tensor:
        self.widths.append(torch.as_tensor(correlation).reshape(-1).tolist())
        return super().forward(x, noise_std, coils)


@pytest.mark.parametrize("condition, correlated", [("filtered", (True, True)), ("partial_fourier", (True, False))])
def test_a_2d_network_that_reads_the_correlation_is_told_the_widths_in_the_slice_plane(condition, correlated):
    """The estimated widths of the slice's two axes reach the 2D network (not the one across slices): both above 1
    for a Hann window, only along axis 0 for partial Fourier (5/8 of axis 0 acquired)."""
    volume, _ = _slab(condition)
    net = _WidthRecorder()
    ScanInferer(volume_network=_Recorder(), mode="2d", noise_estimate="map")(torch.from_numpy(volume.astype(np.float32))[None, None], net)
    assert net.widths and all(len(w) == 2 for w in net.widths)
    for width, expected in zip(net.widths[0], correlated):
        assert (width > 1.3) == expected


def test_the_volume_model_is_told_the_widths_in_the_plane_of_its_slices():
    """A volume network that reads the correlation gets the estimated widths of the two in-plane axes (both above 1 for
    a Hann window), not the one across its slices."""
    volume, _ = _slab("filtered")
    net3d = _WidthRecorder()
    ScanInferer(volume_network=net3d, mode="3d", noise_estimate="map")(torch.from_numpy(volume.astype(np.float32))[None, None], _Recorder())
    assert net3d.widths and all(len(w) == 2 and min(w) > 1.3 for w in net3d.widths)
