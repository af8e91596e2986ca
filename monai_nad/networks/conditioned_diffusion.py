"""The learned-diffusivity family ("Learning diffusion functions") given what the noise-conditioned Neural PDE is given.

:class:`NoiseConditionedDiffusion` wraps a :class:`~monai_nad.networks.DiffusivityPDE` so that it trains and runs
with the real-scan recipe of the Neural PDE and the CNN baselines: the same call ``net(x, noise_std, coils=1)``,
the same robust intensity scale, the same noise level (given, or estimated first by the caller with the same estimator,
:func:`~monai_nad.transforms.blind_noise_std`) and a
second-moment Rician/non-central-chi bias removal. Only the denoising model differs, so a comparison trained with
the same recipe compares models:

1. ``x`` and its noise map are divided by the image's robust intensity scale (:func:`normalised_inputs`);
2. the image is rescaled so that its mean noise level becomes ``noise_unit`` (0.1 by default, near the paper's
   sigma 25/255, where the diffusivities' initial parameters suit): the learned diffusivity sees gradients in units of
   the noise (a Perona-Malik contrast parameter ``K`` becomes a multiple of sigma, as the classical method tunes it);
3. the :class:`~monai_nad.networks.DiffusivityPDE` diffuses it (stable explicit steps, mean preserving) and the
   result is multiplied back;
4. the noise bias is removed by ``sqrt(max(u^2 - b 2 N sigma^2, 0))`` with a learned strength ``b = 2 sigmoid(l)``
   (smoothing a magnitude, not its square, leaves part of the bias: the strength is learned, starting at 1);
5. the result is clamped to ``[0, max x]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from monai_nad.networks.conditioned_pde import SQUARED_FLOOR, denormalised_output, normalised_inputs
from monai_nad.networks.diffusivity_pde import DiffusivityPDE
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["NoiseConditionedDiffusion"]


class NoiseConditionedDiffusion(nn.Module):
    """A learned-diffusivity Perona-Malik denoiser with the Neural PDE's inputs, noise handling and output range.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels ``C``. Defaults to 1.
        diffusivity: a name of :data:`~monai_nad.networks.DIFFUSIVITIES`. Defaults to ``"foe_s"``.
        diffusivity_kwargs: its size arguments, e.g. ``{"kernel_size": 5, "num_experts": 30}``.
        neighbours: 4 or 8 in 2D, 6 or 26 in 3D. Defaults to 4 (2D) or 6 (3D), as in the paper.
        steps: explicit steps. Defaults to 10, as in the paper.
        padding: pixels of mean-grey padding on every side during the diffusion. Defaults to 8, as in the paper.
        scale_quantile: quantile of ``|x|`` used as the intensity scale. Defaults to 0.99.
        noise_unit: the noise level the image is rescaled to before the diffusion. Defaults to 0.1.

    Raises:
        ValueError: see :class:`~monai_nad.networks.DiffusivityPDE`.

    Example::

        net = NoiseConditionedDiffusion(diffusivity="ka")
        noisy = torch.rand(2, 1, 64, 64)
        denoised = net(noisy, noise_std=0.05)
        denoised = net(noisy, noise_std=blind_noise_std(noisy))  # the level not known: estimated first
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        diffusivity: str = "foe_s",
        diffusivity_kwargs: Mapping[str, Any] | None = None,
        neighbours: int | None = None,
        steps: int = 10,
        padding: int = 8,
        scale_quantile: float = 0.99,
        noise_unit: float = 0.1,
    ) -> None:
        super().__init__()
        self.pde = DiffusivityPDE(
            spatial_dims, in_channels, diffusivity, diffusivity_kwargs, neighbours, steps, padding, scale_invariant=False
        )
        if not noise_unit > 0:
            raise ValueError(f"noise_unit must be positive, got {noise_unit!r}.")
        self.spatial_dims, self.in_channels, self.scale_quantile, self.noise_unit = spatial_dims, in_channels, scale_quantile, noise_unit
        self.min_spatial_size = 3
        #: the learned strength of the bias removal, ``b = 2 sigmoid(logit)`` (1 at the start)
        self.bias_logit = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor = 1) -> torch.Tensor:
        """Denoise a batch of magnitude images ``(B, C, H, W[, D])`` (arguments as the Neural PDE's; ``noise_std`` is
        required).

        Returns:
            denoised images of ``x``'s shape, in ``[0, max x]``.
        """
        xn, sn, coils_t, scale = normalised_inputs(x, noise_std, coils, self.scale_quantile)
        axes = list(range(2, x.ndim))
        level = torch.clamp(sn.mean(dim=axes, keepdim=True), min=1e-4) / self.noise_unit
        u = self.pde(xn / level) * level
        b = 2.0 * torch.sigmoid(self.bias_logit)
        v = remove_magnitude_bias(u * u, b * 2.0 * coils_t * sn * sn, floor=SQUARED_FLOOR)
        return denormalised_output(v, torch.amax(xn, dim=axes, keepdim=True), scale)  # v >= sqrt(SQUARED_FLOOR): the clamp at 0 keeps it
