"""Why the DiffDenoise diffusion stage loses to its own blind-spot condition: cheap measurements on trained networks.

Everything here works on a few held-out noisy patches (``HeldOutPatches``) in the diffusion range, exactly as the
diffusion model saw its training data: the blind-spot estimate and the intensity scale come from the *whole* noisy
slice (:func:`~monai_nad.diffdenoise.diffusion_inputs`), then 2D patches are cut. The clean image is used only to
score.

- :func:`timestep_errors`: the noise-prediction error at chosen training steps ``t`` (``x_t = sqrt(a) x0 +
  sqrt(1 - a) eps`` with ``x0`` the training target, i.e. the *noisy* image), against the floor
  ``s^2 / (s^2 + tau^2)`` that no network can beat when ``x0`` carries noise of std ``s`` (``tau^2 = (1 - a) / a``),
  and the PSNR of the implied ``x0`` estimate against the clean and the noisy image; plus the *Tweedie readout*
  (:func:`tweedie_readout`) of the same prediction.
- :func:`chain_quality`: the truncated and full DDIM chains, one run and SRDS, scored against the clean patch.
- :func:`timestep_mismatch`: where MONAI's DDIM ``set_timesteps`` list (``linspace``) and its ``step`` (back by
  ``T // n``) disagree; :func:`~monai_nad.diffdenoise.pipeline.aligned_timesteps` is the grid they agree on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from monai.networks.schedulers import DDIMScheduler

from monai_nad.diffdenoise.pipeline import DiffDenoise, aligned_timesteps, diffusion_inputs, from_diffusion_range, to_diffusion_range

__all__ = [
    "HeldOutPatches",
    "chain_quality",
    "heldout_patches",
    "load_bundle_pipeline",
    "noise_correlation",
    "noise_floor",
    "patch_psnr",
    "timestep_errors",
    "timestep_mismatch",
    "tweedie_readout",
]


@dataclass
class HeldOutPatches:
    """Noisy patches with what the diffusion model is given and what scores it, all ``(N, 1, P, P)``.

    Attributes:
        noisy: the noisy patch in the diffusion range (the training target ``x0`` of the diffusion model).
        condition: the blind-spot estimate of the whole slice, cut to the patch, in the diffusion range.
        clean: the clean patch mapped by the same per-slice scale (scoring only).
        scale: the per-slice intensity scale ``(N, 1, 1, 1)`` (image = ``from_diffusion_range(v) * scale``).
        noise_std: a blind estimate of the noise std of each slice, in the diffusion range ``(N, 1, 1, 1)``
            (second-difference MAD on the noisy slice; no clean image).
        conditions: the noise condition of each patch.
        twin: a second, independent noisy copy of the same clean patch (another noise seed), mapped by the same
            scale: the diffusion model's target distribution given the *anatomy*, but not made from ``condition``.
    """

    noisy: torch.Tensor
    condition: torch.Tensor
    clean: torch.Tensor
    scale: torch.Tensor
    noise_std: torch.Tensor
    conditions: list[str]
    twin: torch.Tensor

    def to_image(self, v: torch.Tensor) -> torch.Tensor:
        """Diffusion-range patches back to image units."""
        return from_diffusion_range(v) * self.scale

    def select(self, condition: str) -> HeldOutPatches:
        """The patches of one noise condition."""
        idx = [i for i, c in enumerate(self.conditions) if c == condition]
        if not idx:
            raise ValueError(f"no patch of condition {condition!r}; have {sorted(set(self.conditions))}.")
        pick = torch.as_tensor(idx)
        return HeldOutPatches(self.noisy[pick], self.condition[pick], self.clean[pick], self.scale[pick], self.noise_std[pick],
                              [self.conditions[i] for i in idx], self.twin[pick])


def load_bundle_pipeline(bundle: str | Path | None = None, **settings) -> DiffDenoise:
    """The shipped DiffDenoise pipeline: networks from ``configs/common.json``, weights from ``models/`` (float32).

    Args:
        bundle: the bundle folder. Defaults to the repository's ``bundles/diffdenoise``.
        settings: :class:`~monai_nad.diffdenoise.DiffDenoise` sampling settings (defaults: the bundle's
            ``num_train_timesteps``, ``inference_steps``, ``start_step``, ``seed``).
    """
    from monai.bundle import ConfigParser

    from monai_nad.bundle import find_bundle
    from monai_nad.engines import load_network_weights

    root = Path(bundle) if bundle is not None else find_bundle("diffdenoise")
    parser = ConfigParser(json.loads((root / "configs" / "common.json").read_text()))
    bsn = load_network_weights(parser.get_parsed_content("bsn_def"), root / "models" / "bsn.pt").float().eval()
    diffusion = load_network_weights(parser.get_parsed_content("diffusion_def"), root / "models" / "diffusion.pt").float().eval()
    defaults = {key: parser.get_parsed_content(key) for key in ("num_train_timesteps", "inference_steps", "start_step", "seed")}
    return DiffDenoise(bsn, diffusion, **{**defaults, **settings}).eval()


def _corners(clean: np.ndarray, patch: int, count: int, stride: int = 16) -> list[tuple[int, int]]:
    """``count`` non-overlapping patch corners with the most foreground (clean > 0.05), in raster order of rank."""
    h, w = clean.shape
    candidates = [(float((clean[i : i + patch, j : j + patch] > 0.05).mean()), i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    chosen: list[tuple[int, int]] = []
    for _, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if all(abs(i - a) >= patch or abs(j - b) >= patch for a, b in chosen):
            chosen.append((i, j))
        if len(chosen) == count:
            break
    return chosen


@torch.no_grad()
def heldout_patches(
    blind_spot: nn.Module,
    conditions: Sequence[str],
    slices: int = 1,
    patches_per_slice: int = 2,
    patch_size: int = 64,
    split: str = "validation",
    seed: int = 0,
    quantile: float = 0.99,
    arrays=None,
) -> HeldOutPatches:
    """Held-out noisy patches in the diffusion model's training representation.

    Args:
        blind_spot: the trained blind-spot network.
        conditions: noise condition names (:data:`monai_nad.data.NOISE_CONDITIONS`).
        slices: the first ``slices`` slices of the split per condition. Defaults to 1.
        patches_per_slice: non-overlapping patches per slice, chosen by clean foreground fraction (scoring only).
            Defaults to 2.
        patch_size: square patch side (the training patch is 64). Defaults to 64.
        split: MNI split. Defaults to ``"validation"`` (never trained on).
        seed: noise seed. Defaults to 0.
        quantile: intensity-scale quantile. Defaults to 0.99.
        arrays: optional ``condition -> (noisy, clean, twin)`` stacks ``(N, H, W)`` to use instead of MNI (for tests;
            ``twin``: an independent noisy copy of ``clean``).

    Returns:
        :class:`HeldOutPatches`.
    """
    from monai_nad.transforms import second_difference_noise_std

    noisy_p, cond_p, clean_p, scales, stds, names, twin_p = [], [], [], [], [], [], []
    for name in conditions:
        if arrays is not None:
            noisy, clean, twin = arrays[name]
        else:
            from monai_nad.data import mni_condition_arrays

            noisy, clean = mni_condition_arrays(split, name, seed=seed, limit=slices)
            twin, _ = mni_condition_arrays(split, name, seed=seed + 1, limit=slices)
        for k in range(min(slices, len(noisy))):
            x = torch.as_tensor(np.asarray(noisy[k], dtype=np.float32))[None, None]
            target, condition, scale = diffusion_inputs(x, blind_spot, quantile)
            clean_d = to_diffusion_range(torch.as_tensor(np.asarray(clean[k], dtype=np.float32))[None, None] / scale)
            twin_d = to_diffusion_range(torch.as_tensor(np.asarray(twin[k], dtype=np.float32))[None, None] / scale)
            std = 2.0 * second_difference_noise_std(x).reshape(1, 1, 1, 1) / scale
            for i, j in _corners(np.asarray(clean[k]), patch_size, patches_per_slice):
                window = (Ellipsis, slice(i, i + patch_size), slice(j, j + patch_size))
                noisy_p.append(target[window])
                cond_p.append(condition[window])
                clean_p.append(clean_d[window])
                twin_p.append(twin_d[window])
                scales.append(scale)
                stds.append(std)
                names.append(name)
    return HeldOutPatches(torch.cat(noisy_p), torch.cat(cond_p), torch.cat(clean_p), torch.cat(scales), torch.cat(stds), names, torch.cat(twin_p))


def patch_psnr(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over patches of the PSNR (dB, data range 1) of ``estimate`` against ``reference``, both in image units,
    the estimate clipped to ``[0, 1]`` as on the results pages."""
    mse = (estimate.clamp(0, 1) - reference).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((-10.0 * torch.log10(mse)).mean())


