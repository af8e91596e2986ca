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
