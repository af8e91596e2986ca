"""The Neural PDE: a learned Perona-Malik diffusion unrolled into a network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn as nn
from monai.networks.layers.factories import Conv
from monai.utils import ensure_tuple_rep

from monai_nad.networks.mini_unet import MiniUNet
from monai_nad.networks.stencil import SUPPORTED_NEIGHBOURS, DiffusionStencil
from monai_nad.networks.unrolled import UnrolledDenoiser, check_image_batch, level_in_scale
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["NeuralPDE", "check_image_batch"]


class NeuralPDE(UnrolledDenoiser):
    """Learned anisotropic (Perona-Malik type) diffusion unrolled into ``steps`` explicit steps.

    Each step computes ``u_{k+1} = u_k + dt_k * sum_j w_j c_ij (u_j - u_i)`` over the 4/8 (2D) or 6/26 (3D)
    neighbours ``j`` of every pixel ``i`` (distance weights ``w_j = 1/|o_j|^2``, zero-flux boundary), see
    :class:`~monai_nad.networks.stencil.DiffusionStencil`. The edge conductances ``c`` in ``[0, 1]`` are
    predicted at every step by one *conduction network* shared by all steps, from the current iterate, its
    edge differences and the guidance features that a :class:`~monai_nad.networks.mini_unet.MiniUNet`
    computes once from the noisy input. A conductance belongs to an edge, so the flux ``i -> j`` equals the
    flux ``j -> i``. The step sizes are learned per step and constrained to
    ``dt_k = sigmoid(theta_k) / sum_j w_j``, so ``dt_k * sum_j w_j c_ij <= 1`` everywhere: each step is a
    convex combination of neighbouring values. The diffusion part therefore is unconditionally stable,
    obeys the discrete maximum principle ``min(u_0) <= u_k <= max(u_0)`` and preserves the mean of every
    image and channel exactly. A residual refinement head (small CNN on the diffused image, the input and
    the guidance features) follows the last step; it does not preserve the mean, but its output is clamped to
    ``[min(0, min x), max x]`` by default (``clamp_to_input_range``): a magnitude image stays non-negative. It
    can be turned off.

    Original idea: T. Nayak, "Neural anisotropic diffusion: unrolling a PDE for medical image denoising";
    P. Perona and J. Malik, "Scale-space and edge detection using anisotropic diffusion", IEEE TPAMI 1990.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels ``C`` (diffused with shared conductances). Defaults to 1.
        neighbours: 4 or 8 in 2D, 6 or 26 in 3D. Defaults to the full stencil (8 or 26).
        steps: number of unrolled diffusion steps ``T``. Defaults to 16.
        guidance: use the MiniUNet guidance encoder. Defaults to True.
        refine: add the residual refinement head. Defaults to True.
        guidance_channels: number of guidance feature maps. Defaults to 8.
        guidance_features: the MiniUNet's two widths. Defaults to ``(16, 32)`` in 2D and ``(8, 16)`` in 3D.
        conduction_features: widths of the conduction network's two hidden layers (3x3(x3) convolutions,
            the output layer is 1x1). Defaults to ``(32, 16)`` in 2D and ``(16, 16)`` in 3D.
        refine_features: width of the refinement head. Defaults to 16.
        refine_layers: number of 3x3(x3) convolutions of the refinement head (at least 2). Defaults to 3.
        scale_invariant: divide each image by a robust estimate of its intensity scale (the
            ``scale_quantile`` quantile of its absolute values) before denoising and multiply the result
            back, so that ``net(a * x) == a * net(x)`` for any ``a > 0``: scans of any intensity scale
            (and dim tissue) are handled as the training data were. Defaults to True.
        scale_quantile: the quantile used as the intensity scale. Defaults to 0.99.
        bias_correction: after the last diffusion step, remove the Rician (magnitude) noise bias with
            ``sqrt(max(u^2 - 2 b sigma^2, 0))``, ``sigma`` the noise level the network is told (``noise_std``; blind,
            :func:`~monai_nad.transforms.noise.second_difference_noise_std`, in training and inference) and ``b``
            learned in ``(0, 2)``.
            A pointwise, monotone map that only lowers values towards 0, so the result stays within
            ``[0, max(u_0)]`` for non-negative input, whatever the contrast. Defaults to False.
        clamp_to_input_range: clamp the refined output of each image and channel to ``[min(0, min x), max x]``
            for its input ``x``, so that the refinement head keeps a range guarantee: a magnitude (non-negative)
            image stays non-negative and nothing exceeds the input's maximum. No effect without refinement,
            where the maximum principle already holds. Defaults to True.

    Raises:
        ValueError: unsupported ``spatial_dims``/``neighbours``, or a non-positive size argument.

    Example::

        net = NeuralPDE(spatial_dims=2, neighbours=8, steps=16)
        noisy = torch.rand(4, 1, 128, 128)
        denoised = net(noisy)                                   # (4, 1, 128, 128)
        denoised, c = net.forward_with_conductance(noisy)       # c: (4, 16, 4, 128, 128) = (B, T, E, H, W)
        # built with bias_correction=True it is told the level: net(noisy, second_difference_noise_std(noisy))
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        neighbours: int | None = None,
        steps: int = 16,
        guidance: bool = True,
        refine: bool = True,
        guidance_channels: int = 8,
        guidance_features: Sequence[int] | int | None = None,
        conduction_features: Sequence[int] | int | None = None,
        refine_features: int = 16,
        refine_layers: int = 3,
        scale_invariant: bool = True,
        scale_quantile: float = 0.99,
        bias_correction: bool = False,
        clamp_to_input_range: bool = True,
    ) -> None:
        super().__init__(scale_invariant, scale_quantile)
        if spatial_dims not in SUPPORTED_NEIGHBOURS:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if neighbours is None:
            neighbours = max(SUPPORTED_NEIGHBOURS[spatial_dims])
        for arg, value in (
            ("in_channels", in_channels),
            ("steps", steps),
            ("guidance_channels", guidance_channels),
            ("refine_features", refine_features),
            ("refine_layers", refine_layers),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}.")
        if refine_layers < 2:
            raise ValueError(f"refine_layers must be at least 2, got {refine_layers!r}.")
        if guidance_features is None:
            guidance_features = (16, 32) if spatial_dims == 2 else (8, 16)
        if conduction_features is None:
            conduction_features = (32, 16) if spatial_dims == 2 else (16, 16)
        c1, c2 = ensure_tuple_rep(conduction_features, 2)

        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.neighbours = neighbours
        self.steps = steps
        self.use_guidance = guidance
        self.use_refine = refine
        self.use_bias_correction = bias_correction
        self.clamp_to_input_range = clamp_to_input_range
        #: learned Rician correction strength ``b = 2 * sigmoid(logit)`` (1 at initialisation)
        self.bias_correction_logit = nn.Parameter(torch.zeros(())) if bias_correction else None
        self.stencil = DiffusionStencil(spatial_dims, neighbours)
        num_edges = self.stencil.num_edges
        self.max_dt = 1.0 / self.stencil.total_weight
        #: smallest spatial size the network accepts (the guidance encoder pools by 2)
        self.min_spatial_size = 3 if bias_correction else (2 if guidance else 1)

        conv = Conv[Conv.CONV, spatial_dims]
        g_ch = guidance_channels if guidance else 0
        self.guidance_net: nn.Module = (
            MiniUNet(spatial_dims, in_channels, guidance_channels, guidance_features) if guidance else nn.Identity()
        )
        self.conduction_net = nn.Sequential(
            conv(in_channels * (1 + num_edges) + g_ch, c1, 3, padding=1),
            nn.ReLU(inplace=True),
            conv(c1, c2, 3, padding=1),
            nn.ReLU(inplace=True),
            conv(c2, num_edges, 1),
            nn.Sigmoid(),
        )
        # start diffusing (c ~ 0.9) so that an untrained network already smooths
        nn.init.constant_(self.conduction_net[4].bias, 2.0)
        self.dt_logits = nn.Parameter(torch.zeros(steps))
        if refine:
            layers: list[nn.Module] = [conv(2 * in_channels + g_ch, refine_features, 3, padding=1), nn.ReLU(inplace=True)]
            for _ in range(refine_layers - 2):
                layers += [conv(refine_features, refine_features, 3, padding=1), nn.ReLU(inplace=True)]
            layers.append(conv(refine_features, in_channels, 3, padding=1))
            self.refine_net: nn.Module = nn.Sequential(*layers)
            # the refinement starts as the identity and learns a residual
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        else:
            self.refine_net = nn.Identity()

    def step_sizes(self) -> torch.Tensor:
        """The per-step sizes ``dt_k``, shape ``(T,)``, each in ``(0, 1 / sum_j w_j]``."""
        return torch.sigmoid(self.dt_logits) * self.max_dt

    def _run(self, x: torch.Tensor, noise_std: Optional[torch.Tensor], keep_conductance: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            check_image_batch(x, self.spatial_dims, self.in_channels, self.min_spatial_size)
        scale = self.intensity_scale(x)
        sigma = level_in_scale(noise_std, x, scale) if self.bias_correction_logit is not None else x[:, :0]
        x = x / scale
        guide = self.guidance_net(x) if self.use_guidance else x[:, :0]
        fractions = torch.sigmoid(self.dt_logits)
        u = x
        maps: list[torch.Tensor] = []
        for k in range(self.steps):
            diffs = self.stencil.differences(u)
            features = torch.cat([u, diffs.flatten(1, 2), guide.to(u.dtype)], dim=1)
            conductance = self.conduction_net(features)
            u = self.stencil.stable_step(u, conductance, fractions[k], diffs)
            if keep_conductance:
                maps.append(conductance.float())
        if self.bias_correction_logit is not None:
            # sqrt(max(u^2 - 2 b sigma^2, 0)), smoothed; b learned in (0, 2)
            strength = 2.0 * torch.sigmoid(self.bias_correction_logit)
            u = remove_magnitude_bias(u * u, 2.0 * strength.to(u.dtype) * sigma ** 2, smooth=1e-6)
        if self.use_refine:
            residual = self.refine_net(torch.cat([u, x, guide.to(u.dtype)], dim=1))
            u = u + residual.to(u.dtype)
            if self.clamp_to_input_range:
                dims = list(range(2, x.ndim))
                # [min(0, min x), max x]: a non-negative (magnitude) image stays non-negative, without lifting
                # its dark background to the smallest noisy value
                low = torch.clamp(torch.amin(x, dim=dims, keepdim=True), max=0.0)
                high = torch.amax(x, dim=dims, keepdim=True)
                u = torch.clamp(u, min=low.to(u.dtype), max=high.to(u.dtype))
        return u * scale, maps

    @torch.jit.export
    def forward_with_conductance(self, x: torch.Tensor, noise_std: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoise a batch and return the conductances of every step.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.
            noise_std: the noise level of ``x``, as :meth:`forward`'s.

        Returns:
            ``(denoised, conductance)`` with ``denoised`` as :meth:`forward` and ``conductance`` of shape
            ``(B, T, E, H, W[, D])``: the conductance of edge direction ``e`` (see ``stencil.offsets``)
            at step ``t``, in ``[0, 1]`` (1 = free diffusion, 0 = an edge that stops it).
        """
        out, maps = self._run(x, noise_std, True)
        return out, torch.stack(maps, dim=1)
