"""Properties of the conservative diffusion stencil."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from monai_nad.networks import DiffusionStencil, stencil_offsets

CASES = [(2, 4), (2, 8), (3, 6), (3, 26)]


@pytest.mark.parametrize("spatial_dims,neighbours,expected_total", [(2, 4, 4.0), (2, 8, 6.0), (3, 6, 6.0), (3, 26, 6 + 6 + 8 / 3)])
def test_offsets_cover_each_undirected_edge_once(spatial_dims, neighbours, expected_total):
    stencil = DiffusionStencil(spatial_dims, neighbours)
    offsets = [tuple(o) for o in stencil.offsets]
    assert len(offsets) == neighbours // 2
    full = set(offsets) | {tuple(-v for v in o) for o in offsets}
    assert len(full) == neighbours
    assert math.isclose(stencil.total_weight, expected_total)


@pytest.mark.parametrize("spatial_dims,neighbours", [(1, 2), (2, 6), (3, 8), (4, 8)])
def test_unsupported_stencils_raise(spatial_dims, neighbours):
    with pytest.raises(ValueError, match="must be"):
        stencil_offsets(spatial_dims, neighbours)


def _grid(spatial_dims: int) -> tuple[int, ...]:
    return (7, 9) if spatial_dims == 2 else (4, 5, 3)


@pytest.mark.parametrize("spatial_dims,neighbours", CASES)
def test_operator_is_symmetric_and_conservative(spatial_dims, neighbours):
    """With fixed edge conductances the step is u + dt*A u with A symmetric and columns summing to 0."""
    torch.manual_seed(0)
    stencil = DiffusionStencil(spatial_dims, neighbours)
    shape = (1, 1) + _grid(spatial_dims)
    c = torch.rand((1, stencil.num_edges) + _grid(spatial_dims), dtype=torch.float64)
    dt = torch.tensor(1.0, dtype=torch.float64)
    n = math.prod(_grid(spatial_dims))
    basis = torch.eye(n, dtype=torch.float64).reshape((n, 1) + _grid(spatial_dims))
    a = (stencil.step(basis, c.expand((n,) + c.shape[1:]), dt) - basis).reshape(n, n)
    torch.testing.assert_close(a, a.T)
    torch.testing.assert_close(a.sum(0), torch.zeros(n, dtype=torch.float64), atol=1e-12, rtol=0)
    # off-diagonal entries are non-negative: diffusion only moves mass down-hill
    off = a - torch.diag(torch.diag(a))
    assert off.min() >= 0
    assert shape[2:] == basis.shape[2:]


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**31 - 1), frac=st.floats(0.0, 1.0))
def test_step_keeps_range_and_mean_for_any_admissible_dt(case, seed, frac):
    spatial_dims, neighbours = case
    gen = torch.Generator().manual_seed(seed)
    stencil = DiffusionStencil(spatial_dims, neighbours)
    u = torch.rand((2, 2) + _grid(spatial_dims), generator=gen, dtype=torch.float64) * 10 - 3
    c = torch.rand((2, stencil.num_edges) + _grid(spatial_dims), generator=gen, dtype=torch.float64)
    dt = torch.tensor(frac / stencil.total_weight, dtype=torch.float64)
    v = stencil.step(u, c, dt)
    dims = tuple(range(2, u.ndim))
    assert (v.amin(dims) >= u.amin(dims) - 1e-12).all()
    assert (v.amax(dims) <= u.amax(dims) + 1e-12).all()
    torch.testing.assert_close(v.mean(dims), u.mean(dims), atol=1e-12, rtol=0)


@pytest.mark.parametrize("spatial_dims,neighbours", CASES)
def test_constant_image_is_a_fixed_point(spatial_dims, neighbours):
    stencil = DiffusionStencil(spatial_dims, neighbours)
    u = torch.full((1, 1) + _grid(spatial_dims), 0.3)
    c = torch.ones((1, stencil.num_edges) + _grid(spatial_dims))
    torch.testing.assert_close(stencil.step(u, c, torch.tensor(1.0 / stencil.total_weight)), u)


@pytest.mark.parametrize("spatial_dims,neighbours", CASES)
def test_stable_step_keeps_the_maximum_principle_for_unbounded_conductances(spatial_dims, neighbours):
    """stable_step adapts its size to max(c): conductances up to 1e4 still give a convex combination."""
    torch.manual_seed(0)
    stencil = DiffusionStencil(spatial_dims, neighbours)
    u = torch.rand((2, 1) + _grid(spatial_dims))
    c = torch.rand((2, stencil.num_edges) + _grid(spatial_dims)) * torch.tensor([1e4, 0.5]).reshape([2] + [1] * (spatial_dims + 1))
    out = stencil.stable_step(u, c, torch.tensor(1.0))
    for b in range(2):
        assert out[b].min() >= u[b].min() - 1e-6 and out[b].max() <= u[b].max() + 1e-6
    # conductances within [0, 1] take the plain step fraction / total_weight
    torch.testing.assert_close(out[1:], stencil.step(u[1:], c[1:], torch.tensor(1.0 / stencil.total_weight)))


@pytest.mark.parametrize("spatial_dims,neighbours", CASES)
def test_step_is_the_flux_form_of_its_edge_differences(spatial_dims, neighbours):
    """The step computed from ``u`` alone equals the one given ``differences(u)`` (zero on edges that leave the grid),
    values and gradients, on an odd-sized grid with a size-1 axis in 3D."""
    stencil = DiffusionStencil(spatial_dims, neighbours)
    shape = (2, 2, 7, 6) if spatial_dims == 2 else (2, 1, 5, 1, 4)
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    c = torch.rand((shape[0], stencil.num_edges, *shape[2:]), generator=gen, dtype=torch.float64, requires_grad=True)
    dt = torch.tensor(0.1, dtype=torch.float64)
    direct, given = stencil.step(u, c, dt), stencil.step(u, c, dt, differences=stencil.differences(u))
    torch.testing.assert_close(direct, given, rtol=0, atol=1e-14)
    for a, b in zip(torch.autograd.grad(direct.square().sum(), (u, c)), torch.autograd.grad(given.square().sum(), (u, c))):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("spatial_dims, neighbours", [(2, 8), (3, 6)])
def test_stable_steps_are_repeated_stable_steps_with_and_without_autograd(spatial_dims, neighbours):
    torch.manual_seed(3)
    stencil = DiffusionStencil(spatial_dims, neighbours)
    shape = (2, 1) + (9, 8, 5)[:spatial_dims]
    u0 = torch.rand(shape)
    c = 1.5 * torch.rand((2, stencil.num_edges) + shape[2:])  # peaks above 1: the step shrinks
    fractions = torch.tensor([0.9, 0.5, 0.7])
    expected = u0
    for f in fractions:
        expected = stencil.stable_step(expected, c, f)
    with torch.no_grad():
        torch.testing.assert_close(stencil.stable_steps(u0, c, fractions), expected, rtol=0, atol=0)
    u = u0.clone().requires_grad_(True)
    stencil.stable_steps(u, c, fractions).sum().backward()
    # conservation: every step keeps the sum, so d(sum)/du is one everywhere
    torch.testing.assert_close(u.grad, torch.ones_like(u))
