"""A 3x3(x3) convolution with few output channels, computed on the CPU as one matrix product and shifted sums.

oneDNN runs a convolution with one to four output channels (the heads' last layers of
:class:`~monai_nad.networks.NoiseConditionedPDE`) far below its speed on wide layers: there is too little output to
vectorise over. Such a convolution is ``y(p) = b + sum_k W_k x(p + k)`` over the kernel's offsets ``k``; the
products ``W_k x`` of every offset are one matrix product over the channels (few rows: ``out_channels`` times the
kernel's size), and ``y`` is their sum, each read at its offset. The same numbers to float round-off (about 1e-6),
with the same arguments, parameters and state dict as :class:`torch.nn.Conv2d` / :class:`torch.nn.Conv3d`
(:class:`NarrowConv2d`, :class:`NarrowConv3d`).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn as nn

__all__ = ["NARROW_CONV", "NARROW_OUTPUT_CHANNELS", "NarrowConv2d", "NarrowConv3d", "narrow_conv"]

#: Output channels up to which :func:`narrow_conv` computes a convolution by its offsets' products.
NARROW_OUTPUT_CHANNELS = 4


def narrow_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A stride-1 convolution with zero padding of half the kernel (the output has ``x``'s spatial shape), as the sum
    of its kernel offsets' products.

    Args:
        x: ``(B, C, H, W[, D])``, contiguous or channels-last (the matrix product reads either without a copy).
        weight: ``(O, C, k, k[, k])`` with an odd ``k``.
        bias: ``(O,)`` or None.

    Returns:
        ``(B, O, H, W[, D])``, contiguous.
    """
    b, c, *spatial = x.shape
    dims, out, size = len(spatial), weight.shape[0], weight.shape[-1]
    radius = size // 2
    rows = weight.permute(0, *range(2, 2 + dims), 1).reshape(-1, c)  # (O * k^dims, C)
    products = torch.matmul(rows, x.flatten(2)).view(b, out, *[size] * dims, *spatial)  # flatten: a view in either layout
    centre = (slice(None), slice(None)) + (radius,) * dims
    y = products[centre].clone()
    if bias is not None:
        y += bias.reshape(1, out, *[1] * dims)
    for offset in itertools.product(range(size), repeat=dims):
        shift = [k - radius for k in offset]
        if not any(shift):
            continue
        target = tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip(shift, spatial))
        source = tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip(shift, spatial))
        y[(slice(None), slice(None)) + target] += products[(slice(None), slice(None)) + offset + source]
    return y


class _NarrowForward:
    """The forward of :class:`NarrowConv2d` / :class:`NarrowConv3d`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _narrow_applies(self, x):
            return narrow_conv(x, self.weight, self.bias)
        return super().forward(x)  # type: ignore[misc]


def _narrow_applies(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`narrow_conv` computes ``conv(x)``: few outputs, a plain odd kernel with zero padding of half its
    size, a batched ``x`` in float32 on the CPU, no autograd."""
    k = conv.kernel_size[0]
    plain = (
        conv.out_channels <= NARROW_OUTPUT_CHANNELS and conv.groups == 1 and conv.padding_mode == "zeros" and k % 2 == 1
        and all(v == k for v in conv.kernel_size) and all(v == 1 for v in conv.stride) and all(v == 1 for v in conv.dilation)
        and all(v == k // 2 for v in conv.padding)
    )
    return (
        plain and x.ndim == conv.weight.ndim and x.device.type == "cpu" and x.dtype == torch.float32 and conv.weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad))
    )


class NarrowConv2d(_NarrowForward, nn.Conv2d):
    """:class:`torch.nn.Conv2d` that runs as :func:`narrow_conv` where that applies (at most
    :data:`NARROW_OUTPUT_CHANNELS` outputs, stride 1, zero padding of half an odd kernel, float32 on the CPU, no
    autograd: inference) and as itself otherwise (training, GPUs, other dtypes). Same arguments, parameters and state
    dict."""


class NarrowConv3d(_NarrowForward, nn.Conv3d):
    """:class:`torch.nn.Conv3d` as :class:`NarrowConv2d` is :class:`torch.nn.Conv2d`."""


#: The class per ``spatial_dims``.
NARROW_CONV = {2: NarrowConv2d, 3: NarrowConv3d}
