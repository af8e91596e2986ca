"""The noise-conditioned Neural PDE: diffusion of the squared magnitude steered by a noise-aware encoder.

The v0.2 Neural PDE ran its conduction network at full resolution in every step and did not know the noise
level. This network computes the conductances once per group of steps from a half-resolution encoder that is
given the noise level as a map (as FFDNet does), diffuses the *squared* magnitude, whose local mean is
``A^2 + 2 N sigma^2`` for any local signal ``A`` (Rician: ``N = 1``; non-central chi: ``N`` coils), and removes the
noise bias with the stated second-moment formula ``sqrt(max(u - 2 N sigma^2, 0))``: no learned constant. A
residual refinement head, also at half resolution and also given the noise map, follows.

References:
    K. Zhang, W. Zuo, L. Zhang, "FFDNet: toward a fast and flexible solution for CNN-based image denoising",
    IEEE TIP 2018 (noise-level map input, pixel-unshuffle).
    P. Perona and J. Malik, "Scale-space and edge detection using anisotropic diffusion", IEEE TPAMI 1990.
    G. McGibney and M. R. Smith, "An unbiased signal-to-noise ratio measure for magnetic resonance images",
    Med. Phys. 1993 (second-moment bias correction).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from monai.networks.utils import pixelshuffle, pixelunshuffle

from monai_nad.networks.layout import memory_format_of, use_channels_last
from monai_nad.networks.narrow_conv import NARROW_CONV
from monai_nad.networks.self_ensemble import orientations, turn, turn_back
from monai_nad.networks.stencil import SUPPORTED_NEIGHBOURS, DiffusionStencil
from monai_nad.networks.unrolled import check_image_batch, robust_intensity_scale
from monai_nad.transforms.noise import remove_magnitude_bias

__all__ = ["CORRELATED_WIDTH", "MISSING_NOISE_STD", "NoiseConditionedPDE", "SQUARED_FLOOR", "check_coils", "denormalised_output", "noise_std_map", "normalised_inputs"]

#: the floor under the root of the noise-conditioned networks' bias correction
#: (:func:`~monai_nad.transforms.noise.remove_magnitude_bias` of intensity-normalised squared magnitudes): it keeps
#: the gradient finite where the correction clips.
SQUARED_FLOOR = 1e-6
#: a correlation width (pixels, full width at half maximum of the noise's autocorrelation; 1 for white noise) above
#: which :class:`NoiseConditionedPDE` counts an image's noise as correlated (``correlated_self_ensemble``): the blind
#: estimator reads 1.0 on white and SENSE noise, 1.8-1.9 on partial Fourier 5/8, 3.2-3.7 on Hann-filtered k-space
CORRELATED_WIDTH = 1.25

#: what a noise-conditioned network called without a noise level says
MISSING_NOISE_STD = (
    "this network needs the noise level noise_std (a number, one value per image (B,) or (B, C), or a map like the "
    "image); when it is not known, estimate it first: noise_std = monai_nad.transforms.blind_noise_std(x) (what "
    "monai-nad denoise and the inferers do)."
)


def noise_std_map(x: torch.Tensor, noise_std: float | torch.Tensor) -> torch.Tensor:
    """The noise standard deviation of every pixel of ``x`` as a map ``(B, C, H, W[, D])``.

    Args:
        x: noisy magnitude images ``(B, C, H, W[, D])``.
        noise_std: a number, a tensor ``(B,)`` or ``(B, C)`` (one value per image or per image and channel, e.g.
            :func:`~monai_nad.transforms.blind_noise_std`), or a map broadcastable to ``x`` (spatially varying).

    Returns:
        a non-negative map with ``x``'s shape, dtype and device.

    Raises:
        ValueError: no noise level (None), a negative or non-finite one, or a shape that does not fit ``x``.
    """
    if noise_std is None:
        raise ValueError(MISSING_NOISE_STD)
    sigma = torch.as_tensor(noise_std, dtype=x.dtype, device=x.device)
    if sigma.ndim == 1 and sigma.shape[0] == x.shape[0] and x.shape[0] != 1:
        sigma = sigma[:, None]
    if sigma.ndim <= 2:
        sigma = sigma.reshape(list(sigma.shape) + [1] * (x.ndim - sigma.ndim))
    try:
        sigma = torch.broadcast_to(sigma, x.shape)
    except RuntimeError as err:
        raise ValueError(f"noise_std of shape {tuple(sigma.shape)} does not fit images of shape {tuple(x.shape)}.") from err
    if not bool(torch.isfinite(sigma).all()) or bool((sigma < 0).any()):
        raise ValueError("noise_std must be finite and non-negative.")
    return sigma


def check_coils(coils: int | float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The coil count(s) a noise-conditioned network is given, as a flat tensor of ``like``'s dtype and device.

    ``coils`` sets the magnitude bias ``2 N s^2`` that the networks remove by formula. It may be any positive number:
    an effective ``N`` (correlated coils), or the ``N / f^2`` of a white-equivalent level ``f s``
    (:func:`~monai_nad.transforms.white_equivalent_factor`), which keeps the bias of the true level ``s``. (A blind
    estimate of the level, :func:`~monai_nad.transforms.blind_noise_std`, needs an integer count.)

    Raises:
        ValueError: a count that is not positive and finite.
    """
    coils_t = torch.as_tensor(coils, dtype=like.dtype, device=like.device).reshape(-1)
    if not bool(torch.isfinite(coils_t).all()) or bool((coils_t <= 0).any()):
        raise ValueError(f"coils must be positive, got {coils!r}.")
    return coils_t


