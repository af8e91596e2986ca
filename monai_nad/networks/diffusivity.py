"""Learned scalar diffusivities ``g >= 0`` of the Perona-Malik model ("Learning diffusion functions").

Every module here maps the current iterate ``u`` of an unrolled diffusion (and, optionally, a context computed
once from the noisy input) to a node diffusivity field ``g`` of shape ``(B, 1, H, W[, D])``.
:class:`~monai_nad.networks.diffusivity_pde.DiffusivityPDE` turns ``g`` into edge conductances and takes
stable explicit steps with it, so all variants share one scheme:

- :class:`PeronaMalikDiffusivity` (``PM``): ``g = exp(-|grad u|^2 / K^2)`` or ``1 / (1 + |grad u|^2 / K^2)``,
  ``K`` fixed or learned.
- :class:`ContrastParameterDiffusivity` (``KA``): the rational form with ``K > 0`` predicted per image by a CNN
  (convolutional and separable convolutional blocks, global pooling, one output unit).
- :class:`FieldsOfExpertsDiffusivity` (``FoE``): ``g = exp(sum_n phi_n(sigmoid(k_n * standardise(u))))`` with
  learned kernels ``k_n`` and learned activations ``phi_n``: linear splines (``"spline"``), monotonically
  decreasing linear splines (``"decreasing_spline"``), monomials (``"monomial"``) or Roth-Black functions
  (``"roth_black"``).
- :class:`UNetDiffusivity`: ``g = sigmoid(UNet(standardise(u)))`` with MONAI's :class:`~monai.networks.nets.UNet`.

Reference: J. Valdivia Ortega, M. Haas, A. Effland, "Learning diffusion functions for image restoration",
IEEE 2024 (hal-04573661) -- our reconstruction on
intensities in ``[0, 1]``; the choices the paper leaves open are written in each class's docstring.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm, Pool
from monai.networks.nets import UNet

__all__ = [
    "DIFFUSIVITY_FORMS",
    "FOE_ACTIVATIONS",
    "squared_gradient_norm",
    "standardise",
    "Diffusivity",
    "PeronaMalikDiffusivity",
    "ContrastParameterDiffusivity",
    "FieldsOfExpertsDiffusivity",
    "UNetDiffusivity",
]

#: The two classic Perona-Malik diffusivities of ``s = |grad u|^2 / K^2``.
DIFFUSIVITY_FORMS = ("exponential", "rational")
#: Activation families of the Fields-of-Experts diffusivity.
FOE_ACTIVATIONS = ("spline", "decreasing_spline", "monomial", "roth_black")


def squared_gradient_norm(u: torch.Tensor) -> torch.Tensor:
    """``|grad u|^2`` as the mean of the squared forward and backward differences, summed over axes and channels.

    Averaging both one-sided differences makes the estimate mirror-symmetric: flipping ``u`` along any axis flips
    the result (a forward difference alone would turn into a backward one). Differences across the border are zero.

    Args:
        u: ``(B, C, H, W[, D])``.

    Returns:
        ``(B, 1, H, W[, D])``.
    """
    total = torch.zeros_like(u[:, :1])
    for axis in range(2, u.ndim):
        squared = torch.diff(u, dim=axis).pow(2).sum(dim=1, keepdim=True)
        before = [0, 0] * (u.ndim - 1 - axis)  # F.pad lists the last axis first
        total = total + 0.5 * (F.pad(squared, before + [0, 1]) + F.pad(squared, before + [1, 0]))
    return total


def standardise(u: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Zero-mean, unit-variance version of every image and channel of ``u`` ``(B, C, ...)``."""
    dims = list(range(2, u.ndim))
    mean = u.mean(dim=dims, keepdim=True)
    std = u.std(dim=dims, keepdim=True) if u[0, 0].numel() > 1 else torch.ones_like(mean)
    return (u - mean) / (std + eps)


def _edge_stopping(s: torch.Tensor, form: str) -> torch.Tensor:
    return torch.exp(-s) if form == "exponential" else 1.0 / (1.0 + s)


def _check_form(form: str) -> str:
    if form not in DIFFUSIVITY_FORMS:
        raise ValueError(f"form must be one of {DIFFUSIVITY_FORMS}, got {form!r}.")
    return form


