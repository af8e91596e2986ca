"""NarrowConv2d / NarrowConv3d compute what the plain convolutions do, and stay plain where autograd needs them."""

import pytest
import torch
import torch.nn as nn

from monai_nad.networks.narrow_conv import NARROW_CONV, narrow_conv


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("out_channels", [1, 4])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_narrow_conv_matches_the_plain_convolution(spatial_dims, out_channels, channels_last, bias):
    torch.manual_seed(spatial_dims * 10 + out_channels)
    plain = (nn.Conv2d if spatial_dims == 2 else nn.Conv3d)(6, out_channels, 3, padding=1, bias=bias)
    narrow = NARROW_CONV[spatial_dims](6, out_channels, 3, padding=1, bias=bias)
    narrow.load_state_dict(plain.state_dict())
    shape = (2, 6, 9, 7) if spatial_dims == 2 else (2, 6, 5, 7, 4)
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last if spatial_dims == 2 else torch.channels_last_3d)
    with torch.no_grad():
        expected = plain(x)
        torch.testing.assert_close(narrow(x), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(narrow_conv(x, plain.weight, plain.bias), expected, rtol=1e-5, atol=1e-5)


def test_narrow_conv_keeps_autograd_and_wide_layers_plain():
    torch.manual_seed(0)
    narrow = NARROW_CONV[2](5, 2, 3, padding=1)
    x = torch.randn(1, 5, 8, 8, requires_grad=True)
    narrow(x).square().sum().backward()
    plain = nn.Conv2d(5, 2, 3, padding=1)
    plain.load_state_dict(narrow.state_dict())
    y = x.detach().requires_grad_(True)
    plain(y).square().sum().backward()
    torch.testing.assert_close(x.grad, y.grad)
    torch.testing.assert_close(narrow.weight.grad, plain.weight.grad)
    with torch.no_grad():  # an unbatched image (C, H, W), which nn.Conv2d accepts: the plain convolution's result
        torch.testing.assert_close(narrow(x[0]), plain(x[0]))
    wide = NARROW_CONV[2](5, 8, 3, padding=1, padding_mode="replicate")
    with torch.no_grad():  # more outputs and replicate padding: the plain convolution's own result
        torch.testing.assert_close(wide(x), torch.nn.functional.conv2d(torch.nn.functional.pad(x, [1] * 4, mode="replicate"), wide.weight, wide.bias))
