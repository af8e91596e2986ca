"""Full-reference image quality metrics with the benchmark's settings fixed in one place.

Settings: intensities in ``[0, 1]`` (data range 1), predictions clipped to
``[0, 1]`` before scoring, PSNR over the whole image, SSIM with a 7x7(x7) uniform window and
scikit-image's constants (k1 = 0.01, k2 = 0.03; MONAI's uniform-window SSIM agrees with
``skimage.metrics.structural_similarity(..., data_range=1)`` to ~1e-5), foreground PSNR over pixels whose
clean value exceeds 0.05. Every method of every benchmark is scored by these functions.
"""

from __future__ import annotations

import torch
from monai.metrics import CumulativeIterationMetric, PSNRMetric, SSIMMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from monai_nad.losses.gradient import finite_differences

__all__ = [
    "DATA_RANGE",
    "SSIM_WINDOW",
    "SSIM_KERNEL",
    "FOREGROUND_THRESHOLD",
    "psnr",
    "ssim",
    "foreground_psnr",
    "edge_mse",
    "ForegroundPSNRMetric",
    "EdgeMSEMetric",
    "make_psnr_metric",
    "make_ssim_metric",
]

DATA_RANGE = 1.0
SSIM_WINDOW = 7
SSIM_KERNEL = "uniform"
FOREGROUND_THRESHOLD = 0.05


def _prepare(pred: torch.Tensor, target: torch.Tensor, clip: bool, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}.")
    if pred.ndim not in (4, 5):
        raise ValueError(f"{name}: expected (B, C, H, W[, D]) tensors, got shape {tuple(pred.shape)}.")
    if pred.numel() == 0:
        raise ValueError(f"{name}: empty tensors of shape {tuple(pred.shape)}.")
    for label, t in (("prediction", pred), ("target", target)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: {label} has {int((~torch.isfinite(t)).sum())} non-finite values.")
    pred, target = pred.double(), target.double()
    if clip:
        pred = pred.clamp(0.0, DATA_RANGE)
    return pred, target


def psnr(pred: torch.Tensor, target: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Whole-image PSNR (data range 1) per image.

    Args:
        pred: ``(B, C, H, W[, D])`` prediction.
        target: clean reference, same shape.
        clip: clip ``pred`` to ``[0, 1]`` first. Defaults to True.

    Returns:
        ``(B,)`` PSNR in dB (``inf`` for a perfect prediction).
    """
    pred, target = _prepare(pred, target, clip, "psnr")
    return PSNRMetric(max_val=DATA_RANGE, reduction="none")(pred, target).reshape(-1)


def ssim(pred: torch.Tensor, target: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """SSIM per image with a 7x7(x7) uniform window and data range 1 (the benchmark's one SSIM implementation).

    Args:
        pred: ``(B, C, H, W[, D])`` prediction; every spatial axis must be at least 7.
        target: clean reference, same shape.
        clip: clip ``pred`` to ``[0, 1]`` first. Defaults to True.

    Returns:
        ``(B,)`` SSIM (mean over channels).
    """
    pred, target = _prepare(pred, target, clip, "ssim")
    if min(pred.shape[2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim: every spatial axis must be >= {SSIM_WINDOW}, got shape {tuple(pred.shape)}.")
    values = make_ssim_metric(pred.ndim - 2, reduction="none")(pred, target)
    return values.reshape(pred.shape[0], -1).mean(1)


def foreground_psnr(
    pred: torch.Tensor, target: torch.Tensor, threshold: float = FOREGROUND_THRESHOLD, clip: bool = True
) -> torch.Tensor:
    """PSNR (data range 1) over the pixels whose clean value exceeds ``threshold``.

    Args:
        pred: ``(B, C, H, W[, D])`` prediction.
        target: clean reference, same shape.
        threshold: foreground threshold on the clean image. Defaults to 0.05.
        clip: clip ``pred`` to ``[0, 1]`` first. Defaults to True.

    Returns:
        ``(B,)`` PSNR in dB; NaN for an image without foreground (no pixel above ``threshold``).
    """
    pred, target = _prepare(pred, target, clip, "foreground_psnr")
    mask = (target > threshold).flatten(1)
    err = ((pred - target) ** 2).flatten(1)
    count = mask.sum(1)
    mse = (err * mask).sum(1) / count.clamp(min=1)
    out = 10.0 * torch.log10(DATA_RANGE**2 / mse)
    return torch.where(count > 0, out, torch.full_like(out, float("nan")))


def edge_mse(pred: torch.Tensor, target: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """MSE between the finite-difference gradient magnitudes of prediction and target, per image.

    The gradient magnitude is ``sqrt(sum_a D_a(x)^2)`` with forward differences ``D_a`` (cropped to the common
    size); blurred edges lower it, noise raises it. Insensitive to a constant intensity offset.

    Args:
        pred: ``(B, C, H, W[, D])`` prediction.
        target: clean reference, same shape.
        clip: clip ``pred`` to ``[0, 1]`` first. Defaults to True.

    Returns:
        ``(B,)`` edge MSE.
    """
    pred, target = _prepare(pred, target, clip, "edge_mse")

    def magnitude(x: torch.Tensor) -> torch.Tensor:
        spatial_dims = x.ndim - 2
        diffs = finite_differences(x, spatial_dims)
        crop = [slice(None), slice(None)] + [slice(0, s - 1) for s in x.shape[2:]]
        return torch.sqrt(sum(d[tuple(crop)] ** 2 for d in diffs))

    return ((magnitude(pred) - magnitude(target)) ** 2).flatten(1).mean(1)


def make_psnr_metric(reduction: MetricReduction | str = MetricReduction.MEAN) -> PSNRMetric:
    """MONAI's cumulative PSNR metric with the benchmark's data range (predictions should be clipped beforehand)."""
    return PSNRMetric(max_val=DATA_RANGE, reduction=reduction)


def make_ssim_metric(spatial_dims: int = 2, reduction: MetricReduction | str = MetricReduction.MEAN) -> SSIMMetric:
    """MONAI's cumulative SSIM metric with the benchmark's settings (7x7 uniform window, data range 1)."""
    return SSIMMetric(spatial_dims, data_range=DATA_RANGE, kernel_type=SSIM_KERNEL, win_size=SSIM_WINDOW, reduction=reduction)


class _PerImageMetric(CumulativeIterationMetric):
    """A cumulative MONAI metric wrapping one of the per-image functions above."""

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _score(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self._score(y_pred, y).reshape(-1, 1).float()

    def aggregate(self, reduction: MetricReduction | str | None = None):  # type: ignore[override]
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("the metric buffer is empty: call the metric on some data first.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


class ForegroundPSNRMetric(_PerImageMetric):
    """Cumulative foreground PSNR (clean > 0.05, predictions clipped to ``[0, 1]``); images without foreground are NaN and skipped by the mean."""

    def __init__(
        self,
        threshold: float = FOREGROUND_THRESHOLD,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.threshold = threshold

    def _score(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return foreground_psnr(y_pred, y, self.threshold)


class EdgeMSEMetric(_PerImageMetric):
    """Cumulative edge MSE (see :func:`edge_mse`)."""

    def _score(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return edge_mse(y_pred, y)
