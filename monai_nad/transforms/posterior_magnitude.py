"""The signal behind a denoiser's estimate of the magnitude mean, accounting for the estimate's own error.

A self-supervised denoiser estimates ``m ~ E[M]``, the mean of the noisy magnitude, and
:func:`~monai_nad.transforms.magnitude_mean_inversion` maps it back to the signal ``A`` by inverting ``f: A -> E[M]``.
Near the noise floor ``f`` is flat (``E[M] - f(0)`` grows with ``A^2``), so its inverse has a square-root slope: an
estimate a few per cent above the floor becomes a signal of a sizeable fraction of the noise std. In the air of a
scan the estimate scatters around the floor by its residual error and the exact inversion turns that scatter into
a bright speckle of about ``0.3-0.6 s`` RMS (``docs/results/diffdenoise_both/post_correction_probe.md``).

:func:`posterior_magnitude` treats ``m`` as a measurement, ``m = f(A) + e`` with ``e ~ N(0, delta^2)``, and returns
the posterior mean ``E[A | m]`` under a prior on ``A / s`` fitted to the image itself (empirical Bayes: the
nonparametric maximum-likelihood prior on a grid, by EM, started from the histogram of the exact inversion):

- ``delta`` is read from the image: the robust spread (``1.4826 MAD``) of ``m / s`` over the pixels within 30 % of the
  floor, most of them air, where the exact mean is the floor itself;
- with fewer than :data:`MIN_FLOOR_PIXELS` such pixels (no air in the field of view) there is nothing to read it
  from, and the exact inversion is returned;
- the prior lives on a fine grid of ``A / s`` from 0 to ``8 + 6 delta + 1``; pixels whose exact inversion is above
  ``8 s``, where the posterior mean is the inversion to well within ``delta``, keep it.

Nothing is tuned on clean images: ``delta`` and the prior come from the image being corrected.
"""

from __future__ import annotations

import torch

from monai_nad.transforms.noise import magnitude_mean, magnitude_mean_inversion

__all__ = ["MIN_FLOOR_PIXELS", "posterior_magnitude"]

#: the fewest pixels near the noise floor from which the estimate's error is read; below, the exact inversion
MIN_FLOOR_PIXELS = 100
_FLOOR_BAND = 0.3  # pixels within this fraction of the floor read the estimate's error
_SIGNAL_BINS = 400  # grid of A / s for the prior
_EXACT_ABOVE = 8.0  # A / s above which the exact inversion is kept (the posterior mean is the inversion there, to << delta)
_MEAN_BINS = 2000  # the estimates are binned on this many values of m / s (memory independent of the image size)


