"""The noise of magnitude MR images in one place: estimate its level, correct its bias, synthesise it.

- *Estimate*: :func:`estimate_image_noise_std` (one image, per channel) and :func:`estimate_noise_std` (a batch, per image
  and channel; what the inferers use), :func:`blind_noise_std` (the level a noise-conditioned network is told when none
  is known); :func:`~monai_nad.transforms.noise_map.estimate_noise` builds the spatial map
  and the coil count on the same helpers.
- *Correct*: :func:`magnitude_bias_correction` (``sqrt(max(m^2 - 2 b N s^2, 0))``) and its core
  :func:`remove_magnitude_bias` for second moments that are already squared (the networks diffuse ``m^2``);
  :func:`magnitude_mean_inversion` for estimates of the magnitude's mean (the signal whose mean it is).
- *Synthesise*: :func:`rician_noise`, the magnitude of ``N`` noisy receiver coils (Rician for one).

A magnitude image is ``M = sqrt(sum_k (A_k + s n1_k)^2 + (s n2_k)^2)`` over ``N`` receiver coils (``N = 1``: Rician),
with ``s`` the standard deviation of the Gaussian noise of each real and imaginary channel. In air (``A = 0``) ``M``
follows a (central) chi distribution with ``2 N`` degrees of freedom, ``E[M^2] = 2 N s^2``; in general
``E[M^2] = A^2 + 2 N s^2``.

The estimator (:func:`estimate_image_noise_std`) has two stages.

*Background statistics.* ``L`` is the local mean of ``M^2`` over windows of about 121 pixels (``11 x 11``,
``5 x 5 x 5``; smaller on small images). Over air, ``L / (2 N s^2)`` follows a Gamma law of shape ``N k`` and
mean 1 (``k`` pixels a window), and nothing in the image has a lower ``L`` than air: tissue only adds ``A^2``. The
air level ``2 N s^2`` is therefore the *lowest* stable fixed point of a PIESNO-like iteration: keep the windows
whose ``L`` lies in the lower half of that Gamma law around the current level (its 1 % to 50 % quantiles), set the
level to their mean divided by the mean of the truncated Gamma law (exact for pure air), repeat. Using only the
lower half keeps out dark tissue, skull, CSF and partial-volume edges (they sit just above air), and scanning
for the lowest fixed point keeps the iteration from settling on them. A fixed point is accepted if the first and
second moments of its windows have about the ratio of a chi law (``pi / 4`` for Rician) and if no large part of
the image is flatter than the noise it implies (median over all windows of ``local variance / expected noise
variance`` at least 0.92, see :func:`_flatness`): this rejects flat dark tissue at an SNR of 1 to 2 taken for air
in images without air. Windows that reach into exactly-zero (zero-filled, masked) areas are ignored.
The pitfalls of the obvious estimators are avoided: the darkest pixels are the low Rayleigh tail (0.47 s), and
Gaussian MAD / wavelet estimators give 0.75 to 0.8 s on images with much air.

*Fallback* (no usable background: an image cropped to the object, a texture). An iterated MAD of the
finest-scale Haar detail, variance-stabilised locally (after Foi 2011, "Noise estimation and removal in MR imaging:
the variance-stabilization approach"): each detail coefficient is divided by ``std(M) / s`` of the chi law at the
SNR of its neighbourhood. Edges and texture bias it upwards: a little on brain images at the usual noise levels,
by several times s on near-clean images with fine anatomy.

Both stages assume white noise of the same level everywhere. Noise correlated between neighbouring pixels (for
instance by zero-filled k-space interpolation) makes the background estimate low and the fallback much lower;
:func:`~monai_nad.transforms.noise_map.estimate_noise` measures the correlation and corrects for it. How close
either estimator comes to the truth is measured, not stated here: ``python scripts/check_noise_estimator.py``
(``--scanner`` for correlated scanner noise) prints it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from scipy import ndimage, special, stats

__all__ = [
    "VOLUME_ESTIMATE_VOXELS",
    "IMAGE_NOISE_STD_METHODS",
    "NOISE_STD_METHODS",
    "estimate_image_noise_std",
    "estimate_noise_std",
    "blind_noise_std",
    "magnitude_bias_correction",
    "magnitude_mean",
    "magnitude_mean_inversion",
    "remove_magnitude_bias",
    "rician_noise",
    "second_difference_noise_std",
    "EstimateNoiseStd",
    "EstimateNoiseStdd",
    "EstimateNoiseStdD",
    "EstimateNoiseStdDict",
]

#: The most voxels a volume's blind noise estimate reads (``max_voxels`` of :func:`estimate_image_noise_std` in the
#: inferers): 2^21. On a whole head volume (Colin27, 7.1 million voxels) every 4th slice gives almost the estimate
#: from every voxel, in a fraction of the time and memory.
VOLUME_ESTIMATE_VOXELS = 1 << 21

#: the accepted values of ``method`` of :func:`estimate_image_noise_std`.
IMAGE_NOISE_STD_METHODS = ("auto", "background", "vst_mad")
#: the accepted values of ``method`` of :func:`estimate_noise_std`: those of :func:`estimate_image_noise_std`, and
#: ``"second_difference"`` (the estimate the v0.2 Neural PDE and its family were trained with, computed in torch).
NOISE_STD_METHODS = IMAGE_NOISE_STD_METHODS + ("second_difference",)

_WINDOW_PIXELS = 121  # local-moment window: about this many pixels (11 x 11, 5 x 5 x 5)
_BAND = (0.01, 0.5)  # band of the Gamma law of the air windows used for the estimate (quantiles)
_MIN_WINDOWS = 100  # fewest windows inside the band for a background estimate
_MAX_CANDIDATES = 3  # fixed points tried, lowest first
_MAX_ITERATIONS = 50
_NEAR_MARGIN = 1.25  # _band_fixed_point scans the values within this factor of its band (the same result, faster)
_FLAT_MIN = 0.92  # least accepted flatness (see _flatness)
_RATIO_SLACK = 0.35  # accepted ratio: theory + slack * (1 - theory)
_MAD_TO_STD = 1.0 / stats.norm.ppf(0.75)


def _chi_mean(nu: np.ndarray, coils: int) -> np.ndarray:
    """``E[M] / s`` of a non-central chi magnitude with ``2 * coils`` degrees of freedom and ``nu = A / s``."""
    nu = np.asarray(nu, dtype=np.float64)
    head = math.sqrt(2.0) * math.exp(special.gammaln(coils + 0.5) - special.gammaln(coils))
    small = nu < 30.0
    out = np.empty_like(nu)
    out[small] = head * special.hyp1f1(-0.5, coils, -0.5 * nu[small] ** 2)
    big = nu[~small] ** 2  # large-argument expansion of 1F1, error ~ nu^-5
    out[~small] = np.sqrt(big) * (1.0 + (coils - 0.5) / big - (0.5 - coils) * (1.5 - coils) / (2.0 * big**2))
    return out


def _chi_std(nu: np.ndarray, coils: int) -> np.ndarray:
    """``std(M) / s`` of the same law."""
    nu = np.asarray(nu, dtype=np.float64)
    return np.sqrt(np.maximum(nu**2 + 2.0 * coils - _chi_mean(nu, coils) ** 2, 1e-12))


@functools.lru_cache(maxsize=16)
def _std_table(coils: int) -> tuple[float, float, np.ndarray]:
    """``std(M) / s`` as a function of ``E[M] / s``, tabulated on a uniform grid: ``(first mean, step, values)``.

    The grid runs from the air mean (``nu = 0``) to ``nu = 40``; the law is inverted through the increasing
    ``nu -> E[M] / s``.
    """
    nu = np.linspace(0.0, 40.0, 8001)
    mu = _chi_mean(nu, coils)
    grid = np.linspace(mu[0], mu[-1], 4096)
    return float(grid[0]), float(grid[1] - grid[0]), _chi_std(np.interp(grid, mu, nu), coils)


def _std_at(mean: np.ndarray, coils: int) -> np.ndarray:
    """``std(M) / s`` of the chi law whose mean is ``mean`` (in units of ``s``), clamped to the table's range."""
    first, step, table = _std_table(coils)
    position = np.clip((mean - first) / step, 0.0, len(table) - 1.000001)
    index = position.astype(np.intp)
    frac = position - index
    return table[index] * (1.0 - frac) + table[index + 1] * frac


