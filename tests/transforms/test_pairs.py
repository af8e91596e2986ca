"""Noisy/clean pair construction: blind training mode and deterministic evaluation mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose, RandFlipd

from monai_nad.transforms import NOISE_MODELS, NOISE_STD_MODELS, DeterministicNoisyPaird, RandNoisyPaird

LEVELS = {"rician": 0.1, "gaussian": 0.1, "poisson": 200.0, "gamma": 100.0, "correlated": 0.1}


def _clean(shape=(1, 32, 32)):
    return MetaTensor(torch.full(shape, 0.5), meta={"filename_or_obj": "t1.nii.gz"})


@pytest.mark.parametrize("noise", NOISE_MODELS)
@pytest.mark.parametrize("shape", [(1, 32, 32), (1, 10, 10, 10)])
def test_pair_has_clean_label_noisy_image_and_records_level(noise, shape):
    clean = _clean(shape)
    out = RandNoisyPaird(noise=noise, level=LEVELS[noise])({"image": clean})
    torch.testing.assert_close(out["label"], clean.as_tensor(), check_dtype=False)
    assert out["image"].shape == shape and not torch.equal(out["image"], out["label"])
    assert out["noise_model"] == noise and out["image"].meta["noise_model"] == noise and "noise_level" not in out
    if noise in NOISE_STD_MODELS:  # one key for the level, where it is the noise std
        assert out["noise_std"] == LEVELS[noise] and out["image"].meta["noise_std"] == LEVELS[noise]
    else:  # poisson's photon scale and gamma's shape are no std
        assert math.isnan(out["noise_std"]) and math.isnan(out["image"].meta["noise_std"])
    assert out["image"].meta["filename_or_obj"] == "t1.nii.gz"
    torch.testing.assert_close(clean, _clean(shape))  # input untouched


def test_rician_noise_level_matches_empirical_spread():
    """In a bright flat region Rician noise is close to Gaussian with the requested std."""
    clean = torch.full((1, 128, 128), 0.8)
    out = DeterministicNoisyPaird(noise="rician", level=0.05)({"image": clean, "id": "flat"})
    assert abs(float(out["image"].std()) - 0.05) < 0.003


def test_blind_levels_are_drawn_within_the_range_and_vary():
    chain = Compose([RandNoisyPaird(level=(0.05, 0.20))])
    chain.set_random_state(0)
    levels = [chain({"image": _clean((1, 8, 8))})["noise_std"] for _ in range(50)]
    assert min(levels) >= 0.05 and max(levels) <= 0.20 and np.std(levels) > 0.02


def test_compose_set_random_state_reproduces_training_pairs():
    chain = Compose([RandFlipd("image", prob=0.5), RandNoisyPaird(level=(0.05, 0.2))])
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(rng.uniform(size=(1, 16, 16)).astype(np.float32))
    chain.set_random_state(42)
    first = [chain({"image": clean}) for _ in range(3)]
    chain.set_random_state(42)
    second = [chain({"image": clean}) for _ in range(3)]
    for a, b in zip(first, second):
        torch.testing.assert_close(a["image"], b["image"])
    assert not torch.equal(first[0]["image"], first[1]["image"])


@pytest.mark.parametrize("noise", NOISE_MODELS)
def test_evaluation_noise_is_a_pure_function_of_id_level_seed(noise):
    clean = _clean((1, 16, 16))
    a = DeterministicNoisyPaird(noise=noise, level=LEVELS[noise], seed=3)
    b = DeterministicNoisyPaird(noise=noise, level=LEVELS[noise], seed=3)
    x1 = a({"image": clean, "id": "x"})["image"]
    a({"image": clean, "id": "y"})  # reading another item in between changes nothing
    x2 = b({"image": clean, "id": "x"})["image"]
    torch.testing.assert_close(x1, x2)
    assert not torch.equal(x1, a({"image": clean, "id": "y"})["image"])
    assert not torch.equal(x1, DeterministicNoisyPaird(noise=noise, level=LEVELS[noise], seed=4)({"image": clean, "id": "x"})["image"])


def test_evaluation_noise_identical_across_dataloader_workers():
    items = [{"image": torch.full((1, 16, 16), 0.1 * i + 0.2), "id": f"slice{i}"} for i in range(4)]
    transform = DeterministicNoisyPaird(level=0.1, seed=0)

    def collect(workers):
        loader = DataLoader(Dataset(items, transform), batch_size=2, num_workers=workers)
        return torch.cat([torch.as_tensor(batch["image"]) for batch in loader])

    torch.testing.assert_close(collect(0), collect(2))


def test_bad_arguments_and_items():
    with pytest.raises(ValueError, match="unknown noise model 'speckle'"):
        RandNoisyPaird(noise="speckle")
    with pytest.raises(ValueError, match="level"):
        RandNoisyPaird(level=(0.2, 0.05))
    with pytest.raises(ValueError, match="level"):
        RandNoisyPaird(noise="poisson", level=0.0)
    with pytest.raises(ValueError, match="single noise level"):
        DeterministicNoisyPaird(level=(0.05, 0.1))
    with pytest.raises(ValueError, match="exactly one image key"):
        RandNoisyPaird(keys=["image", "other"])
    with pytest.raises(KeyError, match="'id'"):
        DeterministicNoisyPaird()({"image": _clean()})
    with pytest.raises(KeyError, match="'image'"):
        RandNoisyPaird()({"scan": _clean()})
