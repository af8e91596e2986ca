"""Unrolled Perona-Malik diffusion with a pluggable learned scalar diffusivity (the learned-diffusivity family)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from monai_nad.networks.diffusivity import (
    ContrastParameterDiffusivity,
    Diffusivity,
    FieldsOfExpertsDiffusivity,
    PeronaMalikDiffusivity,
    UNetDiffusivity,
)
from monai_nad.networks.unrolled import UnrolledDenoiser, check_image_batch, level_in_scale
from monai_nad.networks.stencil import SUPPORTED_NEIGHBOURS, DiffusionStencil
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["DIFFUSIVITIES", "make_diffusivity", "DiffusivityPDE"]

#: Named diffusivity variants: ``name -> (class, fixed keyword arguments)``.
DIFFUSIVITIES: dict[str, tuple[type[Diffusivity], dict[str, Any]]] = {
    "pm_exponential": (PeronaMalikDiffusivity, {"form": "exponential"}),
    "pm_rational": (PeronaMalikDiffusivity, {"form": "rational"}),
    "ka": (ContrastParameterDiffusivity, {}),
    "foe_s": (FieldsOfExpertsDiffusivity, {"activation": "spline"}),
    "foe_d": (FieldsOfExpertsDiffusivity, {"activation": "decreasing_spline"}),
    "foe_m": (FieldsOfExpertsDiffusivity, {"activation": "monomial"}),
    "foe_rb": (FieldsOfExpertsDiffusivity, {"activation": "roth_black"}),
    "unet": (UNetDiffusivity, {}),
}


def make_diffusivity(name: str, spatial_dims: int = 2, in_channels: int = 1, **kwargs: Any) -> Diffusivity:
    """Build a named diffusivity (see :data:`DIFFUSIVITIES`).

    Args:
        name: e.g. ``"pm_exponential"``, ``"ka"``, ``"foe_s"``, ``"foe_d"``, ``"foe_m"``, ``"foe_rb"``, ``"unet"``.
        spatial_dims: 2 or 3.
        in_channels: image channels.
        kwargs: further arguments of the class, e.g. ``num_experts=35, kernel_size=6`` for FoE.

    Raises:
        ValueError: unknown name.
    """
    if name not in DIFFUSIVITIES:
        raise ValueError(f"unknown diffusivity {name!r}; choose one of {sorted(DIFFUSIVITIES)}.")
    cls, fixed = DIFFUSIVITIES[name]
    return cls(spatial_dims=spatial_dims, in_channels=in_channels, **{**fixed, **kwargs})


class DiffusivityPDE(UnrolledDenoiser):
    """Explicit Perona-Malik diffusion ``u <- u + dt_k div(g(u) grad u)`` with a learned scalar diffusivity.

    The sibling of :class:`~monai_nad.networks.NeuralPDE` for the models of "Learning diffusion functions"
    (the learned-diffusivity family): the same :class:`~monai_nad.networks.stencil.DiffusionStencil` (zero-flux border,
    conservative edge fluxes), but the conductance of an edge is the mean of a node diffusivity ``g >= 0`` at its two ends,
    and ``g`` comes from a :class:`~monai_nad.networks.diffusivity.Diffusivity` re-evaluated on the current
    iterate at every step. The step sizes are learned fractions of the stable bound and adapt to ``max g``
    (:meth:`~monai_nad.networks.stencil.DiffusionStencil.stable_step`), so every variant -- even an
    unbounded FoE diffusivity -- obeys the discrete maximum principle and preserves the mean of the padded
    image. The paper's explicit scheme did not enforce ``dt * g <= 1/4``.

    The paper's configuration is the default: 4 neighbours, 10 steps, 8-pixel padding with each image's mean
    grey value (cropped off at the end).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels (diffused with one shared diffusivity). Defaults to 1.
        diffusivity: a :class:`~monai_nad.networks.diffusivity.Diffusivity` module, or a name of
            :data:`DIFFUSIVITIES`. Defaults to ``"foe_s"``.
        diffusivity_kwargs: arguments for a named diffusivity, e.g. ``{"num_experts": 35, "kernel_size": 6}``.
        neighbours: 4 or 8 in 2D, 6 or 26 in 3D. Defaults to 4 (2D) or 6 (3D).
        steps: number of explicit steps. Defaults to 10.
        padding: pixels of mean-grey padding on every side. Defaults to 8.
        scale_invariant: divide each image by its robust intensity scale first and multiply back at the end
            (see :class:`~monai_nad.networks.NeuralPDE`). Defaults to True.
        scale_quantile: the quantile used as the intensity scale. Defaults to 0.99.
        bias_correction: learned Rician bias correction after the last step, with the noise level the network is
            told (``forward(x, noise_std)``, see :class:`~monai_nad.networks.NeuralPDE`). Defaults to False.

    Raises:
        ValueError: unsupported sizes, unknown diffusivity name, or a diffusivity of other dimensions/channels.

    Example::

        net = DiffusivityPDE(diffusivity="foe_s", diffusivity_kwargs={"num_experts": 35, "kernel_size": 6})
        denoised, g = net.forward_with_diffusivity(torch.rand(2, 1, 64, 64))   # g: (2, 10, 1, 64, 64)
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        diffusivity: Diffusivity | str = "foe_s",
        diffusivity_kwargs: Mapping[str, Any] | None = None,
        neighbours: int | None = None,
        steps: int = 10,
        padding: int = 8,
        scale_invariant: bool = True,
        scale_quantile: float = 0.99,
        bias_correction: bool = False,
    ) -> None:
        super().__init__(scale_invariant, scale_quantile)
        if spatial_dims not in SUPPORTED_NEIGHBOURS:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}.")
        if int(padding) != padding or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, got {padding!r}.")
        if isinstance(diffusivity, str):
            diffusivity = make_diffusivity(diffusivity, spatial_dims, in_channels, **dict(diffusivity_kwargs or {}))
        elif diffusivity_kwargs:
            raise ValueError("diffusivity_kwargs only apply to a diffusivity given by name.")
        if diffusivity.spatial_dims != spatial_dims or diffusivity.in_channels != in_channels:
            raise ValueError(
                f"the diffusivity is for spatial_dims={diffusivity.spatial_dims}, in_channels={diffusivity.in_channels}, "
                f"the network for spatial_dims={spatial_dims}, in_channels={in_channels}."
            )
        self.spatial_dims, self.in_channels, self.steps, self.padding = spatial_dims, in_channels, steps, padding
        self.stencil = DiffusionStencil(spatial_dims, neighbours or min(SUPPORTED_NEIGHBOURS[spatial_dims]))
        self.diffusivity = diffusivity
        #: step sizes as fractions ``sigmoid(logit)`` of the stable bound (0.73 at initialisation)
        self.dt_logits = nn.Parameter(torch.ones(steps))
        self.bias_correction_logit = nn.Parameter(torch.zeros(())) if bias_correction else None
        self.min_spatial_size = 3 if bias_correction else 1

    def step_fractions(self) -> torch.Tensor:
        """Per-step sizes as fractions of the stable bound, ``(T,)`` in ``(0, 1)``."""
        return torch.sigmoid(self.dt_logits)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not self.padding:
            return x
        mean = x.mean(dim=list(range(2, x.ndim)), keepdim=True)
        return F.pad(x - mean, [self.padding, self.padding] * self.spatial_dims) + mean

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        for axis in range(self.spatial_dims):
            x = x.narrow(2 + axis, self.padding, x.shape[2 + axis] - 2 * self.padding)
        return x

    def _run(self, x: torch.Tensor, noise_std: Optional[torch.Tensor], keep: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_image_batch(x, self.spatial_dims, self.in_channels, self.min_spatial_size)
        scale = self.intensity_scale(x)
        sigma = level_in_scale(noise_std, x, scale) if self.bias_correction_logit is not None else None
        x = x / scale
        u = self._pad(x)
        context = self.diffusivity.context(u)
        fractions = self.step_fractions()
        maps: list[torch.Tensor] = []
        for k in range(self.steps):
            g = self.diffusivity(u, context)
            u = self.stencil.stable_step(u, self.stencil.edge_average(g), fractions[k])
            if keep:
                maps.append(self._crop(g).float())
        u = self._crop(u)
        if self.bias_correction_logit is not None and sigma is not None:
            # sqrt(max(u^2 - 2 b sigma^2, 0)), smoothed; b learned in (0, 2)
            strength = 2.0 * torch.sigmoid(self.bias_correction_logit)
            u = remove_magnitude_bias(u * u, 2.0 * strength.to(u.dtype) * sigma ** 2, smooth=1e-6)
        return u * scale, maps

    def forward_with_diffusivity(self, x: torch.Tensor, noise_std: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoise a batch and return the diffusivity of every step.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.
            noise_std: the noise level of ``x``, as :meth:`forward`'s.

        Returns:
            ``(denoised, g)`` with ``g`` of shape ``(B, T, 1, H, W[, D])`` (``g >= 0``; small at edges).
        """
        out, maps = self._run(x, noise_std, True)
        return out, torch.stack(maps, dim=1)
