"""The learned-diffusivity family (seed 003): shapes, stability, monotonicity and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from monai_nad.networks import (
    DIFFUSIVITIES,
    DiffusivityPDE,
    FieldsOfExpertsDiffusivity,
    PeronaMalikDiffusivity,
    make_diffusivity,
    squared_gradient_norm,
)

NAMES = sorted(DIFFUSIVITIES)


def _image(spatial_dims: int = 2, batch: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    size = (20, 24) if spatial_dims == 2 else (12, 10, 8)
    return torch.rand((batch, 1) + size, generator=generator)


def _perturb(net: torch.nn.Module, scale: float, seed: int = 1) -> None:
    """Push every parameter far from its initialisation (large diffusivities, large step fractions)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_shapes_and_diffusivity_maps(name, spatial_dims):
    net = DiffusivityPDE(spatial_dims=spatial_dims, diffusivity=name, steps=3, padding=2)
    x = _image(spatial_dims)
    out, g = net.forward_with_diffusivity(x)
    assert out.shape == x.shape
    assert g.shape == (x.shape[0], 3, 1) + tuple(x.shape[2:])
    assert torch.isfinite(g).all() and (g >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_maximum_principle_and_mean_for_any_weights(name):
    """Even with weights pushed far from their initialisation (FoE diffusivities up to e^30) every step is a
    convex combination: the result stays within the input's range, and without padding the mean is kept."""
    x = _image()
    for seed in range(3):
        net = DiffusivityPDE(diffusivity=name, steps=6, padding=0, scale_invariant=False)
        _perturb(net, 3.0, seed)
        with torch.no_grad():
            out = net(x)
        assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5
        torch.testing.assert_close(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_finite_gradient(name):
    net = DiffusivityPDE(diffusivity=name, steps=3, padding=4)
    clean = _image(seed=3)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))
    torch.nn.functional.mse_loss(net(noisy), clean).backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(float(p.grad.abs().sum()) > 0 for p in net.diffusivity.parameters())


def test_decreasing_splines_stay_decreasing_after_training_steps():
    """FoE-D: every activation is strictly decreasing by construction, also after an optimiser pushes the raw
    slopes towards increasing ones (the original code's check never fired)."""
    foe = FieldsOfExpertsDiffusivity(activation="decreasing_spline", num_experts=4, kernel_size=3)
    optimiser = torch.optim.SGD(foe.parameters(), lr=10.0)
    e = torch.linspace(0, 1, 101).reshape(1, 1, 101).expand(1, 4, 101)
    for _ in range(5):
        optimiser.zero_grad()
        (-foe.activations(e)[..., -1].sum()).backward()  # reward increasing phi: tries to make slopes positive
        optimiser.step()
        with torch.no_grad():
            phi = foe.activations(e)
        assert (phi[..., 1:] < phi[..., :-1]).all()
    assert (foe.bin_slopes() < 0).all()


def test_plain_splines_can_increase():
    foe = FieldsOfExpertsDiffusivity(activation="spline", num_experts=1, bins=4)
    with torch.no_grad():
        foe.slopes.fill_(1.0)
    e = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 1, 3)
    torch.testing.assert_close(foe.activations(e).flatten(), torch.tensor([0.0, 0.5, 1.0]))


def test_roth_black_is_bounded_by_one():
    foe = FieldsOfExpertsDiffusivity(activation="roth_black", num_experts=5, kernel_size=3)
    _perturb(foe, 2.0)
    g = foe(_image())
    assert (g > 0).all() and (g <= 1).all()


