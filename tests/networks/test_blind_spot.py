"""The blind-spot network never sees the pixels it predicts."""

from __future__ import annotations

import pytest
import torch

from monai_nad.networks import BlindSpotNetwork


def _input_gradient(net, x, position):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[(0, 0) + position], x)
    return grad[0, 0]


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("radius", [0, 1])
def test_output_does_not_depend_on_the_hidden_block(spatial_dims, radius):
    torch.manual_seed(0)
    net = BlindSpotNetwork(spatial_dims, features=6, depth=2, radius=radius)
    size = 17 if spatial_dims == 2 else 13
    x = torch.rand((1, 1) + (size,) * spatial_dims)
    for position in [(size // 2,) * spatial_dims, (0,) * spatial_dims, (size - 1,) + (1,) * (spatial_dims - 1)]:
        grad = _input_gradient(net, x, position)
        block = tuple(slice(max(0, p - radius), p + radius + 1) for p in position)
        assert grad[block].abs().max() == 0.0, f"output at {position} depends on its blind spot"
        assert (grad.abs() > 0).sum() > 8, "the network should see the neighbourhood"


def test_a_mutated_first_layer_breaks_the_blind_spot():
    """The property test can fail: un-masking the centre weight makes the output depend on the pixel itself."""
    torch.manual_seed(0)
    net = BlindSpotNetwork(2, features=4, depth=1)
    net.head.mask[..., 1, 1] = 1.0
    grad = _input_gradient(net, torch.rand(1, 1, 11, 11), (5, 5))
    assert grad[5, 5].abs() > 0


def test_scale_invariance_and_shape():
    torch.manual_seed(0)
    net = BlindSpotNetwork(2, features=8, depth=2).eval()
    x = torch.rand(2, 1, 23, 19)
    with torch.no_grad():
        out, scaled = net(x), net(7.0 * x)
    assert out.shape == x.shape
    torch.testing.assert_close(scaled, 7.0 * out, rtol=1e-4, atol=1e-5)


def test_bad_inputs_and_arguments_are_named():
    net = BlindSpotNetwork(2, features=4, depth=1, radius=1)
    with pytest.raises(ValueError, match="too small"):
        net(torch.rand(1, 1, 4, 30))
    with pytest.raises(ValueError, match="non-finite"):
        net(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="spatial_dims"):
        BlindSpotNetwork(4)
    with pytest.raises(ValueError, match="radius"):
        BlindSpotNetwork(2, radius=-1)


def test_trained_on_noisy_images_only_it_denoises():
    """A few hundred steps of ``mse(net(y), y)`` on noisy images: the output is closer to the clean image than y."""
    torch.manual_seed(0)
    coords = torch.linspace(0, 1, 32)
    clean = ((coords[:, None] > 0.5).float() * 0.6 + 0.2 + 0.1 * torch.sin(6 * coords)[None, :]).expand(8, 1, 32, 32)
    noisy = clean + 0.1 * torch.randn_like(clean)
    net = BlindSpotNetwork(2, features=16, depth=2, scale_invariant=False)
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(250):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(net(noisy), noisy)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        error = (net(noisy) - clean).square().mean()
    assert error < 0.5 * (noisy - clean).square().mean()
