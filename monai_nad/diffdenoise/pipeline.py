"""DiffDenoise (arXiv 2504.00264): a blind-spot estimate, a diffusion model conditioned on it, symmetric (SRDS) sampling.

Choices the paper leaves open (also listed in ``bundles/reproductions/diffdenoise/docs/README.md``):

- Self-supervision: no clean image exists, so the diffusion model learns the distribution of the *noisy* image
  given its blind-spot estimate, ``p(y | BSN(y))`` (``x0 = y``, epsilon prediction). A single reverse run draws a
  plausible noisy image; averaging the runs from ``+eps`` and ``-eps`` (SRDS) cancels the part of the generated
  noise that is odd in ``eps`` and keeps the structure both runs share.
- Conditioning by channel concatenation (``DiffusionInferer`` ``mode="concat"``) of the blind-spot estimate.
- Intensities: each image is divided by its robust scale (99th percentile of absolute values), then mapped to the
  diffusion range by ``v = 2 u - 1``; no clipping of the predicted ``x0`` (bright voxels exceed the percentile).
- Sampling: MONAI's ``DDIMScheduler`` (linear beta schedule, 1000 training steps), deterministic steps
  (``eta = 0``), initial noise from a fixed seed, so the denoiser is a deterministic function of its input.
  Optionally (``start_step``) a truncated chain that starts from the noised blind-spot estimate.
- Images are reflect-padded to a multiple of ``size_divisor`` for the U-Net and cropped back.
- DDIM timesteps: MONAI's ``DDIMScheduler.set_timesteps`` (1.4+) lists ``linspace(T - 1, 0, n)`` (``999, 946, 894,
  ...`` for 20 steps) while its ``step`` moves a sample to ``t - T // n``, so each step lands a little off the next
  listed step and a chain truncated at 150 starts at 105. ``aligned_steps=True`` uses the grid ``step`` assumes
  (:func:`aligned_timesteps`: ``950, 900, ..., 0``; truncated at 150: ``150, 100, 50, 0``). Off by default so that the
  shipped results stay reproducible; see ``docs/results/diffdenoise_diagnosis.md``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import DDIMScheduler

from monai_nad.networks.padding import pad_to_multiple
from monai_nad.networks.unrolled import check_image_batch, robust_intensity_scale

__all__ = [
    "DiffDenoise", "BlindSpotStage", "STAGES", "select_stage", "diffusion_inputs", "to_diffusion_range", "from_diffusion_range",
    "aligned_timesteps",
]


def check_batch(x: torch.Tensor) -> None:
    """Validate a ``(B, C, H, W)`` or ``(B, C, H, W, D)`` input batch (see :func:`~monai_nad.networks.check_image_batch`)."""
    if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"DiffDenoise needs a batch (B, C, H, W[, D]), got {shape}.")
    check_image_batch(x, x.ndim - 2, x.shape[1], 2)


def to_diffusion_range(u: torch.Tensor) -> torch.Tensor:
    """Map scale-normalised intensities (``[0, 1]`` nominally) to the diffusion range ``[-1, 1]``."""
    return 2.0 * u - 1.0


def from_diffusion_range(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_diffusion_range`."""
    return (v + 1.0) / 2.0


def aligned_timesteps(num_train_timesteps: int, inference_steps: int, start_step: int | None = None) -> torch.Tensor:
    """DDIM timesteps on the grid that MONAI's ``DDIMScheduler.step`` assumes: ``(n - 1) k, ..., k, 0`` with
    ``k = num_train_timesteps // inference_steps``, keeping only ``t <= start_step`` when given.

    MONAI's ``set_timesteps`` spreads the steps by ``linspace(T - 1, 0, n)`` but ``step`` moves each sample to
    ``t - T // n``; on this grid the two agree.

    Args:
        num_train_timesteps: the training schedule's length ``T``.
        inference_steps: DDIM steps ``n`` of the full chain.
        start_step: keep only the steps at or below it. Defaults to None (all).

    Returns:
        the descending timesteps (long).
    """
    stride = num_train_timesteps // inference_steps
    steps = torch.arange(0, inference_steps * stride, stride).flip(0)
    return steps if start_step is None else steps[steps <= start_step]


