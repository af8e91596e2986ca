"""Edge-gradient and hybrid losses."""

from __future__ import annotations

import pytest
import torch

from monai_nad.losses import EdgeGradientLoss, HybridDenoisingLoss


def _pair(spatial_dims, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape = (2, 1) + ((24, 20) if spatial_dims == 2 else (12, 10, 11))
    return torch.rand(shape, generator=gen), torch.rand(shape, generator=gen)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_edge_loss_zero_for_identical_and_constant_offset_positive_otherwise(spatial_dims, norm):
    a, b = _pair(spatial_dims)
    loss = EdgeGradientLoss(spatial_dims, norm=norm)
    assert loss(a, a) == 0
    assert loss(a + 0.3, a) < 1e-6 * loss(a, b)  # gradients ignore a constant offset (float32 rounding aside)
    assert loss(a, b) > 0
    assert loss.__class__(spatial_dims, norm=norm, reduction="none")(a, b).shape == (2,)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_hybrid_loss_gradients_and_weights(spatial_dims):
    a, b = _pair(spatial_dims)
    pred = a.clone().requires_grad_(True)
    full = HybridDenoisingLoss(spatial_dims, win_size=5)
    value = full(pred, b)
    terms = full.last_terms
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert full(b, b) < 1e-6
    torch.testing.assert_close(float(value), terms["ssim"] + terms["l1"] + 0.1 * terms["gradient"], atol=1e-6, rtol=1e-6)
    l1_only = HybridDenoisingLoss(spatial_dims, ssim_weight=0, gradient_weight=0)
    torch.testing.assert_close(l1_only(a, b), (a - b).abs().mean())
    no_grad_term = HybridDenoisingLoss(spatial_dims, gradient_weight=0, win_size=5)
    torch.testing.assert_close(no_grad_term(a, b), value.detach() - 0.1 * terms["gradient"], atol=1e-5, rtol=1e-5)


def test_hybrid_loss_under_autocast_is_float32():
    a, b = _pair(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = HybridDenoisingLoss(2)(a.bfloat16(), b.bfloat16())
    assert value.dtype == torch.float32 and torch.isfinite(value)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"ssim_weight": -1.0}, "ssim_weight"), ({"ssim_weight": 0, "l1_weight": 0, "gradient_weight": 0}, "at least one")],
)
def test_hybrid_bad_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HybridDenoisingLoss(2, **kwargs)


def test_bad_shapes_are_named():
    loss = EdgeGradientLoss(2)
    with pytest.raises(ValueError, match=r"\(2, 1, 8, 8\) differs from target shape \(2, 1, 8, 9\)"):
        loss(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 9))
    with pytest.raises(ValueError, match="spatial_dims=2"):
        loss(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="norm"):
        EdgeGradientLoss(2, norm="l3")


def test_log_mse_term_weighs_images_by_relative_error():
    """The log-MSE term is the negative mean per-image PSNR (up to constants) and balances noise levels."""
    torch.manual_seed(0)
    clean = torch.rand(2, 1, 16, 16)
    pred = clean.clone()
    pred[0] += 0.01 * torch.randn_like(pred[0])  # a low-noise image
    pred[1] += 0.1 * torch.randn_like(pred[1])  # a high-noise image
    loss_fn = HybridDenoisingLoss(2, ssim_weight=0, l1_weight=0, gradient_weight=0, log_mse_weight=1.0)
    pred.requires_grad_(True)
    loss = loss_fn(pred, clean)
    mse = (pred - clean).pow(2).flatten(1).mean(1)
    psnr = -10 * torch.log10(mse)
    expected = -psnr.mean() * torch.log(torch.tensor(10.0)) / 10  # ln(MSE) = -PSNR * ln(10) / 10
    torch.testing.assert_close(loss, expected, atol=1e-4, rtol=1e-4)
    loss.backward()
    g = pred.grad.flatten(1).norm(dim=1)
    # relative weighting: the low-noise image gets the larger gradient (its error is 10x smaller)
    assert g[0] > 5 * g[1]
    plain_mse = (pred - clean).pow(2).mean()
    (pred_grad,) = torch.autograd.grad(plain_mse, pred)
    g_mse = pred_grad.flatten(1).norm(dim=1)
    assert g_mse[1] > 5 * g_mse[0]  # whereas a batch MSE is dominated by the noisy one
    assert "log_mse" in loss_fn.last_terms


def test_log_mse_weight_must_be_non_negative():
    with pytest.raises(ValueError, match="log_mse_weight"):
        HybridDenoisingLoss(2, log_mse_weight=-1.0)
