"""The training-noise mix: the share of one-coil partial-Fourier acquisitions among the simulated ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_nad.transforms import scanner_noise_pairs, training_noise_pairs


def _is_one_coil_partial_fourier(item: dict) -> bool:
    """One coil, and noise correlated along exactly one axis (partial Fourier without taper or reduced extent)."""
    widths = [float(w) for w in item["widths"]]
    return float(item["coils"]) == 1.0 and sorted(w == 1.0 for w in widths) == [False, True]


def _share(partial_fourier_share: float, draws: int = 40) -> float:
    pairs = scanner_noise_pairs((0.02, 0.1), widths_key="widths", partial_fourier_share=partial_fourier_share)
    pairs.set_random_state(7)
    clean = torch.zeros(1, 32, 32)
    clean[:, 8:24, 6:26] = 0.8
    return float(np.mean([_is_one_coil_partial_fourier(pairs({"image": clean.clone()})) for _ in range(draws)]))


def test_partial_fourier_share_sets_how_often_the_benchmark_like_acquisition_is_drawn():
    many, default = _share(0.9), _share(0.0)
    assert many >= 0.75, many
    assert default <= 0.2, default
    assert many > default + 0.5


def test_partial_fourier_pairs_are_one_coil_magnitude_with_a_std_map_and_a_reference():
    pairs = scanner_noise_pairs((0.05, 0.05), widths_key="widths", partial_fourier_share=0.99)
    pairs.set_random_state(3)
    clean = torch.zeros(1, 32, 32)
    clean[:, 8:24, 6:26] = 0.8
    item = pairs({"image": clean})
    assert item["image"].shape == item["label"].shape == item["noise_std"].shape == (1, 32, 32)
    assert float(item["image"].min()) >= 0.0  # a magnitude image
    assert float((item["label"] - clean).abs().max()) > 1e-3  # the reference through partial Fourier, not the clean patch


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_partial_fourier_share_outside_its_range_is_refused(share):
    with pytest.raises(ValueError, match="partial_fourier_share"):
        scanner_noise_pairs(partial_fourier_share=share)
    with pytest.raises(ValueError, match="partial_fourier_share"):
        training_noise_pairs((0.01, 0.1), 0.3, 0.3, 0.0, partial_fourier_share=share)
