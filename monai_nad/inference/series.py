"""Denoise a diffusion series as a series: a local low-rank step, then the Neural PDE told the noise it left.

A diffusion series is many views of the same anatomy: in a small patch of ``n`` voxels the ``V`` volumes span only a
few dimensions of signal, while white noise spreads evenly over all of them. The eigenvalues of a patch's
``V x V`` covariance that carry only noise follow the Marchenko-Pastur law, whose support is known from the noise
variance and the shape of the patch (Veraart et al. 2016, MP-PCA). :func:`local_low_rank` keeps, in each patch, the
components above the edge of that law, estimates the noise from the others, and averages the overlapping patches
(weighting patches by ``1 / (1 + kept components)``, after Manjon et al. 2013).

What the low-rank step leaves, :class:`SeriesDenoiser` hands to the shipped volume model
(:class:`~monai_nad.networks.SliceContextPDE`), volume by volume: the residual noise is much weaker than the input's
(about ``sigma sqrt(k / V)`` for ``k`` components kept of ``V``), and the model is told that level, so its learned
conductances diffuse only as much as that noise needs and stop at edges. Magnitude data keep their noise floor
through both steps (the low-rank step estimates ``E[M]``, not the signal ``A``): the floor is removed at the end by
inverting the mean of the non-central chi law of the input's noise level and coil count (Rician for one coil).

Memory: besides the series, one float32 accumulator of its size and batches of at most :data:`PATCH_BATCH_VALUES`
values (the covariances and their eigenvectors in float64, a batch at a time); the floor is removed volume by volume.

References:
    J. Veraart, D. S. Novikov, D. Christiaens, B. Ades-aron, J. Sijbers, E. Fieremans, "Denoising of diffusion MRI
    using random matrix theory", NeuroImage 2016.
    J. V. Manjon, P. Coupe, L. Concha, A. Buades, D. L. Collins, M. Robles, "Diffusion weighted image denoising using
    overcomplete local PCA", PLoS ONE 2013.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from monai_nad.networks.unrolled import robust_intensity_scale
from monai_nad.transforms.noise import magnitude_mean_inversion
from monai_nad.transforms.noise_map import estimate_noise

__all__ = ["LowRankResult", "patch_radius_for", "local_low_rank", "SeriesDenoiser", "MIN_MODEL_LEVEL"]

#: The lowest noise level, relative to a volume's robust intensity scale (its 99th percentile, as the networks
#: normalise), that the shipped models learnt from (the real-scan recipe draws ``s`` from 0.005 to 0.2). Told less, the
#: volume model still smooths fine structure: the residual of a nearly noiseless real series showed anatomy
#: (``docs/results/diffusion.md``), so the series path leaves such volumes to the low-rank step.
MIN_MODEL_LEVEL = 0.005

#: The largest number of values (patches x voxels x volumes) one batch of patches holds: bounded memory.
PATCH_BATCH_VALUES = 8_000_000


@dataclass
class LowRankResult:
    """What :func:`local_low_rank` returns.

    Attributes:
        denoised: ``(V, X, Y, Z)`` float32, the series with each patch projected onto its signal components.
        sigma: ``(X, Y, Z)`` float32, the noise std the patches covering each voxel estimated (their weighted mean).
        kept: ``(X, Y, Z)`` float32, the fraction of the ``min(n, V)`` components the patches kept (weighted mean).
    """

    denoised: torch.Tensor
    sigma: torch.Tensor
    kept: torch.Tensor


def patch_radius_for(volumes: int, minimum: int = 2) -> int:
    """The smallest patch radius ``r >= minimum`` whose cube ``(2r + 1)^3`` holds more voxels than there are volumes
    (the Marchenko-Pastur edge needs patches at least as long as they are wide)."""
    radius = int(minimum)
    while (2 * radius + 1) ** 3 <= volumes:
        radius += 1
    return radius


def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch corners along one axis: every ``stride`` voxels, and the last patch flush with the end."""
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _noise_components(eigenvalues: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The Marchenko-Pastur split of ascending eigenvalues ``(B, m)`` of covariances of ``samples`` observations.

    The noise components are the ``c`` smallest, for the largest ``c`` whose spread ``lambda_c - lambda_1`` fits the
    width ``4 sqrt(c / samples) sigma^2`` of the law with ``sigma^2`` their mean.

    Returns:
        ``(c (B,) long, sigma^2 (B,))``.
    """
    m = eigenvalues.shape[1]
    values = eigenvalues.clamp(min=0).double()
    counts = torch.arange(1, m + 1, dtype=torch.float64, device=values.device)
    means = torch.cumsum(values, dim=1) / counts
    spread = values - values[:, :1]
    fits = spread <= 4.0 * torch.sqrt(counts / samples) * means
    last = m - 1 - torch.argmax(fits.flip(1).to(torch.int8), dim=1)  # the largest index that fits (index 0 always does)
    noise = last + 1
    return noise, means.gather(1, last[:, None])[:, 0].to(eigenvalues.dtype)


def local_low_rank(series: torch.Tensor, radius: int | None = None, stride: int | None = None,
                   batch_values: int = PATCH_BATCH_VALUES) -> LowRankResult:
    """Marchenko-Pastur local PCA of a series, patch by patch in bounded batches.

    Args:
        series: ``(V, X, Y, Z)`` (float; computed in float32).
        radius: patch radius (cubes of ``2 radius + 1``, less along axes shorter than that). Defaults to
            :func:`patch_radius_for` ``V``.
        stride: step between patch corners (the last patch of each axis is flush with its end). Defaults to ``radius``.
        batch_values: the most values one batch of patches holds (memory: a few times this many float32).

    Returns:
        a :class:`LowRankResult`.
    """
    x = torch.as_tensor(series).to(torch.float32)
    volumes, *shape = x.shape
    radius = patch_radius_for(volumes) if radius is None else int(radius)
    stride = max(1, radius if stride is None else int(stride))
    patch = [min(2 * radius + 1, n) for n in shape]
    offsets = torch.stack(torch.meshgrid(*[torch.arange(p) for p in patch], indexing="ij"), dim=-1).reshape(-1, 3)
    offset_index = (offsets[:, 0] * shape[1] + offsets[:, 1]) * shape[2] + offsets[:, 2]  # (n,)
    corners = torch.cartesian_prod(*[torch.as_tensor(_starts(n, p, stride)) for n, p in zip(shape, patch)]).reshape(-1, 3)
    corner_index = (corners[:, 0] * shape[1] + corners[:, 1]) * shape[2] + corners[:, 2]
    samples = offset_index.numel()
    m = min(samples, volumes)
    big = max(samples, volumes)
    flat = x.reshape(volumes, -1)
    total = torch.zeros_like(flat)
    weight = torch.zeros(flat.shape[1], dtype=torch.float32)
    noise_var = torch.zeros(flat.shape[1], dtype=torch.float32)
    kept = torch.zeros(flat.shape[1], dtype=torch.float32)
    batch = max(1, batch_values // (samples * volumes))
    for start in range(0, len(corners), batch):
        index = (corner_index[start : start + batch, None] + offset_index[None]).reshape(-1)  # (B * n,)
        b = min(batch, len(corners) - start)
        data = flat[:, index].reshape(volumes, b, samples).permute(1, 2, 0)  # (B, n, V)
        mean = data.mean(dim=1, keepdim=True)
        centred = data - mean
        if samples >= volumes:
            gram = centred.transpose(1, 2) @ centred / samples  # (B, V, V)
        else:
            gram = centred @ centred.transpose(1, 2) / volumes  # (B, n, n): the same non-zero spectrum, scaled
        values, vectors = torch.linalg.eigh(gram.double())
        noise, var = _noise_components(values, big)
        if samples < volumes:
            var = var * volumes / samples
        signal = (torch.arange(m)[None] >= noise[:, None]).to(torch.float64)  # (B, m): 1 for the kept components
        basis = (vectors * signal[:, None]).to(torch.float32)
        if samples >= volumes:
            projected = (centred @ basis) @ basis.transpose(1, 2)
        else:
            projected = basis @ (basis.transpose(1, 2) @ centred)
        components = (m - noise).to(torch.float32)
        w = 1.0 / (1.0 + components)  # (B,)
        out = (projected + mean) * w[:, None, None]
        total.index_add_(1, index, out.permute(2, 0, 1).reshape(volumes, -1))
        w_voxels = w[:, None].expand(b, samples).reshape(-1)
        weight.index_add_(0, index, w_voxels)
        noise_var.index_add_(0, index, (w * var.to(torch.float32))[:, None].expand(b, samples).reshape(-1))
        kept.index_add_(0, index, (w * components / m)[:, None].expand(b, samples).reshape(-1))
    weight = weight.clamp(min=1e-12)
    total /= weight
    return LowRankResult(total.reshape(volumes, *shape), torch.sqrt(noise_var / weight).reshape(shape), (kept / weight).reshape(shape))


class SeriesDenoiser:
    """A diffusion series through :func:`local_low_rank`, then the volume model told the remaining noise, then the
    noise floor removed (see the module's description).

    The channel noise std and the coil count are read from the air (:func:`~monai_nad.transforms.noise_map.estimate_noise`
    on up to 3 volumes, their medians) unless given; a series without air falls back to the low-rank step's own
    estimate and one coil.

    Args:
        volume_network: the volume model, ``net(x (1, 1, X, Y, Z), noise_std=(1,), coils=1)``; None: the low-rank step
            and the floor removal only.
        radius, stride: of :func:`local_low_rank`.
        residual_scale: the level the model is told, as a multiple of ``sigma sqrt(kept)`` (the noise the kept
            components carry). Defaults to 0.75, chosen on the validation series of the diffusion benchmark from
            0.5-1.5 (``docs/results/diffusion_series_validation.md``).
        floor: remove the noise floor (:func:`~monai_nad.transforms.magnitude_mean_inversion`). Defaults to True.
        run_volume: how the model is run on one volume ``(1, 1, X, Y, Z)`` told a level ``(1,)`` (e.g. in sliding
            windows); defaults to calling it.
    """

    def __init__(self, volume_network: Callable[..., torch.Tensor] | None, radius: int | None = None, stride: int | None = None,
                 residual_scale: float = 0.75, floor: bool = True,
                 run_volume: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        self.network = volume_network
        self.radius, self.stride = radius, stride
        self.residual_scale = float(residual_scale)
        self.floor = bool(floor)
        self.run_volume = run_volume
        #: what the last call estimated: ``{"noise_std", "coils", "kept", "residual_std", "noise_from"}``
        self.last: dict = {}
        #: the last call's noise map ``(X, Y, Z)`` float32: the Marchenko-Pastur noise std of the low-rank step per voxel
        #: (what MRtrix's ``dwidenoise -noise`` writes), in the series' units
        self.last_noise_map: torch.Tensor | None = None

    @staticmethod
    def air_noise(series: torch.Tensor, coils: int | None = None) -> tuple[float, int] | None:
        """The channel noise std and coil count of ``series`` ``(V, X, Y, Z)`` read from its air (the medians over up
        to 3 volumes, first, middle and last), or None where there is no usable air."""
        picks = sorted({0, series.shape[0] // 2, series.shape[0] - 1})
        try:
            estimates = [estimate_noise(series[v].detach().float().cpu().numpy(), coils=coils) for v in picks]
        except ValueError:
            return None
        return float(np.median([e.std for e in estimates])), int(np.median([e.coils for e in estimates]))

    @staticmethod
    def kept_fraction(low: LowRankResult) -> float:
        """The mean kept fraction over the brightest half of the voxels (the object, not the air)."""
        energy = low.denoised.mean(dim=0).reshape(-1)
        bright = energy >= torch.quantile(energy[:: max(1, energy.numel() // 200_000)], 0.5)
        return float(low.kept.reshape(-1)[bright].mean())

    def __call__(self, series: torch.Tensor, noise_std: float | None = None, coils: int | None = None) -> torch.Tensor:
        """
        Args:
            series: ``(V, X, Y, Z)`` non-negative magnitudes.
            noise_std: the channel noise std in ``series``' units, or None (from the air).
            coils: receiver coils of a sum-of-squares magnitude (1: Rician), or None (from the air).

        Returns:
            ``(V, X, Y, Z)`` float32.
        """
        series = torch.as_tensor(series)
        with torch.autocast(series.device.type, enabled=False):  # the covariances need float32 at least
            low = local_low_rank(series, self.radius, self.stride)
        kept = self.kept_fraction(low)
        source = "given"
        if noise_std is None:
            air = self.air_noise(series, coils)
            if air is not None:
                noise_std, found = air
                coils, source = found if coils is None else coils, "air"
            else:
                energy = low.denoised.mean(dim=0).reshape(-1)
                noise_std = float(torch.median(low.sigma.reshape(-1)[energy >= torch.median(energy)]))
                source = "low-rank"
        coils = 1 if coils is None else int(coils)
        residual = self.residual_scale * float(noise_std) * math.sqrt(kept)
        self.last = {"noise_std": float(noise_std), "coils": coils, "kept": kept, "residual_std": residual, "noise_from": source}
        out = low.denoised
        self.last_noise_map = low.sigma
        del low
        self.last["model_volumes"] = 0
        if self.network is not None and residual > 0:
            level = torch.tensor([residual], dtype=torch.float32)
            for v in range(out.shape[0]):
                volume = out[v][None, None].clamp(min=0)
                if residual < MIN_MODEL_LEVEL * float(robust_intensity_scale(volume).flatten()[0]):
                    continue  # below what the model learnt from: the low-rank result stays
                result = self.run_volume(volume, level) if self.run_volume is not None else self.network(volume, noise_std=level, coils=1)
                out[v] = result[0, 0].float()
                self.last["model_volumes"] += 1
        if self.floor:  # volume by volume: no float64 copy of the whole series
            for v in range(out.shape[0]):
                out[v] = magnitude_mean_inversion(out[v].clamp(min=0), float(noise_std), coils)
        return out
