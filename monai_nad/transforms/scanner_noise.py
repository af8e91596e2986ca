"""Scanner noise: MRI noise simulated through the acquisition instead of added to the magnitude image.

White Rician noise on a magnitude image is the textbook model; a scanner's noise differs in four ways, all
simulated here from a clean magnitude image (or volume):

- k-space filters and zero-filled interpolation correlate the noise between neighbouring pixels
  (:func:`kspace_window`: an acquired fraction per axis, Hann / Hamming / Tukey / Fermi tapers);
- partial Fourier (one side of one k-space axis not acquired, zero-filled) makes that correlation asymmetric;
- receiver arrays combined by root-sum-of-squares give non-central chi statistics
  (:func:`coil_sensitivities`, optional noise correlation between coils);
- parallel imaging (uniform undersampling by ``R`` and SENSE unfolding with the true coil maps) makes the noise
  level vary with the g-factor.

:func:`simulate_scanner_noise` is the pure simulation; it returns the noisy combined magnitude, the same pipeline
without noise (the reference), the analytic per-pixel noise std and the noise PSD
(:class:`ScannerNoiseSample`). :class:`RandScannerNoise` / :class:`RandScannerNoised` draw its parameters from
ranges, the MONAI way. :func:`scanner_noise_slice` is the simulation with the fixed parameters of the scanner-noise
benchmark (docs/results/scanner_noise.md).

Conventions. FFTs are numpy's (``fftn`` unnormalised, ``ifftn`` divided by the number of k-space samples ``P``).
k-space frequencies are those of :func:`numpy.fft.fftfreq` (cycles per pixel, in ``[-0.5, 0.5)``), in numpy's
order (no ``fftshift``). A 3D volume ``(H, W, D)`` has a 2D k-space over axes 0 and 1, slice by slice along axis 2
(multi-slice acquisition, ``kspace_dims=2``, the default) or a 3D k-space (``kspace_dims=3``). Normalised
coordinates are ``numpy.linspace(-1, 1, n)`` along each axis; ``y`` runs along axis 0, ``x`` along axis 1, ``z``
along axis 2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_data_type, convert_to_dst_type

from monai_nad.transforms.array import as_range
from monai_nad.transforms.noise_map import acf_correlation_lengths

__all__ = [
    "COMBINATIONS",
    "WINDOW_KINDS",
    "MAX_COILS",
    "SCANNER_NOISE_CONDITIONS",
    "ScannerNoiseSample",
    "smooth_phase",
    "coil_sensitivities",
    "noise_correlation_matrix",
    "kspace_window",
    "undersampling_mask",
    "simulate_scanner_noise",
    "scanner_noise_slice",
    "RandScannerNoise",
    "RandScannerNoised",
    "RandScannerNoiseD",
    "RandScannerNoiseDict",
]

#: Coil combinations of :func:`simulate_scanner_noise`.
COMBINATIONS = ("magnitude", "rss", "roemer", "sense")

#: Taper kinds of :func:`kspace_window` (``"none"``: flat over the acquired region, zero-filled outside).
WINDOW_KINDS = ("none", "hann", "hamming", "tukey", "fermi")

#: The largest supported number of receiver coils.
MAX_COILS = 32

#: The conditions of the scanner-noise benchmark (:func:`scanner_noise_slice`).
SCANNER_NOISE_CONDITIONS = ("filtered", "partial_fourier", "sos8", "sense2")

Rng = np.random.Generator | np.random.RandomState


@dataclass(frozen=True)
class ScannerNoiseSample:
    """The result of :func:`simulate_scanner_noise` (float64 arrays of the image's shape unless said otherwise).

    "One real channel" below means the real (or, identically, the imaginary) part of a complex image: the noise of
    every combined complex image here is circular, so both parts, and its projection on any fixed direction, have
    the same std. At high SNR the noise of a magnitude image is that projection on the signal's direction, so
    ``noise_std_map`` is then also the std of ``noisy - reference``.

    Attributes:
        noisy: the noisy combined magnitude image.
        reference: the same pipeline without noise (same phase, coils, window, undersampling, combination).
        noise_std_map: per-pixel noise std of one real channel of the combined image, before the magnitude:

            - ``"magnitude"``: ``noise_std * sqrt(Psi_11)`` everywhere (``noise_std`` for the default ``Psi = 1``);
            - ``"rss"``: the std of the first-order (high-SNR) noise of the root-sum-of-squares, the projection
              ``Re(r^H n) / |r|`` of the coil noise ``n`` on the noise-free coil images ``r`` at that pixel:
              ``noise_std * sqrt(r^H Psi r / r^H r)``; where ``r = 0`` exactly, ``noise_std * sqrt(tr(Psi^2) /
              tr(Psi))`` (the per-channel std of the moment-matched central chi law with ``effective_coils``).
              Uncorrelated coils (``Psi = I``): ``noise_std`` everywhere;
            - ``"roemer"`` and ``"sense"``: the std of the least-squares (pseudo-inverse) estimate, ``noise_std *
              sqrt([(A^H Psi^-1 A)^+]_rr)``, with ``A[k, r] = S_k(y_r) / R`` the coil maps at the ``R`` pixels ``y_r``
              that alias onto one pixel (``R = 1``: ``noise_std / sqrt(S^H Psi^-1 S)``).
        noise_psd: noise PSD over the k-space axes (shape ``image.shape[:kspace_dims]``) in the convention of the
            ``bm3d`` package: the expected ``|fftn(e)|^2`` of a real noise field ``e``, i.e. the PSD of one real
            channel times the number of k-space samples ``P``, so white noise of std ``s`` has ``s^2 * P`` everywhere.
            If ``stationary``, ``e`` is one real channel of the combined noise itself: ``(|W(f)|^2 + |W(-f)|^2) / 2 /
            mean(|W|^2) * std^2 * P`` with ``W`` the window (the symmetrisation is what a real channel sees of an
            asymmetric, partial-Fourier window; it is ``|W|^2`` for symmetric ones). Otherwise ``e`` is the
            unit-variance noise ``Re(noise) / noise_std_map``: the same shape with ``std = 1``, times, for SENSE,
            the correlation between the ``R`` pixels unfolded from one aliased pixel (its mean over the image at
            each fold offset); exact in expectation for an untapered window, a local-stationarity approximation
            (slowly varying coil maps and phase) otherwise and for ``"rss"``.
        stationary: whether ``noise_std_map`` is constant and the noise field stationary (then ``noise_psd`` carries
            the noise level; otherwise it is the PSD of the unit-variance noise).
        noise_power: ``E[noisy^2] - reference^2``, exact: ``2 * noise_std^2 * tr(Psi)`` for ``"rss"``, ``2 *
            noise_std_map^2`` for the single-channel combinations. The bias correction of the magnitude is
            ``sqrt(max(noisy^2 - b * noise_power, 0))``.
        effective_coils: the degrees-of-freedom pairs of the magnitude's law: 1 except for ``"rss"``, where it is
            ``tr(Psi)^2 / tr(Psi^2)`` (the coil count for uncorrelated coils of equal noise).
        coils: the number of receiver coils simulated.
        coil_std: the per-pixel std of one real channel of one coil's image after the window (``noise_std``).
        kspace_std: the std of each real channel of the k-space noise, ``noise_std * P / sqrt(sum |W|^2)``.
        g_factor: the SENSE g-factor map ``sqrt([(A^H Psi^-1 A)^+]_rr [A^H Psi^-1 A]_rr)`` for ``"roemer"`` (ones)
            and ``"sense"``; None otherwise.
        combined: the noisy complex combined image (before the magnitude); None for ``"rss"``.
        combined_reference: the noise-free complex combined image; None for ``"rss"``.
        window: the k-space window used, the undersampling mask included (shape of ``noise_psd``).
        correlation_lengths: the full width at half maximum of ``|rho|``, the complex noise's autocorrelation, along
            each k-space axis (pixels; 1 for white noise; SENSE's fold correlation included): what
            :func:`~monai_nad.transforms.estimate_noise` reads from the air, where the magnitude's power follows
            ``|rho|^2``. For a symmetric window it is the width of ``noise_psd``'s autocorrelation; an asymmetric
            (partial-Fourier) window makes ``rho`` complex, and a real channel, which ``noise_psd`` describes, sees
            only ``Re rho``, which is narrower (partial Fourier 5/8: 1.89 against 1.23 pixels).
        noise_std: the nominal noise level, the ``noise_std`` simulated (divided by ``scale``).
        scale: what every image and std was divided by (1 unless rescaled, e.g. by
            :func:`scanner_noise_slice`); powers and the stationary PSD are divided by its square.
    """

    noisy: np.ndarray
    reference: np.ndarray
    noise_std_map: np.ndarray
    noise_psd: np.ndarray
    stationary: bool
    noise_power: np.ndarray
    effective_coils: float
    coils: int
    coil_std: float
    kspace_std: float
    g_factor: np.ndarray | None
    combined: np.ndarray | None
    combined_reference: np.ndarray | None
    window: np.ndarray
    noise_std: float
    correlation_lengths: tuple[float, ...] = ()
    scale: float = 1.0


# ----------------------------------------------------------------------------------------------- building blocks
def _check_shape(shape: Sequence[int], name: str = "shape") -> tuple[int, ...]:
    out = tuple(int(s) for s in shape)
    if len(out) not in (2, 3) or min(out) < 1:
        raise ValueError(f"{name} must be a 2D (H, W) or 3D (H, W, D) shape of positive sizes, got {tuple(shape)!r}.")
    return out


def _grid(shape: tuple[int, ...]) -> list[np.ndarray]:
    return np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij")


def smooth_phase(shape: Sequence[int], rng: Rng, order: int = 3, scale: float = 1.0) -> np.ndarray:
    """A smooth random phase map: a polynomial of low order in normalised coordinates.

    2D: ``phi = sum a_ij y^i x^j`` over ``i + j <= order``, drawn in the loop order ``for i in range(order + 1):
    for j in range(order + 1 - i)``; 3D: ``sum a_ijl y^i x^j z^l`` over ``i + j + l <= order``, loops nested the same
    way (``l`` innermost). Each ``a = scale * rng.standard_normal()`` (one scalar draw each); ``y, x, z =
    linspace(-1, 1, n)`` along axes 0, 1, 2.

    Args:
        shape: ``(H, W)`` or ``(H, W, D)``.
        rng: a :class:`numpy.random.Generator` or :class:`numpy.random.RandomState`.
        order: the polynomial's total degree, ``>= 0``. Defaults to 3.
        scale: the std of the coefficients (radians), ``>= 0``. Defaults to 1.

    Returns:
        the phase in radians, float64 of ``shape``.

    Raises:
        ValueError: a bad shape, a negative order or scale.
    """
    shape = _check_shape(shape)
    if int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative int, got {order!r}.")
    scale = as_range(scale, "scale")[0]
    grids = _grid(shape)
    phi = np.zeros(shape)
    order = int(order)
    if len(shape) == 2:
        y, x = grids
        for i in range(order + 1):
            for j in range(order + 1 - i):
                phi += scale * rng.standard_normal() * y**i * x**j
    else:
        y, x, z = grids
        for i in range(order + 1):
            for j in range(order + 1 - i):
                for k in range(order + 1 - i - j):
                    phi += scale * rng.standard_normal() * y**i * x**j * z**k
    return phi


def _check_receiver_coils(coils: int) -> int:
    """A number of receiver coils to simulate (or of coil maps given): a whole number from 1 to :data:`MAX_COILS`,
    never None (the coil count an estimate is told is checked by ``noise_map._check_told_coils``)."""
    if isinstance(coils, bool) or int(coils) != coils or not 1 <= int(coils) <= MAX_COILS:
        raise ValueError(f"coils must be an int from 1 to {MAX_COILS}, got {coils!r}.")
    return int(coils)


def coil_sensitivities(
    shape: Sequence[int],
    n_coils: int,
    radius: float = 1.4,
    falloff: float = 0.6,
    phase_slope: float = 0.5,
    rotation: float = 0.0,
) -> np.ndarray:
    """Smooth complex receiver-coil sensitivities: coils on a circle around the object.

    Coil ``k`` sits at angle ``a = 2 pi k / N + rotation`` and centre ``y_c = radius cos a`` (axis 0), ``x_c =
    radius sin a`` (axis 1) (and ``z_c = 0``) in normalised coordinates (``linspace(-1, 1, n)`` per axis), i.e. on a
    ring in the plane of axes 0 and 1, outside the image for ``radius > sqrt(2)``-ish; coil 0 beyond the last row.
    Its map is ``exp(1j (a + phase_slope (y cos a + x sin a))) / sqrt(1 + r^2 / falloff)`` with ``r`` the distance
    to the centre (a linear phase along the coil's direction). All maps are divided by the maximum of their
    root-sum-of-squares, so ``max sqrt(sum_k |S_k|^2) = 1``.

    Args:
        shape: ``(H, W)`` or ``(H, W, D)``.
        n_coils: number of coils, 1 to :data:`MAX_COILS`.
        radius: distance of the coil centres from the image centre. Defaults to 1.4.
        falloff: ``r^2`` scale of the magnitude's decay, ``> 0``. Defaults to 0.6.
        phase_slope: slope of the linear phase (radians per unit of normalised coordinate). Defaults to 0.5.
        rotation: angle added to every coil's (radians). Defaults to 0.

    Returns:
        complex128 array ``(N, *shape)``.

    Raises:
        ValueError: a bad shape, coil count or falloff.
    """
    shape = _check_shape(shape)
    n = _check_receiver_coils(n_coils)
    falloff = as_range(falloff, "falloff", strict=True)[0]
    grids = _grid(shape)
    y, x = grids[0], grids[1]
    z2 = grids[2] ** 2 if len(shape) == 3 else 0.0
    maps = np.empty((n, *shape), dtype=np.complex128)
    for k in range(n):
        a = 2.0 * math.pi * k / n + float(rotation)
        yc, xc = radius * math.cos(a), radius * math.sin(a)
        r2 = (y - yc) ** 2 + (x - xc) ** 2 + z2
        maps[k] = np.exp(1j * (a + phase_slope * (y * math.cos(a) + x * math.sin(a)))) / np.sqrt(1.0 + r2 / falloff)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0)).max()


def noise_correlation_matrix(n_coils: int, strength: float, rng: Rng) -> np.ndarray:
    """A random Hermitian positive-definite noise correlation matrix between coils, with unit diagonal.

    ``C = G G^H / N`` with ``G`` complex Gaussian (``N x N``, real then imaginary part drawn from ``rng``, each of
    variance 1/2), ``Psi = (1 - strength) I + strength C``, then scaled to a unit diagonal.

    Args:
        n_coils: ``N``, 1 to :data:`MAX_COILS`.
        strength: in ``[0, 1)``; 0 gives the identity, larger values stronger correlation.
        rng: a :class:`numpy.random.Generator` or :class:`numpy.random.RandomState`.

    Returns:
        complex128 ``(N, N)``.

    Raises:
        ValueError: a bad coil count or strength.
    """
    n = _check_receiver_coils(n_coils)
    if not (math.isfinite(strength) and 0.0 <= strength < 1.0):
        raise ValueError(f"strength must be in [0, 1), got {strength!r}.")
    g = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) / math.sqrt(2.0)
    psi = (1.0 - strength) * np.eye(n) + strength * (g @ g.conj().T) / n
    d = np.sqrt(np.real(np.diag(psi)))
    psi = psi / np.outer(d, d)
    return 0.5 * (psi + psi.conj().T)


def _taper(kind: str, f: np.ndarray, h: float, tukey_alpha: float, fermi_width: float) -> np.ndarray:
    a = np.abs(f)
    if kind == "none":
        return np.ones_like(f)
    if kind == "hann":
        return 0.5 + 0.5 * np.cos(np.pi * f / h)
    if kind == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * f / h)
    if kind == "tukey":
        flat = (1.0 - tukey_alpha) * h
        if tukey_alpha == 0.0:
            return np.ones_like(f)
        return np.where(a <= flat, 1.0, 0.5 * (1.0 + np.cos(np.pi * (a - flat) / (tukey_alpha * h))))
    w = fermi_width * h
    return 1.0 / (1.0 + np.exp((a - (1.0 - 4.0 * fermi_width) * h) / w))


def kspace_window(
    shape: Sequence[int],
    kind: str = "none",
    fraction: float | Sequence[float] = 1.0,
    partial_fourier: float = 1.0,
    partial_fourier_axis: int = 0,
    tukey_alpha: float = 0.5,
    fermi_width: float = 0.05,
) -> np.ndarray:
    """A separable k-space window over the frequencies of :func:`numpy.fft.fftfreq` (numpy's order, no shift).

    Along each axis, with ``f = fftfreq(n)`` and ``h = fraction / 2``, the acquired region is ``|f| <= h``
    (zero outside: zero-filled interpolation to the full matrix) and the taper over it is

    - ``"none"``: 1;
    - ``"hann"``: ``0.5 + 0.5 cos(pi f / h)``; ``"hamming"``: ``0.54 + 0.46 cos(pi f / h)``;
    - ``"tukey"``: 1 for ``|f| <= (1 - alpha) h``, then ``0.5 (1 + cos(pi (|f| - (1 - alpha) h) / (alpha h)))``;
    - ``"fermi"``: ``1 / (1 + exp((|f| - (1 - 4 w) h) / (w h)))``, ``w = fermi_width``.

    Partial Fourier on ``partial_fourier_axis`` keeps only ``f >= -h + 2 h (1 - partial_fourier)`` there (the
    negative side cut; ``partial_fourier = 5/8`` of the full range keeps ``f >= -0.125``). Comparisons are
    literal float comparisons of ``fftfreq``'s values. The window is the outer product of the per-axis windows.

    Args:
        shape: the k-space shape (1 to 3 axes).
        kind: one of :data:`WINDOW_KINDS`. Defaults to ``"none"``.
        fraction: acquired fraction of the frequency range per axis, in ``(0, 1]``; a number for all axes or one
            per axis. Defaults to 1.
        partial_fourier: fraction of the acquired extent kept along ``partial_fourier_axis``, in ``[0.5, 1]``
            (1: none). Defaults to 1.
        partial_fourier_axis: the axis cut by partial Fourier. Defaults to 0.
        tukey_alpha: the tapered fraction of the Tukey window, in ``[0, 1]``. Defaults to 0.5.
        fermi_width: the Fermi transition width relative to ``h``, in ``(0, 0.25)``. Defaults to 0.05.

    Returns:
        float64 array of ``shape``, values in ``[0, 1]``, 1 (or the taper's maximum) at ``f = 0``.

    Raises:
        ValueError: an unknown kind, or an argument out of range.
    """
    shape = tuple(int(s) for s in shape)
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ValueError(f"shape must have 1 to 3 positive sizes, got {shape!r}.")
    if kind not in WINDOW_KINDS:
        raise ValueError(f"unknown window {kind!r}; choose one of {WINDOW_KINDS}.")
    fr = [fraction] * len(shape) if isinstance(fraction, (int, float)) else list(fraction)
    if len(fr) != len(shape) or not all(isinstance(a, (int, float)) and 0.0 < a <= 1.0 for a in fr):
        raise ValueError(f"fraction must be in (0, 1], a number or one per axis, got {fraction!r}.")
    if not (isinstance(partial_fourier, (int, float)) and 0.5 <= partial_fourier <= 1.0):
        raise ValueError(f"partial_fourier must be in [0.5, 1], got {partial_fourier!r}.")
    if partial_fourier < 1.0 and not 0 <= int(partial_fourier_axis) < len(shape):
        raise ValueError(f"partial_fourier_axis must be one of the {len(shape)} k-space axes, got {partial_fourier_axis!r}.")
    if not 0.0 <= tukey_alpha <= 1.0:
        raise ValueError(f"tukey_alpha must be in [0, 1], got {tukey_alpha!r}.")
    if not 0.0 < fermi_width < 0.25:
        raise ValueError(f"fermi_width must be in (0, 0.25), got {fermi_width!r}.")
    w = np.ones(shape)
    for ax, (n, a) in enumerate(zip(shape, fr)):
        f = np.fft.fftfreq(n)
        h = float(a) / 2.0
        line = _taper(kind, f, h, float(tukey_alpha), float(fermi_width)) * (np.abs(f) <= h)
        if partial_fourier < 1.0 and ax == int(partial_fourier_axis):
            line = line * (f >= -h + 2.0 * h * (1.0 - float(partial_fourier)))
        view = [1] * len(shape)
        view[ax] = n
        w = w * line.reshape(view)
    return w


def undersampling_mask(shape: Sequence[int], acceleration: int, axis: int = 0) -> np.ndarray:
    """Uniform undersampling: keep the k-space lines whose ``fftfreq`` index along ``axis`` is a multiple of ``R``.

    With ``n`` divisible by ``R``, the image of the masked k-space is ``(1 / R) sum_r x(y + r n / R)`` (the ``R``
    copies folded onto each other, periodic with period ``n / R``).

    Args:
        shape: the k-space shape.
        acceleration: ``R >= 1``.
        axis: the undersampled axis. Defaults to 0.

    Returns:
        float64 array of ``shape`` with values 0 and 1.

    Raises:
        ValueError: ``R < 1`` or a bad axis.
    """
    shape = tuple(int(s) for s in shape)
    r = _check_acceleration(acceleration)
    if not 0 <= axis < len(shape):
        raise ValueError(f"axis must be one of the {len(shape)} k-space axes, got {axis!r}.")
    view = [1] * len(shape)
    view[axis] = shape[axis]
    line = (np.arange(shape[axis]) % r == 0).astype(np.float64)
    return np.broadcast_to(line.reshape(view), shape).copy()


def _check_acceleration(acceleration: int) -> int:
    if isinstance(acceleration, bool) or int(acceleration) != acceleration or not 1 <= int(acceleration) <= MAX_COILS:
        raise ValueError(f"acceleration must be an int from 1 to {MAX_COILS}, got {acceleration!r}.")
    return int(acceleration)


# ------------------------------------------------------------------------------------------------- the simulation
def _noise_acf(window: np.ndarray, fold_corr: np.ndarray | None = None, axis: int = 0) -> np.ndarray:
    """The complex autocorrelation (1 at lag zero) of the noise shaped by ``window``, times, for SENSE, the correlation
    ``fold_corr`` between the pixels unfolded from one aliased pixel at each fold offset along ``axis``."""
    acf = np.fft.ifftn(np.abs(window) ** 2)
    acf = acf / acf.flat[0].real
    if fold_corr is not None and len(fold_corr) > 1:
        r = len(fold_corr)
        n = window.shape[axis]
        period = n // r
        offsets = np.rint(np.arange(n) / period).astype(int) % r
        view = [1] * window.ndim
        view[axis] = n
        acf = acf * np.asarray(fold_corr)[offsets].reshape(view)
    return acf


def _unit_psd(window: np.ndarray, fold_corr: np.ndarray | None = None, axis: int = 0) -> np.ndarray:
    """bm3d-convention PSD of the unit-variance real-channel noise shaped by ``window`` (see ScannerNoiseSample): the
    real part of :func:`_noise_acf`, which is what one real channel sees."""
    return window.size * np.fft.fftn(_noise_acf(window, fold_corr, axis).real).real


def _air_correlation_lengths(window: np.ndarray, fold_corr: np.ndarray | None = None, axis: int = 0) -> tuple[float, ...]:
    """The widths of ``|rho|`` of the complex noise shaped by ``window`` (:attr:`ScannerNoiseSample.correlation_lengths`)."""
    return acf_correlation_lengths(_noise_acf(window, fold_corr, axis))


def _unmixing(maps: np.ndarray, r: int, axis: int, linv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whitened least-squares SENSE unmixing per aliased pixel.

    Returns ``U`` (``(m, *rest, R, N)``, applied to whitened aliased coil data), ``diag(G^+)`` and ``diag(G)``
    (``(m, *rest, R)``) with ``G = A^H Psi^-1 A``, ``A[k, r] = S_k(y_r) / R``.
    """
    n = maps.shape[0]
    length = maps.shape[axis + 1]
    m = length // r
    s = np.moveaxis(maps, axis + 1, 1)
    rest = s.shape[2:]
    s = s.reshape(n, r, m, *rest)
    a = np.moveaxis(s, (0, 1), (-2, -1)) / r  # (m, *rest, N, R)
    if linv is not None:
        a = linv @ a
    ah = np.conj(np.swapaxes(a, -1, -2))
    g = ah @ a
    if r == 1:
        g00 = g[..., 0, 0].real
        ginv = np.where(g00 > 0, 1.0 / np.where(g00 > 0, g00, 1.0), 0.0)[..., None, None].astype(np.complex128)
    else:
        ginv = np.linalg.pinv(g, hermitian=True)
    u = ginv @ ah
    return u, np.real(np.diagonal(ginv, axis1=-2, axis2=-1)), np.real(np.diagonal(g, axis1=-2, axis2=-1))


def _unfold(images: np.ndarray, v: np.ndarray, r: int, axis: int) -> np.ndarray:
    """Apply the unmixing ``v`` (``(m, *rest, R, N)``, raw coil data) to aliased coil images ``(N, *shape)``."""
    length = images.shape[axis + 1]
    m = length // r
    x = np.moveaxis(images, axis + 1, 1)[:, :m]  # (N, m, *rest): one period of the aliased images
    x = np.moveaxis(x, 0, -1)[..., None]  # (m, *rest, N, 1)
    rho = (v @ x)[..., 0]  # (m, *rest, R)
    return _fold_back(rho, r, axis)


def _fold_back(per_fold: np.ndarray, r: int, axis: int) -> np.ndarray:
    """``(m, *rest, R)`` values at the pixels ``y + r m`` back to image layout with ``axis`` of length ``R m``."""
    x = np.moveaxis(per_fold, -1, 0)  # (R, m, *rest)
    x = x.reshape(r * x.shape[1], *x.shape[2:])
    return np.moveaxis(x, 0, axis)


def _check_image(clean: object, name: str = "clean") -> np.ndarray:
    x = np.asarray(convert_data_type(clean, np.ndarray)[0])
    if np.iscomplexobj(x) or x.ndim not in (2, 3) or min(x.shape) < 1:
        raise ValueError(f"{name} must be a real 2D (H, W) or 3D (H, W, D) array, got shape {x.shape} of {x.dtype}.")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite values.")
    return x


def simulate_scanner_noise(
    clean: np.ndarray,
    *,
    rng: Rng,
    noise_std: float,
    coils: int | None = None,
    coil_maps: np.ndarray | None = None,
    noise_correlation: np.ndarray | None = None,
    window: np.ndarray | str | None = None,
    acceleration: int = 1,
    sense_axis: int = 0,
    combination: str = "magnitude",
    phase: np.ndarray | None = None,
    kspace_dims: int = 2,
) -> ScannerNoiseSample:
    """Simulate the acquisition of one clean magnitude image or volume, with and without complex k-space noise.

    1. ``c = clean * exp(1j * phase)``; coil images ``c * S_k``; k-space ``K_k = fftn(c * S_k)`` over the k-space
       axes (``kspace_dims`` leading axes).
    2. Complex white noise per coil, drawn from ``rng`` coil by coil, real part then imaginary part, each
       ``rng.standard_normal(image shape)`` (drawn on the full k-space, discarded lines included), scaled to the
       k-space std ``noise_std * P / sqrt(sum |W|^2)`` (``P`` k-space samples, ``W`` the window with the
       undersampling mask), so that one real channel of one coil's image after the window has std ``noise_std``
       (numpy's ``ifftn`` normalisation); with ``noise_correlation`` ``Psi`` the coil noises are mixed by its
       Cholesky factor ``L`` (``Psi = L L^H``), so coil ``k`` has std ``noise_std * sqrt(Psi_kk)``.
    3. Coil images ``ifftn((K_k + N_k) * W)``; the reference is ``ifftn(K_k * W)``.
    4. Combination, then magnitude:

       - ``"magnitude"``: the single coil's image (needs one coil);
       - ``"rss"``: ``sqrt(sum_k |y_k|^2)``;
       - ``"roemer"``: ``sum_k conj(S_k) y_k / sum_k |S_k|^2`` (with ``Psi``: ``S^H Psi^-1 y / S^H Psi^-1 S``), the
         SENSE solution with ``R = 1``;
       - ``"sense"``: k-space lines kept where the ``fftfreq`` index along ``sense_axis`` is a multiple of
         ``acceleration`` (:func:`undersampling_mask`, applied after the noise), and each aliased pixel's ``R``
         source pixels ``y + r n / R`` recovered by (``Psi``-weighted) least squares with the true maps, the
         system ``a_k = sum_r S_k(y_r) rho(y_r) / R`` (the pseudo-inverse where singular). Noise-free and
         untapered, the reference is exactly ``c`` (float error aside).

    Memory: a few complex128 arrays of ``(coils, *clean.shape)``.

    Args:
        clean: the clean magnitude image ``(H, W)`` or volume ``(H, W, D)``, real and finite (numpy or torch).
        rng: a :class:`numpy.random.Generator` or :class:`numpy.random.RandomState`; only the noise is drawn.
        noise_std: ``>= 0``, the std of one real channel of one coil's image after the window (see step 2).
        coils: number of coils, 1 to :data:`MAX_COILS`; None: the count of ``coil_maps``, else 1.
        coil_maps: complex ``(N, *clean.shape)``; None: ones for one coil, :func:`coil_sensitivities` otherwise.
        noise_correlation: Hermitian positive-definite ``(N, N)`` noise covariance between coils in units of
            ``noise_std^2`` (unit diagonal for coils of equal noise); None: the identity.
        window: the k-space window (shape ``clean.shape[:kspace_dims]``), a kind of :data:`WINDOW_KINDS` for
            :func:`kspace_window` with its defaults, or None (all ones).
        acceleration: ``R``, 1 to :data:`MAX_COILS`; ``> 1`` needs ``combination="sense"``, ``R <= coils`` and
            the length along ``sense_axis`` divisible by ``R``.
        sense_axis: the undersampled k-space axis. Defaults to 0.
        combination: one of :data:`COMBINATIONS`. Defaults to ``"magnitude"``.
        phase: the image phase in radians (``clean.shape``), e.g. from :func:`smooth_phase`; None: zero.
        kspace_dims: 2 (k-space over axes 0 and 1, slice by slice for a volume) or 3 (a volume's 3D k-space).

    Returns:
        a :class:`ScannerNoiseSample` (its docstring defines the std map, PSD and the rest precisely).

    Raises:
        ValueError: any inconsistent or out-of-range argument, or a non-finite image (one-line messages).

    Example::

        rng = np.random.default_rng(0)
        maps = coil_sensitivities(image.shape, 8)
        s = simulate_scanner_noise(image, rng=rng, noise_std=0.05, coil_maps=maps, combination="rss",
                                   window=kspace_window(image.shape, "hann", fraction=0.8))
        s.noisy, s.reference, s.noise_std_map, s.noise_psd
    """
    x = _check_image(clean)
    shape = x.shape
    if kspace_dims not in (2, 3) or kspace_dims > x.ndim:
        raise ValueError(f"kspace_dims must be 2, or 3 for a volume, got {kspace_dims!r} for a {x.ndim}D image.")
    kshape = shape[:kspace_dims]
    axes = tuple(range(1, kspace_dims + 1))  # the k-space axes of (coil, *shape) arrays
    if not isinstance(noise_std, (int, float, np.floating)) or not math.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}.")
    s = float(noise_std)
    if combination not in COMBINATIONS:
        raise ValueError(f"unknown combination {combination!r}; choose one of {COMBINATIONS}.")
    if coil_maps is None:
        n = 1 if coils is None else _check_receiver_coils(coils)
        maps = np.ones((1, *shape), dtype=np.complex128) if n == 1 else coil_sensitivities(shape, n)
    else:
        maps = np.asarray(coil_maps).astype(np.complex128)
        if maps.ndim != x.ndim + 1 or maps.shape[1:] != shape:
            raise ValueError(f"coil_maps must have shape (N, *{shape}), got {maps.shape}.")
        n = _check_receiver_coils(maps.shape[0])
        if coils is not None and _check_receiver_coils(coils) != n:
            raise ValueError(f"coils={coils!r} disagrees with the {n} coil maps given.")
        if not np.isfinite(maps).all():
            raise ValueError("coil_maps has NaN or infinite values.")
    if combination == "magnitude" and n != 1:
        raise ValueError(f"combination 'magnitude' takes one coil, got {n}; use 'rss', 'roemer' or 'sense'.")
    r = _check_acceleration(acceleration)
    if r > 1:
        if combination != "sense":
            raise ValueError(f"acceleration {r} > 1 needs combination 'sense', got {combination!r}.")
        if not 0 <= sense_axis < kspace_dims:
            raise ValueError(f"sense_axis must be one of the {kspace_dims} k-space axes, got {sense_axis!r}.")
        if shape[sense_axis] % r:
            raise ValueError(f"SENSE needs the length along axis {sense_axis} ({shape[sense_axis]}) divisible by R = {r}.")
        if n < r:
            raise ValueError(f"SENSE with R = {r} needs at least {r} coils, got {n}.")
    chol = linv = None
    psi = np.eye(n)
    if noise_correlation is not None:
        psi = np.asarray(noise_correlation).astype(np.complex128)
        if psi.shape != (n, n) or not np.isfinite(psi).all() or not np.allclose(psi, psi.conj().T, rtol=0, atol=1e-10):
            raise ValueError(f"noise_correlation must be a finite Hermitian ({n}, {n}) matrix, got shape {psi.shape}.")
        try:
            chol = np.linalg.cholesky(psi)
        except np.linalg.LinAlgError:
            raise ValueError("noise_correlation must be positive definite.") from None
        linv = np.linalg.inv(chol)
    if window is None:
        w = np.ones(kshape)
    elif isinstance(window, str):
        w = kspace_window(kshape, window)
    else:
        w = np.asarray(window, dtype=np.float64)
        if w.shape != kshape or not np.isfinite(w).all():
            raise ValueError(f"window must be a finite array of the k-space shape {kshape}, got shape {w.shape}.")
    if r > 1:
        w = w * undersampling_mask(kshape, r, sense_axis)
    power = float(np.sum(np.abs(w) ** 2))
    if power <= 0:
        raise ValueError("the window (with the undersampling mask) is zero everywhere.")
    if phase is None:
        c = x.astype(np.complex128)
    else:
        phase = np.asarray(phase, dtype=np.float64)
        if phase.shape != shape or not np.isfinite(phase).all():
            raise ValueError(f"phase must be a finite array of the image's shape {shape}, got shape {phase.shape}.")
        c = x * np.exp(1j * phase)

    p = int(np.prod(kshape))
    kstd = s * p / math.sqrt(power)
    wb = w.reshape(kshape + (1,) * (x.ndim - kspace_dims))
    ref = np.fft.ifftn(np.fft.fftn(c[None] * maps, axes=axes) * wb, axes=axes)
    z = np.empty((n, *shape), dtype=np.complex128)
    for k in range(n):
        re = rng.standard_normal(shape)
        im = rng.standard_normal(shape)
        z[k] = re + 1j * im
    noise = np.fft.ifftn(kstd * z * wb, axes=axes)
    del z
    if chol is not None:
        noise = np.tensordot(chol, noise, axes=(1, 0))
    coil_images = ref + noise
    del noise

    g_map = combined = combined_ref = None
    effective = 1.0
    fold_corr = None
    if combination == "magnitude":
        combined, combined_ref = coil_images[0], ref[0]
        std = np.full(shape, s * math.sqrt(float(np.real(psi[0, 0]))))
        noisy, reference = np.abs(combined), np.abs(combined_ref)
        noise_power = 2.0 * std**2
    elif combination == "rss":
        noisy = np.sqrt((np.abs(coil_images) ** 2).sum(axis=0))
        ref_power = (np.abs(ref) ** 2).sum(axis=0)
        reference = np.sqrt(ref_power)
        tr, tr2 = float(np.real(np.trace(psi))), float(np.real(np.trace(psi @ psi)))
        effective = tr**2 / tr2
        if noise_correlation is None:
            std = np.full(shape, s)
        else:
            proj = np.real(np.einsum("k...,kl,l...->...", np.conj(ref), psi, ref))
            ratio = np.where(ref_power > 0, proj / np.where(ref_power > 0, ref_power, 1.0), tr2 / tr)
            std = s * np.sqrt(np.maximum(ratio, 0.0))
        noise_power = np.full(shape, 2.0 * s**2 * tr)
    else:
        axis = sense_axis if combination == "sense" else 0
        rr = r if combination == "sense" else 1
        u, ginv_diag, g_diag = _unmixing(maps, rr, axis, linv)
        v = u @ linv if linv is not None else u
        combined = _unfold(coil_images, v, rr, axis)
        combined_ref = _unfold(ref, v, rr, axis)
        noisy, reference = np.abs(combined), np.abs(combined_ref)
        unorm2 = (np.abs(u) ** 2).sum(axis=-1)  # (m, *rest, R)
        std = s * _fold_back(np.sqrt(unorm2), rr, axis)
        g_map = _fold_back(np.sqrt(np.maximum(ginv_diag * g_diag, 0.0)), rr, axis)
        noise_power = 2.0 * std**2
        if rr > 1:
            uu = u @ np.conj(np.swapaxes(u, -1, -2))  # (m, *rest, R, R)
            d = np.sqrt(np.maximum(unorm2, 0.0))
            den = d[..., :, None] * d[..., None, :]
            corr = np.where(den > 0, np.real(uu) / np.where(den > 0, den, 1.0), 0.0)
            idx = np.arange(rr)
            fold_corr = np.array([corr[..., idx, (idx + k) % rr].mean() for k in range(rr)])
            fold_corr[0] = 1.0
    fold_axis = sense_axis if fold_corr is not None else 0
    unit = _unit_psd(w, fold_corr, fold_axis)
    spread = float(std.max() - std.min())
    stationary = fold_corr is None and spread <= 1e-9 * max(float(std.max()), 1e-300)
    psd = unit * float(std.flat[0]) ** 2 if stationary else unit
    return ScannerNoiseSample(
        noisy=noisy,
        reference=reference,
        noise_std_map=std,
        noise_psd=psd,
        correlation_lengths=_air_correlation_lengths(w, fold_corr, fold_axis),
        stationary=bool(stationary),
        noise_power=noise_power,
        effective_coils=float(effective),
        coils=n,
        coil_std=s,
        kspace_std=float(kstd),
        g_factor=g_map,
        combined=combined,
        combined_reference=combined_ref,
        window=w,
        noise_std=s,
    )


def _rescale(sample: ScannerNoiseSample, scale: float) -> ScannerNoiseSample:
    """Divide every image and std of ``sample`` by ``scale`` (powers and the stationary PSD by its square)."""
    inv = 1.0 / scale
    return dataclasses.replace(
        sample,
        noisy=sample.noisy * inv,
        reference=sample.reference * inv,
        noise_std_map=sample.noise_std_map * inv,
        noise_psd=sample.noise_psd * inv**2 if sample.stationary else sample.noise_psd,
        noise_power=sample.noise_power * inv**2,
        coil_std=sample.coil_std * inv,
        kspace_std=sample.kspace_std * inv,
        combined=None if sample.combined is None else sample.combined * inv,
        combined_reference=None if sample.combined_reference is None else sample.combined_reference * inv,
        noise_std=sample.noise_std * inv,
        scale=sample.scale * scale,
    )


def scanner_noise_slice(clean: np.ndarray, z: int, condition: str, noise_std: float, seed: int | None = None) -> ScannerNoiseSample:
    """The scanner-noise simulation of the scanner-noise benchmark, for one clean 2D slice.

    The protocol (axis 0 and axis 1 are the slice's two axes):

    1. ``rng = numpy.random.default_rng(2000 + z)`` (``default_rng([seed, z])`` when ``seed`` is given). A smooth phase ``phi = sum a_ij y^i x^j`` over ``i + j <= 3``,
       ``a_ij ~ N(0, 1)`` drawn as scalars in the loop order ``for i in range(4): for j in range(4 - i)``, with
       ``y = linspace(-1, 1, H)`` along axis 0 and ``x = linspace(-1, 1, W)`` along axis 1 (:func:`smooth_phase`);
       ``c = clean * exp(1j * phi)``.
    2. Coils (``N = 8`` for ``sos8`` and ``sense2``, else one coil of sensitivity 1): coil ``k`` at angle ``a = 2 pi
       k / N``, centre ``x_c = 1.4 sin a``, ``y_c = 1.4 cos a`` (the pair "(1.4 sin a, 1.4 cos a)" read in the
       ``(x, y)`` order of the coordinates, so the linear phase below points at the coil), magnitude ``1 / sqrt(1 +
       r^2 / 0.6)``, phase ``a + 0.5 (y cos a + x sin a)``; all maps divided by the maximum of their
       root-sum-of-squares (:func:`coil_sensitivities` with its defaults).
    3. Per coil ``K = fft2(c * S_k)``, complex white noise: ``for k in range(N): real = rng.standard_normal((H, W));
       imag = rng.standard_normal((H, W))``, scaled to the k-space std ``s * H * W / sqrt(sum |W|^2)`` so that one
       real channel of one coil's image after the window has std ``s``; image ``ifft2((K + N_k) * W)``, reference
       ``ifft2(K * W)``.
    4. Combination, then both images divided by the reference's maximum (the noise std too).

    Conditions (``f = fftfreq(n)`` per axis; ``W`` the outer product of the per-axis windows):

    - ``filtered``: one coil, ``0.5 + 0.5 cos(pi f / 0.35)`` where ``|f| <= 0.35``, 0 elsewhere, on both axes;
      magnitude;
    - ``partial_fourier``: one coil, axis 0 keeps ``f >= -0.125`` (literal float comparison; 5/8 of k-space,
      zero-filled), axis 1 full; magnitude;
    - ``sos8``: 8 coils, ``0.5 + 0.5 cos(pi f / 0.4)`` where ``|f| <= 0.4`` on both axes; root-sum-of-squares;
    - ``sense2``: 8 coils; the slice first cut to an even length along axis 0 (last row dropped when odd; the
      phase and coil maps are then built on the cut slice); ``W`` keeps the rows of even ``fftfreq`` index along
      axis 0 (``R = 2``, no taper; ``sum |W|^2 = H W / 2``), the noise drawn on the full k-space before the
      mask; pixels ``(y, y + H/2)`` unfolded by least squares with the true maps (``a_k = (S_k(y) rho(y) +
      S_k(y + H/2) rho(y + H/2)) / 2``), so the reference is ``clean`` exactly (float error aside); magnitude.

    Outputs, divided by the reference's maximum ``scale`` like the images: ``noise_std_map`` (filtered,
    partial_fourier, sos8: the constant ``s' = s / scale``; sense2: ``s' * 2 * sqrt([(S^H S)^-1]_rr)``, i.e.
    ``s' * R * g / sqrt(sum_k |S_k|^2)`` with ``g`` the g-factor map, since ``s`` is the std of the *aliased*
    coil images), ``noise_std = s'``, ``effective_coils`` (8 for sos8, else 1) and ``noise_psd``: for the stationary
    conditions the PSD of one real channel in the bm3d convention, ``(|W(f)|^2 + |W(-f)|^2) / 2 / mean(|W|^2) *
    s'^2 * H * W`` (``|W|^2 / mean(|W|^2) * s'^2 * H * W`` for the symmetric filtered and sos8 windows; the
    symmetrised form is what one real channel, and the magnitude, sees of partial Fourier's asymmetric window:
    1 where ``|f| <= 0.125`` along axis 0, 1/2 elsewhere, relative to the mean); for sense2 the PSD of the
    unit-variance noise ``Re(noise) / noise_std_map``, ``H W (1 + c (-1)^k)`` along the axis-0 frequency index
    ``k`` with ``c`` the mean correlation of the two unfolded pixels (see :class:`ScannerNoiseSample`).

    Args:
        clean: the clean slice ``(H, W)``, real and finite, in the units of ``noise_std``.
        z: the slice index (seeds the noise).
        condition: one of :data:`SCANNER_NOISE_CONDITIONS`.
        noise_std: ``s >= 0``.
        seed: ``None`` (the benchmark's protocol, seeded by ``z`` alone) or a non-negative int: another draw of the
            phase and noise for each seed, as for noisy training slices acquired more than once.

    Returns:
        a :class:`ScannerNoiseSample` divided by the reference's maximum (``scale``); for sense2 its images have
        the cut shape ``(2 * (H // 2), W)``.

    Raises:
        ValueError: an unknown condition, a bad noise_std or seed, or a slice that is not a finite 2D array.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}.")
    if condition not in SCANNER_NOISE_CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {SCANNER_NOISE_CONDITIONS}.")
    x = _check_image(clean)
    if x.ndim != 2:
        raise ValueError(f"clean must be a 2D slice (H, W), got shape {x.shape}.")
    if condition == "sense2" and x.shape[0] % 2:
        x = x[:-1]
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"clean must be at least 2 x 2, got shape {x.shape}.")
    rng = np.random.default_rng(2000 + int(z) if seed is None else [int(seed), int(z)])
    phi = smooth_phase(x.shape, rng, order=3, scale=1.0)
    kwargs: dict = {"combination": "magnitude", "coils": 1}
    if condition == "filtered":
        kwargs["window"] = kspace_window(x.shape, "hann", fraction=0.7)
    elif condition == "partial_fourier":
        kwargs["window"] = kspace_window(x.shape, "none", partial_fourier=0.625, partial_fourier_axis=0)
    elif condition == "sos8":
        kwargs.update(window=kspace_window(x.shape, "hann", fraction=0.8), coils=None, combination="rss")
        kwargs["coil_maps"] = coil_sensitivities(x.shape, 8)
    else:
        kwargs.update(acceleration=2, sense_axis=0, combination="sense", coils=None)
        kwargs["coil_maps"] = coil_sensitivities(x.shape, 8)
    sample = simulate_scanner_noise(x, rng=rng, noise_std=noise_std, phase=phi, **kwargs)
    scale = float(sample.reference.max())
    if not scale > 0:
        raise ValueError("the clean slice gives an all-zero reference; nothing to normalise by.")
    return _rescale(sample, scale)


# --------------------------------------------------------------------------------------------------- transforms
def _int_range(value: int | Sequence[int], name: str, low: int, high: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or int(v) != v for v in pair):
        raise ValueError(f"{name} must be an int or an inclusive (low, high) pair of ints, got {value!r}.")
    lo, hi = int(pair[0]), int(pair[1])
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}] with low <= high, got {value!r}.")
    return lo, hi


def _choices(values: str | Sequence[str], allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    out = (values,) if isinstance(values, str) else tuple(values)
    if not out:
        raise ValueError(f"{name} must name at least one of {allowed}.")
    for v in out:
        if v not in allowed:
            raise ValueError(f"unknown {name[:-1]} {v!r}; choose from {allowed}.")
    return out


class RandScannerNoise(RandomizableTransform):
    """Scanner noise with random acquisition parameters: :func:`simulate_scanner_noise` applied per channel.

    Each call draws, from ``self.R``: the noise std; a combination; the coil count (1 for ``"magnitude"``, at least
    ``R`` for ``"sense"``); the acceleration ``R`` (``"sense"`` only, others 1); a window kind and acquired
    fraction (the same on every k-space axis); partial Fourier (with ``partial_fourier_prob``, one k-space axis);
    the undersampled axis (0 or 1, the plane of the coil ring, which cannot unfold along axis 2); the rotation of
    the coil ring (:func:`coil_sensitivities`); with ``correlation_prob`` (two coils or more) a noise correlation
    between coils (:func:`noise_correlation_matrix`). Then per channel (each channel is a separate clean magnitude
    image) a smooth phase (:func:`smooth_phase`, coefficients of std ``phase_scale``) and the noise.

    The output is in the input's units, not rescaled: the reference of ``"rss"`` carries the coil shading
    (``sqrt(sum |S_k|^2) <= 1``) and the window's blur, and after ``"sense"`` the noise is about ``R g /
    sqrt(sum |S_k|^2)`` times ``noise_std``, which is the std of the *aliased* coil images. After a call,
    :attr:`reference`, :attr:`noise_std_map` (``(C, H, W[, D])`` float64, definitions in
    :class:`ScannerNoiseSample`), :attr:`noise_psd` (shape of the k-space axes), :attr:`correlation_lengths`, :attr:`stationary`,
    :attr:`effective_coils` and :attr:`params` (the draw) describe it.

    Odd sizes under SENSE: when the length along the undersampled axis is not a multiple of ``R``, the image is
    zero-padded at the end of that axis (a field of view enlarged with air), simulated, and every image cropped back
    to the input's shape; the PSD is then that of the output grid's window without the unfolding's pair
    correlation (an approximation).

    Args:
        prob: probability of adding noise. Defaults to 1.
        noise_std: ``(low, high)`` range (or a fixed value) of ``noise_std``, in image units. Defaults to
            ``(0.01, 0.1)``.
        log_uniform: draw ``noise_std`` log-uniformly (needs ``low > 0``). Defaults to False.
        coils: inclusive ``(low, high)`` range (or a fixed count) of coils, within 1 to :data:`MAX_COILS`.
            Defaults to ``(2, 16)``.
        combinations: the combinations drawn from (:data:`COMBINATIONS`). Defaults to all four.
        combination_weights: their probabilities (normalised). Defaults to uniform.
        windows: the window kinds drawn from (:data:`WINDOW_KINDS`). Defaults to all five.
        fraction: range of the acquired fraction of k-space per axis, in ``(0, 1]``. Defaults to ``(0.6, 1.0)``.
        partial_fourier: range of the partial-Fourier fraction, in ``[0.5, 1]``. Defaults to ``(0.55, 0.8)``.
        partial_fourier_prob: probability of partial Fourier. Defaults to 0.3.
        accelerations: SENSE factors drawn from (ints, 1 to :data:`MAX_COILS`). Defaults to ``(2, 3, 4)``.
        correlation_prob: probability of a noise correlation between coils. Defaults to 0.3.
        correlation_strength: range of its ``strength`` in ``[0, 1)``. Defaults to ``(0.1, 0.5)``.
        phase_scale: std of the phase polynomial's coefficients (radians; 0: no phase). Defaults to 1.
        kspace_dims: 2 (multi-slice) or 3 (3D k-space for volumes; 2D images always use 2). Defaults to 2.

    Raises:
        ValueError: an argument out of range (one line); at call time, an image that is not ``(C, H, W[, D])`` or
        has NaN or infinite values.

    Example::

        t = RandScannerNoise(noise_std=(0.02, 0.1), coils=(4, 16), combinations=("rss", "sense"))
        t.set_random_state(0)
        noisy = t(clean)  # (C, H, W[, D]); t.reference, t.noise_std_map, t.noise_psd describe it
    """

    def __init__(
        self,
        prob: float = 1.0,
        noise_std: float | Sequence[float] = (0.01, 0.1),
        log_uniform: bool = False,
        coils: int | Sequence[int] = (2, 16),
        combinations: str | Sequence[str] = COMBINATIONS,
        combination_weights: Sequence[float] | None = None,
        windows: str | Sequence[str] = WINDOW_KINDS,
        fraction: float | Sequence[float] = (0.6, 1.0),
        partial_fourier: float | Sequence[float] = (0.55, 0.8),
        partial_fourier_prob: float = 0.3,
        accelerations: int | Sequence[int] = (2, 3, 4),
        correlation_prob: float = 0.3,
        correlation_strength: float | Sequence[float] = (0.1, 0.5),
        phase_scale: float = 1.0,
        kspace_dims: int = 2,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.noise_std = as_range(noise_std, "noise_std", strict=bool(log_uniform))
        self.log_uniform = bool(log_uniform)
        self.coils = _int_range(coils, "coils", 1, MAX_COILS)
        self.combinations = _choices(combinations, COMBINATIONS, "combinations")
        if combination_weights is None:
            self.combination_weights = np.full(len(self.combinations), 1.0 / len(self.combinations))
        else:
            cw = np.asarray(combination_weights, dtype=np.float64)
            if cw.shape != (len(self.combinations),) or not np.isfinite(cw).all() or (cw < 0).any() or cw.sum() <= 0:
                raise ValueError(f"combination_weights must be {len(self.combinations)} non-negative numbers with a positive sum.")
            self.combination_weights = cw / cw.sum()
        self.windows = _choices(windows, WINDOW_KINDS, "windows")
        self.fraction = as_range(fraction, "fraction", strict=True)
        if self.fraction[1] > 1:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}.")
        self.partial_fourier = as_range(partial_fourier, "partial_fourier", minimum=0.5)
        if self.partial_fourier[1] > 1:
            raise ValueError(f"partial_fourier must lie in [0.5, 1], got {partial_fourier!r}.")
        accs = (accelerations,) if isinstance(accelerations, (int, np.integer)) else tuple(accelerations)
        if not accs:
            raise ValueError("accelerations must name at least one factor.")
        self.accelerations = tuple(_check_acceleration(a) for a in accs)
        self._sense_accelerations = tuple(a for a in self.accelerations if a <= self.coils[1])
        if "sense" in self.combinations and not self._sense_accelerations:
            raise ValueError(f"'sense' needs an acceleration <= the most coils ({self.coils[1]}), got {self.accelerations}.")
        for name, p in (("partial_fourier_prob", partial_fourier_prob), ("correlation_prob", correlation_prob)):
            if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {p!r}.")
        self.partial_fourier_prob = float(partial_fourier_prob)
        self.correlation_prob = float(correlation_prob)
        self.correlation_strength = as_range(correlation_strength, "correlation_strength")
        if self.correlation_strength[1] >= 1:
            raise ValueError(f"correlation_strength must lie in [0, 1), got {correlation_strength!r}.")
        self.phase_scale = as_range(phase_scale, "phase_scale")[0]
        if kspace_dims not in (2, 3):
            raise ValueError(f"kspace_dims must be 2 or 3, got {kspace_dims!r}.")
        self.kspace_dims = int(kspace_dims)
        self.params: dict = {}
        self.reference: np.ndarray | None = None
        self.noise_std_map: np.ndarray | None = None
        self.noise_psd: np.ndarray | None = None
        self.correlation_lengths: tuple[float, ...] = ()
        self.stationary = True
        self.effective_coils = 1.0
        self._psi: np.ndarray | None = None

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        lo, hi = self.noise_std
        std = math.exp(self.R.uniform(math.log(lo), math.log(hi))) if self.log_uniform else self.R.uniform(lo, hi)
        combination = self.combinations[int(self.R.choice(len(self.combinations), p=self.combination_weights))]
        accel = 1
        if combination == "magnitude":
            n = 1
        elif combination == "sense":
            accel = int(self._sense_accelerations[int(self.R.randint(len(self._sense_accelerations)))])
            n = int(self.R.randint(max(self.coils[0], accel), self.coils[1] + 1))
        else:
            n = int(self.R.randint(self.coils[0], self.coils[1] + 1))
        window = self.windows[int(self.R.randint(len(self.windows)))]
        fraction = float(self.R.uniform(*self.fraction))
        pf = float(self.R.uniform(*self.partial_fourier)) if self.R.uniform() < self.partial_fourier_prob else 1.0
        pf_axis_u, sense_axis_u = float(self.R.uniform()), float(self.R.uniform())
        rotation = float(self.R.uniform(0.0, 2.0 * math.pi))
        self._psi, strength = None, 0.0
        if n > 1 and self.R.uniform() < self.correlation_prob:
            strength = float(self.R.uniform(*self.correlation_strength))
            self._psi = noise_correlation_matrix(n, strength, self.R)
        self.params = {
            "noise_std": float(std),
            "combination": combination,
            "coils": n,
            "acceleration": accel,
            "window": window,
            "fraction": fraction,
            "partial_fourier": pf,
            "partial_fourier_axis_u": pf_axis_u,
            "sense_axis_u": sense_axis_u,
            "rotation": rotation,
            "correlation_strength": strength,
        }

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Add scanner noise to ``img`` ``(C, H, W[, D])``; returns the input's type and shape, its float dtype.

        Integer inputs give float32. When no noise is added, the input is returned unchanged (and
        :attr:`noise_std_map` is zeros).
        """
        x = np.asarray(convert_data_type(img, np.ndarray)[0])
        if x.ndim not in (3, 4) or np.iscomplexobj(x):
            raise ValueError(f"RandScannerNoise takes a real channel-first (C, H, W[, D]) image, got shape {x.shape}.")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError("RandScannerNoise: the image has NaN or infinite values.")
        if randomize:
            self.randomize()
        spatial = x.shape[1:]
        kd = min(self.kspace_dims, len(spatial))
        if not self._do_transform:
            self.reference, self.noise_std_map = x.copy(), np.zeros_like(x)
            self.noise_psd, self.stationary, self.effective_coils = np.zeros(spatial[:kd]), True, 1.0
            self.correlation_lengths = (1.0,) * kd
            return img
        p = self.params
        accel, combination = p["acceleration"], p["combination"]
        sense_axis = min(int(p["sense_axis_u"] * 2), 1)  # in the plane of the coil ring
        pf_axis = min(int(p["partial_fourier_axis_u"] * kd), kd - 1)
        grid = list(spatial)
        pad = (-grid[sense_axis]) % accel if combination == "sense" else 0
        grid[sense_axis] += pad
        grid = tuple(grid)
        window = kspace_window(grid[:kd], p["window"], p["fraction"], p["partial_fourier"], pf_axis)
        maps = coil_sensitivities(grid, p["coils"], rotation=p["rotation"]) if p["coils"] > 1 else None
        outs, refs, stds = [], [], []
        sample = None
        for channel in x:
            if pad:
                widths = [(0, 0)] * len(spatial)
                widths[sense_axis] = (0, pad)
                channel = np.pad(channel, widths)
            phase = smooth_phase(grid, self.R, scale=self.phase_scale) if self.phase_scale > 0 else None
            sample = simulate_scanner_noise(
                channel,
                rng=self.R,
                noise_std=p["noise_std"],
                coils=p["coils"],
                coil_maps=maps,
                noise_correlation=self._psi,
                window=window,
                acceleration=accel,
                sense_axis=sense_axis,
                combination=combination,
                phase=phase,
                kspace_dims=kd,
            )
            crop = tuple(slice(0, n) for n in spatial)
            outs.append(sample.noisy[crop])
            refs.append(sample.reference[crop])
            stds.append(sample.noise_std_map[crop])
        self.reference, self.noise_std_map = np.stack(refs), np.stack(stds)
        self.stationary, self.effective_coils = sample.stationary, sample.effective_coils
        if pad:
            unpadded = kspace_window(spatial[:kd], p["window"], p["fraction"], p["partial_fourier"], pf_axis)
            self.noise_psd, self.correlation_lengths = _unit_psd(unpadded), _air_correlation_lengths(unpadded)
        else:
            self.noise_psd, self.correlation_lengths = sample.noise_psd, sample.correlation_lengths
        out = np.stack(outs)
        dtype = img.dtype if _is_float(img) else np.float32
        return convert_to_dst_type(out, img, dtype=dtype)[0]


def _is_float(img: NdarrayOrTensor) -> bool:
    if isinstance(img, torch.Tensor):
        return img.is_floating_point()
    return np.issubdtype(np.asarray(img).dtype, np.floating)


class RandScannerNoised(RandomizableTransform, MapTransform):
    """Dictionary twin of :class:`RandScannerNoise`: the noisy image replaces the clean one under the key.

    Optionally writes, in the input's type (tensor or array) and float dtype: under ``reference_key`` the noise-free
    reference ``(C, H, W[, D])``; under ``noise_std_key`` the per-pixel noise std map ``(C, H, W[, D])``; under
    ``psd_key`` the noise PSD (shape of the k-space axes, bm3d convention; the PSD of the unit-variance noise when
    not stationary: see :class:`ScannerNoiseSample`); under ``correlation_key`` the widths of the complex noise's
    autocorrelation along the k-space axes, as :func:`~monai_nad.transforms.estimate_noise` reads them from the air
    (:attr:`ScannerNoiseSample.correlation_lengths`, a float tensor); under ``coils_key`` the effective coil count (a
    float). With no noise added (``prob``) the image is left as is, the reference is a copy, the std map and PSD
    zeros, the widths 1 and the coil count 1.

    Args:
        keys: the key of the clean image, a single key. Defaults to ``"image"``.
        reference_key: where the reference goes; None: not written. Defaults to None.
        noise_std_key: where the std map goes; None: not written. Defaults to ``"noise_std"``.
        psd_key: where the PSD goes; None: not written. Defaults to None.
        coils_key: where the effective coil count goes; None: not written. Defaults to None.
        correlation_key: where the correlation widths go; None: not written. Defaults to None.
        prob, noise_std, log_uniform, coils, combinations, combination_weights, windows, fraction, partial_fourier,
            partial_fourier_prob, accelerations, correlation_prob, correlation_strength, phase_scale, kspace_dims:
            see :class:`RandScannerNoise`.
        allow_missing_keys: don't raise if the key is missing.

    Raises:
        ValueError: not exactly one key, or an argument of :class:`RandScannerNoise` out of range.

    Example::

        t = RandScannerNoised("image", reference_key="label", noise_std_key="noise_std", combinations=("rss",))
        t.set_random_state(0)
        d = t({"image": clean})  # d["image"] noisy, d["label"] reference, d["noise_std"] std map
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        reference_key: str | None = None,
        noise_std_key: str | None = "noise_std",
        psd_key: str | None = None,
        coils_key: str | None = None,
        prob: float = 1.0,
        noise_std: float | Sequence[float] = (0.01, 0.1),
        log_uniform: bool = False,
        coils: int | Sequence[int] = (2, 16),
        combinations: str | Sequence[str] = COMBINATIONS,
        combination_weights: Sequence[float] | None = None,
        windows: str | Sequence[str] = WINDOW_KINDS,
        fraction: float | Sequence[float] = (0.6, 1.0),
        partial_fourier: float | Sequence[float] = (0.55, 0.8),
        partial_fourier_prob: float = 0.3,
        accelerations: int | Sequence[int] = (2, 3, 4),
        correlation_prob: float = 0.3,
        correlation_strength: float | Sequence[float] = (0.1, 0.5),
        phase_scale: float = 1.0,
        kspace_dims: int = 2,
        allow_missing_keys: bool = False,
        correlation_key: str | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if len(self.keys) != 1:
            raise ValueError(f"RandScannerNoised takes exactly one image key, got {self.keys!r}.")
        self.key = self.keys[0]
        self.reference_key, self.noise_std_key, self.psd_key, self.coils_key = reference_key, noise_std_key, psd_key, coils_key
        self.correlation_key = correlation_key
        self.noise = RandScannerNoise(
            1.0, noise_std, log_uniform, coils, combinations, combination_weights, windows, fraction, partial_fourier,
            partial_fourier_prob, accelerations, correlation_prob, correlation_strength, phase_scale, kspace_dims,
        )  # fmt: skip

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandScannerNoised:
        super().set_random_state(seed, state)
        self.noise.set_random_state(state=self.R)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"key {self.key!r} not found in the data; available keys: {list(d)}.")
        self.randomize(None)
        clean = d[self.key]
        dtype = clean.dtype if _is_float(clean) else np.float32
        if self._do_transform:
            self.noise.R = self.R
            self.noise.randomize()
            d[self.key] = self.noise(clean, randomize=False)
            reference, std, psd = self.noise.reference, self.noise.noise_std_map, self.noise.noise_psd
            coils, widths = self.noise.effective_coils, self.noise.correlation_lengths
        else:
            reference = np.asarray(convert_data_type(clean, np.ndarray)[0], dtype=np.float64).copy()
            std = np.zeros_like(reference)
            psd, coils = np.zeros(reference.shape[1 : 1 + min(self.noise.kspace_dims, reference.ndim - 1)]), 1.0
            widths = (1.0,) * psd.ndim
        for key, value in ((self.reference_key, reference), (self.noise_std_key, std), (self.psd_key, psd)):
            if key is not None:
                d[key] = convert_to_dst_type(np.asarray(value), clean, dtype=dtype)[0]
        if self.coils_key is not None:
            d[self.coils_key] = float(coils)
        if self.correlation_key is not None:
            d[self.correlation_key] = torch.tensor(widths, dtype=torch.float32)
        return d


RandScannerNoiseD = RandScannerNoiseDict = RandScannerNoised
