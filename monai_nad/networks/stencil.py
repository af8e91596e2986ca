"""Finite-difference stencils and the conservative explicit diffusion step.

The discrete diffusion used by :class:`~monai_nad.networks.NeuralPDE` lives on the *edges* of the
pixel/voxel grid. For a stencil with neighbour offsets ``o`` (each undirected edge direction counted
once, e.g. ``(0, 1)``, ``(1, 0)``, ``(1, 1)``, ``(1, -1)`` for the 8-neighbour 2D stencil), the flux
across the edge between ``x`` and ``x + o`` is

    ``F_o(x) = w_o * c_o(x) * (u(x + o) - u(x))``

with distance weight ``w_o = 1 / |o|^2`` and conductance ``c_o(x)`` in ``[0, 1]`` stored at the
edge's first end. One explicit step is ``u <- u + dt * sum_o (F_o(x) - F_o(x - o))``: the same flux
leaves one end of an edge and enters the other (conservation, hence exact mean preservation), and
edges that would leave the domain carry no flux (zero-flux, Neumann boundary). If
``dt * sum_j w_j c_ij <= 1`` at every node, the update is a convex combination of neighbouring
values, so the discrete maximum principle holds.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

__all__ = ["SUPPORTED_NEIGHBOURS", "stencil_offsets", "stencil_weights", "DiffusionStencil"]

#: Allowed neighbourhood sizes per spatial dimension.
SUPPORTED_NEIGHBOURS: dict[int, tuple[int, ...]] = {2: (4, 8), 3: (6, 26)}


def stencil_offsets(spatial_dims: int, neighbours: int) -> list[list[int]]:
    """Return one offset per undirected edge direction of a stencil.

    Args:
        spatial_dims: 2 or 3.
        neighbours: 4 or 8 in 2D; 6 or 26 in 3D.

    Returns:
        ``neighbours // 2`` offsets, each a list of ``spatial_dims`` integers in ``{-1, 0, 1}``
        whose first non-zero entry is positive (so ``o`` and ``-o`` are never both listed).

    Raises:
        ValueError: for an unsupported ``spatial_dims`` or ``neighbours``.
    """
    if spatial_dims not in SUPPORTED_NEIGHBOURS:
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
    if neighbours not in SUPPORTED_NEIGHBOURS[spatial_dims]:
        raise ValueError(
            f"neighbours must be one of {SUPPORTED_NEIGHBOURS[spatial_dims]} for spatial_dims={spatial_dims}, "
            f"got {neighbours!r}."
        )
    full = neighbours == 3**spatial_dims - 1
    offsets = []
    for offset in itertools.product((-1, 0, 1), repeat=spatial_dims):
        nonzero = [v for v in offset if v != 0]
        if not nonzero or nonzero[0] < 0:
            continue
        if not full and len(nonzero) != 1:
            continue
        offsets.append(list(offset))
    # axis-aligned edges first, then by increasing length: stable, readable channel order
    offsets.sort(key=lambda o: (sum(abs(v) for v in o), [-v for v in o]))
    return offsets


def stencil_weights(offsets: list[list[int]]) -> list[float]:
    """Distance weights ``1 / |o|^2`` of the edge directions (1 axis-aligned, 1/2 face- and 1/3 body-diagonal)."""
    return [1.0 / float(sum(v * v for v in o)) for o in offsets]


def _shift(padded: torch.Tensor, offset: list[int], sizes: list[int]) -> torch.Tensor:
    """Read ``padded`` (padded by one on every spatial side) at ``x + offset`` for every ``x`` of the unpadded grid."""
    out = padded
    for axis in range(len(offset)):
        out = out.narrow(2 + axis, 1 + offset[axis], sizes[axis])
    return out


def _incoming_view(x: torch.Tensor, offset: list[int], sizes: list[int], to: bool) -> torch.Tensor:
    """``x`` at the nodes ``x`` whose ``x - offset`` lies in the grid (``to``), or at those ``x - offset`` (not ``to``):
    an edge's flux is read at its first end and enters its second."""
    out = x
    for axis in range(len(offset)):
        d = offset[axis]
        out = out.narrow(2 + axis, max(0, d) if to else max(0, -d), sizes[axis] - abs(d))
    return out