class Diffusivity(nn.Module):
    """Base class: ``forward(u, context) -> g`` with ``g >= 0`` of shape ``(B, 1, H, W[, D])``.

    ``context(x)`` is called once per forward pass of the diffusion network with the (scaled) noisy input ``x``;
    its result is passed to every step. The default context is ``None``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of ``u``.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        if int(in_channels) != in_channels or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels

    def context(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per-forward-pass context computed from the noisy input ``x`` ``(B, C, H, W[, D])``."""
        return None

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class PeronaMalikDiffusivity(Diffusivity):
    """Classic Perona-Malik diffusivity ``g(|grad u|^2)`` with contrast parameter ``K`` (one parameter).

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of ``u`` (their squared gradients are summed).
        form: ``"exponential"``: ``exp(-|grad u|^2 / K^2)``; ``"rational"``: ``1 / (1 + |grad u|^2 / K^2)``.
        k: initial (or fixed) ``K`` in intensity units. Defaults to 0.2: at a typical noise level (gradients
            ~0.1) ``g`` starts well above 0 and ``K`` gets gradients; a small initial ``K`` stops all diffusion
            and, in the exponential form, all learning of ``K``.
        learn_k: learn ``K`` (as ``softplus`` of a parameter, so it stays positive). Defaults to True.

    Raises:
        ValueError: unknown ``form`` or non-positive ``k``.
    """

    def __init__(
        self, spatial_dims: int = 2, in_channels: int = 1, form: str = "exponential", k: float = 0.2, learn_k: bool = True
    ) -> None:
        super().__init__(spatial_dims, in_channels)
        self.form = _check_form(form)
        if not k > 0:
            raise ValueError(f"k must be positive, got {k!r}.")
        raw = torch.tensor(math.log(math.expm1(k)))  # inverse softplus
        if learn_k:
            self.k_raw = nn.Parameter(raw)
        else:
            self.register_buffer("k_raw", raw)

    @property
    def k(self) -> torch.Tensor:
        """The contrast parameter ``K > 0``."""
        return F.softplus(self.k_raw)

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return _edge_stopping(squared_gradient_norm(u) / self.k.to(u.dtype) ** 2, self.form)


def _separable_block(spatial_dims: int, in_ch: int, out_ch: int) -> nn.Sequential:
    """ReLU, depthwise-separable conv, BN, ReLU, depthwise-separable conv, BN, max-pool by 2 (Xception-style)."""
    conv, norm = Conv[Conv.CONV, spatial_dims], Norm[Norm.BATCH, spatial_dims]

    def separable(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(conv(a, a, 3, padding=1, groups=a, bias=False), conv(a, b, 1, bias=False))

    return nn.Sequential(
        nn.ReLU(),
        separable(in_ch, out_ch),
        norm(out_ch),
        nn.ReLU(),
        separable(out_ch, out_ch),
        norm(out_ch),
        Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2, ceil_mode=True),
    )


