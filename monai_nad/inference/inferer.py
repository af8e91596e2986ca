"""Apply a 2D denoiser to 2D images and, slice by slice, to 3D volumes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer

from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS, blind_noise_std, estimate_noise_std

__all__ = ["CPU_BATCH_PIXELS", "SliceWiseInferer", "noise_std_arguments", "noise_std_method", "takes_noise_std"]

#: Pixels per call of a 2D network on the CPU that :class:`SliceWiseInferer` keeps to (``cpu_batch_pixels``): about the
#: fastest measured for the shipped 2D model on one thread (from 128 x 128 to 256 x 256 slices; an uncommitted probe).
CPU_BATCH_PIXELS = 2**18


class SliceWiseInferer(Inferer):
    """Run a 2D network on ``(B, C, H, W)`` batches directly and on ``(B, C, X, Y, Z)`` volumes slice by slice.

    Args:
        axis: the spatial axis (0, 1 or 2 of ``X, Y, Z``; -1 is the last) along which 3D volumes are cut.
            Defaults to -1 (axial for RAS-like NIfTI).
        batch_size: slices per network call. Defaults to 16.
        cpu_batch_pixels: on the CPU, fewer slices per call where ``batch_size`` of them would hold more pixels than
            this (never fewer than one): the results are the same, and a call's largest tensors then stay in the
            allocator's reusable memory and the caches, which made the shipped 2D model faster on one thread (an
            uncommitted probe). None: ``batch_size`` always. Defaults to :data:`CPU_BATCH_PIXELS`.
        progress: show a progress bar over the slices of each volume. Defaults to False.
        return_conductance: also compute the network's conductance maps (``forward_with_conductance``), averaged
            over the diffusion steps, and keep them in :attr:`last_conductance` (``(B, E, *spatial)``) for the
            post-processing to save. Defaults to False.
    """

    def __init__(
        self, axis: int = -1, batch_size: int = 16, progress: bool = False, return_conductance: bool = False,
        cpu_batch_pixels: int | None = CPU_BATCH_PIXELS,
    ) -> None:
        super().__init__()
        if axis not in (-3, -2, -1, 0, 1, 2):
            raise ValueError(f"axis must be a spatial axis of a 3D volume (0, 1, 2 or negative), got {axis!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
        self.axis = axis % 3
        if cpu_batch_pixels is not None and cpu_batch_pixels < 1:
            raise ValueError(f"cpu_batch_pixels must be >= 1 or None, got {cpu_batch_pixels!r}.")
        self.batch_size = batch_size
        self.cpu_batch_pixels = cpu_batch_pixels
        self.progress = progress
        self.return_conductance = return_conductance
        self.last_conductance: torch.Tensor | None = None

    def _apply(self, network: Callable[..., torch.Tensor], x: torch.Tensor, conductances: list[torch.Tensor], **kwargs: Any) -> torch.Tensor:
        if not self.return_conductance:
            return network(x, **kwargs)
        forward = getattr(network, "forward_with_conductance", None)
        if forward is None:
            raise ValueError(f"return_conductance needs a network with forward_with_conductance, got {type(network).__name__}.")
        out, conductance = forward(x, **kwargs)
        conductances.append(conductance.mean(dim=1))  # average over the diffusion steps: (N, E, h, w)
        return out

    def _series(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, noise_std: Any = None, coils: Any = None,
                **kwargs: Any) -> torch.Tensor:
        """A 4D series ``(B, V, X, Y, Z)`` for a one-channel network: each of the ``V`` volumes on its own, with its own
        blind noise estimate unless ``noise_std`` gives one per image ``(B,)``, per volume ``(B, V)`` or per voxel (a map
        like ``inputs``)."""
        if self.return_conductance:
            raise ValueError("conductance maps are not available for 4D series; denoise them without saving conductance maps.")
        b, v = inputs.shape[:2]
        sigma = None
        if noise_std is not None:
            sigma = torch.as_tensor(noise_std, dtype=inputs.dtype, device=inputs.device)
            if sigma.shape == inputs.shape:  # a per-voxel map: each volume its own
                sigma = sigma.reshape(b * v, 1, *inputs.shape[2:])
            else:
                sigma = torch.broadcast_to(sigma.reshape(-1, 1) if sigma.ndim <= 1 else sigma, (b, v)).reshape(b * v)
        volumes = inputs.reshape(b * v, 1, *inputs.shape[2:])
        if kwargs.get("correlation") is not None:  # one row of widths per scan: the same for each of its volumes
            widths = torch.as_tensor(kwargs["correlation"], dtype=torch.float64)
            kwargs["correlation"] = widths.reshape(-1, widths.shape[-1]).repeat_interleave(v, dim=0) if widths.ndim == 2 and widths.shape[0] == b else widths
        return self(volumes, network, *args, noise_std=sigma, coils=coils, **kwargs).reshape(inputs.shape)

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, noise_std: torch.Tensor | float | None = None, coils: Any = None,
        correlation: Any = None, **kwargs: Any
    ) -> torch.Tensor:
        """
        Args:
            inputs: ``(B, C, H, W)`` or ``(B, C, X, Y, Z)``; for a one-channel network, ``C > 1`` volumes are a 4D series,
                denoised one volume at a time.
            network: a 2D network mapping ``(N, C, H, W)`` to the same shape.
            noise_std: for networks that take a noise level (``network(x, noise_std=...)``): one value per image
                ``(B,)`` or per image and channel ``(B, C)``, a number, or a per-voxel map of the inputs' shape
                (sliced with them). Without it the level is estimated blindly: a 2D image by itself
                (:func:`~monai_nad.transforms.noise.blind_noise_std`), a volume once from all its voxels
                (:func:`~monai_nad.transforms.noise.estimate_noise_std`; shared by its slices); a network whose
                :func:`noise_std_method` is ``"second_difference"`` (the v0.2 family) is told that estimate of each
                image and slice, as it was trained.
            coils: receiver coils of a sum-of-squares magnitude (non-central chi noise), for such networks.
            correlation: the noise's correlation widths along the two axes of each slice, ``(2,)`` for all images or
                ``(B, 2)``, for a network that takes them (``network(x, ..., correlation=...)``, e.g. a
                :class:`~monai_nad.networks.NoiseConditionedPDE` built with ``correlation_input``); ignored otherwise.

        Returns:
            the network output, same shape as ``inputs``.
        """
        if inputs.ndim == 5 and inputs.shape[1] > 1 and network_in_channels(network) == 1:
            return self._series(inputs, network, *args, noise_std=noise_std, coils=coils, correlation=correlation, **kwargs)
        conductances: list[torch.Tensor] = []
        conditioned = takes_noise_std(network)
        if noise_std is not None and not conditioned:
            raise _takes_no_level(network)
        method = noise_std_method(network)
        extra: dict[str, Any] = {}
        n_coils = 1 if coils is None else float(torch.as_tensor(coils).flatten()[0])
        if conditioned and coils is not None and takes_argument(network, "coils"):
            extra["coils"] = n_coils
        widths = None
        if correlation is not None and takes_argument(network, "correlation"):
            widths = torch.as_tensor(correlation, dtype=torch.float64)
            widths = widths.reshape(-1, widths.shape[-1])
            if widths.shape[0] not in (1, inputs.shape[0]):
                raise ValueError(f"correlation needs one row of widths for all images or one per image ({inputs.shape[0]}), got {tuple(widths.shape)}.")
            extra["correlation"] = widths
        if inputs.ndim == 4:
            if conditioned:  # the level is decided here, once per image, never by the network
                if noise_std is None:
                    noise_std = blind_noise_std(inputs, coils=n_coils, method=method)
                extra["noise_std"] = torch.as_tensor(noise_std, dtype=inputs.dtype, device=inputs.device)
            out = self._apply(network, inputs, conductances, **extra)
            self.last_conductance = conductances[0] if conductances else None
            return out
        if inputs.ndim != 5:
            raise ValueError(f"expected a (B, C, H, W) or (B, C, X, Y, Z) batch, got shape {tuple(inputs.shape)}.")
        b, c = inputs.shape[:2]
        sigma = None
        per_slice = conditioned and noise_std is None and method == "second_difference"  # as the v0.2 family was trained
        if conditioned and not per_slice:
            if noise_std is None:
                noise_std = estimate_noise_std(inputs, coils=n_coils, max_voxels=VOLUME_ESTIMATE_VOXELS)
            sigma = torch.as_tensor(noise_std, dtype=inputs.dtype, device=inputs.device)
            if sigma.shape != inputs.shape:  # one level per volume (a map like the inputs is sliced with them)
                sigma = torch.broadcast_to(sigma.reshape(-1, 1) if sigma.ndim <= 1 else sigma, (b, c))
        moved = torch.movedim(inputs, 2 + self.axis, 2)  # (B, C, S, h, w)
        s = moved.shape[2]

        def as_slices(t: torch.Tensor) -> torch.Tensor:
            return torch.movedim(t, 2 + self.axis, 2).transpose(1, 2).reshape(b * s, c, *moved.shape[3:])

        slices = as_slices(inputs)
        if sigma is None:
            slice_sigma = None
        else:
            slice_sigma = as_slices(sigma) if sigma.shape == inputs.shape else sigma.repeat_interleave(s, dim=0)
        step = self.batch_size
        if self.cpu_batch_pixels is not None and slices.device.type == "cpu":
            step = max(1, min(step, self.cpu_batch_pixels // max(1, slices.shape[-2] * slices.shape[-1])))
        starts = range(0, slices.shape[0], step)
        if self.progress and len(starts) > 1:  # a volume of one batch needs no second bar beside the images bar
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="slices", unit="batch", leave=False)
        chunks = []
        slice_widths = None if widths is None or widths.shape[0] == 1 else widths.repeat_interleave(s, dim=0)
        for i in starts:
            if slice_sigma is not None:
                extra["noise_std"] = slice_sigma[i : i + step]
            elif per_slice:
                extra["noise_std"] = blind_noise_std(slices[i : i + step], method=method)
            if slice_widths is not None:
                extra["correlation"] = slice_widths[i : i + step]
            chunks.append(self._apply(network, slices[i : i + step], conductances, **extra))
        out = torch.cat(chunks)

        def restack(t: torch.Tensor) -> torch.Tensor:
            t = t.reshape(b, s, t.shape[1], *moved.shape[3:]).transpose(1, 2)
            return torch.movedim(t, 2, 2 + self.axis)

        self.last_conductance = restack(torch.cat(conductances)) if conductances else None
        return restack(out)


def network_in_channels(network: Callable[..., torch.Tensor]) -> int | None:
    """The ``in_channels`` of ``network`` or of the network inside a wrapper (``.network``, ``.module``), if it says."""
    for candidate in (network, getattr(network, "network", None), getattr(network, "module", None)):
        channels = getattr(candidate, "in_channels", None)
        if isinstance(channels, int):
            return channels
    return None


def noise_std_method(network: Callable[..., torch.Tensor]) -> str:
    """The blind estimate ``network`` is told when its noise level is not known: the method of
    :func:`~monai_nad.transforms.noise.blind_noise_std` it names in ``noise_std_method`` (that of the v0.2 Neural PDE
    and its family, trained with it: ``"second_difference"``), ``"auto"`` for the others."""
    for candidate in (network, getattr(network, "module", None)):
        method = getattr(candidate, "noise_std_method", None)
        if isinstance(method, str):
            return method
    return "auto"


def takes_noise_std(network: Callable[..., torch.Tensor]) -> bool:
    """Whether ``network`` (or the module inside a wrapper) accepts a ``noise_std`` argument."""
    return takes_argument(network, "noise_std")


def takes_argument(network: Callable[..., torch.Tensor], name: str) -> bool:
    """Whether ``network`` (or the module inside a wrapper) accepts the keyword argument ``name``."""
    forward = getattr(network, "forward", network)
    try:
        return name in inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return False


def noise_std_arguments(
    network: Callable[..., torch.Tensor], x: torch.Tensor, noise_std: float | torch.Tensor | None = None, coils: int | torch.Tensor = 1
) -> dict[str, Any]:
    """The keyword arguments that tell ``network`` the noise level of the batch ``x``, decided here once.

    A network that takes a level (:func:`takes_noise_std`) gets ``{"noise_std": ...}``: the given ``noise_std``, or
    without one the blind estimate of each image (:func:`~monai_nad.transforms.noise.blind_noise_std` for ``coils``
    receiver coils, by the network's :func:`noise_std_method`); a network that takes none gets ``{}``.

    Raises:
        ValueError: a ``noise_std`` given for a network that takes none.

    Example::

        denoised = network(x, **noise_std_arguments(network, x))
    """
    if not takes_noise_std(network):
        if noise_std is not None:
            raise _takes_no_level(network)
        return {}
    return {"noise_std": blind_noise_std(x, coils=coils, method=noise_std_method(network)) if noise_std is None else noise_std}


def _takes_no_level(network: Callable[..., torch.Tensor]) -> ValueError:
    return ValueError(f"this network ({type(network).__name__}) does not take a noise level; run it without a known noise_std.")
