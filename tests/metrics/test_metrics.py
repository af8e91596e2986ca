"""Metrics agree with scikit-image, honour the foreground mask, and work as Ignite handlers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from monai_nad.metrics import (
    DenoisingPSNR,
    DenoisingSSIM,
    EdgeMSE,
    ForegroundPSNR,
    ForegroundPSNRMetric,
    edge_mse,
    foreground_psnr,
    psnr,
    q_metric,
    ssim,
)


def _images(seed=0, shape=(40, 36)):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(size=shape)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(shape), 0, 1)
    return clean, noisy


def _t(a):
    return torch.from_numpy(np.asarray(a))[None, None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_and_ssim_match_scikit_image(seed):
    clean, noisy = _images(seed)
    assert abs(float(psnr(_t(noisy), _t(clean))) - peak_signal_noise_ratio(clean, noisy, data_range=1)) < 1e-9
    assert abs(float(ssim(_t(noisy), _t(clean))) - structural_similarity(noisy, clean, data_range=1)) < 1e-4


def test_prediction_is_clipped_before_scoring():
    clean, noisy = _images()
    assert float(psnr(_t(noisy + 5.0), _t(clean))) == float(psnr(_t(np.ones_like(noisy)), _t(clean)))


def test_foreground_psnr_ignores_background():
    clean = np.zeros((32, 32))
    clean[8:24, 8:24] = 0.6
    pred = clean + 0.05
    base = float(foreground_psnr(_t(pred), _t(clean)))
    pred2 = pred.copy()
    pred2[:4] = 0.9  # background only
    assert float(foreground_psnr(_t(pred2), _t(clean))) == base
    assert float(psnr(_t(pred2), _t(clean))) < float(psnr(_t(pred), _t(clean)))
    assert np.isnan(float(foreground_psnr(_t(pred), _t(np.zeros_like(clean)))))


def test_edge_mse_properties():
    clean, noisy = _images()
    assert float(edge_mse(_t(clean * 0.5 + 0.2), _t(clean * 0.5))) < 1e-20
    assert float(edge_mse(_t(noisy), _t(clean))) > 0


@pytest.mark.parametrize("fn", [psnr, ssim, foreground_psnr, edge_mse])
def test_bad_inputs_name_the_problem(fn):
    with pytest.raises(ValueError, match="differs"):
        fn(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(ValueError, match="non-finite"):
        fn(torch.full((1, 1, 8, 8), float("nan")), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        fn(torch.zeros(8, 8), torch.zeros(8, 8))


def test_q_metric_rewards_structure_and_penalises_blur_and_noise():
    x = np.zeros((64, 64))
    x[:, 32:] = 1.0
    x[20:40, 10:20] = 0.5
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(x, 3)
    noise = np.random.default_rng(0).standard_normal((64, 64)) * 0.1
    assert q_metric(x) > q_metric(blurred) > 0
    assert q_metric(noise) < 0.2 * q_metric(x)
    assert q_metric(x) == q_metric(torch.from_numpy(x))
    with pytest.raises(ValueError, match="2D"):
        q_metric(np.zeros((2, 16, 16)))


def test_ignite_handlers_on_an_engine():
    clean, noisy = _images()
    batches = [{"pred": _t(noisy).float(), "label": _t(clean).float()} for _ in range(3)]
    engine = Engine(lambda e, batch: batch)
    transform = from_engine(["pred", "label"])
    DenoisingPSNR(output_transform=transform).attach(engine, "psnr")
    DenoisingSSIM(output_transform=transform).attach(engine, "ssim")
    ForegroundPSNR(output_transform=transform).attach(engine, "fg_psnr")
    EdgeMSE(output_transform=transform).attach(engine, "edge_mse")
    engine.run(batches, max_epochs=1)
    m = engine.state.metrics
    assert abs(m["psnr"] - peak_signal_noise_ratio(clean, noisy, data_range=1)) < 1e-3
    assert abs(m["ssim"] - structural_similarity(noisy, clean, data_range=1)) < 1e-3
    assert abs(m["fg_psnr"] - float(foreground_psnr(_t(noisy), _t(clean)))) < 1e-3
    assert m["edge_mse"] > 0


def test_cumulative_foreground_metric_aggregates():
    clean, noisy = _images()
    metric = ForegroundPSNRMetric()
    metric(_t(noisy), _t(clean))
    metric(_t(clean * 0.9), _t(clean))
    expected = (float(foreground_psnr(_t(noisy), _t(clean))) + float(foreground_psnr(_t(clean * 0.9), _t(clean)))) / 2
    assert abs(float(metric.aggregate()) - expected) < 1e-4
