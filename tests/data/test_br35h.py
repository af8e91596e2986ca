"""Br35H loader on a small synthetic folder laid out like the Kaggle release."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_nad.data import br35h_split, br35h_transforms


@pytest.fixture()
def br35h(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("yes", "no"):
        (tmp_path / name).mkdir()
        for i in range(20):
            size = (100 + 7 * i, 90 + 3 * i)
            if i % 2:
                Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(tmp_path / name / f"{name}{i}.jpg")
            else:
                Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(tmp_path / name / f"{name}{i}.PNG")
    (tmp_path / "yes" / "notes.txt").write_text("not an image")
    return tmp_path


def test_split_is_stratified_disjoint_and_deterministic(br35h):
    split = br35h_split(br35h)
    for part, expected in (("train", 14), ("validation", 3), ("test", 3)):
        labels = [item["label_class"] for item in split[part]]
        assert labels.count(0) == expected and labels.count(1) == expected
    ids = [item["id"] for part in split.values() for item in part]
    assert len(ids) == len(set(ids)) == 40
    assert br35h_split(br35h) == split
    assert br35h_split(br35h, seed=1)["test"] != split["test"]


def test_transforms_give_grey_128_images_in_unit_range(br35h):
    split = br35h_split(br35h)
    transform = br35h_transforms()
    kinds = set()
    for item in split["train"][:6]:
        out = transform(item)["image"]
        assert tuple(out.shape) == (1, 128, 128) and str(out.dtype) == "torch.float32"
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        kinds.add(item["image"].rsplit(".", 1)[1].lower())
    assert kinds == {"jpg", "png"}


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_root"):
        br35h_split(tmp_path / "missing_root")
    (tmp_path / "yes").mkdir()
    with pytest.raises(ValueError, match="no$"):
        br35h_split(tmp_path)
    (tmp_path / "no").mkdir()
    with pytest.raises(ValueError, match="no JPEG/PNG images in .*no"):
        br35h_split(tmp_path)
    with pytest.raises(ValueError, match="fractions"):
        br35h_split(tmp_path, fractions=(0.5, 0.5, 0.5))