class ContrastParameterDiffusivity(Diffusivity):
    """``KA``: the rational Perona-Malik diffusivity with a contrast parameter ``K`` predicted per image by a CNN.

    The CNN follows the paper's "prototypic classifier": convolutional blocks (3x3 conv, batch norm, ReLU; the
    first with stride 2 to keep the CPU cost low), Xception-style separable blocks, global average pooling and
    one output unit. ``K = k_min + k_scale * softplus(output)`` replaces the paper's ``1 + x^2`` activation
    because our intensities are in ``[0, 1]``, not ``[0, 255]``. ``K`` is computed once from the noisy input
    (the paper maps "the corrupted image" to ``K``) and reused by every step.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of ``u``.
        conv_features: widths of the convolutional blocks. Defaults to ``(32, 64)``.
        separable_features: widths of the separable blocks. Defaults to ``(16, 32, 64, 128)``.
        k_min: smallest ``K``. Defaults to 1e-3.
        k_scale: scale of ``K``. Defaults to 0.05.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        conv_features: tuple[int, ...] = (32, 64),
        separable_features: tuple[int, ...] = (16, 32, 64, 128),
        k_min: float = 1e-3,
        k_scale: float = 0.05,
    ) -> None:
        super().__init__(spatial_dims, in_channels)
        conv, norm = Conv[Conv.CONV, spatial_dims], Norm[Norm.BATCH, spatial_dims]
        layers: list[nn.Module] = []
        ch = in_channels
        for i, width in enumerate(conv_features):
            layers += [conv(ch, width, 3, stride=2 if i == 0 else 1, padding=1, bias=False), norm(width), nn.ReLU()]
            ch = width
        for width in separable_features:
            layers.append(_separable_block(spatial_dims, ch, width))
            ch = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch, 1)
        self.k_min, self.k_scale = float(k_min), float(k_scale)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """``K`` per image, ``(B, 1, 1, 1[, 1])``."""
        pooled = self.features(x).flatten(2).mean(dim=2)
        k = self.k_min + self.k_scale * F.softplus(self.head(pooled))
        return k.reshape([x.shape[0]] + [1] * (x.ndim - 1))

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        k = self.context(u) if context is None else context
        return _edge_stopping(squared_gradient_norm(u) / k.to(u.dtype) ** 2, "rational")


class FieldsOfExpertsDiffusivity(Diffusivity):
    """``FoE``: ``g = exp(sum_n phi_n(e_n))`` with experts ``e_n = sigmoid(k_n * standardise(u))`` in ``(0, 1)``.

    The kernels ``k_n`` are a bias-free convolution (``kernel_size`` may be even, e.g. the paper's 6; replicate
    "same" padding). The activations ``phi_n`` are:

    - ``"spline"`` (FoE-S): piecewise linear on ``bins`` equal bins of ``[0, 1]``, a learned value at 0 and a
      learned slope per bin;
    - ``"decreasing_spline"`` (FoE-D): the same with every slope ``-softplus(.) < 0``, so each ``phi_n`` is
      strictly decreasing -- by construction, not by a check;
    - ``"monomial"`` (FoE-M): ``a_n (e - b_n)^(d_n)`` with degree ``d_n = 1 + (n mod degree)``;
    - ``"roth_black"`` (FoE-RB): ``phi_n = -alpha_n log(1 + e^2 / 2)``, ``alpha_n = exp(theta_n)``, i.e.
      ``g = prod_n (1 + e_n^2 / 2)^(-alpha_n)`` in ``(0, 1]``.

    Only FoE-RB is bounded by 1; :class:`~monai_nad.networks.diffusivity_pde.DiffusivityPDE` keeps the others
    stable by adapting its step size to ``max g``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of ``u``.
        num_experts: number of kernels/activations ``N``. Defaults to 30.
        kernel_size: kernel size. Defaults to 5.
        activation: one of :data:`FOE_ACTIVATIONS`. Defaults to ``"spline"``.
        bins: spline bins on ``[0, 1]``. Defaults to 20.
        degree: highest monomial degree. Defaults to 4.

    Raises:
        ValueError: unknown ``activation`` or non-positive sizes.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        num_experts: int = 30,
        kernel_size: int = 5,
        activation: str = "spline",
        bins: int = 20,
        degree: int = 4,
    ) -> None:
        super().__init__(spatial_dims, in_channels)
        if activation not in FOE_ACTIVATIONS:
            raise ValueError(f"activation must be one of {FOE_ACTIVATIONS}, got {activation!r}.")
        for name, value in (("num_experts", num_experts), ("kernel_size", kernel_size), ("bins", bins), ("degree", degree)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        self.activation, self.num_experts, self.bins = activation, num_experts, bins
        conv = Conv[Conv.CONV, spatial_dims]
        self.kernels = conv(in_channels, num_experts, kernel_size, padding="same", padding_mode="replicate", bias=False)
        n = num_experts
        if activation in ("spline", "decreasing_spline"):
            # start near g = 1 everywhere with gently decreasing activations (diffuse in flat regions first)
            self.offset = nn.Parameter(torch.zeros(n))
            init = -0.1 if activation == "spline" else math.log(math.expm1(0.1))
            self.slopes = nn.Parameter(torch.full((n, bins), init))
        elif activation == "monomial":
            self.coefficients = nn.Parameter(torch.full((n,), -0.1))
            self.centres = nn.Parameter(torch.full((n,), 0.5))
            self.register_buffer("degrees", torch.tensor([1 + (i % degree) for i in range(n)], dtype=torch.float32))
        else:
            self.log_alpha = nn.Parameter(torch.full((n,), math.log(0.5)))

    def bin_slopes(self) -> torch.Tensor:
        """The spline slopes ``(N, bins)`` (strictly negative for FoE-D)."""
        return -F.softplus(self.slopes) if self.activation == "decreasing_spline" else self.slopes

    def activations(self, e: torch.Tensor) -> torch.Tensor:
        """``phi_n(e_n)`` for expert responses ``e`` ``(B, N, ...)`` in ``[0, 1]``; same shape."""
        shape = [1, self.num_experts] + [1] * (e.ndim - 2)
        if self.activation in ("spline", "decreasing_spline"):
            # linear interpolation between the knot values phi_n(j / bins), j = 0..bins
            width = 1.0 / self.bins
            slopes = self.bin_slopes().to(e.dtype)
            knots = torch.cat([torch.zeros_like(slopes[:, :1]), torch.cumsum(slopes * width, dim=1)], dim=1)
            knots = knots + self.offset.to(e.dtype)[:, None]
            position = e.clamp(0.0, 1.0) * self.bins
            index = position.detach().floor().clamp(max=self.bins - 1).long()
            expert = torch.arange(self.num_experts, device=e.device).reshape(shape)
            flat = expert * self.bins + index
            start = knots[:, :-1].reshape(-1)[flat]
            return start + (position - index.to(e.dtype)) * width * slopes.reshape(-1)[flat]
        if self.activation == "monomial":
            a, b = self.coefficients.reshape(shape), self.centres.reshape(shape)
            return a.to(e.dtype) * (e - b.to(e.dtype)).pow(self.degrees.reshape(shape).to(e.dtype))
        alpha = torch.exp(self.log_alpha).reshape(shape).to(e.dtype)
        return -alpha * torch.log1p(0.5 * e * e)

    def experts(self, u: torch.Tensor) -> torch.Tensor:
        """Expert responses ``sigmoid(k_n * standardise(u))``, ``(B, N, H, W[, D])``."""
        return torch.sigmoid(self.kernels(standardise(u)))

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        log_g = self.activations(self.experts(u)).sum(dim=1, keepdim=True)
        return torch.exp(log_g.clamp(max=30.0))  # exp(30) is finite in float32; the step size adapts to max g


class UNetDiffusivity(Diffusivity):
    """``g = sigmoid(UNet(standardise(u)))`` with MONAI's :class:`~monai.networks.nets.UNet`.

    Inputs whose sizes are not multiples of ``2 ** len(strides)`` are replicate-padded for the U-Net and the
    result is cropped back.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of ``u``.
        channels: U-Net widths. Defaults to ``(4, 8, 16)`` (the paper's depth-2 U-Net: 4 and 8, bottleneck 16).
        strides: U-Net strides. Defaults to ``(2, 2)``.
        kernel_size: convolution size. Defaults to 5 (as the paper).
        num_res_units: residual units per block. Defaults to 2.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        channels: tuple[int, ...] = (4, 8, 16),
        strides: tuple[int, ...] = (2, 2),
        kernel_size: int = 5,
        num_res_units: int = 2,
    ) -> None:
        super().__init__(spatial_dims, in_channels)
        self.unet = UNet(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=1,
            channels=channels,
            strides=strides,
            kernel_size=kernel_size,
            up_kernel_size=kernel_size,
            num_res_units=num_res_units,
            norm="batch",
        )
        self.multiple = int(math.prod(strides))

    def forward(self, u: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        sizes = list(u.shape[2:])
        extra = [(-s) % self.multiple for s in sizes]
        x = standardise(u)
        if any(extra):
            pad: list[int] = []
            for e in reversed(extra):
                pad += [0, e]
            x = F.pad(x, pad, mode="replicate")
        g = torch.sigmoid(self.unet(x))
        for axis, s in enumerate(sizes):
            g = g.narrow(2 + axis, 0, s)
        return g
