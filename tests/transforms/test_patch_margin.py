"""Training patches with context: the crop a simulated acquisition sees, and the patch cropped back after it."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.transforms import RandTissueBlockd, RandTissuePatchd


def _item(h: int = 50, w: int = 60) -> dict:
    rng = np.random.default_rng(0)
    stack = rng.random((2, h, w)).astype(np.float32)
    return {"volume": "mni", "z": 3, "stack": stack, "channels": ("image", "mask"), "corners": np.arange((h - 15) * (w - 15), dtype=np.int32)}


@pytest.mark.parametrize("tissue_prob", [0.0, 1.0])
def test_margin_crop_holds_the_same_patch_at_its_centre_and_air_beyond_the_slice(tissue_prob):
    item = _item()
    for seed in range(20):
        plain = RandTissuePatchd(16, tissue_prob).set_random_state(seed)(item)
        wide = RandTissuePatchd(16, tissue_prob, margin=7).set_random_state(seed)(item)
        assert wide["image"].shape == (1, 30, 30) and wide["mask"].shape == (1, 30, 30)
        np.testing.assert_array_equal(wide["image"][:, 7:23, 7:23], plain["image"])
    # a patch at the slice's corner: the margin beyond the slice is zero, the rest is the slice
    t = RandTissuePatchd(16, 0.0, margin=5)
    out = t._crop(item["stack"], 0, 0)
    assert (out[:, :5, :] == 0).all() and (out[:, :, :5] == 0).all()
    np.testing.assert_array_equal(out[:, 5:, 5:], item["stack"][:, :21, :21])
    with pytest.raises(ValueError, match="margin"):
        RandTissuePatchd(16, margin=-1)


def test_block_margin_keeps_the_slices_and_their_order():
    stack = np.random.default_rng(1).random((4, 2, 40, 44)).astype(np.float32)
    block = {"volume": "mni", "z": 0, "stack": stack, "channels": ("image", "mask"), "corners": np.arange(25 * 29, dtype=np.int32)}
    plain = RandTissueBlockd(16, 1.0).set_random_state(3)(block)
    wide = RandTissueBlockd(16, 1.0, margin=4).set_random_state(3)(block)
    assert wide["image"].shape == (1, 24, 24, 4)
    np.testing.assert_array_equal(wide["image"][:, 4:20, 4:20], plain["image"])

