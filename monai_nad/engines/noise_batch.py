"""Batches whose noise level goes to the network as an argument (for noise-conditioned networks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines.utils import PrepareBatch

from monai_nad.transforms.noise import NOISE_STD_METHODS, blind_noise_std

__all__ = ["NoiseStdBatch"]


class NoiseStdBatch(PrepareBatch):
    """``prepare_batch`` of MONAI engines that passes a batch's noise level to ``network(image, noise_std=...)``.

    Tensors are handed over as plain ``torch.Tensor`` (a ``MetaTensor``'s per-operation bookkeeping slows a training
    step of the Neural PDE markedly).

    Args:
        image_key: noisy images ``(B, C, H, W[, D])``. Defaults to ``"image"``.
        label_key: clean references (may be absent at inference). Defaults to ``"label"``.
        noise_std_key: the noise level of each image: a map like the image, or one value per image. Defaults to
            ``"noise_std"``. When missing from a batch (or None: never read), see ``estimate``.
        coils_key: optional number of receiver coils per image (None: never read). Defaults to ``"coils"``.
        correlation_key: optional correlation widths of each image's noise ``(B, spatial_dims)``, passed as
            ``correlation`` (networks built with ``correlation_input``; None: never read). Defaults to
            ``"correlation"``.
        jitter: relative standard deviation of a random log-normal error applied to the noise level in
            training, so that a model also tolerates an imperfect (e.g. estimated) level. Defaults to 0.
        estimate: for a batch without a noise level, estimate it blindly per image
            (:func:`~monai_nad.transforms.noise.blind_noise_std`, for the batch's coil counts) and pass that, as the
            networks need one (True, or the name of the method of ``blind_noise_std``: ``"second_difference"`` for
            the v0.2 Neural PDE and its family, which were trained with it); or hand the batch over without it, for an
            inferer that decides the level itself (False; :class:`~monai_nad.inference.ScanBatch`). Defaults to True.

    Example::

        trainer = SupervisedTrainer(..., prepare_batch=NoiseStdBatch(jitter=0.03))
        # the v0.2 family: always told the second-difference estimate of each image, never the true level
        v02 = NoiseStdBatch(noise_std_key=None, coils_key=None, correlation_key=None, estimate="second_difference")
    """

    def __init__(
        self, image_key: str = "image", label_key: str = "label", noise_std_key: str | None = "noise_std", coils_key: str | None = "coils",
        jitter: float = 0.0, estimate: bool | str = True, correlation_key: str | None = "correlation",
    ) -> None:
        if jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {jitter!r}.")
        if isinstance(estimate, str) and estimate not in NOISE_STD_METHODS:
            raise ValueError(f"unknown estimate {estimate!r}; choose True, False or one of {NOISE_STD_METHODS}.")
        self.image_key, self.label_key, self.noise_std_key, self.coils_key, self.jitter = image_key, label_key, noise_std_key, coils_key, jitter
        self.estimate = bool(estimate)
        self.method = estimate if isinstance(estimate, str) else "auto"
        self.correlation_key = correlation_key

    def __call__(
        self, batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple, dict]:
        def move(value: Any) -> torch.Tensor:
            value = value.as_tensor() if isinstance(value, MetaTensor) else torch.as_tensor(value)
            return value.to(device=device, non_blocking=non_blocking, **kwargs)

        image = move(batchdata[self.image_key]).float()
        label = move(batchdata[self.label_key]).float() if self.label_key in batchdata else None
        arguments: dict[str, Any] = {}
        if self.noise_std_key is not None and self.noise_std_key in batchdata:
            sigma = move(batchdata[self.noise_std_key]).float()
            if self.jitter:
                shape = [sigma.shape[0]] + [1] * (sigma.ndim - 1)
                sigma = sigma * torch.exp(self.jitter * torch.randn(shape, device=sigma.device))
            arguments["noise_std"] = sigma
        if self.coils_key is not None and self.coils_key in batchdata:
            arguments["coils"] = move(batchdata[self.coils_key]).float().reshape(-1)
        if self.correlation_key is not None and self.correlation_key in batchdata:
            arguments["correlation"] = move(batchdata[self.correlation_key]).float()
        if "noise_std" not in arguments and self.estimate:
            arguments["noise_std"] = blind_noise_std(image, coils=arguments.get("coils", 1), method=self.method)
        return image, label, (), arguments
