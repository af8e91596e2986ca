"""A self-ensemble averages a network over orientations: exact for an equivariant network, equivariant itself at 8."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import SelfEnsemble
from monai_nad.networks.self_ensemble import orientations, turn, turn_back


def _lopsided() -> torch.nn.Module:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(9.0).reshape(1, 1, 3, 3))  # no symmetry at all
    return conv


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_turning_back_undoes_each_orientation(count):
    x = torch.rand(2, 1, 5, 7)
    for flips, transpose in orientations(count):
        assert torch.equal(turn_back(turn(x, flips, transpose), flips, transpose), x)
    assert len(set(orientations(count))) == count


def test_an_equivariant_network_is_unchanged_and_a_lopsided_one_averaged():
    x = torch.rand(2, 1, 12, 9)  # not square: the transposed passes see 9 x 12
    pool = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(SelfEnsemble(pool, 8)(x), pool(x))
    conv = _lopsided()
    mirrored = turn_back(conv(turn(x, (0,), False)), (0,), False)
    torch.testing.assert_close(SelfEnsemble(conv, 2)(x), (conv(x) + mirrored) / 2)
    assert torch.equal(SelfEnsemble(conv, 1)(x), conv(x))


def test_eight_orientations_make_any_network_equivariant():
    x = torch.rand(1, 1, 10, 10)
    ensemble = SelfEnsemble(_lopsided(), 8)
    with torch.no_grad():
        reference = ensemble(x)
        for flips, transpose in orientations(8):
            torch.testing.assert_close(ensemble(turn(x, flips, transpose)), turn(reference, flips, transpose))


def test_an_unsupported_count_is_refused():
    with pytest.raises(ValueError, match="self_ensemble must be one of"):
        SelfEnsemble(torch.nn.Identity(), 3)
