"""Memory layout of convolution weights: channels-last, which oneDNN (CPU) and cuDNN (GPU with AMP) run faster."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["memory_format_of", "use_channels_last"]


def use_channels_last(module: nn.Module, spatial_dims: int) -> nn.Module:
    """Store the module's convolution weights channels-last (``torch.channels_last`` in 2D, ``channels_last_3d`` in 3D).

    A convolution whose weight is channels-last returns a channels-last result for any input, so the whole network
    runs in that layout without touching its inputs; the numbers are the same up to summation order (about 1e-6).
    Loading a state dict keeps the layout (``copy_`` keeps the destination's strides), and so does ``.to(device)``.
    On one CPU thread this made a forward pass of the real-scan Neural PDE about a third faster
    (``python scripts/benchmark_real_anatomy.py`` reports the times).

    Args:
        module: the network, changed in place.
        spatial_dims: 2 or 3.

    Returns:
        ``module``.
    """
    layout = torch.channels_last if spatial_dims == 2 else torch.channels_last_3d
    return module.to(memory_format=layout)


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """The layout of a 4D or 5D tensor (``channels_last`` / ``channels_last_3d`` where it is stored so and not also
    contiguous, e.g. a convolution's output here), to bring a tensor joined to it into the same layout: ``torch.cat``
    of mixed layouts returns a contiguous result, which the next channels-last convolution copies back."""
    for layout, ndim in ((torch.channels_last, 4), (torch.channels_last_3d, 5)):
        if x.ndim == ndim and not x.is_contiguous() and x.is_contiguous(memory_format=layout):
            return layout
    return torch.contiguous_format
