"""Edge (finite-difference gradient) loss."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

__all__ = ["EdgeGradientLoss", "finite_differences"]


def finite_differences(x: torch.Tensor, spatial_dims: int) -> list[torch.Tensor]:
    """Forward differences of ``x`` ``(B, C, H, W[, D])`` along each spatial axis (each one shorter on its axis)."""
    return [torch.diff(x, dim=axis) for axis in range(2, 2 + spatial_dims)]


def check_pair(input: torch.Tensor, target: torch.Tensor, spatial_dims: int, name: str) -> None:
    """Raise a ValueError naming the shapes when ``input``/``target`` are not matching ``(B, C, *spatial)`` batches."""
    if input.ndim != spatial_dims + 2:
        raise ValueError(
            f"{name}: input must be (B, C, {'H, W' if spatial_dims == 2 else 'H, W, D'}) for spatial_dims={spatial_dims}, "
            f"got shape {tuple(input.shape)}."
        )
    if input.shape != target.shape:
        raise ValueError(f"{name}: input shape {tuple(input.shape)} differs from target shape {tuple(target.shape)}.")
    if input.numel() == 0:
        raise ValueError(f"{name}: empty input of shape {tuple(input.shape)}.")


class EdgeGradientLoss(_Loss):
    """Distance between the finite-difference gradients of the prediction and of the target.

    Penalises blurred or displaced edges: ``mean_axis mean |D_a(pred) - D_a(target)|^p`` with forward differences
    ``D_a`` along every spatial axis and ``p = 1`` (``"l1"``) or ``2`` (``"l2"``).

    Args:
        spatial_dims: 2 or 3.
        norm: ``"l1"`` or ``"l2"``. Defaults to ``"l2"`` (the original project's MSE of gradients).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-sample values, shape ``(B,)``).

    Raises:
        ValueError: unknown ``norm``; at call time, mismatched or wrongly-shaped inputs.

    Example::

        loss = EdgeGradientLoss(spatial_dims=2)(pred, target)   # (B, C, H, W) each
    """

    def __init__(self, spatial_dims: int = 2, norm: str = "l2", reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}.")
        self.spatial_dims = spatial_dims
        self.norm = norm

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: prediction ``(B, C, H, W[, D])``.
            target: reference of the same shape.

        Returns:
            a scalar, or ``(B,)`` with ``reduction="none"``.
        """
        check_pair(input, target, self.spatial_dims, "EdgeGradientLoss")
        per_axis = []
        for d_in, d_tg in zip(finite_differences(input.float(), self.spatial_dims), finite_differences(target.float(), self.spatial_dims)):
            err = (d_in - d_tg).abs() if self.norm == "l1" else (d_in - d_tg) ** 2
            per_axis.append(err.flatten(1).mean(1) if err.numel() else err.new_zeros(err.shape[0]))
        per_sample = torch.stack(per_axis, 0).mean(0)
        if self.reduction == LossReduction.MEAN.value:
            return per_sample.mean()
        if self.reduction == LossReduction.SUM.value:
            return per_sample.sum()
        return per_sample