def _haar(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One level of the separable Haar transform over every axis longer than 1.

    Returns:
        ``(block means, finest detail)``; the detail of white noise of std ``s`` has std ``s``.
    """
    approx = detail = x
    for axis, n in enumerate(x.shape):
        if n < 2:
            continue
        even, odd = np.arange(0, n - 1, 2), np.arange(1, n, 2)
        approx = 0.5 * (approx.take(even, axis=axis) + approx.take(odd, axis=axis))
        detail = (detail.take(even, axis=axis) - detail.take(odd, axis=axis)) / math.sqrt(2.0)
    return approx, detail


def _sigma_vst_mad(m: np.ndarray, coils: int, iterations: int = 30) -> float:
    """Fallback: iterated MAD of the variance-stabilised finest Haar detail (after Foi 2011).

    Each detail coefficient is divided by ``std(M) / s`` of the chi law at the signal level of its neighbourhood
    (``E[M]`` estimated by the mean over ``6 x 6`` pixels), a local first-order variance stabilisation. Then
    ``s = 1.4826 * median(|normalised detail|)``, iterated to a fixed point. On pure noise it is within 3 % of ``s``
    from an SNR of 1 up, and 4 % to 7 % low in air (a global first-order VST of the image: 13 % low in air, 4 %
    high at an SNR of 3). Edges and texture raise it.

    Args:
        m: one channel, spatial shape only, non-negative, float64.
        coils: number of coils ``N``.
        iterations: most fixed-point iterations.

    Returns:
        the estimate of ``s`` (0 for a noiseless image).
    """
    approx, detail = _haar(m)
    if detail.size == m.size:  # a single pixel: no detail
        return 0.0
    local = ndimage.uniform_filter(approx, size=3, mode="reflect").ravel()
    keep = local > 0  # exact-zero (zero-filled) areas carry no noise
    detail, local = np.abs(detail.ravel()[keep]), local[keep]
    if not detail.size:
        return 0.0
    sigma = float(np.median(detail)) * _MAD_TO_STD
    if not sigma > 0:
        return 0.0
    for _ in range(iterations):
        new = float(np.median(detail / _std_at(local / sigma, coils))) * _MAD_TO_STD
        done = abs(new - sigma) <= 1e-4 * sigma
        sigma = new
        if done:
            break
    return sigma


@functools.lru_cache(maxsize=64)
def _gamma_band(shape: float, quantiles: tuple[float, float]) -> tuple[float, float, float]:
    """Band ``[lo, hi]`` at ``quantiles`` of ``X ~ Gamma(shape, 1 / shape)`` (mean 1) and ``E[X | lo < X < hi]``."""
    lo, hi = stats.gamma.ppf(quantiles, shape, scale=1.0 / shape)
    inside = special.gammainc(shape, hi * shape) - special.gammainc(shape, lo * shape)
    mean = (special.gammainc(shape + 1, hi * shape) - special.gammainc(shape + 1, lo * shape)) / inside
    return float(lo), float(hi), float(mean)


def _chi_ratio(coils: int) -> float:
    """``E[M]^2 / E[M^2]`` in air for ``coils`` coils (``pi / 4`` for one)."""
    return float(math.exp(2.0 * (special.gammaln(coils + 0.5) - special.gammaln(coils))) / coils)


def _window(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Odd window of about ``_WINDOW_PIXELS`` pixels over the spatial axes longer than 1 (size 1 on the others).

    Smaller (down to 3 per axis) on small images, so that about 8 windows fit along the shortest axis.
    """
    axes = [n for n in shape if n > 1]
    if not axes:
        return tuple(1 for _ in shape)
    w = int(round(_WINDOW_PIXELS ** (1.0 / len(axes)))) | 1
    w = max(3, min(w, (min(axes) // 8 - 1) | 1))
    return tuple(min(w, n if n % 2 else n - 1) if n > 1 else 1 for n in shape)


def _sigma_background(m: np.ndarray, coils: int) -> float | None:
    """Background estimate (lowest fixed point of a PIESNO-like band iteration on local second moments).

    Args:
        m: one channel, spatial shape only, non-negative, float64, scaled to about ``[0, 1]``.
        coils: number of coils ``N``.

    Returns:
        the estimate of ``s``, or ``None`` without enough windows that look like air.
    """
    size = _window(m.shape)
    k = int(np.prod(size))
    if k < 9:
        return None
    inner = tuple(slice(s // 2, n - s // 2) for s, n in zip(size, m.shape))
    local2 = ndimage.uniform_filter(m * m, size=size, mode="reflect")[inner]
    valid = np.ones(local2.shape, dtype=bool)
    zeros = m == 0
    if zeros.any():  # zero-filled (masked) areas carry no noise: drop the windows that reach into them
        filled = ndimage.uniform_filter(zeros.astype(np.float64), size=size, mode="reflect") > 1.0 - 1e-9
        if filled.any():
            valid = ndimage.uniform_filter(filled.astype(np.float64), size=size, mode="reflect")[inner] < 1e-9
    valid &= local2 > 0
    values = local2[valid]
    if values.size < _MIN_WINDOWS:
        return None
    shape = float(coils * k)
    lo, hi, trunc_mean = _gamma_band(shape, _BAND)
    ratio_max = _chi_ratio(coils) + _RATIO_SLACK * (1.0 - _chi_ratio(coils))
    local1 = None
    for level in _fixed_point_candidates(values, lo, hi, trunc_mean, 0.05 / math.sqrt(shape)):
        level = _band_fixed_point(values, level, lo, hi, trunc_mean)
        if level is None:
            continue
        inside = valid & (local2 > lo * level) & (local2 < hi * level)
        if local1 is None:
            local1 = ndimage.uniform_filter(m, size=size, mode="reflect")[inner]
        ratio = float(local1[inside].mean() ** 2 / local2[inside].mean())
        sigma = math.sqrt(level / (2.0 * coils))
        if ratio <= ratio_max and _flatness(local1[valid], local2[valid], sigma, coils, k) >= _FLAT_MIN:
            return sigma
    return None


def _flatness(local1: np.ndarray, local2: np.ndarray, sigma: float, coils: int, k: int) -> float:
    """Median over the windows of ``local variance / (sigma * std(M | local mean) / s)^2``.

    Close to 1 or above when ``sigma`` is right: signal variation only adds variance, and no window is much
    flatter than the noise (0.98 to 1.0 measured with white noise, 0.95 with noise correlated by a half-band
    k-space truncation). Well below 1 when ``sigma`` is too high, e.g. when dark tissue at an SNR of 1 to 2 is
    taken for air (0.88 and lower measured on crops of the MNI brain).
    """
    var = np.maximum(local2 - local1 * local1, 0.0) * (k / (k - 1.0))
    expected = (sigma * _std_at(local1 / sigma, coils)) ** 2
    return float(np.median(var / expected))


def _fixed_point_candidates(values: np.ndarray, lo: float, hi: float, trunc_mean: float, step: float) -> list[float]:
    """Stable fixed points of ``g(level) = mean(values in [lo, hi] * level) / trunc_mean``, lowest first.

    ``g`` is evaluated on a log grid of spacing ``step`` from binned counts and sums; a downward crossing of
    ``g(level) = level`` is a stable fixed point: the lowest is the air, the next ones dark tissue.
    """
    logs = np.log(values)
    start, stop = float(logs.min()), float(logs.max())
    bins = int(min(max(math.ceil((stop - start) / step), 1), 20000))
    step = max((stop - start) / bins, 1e-12)
    index = np.minimum(((logs - start) / step).astype(np.intp), bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=values, minlength=bins)
    edges = start + step * np.arange(bins + 1)
    c = np.concatenate([[0], np.cumsum(counts)])
    t = np.concatenate([[0.0], np.cumsum(sums)])
    j = np.arange(len(edges))
    i_lo = np.clip(j + int(round(math.log(lo) / step)), 0, len(edges) - 1)
    i_hi = np.clip(j + int(round(math.log(hi) / step)), 0, len(edges) - 1)
    n = c[i_hi] - c[i_lo]
    enough = n >= _MIN_WINDOWS
    g = np.where(enough, (t[i_hi] - t[i_lo]) / np.maximum(n, 1) / trunc_mean, 0.0)
    above = ~enough | (g > np.exp(edges))  # too few windows: keep climbing
    cross = np.flatnonzero(above[:-1] & ~above[1:])
    return [float(np.exp(edges[i])) for i in cross[:_MAX_CANDIDATES]]


def _band_fixed_point(values: np.ndarray, level: float, lo: float, hi: float, trunc_mean: float) -> float | None:
    """Solve ``level = mean(values in [lo, hi] * level) / E[X | band]`` (PIESNO-like), from ``level``, by secant steps.

    Returns:
        the fixed point, or ``None`` if the band holds fewer than ``_MIN_WINDOWS`` values on the way.
    """
    previous = gap_previous = None
    near = near_lo = near_hi = None  # the values in (near_lo, near_hi), in order: a superset of the band
    for _ in range(_MAX_ITERATIONS):
        if near is None or not near_lo <= lo * level < hi * level <= near_hi:  # none yet, or the band left it
            near_lo, near_hi = lo * level / _NEAR_MARGIN, hi * level * _NEAR_MARGIN
            near = values[(values > near_lo) & (values < near_hi)]
        inside = near[(near > lo * level) & (near < hi * level)]
        if inside.size < _MIN_WINDOWS:
            return None
        new = float(inside.mean()) / trunc_mean
        gap = new - level
        if abs(gap) <= 2e-5 * level:  # 1e-5 in sigma; membership changes make finer steps noise
            return new
        step = new
        if previous is not None and gap != gap_previous:
            secant = level - gap * (level - previous) / (gap - gap_previous)
            if 0.5 * level < secant < 2.0 * level:
                step = secant
        previous, gap_previous, level = level, gap, step
    return level


def _as_numpy(image: NdarrayOrTensor) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    return np.asarray(image, dtype=np.float64)


def estimate_image_noise_std(image: NdarrayOrTensor, coils: int = 1, method: str = "auto", max_voxels: int | None = None) -> np.ndarray:
    """Blind estimate of the Gaussian noise level ``s`` of a magnitude (Rician / non-central chi) image.

    See the module docstring for the method. Scale-invariant: ``estimate(a * image) = a * estimate(image)``.

    Args:
        image: numpy array or torch tensor of shape ``(C, H, W[, D])``: non-negative magnitude values in any scale.
        coils: number ``N`` of receiver coils whose sum of squares makes the magnitude (1: Rician).
        method: ``"auto"`` (background statistics where there are enough air windows, else ``"vst_mad"``),
            ``"background"`` (background statistics only) or ``"vst_mad"`` (the variance-stabilised MAD fallback).
        max_voxels: for a channel with more voxels than this, estimate from every ``k``-th slice along its last axis
            (the fewest ``k`` that fits): the estimator holds a few float64 copies of what it reads, so this bounds its
            memory on large volumes (the noise of the slices kept is the same). Defaults to None (every voxel).

    Returns:
        a float64 array of shape ``(C,)``: ``s`` for each channel, in the image's units. A noiseless
        (constant or all-zero) channel gives 0.0 with ``"auto"`` and ``"vst_mad"``.

    Raises:
        ValueError: unknown ``method``, ``coils < 1``, an image with fewer than 3 dimensions (no channel axis),
            non-finite or negative values, or (``method="background"``) a channel without usable background.
    """
    if method not in IMAGE_NOISE_STD_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {IMAGE_NOISE_STD_METHODS}.")
    if int(coils) != coils or coils < 1:
        raise ValueError(f"coils must be a positive integer, got {coils!r}.")
    coils = int(coils)
    if max_voxels is not None and image.ndim >= 4 and math.prod(image.shape[1:]) > max_voxels:
        step = math.ceil(math.prod(image.shape[1:]) / max_voxels)
        image = image[..., ::step]
    x = _as_numpy(image)
    if x.ndim < 3:
        raise ValueError(f"expected a channel-first image (C, H, W[, D]), got shape {x.shape}; add a channel axis.")
    if x.size and not np.isfinite(x).all():
        raise ValueError("the image contains non-finite values.")
    if x.size and x.min() < 0:
        raise ValueError("a magnitude image must be non-negative; got negative values.")
    out = np.zeros(x.shape[0], dtype=np.float64)
    for c, channel in enumerate(x):
        scale = float(channel.max()) if channel.size else 0.0
        if not scale > 0:
            if method == "background":
                raise ValueError(f"channel {c} is all zero: no usable background.")
            continue
        m = channel / scale
        sigma = _sigma_background(m, coils) if method != "vst_mad" else None
        if sigma is None:
            if method == "background":
                raise ValueError(f"channel {c} has no usable background (too few air windows with chi statistics).")
            sigma = _sigma_vst_mad(m, coils)
        out[c] = sigma * scale
    return out


def _second_difference_kernel(spatial_dims: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Outer product of ``[1, -2, 1]`` along every axis, scaled to unit L2 norm (so white noise keeps its std)."""
    base = torch.tensor([1.0, -2.0, 1.0], dtype=dtype, device=device)
    kernel = base
    for _ in range(spatial_dims - 1):
        kernel = kernel[..., None] * base
    kernel = kernel / kernel.pow(2).sum().sqrt()
    return kernel[None, None]


def second_difference_noise_std(x: torch.Tensor, snr_threshold: float = 5.0) -> torch.Tensor:
    """The ``(B, C)`` noise std of a batch by the ``"second_difference"`` method of :func:`estimate_noise_std`: torch on
    ``x``'s device, no gradient, scriptable (the estimate the v0.2 Neural PDE and its family are told, :func:`blind_noise_std`).

    A second-difference filter of unit norm removes smooth anatomy and keeps white noise at its standard deviation;
    the median absolute response is a robust estimate of it (Donoho's MAD rule, applied to an Immerkaer-type
    operator). Magnitude noise is Gaussian only where the signal is well above the noise, so the estimate is refined
    over the pixels whose local mean exceeds ``snr_threshold`` times a first, whole-image estimate (falling back to
    the whole image when fewer than 64 pixels qualify). Every spatial axis must be at least 3.
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
            response = torch.nn.functional.conv2d(flat, kernel).abs().flatten(1)
            local_mean = torch.nn.functional.avg_pool2d(flat, 3, stride=1).flatten(1)  # aligned with the valid convolution
        else:
            response = torch.nn.functional.conv3d(flat, kernel).abs().flatten(1)
            local_mean = torch.nn.functional.avg_pool3d(flat, 3, stride=1).flatten(1)
        first = mad_to_std * response.median(dim=1).values
        bright = local_mean > snr_threshold * first[:, None]
        masked = torch.where(bright, response, torch.full_like(response, float("nan")))
        refined = mad_to_std * torch.nanmedian(masked, dim=1).values
        enough = bright.sum(1) >= 64
        sigma = torch.where(enough & torch.isfinite(refined), refined, first)
    return sigma.reshape(b, c).to(x.dtype)


def estimate_noise_std(
    x: torch.Tensor, coils: int | torch.Tensor = 1, method: str = "auto", max_voxels: int | None = None
) -> torch.Tensor:
    """The blind noise level ``noise_std`` of every image and channel of a batch, without gradient.

    ``"auto"``, ``"background"`` and ``"vst_mad"`` run :func:`estimate_image_noise_std` on each image, on the CPU in
    float64; ``"second_difference"`` runs a robust MAD of a
    second-difference filter in torch on ``x``'s device (it ignores ``coils`` and ``max_voxels``).

    Args:
        x: magnitude images ``(B, C, *spatial)`` on any device.
        coils: receiver coils of a sum-of-squares magnitude (1: Rician): one count, or one per image ``(B,)``.
        method: one of :data:`NOISE_STD_METHODS`. Defaults to ``"auto"``.
        max_voxels: see :func:`estimate_image_noise_std`; the inferers pass :data:`VOLUME_ESTIMATE_VOXELS` for volumes.
            Defaults to None (every voxel).

    Returns:
        ``(B, C)`` noise levels on ``x``'s device, in its dtype (float32 for integer input).

    Raises:
        ValueError: ``x`` has fewer than 4 dimensions, an unknown ``method``, or see :func:`estimate_image_noise_std`.

    Example::

        noise_std = estimate_noise_std(noisy)  # (B, C, H, W[, D]) -> (B, C)
    """
    if method not in NOISE_STD_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {NOISE_STD_METHODS}.")
    if x.ndim < 4:
        raise ValueError(f"expected a batch (B, C, H, W[, D]), got shape {tuple(x.shape)}.")
    if method == "second_difference":
        return second_difference_noise_std(x)
    counts = torch.broadcast_to(torch.as_tensor(coils).reshape(-1), (x.shape[0],)).tolist()
    images = x.detach().cpu()
    if images.dtype not in (torch.float32, torch.float64):  # numpy reads neither half precision nor bfloat16
        images = images.double()
    levels = np.stack([estimate_image_noise_std(v, coils=n, method=method, max_voxels=max_voxels) for v, n in zip(images, counts)])
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return torch.as_tensor(levels, dtype=dtype, device=x.device)


def blind_noise_std(x: torch.Tensor, coils: int | torch.Tensor = 1, method: str = "auto") -> torch.Tensor:
    """The noise level a noise-conditioned network is told when none is known: the blind estimate of each image.

    The noise-conditioned networks (:class:`~monai_nad.networks.NoiseConditionedPDE` and its kin) need ``noise_std``;
    the callers decide it: given, or this estimate (the inferers, :class:`~monai_nad.engines.NoiseStdBatch` for
    batches without a level, the experiments). It is :func:`estimate_noise_std` (``"auto"``, every voxel) of ``x``
    with negative values (interpolation, round-off) read as 0. The v0.2 Neural PDE and its family were trained with
    another estimate, which they name in their ``noise_std_method``: ``"second_difference"`` is
    :func:`second_difference_noise_std` of ``x`` as it is.

    Args:
        x: magnitude images ``(B, C, *spatial)``: a batch of 2D images, or of volumes (one estimate per volume).
        coils: receiver coils of a sum-of-squares magnitude (1: Rician): one integer count, or one per image ``(B,)``.
        method: one of :data:`NOISE_STD_METHODS`. Defaults to ``"auto"``.

    Returns:
        ``(B, C)`` noise levels on ``x``'s device, in its dtype (float32 for integer input), without gradient.

    Example::

        denoised = net(noisy, noise_std=blind_noise_std(noisy))
    """
    if method == "second_difference":
        return second_difference_noise_std(x)
    return estimate_noise_std(x.detach().clamp(min=0), coils=coils, method=method)


def _expand_sigma(sigma: np.ndarray | torch.Tensor, ndim: int, shape: tuple[int, ...]):
    """Append singleton axes to a ``sigma`` that matches the leading axes of ``m`` (per-channel / per-image)."""
    sshape = tuple(sigma.shape)
    if 0 < len(sshape) < ndim and sshape == tuple(shape[: len(sshape)]) and sshape != (1,):
        return sigma.reshape(sshape + (1,) * (ndim - len(sshape)))
    return sigma


def remove_magnitude_bias(second_moment: torch.Tensor, bias: torch.Tensor, floor: float = 0.0, smooth: float = 0.0) -> torch.Tensor:
    """The second-moment bias correction ``sqrt(max(second_moment - bias, floor) + smooth^2) - smooth``.

    ``second_moment`` is a squared magnitude (or a local mean of one, e.g. a diffused ``m^2``) whose expectation is
    ``A^2 + bias``; ``bias = 2 N s^2`` removes Rician (``N = 1``) or non-central chi (``N`` coils) noise of level ``s``
    (McGibney and Smith, Med. Phys. 1993). :func:`magnitude_bias_correction` computes the bias from ``noise_std``.

    Torch only and scriptable (the networks call it inside ``forward``); :func:`magnitude_bias_correction` also takes
    numpy arrays.

    Args:
        second_moment: a tensor, any shape.
        bias: what to subtract: a tensor broadcastable to ``second_moment`` (or a number).
        floor: least value under the root (``> 0`` keeps a torch gradient finite where the correction clips).
            Defaults to 0.
        smooth: ``> 0`` makes the correction differentiable everywhere: ``sqrt(max(., floor) + smooth^2) - smooth``.
            Defaults to 0.

    Returns:
        the corrected magnitudes; with ``floor = smooth = 0`` the gradient is finite everywhere (0 where the correction
        clips).
    """
    v = second_moment - bias
    if floor > 0.0 or smooth > 0.0:
        kept = torch.clamp(v, min=floor) if floor > 0.0 else torch.relu(v)
        if smooth > 0.0:
            return torch.sqrt(kept + smooth * smooth) - smooth
        return torch.sqrt(kept)
    positive = v > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, v, torch.ones_like(v))), torch.clamp(v, min=0.0))


def magnitude_bias_correction(
    m: NdarrayOrTensor,
    noise_std: float | NdarrayOrTensor,
    coils: float | NdarrayOrTensor = 1,
    b: float | torch.Tensor = 1.0,
    smooth: float = 0.0,
) -> NdarrayOrTensor:
    """Second-moment bias correction of a magnitude image: ``sqrt(max(m^2 - 2 b N noise_std^2, 0))``.

    Exact in expectation (``b = 1``) for ``E[M^2] = A^2 + 2 N s^2`` (Rician for ``N = 1``, non-central chi for ``N``
    coils); ``b`` is a strength tuned by the classical baselines or learned by the v0.2 networks.

    Args:
        m: magnitude image (numpy array or torch tensor), any shape, e.g. ``(C, H, W[, D])``.
        noise_std: noise level: a number; an array whose shape equals the leading axes of ``m`` (e.g. ``(C,)`` for a
            channel-first image, ``(B, C)`` for a batch), expanded with trailing singleton axes; or any array
            broadcastable to ``m`` (e.g. a map of ``m``'s shape).
        coils: receiver coils ``N`` (1: Rician); any positive number (an effective count of correlated coils).
        b: correction strength, a number or a 0-d tensor. Defaults to 1.
        smooth: see :func:`remove_magnitude_bias`. Defaults to 0.

    Returns:
        the corrected image, of the same type (numpy / torch) as ``m``, floating point; with torch the gradient is
        finite everywhere.

    Raises:
        ValueError: a negative ``noise_std``, or ``coils`` not positive.

    Example::

        corrected = magnitude_bias_correction(denoised, noise_std=0.05)
    """
    if not bool(np.all(np.asarray(coils.cpu() if isinstance(coils, torch.Tensor) else coils) > 0)):
        raise ValueError(f"coils must be positive, got {coils!r}.")
    if isinstance(m, torch.Tensor):
        mt = m if m.is_floating_point() else m.float()
        if isinstance(noise_std, (int, float)) and not isinstance(b, torch.Tensor):
            if noise_std < 0:
                raise ValueError("noise_std must be non-negative.")
            bias = 2.0 * b * coils * noise_std**2  # a Python number, subtracted in m's dtype
        else:
            s = torch.as_tensor(noise_std, dtype=mt.dtype, device=mt.device)
            if bool((s < 0).any()):
                raise ValueError("noise_std must be non-negative.")
            s = _expand_sigma(s, mt.ndim, tuple(mt.shape))
            strength = b.to(mt.dtype) if isinstance(b, torch.Tensor) else b
            bias = 2.0 * strength * coils * s**2
        return remove_magnitude_bias(mt * mt, bias, smooth=smooth)
    ma = np.asarray(m)
    if not np.issubdtype(ma.dtype, np.floating):
        ma = ma.astype(np.float64)
    s = np.asarray(noise_std.detach().cpu().numpy() if isinstance(noise_std, torch.Tensor) else noise_std, dtype=ma.dtype)
    if (s < 0).any():
        raise ValueError("noise_std must be non-negative.")
    s = _expand_sigma(s, ma.ndim, ma.shape)
    bias = torch.as_tensor(np.asarray(2.0 * b * coils * s**2, dtype=ma.dtype))
    return remove_magnitude_bias(torch.as_tensor(np.asarray(ma * ma)), bias, smooth=smooth).numpy()


_MEAN_TABLE_END = 40.0  # A / s at the end of the mean tables; beyond, E[M]^2 = A^2 + (2 N - 1) s^2 to better than 1e-4 s


@functools.lru_cache(maxsize=8)
def _mean_table(coils: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A / s, E[M] / s)`` of the non-central chi magnitude of ``coils`` receivers on ``points`` values of ``A / s``
    from 0 to 40."""
    nu = np.linspace(0.0, _MEAN_TABLE_END, points)
    return nu, _chi_mean(nu, coils)


def magnitude_mean(signal: torch.Tensor, noise_std: float | torch.Tensor, coils: int = 1, points: int = 8001) -> torch.Tensor:
    """``E[M]``, the mean magnitude (non-central chi with ``2 N`` degrees of freedom, Rician for ``N = 1``) of the signal
    ``A``: the forward map that :func:`magnitude_mean_inversion` inverts, differentiable in ``A``.

    A self-supervised loss on noisy magnitude images (Noise2Self) is minimised by ``E[M]``; a network that estimates
    ``A`` is trained through this map. Read off the same table as the inversion (linear interpolation in ``A / s``);
    above it, ``E[M] = sqrt(A^2 + (2 N - 1) s^2)``.

    Args:
        signal: ``A`` (negative values are taken as 0), a floating-point tensor of any shape.
        noise_std: the std ``s`` of each real and imaginary channel: a number or a tensor broadcastable to ``signal``;
            where it is 0, ``signal`` is returned unchanged.
        coils: receiver coils ``N`` (1: Rician). Defaults to 1.
        points: the table's length. Defaults to 8001.

    Returns:
        ``E[M]``, of ``signal``'s shape (broadcast with ``noise_std``) and dtype.
    """
    _, mu_table = _mean_table(int(coils), int(points))
    mu = torch.as_tensor(mu_table, dtype=signal.dtype, device=signal.device)
    s = torch.as_tensor(noise_std, dtype=signal.dtype, device=signal.device)
    positive = s > 0
    r = signal.clamp(min=0.0) / torch.where(positive, s, torch.ones_like(s))
    t = r.clamp(max=_MEAN_TABLE_END) * ((int(points) - 1) / _MEAN_TABLE_END)
    lo = t.detach().floor().clamp(max=int(points) - 2).long()
    inside = mu[lo] + (t - lo.to(t.dtype)) * (mu[lo + 1] - mu[lo])
    above = torch.sqrt(r * r + float(2 * int(coils) - 1))
    return torch.where(positive, torch.where(r > _MEAN_TABLE_END, above, inside) * s, signal)


def magnitude_mean_inversion(mean: torch.Tensor, noise_std: float | torch.Tensor, coils: int = 1, points: int = 8001) -> torch.Tensor:
    """The signal ``A >= 0`` whose magnitude (non-central chi with ``2 N`` degrees of freedom, Rician for ``N = 1``) has
    the mean ``mean``: 0 at or below the noise floor ``E[M | A = 0]``.

    A denoiser that learned from noisy magnitude images (self-supervised), or a low-rank step on them, estimates
    ``E[M]``, about ``1.25 s`` in the air for one coil, not ``A``; this undoes it pixel by pixel. ``A / s`` is read off
    the increasing ``A / s -> E[M] / s`` tabulated on ``points`` values from 0 to 40 (linear interpolation); above the
    table, ``A = sqrt(max(E[M]^2 - (2 N - 1) s^2, 0))``. The interpolation error is largest in the first step above the
    floor, where ``E[M]`` grows with ``A^2``: about a quarter of the step (``0.0012 s`` with 8001 points, ``0.0025 s``
    with 4001); from ``A = s`` on it is below ``1e-5 s``.

    Args:
        mean: estimates of ``E[M]``, a floating-point tensor of any shape.
        noise_std: the std ``s`` of each real and imaginary channel: a number or a tensor broadcastable to ``mean``;
            where it is 0, ``mean`` is returned unchanged.
        coils: receiver coils ``N`` (1: Rician). Defaults to 1.
        points: the table's length. Defaults to 8001.

    Returns:
        ``A``, of ``mean``'s shape (broadcast with ``noise_std``), dtype and device; computed in float64.
    """
    nu_table, mu_table = _mean_table(int(coils), int(points))
    nu = torch.as_tensor(nu_table, dtype=torch.float64, device=mean.device)
    mu = torch.as_tensor(mu_table, dtype=torch.float64, device=mean.device)
    s = torch.as_tensor(noise_std, dtype=torch.float64, device=mean.device)
    positive = s > 0
    r = mean.to(torch.float64) / torch.where(positive, s, torch.ones_like(s))
    flat = r.clamp(min=float(mu[0]), max=float(mu[-1])).reshape(-1).contiguous()
    hi = torch.searchsorted(mu, flat).clamp(1, len(nu) - 1)
    lo = hi - 1
    weight = (flat - mu[lo]) / (mu[hi] - mu[lo])
    a = (nu[lo] + weight * (nu[hi] - nu[lo])).reshape(r.shape)
    a = torch.where(r > mu[-1], torch.sqrt(torch.clamp(r * r - float(2 * int(coils) - 1), min=0.0)), a)
    return torch.where(positive, a * s, mean.to(torch.float64)).to(mean.dtype)


def rician_noise(
    clean: NdarrayOrTensor,
    noise_std: float | np.ndarray,
    rng: np.random.Generator | np.random.RandomState,
    coils: int = 1,
    dtype: type | np.dtype = np.float64,
) -> np.ndarray:
    """Magnitude noise of ``coils`` receivers: ``sqrt(sum_k (x / sqrt(N) + s n1_k)^2 + (s n2_k)^2)``.

    One coil gives Rician noise ``sqrt((x + s n1)^2 + (s n2)^2)``; more give the non-central chi noise of a
    sum-of-squares combination whose channels each carry ``x / sqrt(N)``. The draws come from ``rng`` coil by coil,
    the real channel's ``n1`` before the imaginary channel's ``n2``, each of ``clean``'s shape, so a seed fixes the
    noisy image.

    Args:
        clean: clean magnitudes, any shape.
        noise_std: the noise std ``s`` of each real and imaginary channel: a number, or an array broadcastable to
            ``clean`` (spatially varying noise).
        rng: a numpy ``Generator`` or ``RandomState`` (e.g. a MONAI transform's ``self.R``).
        coils: the number of receiver coils ``N`` >= 1. Defaults to 1 (Rician).
        dtype: the dtype of the draws and of the arithmetic (``clean`` is converted to it). Defaults to float64.

    Returns:
        the noisy magnitudes, ``clean``'s shape, in ``dtype``.

    Raises:
        ValueError: ``coils`` not an integer >= 1.

    Example::

        noisy = rician_noise(clean, 0.05, numpy.random.default_rng(0)).astype(numpy.float32)
    """
    if int(coils) != coils or coils < 1:
        raise ValueError(f"coils must be an integer >= 1, got {coils!r}.")
    x = np.asarray(clean.detach().cpu().numpy() if isinstance(clean, torch.Tensor) else clean, dtype=dtype)
    signal = x / math.sqrt(coils)
    power = np.zeros_like(signal)
    for _ in range(int(coils)):
        kwargs = {"dtype": dtype} if np.dtype(dtype) != np.float64 else {}
        power += (signal + noise_std * rng.standard_normal(x.shape, **kwargs)) ** 2 + (noise_std * rng.standard_normal(x.shape, **kwargs)) ** 2
    return np.sqrt(power)


class EstimateNoiseStd(Transform):
    """Estimate the noise level ``s`` of each channel of a magnitude image (see :func:`estimate_image_noise_std`).

    Args:
        coils: number of receiver coils (1: Rician).
        method: ``"auto"``, ``"background"`` or ``"vst_mad"``.

    Raises:
        ValueError: invalid ``coils`` or ``method``.

    Example::

        noise_std = EstimateNoiseStd()(noisy)  # noisy (C, H, W[, D]) -> noise_std (C,) float32 tensor
    """

    def __init__(self, coils: int = 1, method: str = "auto") -> None:
        if method not in IMAGE_NOISE_STD_METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {IMAGE_NOISE_STD_METHODS}.")
        if int(coils) != coils or coils < 1:
            raise ValueError(f"coils must be a positive integer, got {coils!r}.")
        self.coils = int(coils)
        self.method = method

    def __call__(self, img: NdarrayOrTensor) -> torch.Tensor:
        """``img`` of shape ``(C, H, W[, D])`` -> float32 tensor of shape ``(C,)`` (on the CPU)."""
        return torch.as_tensor(estimate_image_noise_std(img, coils=self.coils, method=self.method), dtype=torch.float32)


class EstimateNoiseStdd(MapTransform):
    """Dictionary twin of :class:`EstimateNoiseStd`: writes ``d[f"{key}_{noise_key_postfix}"]``, a ``(C,)`` tensor.

    Args:
        keys: keys of the images to examine.
        noise_key_postfix: suffix of the output key. Defaults to ``"noise_std"``.
        coils, method: see :class:`EstimateNoiseStd`.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        noise_key_postfix: str = "noise_std",
        coils: int = 1,
        method: str = "auto",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.noise_key_postfix = noise_key_postfix
        self.estimator = EstimateNoiseStd(coils=coils, method=method)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[f"{key}_{self.noise_key_postfix}"] = self.estimator(d[key])
        return d


EstimateNoiseStdD = EstimateNoiseStdDict = EstimateNoiseStdd
