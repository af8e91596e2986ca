"""Classical denoisers behind one interface, each with the free parameters that a benchmark tunes.

Every method is a function ``f(image, noise_std, **params) -> denoised`` of one 2D ``(H, W)`` (or, where the library
allows, 3D ``(H, W, D)``) float image with intensities nominally in ``[0, 1]``; ``noise_std`` is the noise level of
the protocol (the Rician ``s`` or Gaussian sigma, in image units), which methods that take a noise
standard deviation scale by a tuned factor. :data:`BASELINES` lists them with their search grids; tune with
:func:`monai_nad.baselines.tuning.tune_baseline` and apply them inside MONAI chains with
:class:`monai_nad.baselines.transforms.ClassicalDenoised`.

Libraries: SciPy (Gaussian, median), scikit-image (bilateral, non-local means, wavelet, total variation),
SimpleITK (curvature flow, curvature anisotropic diffusion), the ``bm3d`` package, DIPY (Rician-aware non-local
means), and our own explicit Perona-Malik scheme (:class:`~monai_nad.networks.DiffusivityPDE` with a fixed
``K``, zero-flux border).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from monai_nad._optional import require
from monai_nad.baselines.bm3d_denoiser import bm3d_denoise
from monai_nad.networks import DiffusivityPDE, PeronaMalikDiffusivity

__all__ = ["Baseline", "BASELINES", "classical_denoise"]


def _gaussian(image: np.ndarray, noise_std: float, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, sigma=sigma, mode="nearest")


def _median(image: np.ndarray, noise_std: float, size: int) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(image, size=int(size), mode="nearest")


def _bilateral(image: np.ndarray, noise_std: float, color_factor: float, sigma_spatial: float) -> np.ndarray:
    from skimage.restoration import denoise_bilateral

    return denoise_bilateral(image, sigma_color=color_factor * noise_std, sigma_spatial=sigma_spatial, mode="edge")


def _nlm(image: np.ndarray, noise_std: float, h_factor: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(image, h=h_factor * noise_std, sigma=noise_std, patch_size=5, patch_distance=6, fast_mode=True)


def _wavelet(image: np.ndarray, noise_std: float, sigma_factor: float) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(image, sigma=sigma_factor * noise_std, wavelet="db2", mode="soft", method="BayesShrink", rescale_sigma=True)


def _tv(image: np.ndarray, noise_std: float, weight_factor: float) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(image, weight=weight_factor * noise_std)


def _sitk(image: np.ndarray, run: Callable[[Any], Any]) -> np.ndarray:
    sitk = require("SimpleITK", "the SimpleITK baselines")

    return sitk.GetArrayFromImage(run(sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))))


def _curvature_flow(image: np.ndarray, noise_std: float, iterations: int) -> np.ndarray:
    sitk = require("SimpleITK", "the curvature flow baseline")

    time_step = 0.125 if image.ndim == 2 else 0.0625
    return _sitk(image, lambda img: sitk.CurvatureFlow(img, timeStep=time_step, numberOfIterations=int(iterations)))


def _curvature_anisotropic(image: np.ndarray, noise_std: float, conductance: float, iterations: int) -> np.ndarray:
    sitk = require("SimpleITK", "the curvature anisotropic diffusion baseline")

    time_step = 0.125 if image.ndim == 2 else 0.0625
    return _sitk(
        image,
        lambda img: sitk.CurvatureAnisotropicDiffusion(
            img, timeStep=time_step, conductanceParameter=float(conductance), numberOfIterations=int(iterations)
        ),
    )


def _perona_malik(image: np.ndarray, noise_std: float, k_factor: float, iterations: int, form: str, neighbours: int) -> np.ndarray:
    spatial_dims = image.ndim
    if spatial_dims == 3 and neighbours in (4, 8):
        neighbours = {4: 6, 8: 26}[neighbours]
    diffusivity = PeronaMalikDiffusivity(spatial_dims, form=form, k=k_factor * noise_std, learn_k=False)
    net = DiffusivityPDE(
        spatial_dims, diffusivity=diffusivity, neighbours=neighbours, steps=int(iterations), padding=0, scale_invariant=False
    )
    with torch.no_grad():
        net.dt_logits.fill_(8.0)  # the largest stable explicit step (fraction ~ 1)
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
        return net(x)[0, 0].numpy()


def _bm3d(image: np.ndarray, noise_std: float, sigma_factor: float) -> np.ndarray:
    return bm3d_denoise(image, sigma_factor * noise_std)


def _bm4d(image: np.ndarray, noise_std: float, sigma_factor: float) -> np.ndarray:
    bm4d = require("bm4d", "the BM4D baseline")

    profile = bm4d.BM4DProfile()
    profile.num_threads = 1  # timed on one thread like every method; also deterministic
    return np.asarray(bm4d.bm4d(np.asarray(image, dtype=np.float64), sigma_psd=float(sigma_factor * noise_std), profile=profile), dtype=np.float32)


def _dipy_nlm(image: np.ndarray, noise_std: float, sigma_factor: float) -> np.ndarray:
    nlmeans = require("dipy.denoise.nlmeans", "the DIPY non-local means baseline").nlmeans

    volume = image[..., None] if image.ndim == 2 else image
    out = nlmeans(volume.astype(np.float64), sigma=sigma_factor * noise_std, rician=True, patch_radius=1, block_radius=3)
    return out[..., 0] if image.ndim == 2 else out


@dataclass(frozen=True)
class Baseline:
    """One classical method.

    Attributes:
        name: the registry key.
        function: ``f(image, noise_std, **params)``.
        grid: the search grid of each free parameter (factors multiply ``noise_std``).
        fixed: parameters that define the variant (e.g. the Perona-Malik form), not tuned.
        dims: the image dimensions it supports.
        library: where the implementation comes from.
    """

    name: str
    function: Callable[..., np.ndarray]
    grid: Mapping[str, Sequence[Any]]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    dims: tuple[int, ...] = (2, 3)
    library: str = ""


def _pm(form: str, neighbours: int) -> Baseline:
    return Baseline(
        f"perona_malik_{form}_{neighbours}",
        _perona_malik,
        {"k_factor": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0), "iterations": (1, 2, 3, 5, 10, 20)},
        {"form": form, "neighbours": neighbours},
        library="monai_nad DiffusivityPDE (fixed K)",
    )


#: The classical methods of the comparison suite, with their search grids.
BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("gaussian", _gaussian, {"sigma": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}, library="scipy.ndimage"),
        Baseline("median", _median, {"size": (3, 5)}, library="scipy.ndimage"),
        Baseline(
            "bilateral", _bilateral, {"color_factor": (0.25, 0.5, 1.0, 2.0), "sigma_spatial": (0.5, 1.0, 2.0)}, dims=(2,), library="scikit-image"
        ),
        Baseline("nlm", _nlm, {"h_factor": (0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2)}, library="scikit-image"),
        Baseline("wavelet", _wavelet, {"sigma_factor": (0.3, 0.4, 0.5, 0.75, 1.0, 1.5)}, library="scikit-image"),
        Baseline("tv", _tv, {"weight_factor": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)}, library="scikit-image"),
        Baseline("curvature_flow", _curvature_flow, {"iterations": (2, 5, 10, 20, 40, 80)}, library="SimpleITK"),
        Baseline(
            "curvature_anisotropic",
            _curvature_anisotropic,
            {"conductance": (1.0, 2.0, 4.0, 8.0, 16.0), "iterations": (2, 5, 10, 20)},
            library="SimpleITK",
        ),
        _pm("exponential", 4),
        _pm("rational", 4),
        _pm("exponential", 8),
        _pm("rational", 8),
        Baseline("bm3d", _bm3d, {"sigma_factor": (0.7, 0.85, 1.0, 1.2, 1.4)}, dims=(2,), library="bm3d"),
        Baseline("bm4d", _bm4d, {"sigma_factor": (0.85, 1.0, 1.2)}, dims=(3,), library="bm4d"),
        Baseline("dipy_nlm", _dipy_nlm, {"sigma_factor": (0.8, 1.0, 1.2, 1.5, 2.0, 2.5)}, library="dipy (Rician NLM)"),
    )
}


def classical_denoise(name: str, image: np.ndarray, noise_std: float, **params: Any) -> np.ndarray:
    """Run a classical method on one image.

    Args:
        name: a key of :data:`BASELINES`.
        image: ``(H, W)`` or ``(H, W, D)``.
        noise_std: the noise level, a standard deviation (image units).
        params: the method's free parameters (see its grid).

    Returns:
        the denoised image, float32, same shape; the input is not modified.

    Raises:
        ValueError: unknown method, unsupported dimensions, non-finite input, non-positive ``noise_std`` or missing/unknown parameters.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}.")
    baseline = BASELINES[name]
    image = np.asarray(image)
    if image.ndim not in baseline.dims:
        raise ValueError(f"{name} supports {' or '.join(f'{d}D' for d in baseline.dims)} images, got shape {image.shape}.")
    if not np.isfinite(image).all():
        raise ValueError(f"{name}: the image contains non-finite values.")
    if not noise_std > 0:
        raise ValueError(f"{name}: the noise level must be positive, got {noise_std!r}.")
    if set(params) != set(baseline.grid):
        raise ValueError(f"{name} takes the parameters {sorted(baseline.grid)}, got {sorted(params)}.")
    out = baseline.function(image.astype(np.float32, copy=True), float(noise_std), **params, **baseline.fixed)
    return np.asarray(out, dtype=np.float32)
