"""Ignite handlers of the benchmark metrics, for MONAI engines and bundle configs (``_target_``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.handlers import IgniteMetricHandler

from monai_nad.metrics.image_quality import (
    DATA_RANGE,
    EdgeMSEMetric,
    ForegroundPSNRMetric,
    make_psnr_metric,
    make_ssim_metric,
)

__all__ = ["DenoisingPSNR", "DenoisingSSIM", "ForegroundPSNR", "EdgeMSE", "clip_to_range"]


def clip_to_range(output_transform: Callable) -> Callable:
    """Wrap an engine output transform so that predictions are clipped to ``[0, 1]`` before scoring."""

    def _transform(output):
        y_pred, y = output_transform(output)
        if isinstance(y_pred, (list, tuple)):
            y_pred = [torch.as_tensor(p).clamp(0.0, DATA_RANGE) for p in y_pred]
        else:
            y_pred = torch.as_tensor(y_pred).clamp(0.0, DATA_RANGE)
        return y_pred, y

    return _transform


def _identity(x):
    return x


class DenoisingPSNR(IgniteMetricHandler):
    """Mean whole-image PSNR (data range 1, predictions clipped to ``[0, 1]``).

    Args:
        output_transform: maps the engine output to ``(y_pred, y)``, e.g. ``from_engine(["pred", "label"])``.
        save_details: keep per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=make_psnr_metric(), output_transform=clip_to_range(output_transform), save_details=save_details)


class DenoisingSSIM(IgniteMetricHandler):
    """Mean SSIM (7x7(x7) uniform window, data range 1, predictions clipped to ``[0, 1]``).

    Args:
        spatial_dims: 2 or 3.
        output_transform: maps the engine output to ``(y_pred, y)``.
        save_details: keep per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, spatial_dims: int = 2, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=make_ssim_metric(spatial_dims), output_transform=clip_to_range(output_transform), save_details=save_details)


class ForegroundPSNR(IgniteMetricHandler):
    """Mean foreground PSNR (clean > ``threshold``, predictions clipped to ``[0, 1]``).

    Args:
        threshold: foreground threshold on the clean image. Defaults to 0.05.
        output_transform: maps the engine output to ``(y_pred, y)``.
        save_details: keep per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, threshold: float = 0.05, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=ForegroundPSNRMetric(threshold), output_transform=output_transform, save_details=save_details)


class EdgeMSE(IgniteMetricHandler):
    """Mean edge MSE (see :func:`monai_nad.metrics.edge_mse`).

    Args:
        output_transform: maps the engine output to ``(y_pred, y)``.
        save_details: keep per-image values in ``engine.state.metric_details``.
    """

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=EdgeMSEMetric(), output_transform=output_transform, save_details=save_details)
