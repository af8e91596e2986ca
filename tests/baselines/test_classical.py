"""Classical baselines: each denoises, keeps shapes, leaves its input alone, reports bad input; tuning and transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose

from monai_nad.baselines import BASELINES, ClassicalDenoised, classical_denoise, parameter_grid, tune_baseline
from monai_nad.data import mni_eval_arrays

LEVEL = 0.08


@pytest.fixture(scope="module")
def pair():
    """A Gaussian-noise crop of a validation slice (small, so BM3D and friends stay fast)."""
    noisy, clean = mni_eval_arrays("validation", LEVEL, noise="gaussian", limit=1)
    return noisy[0, 60:124, 70:134].copy(), clean[0, 60:124, 70:134].copy()


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


@pytest.mark.parametrize("name", [n for n, b in sorted(BASELINES.items()) if 2 in b.dims])
def test_every_baseline_denoises_with_some_grid_setting(name, pair):
    noisy, clean = pair
    before = noisy.copy()
    outs = [classical_denoise(name, noisy, LEVEL, **params) for params in parameter_grid(name)]
    assert all(o.shape == noisy.shape and o.dtype == np.float32 and np.isfinite(o).all() for o in outs)
    np.testing.assert_array_equal(noisy, before)
    assert min(_mse(o, clean) for o in outs) < 0.8 * _mse(noisy, clean)


@pytest.mark.parametrize("name", [n for n, b in sorted(BASELINES.items()) if 3 in b.dims and n != "dipy_nlm"])
def test_3d_volumes_where_supported(name):
    rng = np.random.default_rng(0)
    volume = np.clip(0.5 + 0.05 * rng.standard_normal((12, 10, 8)), 0, 1).astype(np.float32)
    out = classical_denoise(name, volume, 0.05, **parameter_grid(name)[0])
    assert out.shape == volume.shape and out.std() < volume.std()


def test_perona_malik_obeys_the_maximum_principle(pair):
    noisy, _ = pair
    for params in parameter_grid("perona_malik_exponential_8"):
        out = classical_denoise("perona_malik_exponential_8", noisy, LEVEL, **params)
        assert out.min() >= noisy.min() - 1e-5 and out.max() <= noisy.max() + 1e-5


def test_bad_input_is_named(pair):
    noisy, _ = pair
    with pytest.raises(ValueError, match="unknown baseline 'bm5d'"):
        classical_denoise("bm5d", noisy, LEVEL)
    with pytest.raises(ValueError, match=r"bm4d supports 3D images, got shape \(64, 64\)"):
        classical_denoise("bm4d", noisy, LEVEL, sigma_factor=1.0)
    with pytest.raises(ValueError, match=r"bm3d supports 2D images, got shape \(4, 4, 4\)"):
        classical_denoise("bm3d", np.zeros((4, 4, 4)), LEVEL, sigma_factor=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        classical_denoise("tv", np.full((8, 8), np.nan), LEVEL, weight_factor=1.0)
    with pytest.raises(ValueError, match=r"takes the parameters \['weight_factor'\]"):
        classical_denoise("tv", noisy, LEVEL, weight=1.0)


def test_tuning_picks_the_best_grid_point_and_a_bias_correction():
    noisy, clean = mni_eval_arrays("validation", 0.1, limit=2)
    noisy, clean = noisy[:, 40:140, 50:150], clean[:, 40:140, 50:150]
    result = tune_baseline("tv", noisy, clean, 0.1)
    from monai_nad.metrics import median_scores

    scores = {p["weight_factor"]: median_scores(np.stack([classical_denoise("tv", im, 0.1, **p) for im in noisy]), clean)["psnr"]
              for p in parameter_grid("tv")}
    assert result["plain"]["params"]["weight_factor"] == max(scores, key=scores.get)
    assert result["plain"]["psnr"] == pytest.approx(max(scores.values()))
    assert result["rc"]["b"] > 0 and result["rc"]["psnr"] > result["plain"]["psnr"]  # Rician bias: correcting helps


def test_transform_in_a_monai_chain_keeps_type_and_meta(pair):
    noisy, _ = pair
    image = MetaTensor(torch.from_numpy(noisy)[None], meta={"filename_or_obj": "x.nii.gz"})
    chain = Compose([ClassicalDenoised("image", "nlm", noise_std=LEVEL, params={"h_factor": 0.8}, rician_b=0.5)])
    out = chain({"image": image})["image"]
    assert isinstance(out, MetaTensor) and out.shape == image.shape and out.meta["filename_or_obj"] == "x.nii.gz"
    expected = classical_denoise("nlm", noisy, LEVEL, h_factor=0.8)
    assert float(out.max()) <= float(expected.max()) + 1e-6  # the correction only lowers values
    with pytest.raises(ValueError, match="unknown baseline"):
        ClassicalDenoised("image", "nothing", noise_std=0.1)


def test_bm3d_runs_on_one_thread_by_default_and_repeats_itself():
    """The benchmarks time every method on one thread; BM3D on one thread also gives the same result on every call."""
    import numpy as np
    import pytest

    from monai_nad.baselines import bm3d_denoise

    image = np.random.default_rng(0).uniform(0, 1, (24, 24)).astype(np.float32)
    first, second = bm3d_denoise(image, 0.1), bm3d_denoise(image, 0.1)
    np.testing.assert_array_equal(first, second)
    assert float(np.abs(first - image).mean()) > 0.01  # it does denoise
    with pytest.raises(ValueError, match="threads"):
        bm3d_denoise(image, 0.1, threads=-1)


def test_tuning_on_volumes_scores_their_slices():
    """A volumetric method is tuned on whole validation volumes ``(N, H, W, D)``: the same choice as scoring the
    denoised volumes slice by slice."""
    rng = np.random.default_rng(1)
    clean = np.zeros((1, 24, 20, 6), np.float32)
    clean[0, 6:18, 5:15] = 0.8
    noisy = np.sqrt((clean + 0.05 * rng.standard_normal(clean.shape)) ** 2 + (0.05 * rng.standard_normal(clean.shape)) ** 2).astype(np.float32)
    result = tune_baseline("gaussian", noisy, clean, 0.05, grid={"sigma": (0.5, 1.0)})
    assert result["rc"]["psnr"] >= result["plain"]["psnr"] > 20
    assert result["plain"]["params"]["sigma"] in (0.5, 1.0)