def _posterior_one(r: torch.Tensor, coils: int, iterations: int) -> torch.Tensor | None:
    """``E[A / s | m / s]`` for one image's normalised estimates ``r`` (float64, any shape); None when the floor is not
    seen in enough pixels."""
    floor = float(magnitude_mean(torch.zeros(1, dtype=torch.float64), 1.0, coils))
    near = (r - floor).abs() < _FLOOR_BAND * floor
    if int(near.sum()) < MIN_FLOOR_PIXELS:
        return None
    d = r[near] - floor
    delta = float(1.4826 * (d - d.median()).abs().median())
    if not delta > 0:
        return None
    exact = magnitude_mean_inversion(r, 1.0, coils=coils)
    # the grid covers the signals near the floor finely (its step, not the image's brightest pixel, sets the
    # resolution); brighter pixels keep the exact inversion, with a margin of 6 delta for their likelihood
    top = _EXACT_ABOVE + 6.0 * delta + 1.0
    grid = torch.linspace(0.0, top, _SIGNAL_BINS, dtype=torch.float64)
    forward = magnitude_mean(grid, 1.0, coils)
    lo, hi = float(r.min()), float(r.clamp(max=float(forward[-1])).max()) + 1e-9  # forward[-1]: the mean at the grid's top
    centres = torch.linspace(lo, hi, _MEAN_BINS, dtype=torch.float64)
    inside = exact.reshape(-1) <= top  # the pixels the prior is fitted to
    index = ((r.reshape(-1)[inside] - lo) / (hi - lo) * (_MEAN_BINS - 1)).round().long().clamp(0, _MEAN_BINS - 1)
    counts = torch.bincount(index, minlength=_MEAN_BINS).to(torch.float64)
    likelihood = torch.exp(-0.5 * ((centres[:, None] - forward[None, :]) / delta) ** 2)  # (mean bins, signal bins)
    prior = torch.histc(exact.reshape(-1)[inside], bins=_SIGNAL_BINS, min=0.0, max=top) + 1e-3
    prior = prior / prior.sum()
    for _ in range(iterations):  # EM towards the maximum-likelihood prior
        post = likelihood * prior
        post = post / post.sum(dim=1, keepdim=True).clamp(min=1e-300)
        prior = (counts[:, None] * post).sum(dim=0) / counts.sum()
    post = likelihood * prior
    total = post.sum(dim=1)
    mean = (post @ grid) / total.clamp(min=1e-300)
    # a bin so far from every f(A) that its likelihood underflows keeps the exact inversion
    table = torch.where(total > 0, mean, magnitude_mean_inversion(centres, 1.0, coils=coils))
    # interpolate the table at each estimate
    position = (r.reshape(-1) - lo) / (hi - lo) * (_MEAN_BINS - 1)
    left = position.floor().long().clamp(0, _MEAN_BINS - 2)
    weight = (position - left.to(torch.float64)).clamp(0.0, 1.0)
    posterior = (table[left] + weight * (table[left + 1] - table[left])).reshape(r.shape)
    return torch.where(exact > _EXACT_ABOVE, exact, posterior)


def posterior_magnitude(
    mean: torch.Tensor, noise_std: float | torch.Tensor, coils: int = 1, iterations: int = 20
) -> torch.Tensor:
    """The posterior-mean signal ``E[A | m]`` of each pixel of each image, given estimates ``m`` of the magnitude mean
    ``E[M]`` (non-central chi of ``N`` coils, Rician for 1) with an error read from the image's own noise floor.

    Args:
        mean: estimates of ``E[M]``, ``(B, C, H, W[, D])``; each ``(b, c)`` image gets its own error and prior.
        noise_std: the std ``s`` of one real channel: a number, or a tensor broadcastable to ``mean`` (a per-pixel map,
            or ``(B, C, 1, ...)``); positive.
        coils: the (effective) coil count ``N`` >= 1. Defaults to 1.
        iterations: EM steps fitting the prior on ``A / s``; 0 keeps the histogram of the exact inversion. Defaults to 20.

    Returns:
        ``A >= 0`` of ``mean``'s shape and dtype; an image with fewer than :data:`MIN_FLOOR_PIXELS` pixels near the
        floor gets :func:`~monai_nad.transforms.magnitude_mean_inversion`.

    Raises:
        ValueError: ``mean`` with fewer than 3 dimensions, a ``noise_std`` not positive and finite everywhere, ``coils``
            below 1 or a negative ``iterations``.
    """
    if mean.ndim < 3:
        raise ValueError(f"posterior_magnitude needs images (B, C, H, W[, D]), got shape {tuple(mean.shape)}.")
    if int(coils) < 1 or int(iterations) < 0:
        raise ValueError(f"coils must be >= 1 and iterations >= 0, got {coils!r} and {iterations!r}.")
    s = torch.broadcast_to(torch.as_tensor(noise_std, dtype=torch.float64, device=mean.device), mean.shape)
    if not bool(torch.isfinite(s).all()) or bool((s <= 0).any()):
        raise ValueError("noise_std must be positive and finite everywhere for the posterior magnitude.")
    r = mean.to(torch.float64) / s
    out = torch.empty_like(r)
    for b in range(mean.shape[0]):
        for c in range(mean.shape[1]):
            posterior = _posterior_one(r[b, c], int(coils), int(iterations))
            out[b, c] = magnitude_mean_inversion(r[b, c], 1.0, coils=int(coils)) if posterior is None else posterior
    return (out * s).to(mean.dtype)
