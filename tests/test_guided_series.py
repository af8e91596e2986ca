"""The training-free series-aware try (monai_nad.experiments.guided_series): the low-rank guide, and the encoder swap
that changes nothing when the guide is the series itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_nad.experiments.guided_series import EncoderSwap, GuidedSeriesDenoiser, low_rank_guide
from monai_nad.experiments.volume_benchmark import shipped_models


def test_low_rank_guide():
    rng = np.random.default_rng(0)
    series = rng.uniform(0, 1, (6, 5, 4, 7)).astype(np.float32)
    np.testing.assert_allclose(low_rank_guide(series, 7), series, atol=1e-5)  # full rank: the series itself
    one = np.einsum("xyz,v->xyzv", rng.uniform(0, 1, (6, 5, 4)), rng.uniform(0.5, 1, 7)).astype(np.float32)
    np.testing.assert_allclose(low_rank_guide(one + 0 * series, 1), one, atol=1e-5)
    with pytest.raises(ValueError, match="rank"):
        low_rank_guide(series, 0)


def test_a_guide_equal_to_the_volume_gives_the_plain_result():
    _, net3d = shipped_models()
    rng = np.random.default_rng(1)
    clean = np.zeros((24, 20, 6, 3), np.float32)
    clean[5:19, 4:16] = [1.0, 0.6, 0.3]
    series = np.sqrt((clean + rng.normal(0, 0.05, clean.shape)) ** 2 + rng.normal(0, 0.05, clean.shape) ** 2).astype(np.float32)
    swap = EncoderSwap(net3d.slice_network.encoder)
    x = torch.from_numpy(np.ascontiguousarray(series[..., 0]))[None, None]
    with torch.no_grad():
        plain = net3d(x, noise_std=0.05)
        swap.run("record", lambda: net3d(x, noise_std=0.05))
        replayed = swap.run("replay", lambda: net3d(x, noise_std=0.05))
        swap.remove()
        other = torch.from_numpy(np.ascontiguousarray(series[..., 2]))[None, None]
        swap = EncoderSwap(net3d.slice_network.encoder)
        swap.run("record", lambda: net3d(other, noise_std=0.05))
        guided = swap.run("replay", lambda: net3d(x, noise_std=0.05))
        swap.remove()
    torch.testing.assert_close(replayed, plain)
    assert not torch.allclose(guided, plain)  # another guide: other conductances
    out = GuidedSeriesDenoiser(net3d, rank=3)(series)
    assert out.shape == series.shape and np.isfinite(out).all()
    assert not net3d.slice_network.encoder._forward_pre_hooks  # every hook removed
