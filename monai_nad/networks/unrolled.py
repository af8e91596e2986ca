"""What every unrolled diffusion denoiser shares: input checks, the robust intensity scale, ``forward``."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn

__all__ = ["MISSING_UNROLLED_NOISE_STD", "UnrolledDenoiser", "check_image_batch", "level_in_scale", "robust_intensity_scale"]

def _missing_level() -> str:  # a function, not a global: TorchScript compiles it
    return (
        "this network (built with bias_correction) needs the noise level noise_std (a number, one value per image (B,) "
        "or (B, C), or a map like the image); when it is not known, pass the estimate it was trained with: noise_std = "
        "monai_nad.transforms.second_difference_noise_std(x) (what the inferers do)."
    )


#: what an unrolled network built with ``bias_correction`` says when called without a noise level
MISSING_UNROLLED_NOISE_STD = _missing_level()


def robust_intensity_scale(x: torch.Tensor, quantile: float = 0.99) -> torch.Tensor:
    """The ``quantile`` of each image's absolute values, ``(B, 1, 1, 1[, 1])`` (1 for an all-zero image).

    Args:
        x: images ``(B, C, H, W[, D])``.
        quantile: in ``(0, 1]``. Defaults to 0.99.

    Returns:
        the per-image scale, same dtype as ``x``; computed without gradient.
    """
    flat = x.detach().abs().flatten(1).float()
    k = max(1, min(flat.shape[1], int(math.ceil(quantile * flat.shape[1]))))
    scale = torch.kthvalue(flat, k, dim=1).values  # no size limit, unlike torch.quantile
    # an all-zero image stays all-zero whatever the scale; avoid dividing by zero
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale.to(x.dtype).reshape([x.shape[0]] + [1] * (x.ndim - 1))


def check_image_batch(x: torch.Tensor, spatial_dims: int, in_channels: int, min_size: int, name: str = "input") -> None:
    """Validate a network input batch, raising an error that names the problem.

    Args:
        x: expected ``(B, C, H, W[, D])`` floating-point tensor.
        spatial_dims: expected number of spatial dimensions.
        in_channels: expected ``C``.
        min_size: smallest allowed size of every spatial axis.
        name: how to call the tensor in messages.

    Raises:
        TypeError: ``x`` is not a tensor, or not of a floating-point dtype.
        ValueError: wrong number of dimensions, wrong channel count, empty, too small, or non-finite.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (intensities in [0, 1]), got dtype {x.dtype}.")
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"{name} must have shape (B, C, {'H, W' if spatial_dims == 2 else 'H, W, D'}) for spatial_dims="
            f"{spatial_dims}, got {x.ndim} dimensions with shape {tuple(x.shape)}."
        )
    if x.shape[1] != in_channels:
        raise ValueError(f"{name} has {x.shape[1]} channels but the network expects {in_channels}: shape {tuple(x.shape)}.")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}.")
    if min(x.shape[2:]) < min_size:
        raise ValueError(
            f"{name} spatial size {tuple(x.shape[2:])} is too small: every spatial axis needs at least {min_size} voxels."
        )
    if torch.compiler.is_compiling():
        return  # value checks would be data-dependent control flow in a traced/exported graph
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} non-finite (NaN or Inf) values; shape {tuple(x.shape)}.")


def level_in_scale(noise_std: Optional[torch.Tensor], x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The noise level of the images ``x`` divided by their intensity ``scale``, shaped to broadcast against ``x``.

    Args:
        noise_std: the level in ``x``'s units: a 0-d tensor, one value per image ``(B,)``, per image and channel
            ``(B, C)``, or a map like ``x``.
        x: images ``(B, C, H, W[, D])``.
        scale: per-image intensity scales ``(B, 1, 1, 1[, 1])``.

    Raises:
        ValueError: no level (None): :data:`MISSING_UNROLLED_NOISE_STD`.
    """
    if noise_std is None:
        raise ValueError(_missing_level())
    if not isinstance(noise_std, torch.Tensor):  # a number (eager mode)
        noise_std = torch.as_tensor(noise_std)
    sigma = noise_std.to(dtype=x.dtype, device=x.device)
    if sigma.dim() == 1:
        sigma = sigma.reshape([-1, 1])
    if sigma.dim() <= 2:
        sigma = sigma.reshape(list(sigma.shape) + [1] * (x.dim() - sigma.dim()))
    return sigma / scale


class UnrolledDenoiser(nn.Module):
    """Base class of the unrolled diffusion networks: subclasses implement ``_run(x, noise_std, keep_maps)``.

    The networks never estimate the noise level: one that uses it (``bias_correction``) is told it, in the input's
    units (:func:`level_in_scale`). :attr:`noise_std_method` names the blind estimate they were trained with, which
    the callers pass when the level is not known (:func:`~monai_nad.transforms.blind_noise_std` with that ``method``).

    Args:
        scale_invariant: divide each image by :func:`robust_intensity_scale` before denoising and multiply the
            result back (see :meth:`intensity_scale`).
        scale_quantile: the quantile used as the intensity scale, in ``(0, 1]``.

    Raises:
        ValueError: ``scale_quantile`` outside ``(0, 1]``.
    """

    #: the blind estimate of the level these networks were trained with (a method of
    #: :func:`~monai_nad.transforms.estimate_noise_std`): the inferers and :class:`~monai_nad.engines.NoiseStdBatch`
    #: pass it when the level is not known
    noise_std_method = "second_difference"

    def __init__(self, scale_invariant: bool = True, scale_quantile: float = 0.99) -> None:
        super().__init__()
        if not 0.0 < scale_quantile <= 1.0:
            raise ValueError(f"scale_quantile must be in (0, 1], got {scale_quantile!r}.")
        self.scale_invariant = scale_invariant
        self.scale_quantile = scale_quantile

    def intensity_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image intensity scale ``(B, 1, 1, 1[, 1])`` used when ``scale_invariant`` (ones otherwise)."""
        if not self.scale_invariant:
            return torch.ones([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return robust_intensity_scale(x, self.scale_quantile)

    def _run(self, x: torch.Tensor, noise_std: Optional[torch.Tensor], keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, noise_std: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Denoise a batch.

        Args:
            x: noisy images ``(B, C, H, W[, D])``, floating point, intensities nominally in ``[0, 1]``.
            noise_std: the noise level of ``x`` in its units (see :func:`level_in_scale`); required by a network
                built with ``bias_correction``, unused without. When it is not known, pass the estimate the network
                was trained with: ``monai_nad.transforms.second_difference_noise_std(x)`` (:attr:`noise_std_method`).

        Returns:
            denoised images of the same shape (not clipped).

        Raises:
            TypeError: ``x`` is not a floating-point tensor.
            ValueError: wrong number of dimensions or channels, empty, too small or non-finite input; no ``noise_std``
                for a network that needs it.
        """
        return self._run(x, noise_std, False)[0]
