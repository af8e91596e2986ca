"""DiffDenoise's distilled student given the blind-spot estimate, as the diffusion stage it replaces is given it.

The truncated SRDS chain starts from the noised blind-spot estimate and is conditioned on it, so its output is (up to
the fixed-seed noise, which SRDS nearly cancels) a function of that estimate. A student that sees only the noisy image
must learn the blind-spot network's job and the diffusion stage's together; this one is handed the first (the frozen
blind-spot network, run inside it) and learns only the second: the correction the diffusion stage makes to the
blind-spot estimate, given the noisy image as well.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from monai_nad.diffdenoise.pipeline import check_batch
from monai_nad.networks.padding import pad_to_multiple
from monai_nad.networks.unrolled import robust_intensity_scale

__all__ = ["GuidedStudent"]

_FROZEN = "blind_spot."


def _drop_blind_spot(module: nn.Module, state: dict, prefix: str, local_metadata: dict) -> None:
    """``state_dict`` hook: leave out the frozen blind-spot network's weights."""
    for key in [k for k in state if k.startswith(prefix + _FROZEN)]:
        del state[key]


class GuidedStudent(nn.Module):
    """``y = s * (b + g * net([x / s, b]))`` with ``b = BSN(x / s)`` the frozen blind-spot estimate and ``s`` each image's
    robust intensity scale (as :class:`~monai_nad.diffdenoise.DiffDenoise` scales its input).

    ``g`` is a learned scalar that starts at zero (as ReZero does), so that an untrained student returns the blind-spot
    estimate and training only ever adds a correction to it. The blind-spot network is part of the module (its weights are saved with the student's) but is never trained
    here: its parameters do not require gradients and it stays in evaluation mode when the student trains.

    Args:
        blind_spot: the trained stage-1 network, e.g. :class:`~monai_nad.networks.BlindSpotNetwork`.
        network: maps ``(B, 2 C, H, W[, D])`` (the scaled noisy image and the blind-spot estimate) to the correction
            ``(B, C, H, W[, D])``, e.g. a MONAI ``UNet`` with ``in_channels = 2 C``.
        size_divisor: pad the input to a multiple of this before ``network`` (4 for a MONAI ``UNet`` with strides
            ``(2, 2)``) and crop the output back. Defaults to 4.
        scale_quantile: intensity-scale quantile. Defaults to 0.99.
    """

    def __init__(self, blind_spot: nn.Module, network: nn.Module, size_divisor: int = 4, scale_quantile: float = 0.99) -> None:
        super().__init__()
        self.blind_spot = blind_spot
        self.network = network
        self.size_divisor = size_divisor
        self.scale_quantile = scale_quantile
        self.gain = nn.Parameter(torch.zeros(1))
        for parameter in self.blind_spot.parameters():
            parameter.requires_grad_(False)
        self.blind_spot.eval()
        self._register_state_dict_hook(_drop_blind_spot)
        self._register_load_state_dict_pre_hook(self._keep_blind_spot)

    def _keep_blind_spot(self, state: dict, prefix: str, *args) -> None:
        """``load_state_dict`` pre-hook: a student's state has no blind-spot weights; the loaded network keeps its own."""
        for key, value in self.blind_spot.state_dict().items():
            state.setdefault(f"{prefix}{_FROZEN}{key}", value)

    def train(self, mode: bool = True) -> GuidedStudent:
        """Set the training mode of the correction network; the blind-spot network stays in evaluation mode."""
        super().train(mode)
        self.blind_spot.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch.

        Args:
            x: noisy images ``(B, C, H, W[, D])``.

        Returns:
            denoised images, same shape (not clipped).

        Raises:
            TypeError, ValueError: an invalid batch (see :func:`~monai_nad.networks.check_image_batch`).
        """
        check_batch(x)
        scale = robust_intensity_scale(x, self.scale_quantile)
        u = x / scale
        with torch.no_grad():
            estimate = self.blind_spot(u)
        padded, crop = pad_to_multiple(torch.cat([u, estimate], dim=1), self.size_divisor)
        return (estimate + self.gain * self.network(padded)[crop]) * scale
