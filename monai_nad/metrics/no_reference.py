"""The no-reference image-content metric Q of Zhu and Milanfar (2010), for scans without a clean reference."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["q_metric"]


def q_metric(image: np.ndarray | torch.Tensor, patch_size: int = 8, delta: float = 0.001) -> float:
    """Zhu-Milanfar metric Q: mean local content of the anisotropic patches of a 2D image.

    For every non-overlapping ``patch_size x patch_size`` patch, the ``N x 2`` matrix ``G`` of its local
    gradients (``N = patch_size^2``) has singular values ``s1 >= s2``. The coherence is
    ``R = (s1 - s2) / (s1 + s2)``; a patch is anisotropic (contains structure, not just noise) when
    ``R > tau`` with ``tau = sqrt((1 - alpha) / (1 + alpha))``, ``alpha = delta^(1 / (N - 1))`` (the
    significance level ``delta`` of the test against isotropic Gaussian noise). ``Q`` is the mean of
    ``s1 * R`` over anisotropic patches (0 when there is none). Higher ``Q`` means more preserved
    structure and less noise; a denoiser's parameter is chosen where ``Q`` peaks.

    Reference: X. Zhu and P. Milanfar, "Automatic parameter selection for denoising algorithms using a
    no-reference measure of image content", IEEE TIP 19(12), 2010.

    Args:
        image: ``(H, W)`` array or tensor (a leading singleton channel is accepted).
        patch_size: patch side. Defaults to 8.
        delta: significance level of the anisotropy test. Defaults to 0.001.

    Returns:
        Q as a float.

    Raises:
        ValueError: not 2D, smaller than one patch, non-finite values, or invalid ``patch_size``/``delta``.

    Example::

        q_noisy, q_denoised = q_metric(noisy_slice), q_metric(denoised_slice)
    """
    x = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"q_metric needs a 2D image (H, W), got shape {x.shape}.")
    if patch_size < 2 or not 0 < delta < 1:
        raise ValueError(f"patch_size must be >= 2 and delta in (0, 1), got {patch_size!r} and {delta!r}.")
    if min(x.shape) < patch_size:
        raise ValueError(f"q_metric: image of shape {x.shape} is smaller than one {patch_size}x{patch_size} patch.")
    if not np.isfinite(x).all():
        raise ValueError(f"q_metric: image has {int((~np.isfinite(x)).sum())} non-finite values.")
    n = patch_size * patch_size
    alpha = delta ** (1.0 / (n - 1))
    tau = math.sqrt((1.0 - alpha) / (1.0 + alpha))
    gy, gx = np.gradient(x)
    rows, cols = (s // patch_size for s in x.shape)
    crop = (slice(0, rows * patch_size), slice(0, cols * patch_size))

    def patches(g: np.ndarray) -> np.ndarray:
        return g[crop].reshape(rows, patch_size, cols, patch_size).transpose(0, 2, 1, 3).reshape(-1, n)

    grads = np.stack([patches(gx), patches(gy)], axis=-1)  # (P, N, 2)
    s = np.linalg.svd(grads, compute_uv=False)  # (P, 2), descending
    s1, s2 = s[:, 0], s[:, 1]
    total = s1 + s2
    coherence = np.divide(s1 - s2, total, out=np.zeros_like(total), where=total > 0)
    anisotropic = coherence > tau
    if not anisotropic.any():
        return 0.0
    return float(np.mean(s1[anisotropic] * coherence[anisotropic]))
