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


class _EchoWidths(torch.nn.Module):
    """Returns the first correlation width it was told (0 when none), as an image."""

    def forward(self, x: torch.Tensor, noise_std=None, coils: int = 1, correlation=None) -> torch.Tensor:
        if correlation is None:
            return torch.zeros_like(x)
        widths = torch.as_tensor(correlation, dtype=x.dtype).reshape(-1, 2)
        return torch.zeros_like(x) + widths[:, :1].reshape(-1, 1, 1, 1)


def test_correlation_widths_reach_the_slices_of_their_scan():
    """One row of widths per scan reaches every slice of that scan (batches of slices may span two scans); a network
    that takes no widths is not given any."""
    out = SliceWiseInferer(axis=2, batch_size=3)(torch.rand(2, 1, 6, 5, 4), _EchoWidths(), noise_std=0.1, correlation=torch.tensor([[2.0, 1.0], [3.0, 1.0]]))
    torch.testing.assert_close(out[0], torch.full_like(out[0], 2.0))
    torch.testing.assert_close(out[1], torch.full_like(out[1], 3.0))
    image = SliceWiseInferer()(torch.rand(2, 1, 6, 5), _EchoWidths(), noise_std=0.1, correlation=[4.0, 1.0])
    torch.testing.assert_close(image, torch.full_like(image, 4.0))
    level = SliceWiseInferer(axis=2)(torch.rand(1, 1, 6, 5, 4), _EchoLevel(), noise_std=0.1, correlation=[4.0, 1.0])
    torch.testing.assert_close(level, torch.full_like(level, 0.1))


class _CountingEcho(_EchoLevel):
    """:class:`_EchoLevel` that records the pixels of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor, noise_std=None, coils: int = 1) -> torch.Tensor:
        self.calls.append(x.shape[0] * x.shape[-2] * x.shape[-1])
        return super().forward(x, noise_std, coils)


@pytest.mark.parametrize("pixels, expected_calls", [(60, 7), (30, 14), (10, 14), (None, 1)])
def test_cpu_calls_keep_to_the_pixel_budget_with_the_same_result(pixels, expected_calls):
    volume, noise_map = torch.rand(2, 1, 6, 5, 7), torch.rand(2, 1, 6, 5, 7)  # 14 slices of 30 pixels
    network = _CountingEcho()
    out = SliceWiseInferer(axis=2, batch_size=16, cpu_batch_pixels=pixels)(volume, network, noise_std=noise_map)
    torch.testing.assert_close(out, noise_map)
    assert len(network.calls) == expected_calls
    assert pixels is None or max(network.calls) <= max(pixels, 30)  # one slice per call at least
