"""A diffusion MRI phantom with a known clean series, built from the MNI152 2009 tissue maps (the diffusion benchmark's data).

The phantom (everything on a 2 mm isotropic grid, array axes as the MNI template's, slices along the last axis):

- **Tissue**: the grey- and white-matter maps that ship with nilearn (stored 0-255, divided by 255) and
  ``csf = brain x (1 - gm - wm)`` (clipped to ``[0, 1]``), ``brain`` the T1 template above 10 % of its maximum with its
  holes filled (3D), all at 1 mm; then the mean of each 2 x 2 x 2 block (the odd last voxel of an axis dropped):
  ``(98, 116, 94)``.
- **Fibres**: ``v`` is the eigenvector of the smallest eigenvalue of the structure tensor of the 2 mm WM map (Gaussian
  derivatives with sigma 1 voxel, their products smoothed with sigma 2 voxels), computed on the whole volume.
- **Signal** (:func:`dwi_signal`): ``S(b, g) = S0 [f_csf exp(-b 3.0e-3) + f_gm exp(-b 0.8e-3) + f_wm exp(-b g'Dg)]`` with
  ``D = 1.7e-3 v v' + 0.3e-3 (I - v v')`` (mm^2/s) and ``S0 = 1.0 f_csf + 0.65 f_gm + 0.5 f_wm``, taken as written
  (pure white matter: 0.5 at b = 0).
- **Gradient table** (:func:`dwi_gradient_table`): 6 b = 0, then b = 1000 and b = 2000 s/mm^2 on the same 30
  directions: ``dipy.core.sphere.disperse_charges`` (5000 iterations) of 30 random hemisphere points drawn by
  ``numpy.random.default_rng(0)`` (``theta = pi u`` for 30 uniforms, then ``phi = 2 pi u`` for 30 more).
- **Noise** (:func:`dwi_noise`): ``N`` receiver coils (1: Rician; 4: sum of squares, non-central chi), each coil's
  real channel carrying ``S / sqrt(N)`` (so the clean root-sum-of-squares is ``S``), every channel white Gaussian noise
  of std ``sigma = 0.5 / SNR`` (white matter at b = 0 over sigma); ``numpy.random.default_rng(3000 + z)`` per 2 mm slice
  ``z``, drawn coil by coil, real before imaginary, each an ``(X, Y, V)`` array.
- **Splits** (2 mm slice indices; the 2 mm slice ``k`` is 1 mm ``z`` in ``[2k, 2k + 2)``): test 1 mm ``z`` in
  ``[80, 100)`` (``k`` 40-49), validation ``[60, 80)`` (``k`` 30-39), train the rest with 1 mm ``z`` in ``[76, 104)``
  kept out (``k`` < 30 or ``k`` >= 52). The test split is for scoring only.

Scoring masks: the brain ``f_gm + f_wm + f_csf > 0.5`` and white matter ``f_wm > 0.7``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from monai_nad.data.mni import load_mni_template
from monai_nad.data.realistic import load_mni_tissue_maps
from monai_nad.transforms.noise import rician_noise

__all__ = [
    "DWI_SPLITS",
    "DWI_SNRS",
    "DWI_COILS",
    "DWI_SHELLS",
    "DWI_WM_S0",
    "DWI_NOISE_SEED",
    "DWITissue",
    "DWIPhantom",
    "dwi_tissue_maps",
    "fibre_directions",
    "dwi_gradient_table",
    "dwi_signal",
    "dwi_noise_std",
    "dwi_noise",
    "dwi_phantom",
    "dwi_noisy_series",
]

#: 2 mm slice indices of each split (test: 1 mm z 80-99; validation: 60-79; train: the rest, 1 mm z 76-103 kept out).
DWI_SPLITS: dict[str, tuple[int, ...]] = {
    "test": tuple(range(40, 50)),
    "validation": tuple(range(30, 40)),
    "train": tuple(range(0, 30)) + tuple(range(52, 94)),
}
#: The signal-to-noise ratios of the benchmark (white matter at b = 0 over sigma) and its coil counts.
DWI_SNRS = (10, 20)
DWI_COILS = (1, 4)
#: The b-values (s/mm^2) of the shells, b = 0 first.
DWI_SHELLS = (0, 1000, 2000)
#: The clean signal of pure white matter at b = 0 (the SNR's reference).
DWI_WM_S0 = 0.5
#: The noise seed of 2 mm slice ``z`` is ``DWI_NOISE_SEED + z``.
DWI_NOISE_SEED = 3000

# diffusivities (mm^2/s)
_D_CSF, _D_GM, _D_PARALLEL, _D_PERPENDICULAR = 3.0e-3, 0.8e-3, 1.7e-3, 0.3e-3
_S0 = {"csf": 1.0, "gm": 0.65, "wm": 0.5}


@dataclass(frozen=True)
class DWITissue:
    """The tissue of the phantom on the 2 mm grid.

    Attributes:
        gm, wm, csf: volume fractions ``(X, Y, Z)`` float32 in ``[0, 1]``.
        fibre: the white-matter fibre direction ``(X, Y, Z, 3)`` float32, unit vectors (:func:`fibre_directions`).
    """

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    fibre: np.ndarray


@dataclass(frozen=True)
class DWIPhantom:
    """The clean series of one split and what it was made from.

    Attributes:
        clean: the clean series ``(X, Y, Z, V)`` float32, ``Z`` the split's 2 mm slices, ``V`` = 66 volumes.
        bvals: ``(V,)`` b-values (s/mm^2).
        bvecs: ``(V, 3)`` unit gradient directions (zero rows for b = 0).
        zs: the split's 2 mm slice indices ``(Z,)``.
        gm, wm, csf: the split's volume fractions ``(X, Y, Z)``.
        fibre: the split's fibre directions ``(X, Y, Z, 3)``.
    """

    clean: np.ndarray
    bvals: np.ndarray
    bvecs: np.ndarray
    zs: tuple[int, ...]
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    fibre: np.ndarray

    @property
    def brain(self) -> np.ndarray:
        """The scoring mask of the brain: ``f_gm + f_wm + f_csf > 0.5`` ``(X, Y, Z)``."""
        return (self.gm + self.wm + self.csf) > 0.5

    @property
    def white_matter(self) -> np.ndarray:
        """The scoring mask of white matter: ``f_wm > 0.7`` ``(X, Y, Z)``."""
        return self.wm > 0.7


def _block_mean(volume: np.ndarray) -> np.ndarray:
    """The mean of each 2 x 2 x 2 block (an axis's odd last voxel dropped)."""
    x, y, z = (s // 2 * 2 for s in volume.shape)
    v = np.asarray(volume[:x, :y, :z], dtype=np.float64)
    return v.reshape(x // 2, 2, y // 2, 2, z // 2, 2).mean(axis=(1, 3, 5))


def fibre_directions(wm: np.ndarray, gradient_sigma: float = 1.0, tensor_sigma: float = 2.0) -> np.ndarray:
    """The fibre direction of every voxel: the eigenvector of the smallest eigenvalue of the WM map's structure tensor.

    Args:
        wm: the white-matter map ``(X, Y, Z)``.
        gradient_sigma: the Gaussian derivatives' sigma (voxels). Defaults to 1.
        tensor_sigma: the sigma (voxels) smoothing the products of the derivatives. Defaults to 2.

    Returns:
        ``(X, Y, Z, 3)`` float32 unit vectors (the sign is arbitrary).
    """
    wm = np.asarray(wm, dtype=np.float64)
    grads = [ndi.gaussian_filter(wm, gradient_sigma, order=tuple(int(a == b) for b in range(3))) for a in range(3)]
    tensor = np.empty(wm.shape + (3, 3))
    for i in range(3):
        for j in range(i, 3):
            tensor[..., i, j] = tensor[..., j, i] = ndi.gaussian_filter(grads[i] * grads[j], tensor_sigma)
    _, vectors = np.linalg.eigh(tensor)  # ascending eigenvalues
    return np.ascontiguousarray(vectors[..., :, 0], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def dwi_tissue_maps() -> DWITissue:
    """The phantom's tissue on the 2 mm grid ``(98, 116, 94)`` (cached; read-only arrays).

    Raises:
        FileNotFoundError: a map is missing from the installed nilearn.
        monai.utils.OptionalImportError: nilearn is not installed.
    """
    t1 = np.asarray(load_mni_template())
    maps = load_mni_tissue_maps()
    gm, wm = np.asarray(maps["gm"], dtype=np.float64), np.asarray(maps["wm"], dtype=np.float64)
    brain = ndi.binary_fill_holes(t1 > 0.1 * float(t1.max()))
    csf = brain * np.clip(1.0 - gm - wm, 0.0, 1.0)
    gm2, wm2, csf2 = (_block_mean(m).astype(np.float32) for m in (gm, wm, csf))
    fibre = fibre_directions(wm2)
    for a in (gm2, wm2, csf2, fibre):
        a.setflags(write=False)
    return DWITissue(gm2, wm2, csf2, fibre)


@functools.lru_cache(maxsize=4)
def dwi_gradient_table(directions: int = 30, shells: tuple[int, ...] = (1000, 2000), b0: int = 6, seed: int = 0,
                       iterations: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """The gradient table of the phantom: ``b0`` volumes at b = 0, then each shell on the same ``directions``.

    The directions are ``dipy.core.sphere.disperse_charges`` (``iterations``) of random hemisphere points:
    ``rng = numpy.random.default_rng(seed)``, ``theta = pi * rng.random(directions)``, then
    ``phi = 2 pi * rng.random(directions)``.

    Args:
        directions: directions per shell. Defaults to 30.
        shells: the non-zero b-values (s/mm^2). Defaults to ``(1000, 2000)``.
        b0: the number of b = 0 volumes. Defaults to 6.
        seed: the seed of the initial points. Defaults to 0.
        iterations: ``disperse_charges`` iterations. Defaults to 5000.

    Returns:
        ``(bvals (V,), bvecs (V, 3))`` float64, ``V = b0 + len(shells) * directions``; read-only (cached).
    """
    from dipy.core.sphere import HemiSphere, disperse_charges

    rng = np.random.default_rng(seed)
    theta = np.pi * rng.random(directions)
    phi = 2 * np.pi * rng.random(directions)
    hemisphere, _ = disperse_charges(HemiSphere(theta=theta, phi=phi), iterations)
    vertices = np.asarray(hemisphere.vertices, dtype=np.float64)
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    bvals = np.concatenate([np.zeros(b0)] + [np.full(directions, float(b)) for b in shells])
    bvecs = np.concatenate([np.zeros((b0, 3))] + [vertices] * len(shells))
    bvals.setflags(write=False)
    bvecs.setflags(write=False)
    return bvals, bvecs


def dwi_signal(gm: np.ndarray, wm: np.ndarray, csf: np.ndarray, fibre: np.ndarray, bvals: Sequence[float], bvecs: np.ndarray) -> np.ndarray:
    """The phantom's clean signal ``S0 [f_csf e^(-b 3.0e-3) + f_gm e^(-b 0.8e-3) + f_wm e^(-b g'Dg)]``.

    Args:
        gm, wm, csf: volume fractions of shape ``S`` (any spatial shape).
        fibre: fibre directions ``S + (3,)`` (unit vectors).
        bvals: ``(V,)`` b-values (s/mm^2).
        bvecs: ``(V, 3)`` gradient directions (unit, or anything for b = 0).

    Returns:
        ``S + (V,)`` float32.
    """
    gm, wm, csf = (np.asarray(m, dtype=np.float64)[..., None] for m in (gm, wm, csf))
    b = np.asarray(bvals, dtype=np.float64)
    cosine = np.asarray(fibre, dtype=np.float64) @ np.asarray(bvecs, dtype=np.float64).T  # (..., V): v . g
    gdg = _D_PERPENDICULAR * np.sum(np.square(bvecs), axis=1) + (_D_PARALLEL - _D_PERPENDICULAR) * cosine**2
    s0 = _S0["csf"] * csf + _S0["gm"] * gm + _S0["wm"] * wm
    signal = s0 * (csf * np.exp(-b * _D_CSF) + gm * np.exp(-b * _D_GM) + wm * np.exp(-b * gdg))
    return signal.astype(np.float32)


def dwi_noise_std(snr: float) -> float:
    """The noise std of one channel at ``snr`` (white matter at b = 0 over sigma): ``0.5 / snr``."""
    if not (math.isfinite(snr) and snr > 0):
        raise ValueError(f"snr must be a positive number, got {snr!r}.")
    return DWI_WM_S0 / float(snr)


def dwi_noise(clean_slice: np.ndarray, noise_std: float, coils: int, seed: int) -> np.ndarray:
    """Magnitude noise of ``coils`` receivers (1: Rician; more: sum of squares) on one slice of a series.

    Each coil's real channel carries ``clean / sqrt(coils)``; every channel gets white Gaussian noise of std
    ``noise_std``, drawn from ``numpy.random.default_rng(seed)`` coil by coil, the real channel before the imaginary,
    each of the slice's shape (:func:`~monai_nad.transforms.noise.rician_noise`). ``coils = 1`` is
    ``sqrt((S + s n1)^2 + (s n2)^2)`` with ``s = noise_std``.

    Args:
        clean_slice: ``(X, Y, V)`` (any shape) clean magnitudes.
        noise_std: the noise std of one channel.
        coils: the number of receiver coils ``N`` >= 1.
        seed: the generator's seed.

    Returns:
        the noisy magnitudes, the input's shape, float32.

    Raises:
        ValueError: ``coils`` < 1 or a negative ``noise_std``.
    """
    if int(coils) != coils or coils < 1:
        raise ValueError(f"coils must be an integer >= 1, got {coils!r}.")
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}.")
    return rician_noise(clean_slice, noise_std, np.random.default_rng(seed), coils=int(coils)).astype(np.float32)


def _check_split(split: str) -> tuple[int, ...]:
    if split not in DWI_SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(DWI_SPLITS)}.")
    return DWI_SPLITS[split]


@functools.lru_cache(maxsize=2)
def _phantom(split: str, slices: tuple[int, ...] | None) -> DWIPhantom:
    zs = _check_split(split) if slices is None else slices
    tissue = dwi_tissue_maps()
    bvals, bvecs = dwi_gradient_table()
    index = list(zs)
    gm, wm, csf = (np.ascontiguousarray(m[:, :, index]) for m in (tissue.gm, tissue.wm, tissue.csf))
    fibre = np.ascontiguousarray(tissue.fibre[:, :, index])
    clean = dwi_signal(gm, wm, csf, fibre, bvals, bvecs)
    for a in (clean, gm, wm, csf, fibre):
        a.setflags(write=False)
    return DWIPhantom(clean, bvals, bvecs, tuple(int(z) for z in zs), gm, wm, csf, fibre)


def dwi_phantom(split: str = "test", slices: Sequence[int] | None = None) -> DWIPhantom:
    """The clean series of a split (cached, read-only arrays: copy before changing them).

    Args:
        split: ``"test"`` (scoring only), ``"validation"`` or ``"train"``.
        slices: only these 2 mm slices of the split (quick runs), or None (all of them).

    Returns:
        a :class:`DWIPhantom`; ``clean`` is ``(98, 116, Z, 66)``.

    Raises:
        ValueError: an unknown split, or a slice that is not in it.
    """
    zs = _check_split(split)
    if slices is not None:
        slices = tuple(int(z) for z in slices)
        if not slices or any(z not in zs for z in slices):
            raise ValueError(f"slices must be among the {split} split's 2 mm slices {zs[0]}..{zs[-1]}, got {slices}.")
    return _phantom(split, slices)


def dwi_noisy_series(clean: np.ndarray, zs: Sequence[int], snr: float, coils: int) -> np.ndarray:
    """The noisy series of a clean one: :func:`dwi_noise` slice by slice with seed ``3000 + z``.

    Args:
        clean: ``(X, Y, Z, V)`` clean series.
        zs: the 2 mm slice index of each of its ``Z`` slices.
        snr: 10 or 20 in the benchmark (sigma = 0.5 / snr).
        coils: 1 (Rician) or 4 (sum of squares) in the benchmark.

    Returns:
        ``(X, Y, Z, V)`` float32.

    Raises:
        ValueError: ``zs`` does not match the series' slices, or a bad ``snr``/``coils``.
    """
    clean = np.asarray(clean)
    if clean.ndim != 4 or len(zs) != clean.shape[2]:
        raise ValueError(f"expected an (X, Y, Z, V) series with one z per slice, got {clean.shape} and {len(zs)} z.")
    sigma = dwi_noise_std(snr)
    out = np.empty(clean.shape, dtype=np.float32)
    for i, z in enumerate(zs):
        out[:, :, i] = dwi_noise(clean[:, :, i], sigma, coils, DWI_NOISE_SEED + int(z))
    return out