@pytest.mark.parametrize("form,expected", [("exponential", math.exp(-4.0)), ("rational", 1.0 / 5.0)])
def test_perona_malik_forms_on_a_ramp(form, expected):
    """A ramp of slope 0.1 has |grad u|^2 = 0.01 inside; with K = 0.05, s = 4."""
    ramp = (0.1 * torch.arange(8.0)).reshape(1, 1, 1, 8).expand(1, 1, 6, 8).contiguous()
    torch.testing.assert_close(squared_gradient_norm(ramp)[..., 1:-1], torch.full((1, 1, 6, 6), 0.01))
    torch.testing.assert_close(squared_gradient_norm(ramp)[..., [0, -1]], torch.full((1, 1, 6, 2), 0.005))  # one side
    pm = PeronaMalikDiffusivity(form=form, k=0.05, learn_k=False)
    assert not list(pm.parameters())
    torch.testing.assert_close(pm(ramp)[..., 3, 3], torch.tensor([[expected]]), rtol=1e-5, atol=1e-7)


def test_diffusion_stops_at_edges():
    """A learned-K Perona-Malik diffusion with small K keeps a step edge and smooths the flat noisy sides."""
    torch.manual_seed(0)
    clean = torch.zeros(1, 1, 32, 32)
    clean[..., 16:] = 1.0
    noisy = clean + 0.03 * torch.randn_like(clean)
    net = DiffusivityPDE(diffusivity="pm_exponential", diffusivity_kwargs={"k": 0.1}, scale_invariant=False)
    with torch.no_grad():
        out = net(noisy)
    assert (out - clean).pow(2).mean() < 0.5 * (noisy - clean).pow(2).mean()
    assert out[..., 17:].mean() - out[..., :15].mean() > 0.95


def test_scale_invariance():
    net = DiffusivityPDE(diffusivity="foe_s", steps=3)
    x = _image()
    with torch.no_grad():
        torch.testing.assert_close(net(0.25 * x), 0.25 * net(x), atol=1e-5, rtol=1e-4)


def test_input_is_not_modified():
    x = _image()
    before = x.clone()
    DiffusivityPDE(diffusivity="ka", steps=2)(x)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown diffusivity 'foe_x'"):
        make_diffusivity("foe_x")
    with pytest.raises(ValueError, match="activation must be one of"):
        FieldsOfExpertsDiffusivity(activation="cubic")
    with pytest.raises(ValueError, match="form must be one of"):
        PeronaMalikDiffusivity(form="linear")
    with pytest.raises(ValueError, match="spatial_dims=3"):
        DiffusivityPDE(spatial_dims=2, diffusivity=make_diffusivity("unet", spatial_dims=3))
    with pytest.raises(ValueError, match="padding"):
        DiffusivityPDE(padding=-1)
    with pytest.raises(ValueError, match="non-finite"):
        DiffusivityPDE()(torch.full((1, 1, 8, 8), float("nan")))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("form", ["exponential", "rational"])
def test_perona_malik_diffusion_is_mirror_equivariant(spatial_dims, form):
    """Mirroring the image along any axis mirrors the result: no end of an edge is special."""
    torch.manual_seed(0)
    shape = (1, 1) + (10,) * spatial_dims
    x = torch.rand(shape)
    net = DiffusivityPDE(spatial_dims, diffusivity=f"pm_{form}", diffusivity_kwargs={"k": 0.2}, steps=3, padding=0,
                         scale_invariant=False)
    with torch.no_grad():
        out = net(x)
        for axis in range(2, 2 + spatial_dims):
            torch.testing.assert_close(net(x.flip(axis)).flip(axis), out, rtol=0, atol=1e-6)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", sorted(DIFFUSIVITIES))
def test_every_diffusivity_conserves_mass(spatial_dims, name):
    """Without padding, the conservative edge fluxes keep the sum of every image (zero-flux border)."""
    torch.manual_seed(1)
    size = 16 if name == "unet" else 9
    x = torch.rand((2, 1) + (size,) * spatial_dims)
    net = DiffusivityPDE(spatial_dims, diffusivity=name, steps=3, padding=0, scale_invariant=False)
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out.sum(dim=tuple(range(1, x.ndim))), x.sum(dim=tuple(range(1, x.ndim))), rtol=1e-5, atol=1e-4)
