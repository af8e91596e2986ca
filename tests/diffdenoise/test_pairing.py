"""DiffDenoise's training pairs: with ``pairing="independent"`` the target carries noise independent of the condition's input."""

from __future__ import annotations

import pytest
import torch

from monai_nad.data.mni import mni_slices
from monai_nad.diffdenoise import (
    BlindSpotConditiond,
    ConcatConditionPrepareBatch,
    diffusion_inputs,
    diffusion_training_items,
    from_diffusion_range,
    pairing_target_key,
)
from monai_nad.networks import BlindSpotNetwork, robust_intensity_scale


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.mark.parametrize("pairing, expected", [("independent", 0.0), ("same", 1.0)])
def test_target_noise_against_the_condition_inputs_noise(pairing, expected):
    torch.manual_seed(0)
    bsn = BlindSpotNetwork(2, features=4, depth=1)
    item = diffusion_training_items(pairing, "train", ["rician_0.05"], per_slice=1, seed=0, limit=1)[0]
    clean = torch.as_tensor(mni_slices("train")[0]["image"])
    y_a = torch.as_tensor(item["image"])
    out = BlindSpotConditiond("image", network=bsn, target_key=pairing_target_key(pairing))(item)
    assert set(out) >= {"image", "condition"} and "image_b" not in out  # the copy became the target
    scale = robust_intensity_scale(y_a[None])[0]
    target = from_diffusion_range(out["image"]) * scale  # the target in image units
    # the condition is always made from y_a
    assert torch.allclose(out["condition"], diffusion_inputs(y_a[None], bsn)[1][0])
    mask = clean > 0.05  # Rician noise on the background is not zero-mean; score the head
    corr = _corr((target - clean)[mask], (y_a - clean)[mask])
    assert corr == pytest.approx(expected, abs=0.05)
    # the same noise condition and level for both copies
    assert (target - clean)[mask].std() == pytest.approx(float((y_a - clean)[mask].std()), rel=0.05)


def test_pairing_names_and_timestep_range():
    with pytest.raises(ValueError, match="unknown pairing"):
        pairing_target_key("crossed")
    item = {"image": torch.rand(1, 8, 8)}
    with pytest.raises(KeyError, match="image_b"):
        BlindSpotConditiond("image", network=BlindSpotNetwork(2, features=4, depth=1), target_key="image_b")(item)
    steps = ConcatConditionPrepareBatch(1000, min_timestep=30).get_timesteps(torch.zeros(4096, 1, 2, 2))
    assert int(steps.min()) >= 30 and int(steps.max()) < 1000
    with pytest.raises(ValueError, match="min_timestep"):
        ConcatConditionPrepareBatch(1000, min_timestep=1000)


def test_noisy_image_condition_is_the_estimate_then_the_noisy_copy_and_needs_an_independent_target():
    torch.manual_seed(0)
    bsn = BlindSpotNetwork(2, features=4, depth=1)
    item = diffusion_training_items("independent", "train", ["rician_0.05"], per_slice=1, seed=0, limit=1)[0]
    y_a = torch.as_tensor(item["image"])
    out = BlindSpotConditiond("image", network=bsn, target_key=pairing_target_key("independent"), with_noisy=True)(item)
    assert out["condition"].shape == (2, *y_a.shape[1:]) and out["image"].shape == y_a.shape
    target, condition, scale = diffusion_inputs(y_a[None], bsn)
    assert torch.allclose(out["condition"][:1], condition[0])  # first the blind-spot estimate, as without the image
    assert torch.allclose(from_diffusion_range(out["condition"][1:]) * scale[0], y_a, atol=1e-5)  # then y_a itself
    with pytest.raises(ValueError, match="independent target"):  # conditioned on its own target it would copy it
        BlindSpotConditiond("image", network=bsn, with_noisy=True)