@torch.no_grad()
def diffusion_inputs(
    x: torch.Tensor, blind_spot: nn.Module, quantile: float = 0.99, target: torch.Tensor | None = None, with_noisy: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The diffusion model's target and condition for noisy images ``x``.

    Args:
        x: noisy images ``(B, C, H, W[, D])``, the ones the condition is made from.
        blind_spot: the trained blind-spot network (stage 1).
        quantile: intensity-scale quantile. Defaults to 0.99.
        target: another noisy copy of the same clean images with independent noise (Noise2Noise pairs), to be the
            target instead of ``x`` itself; mapped by ``x``'s scale, as at inference only ``x`` exists. Defaults to
            None: the target is ``x`` (the shipped training, whose condition carries the target's noise; see
            ``docs/results/diffdenoise_diagnosis.md``).
        with_noisy: the condition is the blind-spot estimate and ``x`` itself, ``2 C`` channels, instead of the
            estimate alone (the diffusion network then also sees the detail the blind spot cannot). Defaults to False.

    Returns:
        ``(target, condition, scale)``: the target image and the condition (the blind-spot estimate of ``x``, then ``x``
        with ``with_noisy``) in the diffusion range, and the per-image scale ``(B, 1, 1, 1[, 1])``.

    Raises:
        ValueError: ``target`` of another shape than ``x``.
    """
    if target is not None and target.shape != x.shape:
        raise ValueError(f"the target copy must have the shape of x {tuple(x.shape)}, got {tuple(target.shape)}.")
    scale = robust_intensity_scale(x, quantile)
    u = x / scale
    condition = torch.cat([blind_spot(u), u], dim=1) if with_noisy else blind_spot(u)
    return to_diffusion_range(u if target is None else target / scale), to_diffusion_range(condition), scale


class DiffDenoise(nn.Module):
    """The three-stage self-supervised denoiser: blind-spot network, conditional diffusion, SRDS.

    Args:
        blind_spot: stage 1, e.g. :class:`~monai_nad.networks.BlindSpotNetwork`, trained on noisy images.
        diffusion: stage 2, a ``monai.networks.nets.DiffusionModelUNet`` with ``in_channels = 2 C`` (sample and
            condition; ``3 C`` with ``condition_on_noisy``) and ``out_channels = C``, trained by
            ``bundles/reproductions/diffdenoise/configs/train_diffusion.json``.
        num_train_timesteps: the training schedule's length. Defaults to 1000.
        schedule: MONAI beta schedule name. Defaults to ``"linear_beta"``.
        inference_steps: DDIM steps. Defaults to 20.
        symmetric: SRDS, i.e. average the runs from ``+eps`` and ``-eps``; otherwise one run from ``eps``.
            Defaults to True.
        seed: seed of the initial noise. Defaults to 0.
        size_divisor: pad the spatial size to a multiple of this (``2 ** (levels - 1)`` of the U-Net). Defaults to 4.
        scale_quantile: intensity-scale quantile. Defaults to 0.99.
        start_step: if given, a truncated reverse process: it starts at this training step from the blind-spot
            estimate noised with ``+eps`` (or ``-eps``), ``sqrt(a_t) c + sqrt(1 - a_t) eps``, and runs only the DDIM
            steps at or below it (``inference_steps`` then sets the stride, ``num_train_timesteps / inference_steps``).
            Defaults to None: the full chain from pure noise, as the paper describes.
        aligned_steps: run the DDIM steps on the grid ``step`` assumes (:func:`aligned_timesteps`) instead of MONAI's
            ``set_timesteps`` list. Defaults to False (the shipped behaviour).
        condition_on_noisy: condition the diffusion network on the noisy image as well as the blind-spot estimate
            (:func:`diffusion_inputs` ``with_noisy``); it must have been trained so. Defaults to False (the paper's
            condition, the estimate alone).

    Raises:
        ValueError: ``inference_steps`` outside ``[1, num_train_timesteps]`` or ``start_step`` outside
            ``[0, num_train_timesteps)``.
    """

    def __init__(
        self,
        blind_spot: nn.Module,
        diffusion: nn.Module,
        num_train_timesteps: int = 1000,
        schedule: str = "linear_beta",
        inference_steps: int = 20,
        symmetric: bool = True,
        seed: int = 0,
        size_divisor: int = 4,
        scale_quantile: float = 0.99,
        start_step: int | None = None,
        aligned_steps: bool = False,
        condition_on_noisy: bool = False,
    ) -> None:
        super().__init__()
        if not 1 <= inference_steps <= num_train_timesteps:
            raise ValueError(f"inference_steps must be in [1, {num_train_timesteps}], got {inference_steps!r}.")
        if start_step is not None and not 0 <= start_step < num_train_timesteps:
            raise ValueError(f"start_step must be in [0, {num_train_timesteps}), got {start_step!r}.")
        self.start_step = start_step
        self.aligned_steps = aligned_steps
        self.condition_on_noisy = condition_on_noisy
        self.blind_spot = blind_spot
        self.diffusion = diffusion
        self.num_train_timesteps = num_train_timesteps
        self.schedule = schedule
        self.inference_steps = inference_steps
        self.symmetric = symmetric
        self.seed = seed
        self.size_divisor = size_divisor
        self.scale_quantile = scale_quantile

    def replace(self, **changes) -> DiffDenoise:
        """A new pipeline on the same trained networks with some sampling settings changed (``self`` is unchanged).

        Args:
            changes: constructor arguments other than the networks, e.g. ``symmetric=False`` or
                ``start_step=None, inference_steps=10``.

        Raises:
            TypeError: an unknown setting.
        """
        settings = {
            "num_train_timesteps": self.num_train_timesteps, "schedule": self.schedule, "inference_steps": self.inference_steps,
            "symmetric": self.symmetric, "seed": self.seed, "size_divisor": self.size_divisor,
            "scale_quantile": self.scale_quantile, "start_step": self.start_step, "aligned_steps": self.aligned_steps,
            "condition_on_noisy": self.condition_on_noisy,
        }
        unknown = set(changes) - set(settings)
        if unknown:
            raise TypeError(f"unknown DiffDenoise settings {sorted(unknown)}; choose from {sorted(settings)}.")
        return DiffDenoise(self.blind_spot, self.diffusion, **{**settings, **changes})

    def with_sampling(self, symmetric: bool) -> DiffDenoise:
        """The same trained networks with SRDS switched on or off (a new module; ``self`` is unchanged)."""
        return self.replace(symmetric=symmetric)

    def initial_noise(self, shape: torch.Size | tuple[int, ...], device: torch.device, seed: int | None = None) -> torch.Tensor:
        """Standard normal noise of ``shape`` from a fixed seed (``self.seed`` unless given)."""
        generator = torch.Generator().manual_seed(self.seed if seed is None else seed)
        return torch.randn(tuple(shape), generator=generator).to(device)

    def timesteps(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The DDIM timesteps a reverse run visits, highest first (truncated at ``start_step`` if set)."""
        scheduler = DDIMScheduler(num_train_timesteps=self.num_train_timesteps, schedule=self.schedule, clip_sample=False)
        scheduler.set_timesteps(self.inference_steps, device=device)
        steps = aligned_timesteps(self.num_train_timesteps, self.inference_steps).to(device) if self.aligned_steps else scheduler.timesteps
        return steps if self.start_step is None else steps[steps <= self.start_step]

    def reverse(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Run the DDIM reverse process from ``noise`` with the given condition (both in the diffusion range).

        Args:
            noise: initial samples ``(N, C, H, W[, D])``, spatial size a multiple of ``size_divisor``.
            condition: blind-spot estimates, same shape (then the noisy images, ``2 C`` channels, with
                ``condition_on_noisy``).

        Returns:
            the generated images, same shape, in the diffusion range.
        """
        scheduler = DDIMScheduler(num_train_timesteps=self.num_train_timesteps, schedule=self.schedule, clip_sample=False)
        scheduler.set_timesteps(self.inference_steps, device=noise.device)
        scheduler.timesteps = self.timesteps(noise.device)
        if self.start_step is not None:
            alpha = scheduler.alphas_cumprod[int(scheduler.timesteps[0])].to(noise.device, noise.dtype)
            noise = alpha.sqrt() * condition[:, : noise.shape[1]] + (1.0 - alpha).sqrt() * noise  # from the estimate
        inferer = DiffusionInferer(scheduler)
        return inferer.sample(noise, self.diffusion, scheduler, conditioning=condition, mode="concat", verbose=False)

    @torch.no_grad()
    def generate(self, x: torch.Tensor, noises: list[torch.Tensor]) -> list[torch.Tensor]:
        """One reverse run per initial noise, batched together; results in image units.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.
            noises: initial noises, each of the padded shape (see :meth:`padded_shape`).

        Returns:
            one denoised batch ``(B, C, H, W[, D])`` per noise.
        """
        check_batch(x)
        _, condition, scale = diffusion_inputs(x, self.blind_spot, self.scale_quantile, with_noisy=self.condition_on_noisy)
        condition, crop = pad_to_multiple(condition, self.size_divisor)
        runs = self.reverse(torch.cat(noises), torch.cat([condition] * len(noises)))
        return [from_diffusion_range(run[crop]) * scale for run in runs.split(x.shape[0])]

    def padded_shape(self, x: torch.Tensor) -> torch.Size:
        """The shape of the initial noise for input ``x``."""
        return pad_to_multiple(x, self.size_divisor)[0].shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch: SRDS (or a single run) from the fixed-seed initial noise.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.

        Returns:
            denoised images, same shape (not clipped).

        Raises:
            TypeError, ValueError: an invalid batch (see :func:`~monai_nad.networks.check_image_batch`).
        """
        check_batch(x)
        eps = self.initial_noise(self.padded_shape(x), x.device)
        if not self.symmetric:
            return self.generate(x, [eps])[0]
        plus, minus = self.generate(x, [eps, -eps])
        return (plus + minus) / 2.0


#: the denoisers a DiffDenoise bundle can run at inference
STAGES = ("student", "diffdenoise", "single_sample", "blind_spot")


class BlindSpotStage(nn.Module):
    """Stage 1 of a :class:`DiffDenoise` on its own, as a denoiser (image units in and out).

    Args:
        pipeline: the pipeline whose blind-spot network (and intensity scaling) is used; only that network is kept.
    """

    def __init__(self, pipeline: DiffDenoise) -> None:
        super().__init__()
        self.blind_spot = pipeline.blind_spot
        self.scale_quantile = pipeline.scale_quantile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x)
        scale = robust_intensity_scale(x, self.scale_quantile)
        return self.blind_spot(x / scale) * scale


def select_stage(stage: str, student: nn.Module, pipeline: DiffDenoise) -> nn.Module:
    """The denoiser a bundle runs: ``"student"`` (fast, distilled), ``"diffdenoise"`` (BSN + diffusion + SRDS),
    ``"single_sample"`` (one reverse run, no SRDS) or ``"blind_spot"`` (stage 1 alone).

    Raises:
        ValueError: unknown stage.
    """
    if stage == "student":
        return student
    if stage == "diffdenoise":
        return pipeline.with_sampling(symmetric=True)
    if stage == "single_sample":
        return pipeline.with_sampling(symmetric=False)
    if stage == "blind_spot":
        return BlindSpotStage(pipeline)
    raise ValueError(f"unknown DiffDenoise stage {stage!r}; choose one of {STAGES}.")
