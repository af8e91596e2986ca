"""Behaviour and guarantees of the Neural PDE network."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.networks import NeuralPDE
from monai_nad.transforms.noise import second_difference_noise_std

CASES = [(2, 4), (2, 8), (3, 6), (3, 26)]


def _shape(spatial_dims: int, batch: int = 2, channels: int = 1) -> tuple[int, ...]:
    return (batch, channels) + ((13, 10) if spatial_dims == 2 else (6, 7, 5))


def _randomise(net: torch.nn.Module, gen: torch.Generator, scale: float) -> None:
    """Replace every weight by random values (the guarantees must hold for any weights, not only trained ones)."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)


@pytest.mark.parametrize("spatial_dims,neighbours", CASES)
@pytest.mark.parametrize("guidance,refine", [(True, True), (False, False)])
def test_shapes_and_conductance_maps(spatial_dims, neighbours, guidance, refine):
    net = NeuralPDE(spatial_dims, neighbours=neighbours, steps=3, guidance=guidance, refine=refine)
    x = torch.rand(_shape(spatial_dims))
    y, c = net.forward_with_conductance(x)
    assert y.shape == x.shape
    assert c.shape == (x.shape[0], 3, neighbours // 2) + x.shape[2:]
    assert c.min() >= 0 and c.max() <= 1
    torch.testing.assert_close(net(x), y)


@pytest.mark.parametrize("shape", [(1, 1, 2, 2), (3, 1, 17, 5), (1, 1, 64, 63)])
def test_any_size_and_batch(shape):
    net = NeuralPDE(2, steps=2)
    assert net(torch.rand(shape)).shape == shape


def test_multichannel_input():
    net = NeuralPDE(2, in_channels=3, steps=2)
    x = torch.rand(2, 3, 16, 12)
    assert net(x).shape == x.shape


@settings(max_examples=12, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.3, 1.0, 5.0]))
def test_diffusion_guarantees_hold_for_random_weights_over_many_steps(case, seed, scale):
    """Without refinement: maximum principle, exact mean preservation and stability, for any weights."""
    spatial_dims, neighbours = case
    gen = torch.Generator().manual_seed(seed)
    net = NeuralPDE(spatial_dims, neighbours=neighbours, steps=150, refine=False).double()
    _randomise(net, gen, scale)
    x = (torch.rand(_shape(spatial_dims), generator=gen, dtype=torch.float64) - 0.5) * 4
    with torch.no_grad():
        y = net(x)
    dims = tuple(range(2, x.ndim))
    assert torch.isfinite(y).all()
    assert (y.amin(dims) >= x.amin(dims) - 1e-10).all()
    assert (y.amax(dims) <= x.amax(dims) + 1e-10).all()
    torch.testing.assert_close(y.mean(dims), x.mean(dims), atol=1e-10, rtol=0)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_step_sizes_are_constrained(spatial_dims):
    net = NeuralPDE(spatial_dims, steps=5)
    with torch.no_grad():
        net.dt_logits.copy_(torch.tensor([-50.0, -1.0, 0.0, 3.0, 50.0]))
    dt = net.step_sizes()
    assert (dt > 0).all() or dt[0] == 0
    assert (dt * net.stencil.total_weight <= 1.0 + 1e-7).all()


def test_diffusion_smooths_noise_untrained():
    torch.manual_seed(0)
    net = NeuralPDE(2, steps=8, refine=False)
    clean = torch.full((1, 1, 32, 32), 0.5)
    noisy = clean + 0.1 * torch.randn_like(clean)
    with torch.no_grad():
        out = net(noisy)
    assert (out - clean).pow(2).mean() < 0.5 * (noisy - clean).pow(2).mean()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_reach_every_part_including_guidance(spatial_dims):
    torch.manual_seed(0)
    net = NeuralPDE(spatial_dims, steps=2)
    # the refinement output layer starts at zero; give it weights so that gradients flow through it too
    with torch.no_grad():
        net.refine_net[4].weight.normal_(0, 0.1)
    x = torch.rand(_shape(spatial_dims))
    loss = (net(x) - 0.5).pow(2).mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    assert any(n.startswith("guidance_net") for n, _ in net.named_parameters())


def test_parameter_budget_of_default_configuration():
    for spatial_dims in (2, 3):
        n = sum(p.numel() for p in NeuralPDE(spatial_dims).parameters())
        assert n <= 50_000, (spatial_dims, n)


def test_switches_change_architecture():
    full = sum(p.numel() for p in NeuralPDE(2).parameters())
    no_guidance = sum(p.numel() for p in NeuralPDE(2, guidance=False).parameters())
    no_refine = sum(p.numel() for p in NeuralPDE(2, refine=False).parameters())
    assert no_guidance < full and no_refine < full


def test_input_is_not_modified():
    net = NeuralPDE(2, steps=2)
    x = torch.rand(1, 1, 16, 16)
    before = x.clone()
    net(x).sum().backward()
    torch.testing.assert_close(x, before)


