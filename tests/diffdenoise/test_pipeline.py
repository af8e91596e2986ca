"""DiffDenoise: conditioning, SRDS, the variance measurement, distillation pairs and the training pieces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from monai.networks.nets import DiffusionModelUNet

from monai_nad.diffdenoise import (
    BlindSpotConditiond,
    BlindSpotStage,
    ConcatConditionPrepareBatch,
    DiffDenoise,
    distillation_pairs,
    sampling_variance,
    select_stage,
)
from monai_nad.networks import BlindSpotNetwork, robust_intensity_scale


class ZeroNoise(nn.Module):
    """A 'diffusion model' that always predicts zero noise: DDIM then just rescales the initial noise (odd in eps)."""

    def forward(self, x, timesteps, context=None):
        return torch.zeros_like(x[:, :1])


def tiny_unet() -> DiffusionModelUNet:
    torch.manual_seed(0)
    return DiffusionModelUNet(2, 2, 1, num_res_blocks=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)


def pipeline(diffusion=None, **kwargs) -> DiffDenoise:
    torch.manual_seed(0)
    return DiffDenoise(BlindSpotNetwork(2, features=4, depth=1), diffusion or tiny_unet(), inference_steps=3, size_divisor=2, **kwargs).eval()


def test_srds_is_the_mean_of_the_symmetric_runs_and_deterministic():
    model = pipeline()
    x = torch.rand(2, 1, 13, 11)
    out = model(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    eps = model.initial_noise(model.padded_shape(x), x.device)
    plus, minus = model.generate(x, [eps, -eps])
    torch.testing.assert_close(out, (plus + minus) / 2)
    torch.testing.assert_close(model(x), out)  # fixed-seed initial noise: the same input gives the same output
    single = model.with_sampling(False)
    torch.testing.assert_close(single(x), plus)
    assert model.symmetric  # with_sampling returns a new module


def test_srds_cancels_noise_that_is_odd_in_eps():
    model = pipeline(ZeroNoise())
    x = torch.rand(1, 1, 12, 12)
    # the runs are c * eps and -c * eps: their mean is 0 in the diffusion range, i.e. half the intensity scale
    torch.testing.assert_close(model(x), 0.5 * robust_intensity_scale(x).expand_as(x), atol=1e-5, rtol=0)
    variance = sampling_variance(model, x, repeats=3)
    assert variance["single"] > 0.1 and variance["independent"] == pytest.approx(variance["single"] / 2, rel=0.5)
    assert variance["symmetric"] < 1e-8 and variance["reduction"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 repeats"):
        sampling_variance(model, x, repeats=1)


def test_scale_equivariance():
    model = pipeline()
    x = torch.rand(1, 1, 12, 10)
    torch.testing.assert_close(model(5.0 * x), 5.0 * model(x), rtol=1e-3, atol=1e-4)


def test_stage_selection():
    model = pipeline()
    student = nn.Identity()
    assert select_stage("student", student, model) is student
    assert select_stage("single_sample", student, model).symmetric is False
    stage = select_stage("blind_spot", student, model)
    assert isinstance(stage, BlindSpotStage) and sum(p.numel() for p in stage.parameters()) == sum(p.numel() for p in model.blind_spot.parameters())
    with pytest.raises(ValueError, match="unknown DiffDenoise stage 'teacher'"):
        select_stage("teacher", student, model)
    with pytest.raises(ValueError, match="inference_steps"):
        DiffDenoise(model.blind_spot, model.diffusion, inference_steps=0)
    full = model.replace(start_step=None, inference_steps=2)
    assert full.diffusion is model.diffusion and full.start_step is None and full.inference_steps == 2 and model.inference_steps == 3
    with pytest.raises(TypeError, match=r"unknown DiffDenoise settings \['steps'\]"):
        model.replace(steps=2)


def test_condition_transform_and_prepare_batch():
    bsn = BlindSpotNetwork(2, features=4, depth=1)
    item = {"image": np.random.default_rng(0).random((1, 16, 16)).astype(np.float32)}
    out = BlindSpotConditiond("image", network=bsn)(item)
    assert out["image"].shape == out["condition"].shape == (1, 16, 16)
    assert float(out["image"].min()) >= -1.0 and item["image"].min() >= 0  # mapped to [-1, ...]; input untouched
    batch = {"image": torch.stack([out["image"]] * 2), "condition": torch.stack([out["condition"]] * 2)}
    images, target, args, kwargs = ConcatConditionPrepareBatch(1000)(batch, device="cpu")
    assert kwargs["mode"] == "concat" and kwargs["condition"].shape == images.shape and target.shape == images.shape
    assert torch.equal(target, kwargs["noise"]) and kwargs["timesteps"].max() < 1000
    with pytest.raises(ValueError, match="blind-spot network"):
        BlindSpotConditiond("image")


def test_distillation_pairs_are_cached_per_teacher(tmp_path):
    calls = []

    class Teacher(nn.Module):
        def __init__(self, gain):
            super().__init__()
            self.gain = nn.Parameter(torch.tensor(gain))

        def forward(self, x):
            calls.append(x.shape[0])
            return x * self.gain

    items = [{"image": np.full((1, 4, 4), i, np.float32), "id": f"s{i}"} for i in range(5)]
    pairs = distillation_pairs(Teacher(2.0), items, cache_dir=tmp_path, batch_size=2, progress=False)
    assert calls == [2, 2, 1] and pairs[3]["label"][0, 0, 0] == 6.0 and pairs[3]["id"] == "s3"
    again = distillation_pairs(Teacher(2.0), items, cache_dir=tmp_path, progress=False)
    assert calls == [2, 2, 1] and np.array_equal(again[4]["label"], pairs[4]["label"])  # read from the cache
    changed = distillation_pairs(Teacher(3.0), items, cache_dir=tmp_path, progress=False)
    assert changed[1]["label"][0, 0, 0] == 3.0  # other weights: recomputed


def test_distillation_pairs_of_slices_of_two_sizes_are_batched_by_size_and_cached(tmp_path):
    shapes = []

    class Teacher(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            shapes.append(tuple(x.shape))
            return x * self.gain

    items = [{"image": np.full((1, 5, 6) if i < 3 else (1, 4, 4), i, np.float32), "id": f"s{i}"} for i in range(5)]  # MNI, then Colin27
    pairs = distillation_pairs(Teacher(), items, cache_dir=tmp_path, batch_size=2, progress=False)
    assert shapes == [(2, 1, 5, 6), (1, 1, 5, 6), (2, 1, 4, 4)]
    assert [p["label"].shape for p in pairs] == [(1, 5, 6)] * 3 + [(1, 4, 4)] * 2 and pairs[4]["label"][0, 0, 0] == 8.0
    again = distillation_pairs(Teacher(), items, cache_dir=tmp_path, progress=False)
    assert len(shapes) == 3 and all(np.array_equal(a["label"], b["label"]) for a, b in zip(pairs, again))  # from the cache


def test_bad_batches_are_named():
    model = pipeline()
    with pytest.raises(ValueError, match=r"needs a batch \(B, C, H, W\[, D\]\), got \(12, 12\)"):
        model(torch.rand(12, 12))
    with pytest.raises(ValueError, match="non-finite"):
        model(torch.full((1, 1, 8, 8), float("nan")))


def test_truncated_chain_starts_from_the_noised_condition():
    """With a zero-noise model, DDIM from t0 returns x_t0 / sqrt(a_t0) = c + sqrt((1 - a)/a) eps; SRDS leaves c."""
    from monai_nad.diffdenoise import diffusion_inputs, from_diffusion_range

    model = pipeline(ZeroNoise(), start_step=100)
    x = torch.rand(1, 1, 12, 12)
    _, condition, scale = diffusion_inputs(x, model.blind_spot)
    torch.testing.assert_close(model(x), from_diffusion_range(condition) * scale, atol=1e-4, rtol=1e-4)
    single = model.with_sampling(False)
    assert single.start_step == 100 and not torch.allclose(single(x), model(x))
    with pytest.raises(ValueError, match="start_step"):
        pipeline(start_step=1000)


def test_a_diffusion_network_widened_for_the_noisy_image_starts_as_the_one_it_came_from(tmp_path):
    from monai_nad.engines import warm_start

    old = pipeline(start_step=300, aligned_steps=True)
    with torch.no_grad():  # MONAI's U-Net starts with a zero output layer; make it one that predicts something
        for parameter in old.diffusion.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    torch.save(old.diffusion.state_dict(), tmp_path / "diffusion.pt")
    wide = DiffusionModelUNet(2, 3, 1, num_res_blocks=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    widened = DiffDenoise(old.blind_spot, warm_start(wide, tmp_path / "diffusion.pt"), inference_steps=3, size_divisor=2,
                          start_step=300, aligned_steps=True, condition_on_noisy=True).eval()
    x = torch.rand(2, 1, 10, 12) + 0.1
    # the noisy-image channel starts with zero weights: the same output until training changes them
    assert torch.allclose(widened(x), old(x), atol=1e-6)
    assert widened.replace(symmetric=False).condition_on_noisy  # replace keeps the setting
    with torch.no_grad():
        widened.diffusion.conv_in.conv.weight[:, 2].fill_(0.5)  # now it reads the noisy image: the output changes
    assert not torch.allclose(widened(x), old(x), atol=1e-3)
