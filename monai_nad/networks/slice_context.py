"""A volumetric (2.5D) Neural PDE: each slice diffused in plane, guided by its neighbouring slices.

A full 3D Neural PDE costs about ``factor`` times more per voxel than the 2D one at every layer (3x3x3 instead of 3x3
kernels, 8 instead of 4 cells per pixel-unshuffle) and would have to be trained from scratch. This network keeps
the shipped 2D model's diffusion and heads and gives its encoder and full-resolution detail head ``k`` slices
either side as extra inputs: the neighbours carry the same anatomy with independent noise, which steers the
conductances and lets the detail head average across slices where the anatomy allows. With zero weights on the
new inputs it is exactly the 2D model, so it is fine-tuned from the shipped checkpoint
(:func:`~monai_nad.engines.warm_start`).

It takes and returns volumes ``(B, 1, H, W, D)`` (slices along the last axis), so MONAI's
``sliding_window_inference`` and the training engines use it like any 3D network; the slices of a volume are run
in chunks of ``slice_batch`` so that memory does not grow with the depth.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from monai_nad.networks.conditioned_pde import (
    SQUARED_FLOOR,
    NoiseConditionedPDE,
    check_coils,
    denormalised_output,
    noise_std_map,
    normalised_inputs,
)
from monai_nad.networks.layout import use_channels_last
from monai_nad.networks.slice_axis_diffusion import SliceAxisDiffusion
from monai_nad.networks.unrolled import check_image_batch
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["SliceContextPDE", "reflected_neighbours"]


def reflected_neighbours(depth: int, context_slices: int, device: torch.device | None = None) -> torch.Tensor:
    """The indices of the ``k`` slices either side of every slice; past an end of the volume, the slice as far on the
    other side.

    Args:
        depth: number of slices ``D``.
        context_slices: ``k``.
        device: where to put the result.

    Returns:
        ``(D, 2k)`` int64 indices: for slice ``z``, ``z-k .. z-1, z+1 .. z+k``; a neighbour ``z+o`` outside ``[0, D)`` is
        replaced by ``z-o`` (so a slice near an end borrows slices of its other side, whose noise is independent of its
        own: for ``D > 2k`` no slice is ever its own neighbour), and what is still outside (thin volumes) is mirrored
        into ``[0, D)``; a one-slice volume repeats itself.
    """
    offsets = torch.tensor([o for o in range(-context_slices, context_slices + 1) if o != 0], device=device)
    centre = torch.arange(depth, device=device)[:, None]
    z = centre + offsets[None, :]
    outside = (z < 0) | (z >= depth)
    z = torch.where(outside, centre - offsets[None, :], z)
    if depth == 1:
        return torch.zeros_like(z)
    period = 2 * (depth - 1)
    z = torch.remainder(z, period)
    return torch.where(z >= depth, period - z, z)


class SliceContextPDE(nn.Module):
    """The noise-conditioned Neural PDE applied slice by slice to volumes, with ``k`` neighbouring slices as guidance.

    Args:
        context_slices: ``k``, the slices either side of each slice that guide it. Defaults to 2.
        slice_batch: slices per call of the 2D network (bounds memory for deep volumes); fewer for large slices, so
            that a call holds at most ``pixel_budget`` pixels. Defaults to 32.
        pixel_budget: the most slice pixels per call of the 2D network. Defaults to 131,072 (three 181x217 slices, one
            320x320 slice): small calls keep the activations in cache, about a fifth faster on one CPU thread than calls
            of 32 slices.
        volume_layers: 3x3x3 convolutions of a full-resolution volumetric head after the slices are denoised (0: none).
            It reads the denoised volume, the noisy and bias-corrected volumes and the noise map, all divided by the
            volume's robust scale, and adds a residual that starts at zero: what is left of the noise varies
            independently from slice to slice, so it can be averaged along the slice axis where the anatomy allows.
            It runs on blocks of ``slice_batch`` slices with a halo of ``volume_layers`` slices (the same result as one
            pass). Defaults to 0.
        volume_features: width of the volumetric head. Defaults to 16.
        slice_axis_steps: explicit edge-stopping diffusion steps between neighbouring slices after the slices are
            denoised (:class:`~monai_nad.networks.SliceAxisDiffusion`; 0: none): the residual left by the slice network
            varies independently from slice to slice, and is averaged along the slice axis where neighbouring slices
            agree. Two learned numbers per step; every step is stable and conserves intensity along the axis.
            Defaults to 0.
        **kwargs: the settings of the 2D :class:`~monai_nad.networks.NoiseConditionedPDE` (``features``, ``steps``,
            ``self_ensemble``, ...). ``spatial_dims`` (3) and ``in_channels`` (1) may be stated; ``context_channels`` is set here.

    Raises:
        ValueError: ``context_slices`` or ``slice_batch`` below 1, other dims or channels, or settings the 2D network rejects.

    Example::

        net = SliceContextPDE(context_slices=2)
        volume = torch.rand(1, 1, 96, 80, 12)
        known = net(volume, noise_std=0.05)  # or (B,) values, or a map like the volume
        blind = net(volume, noise_std=blind_noise_std(volume))  # not known: one level estimated per volume first
    """

    def __init__(
        self,
        context_slices: int = 2,
        slice_batch: int = 32,
        pixel_budget: int = 1 << 17,
        volume_layers: int = 0,
        volume_features: int = 16,
        slice_axis_steps: int = 0,
        **kwargs,
    ) -> None:
        super().__init__()
        for name, value in (("volume_layers", volume_layers), ("slice_axis_steps", slice_axis_steps)):
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
        for name, value in (("context_slices", context_slices), ("slice_batch", slice_batch), ("pixel_budget", pixel_budget), ("volume_features", volume_features)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        # a config may state the volume's dims and channel (common.json's network_def does); nothing else fits
        if kwargs.pop("spatial_dims", 3) != 3 or kwargs.pop("in_channels", 1) != 1 or "context_channels" in kwargs:
            raise ValueError("SliceContextPDE takes one-channel volumes (spatial_dims=3, in_channels=1) and sets context_channels itself.")
        self.context_slices = int(context_slices)
        self.slice_batch = int(slice_batch)
        self.pixel_budget = int(pixel_budget)
        self.spatial_dims = 3
        self.in_channels = 1
        self.slice_network = NoiseConditionedPDE(spatial_dims=2, in_channels=1, context_channels=2 * self.context_slices, **kwargs)
        self.min_spatial_size = self.slice_network.min_spatial_size
        # the steps start at a total rate of 0.25 with kappa 2.5 (tuned on the validation slabs over the 2.5D model's output)
        self.axis_diffusion = SliceAxisDiffusion(int(slice_axis_steps), rate=0.25 / slice_axis_steps) if slice_axis_steps else None
        self.volume_layers = int(volume_layers)
        self.volume_head: nn.Module | None = None
        if volume_layers:
            layers: list[nn.Module] = []
            width = 4
            for _ in range(volume_layers - 1):
                layers += [nn.Conv3d(width, volume_features, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True)]
                width = volume_features
            layers.append(nn.Conv3d(width, 1, 3, padding=1, padding_mode="replicate"))
            nn.init.zeros_(layers[-1].weight)  # starts adding nothing: the network is the slice model until trained
            nn.init.zeros_(layers[-1].bias)
            self.volume_head = nn.Sequential(*layers)
            use_channels_last(self.volume_head, 3)

    def adapt_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint of this network with fewer context slices, its context weights moved to the same offsets here.

        The first convolutions of the encoder and of the detail head read the context slices in offset order
        ``-k .. -1, 1 .. k``, as is and then bias-corrected; a checkpoint trained with ``k' < k`` has its weights for
        offset ``o`` moved to offset ``o`` of this network, and the new outer offsets start at zero, so the network
        computes what the checkpoint did (:func:`~monai_nad.engines.warm_start` applies this).

        Args:
            state: a state dict of a :class:`SliceContextPDE` (or one with fewer context slices).

        A 2D checkpoint whose network reads the noise's correlation widths (``correlation_input``, two input maps after
        the others) loses those weights here: the volume model reads no widths (for white noise the maps are zero, so
        its function there is the checkpoint's).

        A checkpoint with fewer ``features`` is then rearranged by the slice network's own
        :meth:`~monai_nad.networks.NoiseConditionedPDE.adapt_checkpoint` (its refinement head's inputs), so that a wider
        volume model starts as the narrow one.

        Returns:
            ``state`` with those weights rearranged; unchanged when the sizes match or the state is another network's.
        """
        out, mine = dict(state), self.state_dict()
        cells = self.slice_network.factor ** 2
        for key, prefix, scale in (("slice_network.encoder.0.weight", 3, cells), ("slice_network.detail.0.weight", 4, 1)):
            old, target = state.get(key), mine.get(key)
            if old is not None and target is not None and not self.slice_network.correlation_input and (old.shape[1] // scale - prefix) % 4 == 2:
                # a 2D checkpoint that reads the noise's correlation widths (two maps, last): this network reads none
                old = out[key] = old[:, : old.shape[1] - 2 * scale]
            if old is None or target is None or old.shape[1] >= target.shape[1] or (old.shape[1] // scale - prefix) % 4:
                continue
            k_old = (old.shape[1] // scale - prefix) // 4
            k_new, shift = self.context_slices, self.context_slices - k_old
            mapping = list(range(prefix)) + [prefix + j + shift for j in range(2 * k_old)] + [prefix + 2 * k_new + j + shift for j in range(2 * k_old)]
            wide = old.new_zeros(old.shape[0], target.shape[1], *old.shape[2:])
            for old_channel, new_channel in enumerate(mapping):
                wide[:, new_channel * scale : (new_channel + 1) * scale] = old[:, old_channel * scale : (old_channel + 1) * scale]
            out[key] = wide
        prefix = "slice_network."
        inner = {key[len(prefix):]: value for key, value in out.items() if key.startswith(prefix)}
        out.update({prefix + key: value for key, value in self.slice_network.adapt_checkpoint(inner).items()})
        return out

    def forward(
        self, x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor = 1, correlation: Any = None
    ) -> torch.Tensor:
        """Denoise a batch of magnitude volumes.

        Args:
            x: noisy volumes ``(B, 1, H, W, D)``, slices along the last axis; any depth ``D >= 1``.
            noise_std: the noise level, required: a number, ``(B,)`` values, or a map like ``x``; when it is not known,
                estimate it first, once per volume: :func:`~monai_nad.transforms.blind_noise_std` (as the inferers do).
            coils: receiver coils of a sum-of-squares magnitude (1: Rician); a number, or one per volume ``(B,)``
                (any positive number: see :func:`check_coils`).
            correlation: the noise's correlation widths along the volume's axes ``(H, W[, D])``, one row for all volumes
                or one per volume ``(B, 2|3)`` (:attr:`~monai_nad.transforms.NoiseEstimate.correlation_lengths`); the slice
                network reads the in-plane two when built with ``correlation_input`` (None: white), and ignores them
                otherwise.

        Returns:
            denoised volumes of ``x``'s shape.

        Raises:
            TypeError, ValueError: a bad batch (see :func:`~monai_nad.networks.check_image_batch`; the in-plane axes
                need at least 3 voxels) or noise level (None included).
        """
        check_image_batch(x, 3, 1, 1)
        if min(x.shape[2:4]) < self.min_spatial_size:
            raise ValueError(f"input in-plane size {tuple(x.shape[2:4])} is too small: H and W need at least {self.min_spatial_size} voxels.")
        b, _, h, w, d = x.shape
        coils_t = check_coils(coils, x)
        sigma = noise_std_map(x, noise_std)
        neighbours = reflected_neighbours(d, self.context_slices, x.device)  # (D, 2k)
        slices = x[:, 0].permute(0, 3, 1, 2)  # (B, D, H, W)
        levels = sigma[:, 0].permute(0, 3, 1, 2)
        coil_slices = torch.broadcast_to(coils_t.reshape(-1, 1), (b, d)).reshape(-1) if coils_t.numel() > 1 else coils_t[:1]
        flat = slices.reshape(b * d, 1, h, w)
        flat_levels = levels.reshape(b * d, 1, h, w)
        index = (torch.arange(b, device=x.device)[:, None, None] * d + neighbours[None]).reshape(b * d, -1)  # (B*D, 2k)
        widths = None
        if correlation is not None and self.slice_network.correlation_input:
            widths = torch.as_tensor(correlation, dtype=torch.float64)
            widths = widths.reshape(-1, widths.shape[-1])[:, :2]  # the in-plane axes H, W
            widths = widths.repeat_interleave(d, dim=0) if widths.shape[0] == b and b > 1 else widths
        out = torch.empty_like(flat)
        chunk = max(1, min(self.slice_batch, self.pixel_budget // (h * w)))
        for start in range(0, b * d, chunk):
            stop = min(start + chunk, b * d)
            context = flat[:, 0][index[start:stop]]  # (n, 2k, H, W)
            coil = coil_slices[start:stop] if coil_slices.numel() > 1 else coil_slices[:1]
            rows = None if widths is None else (widths if widths.shape[0] == 1 else widths[start:stop])
            out[start:stop] = self.slice_network(flat[start:stop], noise_std=flat_levels[start:stop], coils=coil, context=context, correlation=rows)
        out = out.reshape(b, d, h, w).permute(0, 2, 3, 1).unsqueeze(1).contiguous()
        if self.axis_diffusion is not None:
            out = self.axis_diffusion(out, sigma)
        if self.volume_head is None:
            return out
        return self._volume_head(out, x, sigma, coils_t)

    def _volume_head(self, y: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, coils: torch.Tensor) -> torch.Tensor:
        """Add the volumetric head's residual to the slice results ``y``, block by block along the slices."""
        xn, sn, coil, scale = normalised_inputs(x, sigma, coils, self.slice_network.scale_quantile)
        inputs = torch.cat([y / scale, xn, remove_magnitude_bias(xn * xn, 2.0 * coil * sn * sn, floor=SQUARED_FLOOR), sn], dim=1)
        halo, d = self.volume_layers, x.shape[-1]
        residual = torch.empty_like(y)
        for start in range(0, d, self.slice_batch):
            stop = min(start + self.slice_batch, d)
            lo, hi = max(0, start - halo), min(d, stop + halo)
            residual[..., start:stop] = self.volume_head(inputs[..., lo:hi])[..., start - lo : stop - lo]
        high = torch.amax(x, dim=list(range(2, x.ndim)), keepdim=True)
        return denormalised_output(y + residual * scale, high)

    def flops_per_pixel(self) -> float:
        """Multiply-adds per voxel: those of the 2D network (its extra context inputs included), of the slice-axis
        diffusion (about 8 per step) and of the volumetric head."""
        axis = 0.0 if self.axis_diffusion is None else 8.0 * self.axis_diffusion.steps
        head = 0 if self.volume_head is None else sum(m.weight.numel() for m in self.volume_head.modules() if isinstance(m, nn.Conv3d))
        return self.slice_network.flops_per_pixel() + axis + 2.0 * head
