"""Warm-starting an enlarged Neural PDE from the checkpoint of a smaller one."""

from __future__ import annotations

import pytest
import torch

from monai_nad.engines import warm_start
from monai_nad.networks import NeuralPDE
from monai_nad.transforms.noise import second_difference_noise_std


def _trained_small(tmp_path):
    torch.manual_seed(0)
    small = NeuralPDE(2, steps=3, refine=False, bias_correction=True)
    with torch.no_grad():
        for p in small.parameters():
            p.add_(0.1 * torch.randn_like(p))  # not the initialisation: the copy must be visible
    path = tmp_path / "small.pt"
    torch.save({"model": small.state_dict()}, path)
    return small, path


def test_enlarged_network_starts_where_the_small_one_ended(tmp_path):
    small, path = _trained_small(tmp_path)
    big = NeuralPDE(2, steps=3, refine=True, refine_layers=5, refine_features=24, bias_correction=True)
    warm_start(big, path)
    x = torch.rand(2, 1, 24, 20)
    level = second_difference_noise_std(x)
    with torch.no_grad():
        torch.testing.assert_close(big(x, level), small(x, level))
    # the new parts are trainable: after a step of gradient descent the output moves
    opt = torch.optim.SGD(big.parameters(), lr=0.1)
    (big(x, level) - 0.5).pow(2).mean().backward()
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(big(x, level), small(x, level))


def test_checkpoint_file_is_not_modified(tmp_path):
    _, path = _trained_small(tmp_path)
    before = path.read_bytes()
    warm_start(NeuralPDE(2, steps=3, refine=True, bias_correction=True), path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "network,match",
    [
        (NeuralPDE(2, steps=3, refine=False, bias_correction=False), "lacks.*bias_correction_logit"),
        (NeuralPDE(2, steps=3, refine=False, bias_correction=True, conduction_features=(16, 16)), "conduction_net.0.weight: checkpoint"),
    ],
)
def test_incompatible_networks_raise_naming_the_tensor(tmp_path, network, match):
    _, path = _trained_small(tmp_path)
    with pytest.raises(ValueError, match=match):
        warm_start(network, path)


def test_missing_checkpoint_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        warm_start(NeuralPDE(2, steps=1), tmp_path / "nothing.pt")


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_a_wider_noise_conditioned_pde_starts_with_the_narrow_ones_function_and_learns_in_its_new_channels(tmp_path, spatial_dims):
    from monai_nad.networks import NoiseConditionedPDE

    settings = dict(spatial_dims=spatial_dims, steps=4, groups=2, encoder_layers=3, refine_layers=2, detail_layers=3, correlation_input=True)
    torch.manual_seed(0)
    narrow = NoiseConditionedPDE(features=6, detail_features=4, **settings)
    with torch.no_grad():
        for p in narrow.parameters():
            p.add_(0.1 * torch.randn_like(p))  # the zero-initialised heads too: every path must be carried over
    torch.save({"model": narrow.state_dict()}, tmp_path / "narrow.pt")
    wide = warm_start(NoiseConditionedPDE(features=10, detail_features=7, **settings), tmp_path / "narrow.pt")
    x = torch.rand(2, 1, *([12] * spatial_dims))
    with torch.no_grad():
        torch.testing.assert_close(wide(x, 0.05, correlation=[1.5] * spatial_dims), narrow(x, 0.05, correlation=[1.5] * spatial_dims), rtol=0, atol=1e-6)
    # the new channels are not dead: they compute something, and the weights that read them get a gradient
    assert wide.encoder[0].weight[6:].abs().sum() > 0
    wide(x, 0.05, correlation=[1.5] * spatial_dims).square().mean().backward()
    assert wide.encoder[2].weight.grad[:, 6:].abs().sum() > 0 and wide.detail[2].weight.grad[:, 4:].abs().sum() > 0
    # a narrower network cannot take the wide checkpoint
    torch.save({"model": wide.state_dict()}, tmp_path / "wide.pt")
    with pytest.raises(ValueError, match="shape mismatches"):
        warm_start(NoiseConditionedPDE(features=6, detail_features=4, **settings), tmp_path / "wide.pt")


def test_a_wider_volume_model_starts_with_the_narrow_ones_function(tmp_path):
    """The volume model widened as the 2D one is (more features and a wider detail head): its slice network's
    refinement inputs are moved as the 2D network moves them, so it computes what the narrow checkpoint did."""
    from monai_nad.networks import SliceContextPDE

    settings = dict(steps=4, groups=2, encoder_layers=3, refine_layers=2, detail_layers=3, context_slices=1, slice_axis_steps=1)
    torch.manual_seed(0)
    narrow = SliceContextPDE(features=6, detail_features=4, **settings)
    with torch.no_grad():
        for p in narrow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.save({"model": narrow.state_dict()}, tmp_path / "narrow.pt")
    wide = warm_start(SliceContextPDE(features=10, detail_features=7, **settings), tmp_path / "narrow.pt")
    x = torch.rand(1, 1, 12, 12, 5)
    with torch.no_grad():
        torch.testing.assert_close(wide(x, 0.05), narrow(x, 0.05), rtol=0, atol=1e-6)
