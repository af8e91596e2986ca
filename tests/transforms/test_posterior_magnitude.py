"""The posterior-mean signal behind an estimate of the magnitude mean: no speckle in the air, the exact inversion
elsewhere and where the floor is not seen."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import MagnitudeMeanInversion, RicianMeanInversion, with_post_correction
from monai_nad.transforms import MIN_FLOOR_PIXELS, magnitude_mean, magnitude_mean_inversion, posterior_magnitude


def _phantom(noise_std: float | torch.Tensor, coils: int, error: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A square phantom in air (dark and bright tissue) and a noisy estimate of its magnitude mean: ``E[M] + e``,
    ``e`` Gaussian of std ``error * noise_std``."""
    signal = torch.zeros(1, 1, 96, 96, dtype=torch.float64)
    signal[..., 24:72, 24:72] = 0.6
    signal[..., 40:56, 40:56] = 0.15
    generator = torch.Generator().manual_seed(seed)
    mean = magnitude_mean(signal, noise_std, coils) + error * torch.as_tensor(noise_std, dtype=torch.float64) * torch.randn(
        signal.shape, generator=generator, dtype=torch.float64)
    return signal, mean


@pytest.mark.parametrize("coils", [1, 8])
def test_air_speckle_is_removed_and_the_error_falls(coils):
    signal, mean = _phantom(0.1, coils, error=0.04)
    exact = magnitude_mean_inversion(mean, 0.1, coils=coils)
    posterior = posterior_magnitude(mean, 0.1, coils=coils)
    air = signal == 0
    assert float(posterior[air].mean()) < 0.4 * float(exact[air].mean())  # the inversion's speckle, mostly gone
    assert float(((posterior - signal) ** 2).mean()) < 0.5 * float(((exact - signal) ** 2).mean())
    tissue = signal == 0.6  # far above the floor the posterior is the inversion, up to the estimate's own error
    assert float((posterior[tissue] - exact[tissue]).abs().mean()) < 0.01
    assert bool((posterior >= 0).all()) and posterior.dtype == mean.dtype and posterior.shape == mean.shape


def test_a_per_pixel_std_map_is_used_pixel_by_pixel():
    std = torch.full((1, 1, 96, 96), 0.05, dtype=torch.float64)
    std[..., 48:, :] = 0.1  # parallel imaging: the lower half twice as noisy
    signal, mean = _phantom(std, 1, error=0.04, seed=1)
    posterior = posterior_magnitude(mean, std)
    exact = magnitude_mean_inversion(mean, std)
    air = signal == 0
    assert float(((posterior - signal)[air] ** 2).mean()) < 0.3 * float(((exact - signal)[air] ** 2).mean())


def test_without_air_the_exact_inversion_is_returned():
    signal = torch.full((1, 1, 32, 32), 0.5, dtype=torch.float64)
    signal[..., :2, :] = 0.0  # 64 pixels at the floor: fewer than the error can be read from
    assert 64 < MIN_FLOOR_PIXELS
    mean = magnitude_mean(signal, 0.1, 1) + 0.003 * torch.randn(signal.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(posterior_magnitude(mean, 0.1), magnitude_mean_inversion(mean, 0.1))


def test_each_image_of_a_batch_gets_its_own_error_and_prior():
    _, clean_estimate = _phantom(0.1, 1, error=0.005, seed=3)
    _, rough_estimate = _phantom(0.1, 1, error=0.08, seed=4)
    both = posterior_magnitude(torch.cat([clean_estimate, rough_estimate]), 0.1)
    torch.testing.assert_close(both[:1], posterior_magnitude(clean_estimate, 0.1))
    torch.testing.assert_close(both[1:], posterior_magnitude(rough_estimate, 0.1))


@pytest.mark.parametrize(
    "kwargs",
    [{"mean": torch.rand(8, 8)}, {"noise_std": 0.0}, {"noise_std": float("nan")}, {"coils": 0}, {"iterations": -1}],
)
def test_bad_arguments_are_refused(kwargs):
    arguments = {"mean": torch.rand(1, 1, 8, 8), "noise_std": 0.1, **kwargs}
    with pytest.raises(ValueError):
        posterior_magnitude(**arguments)


class _Identity(torch.nn.Module):
    """A 'denoiser' that returns what it is given: the estimate the wrappers correct."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_the_wrappers_and_the_correction_names_use_it():
    _, mean = _phantom(0.1, 1, error=0.04, seed=5)
    x = mean.float().clamp(min=0)
    expected = posterior_magnitude(x, torch.full((1, 1, 1, 1), 0.1))
    torch.testing.assert_close(RicianMeanInversion(_Identity(), posterior=True)(x, torch.tensor([[0.1]])), expected)
    torch.testing.assert_close(MagnitudeMeanInversion(_Identity(), posterior=True)(x, 0.1, coils=1), expected)
    assert with_post_correction(_Identity(), "rician_mean_posterior").posterior
    assert with_post_correction(_Identity(), "magnitude_mean_posterior").posterior
    assert not with_post_correction(_Identity(), "magnitude_mean").posterior


def test_an_image_with_a_zero_std_keeps_the_exact_inversion():
    _, mean = _phantom(0.1, 1, error=0.04, seed=6)
    x = mean.float().clamp(min=0)
    std = torch.full_like(x, 0.1)
    std[..., 0, 0] = 0.0  # a pixel left as the network returns it
    out = MagnitudeMeanInversion(_Identity(), posterior=True)(x, std, coils=1)
    torch.testing.assert_close(out, magnitude_mean_inversion(x, std))


def test_bright_pixels_keep_the_exact_inversion_and_dark_ones_are_resolved_finely():
    """A bright region (50 s) does not coarsen the grid the dark pixels are read on."""
    signal, mean = _phantom(0.1, 1, error=0.04, seed=7)
    bright = signal.clone()
    bright[..., :8, 24:72] = 5.0
    mean = mean + magnitude_mean(bright, 0.1, 1) - magnitude_mean(signal, 0.1, 1)
    posterior = posterior_magnitude(mean, 0.1)
    exact = magnitude_mean_inversion(mean, 0.1)
    high = bright == 5.0
    assert torch.equal(posterior[high], exact[high])
    dark = bright == 0.15  # 1.5 s: resolved as without the bright region
    reference = posterior_magnitude(mean.masked_fill(high, float(magnitude_mean(torch.tensor(0.6, dtype=torch.float64), 0.1, 1))), 0.1)
    assert float((posterior[dark] - reference[dark]).abs().max()) < 0.01