def noise_correlation(estimate: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean over patches of the Pearson correlation between the estimate's error ``estimate - clean`` and the data
    noise ``noisy - clean``: 0 when the estimate's error is unrelated to the noise of *this* image, 1 when the
    estimate reproduces it."""
    e = (estimate - clean).flatten(1)
    n = (noisy - clean).flatten(1)
    e, n = e - e.mean(1, keepdim=True), n - n.mean(1, keepdim=True)
    return float(((e * n).sum(1) / (e.norm(dim=1) * n.norm(dim=1)).clamp_min(1e-12)).mean())


def noise_floor(noise_std: torch.Tensor | float, alpha_bar: torch.Tensor | float) -> float:
    """The lowest noise-prediction MSE possible when ``x0`` is a noisy image: ``s^2 / (s^2 + tau^2)``.

    With ``x_t / sqrt(a) = x + n + tau eps``, ``tau^2 = (1 - a) / a`` and white Gaussian ``n`` of std ``s``, even a
    network that knew the clean ``x`` exactly could only attribute the residual ``n + tau eps`` to ``eps`` in
    proportion ``tau^2 / (s^2 + tau^2)``; the rest of ``eps``'s unit variance is unpredictable.

    Args:
        noise_std: ``s`` in the diffusion range (scalar or per patch; the mean floor is returned).
        alpha_bar: the cumulative product ``a`` of the schedule at ``t``.
    """
    s2 = torch.as_tensor(noise_std, dtype=torch.float64).pow(2)
    a = torch.as_tensor(alpha_bar, dtype=torch.float64)
    tau2 = (1 - a) / a
    return float((s2 / (s2 + tau2)).mean())


def tweedie_readout(x_t: torch.Tensor, eps_hat: torch.Tensor, alpha_bar: torch.Tensor | float, noise_std: torch.Tensor | float) -> torch.Tensor:
    """An estimate of the *clean* image from a diffusion model of noisy images (Tweedie / Noisier2Noise).

    With ``z = x_t / sqrt(a) = y + tau eps`` and ``y = x + n``, ``n`` white Gaussian of std ``s``: ``z = x + N(0, s^2 +
    tau^2)``, so Tweedie's formula gives ``E[x | z] = z + (s^2 + tau^2) grad log p(z)``, and a network trained to predict
    ``eps`` from ``x_t`` with ``x0 = y`` gives ``grad log p(z) = -E[eps | z] / tau``. Hence
    ``E[x | z] = z - (s^2 + tau^2) / tau * eps_hat`` (the usual ``x0`` estimate is ``z - tau * eps_hat = E[y | z]``).
    For ``tau = s`` this is Noisier2Noise's ``2 E[y | z] - z``.

    Args:
        x_t: the noised input ``sqrt(a) y + sqrt(1 - a) eps`` (diffusion range).
        eps_hat: the network's noise prediction at ``x_t``.
        alpha_bar: the schedule's ``a`` at the step.
        noise_std: ``s``, the noise std of ``y`` in the diffusion range (scalar or broadcastable).

    Returns:
        the clean-image estimate, diffusion range, shape of ``x_t``.
    """
    a = torch.as_tensor(alpha_bar, dtype=x_t.dtype, device=x_t.device)
    tau = ((1 - a) / a).sqrt()
    s = torch.as_tensor(noise_std, dtype=x_t.dtype, device=x_t.device)
    return x_t / a.sqrt() - (s**2 + tau**2) / tau * eps_hat


def _predict(diffusion: nn.Module, x_t: torch.Tensor, condition: torch.Tensor, t: int) -> torch.Tensor:
    """``eps_hat(x_t, t | condition)`` with the condition concatenated as in training."""
    timesteps = torch.full((x_t.shape[0],), int(t), dtype=torch.long, device=x_t.device)
    return diffusion(torch.cat([x_t, condition], dim=1), timesteps=timesteps)


@torch.no_grad()
def timestep_errors(
    diffusion: nn.Module,
    patches: HeldOutPatches,
    timesteps: Sequence[int] = (5, 15, 30, 50, 100, 150, 300, 600),
    num_train_timesteps: int = 1000,
    schedule: str = "linear_beta",
    seed: int = 0,
) -> list[dict[str, float]]:
    """The noise-prediction network's error at each training step on held-out patches.

    For each ``t``: ``x_t = sqrt(a) y + sqrt(1 - a) eps`` with ``y`` the noisy patch (the training target); the
    network's ``eps_hat`` is scored by ``MSE(eps_hat, eps)`` (the training loss at that ``t``; 1 = predicting zero),
    against :func:`noise_floor` with the true noise std ``s`` (from the clean patch), and against the same loss when
    ``x0`` is the *clean* patch or the *twin* (an independent noisy copy of the same anatomy, condition unchanged): a
    loss below the floor, far below the twin's, means the network reads this image's own noise out of the condition. The implied ``x0 = (x_t - sqrt(1 - a) eps_hat) / sqrt(a)`` is scored by PSNR against
    the clean and against the noisy patch; :func:`tweedie_readout` (clean-image estimate) with the blind noise std.

    Args:
        diffusion: the trained noise-prediction U-Net (input: sample and condition channels).
        patches: :func:`heldout_patches`.
        timesteps: training steps to probe.
        num_train_timesteps: the schedule length. Defaults to 1000.
        schedule: MONAI beta schedule. Defaults to ``"linear_beta"``.
        seed: seed of ``eps``. Defaults to 0.

    Returns:
        one dict per ``t``: ``t``, ``alpha_bar``, ``tau`` (noise std of ``x_t / sqrt(a)`` added to ``y``),
        ``eps_mse``, ``eps_floor``, ``eps_mse_clean_x0``, ``eps_mse_twin_x0``, ``x0_psnr_clean``, ``x0_psnr_noisy``,
        ``x0_noise_corr`` (:func:`noise_correlation` of the implied ``x0``), ``x0_noise_corr_bound`` (the most that
        correlation can be when the noise reaches the network only through ``x_t``: ``s / sqrt(s^2 + tau^2)`` for
        Gaussian noise), ``tweedie_psnr_clean``.
    """
    alphas = DDIMScheduler(num_train_timesteps=num_train_timesteps, schedule=schedule).alphas_cumprod
    eps = torch.randn(patches.noisy.shape, generator=torch.Generator().manual_seed(seed))
    clean_img, noisy_img = patches.to_image(patches.clean), patches.to_image(patches.noisy)
    true_std = (patches.noisy - patches.clean).flatten(1).std(1)
    rows = []
    for t in timesteps:
        a = alphas[int(t)].to(torch.float32)
        x_t = a.sqrt() * patches.noisy + (1 - a).sqrt() * eps
        eps_hat = _predict(diffusion, x_t, patches.condition, t)
        x0 = (x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()
        x_t_clean = a.sqrt() * patches.clean + (1 - a).sqrt() * eps
        eps_hat_clean = _predict(diffusion, x_t_clean, patches.condition, t)
        x_t_twin = a.sqrt() * patches.twin + (1 - a).sqrt() * eps
        eps_hat_twin = _predict(diffusion, x_t_twin, patches.condition, t)
        tweedie = tweedie_readout(x_t, eps_hat, a, patches.noise_std)
        rows.append({
            "t": int(t),
            "alpha_bar": float(a),
            "tau": float(((1 - a) / a).sqrt()),
            "eps_mse": float((eps_hat - eps).pow(2).mean()),
            "eps_floor": noise_floor(true_std, a),
            "eps_mse_clean_x0": float((eps_hat_clean - eps).pow(2).mean()),
            "eps_mse_twin_x0": float((eps_hat_twin - eps).pow(2).mean()),
            "x0_psnr_clean": patch_psnr(patches.to_image(x0), clean_img),
            "x0_psnr_noisy": patch_psnr(patches.to_image(x0), noisy_img),
            "x0_noise_corr": noise_correlation(x0, patches.noisy, patches.clean),
            "x0_noise_corr_bound": float((true_std / (true_std**2 + (1 - a) / a).sqrt()).mean()),
            "tweedie_psnr_clean": patch_psnr(patches.to_image(tweedie), clean_img),
        })
    return rows


def timestep_mismatch(num_train_timesteps: int, inference_steps: int) -> list[tuple[int, int, int]]:
    """``(t, where step() sends the sample, the next listed t)`` for MONAI's default DDIM timesteps, where they differ."""
    scheduler = DDIMScheduler(num_train_timesteps=num_train_timesteps)
    scheduler.set_timesteps(inference_steps)
    listed = scheduler.timesteps.tolist() + [None]
    stride = num_train_timesteps // inference_steps
    return [(t, t - stride, nxt if nxt is not None else -1) for t, nxt in zip(listed[:-1], listed[1:]) if nxt is not None and t - stride != nxt]


@torch.no_grad()
def chain_quality(
    pipeline: DiffDenoise,
    patches: HeldOutPatches,
    start_steps: Sequence[int | None] = (50, 150, 300, None),
    inference_steps: int = 20,
    aligned: bool = False,
    seed: int = 0,
) -> list[dict[str, float]]:
    """PSNR (against the clean patch) of the reverse chains: one run from ``+eps`` and SRDS (mean of ``+eps``, ``-eps``).

    Runs :meth:`DiffDenoise.reverse` of ``pipeline`` with the given truncation: a truncated chain starts from the
    noised blind-spot estimate ``sqrt(a) c + sqrt(1 - a) eps`` at its first step ``<= start_step``; ``None`` is the
    full chain from pure noise.

    Args:
        pipeline: the trained pipeline (its diffusion network, schedule and training length are used).
        patches: :func:`heldout_patches`.
        start_steps: truncation points (``None``: full chain).
        inference_steps: DDIM steps of the full chain (sets the stride). Defaults to 20.
        aligned: the pipeline's ``aligned_steps`` (:func:`~monai_nad.diffdenoise.aligned_timesteps`). Defaults to
            False (the shipped sampler).
        seed: seed of ``eps``. Defaults to 0.

    Returns:
        one dict per start: ``start_step``, ``first_step`` (the step the chain really starts at), ``steps``,
        ``single_psnr``, ``srds_psnr``, ``sample_noise_std`` (std of single run minus clean, image units),
        ``data_noise_std`` (std of noisy minus clean) and ``single_noise_corr``, ``srds_noise_corr``
        (:func:`noise_correlation`).
    """
    clean_img = patches.to_image(patches.clean)
    eps = torch.randn(patches.noisy.shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for start in start_steps:
        chain = pipeline.replace(start_step=start, inference_steps=inference_steps, aligned_steps=aligned)
        steps = chain.timesteps()
        plus, minus = chain.reverse(torch.cat([eps, -eps]), torch.cat([patches.condition] * 2)).split(eps.shape[0])
        runs = [patches.to_image(plus), patches.to_image(minus)]
        rows.append({
            "start_step": start,
            "first_step": int(steps[0]),
            "steps": len(steps),
            "single_psnr": patch_psnr(runs[0], clean_img),
            "srds_psnr": patch_psnr((runs[0] + runs[1]) / 2, clean_img),
            "sample_noise_std": float((runs[0] - clean_img).flatten(1).std(1).mean()),
            "data_noise_std": float((patches.to_image(patches.noisy) - clean_img).flatten(1).std(1).mean()),
            "single_noise_corr": noise_correlation(runs[0], patches.to_image(patches.noisy), clean_img),
            "srds_noise_corr": noise_correlation((runs[0] + runs[1]) / 2, patches.to_image(patches.noisy), clean_img),
        })
    return rows
