"""The slice-wise inferer hands each slice its own part of a per-voxel noise map."""

from __future__ import annotations

import pytest
import torch

from monai_nad.inference.inferer import SliceWiseInferer


class _EchoLevel(torch.nn.Module):
    """Returns the noise level it was told, as an image: what reached each slice."""

    def forward(self, x: torch.Tensor, noise_std=None, coils: int = 1) -> torch.Tensor:
        level = torch.as_tensor(noise_std, dtype=x.dtype)
        return torch.zeros_like(x) + (level if level.shape == x.shape else level.reshape(-1, 1, 1, 1))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_noise_map_is_sliced_with_the_volume(axis):
    volume = torch.rand(2, 1, 6, 5, 4)
    noise_map = torch.rand(2, 1, 6, 5, 4)
    out = SliceWiseInferer(axis=axis, batch_size=3)(volume, _EchoLevel(), noise_std=noise_map)
    torch.testing.assert_close(out, noise_map)


def test_one_level_per_volume_still_reaches_every_slice():
    out = SliceWiseInferer(axis=1)(torch.rand(2, 1, 6, 5, 4), _EchoLevel(), noise_std=torch.tensor([0.1, 0.2]))
    torch.testing.assert_close(out[0], torch.full_like(out[0], 0.1))
    torch.testing.assert_close(out[1], torch.full_like(out[1], 0.2))


def test_a_series_takes_one_map_per_volume():
    series = torch.rand(1, 3, 6, 5, 4)
    noise_map = torch.rand(1, 3, 6, 5, 4)

    class OneChannel(_EchoLevel):
        in_channels = 1

    torch.testing.assert_close(SliceWiseInferer(axis=2)(series, OneChannel(), noise_std=noise_map), noise_map)
