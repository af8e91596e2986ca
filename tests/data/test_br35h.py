"""Br35H loader on a small synthetic folder laid out like the Kaggle release."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_nad.data import br35h_split, br35h_transforms
from monai_nad.transforms import ToGreyscaled


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
    transform = br35h_transforms()
    for name in ("yes/yes1.jpg", "no/no4.PNG"):  # RGB JPEG and greyscale PNG
        out = transform({"image": str(br35h / name)})["image"]
        assert tuple(out.shape) == (1, 128, 128) and out.dtype == torch.float32
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert tuple(br35h_transforms(64)({"image": str(br35h / "no/no3.jpg")})["image"].shape) == (1, 64, 64)


def test_to_greyscale_weights_and_grey_passthrough():
    rgb = torch.stack([torch.full((2, 2), 100.0), torch.full((2, 2), 200.0), torch.full((2, 2), 50.0)])
    out = ToGreyscaled("image")({"image": rgb})["image"]
    assert out.shape == (1, 2, 2)
    assert torch.allclose(out, torch.full((1, 2, 2), 0.299 * 100 + 0.587 * 200 + 0.114 * 50))
    grey = torch.rand(1, 3, 3)
    assert torch.equal(ToGreyscaled("image")({"image": grey})["image"], grey)


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_root"):
        br35h_split(tmp_path / "missing_root")
    (tmp_path / "no").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "no" / "a.png")
    with pytest.raises(ValueError, match="yes$"):
        br35h_split(tmp_path)
    (tmp_path / "yes").mkdir()
    with pytest.raises(ValueError, match="no JPEG/PNG images in .*yes"):
        br35h_split(tmp_path)
    (tmp_path / "no" / "a.png").unlink()
    (tmp_path / "no").rmdir()
    with pytest.raises(ValueError, match="no$"):
        br35h_split(tmp_path)
    (tmp_path / "no").mkdir()
    with pytest.raises(ValueError, match="no JPEG/PNG images in .*no"):
        br35h_split(tmp_path)
    with pytest.raises(ValueError, match="fractions"):
        br35h_split(tmp_path, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="fractions"):
        br35h_split(tmp_path, fractions=(1.2, -0.1, -0.1))


def test_eval_arrays_are_fixed_rician_pairs(br35h):
    from monai_nad.data import br35h_eval_arrays

    noisy, clean = br35h_eval_arrays(br35h, "test", 0.1)
    assert noisy.shape == clean.shape == (6, 128, 128) and noisy.dtype == np.float32
    again, _ = br35h_eval_arrays(br35h, "test", 0.1)
    np.testing.assert_array_equal(noisy, again)  # the same noise on every read
    assert not np.allclose(br35h_eval_arrays(br35h, "test", 0.05)[0], noisy)
    assert float(noisy.min()) >= 0.0
    residual = noisy - clean
    assert 0.07 < float(residual[clean > 0.5].std()) < 0.13  # Rician at high SNR: about Gaussian with std s


def test_training_and_validation_items_fit_the_real_scan_engines(br35h):
    from monai_nad.data import br35h_training_dataset, br35h_validation_dataset

    train = br35h_training_dataset(br35h, patch_size=32, samples_per_image=2, seed=0)
    assert len(train) == 28 * 2
    item = train[0]
    assert set(item) == {"image", "label", "noise_std", "coils"}
    assert tuple(item["image"].shape) == tuple(item["label"].shape) == tuple(item["noise_std"].shape) == (1, 32, 32)
    sigma = float(item["noise_std"].flatten()[0])
    assert 0.05 <= sigma <= 0.2 and item["coils"] == 1
    assert not torch.equal(train[0]["image"], train[0]["image"])  # redrawn on every read
    val = br35h_validation_dataset(br35h, noise_stds=(0.05, 0.1), limit=2)
    assert len(val) == 4 and tuple(val[0]["image"].shape) == (1, 128, 128)
    with pytest.raises(ValueError, match="patch_size"):
        br35h_training_dataset(br35h, patch_size=200)
