"""DiffDenoise diagnosis: the measurement functions on tiny untrained networks and synthetic images (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from monai.networks.nets import DiffusionModelUNet
from monai.networks.schedulers import DDIMScheduler

from monai_nad.diffdenoise import DiffDenoise, aligned_timesteps
from monai_nad.experiments.diffdenoise_diagnosis import (
    chain_quality,
    heldout_patches,
    noise_correlation,
    noise_floor,
    patch_psnr,
    timestep_errors,
    timestep_mismatch,
    training_time,
    tweedie_readout,
)
from monai_nad.networks import BlindSpotNetwork


def tiny_pipeline(**kwargs) -> DiffDenoise:
    torch.manual_seed(0)
    unet = DiffusionModelUNet(2, 2, 1, num_res_blocks=1, channels=(8, 8), attention_levels=(False, False), norm_num_groups=4)
    return DiffDenoise(BlindSpotNetwork(2, features=4, depth=1), unet, inference_steps=4, size_divisor=2, **kwargs).eval()


def synthetic_arrays(conditions=("a", "b"), shape=(40, 36), sigma=0.05):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = (0.5 + 0.3 * np.sin(yy / 5.0) * np.cos(xx / 7.0))[None].astype(np.float32)
    return {c: (clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32), clean, clean + sigma * rng.standard_normal(clean.shape, dtype=np.float32))
            for c in conditions}


def test_patches_timestep_errors_and_chains_on_a_tiny_model():
    model = tiny_pipeline()
    patches = heldout_patches(model.blind_spot, ["a", "b"], slices=1, patches_per_slice=2, patch_size=16, arrays=synthetic_arrays())
    assert patches.noisy.shape == (4, 1, 16, 16) and patches.conditions == ["a", "a", "b", "b"]
    assert patches.condition.shape == patches.clean.shape == patches.twin.shape == patches.noisy.shape
    # the blind noise estimate in the diffusion range is 2 sigma / scale, near the truth
    true = (patches.noisy - patches.clean).flatten(1).std(1)
    assert torch.allclose(patches.noise_std.flatten(), true, rtol=0.3)
    one = patches.select("b")
    assert len(one.conditions) == 2 and torch.equal(one.noisy, patches.noisy[2:])
    with pytest.raises(ValueError):
        patches.select("c")
    rows = timestep_errors(model.diffusion, patches, timesteps=(5, 500))
    assert [r["t"] for r in rows] == [5, 500] and rows[0]["tau"] < rows[1]["tau"]
    for r in rows:
        assert all(np.isfinite(v) for k, v in r.items())
        assert 0 < r["eps_floor"] < 1 and 0 < r["x0_noise_corr_bound"] <= 1
    chains = chain_quality(model, one, start_steps=(300, None), inference_steps=4)
    assert [c["start_step"] for c in chains] == [300, None]
    assert chains[1]["steps"] == 4 and chains[0]["steps"] < 4
    aligned = chain_quality(model, one, start_steps=(500,), inference_steps=4, aligned=True)
    assert aligned[0]["first_step"] == 500 and aligned[0]["steps"] == 3  # 500, 250, 0
    assert all(np.isfinite(v) for c in chains + aligned for k, v in c.items() if k != "start_step")


def test_metrics_and_readouts():
    torch.manual_seed(0)
    clean = torch.rand(3, 1, 8, 8)
    noise = 0.1 * torch.randn_like(clean)
    assert noise_correlation(clean + noise, clean + noise, clean) == pytest.approx(1.0)
    assert noise_correlation(clean - noise, clean + noise, clean) == pytest.approx(-1.0)
    assert patch_psnr(0.5 * clean + 0.1, 0.5 * clean) == pytest.approx(20.0, abs=1e-3)
    assert noise_floor(0.0, 0.5) == 0.0 and noise_floor(1.0, 0.5) == pytest.approx(0.5)  # tau = 1 when a = 0.5
    # Tweedie with an oracle noise prediction is exact in 1D Gaussian: x | z for a point prior is the prior itself
    a = torch.tensor(0.8)
    eps = torch.randn(1000)
    s, tau = 0.2, float(((1 - a) / a).sqrt())
    n = s * torch.randn(1000)
    x_t = a.sqrt() * (0.3 + n) + (1 - a).sqrt() * eps
    z = x_t / a.sqrt()
    eps_hat = tau / (s**2 + tau**2) * (z - 0.3)  # E[eps | z] for x = 0.3 known
    torch.testing.assert_close(tweedie_readout(x_t, eps_hat, a, s), torch.full_like(z, 0.3), atol=1e-5, rtol=0)


def test_timestep_grid_and_the_pipeline_option():
    torch.testing.assert_close(aligned_timesteps(1000, 20, 150), torch.tensor([150, 100, 50, 0]))
    assert aligned_timesteps(1000, 10).tolist() == list(range(900, -1, -100))
    mismatch = timestep_mismatch(1000, 20)
    assert mismatch[0] == (999, 949, 946)
    model = tiny_pipeline(start_step=150)
    model.inference_steps = 20
    assert model.timesteps().tolist() == [105, 53, 0]  # MONAI's linspace grid: truncated at 150 starts at 105
    assert model.replace(aligned_steps=True).timesteps().tolist() == [150, 100, 50, 0]
    x = torch.rand(1, 1, 12, 12)
    out = model.replace(aligned_steps=True, inference_steps=4, start_step=None)(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # every aligned step lands exactly on the next one: step() goes back by T // n
    scheduler = DDIMScheduler(1000)
    scheduler.set_timesteps(20)
    steps = aligned_timesteps(1000, 20).tolist()
    assert all(t - 1000 // scheduler.num_inference_steps == nxt for t, nxt in zip(steps[:-1], steps[1:]))


def test_training_time_leaves_out_the_pauses():
    # steps every 0.5 s, one stop of 10 min between them
    stamps = [0, 500, 1000, 601_000, 601_500]
    assert training_time(stamps, pause_seconds=120) == (1.5, 1)


def test_a_continued_retraining_keeps_the_record_it_started_from(tmp_path):
    from monai_nad.experiments.diffdenoise_diagnosis import RECORD, RETRAINED_WEIGHTS, _continued_record, chain_curve, record_chain

    first = {"params": {"init_ckpt": "bundles/x/diffusion.pt", "max_epochs": "150"}, "steps": 100, "training_seconds": 50.0,
             "loss_curve": [[1, 50, 0.4], [51, 100, 0.3]]}
    folder = tmp_path / "retrained"
    folder.mkdir()
    (folder / RECORD).write_text(__import__("json").dumps(first))
    assert _continued_record(str(folder / RETRAINED_WEIGHTS)) == first  # the exported weights of a record folder
    assert _continued_record(str(tmp_path / "other.pt")) is None and _continued_record("None") is None
    second = {"params": {"init_ckpt": str(folder / RETRAINED_WEIGHTS), "max_epochs": "100"}, "steps": 40,
              "training_seconds": 20.0, "loss_curve": [[1, 40, 0.25]], "started_from": first}
    assert record_chain(second) == [first, second] and record_chain(first) == [first]
    assert chain_curve(record_chain(second)) == [(1, 50, 0.4), (51, 100, 0.3), (101, 140, 0.25)]  # steps counted on


def test_the_shipped_training_record_travels_with_the_weights(tmp_path):
    from types import SimpleNamespace

    from monai_nad.experiments.diffdenoise_diagnosis import training_budget, training_info_path

    bundle = tmp_path / "bundle"
    (bundle / "docs").mkdir(parents=True)
    (bundle / "configs").mkdir()
    (bundle / "docs" / "training_info.json").write_text('{"epochs": {"diffusion": 7}}')
    (bundle / "configs" / "common.json").write_text('{"noisy_per_slice": 3, "batch_size": 8, "patches_per_slice": 4}')
    kept = tmp_path / "original"
    kept.mkdir()
    (kept / "diffusion.pt").write_bytes(b"")
    assert training_info_path(SimpleNamespace(bundle=bundle, diffusion=None)) == bundle / "docs" / "training_info.json"
    assert training_info_path(SimpleNamespace(bundle=bundle, diffusion=kept / "diffusion.pt")) == bundle / "docs" / "training_info.json"
    (kept / "training_info.json").write_text('{"epochs": {"diffusion": 45}}')
    args = SimpleNamespace(bundle=bundle, diffusion=kept / "diffusion.pt")
    assert training_info_path(args) == kept / "training_info.json"
    assert training_budget(bundle, training_info_path(args))["epochs"] == 45
    assert training_budget(bundle, bundle / "docs" / "training_info.json")["epochs"] == 7