@pytest.mark.parametrize(
    "x,error,match",
    [
        (torch.rand(1, 16, 16), ValueError, r"shape \(1, 16, 16\)"),
        (torch.rand(1, 1, 4, 16, 16), ValueError, "5 dimensions"),
        (torch.rand(1, 2, 16, 16), ValueError, "2 channels"),
        (torch.rand(0, 1, 16, 16), ValueError, "empty"),
        (torch.rand(1, 1, 1, 16), ValueError, "too small"),
        (torch.tensor([[[[0.0, float("nan")], [1.0, 2.0]]]]), ValueError, "1 non-finite"),
        (torch.full((1, 1, 4, 4), float("inf")), ValueError, "16 non-finite"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), TypeError, "uint8"),
        (torch.zeros(1, 1, 8, 8, dtype=torch.int64).numpy(), TypeError, "ndarray"),
    ],
)
def test_bad_input_raises_naming_the_problem(x, error, match):
    net = NeuralPDE(2, steps=1)
    with pytest.raises(error, match=match):
        net(x)


@pytest.mark.parametrize(
    "kwargs", [{"spatial_dims": 4}, {"neighbours": 6}, {"steps": 0}, {"in_channels": -1}, {"refine_layers": 1}]
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        NeuralPDE(**kwargs)


def test_autocast_bfloat16():
    torch.manual_seed(0)
    net = NeuralPDE(2, steps=4)
    x = torch.rand(2, 1, 24, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    assert torch.isfinite(y).all()
    assert (y.float() - net(x)).abs().max() < 0.05


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("refine_layers", [3, 6])
def test_torchscript_trace_and_export_match_eager(spatial_dims, refine_layers):
    torch.manual_seed(0)
    net = NeuralPDE(spatial_dims, steps=2, refine_layers=refine_layers).eval()
    x = torch.rand(_shape(spatial_dims, batch=1))
    other = torch.rand(_shape(spatial_dims, batch=1))
    with torch.no_grad():
        expected = net(other)
        scripted = torch.jit.script(net)
        torch.testing.assert_close(scripted(other), expected)
        out, c = scripted.forward_with_conductance(other)
        assert c.shape[1] == 2
        traced = torch.jit.trace(net, x, check_trace=False)
        torch.testing.assert_close(traced(other), expected)
        exported = torch.export.export(net, (x,))
        torch.testing.assert_close(exported.module()(other), expected)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_scale_invariance(spatial_dims, bias_correction):
    """A scan at another intensity scale is denoised the same way: net(a*x) == a*net(x)."""
    torch.manual_seed(0)
    net = NeuralPDE(spatial_dims, steps=3, bias_correction=bias_correction).double()
    with torch.no_grad():
        net.refine_net[4].weight.normal_(0, 0.1)
        net.conduction_net[0].weight.normal_(0, 0.3)
        x = torch.rand(_shape(spatial_dims), dtype=torch.float64)
        for a in (0.01, 0.3, 250.0):
            # the blind noise estimate selects pixels by a threshold: rounding can flip one, hence rtol 1e-5
            torch.testing.assert_close(net(a * x, second_difference_noise_std(a * x)), a * net(x, second_difference_noise_std(x)), rtol=1e-5, atol=1e-6 * a)


def test_scale_variant_network_is_not_invariant():
    torch.manual_seed(0)
    net = NeuralPDE(2, steps=3, scale_invariant=False)
    x = torch.rand(1, 1, 16, 16)
    assert not torch.allclose(net(0.3 * x), 0.3 * net(x), atol=1e-4)


def test_refinement_depth_and_identity_start():
    x = torch.rand(2, 1, 16, 16)
    shallow, deep = NeuralPDE(2, steps=2, refine_layers=3), NeuralPDE(2, steps=2, refine_layers=6)
    n_conv = lambda net: sum(isinstance(m, torch.nn.Conv2d) for m in net.refine_net)  # noqa: E731
    assert (n_conv(shallow), n_conv(deep)) == (3, 6)
    # a fresh refinement head is the identity: the output equals the diffusion alone
    plain = NeuralPDE(2, steps=2, refine=False)
    plain.load_state_dict(deep.state_dict(), strict=False)
    with torch.no_grad():
        torch.testing.assert_close(deep(x), plain(x))



@settings(max_examples=8, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**31 - 1), offset=st.sampled_from([0.0, -2.0, 5.0]))
def test_refined_output_stays_in_the_input_range_for_any_weights(case, seed, offset):
    """With the refinement head, min(0, min x) <= net(x) <= max(x) still holds (a magnitude image stays non-negative)."""
    spatial_dims, neighbours = case
    gen = torch.Generator().manual_seed(seed)
    net = NeuralPDE(spatial_dims, neighbours=neighbours, steps=3, refine=True).double()
    _randomise(net, gen, 1.0)
    x = torch.rand(_shape(spatial_dims), generator=gen, dtype=torch.float64) + offset
    with torch.no_grad():
        y = net(x)
        unclamped = NeuralPDE(spatial_dims, neighbours=neighbours, steps=3, refine=True, clamp_to_input_range=False).double()
        unclamped.load_state_dict(net.state_dict())
        z = unclamped(x)
    dims = tuple(range(2, x.ndim))
    low, high = x.amin(dims, keepdim=True).clamp(max=0.0), x.amax(dims, keepdim=True)
    assert (y >= low - 1e-12).all() and (y <= high + 1e-12).all()
    if offset >= 0:
        assert (y >= 0).all()  # non-negative input, non-negative output
    assert ((z < low) | (z > high)).any()  # random heads do leave the range
    torch.testing.assert_close(y, torch.maximum(torch.minimum(z, high), low))
