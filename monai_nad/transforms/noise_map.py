"""A blind noise estimate that does not assume white noise of one level: a per-pixel std map, the coil count and
the noise's spatial correlation, read from the air around the object.

Scanner noise differs from white Rician noise (see :mod:`monai_nad.transforms.scanner_noise`): k-space filters and
zero-filling correlate it, a root-sum-of-squares (RSS) of ``N`` coils makes the air a chi law with ``2 N`` degrees
of freedom, and SENSE unfolding makes its level vary smoothly across the image (g-factor). :func:`estimate_noise`
handles all three.

Why :func:`~monai_nad.transforms.noise.estimate_image_noise_std` reads low on filtered (correlated) noise: neither
the air mask's edge nor the filter's blur of the object into the air, but its window statistics. The correlation
leaves its window means of ``M^2`` far fewer independent samples than pixels, so they follow a wider Gamma law than
the one its band iteration assumes, and that band's lower half sits in the real law's lower tail; the same iteration
with the window means' real Gamma shape reads the level. (Not told the coil count, it also reads far too low on RSS
magnitudes: the chi test rejects the air and the white-noise MAD fallback answers.)

The method (``s``: the std of one real channel of the combined complex image, as everywhere in this package; ``L``:
the local mean of ``M^2`` over the existing estimator's windows, 11 x 11 or 5 x 5 x 5, ``k`` pixels):

1. *Air.* A wide band (Gamma shape 8, wider than any air's) around the lowest stable fixed points of the existing
   estimator's band iteration (its functions, reused) catches the air whatever ``N`` and the correlation; from it
   come ``N`` and the window means' real Gamma shape (from their 10 % and 50 % quantiles, i.e. the lower half, which
   dark tissue passing for air barely reaches), then the air level (band fixed point with that shape), accepted by
   the existing flatness test (corrected for the correlation). Three passes then redraw the air: windows whose
   ``L`` is below the 99.5 % quantile of that Gamma law (times 1.05) of the local level (a local band fixed point,
   :func:`_band_level`), counting noise specks (non-air components under two windows' area) as air, eroded by two
   windows (no air pixel sees the object), and only regions reaching the image's border or a zero-filled area.
2. *Coils.* In air ``M^2 / (2 s^2)`` is Gamma(``N``, 1): with ``u = M^2`` divided by its smoothed local mean,
   ``N = mean(u)^2 / var(u)``, rounded and clipped to 1 to 32 (a spatial correlation leaves the marginal law alone).
3. *Correlation.* For circular complex Gaussian noise ``n`` with normalised autocorrelation ``rho(d) =
   E[n(x) conj(n(x + d))] / E|n|^2``, Isserlis' theorem gives ``cov(|n(x)|^2, |n(x + d)|^2) = |E[n(x)
   conj(n(x + d))]|^2``: the normalised autocovariance of ``M^2`` in air is ``|rho(d)|^2`` (for RSS too, every coil
   adding the same). :attr:`NoiseEstimate.autocorrelation` is its square root, ``|rho|``, on lags ``-r..r``
   (values within 2.5 standard errors of 0 set to 0); for a symmetric real k-space filter ``rho`` is real and
   ``|rho|`` is the real channel's autocorrelation where that is positive (the sign of the small sidelobes is
   lost; for partial Fourier ``rho`` is complex and the real channel sees ``Re(rho)``). With too little air
   (fewer than 1000 pixels) the correlation comes from the flattest half of a high-pass residual ``M - G_2 * M``
   inside the object: the Gaussian ``rho = exp(-d^2 / 2 l^2)`` whose residual autocorrelation (computed through
   the same high-pass) fits the measured one at lags 1 and 2.
4. *Map.* ``s^2 = E[M^2] / (2 N)`` over the whole image: a polynomial of order 0 to 2 in normalised coordinates
   (g-factor maps are smooth), its order by BIC on the air's lower half (the windows in the band around the air's
   constant level), fitted to the air's ``M^2`` by least squares plus the air's smoothed residual, which fades away
   from the air, or, for nearly white noise whose air mean exceeds its lower half (dark tissue passing for air), by
   a polynomial band fixed point; kept within the range the air shows (:func:`_level_map`). Without air (fewer than
   500 pixels) the map is the constant of the existing variance-stabilised MAD fallback, divided by the factor the
   estimated correlation puts on its Haar detail, and ``N`` is the given one or 1. A volume whose 3D windows find
   no air (a thin slab: two windows of erosion leave little depth) is read slice by slice, on a few evenly spaced
   slices (reading every thin slab slice by slice first was tried: slightly worse on dim images, where the 3D windows
   tell dark tissue from air better).

What a denoiser trained on white noise is told of correlated noise: :func:`white_equivalent_factor`. Told the
per-pixel std of Hann-filtered noise, such a denoiser keeps the noise's smooth blobs as anatomy; told the level of
the white noise with the same power at low frequencies (``sqrt(P(0))`` times the std, scaled by a gain chosen on
validation, with the magnitude bias of the true level), it removes them. Measured on the scanner-noise benchmark's
validation slabs (``python scripts/tune_white_equivalent.py``).

How close the map's median comes to the true std, per cell and slice of the scanner-noise benchmark (filtered,
partial Fourier, 8-coil RSS, SENSE ``R = 2``; with the coil counts found and the correlation lengths) and on white
Rician noise beside :func:`~monai_nad.transforms.noise.estimate_image_noise_std`, is measured, not stated here:
``python scripts/check_noise_estimator.py --scanner`` prints it (``python scripts/check_noise_estimator.py``: the white
Rician estimator on the real-anatomy cells), and the README cites that output.

Limits of the method. The map is flat unless the lower half of the air shows a trend: a smooth change of the noise
level across the image is not followed (its median then reads low), nor are the std maps of SENSE unfolding with few
coils, whose noisier air beside the object is not taken for air. A least-squares order choice that follows such
trends (tried: leave-one-tile-out) also takes dark scalp next to the air for one. An RSS magnitude whose noise floor
``sqrt(2 N) s`` nears the object's intensity has no air to read ``N`` from: tell it ``coils``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.config import NdarrayOrTensor
from scipy import fft as sfft
from scipy import ndimage, stats

from monai_nad.transforms.noise import (
    _BAND,
    _FLAT_MIN,
    VOLUME_ESTIMATE_VOXELS,
    _as_numpy,
    _band_fixed_point,
    _fixed_point_candidates,
    _flatness,
    _gamma_band,
    _sigma_vst_mad,
    _window,
)

__all__ = ["NoiseEstimate", "estimate_noise", "white_equivalent_factor", "psd_correlation_lengths", "acf_correlation_lengths", "MAX_ESTIMATED_COILS", "WHITE_EQUIVALENT_GAIN"]

#: the largest coil count :func:`estimate_noise` reports.
MAX_ESTIMATED_COILS = 32

#: :func:`white_equivalent_factor`'s gain for the shipped models, chosen on the validation slabs of the scanner-noise
#: benchmark (``python scripts/tune_white_equivalent.py``): ``{"2d": 2D model, "3d": volume model}``.
WHITE_EQUIVALENT_GAIN = {"2d": 0.7, "3d": 0.6}

_GAUSSIAN_LAG_SUM = math.sqrt(2.0 * math.pi) / (2.0 * math.sqrt(2.0 * math.log(2.0)))  # sum over lags of a Gaussian ACF per unit FWHM

_MIN_SIDE = 16  # the smallest accepted in-plane size
_MIN_AIR = 500  # fewest air pixels for an air-based map
_MIN_AIR_CORRELATION = 1000  # fewest air pixels for the air's autocorrelation
_WIDE_SHAPE = 8.0  # Gamma shape of the first, wide band (below any air window mean's)
_SHAPE_QUANTILES = (0.1, 0.5)  # quantiles of the air's window means that give their Gamma shape
_AIR_QUANTILE = 0.995  # the air's window means lie below this quantile of their Gamma law ...
_AIR_MARGIN = 1.05  # ... times this margin (for the smoothing error of the local level)
_SPECK = 2  # non-air components smaller than this many windows' area are noise, not the object
_MARGIN = 2  # air pixels lie this many windows from any non-air window
_PASSES = 3  # redraws of the air against the local level
_BAND_ITERATIONS = 30
_MIN_WINDOWS_BAND = 100
_POLY_ORDER = 2
_BAND_RELATIVE_STD = 1.2  # std of (air mean / band level) times sqrt(independent samples), pure air (0.6-0.8 measured)
_WHITE_FRACTION = 0.3  # independent samples per window pixel from which the noise counts as nearly white
_ACF_FLOOR = 2.5  # |rho| is 0 where the air's autocorrelation is within this many standard errors of 0
_SMOOTH_FRACTION = 0.08  # std of the normalised convolution, a fraction of each axis (at least _SMOOTH_MIN)
_SMOOTH_MIN = 3.0
_NC_FLOOR = 0.25  # the normalised-convolution residual fades where the smoothed air fraction is below this
_MAX_FIT_PIXELS = 200_000
_SLICE_WISE_SLICES = 4  # slices read by the slice-wise fallback of a volume


@dataclass(frozen=True)
class NoiseEstimate:
    """The result of :func:`estimate_noise`.

    Attributes:
        std_map: the per-pixel noise std of one real channel of the combined complex image, in the image's units,
            float32 of the image's shape (at high SNR also the std of the magnitude's noise).
        std: the median of ``std_map`` over the foreground (every pixel that is not air), in the image's units.
        coils: ``N``, the effective coil count (degrees of freedom / 2 of the air's chi law): estimated from the
            air unless given; 1 when there is too little air to tell.
        coils_estimated: whether ``coils`` was estimated (False: given, or no air to estimate it from).
        correlation_length: the largest of ``correlation_lengths``.
        correlation_lengths: per image axis, the full width (pixels) at which ``autocorrelation`` falls to 0.5,
            linearly interpolated between lags: 1.0 for white noise (``1.0`` on axes of length 1).
        autocorrelation: ``|rho(d)|``, the modulus of the noise's normalised autocorrelation, on the lags
            ``-r..r`` of every axis longer than 1 (index ``r`` is lag 0; axes of length 1 have one lag): from the
            air's ``M^2`` (module docstring, step 3), or the Gaussian model fitted inside the object.
        psd: the PSD of the unit-variance noise over axes 0 and 1 (shape ``image.shape[:2]``), in the convention of
            the ``bm3d`` package (``|fftn|^2`` of the noise field, mean = number of pixels ``P``; white noise: ``P``
            everywhere), from ``autocorrelation`` read as a real autocorrelation (lag 0 along axis 2).
        source: ``"air"`` (the map read from the air) or ``"fallback"`` (no usable air: a constant from the
            variance-stabilised MAD).
        correlation_source: ``"air"`` or ``"residual"`` (the high-pass residual inside the object).
        air: bool mask of the pixels read as air (image shape).
    """

    std_map: np.ndarray
    std: float
    coils: int
    coils_estimated: bool
    correlation_length: float
    correlation_lengths: tuple[float, ...]
    autocorrelation: np.ndarray
    psd: np.ndarray
    source: str
    correlation_source: str
    air: np.ndarray

    def summary(self, units: float = 1.0) -> str:
        """One line: ``std``, ``N`` and the correlation length (``std`` divided by ``units``)."""
        told = "estimated" if self.coils_estimated else "given" if self.source == "air" else "assumed"
        return (
            f"noise std {self.std / units:.4g} ({'air' if self.source == 'air' else 'no air: MAD fallback'}), "
            f"N = {self.coils} ({told}), correlation length {self.correlation_length:.2f} px"
        )


# ------------------------------------------------------------------------------------------------ input checks
def _check_input(image: NdarrayOrTensor) -> np.ndarray:
    x = _as_numpy(image)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected a 2D image (H, W) or a volume (H, W, D), got shape {x.shape}.")
    if min(x.shape[:2]) < _MIN_SIDE:
        raise ValueError(f"the image is too small for a noise estimate: shape {x.shape}, at least {_MIN_SIDE} x {_MIN_SIDE} in plane.")
    if not np.isfinite(x).all():
        raise ValueError("the image contains NaN or infinite values.")
    if x.min() < 0:
        raise ValueError("a magnitude image must be non-negative; got negative values.")
    if not x.max() > x.min():
        raise ValueError("the image is constant: it carries no noise to estimate.")
    return x


def _check_told_coils(coils: int | None) -> int | None:
    """The effective coil count a caller tells :func:`estimate_noise`: None (read it from the air) or a whole number
    from 1 to :data:`MAX_ESTIMATED_COILS`, the most the estimate itself reports (the count of receiver coils a
    simulation takes is checked by ``scanner_noise._check_receiver_coils``)."""
    if coils is None:
        return None
    if isinstance(coils, bool) or int(coils) != coils or not 1 <= int(coils) <= MAX_ESTIMATED_COILS:
        raise ValueError(f"coils must be an int from 1 to {MAX_ESTIMATED_COILS} or None, got {coils!r}.")
    return int(coils)


# ------------------------------------------------------------------------------------------------- the pieces
def _smoothing_sigma(shape: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(max(_SMOOTH_MIN, _SMOOTH_FRACTION * n) if n > 1 else 0.0 for n in shape)


def _smooth(x: np.ndarray, sigma: tuple[float, ...]) -> np.ndarray:
    """Gaussian smoothing (``mode="nearest"``) of a slowly varying field, computed on a grid coarsened by about
    ``sigma / 4`` per axis (block means) and interpolated back linearly: the same to a fraction of a percent, and
    some 20 times faster for the heavy kernels here."""
    blocks = tuple(max(1, int(s // 4)) for s in sigma)
    if all(b == 1 for b in blocks):
        return ndimage.gaussian_filter(x, sigma, mode="nearest")
    padded = np.pad(x, [(0, (-n) % b) for n, b in zip(x.shape, blocks)], mode="edge")
    coarse = padded
    for axis, b in enumerate(blocks):  # block sums, one axis at a time (strided slices: faster than a reshaped mean)
        if b > 1:
            head = (slice(None),) * axis
            total = coarse[head + (slice(0, None, b),)].copy()
            for i in range(1, b):
                total += coarse[head + (slice(i, None, b),)]
            coarse = total
    coarse /= math.prod(blocks)
    coarse = ndimage.gaussian_filter(coarse, [s / b for s, b in zip(sigma, blocks)], mode="nearest")
    # linear interpolation of the block centres, edges held (scipy's zoom(order=1, mode="nearest", grid_mode=True),
    # the same to float round-off and several times faster on volumes)
    if x.ndim == 3 and blocks[2] == 1:  # nothing to interpolate across axis 2 (thin slabs): bilinear per slice
        fine = torch.nn.functional.interpolate(
            torch.from_numpy(np.ascontiguousarray(np.moveaxis(coarse, 2, 0)))[None], size=padded.shape[:2], mode="bilinear", align_corners=False
        )[0].numpy()
        fine = np.moveaxis(fine, 0, 2)
    else:
        fine = torch.nn.functional.interpolate(
            torch.from_numpy(np.ascontiguousarray(coarse))[None, None], size=padded.shape, mode=("bilinear", "trilinear")[x.ndim - 2], align_corners=False
        )[0, 0].numpy()
    return fine[tuple(slice(0, n) for n in x.shape)]


def _poly_basis(shape: tuple[int, ...], index: tuple[np.ndarray, ...] | None = None) -> list[np.ndarray]:
    """Monomials of total degree <= _POLY_ORDER in ``linspace(-1, 1, n)`` coordinates of the axes longer than 1.

    With ``index`` (a tuple of index arrays): their values at those pixels; else full-size (broadcast) arrays.
    """
    coords = []
    for ax, n in enumerate(shape):
        if n < 2:
            continue
        c = np.linspace(-1.0, 1.0, n)
        if index is not None:
            coords.append(c[index[ax]])
        else:
            view = [1] * len(shape)
            view[ax] = n
            coords.append(c.reshape(view))
    terms = [np.ones(1) if index is None else np.ones(len(index[0]))]
    powers = [()]
    for _ in range(_POLY_ORDER):
        powers = [p + (a,) for p in powers for a in range(len(coords)) if not p or a >= p[-1]]
        for p in powers:
            t = terms[0]
            for a in p:
                t = t * coords[a]
            terms.append(t)
    return terms


def _band_level(L: np.ndarray, air: np.ndarray, level: np.ndarray | float, shape: float) -> np.ndarray:
    """The air level ``E[M^2]`` as a smooth map: a local band fixed point (step 1, the level the air is drawn against).

    :func:`~monai_nad.transforms.noise.estimate_image_noise_std`'s band iteration, made local by normalised
    convolution: at each pixel, the Gaussian-weighted mean of the air's window means ``L`` that lie in the band
    (1 % to 50 % quantiles of their Gamma law of ``shape``) around the current local level, divided by the band's
    mean. Like the global one it reads only the lower half of the air's law, so dark tissue at an SNR below 1 that
    passed for air (measured: large parts of Colin27 under SENSE at 0.10) barely moves it.

    The iteration reads the level at the air pixels only (gathered by flat index: much faster than a boolean mask on
    volumes); the map over the whole image comes from the last step.
    """
    lo, hi, trunc_mean = _gamma_band(shape, _BAND)
    sigma = _smoothing_sigma(L.shape)
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), L.shape)
    where = np.flatnonzero(air)
    values, at_air = np.take(L, where), np.take(level, where)
    last = None  # (smoothed band, smoothed band values, band mean) of the last step
    for _ in range(_BAND_ITERATIONS):
        band = (values > lo * at_air) & (values < hi * at_air)
        if np.count_nonzero(band) < _MIN_WINDOWS_BAND:
            break
        pick = np.flatnonzero(band)
        inside, pixels = values.take(pick), where.take(pick)
        indicator, masked = np.zeros(L.shape), np.zeros(L.shape)
        indicator.ravel()[pixels] = 1.0
        masked.ravel()[pixels] = inside
        weight, num = _smooth(indicator, sigma), _smooth(masked, sigma)
        last = weight, num, float(inside.mean()) / trunc_mean
        w = np.take(weight, where)
        new = np.where(w > 1e-3, np.take(num, where) / np.maximum(w, 1e-3) / trunc_mean, last[2])
        done = float(np.abs(new - at_air).max()) <= 1e-3 * float(new.mean())
        at_air = new
        if done:
            break
    if last is None:
        return np.array(level)
    weight, num, overall = last
    return np.where(weight > 1e-3, num / np.maximum(weight, 1e-3) / trunc_mean, overall)


def _band_poly(basis: np.ndarray, values: np.ndarray, start: np.ndarray, lo: float, hi: float, trunc_mean: float) -> np.ndarray:
    """Coefficients of the polynomial band fixed point: least squares of ``values / E[X | band]`` over the values
    in ``[lo, hi]`` times the polynomial itself, iterated from ``start`` (the level at each value)."""
    basis = np.ascontiguousarray(basis)  # its rows are picked in every step: faster from a contiguous array
    coef, *_ = np.linalg.lstsq(basis, start, rcond=None)
    for _ in range(_BAND_ITERATIONS):
        level = basis @ coef
        band = (values > lo * level) & (values < hi * level)
        if band.sum() < max(_MIN_WINDOWS_BAND, 4 * basis.shape[1]):
            break
        new, *_ = np.linalg.lstsq(basis[band], values[band] / trunc_mean, rcond=None)
        done = float(np.abs(basis @ (new - coef)).max()) <= 1e-4 * float(np.abs(level).mean())
        coef = new
        if done:
            break
    return coef


def _level_map(
    m2: np.ndarray, L: np.ndarray, air: np.ndarray, inner: np.ndarray, coils: int, shape: float, k: int, band_level: np.ndarray,
    air_mean: np.ndarray, air_weight: np.ndarray,
) -> np.ndarray:
    """The air's level ``E[M^2]`` over the whole image, a polynomial in normalised coordinates (step 4).

    1. *Order* (0 to :data:`_POLY_ORDER`): least BIC over the air windows in the band (1 % to 50 % quantiles of
       their Gamma law of ``shape``) around the air's constant band level (the existing estimator's), counting one
       independent sample per window area: the lower half of the air's law, which dark tissue passing for air
       barely reaches. Stationary noise gets a constant.
    2. *Fit*: least squares of the air's ``M^2`` (every air pixel: precise), unless the noise is nearly white (at
       least :data:`_WHITE_FRACTION` independent samples per pixel) and that fit's mean over the air exceeds, by
       more than three standard errors, the polynomial band fixed point's (least squares of ``L / E[X | band]`` over
       the windows in the band around the polynomial itself: robust, like the existing estimator): then the latter.
       Dark scalp at an SNR below 1 next to the air raises the air's mean ``M^2`` and not its lower half; under
       strong correlation the band's Gamma law is poor (it read 0.70 of the level on one Colin27 slice, Hann 70 %).
    3. Least squares only: plus the air's residual from the polynomial, smoothed by normalised convolution over the
       air, fading away from it (where the smoothed air fraction is below :data:`_NC_FLOOR`).

    The map stays within the range of the air's own smoothed level (its local band level for the band fit), so its
    extension into the object never overshoots what the air shows: ``air_mean`` and ``air_weight`` are
    :func:`_local_mean`'s of ``air``.
    """
    idx = np.nonzero(air)
    count = len(idx[0])
    if count > _MAX_FIT_PIXELS:
        keep = np.linspace(0, count - 1, _MAX_FIT_PIXELS).astype(np.intp)
        idx = tuple(i[keep] for i in idx)
    basis_all = np.stack(_poly_basis(m2.shape, idx), axis=1)
    pixels = m2[idx]
    inside = inner[idx]
    if np.count_nonzero(inside) < _MIN_AIR:
        inside = np.ones(len(pixels), dtype=bool)
    basis, values = basis_all[inside], L[idx][inside]  # the band reads windows inside the image only
    lo, hi, trunc_mean = _gamma_band(shape, _BAND)
    constant = _band_poly(basis[:, :1], values, band_level[idx][inside], lo, hi, trunc_mean)
    band = (values > lo * constant[0]) & (values < hi * constant[0])
    in_band = np.count_nonzero(band)
    n_windows = max(float(in_band) * float(count) / len(pixels) / k, 2.0)
    dims = sum(1 for n in m2.shape if n > 1)
    basis_band, values_band = basis[band], values[band]
    best = None
    for order in range(_POLY_ORDER + 1):
        p = math.comb(dims + order, order)
        if in_band <= p:
            break
        coef, *_ = np.linalg.lstsq(basis_band[:, :p], values_band, rcond=None)
        rss = float(((basis_band[:, :p] @ coef - values_band) ** 2).mean())
        bic = n_windows * math.log(max(rss, 1e-300)) + p * math.log(n_windows)
        if best is None or bic < best[0]:
            best = bic, p
    p = 1 if best is None else best[1]
    coef_mean, *_ = np.linalg.lstsq(basis_all[:, :p], pixels, rcond=None)
    coef_band = _band_poly(basis[:, :p], values, basis[:, :p] @ coef_mean, lo, hi, trunc_mean)
    ratio = float((basis_all[:, :p] @ coef_mean).mean()) / max(float((basis_all[:, :p] @ coef_band).mean()), 1e-300)
    n_indep = max(float(count) * min(shape / (coils * k), 1.0) * coils, 1.0)
    white = shape / (coils * k) >= _WHITE_FRACTION
    robust = white and ratio > 1.0 + 3.0 * _BAND_RELATIVE_STD / math.sqrt(n_indep)
    poly = np.zeros(m2.shape)
    for c, t in zip(coef_band if robust else coef_mean, _poly_basis(m2.shape)):
        poly += c * t
    bound = band_level[air] if robust else air_mean
    low, high = float(bound.min()), float(bound.max())
    poly = np.clip(poly, low, high)
    if robust:
        return poly
    resid = _smooth(np.where(air, m2 - poly, 0.0), _smoothing_sigma(m2.shape)) / np.maximum(air_weight, _NC_FLOOR)
    return np.clip(poly + resid, low, high)


def _local_mean(m2: np.ndarray, air: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution of ``M^2`` with the air mask: the air's smoothed local mean at the air pixels (``where``,
    their flat indices; the overall mean where no air is near), and the smoothed air mask (image shape)."""
    weights = air.astype(np.float64)
    sigma = _smoothing_sigma(m2.shape)
    weight = _smooth(weights, sigma)
    weighted = weights * m2
    num = _smooth(weighted, sigma)
    mean = float(weighted.sum() / max(float(weights.sum()), 1e-300))
    near = np.take(weight, where)
    return np.where(near > 1e-3, np.take(num, where) / np.maximum(near, 1e-3), mean), weight


