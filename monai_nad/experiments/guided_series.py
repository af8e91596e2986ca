"""A first series-aware denoiser without training: the shipped volume model, its conductances read from a guide.

A diffusion series is many noisy views of the same anatomy. Its low-rank projection (the series projected onto its
``rank`` leading singular vectors over the voxels) keeps each volume's own contrast with far less noise. Here the
shipped volume model (:class:`~monai_nad.networks.SliceContextPDE`) denoises every volume ``x_v`` as it does today,
except that its encoder, which decides the conductances (where to diffuse) and the features of its refinement head,
reads the projection ``g_v`` of that volume (and of its neighbouring slices) instead of ``x_v``; the diffusion, the
bias removal, the detail head and the slice-axis steps still act on ``x_v``. Both are told ``x_v``'s noise level, so
the encoder sees a clean image with ``x_v``'s noise: it diffuses as much as ``x_v`` needs, and stops at the edges
that the whole series shows.

How, without changing the network: one pass of the network on ``g_v`` records what its encoder reads (a forward
pre-hook), and a second pass on ``x_v`` replays it in the same order (the two passes have one shape, so the same
slice chunks and self-ensemble orientations). Twice the network's cost plus the projection.
"""

from __future__ import annotations


import numpy as np
import torch

from monai_nad.data.scans import denormalise_intensity, normalise_intensity
from monai_nad.inference.scan_inferer import inference_dtype
from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS, estimate_noise_std

__all__ = ["low_rank_guide", "EncoderSwap", "GuidedSeriesDenoiser"]


def low_rank_guide(series: np.ndarray, rank: int) -> np.ndarray:
    """The projection of a series onto its ``rank`` leading right singular vectors (over the volumes).

    Args:
        series: ``(X, Y, Z, V)``.
        rank: the number of components kept, ``1 <= rank <= V``.

    Returns:
        ``(X, Y, Z, V)`` float32: ``M U U'`` with ``M`` the series as ``(voxels, V)`` and ``U`` the ``rank`` leading
        eigenvectors of ``M'M``.

    Raises:
        ValueError: ``rank`` out of range.
    """
    volumes = series.shape[-1]
    if not 1 <= rank <= volumes:
        raise ValueError(f"rank must be in [1, {volumes}], got {rank!r}.")
    m = np.asarray(series, dtype=np.float64).reshape(-1, volumes)
    _, vectors = np.linalg.eigh(m.T @ m)  # ascending
    u = vectors[:, -rank:]
    return ((m @ u) @ u.T).reshape(series.shape).astype(np.float32)


class EncoderSwap:
    """A forward pre-hook on an encoder: ``"record"`` keeps what it reads, ``"replay"`` feeds that back in order.

    Args:
        encoder: the module whose input is swapped (e.g. ``SliceContextPDE.slice_network.encoder``).
    """

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.mode: str | None = None
        self.saved: list[torch.Tensor] = []
        self.position = 0
        self.handle = encoder.register_forward_pre_hook(self)

    def __call__(self, module: torch.nn.Module, args: tuple) -> tuple | None:
        if self.mode == "record":
            self.saved.append(args[0].detach())
            return None
        if self.mode == "replay":
            guide = self.saved[self.position]
            self.position += 1
            if guide.shape != args[0].shape:
                raise RuntimeError(f"the guide's encoder input {tuple(guide.shape)} does not match {tuple(args[0].shape)}.")
            return (guide,)
        return None

    def run(self, mode: str, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``fn()`` with the hook in ``mode`` (``"record"`` starts a new recording, ``"replay"`` replays it)."""
        if mode == "record":
            self.saved = []
        self.mode, self.position = mode, 0
        try:
            return fn()
        finally:
            self.mode = None

    def remove(self) -> None:
        self.handle.remove()


class GuidedSeriesDenoiser:
    """The shipped volume model on a series ``(X, Y, Z, V)``, volume by volume, its encoder reading the series' low-rank
    projection (see the module's description).

    The series is scaled as ``monai-nad denoise`` scales a 4D series (one scale for all volumes), each volume's noise
    level estimated blind as :class:`~monai_nad.inference.ScanInferer` does (one white level per volume, one coil),
    and the convolutions run in :func:`~monai_nad.inference.scan_inferer.inference_dtype`'s precision.

    Args:
        volume_network: the shipped volume model (:class:`~monai_nad.networks.SliceContextPDE`).
        rank: components of the guide (:func:`low_rank_guide`).
    """

    def __init__(self, volume_network: torch.nn.Module, rank: int = 8) -> None:
        self.network = volume_network
        self.rank = int(rank)

    def __call__(self, series: np.ndarray) -> np.ndarray:
        scaled, params = normalise_intensity(series)
        guide = low_rank_guide(scaled, min(self.rank, scaled.shape[-1]))
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(scaled, -1, 0)))  # (V, X, Y, Z)
        g = torch.from_numpy(np.ascontiguousarray(np.moveaxis(guide, -1, 0)))
        noise_stds = estimate_noise_std(x[:, None], max_voxels=VOLUME_ESTIMATE_VOXELS)[:, 0]
        swap = EncoderSwap(self.network.slice_network.encoder)
        dtype = inference_dtype()
        out = torch.empty_like(x)
        try:
            with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                for v in range(x.shape[0]):
                    noise_std = noise_stds[v : v + 1]
                    swap.run("record", lambda: self.network(g[v][None, None], noise_std=noise_std))
                    out[v] = swap.run("replay", lambda: self.network(x[v][None, None], noise_std=noise_std))[0, 0].float()
        finally:
            swap.remove()
        return denormalise_intensity(np.moveaxis(out.numpy(), 0, -1), params)

