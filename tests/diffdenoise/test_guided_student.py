"""The guided student: it starts as the blind-spot estimate, trains and saves only its correction, and is scale-equivariant."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import UNet

from monai_nad.diffdenoise import GuidedStudent
from monai_nad.networks import BlindSpotNetwork, robust_intensity_scale


def student() -> GuidedStudent:
    torch.manual_seed(0)
    return GuidedStudent(BlindSpotNetwork(2, features=4, depth=1), UNet(2, 2, 1, (4, 8), (2,), num_res_units=1))


def test_untrained_student_returns_the_blind_spot_estimate():
    model = student().eval()
    x = torch.rand(2, 1, 13, 11)  # not a multiple of the size divisor: padded and cropped back
    scale = robust_intensity_scale(x)
    expected = model.blind_spot(x / scale) * scale
    torch.testing.assert_close(model(x), expected)


def test_training_changes_the_correction_only():
    model = student().train()
    assert not model.blind_spot.training  # the frozen network stays in evaluation mode
    frozen = {k: v.clone() for k, v in model.blind_spot.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, target = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.l1_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert float(model.gain.abs()) > 0
    for key, value in model.blind_spot.state_dict().items():
        torch.testing.assert_close(value, frozen[key])


def test_scale_equivariance_and_state_dict_round_trip():
    model = student()
    with torch.no_grad():
        model.gain.fill_(0.5)
    model.eval()
    x = torch.rand(1, 1, 16, 20)
    torch.testing.assert_close(model(3.0 * x), 3.0 * model(x), rtol=1e-4, atol=1e-5)
    state = model.state_dict()
    assert not [k for k in state if k.startswith("blind_spot.")]  # the frozen network's weights are not the student's
    copy = student()
    copy.load_state_dict(state)  # strict: a student's state loads without them, the copy keeps its own blind-spot network
    torch.testing.assert_close(copy.eval()(x), model(x))
    with pytest.raises(RuntimeError, match="gain"):
        copy.load_state_dict({k: v for k, v in state.items() if k != "gain"})


def test_bad_batch_is_named():
    with pytest.raises(ValueError, match="batch"):
        student()(torch.rand(16, 16))