def _estimate_coils(u: np.ndarray) -> int:
    """``N`` from ``u = M^2 / local mean`` in air: ``mean^2 / var``, rounded, clipped to 1..32."""
    var = float(u.var())
    if not var > 0:
        return MAX_ESTIMATED_COILS
    return int(min(max(round(float(u.mean()) ** 2 / var), 1), MAX_ESTIMATED_COILS))


def _lag_shape(shape: tuple[int, ...], max_lag: int, strided: bool = False) -> tuple[int, ...]:
    """Lags per axis: up to ``max_lag``, none along axis 2 of a volume read on every k-th slice (``strided``)."""
    return tuple(0 if strided and ax == 2 else min(max_lag, n - 1) for ax, n in enumerate(shape))


def _masked_acf(v: np.ndarray, mask: np.ndarray, lags: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Normalised autocovariance of ``v`` over ``mask`` on lags ``-r..r`` per axis, and the pairs at lag 0."""
    a = mask.astype(np.float64)
    v = np.where(mask, v, 0.0)
    v = v - (v.sum() / max(a.sum(), 1.0)) * a
    full = [sfft.next_fast_len(n + r, real=True) for n, r in zip(v.shape, lags)]  # zero padding >= the lags: no wrap
    axes = tuple(range(v.ndim))
    fv = sfft.rfftn(v, s=full, axes=axes)
    fa = sfft.rfftn(a, s=full, axes=axes)
    num = sfft.irfftn(np.abs(fv) ** 2, s=full, axes=axes)
    den = sfft.irfftn(np.abs(fa) ** 2, s=full, axes=axes)
    num = np.fft.fftshift(num, axes=range(v.ndim))
    den = np.fft.fftshift(den, axes=range(v.ndim))
    centre = [n // 2 for n in full]
    crop = tuple(slice(c - r, c + r + 1) for c, r in zip(centre, lags))
    num, den = num[crop], den[crop]
    zero = tuple(r for r in lags)
    pairs = float(den[zero])
    acf = np.where(den > 0.5, num / np.maximum(den, 0.5), 0.0)
    return acf / acf[zero], pairs


def _rho_from_power_acf(c: np.ndarray, count: float) -> np.ndarray:
    """``|rho| = sqrt(acf of M^2)``, values within the estimate's noise floor set to 0."""
    floor = _ACF_FLOOR * math.sqrt(float((c**2).sum()) / max(count, 1.0))  # Bartlett's std of a lag's estimate
    rho = np.sqrt(np.clip(c, 0.0, None))
    rho[c < floor] = 0.0
    rho[tuple(r // 2 for r in c.shape)] = 1.0
    return rho


def _widths(rho: np.ndarray) -> tuple[float, ...]:
    """Full width at 0.5 of ``rho`` along each axis through the centre (1.0 for an axis of one lag)."""
    centre = tuple(r // 2 for r in rho.shape)
    out = []
    for ax, n in enumerate(rho.shape):
        if n < 2:
            out.append(1.0)
            continue
        widths = []
        for sign in (1, -1):
            prof = [float(rho[tuple(centre[a] + sign * j if a == ax else centre[a] for a in range(rho.ndim))]) for j in range(n // 2 + 1)]
            half = float(len(prof) - 1)
            for j in range(1, len(prof)):
                if prof[j] <= 0.5:
                    half = j - 1 + (prof[j - 1] - 0.5) / (prof[j - 1] - prof[j])
                    break
            widths.append(half)
        out.append(float(sum(widths)))
    return tuple(out)


def _psd(rho: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """bm3d-convention PSD of the unit-variance noise over axes 0 and 1 from a real autocorrelation ``rho``."""
    plane = shape[:2]
    r = rho
    if r.ndim == 3:
        r = r[:, :, r.shape[2] // 2]
    grid = np.zeros(plane)
    c0, c1 = r.shape[0] // 2, r.shape[1] // 2
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            grid[(i - c0) % plane[0], (j - c1) % plane[1]] += r[i, j]
    psd = np.clip(np.fft.fft2(grid).real, 0.0, None)
    p = float(np.prod(plane))
    return psd * (p / max(float(psd.mean()), 1e-12))


def _residual_rho(m: np.ndarray, lags: tuple[int, ...]) -> np.ndarray:
    """Fallback correlation: Gaussian ``rho`` fitted to the autocorrelation of a high-pass residual (step 3)."""
    sigma = tuple(2.0 if n > 1 else 0.0 for n in m.shape)
    resid = m - ndimage.gaussian_filter(m, sigma, mode="reflect")
    size = _window(m.shape)
    local = ndimage.uniform_filter(resid * resid, size, mode="reflect")
    flat = local <= np.median(local)
    measured, _ = _masked_acf(resid, flat, lags)
    # the same high-pass applied to Gaussian-correlated noise, for a grid of lengths: pick the best fit at lags 1, 2
    probe_shape = tuple(4 * r + 16 if n > 1 else 1 for r, n in zip(lags, m.shape))
    centre = tuple(n // 2 for n in probe_shape)
    grids = np.meshgrid(*[np.arange(n) - c for n, c in zip(probe_shape, centre)], indexing="ij")
    d2 = sum(g.astype(np.float64) ** 2 for g in grids)
    impulse = np.zeros(probe_shape)
    impulse[centre] = 1.0
    h = impulse - ndimage.gaussian_filter(impulse, sigma, mode="wrap")
    fh2 = np.abs(np.fft.fftn(np.fft.ifftshift(h))) ** 2
    crop = tuple(slice(c - r, c + r + 1) for c, r in zip(centre, lags))
    use = np.zeros(measured.shape, dtype=bool)
    mc = tuple(r for r in lags)
    for ax, r in enumerate(lags):
        for j in (1, 2):
            if j <= r:
                for s in (1, -1):
                    use[tuple(mc[a] + s * j if a == ax else mc[a] for a in range(len(lags)))] = True
    best, best_err = 0.0, math.inf
    for length in np.concatenate([[0.0], np.geomspace(0.2, 6.0, 40)]):
        rho = (d2 == 0).astype(np.float64) if length == 0 else np.exp(-d2 / (2.0 * length**2))
        pred = np.fft.fftshift(np.fft.ifftn(np.fft.fftn(np.fft.ifftshift(rho)) * fh2).real)
        pred = pred[crop] / pred[centre]
        err = float(((pred - measured)[use] ** 2).sum())
        if err < best_err:
            best, best_err = float(length), err
    lag_grids = np.meshgrid(*[np.arange(-r, r + 1) for r in lags], indexing="ij")
    dd = sum(g.astype(np.float64) ** 2 for g in lag_grids)
    return (dd == 0).astype(np.float64) if best == 0 else np.exp(-dd / (2.0 * best**2))


def _haar_factor(rho: np.ndarray, ndim_active: tuple[int, ...]) -> float:
    """Variance of the finest Haar detail of unit-variance noise with real autocorrelation ``rho`` (1 if white)."""
    centre = np.asarray([r // 2 for r in rho.shape])
    corners = np.array(np.meshgrid(*[[0, 1] if a else [0] for a in ndim_active], indexing="ij")).reshape(len(ndim_active), -1).T
    signs = np.array([(-1.0) ** int(c.sum()) for c in corners])
    total = 0.0
    for ci, si in zip(corners, signs):
        for cj, sj in zip(corners, signs):
            lag = centre + ci - cj
            if np.all(lag >= 0) and np.all(lag < rho.shape):
                total += si * sj * float(rho[tuple(lag)])
    return max(total / len(corners), 1e-3)


def _air_statistics(
    m: np.ndarray, m2: np.ndarray, L: np.ndarray, air: np.ndarray, inner: np.ndarray, coils: int | None, lags: tuple[int, ...],
    correlation: bool = True,
):
    """``(local mean of M^2 over the air at the air pixels, N, |rho|, correlation source, Gamma shape of the air's
    window means, smoothed air mask)`` (the means as :func:`_local_mean` returns them); ``|rho|`` and its source are
    None unless ``correlation`` (only the last redraw of the air needs them).

    The shape comes from the lower half of the air's window means (their 10 % and 50 % quantiles relative to the
    local mean, matched to a Gamma law's), not from ``N`` and ``|rho|``: dark tissue that passed for air adds to
    the upper half and to the autocorrelation, and a shape read from them would widen the threshold and let more in.
    """
    where = np.flatnonzero(air)
    mean, weight = _local_mean(m2, air, where)
    ratio = np.take(m2, where) / mean
    n = coils or _estimate_coils(ratio)
    rho, source = None, None
    if not correlation:
        pass
    elif len(ratio) >= _MIN_AIR_CORRELATION:
        field = np.zeros(m2.shape)
        field.ravel()[where] = ratio
        c, pairs = _masked_acf(field, air, lags)
        rho, source = _rho_from_power_acf(c, pairs), "air"
    else:
        rho, source = _residual_rho(m, lags), "residual"
    use = np.take(inner, where)
    if np.count_nonzero(use) < _MIN_AIR:
        use = slice(None)
    q10, q50 = np.quantile(np.take(L, where)[use] / mean[use], _SHAPE_QUANTILES)
    return mean, n, rho, source, _gamma_shape((q50 - q10) / q50), weight


def _gamma_shape(spread: float) -> float:
    """The shape ``a`` of the Gamma law whose ``(q50 - q10) / q50`` equals ``spread``."""
    shapes, spreads = _SHAPE_TABLE
    return float(np.exp(np.interp(-spread, -spreads, np.log(shapes))))


def _spread_table() -> tuple[np.ndarray, np.ndarray]:
    shapes = np.geomspace(0.5, 1e5, 400)
    q10, q50 = (stats.gamma.ppf(q, shapes) for q in _SHAPE_QUANTILES)
    return shapes, (q50 - q10) / q50


def _box_morphology(mask: np.ndarray, box: tuple[int, ...], erode: bool) -> np.ndarray:
    """Binary erosion (``erode``, outside the image counting as True) or dilation of ``mask`` by a box of ``box``
    pixels (odd sizes): a running minimum or maximum one axis at a time, the same result as
    ``ndimage.binary_erosion(mask, structure=np.ones(box), border_value=1)`` or ``ndimage.binary_dilation(mask,
    structure=np.ones(box))``, several times faster."""
    start = out = mask.view(np.uint8)
    for axis, length in enumerate(box):
        if length > 1:
            if erode:
                out = ndimage.minimum_filter1d(out, length, axis=axis, mode="constant", cval=1)
            else:
                out = ndimage.maximum_filter1d(out, length, axis=axis, mode="constant", cval=0)
    return out.view(bool) if out is not start else mask.copy()


def _air_seeds(valid: np.ndarray, grown: tuple[int, ...]) -> np.ndarray:
    """Flat indices of the pixels an air region must reach (:func:`_erode`): the image's border and, where windows
    reach into a zero-filled area, the pixels within ``grown`` (the erosion's box) of them."""
    seeds = np.zeros(valid.shape, dtype=bool)
    for axis in range(valid.ndim):
        seeds[(slice(None),) * axis + (0,)] = True
        seeds[(slice(None),) * axis + (-1,)] = True
    if not valid.all():
        seeds |= _box_morphology(~valid, grown, erode=False)
    return np.flatnonzero(seeds)


def _erode(windows: np.ndarray, nonzero: np.ndarray, grown: tuple[int, ...], seeds: np.ndarray) -> np.ndarray:
    """The air pixels: at least _MARGIN windows (the box ``grown``) from any non-air window, not exactly zero
    (``nonzero``), and in a region that reaches the image's border or a zero-filled area (``seeds``, from
    :func:`_air_seeds`).

    One window would do to keep the object out; the second keeps out the pixels next to windows that passed as air
    only because their noise happened to be low while they held a little signal (measured: the air's ``M^2`` then
    reads about 10 % low in small air regions near the object). Air surrounds the object: an enclosed region
    that looks like air is dark tissue at an SNR below 1 (CSF, the dim contrast at 0.15), which no local statistic
    tells from air with a little more noise.
    """
    air = _box_morphology(windows, grown, erode=True)
    air &= nonzero
    labels, count = ndimage.label(air, structure=np.ones((3,) * air.ndim, dtype=bool))
    if count == 0:
        return air
    keep = np.zeros(count + 1, dtype=bool)
    keep[labels.ravel()[seeds]] = True  # label 0: not air
    keep[0] = False
    return keep[labels] if keep.any() else air


def _fill_specks(windows_air: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Count as air the non-air windows of components smaller than _SPECK windows' area.

    Correlated noise leaves a few air windows above the threshold far from the object (3 % measured in small
    air regions); eroding around them would drop blobs of stronger-than-average noise and read the air low.
    """
    labels, count = ndimage.label(valid & ~windows_air, structure=np.ones((3,) * windows_air.ndim, dtype=bool))
    if not count:
        return windows_air
    sizes = np.bincount(labels.ravel())
    small = sizes < _SPECK * k
    small[0] = False
    return windows_air | small[labels]


def _find_air(m: np.ndarray, m2: np.ndarray, coils: int | None, lags: tuple[int, ...]):
    """Steps 1 to 4: ``(air mask, N, N estimated, |rho|, correlation source, object windows, E[M^2] map)``, or None
    when there is no usable air.

    First a wide band (a Gamma shape of 8, below that of any air window mean) around the lowest fixed points
    catches every air window whatever ``N`` and the correlation; the air's ``N`` and the lower half of its window
    means then give their Gamma shape, its band fixed point the air level, and the flatness test (corrected for the
    correlation) accepts or rejects it; then the mask is redrawn against the local level.
    """
    size = _window(m.shape)
    k = int(np.prod(size))
    if k < 9:
        return None
    L = ndimage.uniform_filter(m2, size=size, mode="reflect")
    valid = L > 0
    zeros = m == 0
    if zeros.any():  # zero-filled (masked) areas carry no noise: drop the windows that reach into them
        filled = ndimage.uniform_filter(zeros.astype(np.float64), size=size, mode="reflect") > 1.0 - 1e-9
        if filled.any():
            valid &= ndimage.uniform_filter(filled.astype(np.float64), size=size, mode="reflect") < 1e-9
    inner = np.zeros(m.shape, dtype=bool)  # windows inside the image (reflected ones repeat their noise)
    inner[tuple(slice(s // 2, n - s // 2) for s, n in zip(size, m.shape))] = True
    windows = valid & inner
    values = L[windows]
    if values.size < _MIN_AIR:
        return None
    grown = tuple(int(round(_MARGIN * (s - 1))) + 1 if s > 1 else 1 for s in size)  # _erode's box
    nonzero, seeds = m > 0, _air_seeds(valid, grown)
    local1 = None  # the windows' local mean of M, for the flatness test
    wide = min(_WIDE_SHAPE, float(k))
    lo, hi, trunc_mean = _gamma_band(wide, _BAND)
    accepted = None
    for candidate in _fixed_point_candidates(values, lo, hi, trunc_mean, 0.05 / math.sqrt(wide)):
        level = _band_fixed_point(values, candidate, lo, hi, trunc_mean)
        if level is None:
            continue
        air = _erode(_fill_specks(valid & (L < hi * level), valid, k), nonzero, grown, seeds)
        if np.count_nonzero(air) < _MIN_AIR:
            continue
        mean, n, rho, source, shape, _ = _air_statistics(m, m2, L, air, inner, coils, lags, correlation=False)
        b_lo, b_hi, b_mean = _gamma_band(shape, _BAND)
        level = _band_fixed_point(values, float(mean.mean()), b_lo, b_hi, b_mean) or float(mean.mean())
        k_eff = shape / n
        if local1 is None:
            local1 = ndimage.uniform_filter(m, size=size, mode="reflect")[windows]
        flat = _flatness(local1, values, math.sqrt(level / (2.0 * n)), n, k)
        flat *= (1.0 - 1.0 / k) / max(1.0 - 1.0 / k_eff, 1e-3)  # a window's variance of correlated noise is lower
        if flat >= _FLAT_MIN:
            accepted = level, n, rho, source, shape, air
            break
    if accepted is None:
        return None
    level, n, rho, source, shape, _ = accepted
    windows_air = None
    for redraw in range(_PASSES):
        threshold = _AIR_MARGIN * float(stats.gamma.ppf(_AIR_QUANTILE, shape, scale=1.0 / shape))
        windows_air = _fill_specks(valid & (L < threshold * level), valid, k)
        air = _erode(windows_air, nonzero, grown, seeds)
        if np.count_nonzero(air) < _MIN_AIR:
            return None
        mean, n, rho, source, shape, weight = _air_statistics(m, m2, L, air, inner, coils, lags, correlation=redraw == _PASSES - 1)
        inside = air & inner
        level = _band_level(L, inside if np.count_nonzero(inside) >= _MIN_AIR else air, level, shape)
    level_map = _level_map(m2, L, air, inner, n, shape, k, level, mean, weight)
    return air, n, coils is None, rho, source, valid & ~windows_air, level_map


_SHAPE_TABLE = _spread_table()


def estimate_noise(image: NdarrayOrTensor, coils: int | None = None, max_voxels: int | None = VOLUME_ESTIMATE_VOXELS, max_lag: int = 6) -> NoiseEstimate:
    """Blind estimate of the noise of a magnitude image or volume: a std map, the coil count, the correlation.

    See the module docstring for the method. Scale-invariant (the map scales with the image).

    Args:
        image: ``(H, W)`` or ``(H, W, D)`` magnitude image (numpy array or torch tensor), non-negative, any scale.
        coils: the effective coil count ``N`` of a root-sum-of-squares magnitude (1: Rician), 1 to 32; None:
            estimated from the air.
        max_voxels: a volume with more voxels is read on every ``k``-th slice along axis 2 (the fewest ``k`` that
            fits), its map interpolated linearly between them and its correlation read in plane only (1.0 along
            axis 2); None: every voxel. Defaults to :data:`~monai_nad.transforms.noise.VOLUME_ESTIMATE_VOXELS`.
        max_lag: the largest lag ``r`` of the autocorrelation (pixels). Defaults to 6.

    Returns:
        a :class:`NoiseEstimate`.

    Raises:
        ValueError: an image that is not 2D / 3D, smaller than 16 x 16 in plane, non-finite, negative or constant;
            ``coils`` not an int from 1 to 32; ``max_lag < 1``.
    """
    x = full = _check_input(image)
    coils = _check_told_coils(coils)
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"max_lag must be a positive int, got {max_lag!r}.")
    full_shape = x.shape
    step = 1
    if max_voxels is not None and x.ndim == 3 and x.size > max_voxels:
        step = math.ceil(x.size / max_voxels)
        x = x[:, :, ::step]
    scale = float(x.max())
    m = x / scale
    m2 = m * m
    lags = _lag_shape(m.shape, int(max_lag), strided=step > 1)
    found = _find_air(m, m2, coils, lags)
    if found is None and full.ndim == 3 and full.shape[2] > 1:  # a thin slab's 3D windows may miss the air its slices show
        by_slice = _slice_wise(full, coils, int(max_lag))
        if by_slice is not None:
            return by_slice
    if found is not None:
        air, n, estimated, rho, corr_source, foreground, level = found
        std_map = np.sqrt(level / (2.0 * n))
        fg = foreground & ~air
        if not fg.any():
            fg = ~air if (~air).any() else np.ones_like(air)
        source = "air"
    else:
        n, estimated = coils or 1, False
        rho, corr_source = _residual_rho(m, lags), "residual"
        active = tuple(s > 1 for s in m.shape)
        sigma = _sigma_vst_mad(m, n) / math.sqrt(_haar_factor(rho, active))
        std_map = np.full(m.shape, sigma)
        air = np.zeros(m.shape, dtype=bool)
        fg = np.ones(m.shape, dtype=bool)
        source = "fallback"
    std = float(np.median(std_map[fg])) * scale
    std_map = (std_map * scale).astype(np.float32)
    if step > 1:
        std_map, air = _upsample_depth(std_map, air, full_shape[2], step)
    widths = _widths(rho)
    if len(widths) < len(full_shape):
        widths = widths + (1.0,) * (len(full_shape) - len(widths))
    return NoiseEstimate(
        std_map=std_map,
        std=std,
        coils=int(n),
        coils_estimated=bool(estimated),
        correlation_length=float(max(widths)),
        correlation_lengths=tuple(float(w) for w in widths),
        autocorrelation=rho,
        psd=_psd(rho, full_shape),
        source=source,
        correlation_source=corr_source,
        air=air,
    )


def _slice_wise(volume: np.ndarray, coils: int | None, max_lag: int) -> NoiseEstimate | None:
    """The estimate of a volume read slice by slice along axis 2, on at most :data:`_SLICE_WISE_SLICES` evenly spaced
    slices (the map interpolated between them, the in-plane correlation of the middle one, 1.0 along axis 2): for
    volumes whose 3D windows find no air; None when a slice finds no air either."""
    depth = volume.shape[2]
    step = max(1, math.ceil(depth / _SLICE_WISE_SLICES))
    picked = list(range(0, depth, step))
    try:
        estimates = [estimate_noise(volume[:, :, z], coils=coils, max_lag=max_lag) for z in picked]
    except ValueError:  # a constant slice
        return None
    if not all(e.source == "air" for e in estimates):
        return None
    std_map, air = _upsample_depth(np.stack([e.std_map for e in estimates], axis=2), np.stack([e.air for e in estimates], axis=2), depth, step)
    middle = estimates[len(estimates) // 2]
    n = int(round(float(np.median([e.coils for e in estimates]))))
    widths = middle.correlation_lengths + (1.0,)
    return NoiseEstimate(
        std_map=std_map,
        std=float(np.median([e.std for e in estimates])),
        coils=n if coils is None else int(coils),
        coils_estimated=coils is None,
        correlation_length=float(max(widths)),
        correlation_lengths=tuple(float(w) for w in widths),
        autocorrelation=middle.autocorrelation[..., None],
        psd=middle.psd,
        source="air",
        correlation_source=middle.correlation_source,
        air=air,
    )


def white_equivalent_factor(correlation_lengths: Sequence[float], gain: float) -> float:
    """How much higher a level to tell a denoiser trained on white noise, for noise correlated over these widths.

    A denoiser trained on white noise removes what looks like grain at its scale and keeps what is smoother; the
    power of correlated noise sits at low frequencies, where the denoiser, told the per-pixel std ``s``, takes it
    for anatomy. Told ``f s`` with ``f = max(1, gain * sqrt(P(0)))`` it smooths as much as that noise needs:
    ``P(0)``, the unit-variance PSD at zero frequency (the sum of the autocorrelation over all lags; 1 for white
    noise), is read from the full widths at half maximum ``w`` of the autocorrelation as for a Gaussian one,
    ``prod(1 + 1.0645 (w - 1))``. The magnitude bias is still that of ``s``: pair the level ``f s`` with ``N / f^2``
    coils (``2 (N / f^2) (f s)^2 = 2 N s^2``), which the networks accept
    (:func:`~monai_nad.networks.conditioned_pde.check_coils`).

    Args:
        correlation_lengths: the autocorrelation's full width at half maximum along each axis the denoiser works
            on, in pixels (1 for white noise; :attr:`NoiseEstimate.correlation_lengths`).
        gain: the fraction of ``sqrt(P(0))`` (:data:`WHITE_EQUIVALENT_GAIN` for the shipped models).

    Returns:
        ``f >= 1`` (1 for white or nearly white noise).

    Raises:
        ValueError: a width below 0 or not finite, or a gain that is not positive.
    """
    widths = [float(w) for w in correlation_lengths]
    if not all(math.isfinite(w) and w >= 0 for w in widths):
        raise ValueError(f"correlation lengths must be finite and non-negative, got {correlation_lengths!r}.")
    if not (math.isfinite(gain) and gain > 0):
        raise ValueError(f"gain must be positive, got {gain!r}.")
    p0 = math.prod(max(1.0, 1.0 + _GAUSSIAN_LAG_SUM * (w - 1.0)) for w in widths)
    return max(1.0, gain * math.sqrt(p0))


def psd_correlation_lengths(psd: np.ndarray) -> tuple[float, ...]:
    """The autocorrelation's full width at half maximum along each axis of a real noise field's PSD (``|rho|``, in
    pixels; 1 for white noise), on the lags :func:`estimate_noise` reads.

    A bm3d-convention PSD describes one real channel, whose autocorrelation is ``Re rho`` of the complex noise. That
    is what :func:`estimate_noise` reads from the air for a symmetric k-space window; for an asymmetric one (partial
    Fourier) the air shows ``|rho|``, which is wider:
    :attr:`~monai_nad.transforms.ScannerNoiseSample.correlation_lengths` gives those widths.

    Args:
        psd: the noise power spectral density over the k-space axes in the bm3d convention (any positive scale),
            e.g. :attr:`~monai_nad.transforms.RandScannerNoise.noise_psd`; all zeros (no noise) counts as white.

    Returns:
        one width per axis of ``psd``.
    """
    psd = np.asarray(psd, dtype=np.float64)
    return acf_correlation_lengths(np.fft.ifftn(psd).real)


def acf_correlation_lengths(acf: np.ndarray) -> tuple[float, ...]:
    """The full width at half maximum of ``|acf / acf[0]|`` along each axis (pixels; 1 for white noise), on the lags
    -16..16 about zero that :func:`estimate_noise` reads.

    Args:
        acf: an autocorrelation (real or complex) with lag zero at index 0 on every axis (as ``numpy.fft.ifftn`` of a
            power spectrum returns it); zero at lag zero (no noise) counts as white.

    Returns:
        one width per axis of ``acf``.
    """
    acf = np.asarray(acf)
    if not abs(acf.flat[0]) > 0:
        return tuple(1.0 for _ in acf.shape)
    rho = np.fft.fftshift(np.abs(acf / acf.flat[0]))
    crop = tuple(slice(n // 2 - min(n // 2, n - 1 - n // 2, 16), n // 2 + min(n // 2, n - 1 - n // 2, 16) + 1) for n in rho.shape)
    return _widths(rho[crop])  # lags -L..L about the centre, as estimate_noise measures them


def _upsample_depth(std_map: np.ndarray, air: np.ndarray, depth: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation along axis 2 from every ``step``-th slice back to ``depth`` slices."""
    pos = np.arange(depth) / step
    i0 = np.minimum(np.floor(pos).astype(np.intp), std_map.shape[2] - 1)
    i1 = np.minimum(i0 + 1, std_map.shape[2] - 1)
    frac = (pos - i0).astype(np.float32)
    out = std_map[:, :, i0] * (1 - frac) + std_map[:, :, i1] * frac
    full_air = np.zeros(std_map.shape[:2] + (depth,), dtype=bool)
    full_air[:, :, ::step] = air
    return out.astype(np.float32), full_air
