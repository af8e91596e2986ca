"""Edge-stopping diffusion along the slice axis of a volume: a few explicit Perona-Malik steps between neighbouring slices.

A network that denoises each slice with its neighbours as guidance leaves a residual that varies independently from
slice to slice; where neighbouring slices agree (the anatomy continues through them) it can be averaged away along the
slice axis. This module does that as a diffusion PDE ``u_t = d/dz (c du/dz)`` with ``T`` explicit steps: the edge
between slices ``z`` and ``z+1`` conducts

    ``c = lambda_t * exp(-(|u[z+1] - u[z]| / (kappa_t * sigma_edge))^2)``,

with ``sigma_edge`` the mean noise level at the edge's two ends, and each step is
``u[z] += c(z, z+1) (u[z+1] - u[z]) + c(z-1, z) (u[z-1] - u[z])``. ``lambda_t`` lies in ``(0, 1/2)``, so every step is a
convex combination of a voxel and its two neighbours: provably stable (no new extrema), and the ends of the volume are
closed (zero flux), so the total intensity along the axis is conserved. ``lambda_t`` and ``kappa_t`` are learned
(two numbers per step).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["SliceAxisDiffusion"]


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class SliceAxisDiffusion(nn.Module):
    """``T`` explicit edge-stopping diffusion steps along the last axis of ``(B, C, H, W, D)`` volumes.

    Args:
        steps: ``T``, the number of steps (>= 1).
        rate: each step's initial ``lambda`` (the largest conductance), in ``(0, 0.5)``. Defaults to 0.25.
        contrast: each step's initial ``kappa``: slice differences of about ``kappa`` noise levels stop the diffusion.
            Defaults to 2.5.

    Raises:
        ValueError: ``steps`` below 1, ``rate`` outside ``(0, 0.5)`` or ``contrast`` not positive.

    Example::

        smooth = SliceAxisDiffusion(steps=1)
        y = smooth(volume, noise_std)  # volume (B, 1, H, W, D), noise_std a number or a map like volume
    """

    def __init__(self, steps: int = 1, rate: float = 0.25, contrast: float = 2.5) -> None:
        super().__init__()
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
        if not 0.0 < rate < 0.5:
            raise ValueError(f"rate must lie in (0, 0.5), got {rate!r}.")
        if not contrast > 0.0:
            raise ValueError(f"contrast must be positive, got {contrast!r}.")
        self.steps = int(steps)
        #: voxels per block of rows (the temporaries of a step are a few blocks, not a few volumes)
        self.block_voxels = 1 << 22
        self.rate_logit = nn.Parameter(torch.full((self.steps,), math.log(rate / (0.5 - rate))))
        self.contrast_raw = nn.Parameter(torch.full((self.steps,), _inverse_softplus(contrast)))

    def rates(self) -> torch.Tensor:
        """``(T,)`` the steps' ``lambda`` in ``(0, 0.5)``."""
        return 0.5 * torch.sigmoid(self.rate_logit)

    def contrasts(self) -> torch.Tensor:
        """``(T,)`` the steps' ``kappa`` (> 0)."""
        return F.softplus(self.contrast_raw) + 1e-3

    def forward(self, u: torch.Tensor, noise_std: float | torch.Tensor) -> torch.Tensor:
        """Diffuse ``u`` along its last axis.

        Args:
            u: volumes ``(B, C, H, W, D)`` (any tensor whose last axis is the slice axis).
            noise_std: the noise level: a number, or a tensor that broadcasts to ``u`` (e.g. a map ``(B, 1, H, W, D)``).

        Returns:
            the diffused volumes, ``u``'s shape; ``u`` itself when ``D == 1``.
        """
        if u.shape[-1] < 2:
            return u
        sigma_t = torch.as_tensor(noise_std, dtype=u.dtype, device=u.device)
        sigma_t = torch.broadcast_to(sigma_t, u.shape) if sigma_t.ndim else sigma_t
        if u.ndim < 3 or u.numel() <= self.block_voxels:
            return self._diffuse(u, sigma_t)
        # lines along the last axis are independent: run blocks of rows so that the temporaries stay small
        rows = max(1, self.block_voxels * u.shape[-3] // u.numel())
        return torch.cat(
            [self._diffuse(u[..., i : i + rows, :, :], sigma_t[..., i : i + rows, :, :] if sigma_t.ndim else sigma_t) for i in range(0, u.shape[-3], rows)],
            dim=-3,
        )

    def _diffuse(self, u: torch.Tensor, sigma_t: torch.Tensor) -> torch.Tensor:
        edge_sigma = 0.5 * (sigma_t[..., 1:] + sigma_t[..., :-1]) if sigma_t.ndim else sigma_t
        edge_sigma = torch.clamp(edge_sigma, min=1e-6)
        for rate, contrast in zip(self.rates(), self.contrasts()):
            diff = u[..., 1:] - u[..., :-1]  # (.., D-1): the edges z -> z+1
            flux = rate * torch.exp(-torch.square(diff / (contrast * edge_sigma))) * diff
            zero = torch.zeros_like(flux[..., :1])
            u = u + torch.cat([flux, zero], dim=-1) - torch.cat([zero, flux], dim=-1)
        return u
