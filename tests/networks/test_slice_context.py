"""The volume model: a 2D Neural PDE per slice guided by its neighbouring slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.engines import warm_start, widen_input_channels
from monai_nad.networks import NoiseConditionedPDE, SliceContextPDE, reflected_neighbours

SMALL = {"features": 8, "encoder_layers": 2, "refine_layers": 2, "steps": 4, "groups": 2, "detail_layers": 2, "detail_features": 4}


def _volume(shape=(24, 20, 7), level=0.05, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    clean = ((x**2 + y**2 + 0.3 * z**2) < 0.6).astype(np.float64) * (0.5 + 0.3 * np.cos(4 * x))
    noisy = np.sqrt((clean + level * rng.standard_normal(shape)) ** 2 + (level * rng.standard_normal(shape)) ** 2)
    return torch.from_numpy(noisy.astype(np.float32))[None, None]


@given(depth=st.integers(1, 12), k=st.integers(1, 3))
@settings(max_examples=40, deadline=None)
def test_neighbours_are_valid_slices_mirrored_at_the_ends(depth, k):
    index = reflected_neighbours(depth, k)
    assert index.shape == (depth, 2 * k)
    assert int(index.min()) >= 0 and int(index.max()) < depth
    for z in range(depth):
        for j, offset in enumerate([o for o in range(-k, k + 1) if o != 0]):
            if 0 <= z + offset < depth:  # inside the volume: the true neighbour
                assert int(index[z, j]) == z + offset
    if depth > 2 * k:  # mirroring never hands a slice its own noise back
        assert all(z not in index[z].tolist() for z in range(depth))


def test_warm_started_from_a_2d_checkpoint_it_is_the_2d_model_slice_by_slice(tmp_path):
    """Zero weights on the new context inputs: fine-tuning starts from exactly the 2D model."""
    torch.manual_seed(0)
    flat = NoiseConditionedPDE(2, **SMALL).eval()
    torch.save(flat.state_dict(), tmp_path / "flat.pt")
    volume_net = warm_start(SliceContextPDE(context_slices=2, **SMALL), tmp_path / "flat.pt").eval()
    x = _volume()
    with torch.no_grad():
        together = volume_net(x, noise_std=0.05)
        alone = torch.stack([flat(x[..., z], noise_std=0.05) for z in range(x.shape[-1])], dim=-1)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-6)


def test_widening_keeps_old_weights_and_zeros_the_new_inputs(tmp_path):
    old = {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}
    target = {"conv.weight": torch.empty(4, 7, 3, 3), "conv.bias": torch.empty(4)}
    wide = widen_input_channels(old, target)
    assert wide["conv.weight"].shape == (4, 7, 3, 3)
    torch.testing.assert_close(wide["conv.weight"][:, :3], old["conv.weight"])
    assert not wide["conv.weight"][:, 3:].any()
    assert wide["conv.bias"] is old["conv.bias"]
    torch.save({"slice_network.encoder.0.weight": torch.randn(99, 12, 3, 3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="shape mismatches"):  # other output channels: no widening
        warm_start(SliceContextPDE(**SMALL), tmp_path / "other.pt")


def test_context_changes_the_result_once_trained_and_the_neighbours_matter():
    """With non-zero context weights the output of a slice depends on its neighbours (and on nothing farther)."""
    torch.manual_seed(1)
    net = SliceContextPDE(context_slices=1, **SMALL).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.add_(0.05 * torch.randn_like(module.weight))
    x = _volume(shape=(20, 18, 6))
    changed = x.clone()
    changed[..., 4] += 0.2  # slice 4 is a neighbour of 3 and 5 only
    with torch.no_grad():
        a, b = net(x, noise_std=0.05), net(changed, noise_std=0.05)
    moved = (a - b).abs().amax(dim=(0, 1, 2, 3))
    assert moved[3] > 1e-4 and moved[5] > 1e-4
    assert moved[0] == 0 and moved[1] == 0  # not neighbours of slice 4


def test_slice_chunks_do_not_change_the_result():
    torch.manual_seed(2)
    x = _volume(shape=(16, 16, 9))
    whole = SliceContextPDE(context_slices=2, slice_batch=64, **SMALL).eval()
    chunked = SliceContextPDE(context_slices=2, slice_batch=64, pixel_budget=16 * 16 * 2, **SMALL).eval()
    chunked.load_state_dict(whole.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(chunked(x, noise_std=0.05), whole(x, noise_std=0.05), rtol=0, atol=1e-6)


def test_blind_estimate_is_one_level_per_volume_and_scale_equivariance():
    from monai_nad.transforms.noise import blind_noise_std, estimate_noise_std

    torch.manual_seed(3)
    net = SliceContextPDE(**SMALL).eval()
    x = _volume(level=0.08)
    with torch.no_grad():
        blind = blind_noise_std(x)
        assert blind.shape == (1, 1)
        out = net(x, noise_std=blind)
        level = float(estimate_noise_std(x)[0, 0])  # one estimate from every voxel of the volume
        torch.testing.assert_close(out, net(x, noise_std=level), rtol=0, atol=1e-6)
        with pytest.raises(ValueError, match="blind_noise_std"):
            net(x, noise_std=None)  # the network never estimates it
        torch.testing.assert_close(net(7.0 * x, noise_std=7.0 * level), 7.0 * out, rtol=1e-4, atol=1e-5)
    assert out.shape == x.shape and torch.isfinite(out).all() and out.min() >= 0


def test_bad_inputs_are_named():
    net = SliceContextPDE(**SMALL)
    with pytest.raises(ValueError, match="spatial_dims=3"):
        net(torch.rand(1, 1, 16, 16), noise_std=0.05)
    with pytest.raises(ValueError, match="channels"):
        net(torch.rand(1, 2, 16, 16, 4), noise_std=0.05)
    with pytest.raises(ValueError, match="in-plane size"):
        net(torch.rand(1, 1, 2, 16, 4), noise_std=0.05)
    with pytest.raises(ValueError, match="context_slices"):
        SliceContextPDE(context_slices=0)
    with pytest.raises(ValueError, match="one-channel volumes"):
        SliceContextPDE(spatial_dims=2)


def test_the_volumetric_head_starts_at_zero_and_its_blocks_equal_one_pass(tmp_path):
    """A volumetric head added to a trained volume model changes nothing until trained; trained, its result does not
    depend on the block size it runs in (the halo covers its receptive field)."""
    torch.manual_seed(4)
    plain = SliceContextPDE(**SMALL).eval()
    torch.save(plain.state_dict(), tmp_path / "plain.pt")
    headed = warm_start(SliceContextPDE(volume_layers=3, **SMALL), tmp_path / "plain.pt").eval()
    x = _volume(shape=(20, 18, 11))
    with torch.no_grad():
        torch.testing.assert_close(headed(x, noise_std=0.05), plain(x, noise_std=0.05), rtol=0, atol=1e-6)
        for module in headed.volume_head.modules():
            if isinstance(module, torch.nn.Conv3d):
                module.weight.normal_(0, 0.05)
        headed.slice_batch = 64
        one_pass = headed(x, noise_std=0.05)
        headed.slice_batch = 3
        blocks = headed(x, noise_std=0.05)
    torch.testing.assert_close(blocks, one_pass, rtol=0, atol=1e-6)
    assert (one_pass - plain(x, noise_std=0.05)).abs().max() > 1e-4


def test_more_context_slices_warm_start_to_the_same_function(tmp_path):
    """A checkpoint with k context slices initialises a network with k' > k: the old weights keep their offsets and
    the outer slices start at zero, so the output is unchanged (then training can use them)."""
    torch.manual_seed(0)
    small = SliceContextPDE(context_slices=1, **SMALL).eval()
    with torch.no_grad():  # trained-like context weights, not the zero start
        for p in small.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save(small.state_dict(), tmp_path / "k1.pt")
    wide = warm_start(SliceContextPDE(context_slices=3, **SMALL), tmp_path / "k1.pt").eval()
    x = _volume(shape=(24, 20, 9))
    with torch.no_grad():
        torch.testing.assert_close(wide(x, noise_std=0.05), small(x, noise_std=0.05), rtol=0, atol=1e-5)
        wide.slice_network.encoder[0].weight.add_(0.1)  # and the new inputs are live
        assert not torch.allclose(wide(x, noise_std=0.05), small(x, noise_std=0.05), atol=1e-4)


def test_the_slice_network_reads_the_in_plane_correlation_widths():
    """Built with correlation_input, the volume model hands its slice network the widths of H and W (a third width,
    across the slices, is not the slices' own); without it, widths change nothing."""
    import torch

    from monai_nad.networks import SliceContextPDE

    torch.manual_seed(0)
    kwargs = dict(context_slices=1, features=8, encoder_layers=2, refine_layers=2, steps=4, groups=2)
    net = SliceContextPDE(**kwargs, correlation_input=True).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    x = torch.rand(2, 1, 12, 10, 4)
    with torch.no_grad():
        white = net(x, noise_std=0.05)
        torch.testing.assert_close(net(x, noise_std=0.05, correlation=[1.0, 1.0, 3.0]), white)
        wide = net(x, noise_std=0.05, correlation=torch.tensor([[1.0, 1.0, 1.0], [3.0, 2.0, 1.0]]))
        torch.testing.assert_close(wide[:1], white[:1])
        assert not torch.allclose(wide[1:], white[1:], atol=1e-5)
        plain = SliceContextPDE(**kwargs).eval()
        torch.testing.assert_close(plain(x, noise_std=0.05, correlation=[3.0, 2.0, 1.0]), plain(x, noise_std=0.05))
