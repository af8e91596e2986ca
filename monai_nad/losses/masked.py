"""The self-supervised loss on hidden pixels (Noise2Self), for targets made by :class:`~monai_nad.transforms.BlindSpotMaskd`."""

from __future__ import annotations

import torch
from torch.nn.modules.loss import _Loss

__all__ = ["MaskedLoss"]


class MaskedLoss(_Loss):
    """Mean squared (or absolute) error between the prediction and the noisy target on the hidden pixels only.

    Args:
        kind: ``"mse"`` or ``"l1"``. Defaults to ``"mse"`` (the Noise2Self objective).

    Raises:
        ValueError: unknown ``kind``.
    """

    def __init__(self, kind: str = "mse") -> None:
        super().__init__()
        if kind not in ("mse", "l1"):
            raise ValueError(f"kind must be 'mse' or 'l1', got {kind!r}.")
        self.kind = kind

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args:
            pred: ``(B, C, H, W[, D])``.
            target: ``(B, 2C, H, W[, D])``: the noisy image, then the 0/1 mask of hidden pixels.

        Returns:
            the scalar loss.

        Raises:
            ValueError: ``target`` does not have twice the channels of ``pred`` or another spatial shape, or no
                pixel is hidden.
        """
        c = pred.shape[1]
        if target.shape[1] != 2 * c or target.shape[2:] != pred.shape[2:] or target.shape[0] != pred.shape[0]:
            raise ValueError(
                f"MaskedLoss needs target (B, 2C, ...) = noisy image + mask for pred (B, C, ...); got pred "
                f"{tuple(pred.shape)} and target {tuple(target.shape)}. Did the data go through BlindSpotMaskd?"
            )
        noisy, mask = target[:, :c].float(), target[:, c:].float()
        count = mask.sum()
        if count == 0:
            raise ValueError("MaskedLoss: the mask hides no pixel.")
        diff = pred.float() - noisy
        error = diff.square() if self.kind == "mse" else diff.abs()
        return (error * mask).sum() / count
