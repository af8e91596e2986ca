"""The one inversion of the magnitude's mean (transforms.noise.magnitude_mean_inversion) and its two users."""

from __future__ import annotations

import math

import torch

from monai_nad.networks import rician_mean, rician_mean_inversion
from monai_nad.transforms import magnitude_mean_inversion
from monai_nad.transforms.noise import _chi_mean


def test_it_recovers_the_signal_from_the_mean_of_rician_and_chi_magnitudes():
    a = torch.cat([torch.linspace(0.02, 1.0, 50), torch.linspace(1.0, 60.0, 300)]).double()
    for coils in (1, 4):
        mean = torch.as_tensor(_chi_mean(a.numpy(), coils)) * 0.1
        back = magnitude_mean_inversion(mean, 0.1, coils) / 0.1
        assert float((back - a).abs().max()) < 1.3e-3  # the first table step above the floor is the worst
        assert float((back - a)[a >= 1.0].abs().max()) < 5e-5
    floor = math.sqrt(math.pi / 2.0) * 0.1
    below = torch.tensor([0.0, 0.5 * floor, floor], dtype=torch.float64)
    assert torch.equal(magnitude_mean_inversion(below, 0.1), torch.zeros(3, dtype=torch.float64))


def test_a_map_of_noise_levels_broadcasts_and_zero_leaves_the_mean():
    mean = torch.full((2, 1, 4, 4), 0.5)
    noise_std = torch.tensor([0.1, 0.0]).reshape(2, 1, 1, 1)
    out = magnitude_mean_inversion(mean, noise_std)
    assert out.dtype == torch.float32 and out.shape == mean.shape
    assert torch.equal(out[1], mean[1]) and bool((out[0] < 0.5).all())


def test_the_rician_post_correction_is_the_same_inversion_on_its_coarser_table():
    a = torch.linspace(0.0, 45.0, 2001, dtype=torch.float64)
    m = (rician_mean(a) * 0.05).reshape(1, 1, -1)
    s = torch.tensor([[0.05]], dtype=torch.float64)
    torch.testing.assert_close(rician_mean_inversion(m, s), magnitude_mean_inversion(m, 0.05, 1, points=4001), rtol=0, atol=0)
    # the finer default table is at least as close to the truth everywhere on this grid (up to the tables' formulas)
    fine = (magnitude_mean_inversion(m, 0.05)[0, 0] - a * 0.05).abs()
    coarse = (rician_mean_inversion(m, s)[0, 0] - a * 0.05).abs()
    assert bool((fine <= coarse + 1e-9).all()) and float(fine.max()) < float(coarse.max())
