"""Contrast inversion augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_nad.transforms import RandContrastInversion, RandContrastInversiond


def test_inversion_swaps_order_keeps_range_and_background():
    img = torch.tensor([[[0.0, 0.1, 0.5, 0.9]]])
    out = RandContrastInversion(prob=1.0, threshold=0.02)(img)
    assert out[0, 0, 0] == 0
    assert out[0, 0, 1] > out[0, 0, 2] > out[0, 0, 3] > 0
    assert float(out.max()) <= 0.9 + 1e-6
    torch.testing.assert_close(img, torch.tensor([[[0.0, 0.1, 0.5, 0.9]]]))


def test_dictionary_twin_determinism_and_shared_draw():
    img = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    t = RandContrastInversiond(["a", "b"], prob=1.0).set_random_state(0)
    out = t({"a": img, "b": img.copy()})
    np.testing.assert_array_equal(out["a"], out["b"])
    t2 = RandContrastInversiond(["a", "b"], prob=1.0).set_random_state(0)
    np.testing.assert_array_equal(t2({"a": img, "b": img})["a"], out["a"])


@pytest.mark.parametrize("kwargs", [{"threshold": -0.1}, {"offset_range": (0.3, 0.1)}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RandContrastInversion(**kwargs)
