"""The memory layout helpers: a channels-last tensor is recognised, so what is joined to it can follow its layout."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import use_channels_last
from monai_nad.networks.layout import memory_format_of


@pytest.mark.parametrize("layout,shape", [(torch.channels_last, (1, 3, 4, 5)), (torch.channels_last_3d, (1, 3, 4, 5, 2))])
def test_channels_last_is_recognised_and_followed(layout, shape):
    x = torch.rand(shape).to(memory_format=layout)
    assert memory_format_of(x) == layout
    other = torch.rand((1, 1) + shape[2:])
    joined = torch.cat([x, other.to(memory_format=memory_format_of(x))], dim=1)
    assert joined.is_contiguous(memory_format=layout) and not joined.is_contiguous()


def test_a_2d_channels_last_convolution_output_is_channels_last():
    conv = use_channels_last(torch.nn.Conv2d(2, 3, 3), 2)
    assert memory_format_of(conv(torch.rand(1, 2, 6, 7))) == torch.channels_last


def test_plain_tensors_are_contiguous_format():
    assert memory_format_of(torch.rand(2, 3, 4, 5)) == torch.contiguous_format
    assert memory_format_of(torch.rand(2, 1, 4, 5)) == torch.contiguous_format  # one channel: both layouts at once
    assert memory_format_of(torch.rand(3, 4)) == torch.contiguous_format
