"""The hybrid denoising loss: SSIM + L1 + edge gradients (+ optionally a per-image log-MSE term)."""

from __future__ import annotations

import torch
from monai.losses import SSIMLoss
from torch import nn

from monai_nad.losses.gradient import EdgeGradientLoss, check_pair

__all__ = ["HybridDenoisingLoss"]


class HybridDenoisingLoss(nn.Module):
    """``ssim_weight * (1 - SSIM) + l1_weight * L1 + gradient_weight * EdgeGradient + log_mse_weight * LogMSE``.

    ``LogMSE`` is the mean over the images of ``ln(MSE_i + 1e-8)``: minimising it maximises the mean per-image
    PSNR (``PSNR_i = -10 log10 MSE_i`` for data range 1). Unlike L1 or MSE over the batch, it weighs every image
    by its relative error, so low-noise images (small absolute errors) count as much as high-noise ones in a
    batch of blind noise levels. It is off by default.

    The SSIM term is MONAI's :class:`~monai.losses.SSIMLoss` (which returns ``1 - SSIM``), computed in float32
    (also under ``torch.autocast``). The individual terms of the last call are kept in :attr:`last_terms`
    for logging.

    Args:
        spatial_dims: 2 or 3.
        ssim_weight: weight of ``1 - SSIM``. Defaults to 1.
        l1_weight: weight of the mean absolute error. Defaults to 1.
        gradient_weight: weight of :class:`EdgeGradientLoss`. Defaults to 0.1.
        log_mse_weight: weight of the per-image log-MSE term. Defaults to 0.
        data_range: intensity range for SSIM. Defaults to 1.
        win_size: SSIM window size. Defaults to 7.
        kernel_type: SSIM window, ``"gaussian"`` or ``"uniform"``. Defaults to ``"gaussian"``.
        gradient_norm: ``"l1"`` or ``"l2"`` for the gradient term. Defaults to ``"l2"``.

    Raises:
        ValueError: a negative weight, or all weights zero.

    Example::

        loss_fn = HybridDenoisingLoss(spatial_dims=2)
        loss = loss_fn(denoised, clean)   # (B, C, H, W) each; works as SupervisedTrainer's loss_function
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        ssim_weight: float = 1.0,
        l1_weight: float = 1.0,
        gradient_weight: float = 0.1,
        log_mse_weight: float = 0.0,
        data_range: float = 1.0,
        win_size: int = 7,
        kernel_type: str = "gaussian",
        gradient_norm: str = "l2",
    ) -> None:
        super().__init__()
        weights = {
            "ssim_weight": ssim_weight,
            "l1_weight": l1_weight,
            "gradient_weight": gradient_weight,
            "log_mse_weight": log_mse_weight,
        }
        for name, value in weights.items():
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}.")
        if not any(weights.values()):
            raise ValueError("at least one of ssim_weight, l1_weight, gradient_weight, log_mse_weight must be positive.")
        self.spatial_dims = spatial_dims
        self.ssim_weight, self.l1_weight, self.gradient_weight = ssim_weight, l1_weight, gradient_weight
        self.log_mse_weight = log_mse_weight
        self.ssim = SSIMLoss(spatial_dims, data_range=data_range, kernel_type=kernel_type, win_size=win_size)
        self.gradient = EdgeGradientLoss(spatial_dims, norm=gradient_norm)
        self.last_terms: dict[str, float] = {}

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: prediction ``(B, C, H, W[, D])``.
            target: reference of the same shape.

        Returns:
            the weighted scalar loss (float32).
        """
        check_pair(input, target, self.spatial_dims, "HybridDenoisingLoss")
        with torch.autocast(device_type=input.device.type, enabled=False):
            pred, ref = input.float(), target.float()
            terms = {}
            if self.ssim_weight:
                terms["ssim"] = self.ssim(pred, ref)
            if self.l1_weight:
                terms["l1"] = (pred - ref).abs().mean()
            if self.gradient_weight:
                terms["gradient"] = self.gradient(pred, ref)
            if self.log_mse_weight:
                terms["log_mse"] = torch.log((pred - ref).pow(2).flatten(1).mean(1) + 1e-8).mean()
            weight = {
                "ssim": self.ssim_weight,
                "l1": self.l1_weight,
                "gradient": self.gradient_weight,
                "log_mse": self.log_mse_weight,
            }
            total = sum(weight[k] * v for k, v in terms.items())
        self.last_terms = {k: float(v.detach()) for k, v in terms.items()}
        return total