def normalised_inputs(
    x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor, scale_quantile: float = 0.99
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a noise-conditioned denoiser is given: the image and its noise map divided by the image's robust scale.

    Args:
        x: noisy magnitude images ``(B, C, H, W[, D])``.
        noise_std: the noise level, see :func:`noise_std_map`.
        coils: receiver coils, a number or one per image ``(B,)`` (see :func:`check_coils`).
        scale_quantile: quantile of ``|x|`` used as the intensity scale.

    Returns:
        ``(x / scale, sigma / scale, coils as (B|1, 1, ...), scale (B, 1, ...))``.

    Raises:
        ValueError: no noise level or a bad one, or a coil count that is not positive.
    """
    coils_t = check_coils(coils, x).reshape(-1, *[1] * (x.ndim - 1))
    sigma = noise_std_map(x, noise_std)
    scale = robust_intensity_scale(x, scale_quantile)
    return x / scale, sigma / scale, coils_t, scale


def denormalised_output(v: torch.Tensor, high: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """What a noise-conditioned denoiser returns: its result ``v`` clamped to ``[0, high]`` and multiplied back by the
    intensity scale of :func:`normalised_inputs`.

    Args:
        v: the result in normalised units ``(B, C, ...)``.
        high: the largest value kept, e.g. the maximum of each normalised input ``(B, C, 1, ...)``.
        scale: the scale ``v`` is multiplied by after the clamp; None when ``v`` and ``high`` are already in the
            image's units.

    Returns:
        ``min(max(v, 0), high) * scale``.
    """
    v = torch.minimum(torch.clamp(v, min=0.0), high)
    return v if scale is None else v * scale


class NoiseConditionedPDE(nn.Module):
    """A Neural PDE for magnitude images of any contrast, scale and noise level.

    Steps: (1) each image is divided by a robust intensity scale (``net(a x, a s) == a net(x, s)``); (2) an
    encoder at ``1 / factor`` resolution (pixel-unshuffle) reads the noisy image, its bias-corrected version and
    the noise map; (3) it predicts ``groups`` sets of edge conductances in ``[0, 1]`` (one per group of
    ``steps / groups`` steps), each owned by an edge so that the flux ``i -> j`` equals ``j -> i``; (4) ``steps``
    explicit, provably stable steps (each a convex combination of neighbours: maximum principle, exact mean
    preservation; :class:`~monai_nad.networks.stencil.DiffusionStencil`) diffuse ``u = x^2``; (5)
    ``sqrt(max(u - 2 N sigma^2, 0))`` removes the noise bias; (6) a residual head refines the result, which is
    clamped to ``[0, max x]``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels ``C`` (diffused with shared conductances). Defaults to 1.
        neighbours: 4 or 8 in 2D, 6 or 26 in 3D. Defaults to the full stencil.
        steps: diffusion steps ``T``. Defaults to 12.
        groups: conductance sets; ``steps`` must be a multiple of it. Defaults to 3.
        features: width of the encoder and refinement head. Defaults to 48.
        encoder_layers: 3x3(x3) convolutions of the encoder. Defaults to 5.
        refine_layers: 3x3(x3) convolutions of the refinement head (0: no head). Defaults to 3.
        factor: pixel-unshuffle factor of the encoder and head. Defaults to 2.
        detail_layers: 3x3(x3) convolutions of a full-resolution detail head after the refinement head (0: none).
            It reads the result, the noisy and bias-corrected images and the noise map, and adds a residual that starts
            at zero: edges and fine texture that the half-resolution parts smooth. Defaults to 0.
        detail_features: width of the detail head. Defaults to 16.
        correlation_input: read the noise's correlation (its autocorrelation's full width at half maximum along each
            spatial axis, ``forward(..., correlation=...)``; 1 for white noise) as ``spatial_dims`` constant input maps
            ``log(width)`` of the encoder and the detail head: a level alone cannot tell white noise of that level from
            correlated noise told its white-equivalent level, nor along which axis the noise is correlated. Their weights
            start at zero, so a checkpoint without them initialises this network to the same function. Defaults to False.
        context_channels: extra input channels that guide but are not diffused (for example the neighbouring slices of
            a volume, see :class:`~monai_nad.networks.SliceContextPDE`): given to ``forward(..., context=...)``, divided by
            the image's scale, and read (as is and bias-corrected) by the encoder and the detail head. Their weights start
            at zero, so a checkpoint without context initialises this network to the same function
            (:func:`~monai_nad.engines.widen_input_channels`). Defaults to 0.
        scale_quantile: quantile of ``|x|`` used as the intensity scale. Defaults to 0.99.
        self_ensemble: average the outputs over this many flips/transposes of the image (1, 2, 4 or 8; the
            geometric self-ensemble of Timofte et al. 2016): ``k`` times the cost for a result that no longer depends
            on the image's orientation. Defaults to 1 (one pass). It changes no weights, so a checkpoint serves any
            value.
        correlated_self_ensemble: the orientations for images whose noise is correlated (a correlation width given to
            ``forward`` above :data:`CORRELATED_WIDTH` pixels along some axis: filtered, zero-filled or partial-Fourier
            k-space), where more passes pay most; None: ``self_ensemble`` for every image. The orientations are taken
            in a fixed order, so an image gets the same result whatever the rest of its batch. Defaults to None.

    Raises:
        ValueError: an unsupported ``spatial_dims``/``neighbours``/``self_ensemble`` or a non-positive size.

    Example::

        net = NoiseConditionedPDE(spatial_dims=2)
        noisy = torch.rand(2, 1, 96, 80)
        known = net(noisy, noise_std=0.05)       # or a (B,), (B, C) tensor, or a map like noisy
        blind = net(noisy, noise_std=blind_noise_std(noisy))  # not known: estimated first (monai_nad.transforms)
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        neighbours: int | None = None,
        steps: int = 12,
        groups: int = 3,
        features: int = 48,
        encoder_layers: int = 5,
        refine_layers: int = 3,
        factor: int = 2,
        scale_quantile: float = 0.99,
        self_ensemble: int = 1,
        detail_layers: int = 0,
        detail_features: int = 16,
        context_channels: int = 0,
        correlation_input: bool = False,
        correlated_self_ensemble: int | None = None,
    ) -> None:
        super().__init__()
        orientations(self_ensemble)  # checks the count
        self.self_ensemble = int(self_ensemble)
        if correlated_self_ensemble is not None:
            orientations(correlated_self_ensemble)
        self.correlated_self_ensemble = None if correlated_self_ensemble is None else int(correlated_self_ensemble)
        if spatial_dims not in SUPPORTED_NEIGHBOURS:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}.")
        for name, value, low in (
            ("in_channels", in_channels, 1), ("steps", steps, 1), ("groups", groups, 1), ("features", features, 1),
            ("encoder_layers", encoder_layers, 1), ("refine_layers", refine_layers, 0), ("factor", factor, 1),
            ("detail_layers", detail_layers, 0), ("detail_features", detail_features, 1), ("context_channels", context_channels, 0),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if steps % groups:
            raise ValueError(f"steps ({steps}) must be a multiple of groups ({groups}).")
        if not 0.0 < scale_quantile <= 1.0:
            raise ValueError(f"scale_quantile must be in (0, 1], got {scale_quantile!r}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.context_channels = int(context_channels)
        self.correlation_input = bool(correlation_input)
        self.steps = steps
        self.groups = groups
        self.factor = factor
        self.scale_quantile = scale_quantile
        self.stencil = DiffusionStencil(spatial_dims, neighbours or max(SUPPORTED_NEIGHBOURS[spatial_dims]))
        self.neighbours = self.stencil.neighbours
        #: smallest spatial size accepted
        self.min_spatial_size = 3
        edges = self.stencil.num_edges
        cells = factor**spatial_dims
        conv = Conv[Conv.CONV, spatial_dims]

        # each context channel as is and bias-corrected, then the correlation maps (appended last: a checkpoint without
        # them loads with zero weights there, widen_input_channels)
        extra = 2 * self.context_channels + (spatial_dims if self.correlation_input else 0)
        layers: list[nn.Module] = [conv((3 * in_channels + extra) * cells, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(encoder_layers - 1):
            layers += [conv(features, features, 3, padding=1), nn.ReLU(inplace=True)]
        self.encoder = nn.Sequential(*layers)
        self.conductance_head = conv(features, groups * edges * cells, 3, padding=1)
        nn.init.constant_(self.conductance_head.bias, 2.0)  # start diffusing (c ~ 0.88)
        self.dt_logits = nn.Parameter(torch.zeros(steps))
        self.refine: nn.Module | None = None
        if refine_layers:
            head: list[nn.Module] = []
            width = features + in_channels * cells
            for _ in range(refine_layers - 1):
                head += [conv(width, features, 3, padding=1), nn.ReLU(inplace=True)]
                width = features
            head.append(NARROW_CONV[spatial_dims](width, in_channels * cells, 3, padding=1))
            nn.init.zeros_(head[-1].weight)  # the head starts as the identity
            nn.init.zeros_(head[-1].bias)
            self.refine = nn.Sequential(*head)
        self.detail: nn.Module | None = None
        if detail_layers:
            detail: list[nn.Module] = []
            width = 4 * in_channels + extra
            for _ in range(detail_layers - 1):
                detail += [conv(width, detail_features, 3, padding=1), nn.ReLU(inplace=True)]
                width = detail_features
            detail.append(NARROW_CONV[spatial_dims](width, in_channels, 3, padding=1))  # few outputs: faster so on the CPU
            nn.init.zeros_(detail[-1].weight)  # starts adding nothing
            nn.init.zeros_(detail[-1].bias)
            self.detail = nn.Sequential(*detail)
        use_channels_last(self, spatial_dims)

    def adapt_checkpoint(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint of this network with fewer ``features``, its refinement head's inputs moved to this layout.

        The refinement head's first convolution reads the encoder's features and then the pixel-unshuffled result; with
        more features here the result's weights move up by the difference and the new feature inputs start at zero.
        :func:`~monai_nad.engines.warm_start` applies this, then widens the rest
        (:func:`~monai_nad.engines.widen_input_channels`), so the network computes what the checkpoint did.

        Args:
            state: a state dict of this network class.

        Returns:
            ``state`` with that weight rearranged; unchanged when the widths match or the head is absent.
        """
        key, mine = "refine.0.weight", self.state_dict()
        old, target, encoder = state.get(key), mine.get(key), state.get("encoder.0.weight")
        if old is None or target is None or encoder is None or old.shape[1] >= target.shape[1]:
            return state
        features_old, features_new = encoder.shape[0], mine["encoder.0.weight"].shape[0]
        if old.shape[1] - features_old != target.shape[1] - features_new:
            return state  # not a change of width alone: warm_start names the mismatch
        wide = old.new_zeros(old.shape[0], target.shape[1], *old.shape[2:])
        wide[:, :features_old] = old[:, :features_old]
        wide[:, features_new:] = old[:, features_old:]
        return {**state, key: wide}

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """Replicate-pad every spatial axis to a multiple of ``factor``; return the padded tensor and the sizes."""
        sizes = list(x.shape[2:])
        pads: list[int] = []
        for size in reversed(sizes):
            pads += [0, (-size) % self.factor]
        return (F.pad(x, pads, mode="replicate") if any(pads) else x), sizes

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return pixelunshuffle(x, self.spatial_dims, self.factor) if self.factor > 1 else x

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return pixelshuffle(x, self.spatial_dims, self.factor) if self.factor > 1 else x

    def _context(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor | None:
        if not self.context_channels:
            if context is not None:
                raise ValueError("this network takes no context channels (context_channels=0); call it without context.")
            return None
        expected = (x.shape[0], self.context_channels, *x.shape[2:])
        if context is None or tuple(context.shape) != expected:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"this network needs context of shape {expected} for input {tuple(x.shape)}, got {got}.")
        return context

    def _correlation_maps(self, like: torch.Tensor, correlation: float | Sequence[float] | torch.Tensor | None) -> torch.Tensor | None:
        """``log(width)`` per spatial axis as constant maps ``(B, spatial_dims, ...)`` like ``like`` (None: white)."""
        if not self.correlation_input:
            return None
        b = like.shape[0]
        widths = torch.ones(self.spatial_dims) if correlation is None else torch.as_tensor(correlation, dtype=torch.float64)
        widths = widths.to(dtype=like.dtype, device=like.device)
        if widths.ndim == 1:
            widths = widths[None]
        if widths.ndim != 2 or widths.shape[1] != self.spatial_dims or widths.shape[0] not in (1, b):
            raise ValueError(
                f"correlation must hold one width per spatial axis ({self.spatial_dims}), for all images or one row per image "
                f"({b}), got shape {tuple(widths.shape)}."
            )
        if not bool(torch.isfinite(widths).all()) or bool((widths <= 0).any()):
            raise ValueError("correlation widths must be finite and positive (1 for white noise).")
        logs = torch.log(torch.clamp(widths, min=1.0)).expand(b, -1)
        return logs.reshape(b, self.spatial_dims, *[1] * (like.ndim - 2)).expand(b, self.spatial_dims, *like.shape[2:])

    def _run(
        self, x: torch.Tensor, noise_std, coils: int | torch.Tensor, context: torch.Tensor | None = None, correlation=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_image_batch(x, self.spatial_dims, self.in_channels, self.min_spatial_size)
        context = self._context(x, context)
        xn, sn, coils_t, scale = normalised_inputs(x, noise_std, coils, self.scale_quantile)
        xn, sn = self._pad(xn)[0], self._pad(sn)[0]
        sizes = list(x.shape[2:])
        bias = 2.0 * coils_t * sn * sn
        corrected = remove_magnitude_bias(xn * xn, bias, floor=SQUARED_FLOOR)
        guides = [xn, corrected, sn]
        if context is not None:
            cn = self._pad(context / scale)[0]
            guides += [cn, remove_magnitude_bias(cn * cn, bias, floor=SQUARED_FLOOR)]
        maps = self._correlation_maps(xn, correlation)
        if maps is not None:
            guides.append(maps)
        feats = self.encoder(self._down(torch.cat(guides, dim=1)))
        # in u's dtype once (under autocast the head runs in bfloat16), not once per step
        conductance = self._up(torch.sigmoid(self.conductance_head(feats))).to(xn.dtype)  # the sigmoid commutes with the shuffle: 1/4 of the pixels
        conductance = conductance.unflatten(1, (self.groups, self.stencil.num_edges))
        fractions = torch.sigmoid(self.dt_logits)
        per_group = self.steps // self.groups
        u = xn * xn
        for group in range(self.groups):
            u = self.stencil.stable_steps(u, conductance[:, group], fractions[group * per_group : (group + 1) * per_group])
        v = remove_magnitude_bias(u, bias, floor=SQUARED_FLOOR)
        if self.refine is not None:
            # v in the features' dtype and layout: a mixed cat would promote both to float32 and the convolution
            # cast them back (the same values, two copies of the whole feature map)
            down = self._down(v).to(dtype=feats.dtype, memory_format=memory_format_of(feats))
            v = v + self._up(self.refine(torch.cat([feats, down], dim=1)))
        if self.detail is not None:
            v = v + self.detail(torch.cat([v, *guides], dim=1))
        high = torch.amax(xn, dim=list(range(2, xn.ndim)), keepdim=True)
        crop = [slice(None), slice(None)] + [slice(0, s) for s in sizes]
        return denormalised_output(v, high, scale)[tuple(crop)], conductance[tuple(crop[:1] + [slice(None)] + crop[1:])]

    def forward(
        self, x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor = 1, context: torch.Tensor | None = None,
        correlation: float | Sequence[float] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoise a batch of magnitude images.

        Args:
            x: noisy images ``(B, C, H, W[, D])``, non-negative, any intensity scale.
            noise_std: the noise level (see :func:`noise_std_map`), required: when it is not known, estimate it first
                with :func:`~monai_nad.transforms.blind_noise_std` (as the inferers do).
            coils: receiver coils of a sum-of-squares magnitude (1: Rician); a number, or one per image ``(B,)``.
            context: ``(B, context_channels, H, W[, D])`` guiding images in ``x``'s intensity units (for example its
                neighbouring slices), for a network built with ``context_channels``; None otherwise.
            correlation: the noise's correlation widths (pixels, full width at half maximum of its autocorrelation) along
                each spatial axis, ``(spatial_dims,)`` or ``(B, spatial_dims)``
                (:attr:`~monai_nad.transforms.NoiseEstimate.correlation_lengths`); read by a network built with
                ``correlation_input`` (None: white noise, widths 1) and ignored by one built without.

        Returns:
            denoised images of ``x``'s shape, in ``[0, max x]``.

        Raises:
            TypeError, ValueError: a bad batch (see :func:`~monai_nad.networks.check_image_batch`) or noise level (None
                included).
        """
        passes = self.passes(x.shape[0], correlation)  # per image
        most, fewest = int(passes.max()), int(passes.min())
        if most == 1:
            return self._run(x, noise_std, coils, context, correlation)[0]
        check_image_batch(x, self.spatial_dims, self.in_channels, self.min_spatial_size)
        if noise_std is None:
            raise ValueError(MISSING_NOISE_STD)
        sigma = torch.as_tensor(noise_std, dtype=x.dtype, device=x.device)
        total = torch.zeros_like(x)
        fewer = None  # the mean over the first ``fewest`` orientations (a prefix of the ``most``)
        for count, (flips, transpose) in enumerate(orientations(most), start=1):
            level = turn(sigma, flips, transpose) if sigma.ndim == x.ndim else sigma
            widths = correlation
            if transpose and correlation is not None:  # the last two axes swap: so do their widths
                widths = torch.as_tensor(correlation, dtype=torch.float64)
                widths = torch.cat([widths[..., :-2], widths[..., -1:], widths[..., -2:-1]], dim=-1)
            out = self._run(turn(x, flips, transpose), level, coils, None if context is None else turn(context, flips, transpose), widths)[0]
            total = total + turn_back(out, flips, transpose)
            if count == fewest and fewest < most:
                fewer = total / fewest
        if fewest == most:
            return total / most
        full = (passes == most).to(x.device).reshape(-1, *[1] * (x.ndim - 1))
        return torch.where(full, total / most, fewer)

    def passes(self, batch: int, correlation: float | Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
        """The orientations each image of a batch is averaged over: ``correlated_self_ensemble`` where a correlation
        width exceeds :data:`CORRELATED_WIDTH`, else ``self_ensemble``.

        Args:
            batch: the number of images ``B``.
            correlation: as :meth:`forward`'s (None: white noise).

        Returns:
            ``(B,)`` integer counts.
        """
        counts = torch.full((batch,), self.self_ensemble, dtype=torch.int64)
        if self.correlated_self_ensemble is None or correlation is None:
            return counts
        widths = torch.as_tensor(correlation, dtype=torch.float64).cpu()
        widths = widths.reshape(1, -1) if widths.ndim < 2 else widths.reshape(widths.shape[0], -1)
        correlated = (widths > CORRELATED_WIDTH).any(dim=1).expand(batch)  # one row of widths: every image
        return torch.where(correlated, self.correlated_self_ensemble, counts)

    def forward_with_conductance(
        self, x: torch.Tensor, noise_std: float | torch.Tensor, coils: int | torch.Tensor = 1,
        correlation: float | Sequence[float] | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoise and return the conductances ``(B, groups, E, H, W[, D])`` in ``[0, 1]`` (0 stops diffusion)."""
        return self._run(x, noise_std, coils, None, correlation)

    def flops_per_pixel(self) -> float:
        """Multiply-adds of the convolutions per input pixel (the diffusion steps add ``~4 E T``)."""
        full = sum(m.weight.numel() for m in _convs(self.detail))  # the detail head runs at full resolution
        low = sum(m.weight.numel() for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))) - full
        return 2.0 * (low / self.factor**self.spatial_dims + full) + 8.0 * self.stencil.num_edges * self.steps


def _convs(module: nn.Module | None) -> list[nn.Module]:
    return [] if module is None else [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
