"""Blind noise-level estimation and the Rician bias correction used inside the Neural PDE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["estimate_noise_std", "rician_bias_correction", "blind_rician_correction"]



def _second_difference_kernel(spatial_dims: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Outer product of ``[1, -2, 1]`` along every axis, scaled to unit L2 norm (so white noise keeps its std)."""
    base = torch.tensor([1.0, -2.0, 1.0], dtype=dtype, device=device)
    kernel = base
    for _ in range(spatial_dims - 1):
        kernel = kernel[..., None] * base
    kernel = kernel / kernel.pow(2).sum().sqrt()
    return kernel[None, None]


def estimate_noise_std(x: torch.Tensor, snr_threshold: float = 5.0) -> torch.Tensor:
    """Estimate the noise standard deviation of each image and channel (no gradient).

    A second-difference filter of unit norm removes smooth anatomy and keeps white noise at its standard
    deviation; the median absolute response is a robust estimate of it (Donoho's MAD rule, applied to an
    Immerkaer-type operator). Magnitude (Rician) noise is Gaussian only where the signal is well above the
    noise, so the estimate is refined over the pixels whose local mean exceeds ``snr_threshold`` times a first,
    whole-image estimate (falling back to the whole image when there are too few of them).

    Args:
        x: images ``(B, C, H, W[, D])``, every spatial axis at least 3.
        snr_threshold: local-mean-to-noise ratio above which a pixel is used. Defaults to 5.

    Returns:
        ``(B, C)`` noise standard deviations, in the units of ``x``.
    """
    mad_to_std = 1.4826  # std of a Gaussian = 1.4826 * median absolute deviation
    spatial_dims = x.ndim - 2
    b, c = x.shape[0], x.shape[1]
    with torch.no_grad():
        flat = x.detach().flatten(0, 1).unsqueeze(1)
        if flat.dtype != torch.float64:
            flat = flat.float()
        kernel = _second_difference_kernel(spatial_dims, flat.dtype, flat.device)
        if spatial_dims == 2:
            response = F.conv2d(flat, kernel).abs().flatten(1)
            local_mean = F.avg_pool2d(flat, 3, stride=1).flatten(1)  # aligned with the valid convolution
        else:
            response = F.conv3d(flat, kernel).abs().flatten(1)
            local_mean = F.avg_pool3d(flat, 3, stride=1).flatten(1)
        first = mad_to_std * response.median(dim=1).values
        bright = local_mean > snr_threshold * first[:, None]
        masked = torch.where(bright, response, torch.full_like(response, float("nan")))
        refined = mad_to_std * torch.nanmedian(masked, dim=1).values
        enough = bright.sum(1) >= 64
        sigma = torch.where(enough & torch.isfinite(refined), refined, first)
    return sigma.reshape(b, c).to(x.dtype)


def rician_bias_correction(u: torch.Tensor, sigma: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Differentiable ``sqrt(max(u^2 - 2 b sigma^2, 0))``, exactly 0 where the argument is not positive.

    Args:
        u: images ``(B, C, ...)``.
        sigma: ``(B, C)`` noise levels.
        b: correction strength, a 0-d tensor.

    Returns:
        the corrected images, same shape as ``u``; never larger than ``|u|``.
    """
    shape = list(sigma.shape) + [1] * (u.ndim - 2)
    arg = torch.relu(u * u - 2.0 * b.to(u.dtype) * sigma.reshape(shape).to(u.dtype) ** 2)
    eps = 1e-6
    return torch.sqrt(arg + eps * eps) - eps


def blind_rician_correction(u: torch.Tensor, noisy: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
    """Rician bias correction of a denoised ``u`` with ``sigma`` estimated blindly from its ``noisy`` input.

    Args:
        u: denoised images ``(B, C, ...)``.
        noisy: the network's input, same shape, every spatial axis at least 3.
        logit: learned strength; ``b = 2 * sigmoid(logit)`` in ``(0, 2)``.

    Returns:
        ``sqrt(max(u^2 - 2 b sigma^2, 0))``, same shape as ``u``.
    """
    return rician_bias_correction(u, estimate_noise_std(noisy), 2.0 * torch.sigmoid(logit))
