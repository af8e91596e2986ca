"""Noise2Self masking and its loss: the target pixels are hidden from the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_nad.losses import MaskedLoss
from monai_nad.transforms import BlindSpotMaskd, neighbour_mean, ring_mean


def test_mask_grid_label_and_replacement():
    t = BlindSpotMaskd(stride=4)
    t.set_random_state(0)
    noisy = torch.rand(1, 20, 24)
    data = {"image": noisy, "label": torch.zeros(1, 20, 24), "id": "a"}
    out = t(data)
    mask = out["label"][1]
    assert out["label"].shape == (2, 20, 24) and torch.equal(out["label"][:1], noisy)
    assert mask.sum() == 5 * 6  # one pixel per 4x4 cell
    hidden = mask > 0
    torch.testing.assert_close(out["image"][0][hidden], neighbour_mean(noisy)[0][hidden])
    assert torch.equal(out["image"][0][~hidden], noisy[0][~hidden])
    assert torch.equal(data["image"], noisy) and data["label"].abs().sum() == 0  # input untouched


def test_hidden_inputs_do_not_depend_on_their_own_values():
    """J-invariance of the input: changing a hidden pixel's noisy value changes no hidden input value."""
    t = BlindSpotMaskd(stride=3)
    noisy = torch.rand(1, 15, 15)
    t.set_random_state(5)
    first = t({"image": noisy})
    hidden = first["label"][1] > 0
    changed = noisy.clone()
    changed[0][hidden] += 10.0
    t.set_random_state(5)
    second = t({"image": changed})
    torch.testing.assert_close(second["image"][0][hidden], first["image"][0][hidden])


def test_3d_and_numpy_inputs():
    t = BlindSpotMaskd(stride=2)
    out = t({"image": np.random.default_rng(0).random((1, 6, 6, 6)).astype(np.float32)})
    assert isinstance(out["image"], np.ndarray) and out["label"].shape == (2, 6, 6, 6)
    assert out["label"][1].sum() == 27


def test_masked_loss_counts_hidden_pixels_only():
    pred = torch.zeros(1, 1, 4, 4)
    noisy = torch.ones(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    noisy[..., 1, 1] = 100.0  # not hidden: must not count
    target = torch.cat([noisy, mask], 1)
    assert MaskedLoss()(pred, target) == 1.0
    assert MaskedLoss("l1")(pred - 2, target) == 3.0


def test_errors_are_named():
    with pytest.raises(ValueError, match="stride"):
        BlindSpotMaskd(stride=1)
    with pytest.raises(ValueError, match="BlindSpotMaskd"):
        MaskedLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="hides no pixel"):
        MaskedLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(KeyError, match="available keys"):
        BlindSpotMaskd()({"img": torch.zeros(1, 4, 4)})


def test_noise2self_training_denoises_without_clean_images():
    """A small CNN trained with mask + masked loss on noisy images only ends closer to the clean images."""
    torch.manual_seed(0)
    coords = torch.linspace(0, 1, 32)
    clean = ((coords[:, None] > 0.4).float() * 0.5 + 0.2 + 0.2 * coords[None, :]).expand(6, 1, 32, 32).contiguous()
    noisy = clean + 0.1 * torch.randn_like(clean)
    t = BlindSpotMaskd(stride=4)
    t.set_random_state(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.ReLU(), torch.nn.Conv2d(16, 1, 5, padding=2))
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    loss_fn = MaskedLoss()
    for _ in range(300):
        items = [t({"image": y}) for y in noisy]
        x = torch.stack([it["image"] for it in items])
        target = torch.stack([it["label"] for it in items])
        optimizer.zero_grad()
        loss_fn(net(x), target).backward()
        optimizer.step()
    with torch.no_grad():
        assert (net(noisy) - clean).square().mean() < 0.5 * (noisy - clean).square().mean()


def test_ring_mean_is_the_neighbour_mean_at_radius_zero():
    x = torch.rand(2, 9, 11)
    assert torch.allclose(ring_mean(x, 0), neighbour_mean(x), atol=1e-6)
    x3 = torch.rand(1, 7, 8, 9)
    assert torch.allclose(ring_mean(x3, 0), neighbour_mean(x3), atol=1e-6)


def test_blind_blocks_hide_the_block_around_each_scored_pixel():
    """radius r: the (2r+1)-wide block around each scored pixel holds its ring's mean; the ring is left as it was."""
    x = torch.rand(1, 30, 30)
    t = BlindSpotMaskd(stride=8, radius=2)
    t.set_random_state(0)
    d = t({"image": x})
    hidden, mask = d["image"], d["label"][1:]
    assert torch.equal(d["label"][:1], x)
    ring = ring_mean(x, 2)
    checked = 0
    for cy, cx in (mask[0] > 0).nonzero().tolist():
        if 3 <= cy < 27 and 3 <= cx < 27:
            assert torch.allclose(hidden[0, cy - 2 : cy + 3, cx - 2 : cx + 3], ring[0, cy, cx].expand(5, 5))
            assert torch.equal(hidden[0, cy - 3, cx - 3 : cx + 4], x[0, cy - 3, cx - 3 : cx + 4])
            checked += 1
    assert checked >= 4
    with pytest.raises(ValueError, match="radius"):
        BlindSpotMaskd(stride=5, radius=2)  # blocks would touch