def _peak(u: torch.Tensor, conductance: torch.Tensor) -> torch.Tensor:
    """``max(1, max_x c)`` per image, shaped to broadcast against ``u``: the stable step is ``fraction / (total_weight *
    peak)``."""
    peak = conductance.detach().flatten(1).amax(dim=1).clamp(min=1.0)
    return peak.reshape([-1] + [1] * (u.ndim - 1))


class DiffusionStencil(torch.nn.Module):
    """Edge differences and the conservative explicit update of a 2D/3D diffusion stencil.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        neighbours: stencil size: 4 or 8 in 2D, 6 or 26 in 3D.

    Example::

        stencil = DiffusionStencil(spatial_dims=2, neighbours=8)
        u = torch.rand(1, 1, 32, 32)
        diffs = stencil.differences(u)                      # (1, 4, 1, 32, 32)
        c = torch.ones(1, stencil.num_edges, 32, 32)
        u_next = stencil.step(u, c, dt=torch.tensor(0.9 / stencil.total_weight))
    """

    def __init__(self, spatial_dims: int = 2, neighbours: int = 8) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.neighbours = neighbours
        self.offsets: list[list[int]] = stencil_offsets(spatial_dims, neighbours)
        self.negated: list[list[int]] = [[-v for v in o] for o in self.offsets]
        self.weights: list[float] = stencil_weights(self.offsets)
        self.diagonal: list[bool] = [sum(1 for v in o if v != 0) > 1 for o in self.offsets]
        self.num_edges = len(self.offsets)
        #: ``sum_j w_j`` over all neighbours of a node: the bound on ``sum_j w_j c_ij`` when ``c <= 1``.
        self.total_weight = 2.0 * math.fsum(self.weights)

    def _pad(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        return F.pad(x, [1, 1] * self.spatial_dims, mode=mode)

    def differences(self, u: torch.Tensor) -> torch.Tensor:
        """Forward differences ``u(x + o) - u(x)`` along every edge direction.

        Args:
            u: ``(B, C, H, W[, D])``.

        Returns:
            ``(B, E, C, H, W[, D])`` with ``E = num_edges``; zero where ``x + o`` lies outside the grid.
        """
        sizes = list(u.shape[2:])
        padded = self._pad(u, "replicate")
        masks = self.edge_mask(u)
        diffs = [(_shift(padded, o, sizes) - u) * masks[:, e : e + 1] for e, o in enumerate(self.offsets)]
        return torch.stack(diffs, dim=1)

    def edge_mask(self, u: torch.Tensor) -> torch.Tensor:
        """``(1, E, H, W[, D])`` indicator of the edges ``(x, x + o)`` whose both ends lie inside the grid."""
        sizes = list(u.shape[2:])
        inside = self._pad(torch.ones([1, 1] + sizes, dtype=u.dtype, device=u.device), "constant")
        return torch.cat([_shift(inside, o, sizes) for o in self.offsets], dim=1)

    def edge_average(self, g: torch.Tensor) -> torch.Tensor:
        """Edge conductances as the mean of a node field at the two ends of every edge.

        Args:
            g: node values ``(B, 1, H, W[, D])``, e.g. a Perona-Malik diffusivity.

        Returns:
            ``(B, E, H, W[, D])``: entry ``e`` at ``x`` is ``(g(x) + g(x + offsets[e])) / 2``, the same whichever end
            of the edge is called ``x`` (edges leaving the grid repeat ``g(x)``; they carry no flux).
        """
        sizes = list(g.shape[2:])
        padded = self._pad(g, "replicate")
        return torch.cat([0.5 * (g + _shift(padded, o, sizes)) for o in self.offsets], dim=1)

    def step(
        self,
        u: torch.Tensor,
        conductance: torch.Tensor,
        dt: torch.Tensor,
        differences: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One explicit, conservative diffusion step ``u + dt * div(c grad u)``.

        Args:
            u: current iterate ``(B, C, H, W[, D])``.
            conductance: edge conductances ``(B, E, H, W[, D])`` in ``[0, 1]``; entry ``e`` at ``x`` belongs
                to the edge ``(x, x + offsets[e])`` and is used for both of its directions. It is shared by
                all channels of ``u``.
            dt: step size, a 0-d tensor or one per image ``(B, 1, 1, 1[, 1])``. Stable and maximum-principle preserving when
                ``dt <= 1 / total_weight``.
            differences: ``differences(u)`` if already computed, to avoid computing it twice.

        Returns:
            the next iterate, same shape and dtype as ``u``; ``u`` is not modified.
        """
        return self._advance(u, self._weighted(conductance, u.dtype), dt, differences)

    def _weighted(self, conductance: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``w_e * c_e`` for every edge direction ``e``, ``(B, E, H, W[, D])`` in ``dtype``, each direction contiguous."""
        weights = torch.tensor(self.weights, dtype=dtype, device=conductance.device)
        return (conductance.to(dtype) * weights.reshape([1, -1] + [1] * self.spatial_dims)).contiguous()

    def _advance(self, u: torch.Tensor, weighted: torch.Tensor, dt: torch.Tensor, differences: torch.Tensor | None) -> torch.Tensor:
        """:meth:`step` with the conductances already weighted (:meth:`_weighted`). Without autograd (inference) the
        fluxes and the step are formed in place too (with it their products must keep their inputs): the same values,
        fewer passes over memory."""
        sizes = list(u.shape[2:])
        in_place = not torch.is_grad_enabled() or not (u.requires_grad or weighted.requires_grad)
        padded = self._pad(u, "replicate") if differences is None else u  # u: unread placeholder
        update: torch.Tensor | None = None
        for e, o in enumerate(self.offsets):
            if differences is not None:
                diff = differences[:, e]
            else:  # differences(u)'s entry e, without stacking all of them or building the edge mask
                diff = _shift(padded, o, sizes) - u
                if self.diagonal[e]:  # an edge leaving the grid diagonally: replicate padding does not zero it
                    for axis in range(len(o)):
                        if o[axis] != 0:
                            diff.narrow(2 + axis, sizes[axis] - 1 if o[axis] > 0 else 0, 1).zero_()
            wc = weighted[:, e : e + 1]
            flux = diff.mul_(wc) if in_place and differences is None else wc * diff
            update = flux.clone() if update is None else update.add_(flux)  # in place either way: add keeps no input for autograd
            _incoming_view(update, o, sizes, True).sub_(_incoming_view(flux, o, sizes, False))  # F_o(x - o) enters x
        assert update is not None
        dt = dt.to(u.dtype)
        return update.mul_(dt).add_(u) if in_place else u + dt * update

    def stable_step(
        self,
        u: torch.Tensor,
        conductance: torch.Tensor,
        fraction: torch.Tensor,
        differences: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """An explicit step whose size is a ``fraction`` of the largest stable one, for conductances of any size.

        The step size is ``dt = fraction / (total_weight * max(1, max_x c))`` per image, so that
        ``dt * sum_j w_j c_ij <= fraction <= 1`` at every node: the update is a convex combination of
        neighbouring values (discrete maximum principle, unconditional stability) even for an unbounded
        learned diffusivity. For conductances in ``[0, 1]`` this is simply ``fraction / total_weight``.

        Args:
            u: current iterate ``(B, C, H, W[, D])``.
            conductance: non-negative edge conductances ``(B, E, H, W[, D])``.
            fraction: a 0-d tensor in ``(0, 1]``.
            differences: ``differences(u)`` if already computed.

        Returns:
            the next iterate, same shape and dtype as ``u``.
        """
        return self.step(u, conductance, fraction / (self.total_weight * _peak(u, conductance)), differences)

    def stable_steps(self, u: torch.Tensor, conductance: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
        """Several :meth:`stable_step` s with the same conductances, one per entry of ``fractions``: the same result,
        with the conductances' weighting and peak computed once.

        Args:
            u: current iterate ``(B, C, H, W[, D])``.
            conductance: non-negative edge conductances ``(B, E, H, W[, D])``.
            fractions: ``(K,)`` step fractions in ``(0, 1]``.

        Returns:
            the iterate after ``K`` steps, same shape and dtype as ``u``.
        """
        weighted, peak = self._weighted(conductance, u.dtype), _peak(u, conductance)
        for fraction in fractions:
            u = self._advance(u, weighted, fraction / (self.total_weight * peak), None)
        return u
