"""The int8 calibration of the shipped models: activation ranges recorded on the training slabs.

The ranges of :func:`~monai_nad.networks.int8_network` come from running the float models, as ``monai-nad denoise``
runs them (:class:`~monai_nad.inference.ScanInferer`, blind, the noise map), on blocks of 10 neighbouring training
slices of MNI and Colin27 (as is and inverted) through each scanner-noise condition of the benchmark's simulation and
white Rician noise, at s = 0.05 and 0.10: the training slabs only (the benchmark's validation and test slabs are never
read), so the calibration is part of the model, not tuned on what it is scored on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from monai_nad.data.mni import shift_contrast
from monai_nad.data.real_anatomy import VOLUME_SPLITS, load_volume
from monai_nad.inference import ScanInferer
from monai_nad.networks import ActivationRanges, float_layers, weights_fingerprint
from monai_nad.transforms.noise import rician_noise
from monai_nad.transforms.scanner_noise import scanner_noise_slice

__all__ = ["CALIBRATION_BLOCKS", "CALIBRATION_CONDITIONS", "calibrate_int8", "calibration_slabs"]

#: first slice of each block of 10 training slices, per volume: (as is, inverted)
CALIBRATION_BLOCKS = {"mni": (40, 120), "colin27": (50, 120)}
#: the noise of the calibration slabs: the scanner-noise benchmark's conditions and white Rician noise
CALIBRATION_CONDITIONS = ("filtered", "partial_fourier", "sos8", "sense2", "rician")
#: the seed of the white Rician noise of slice ``z`` is this plus ``z``
_RICIAN_SEED = 5000


def calibration_slabs(levels: tuple[float, ...] = (0.05, 0.10), slices: int = 10) -> Iterator[tuple[str, np.ndarray]]:
    """The calibration inputs: ``(name, noisy slab (N, H, W) float32)``, one per volume, contrast, condition and level.

    Args:
        levels: the noise levels ``s``.
        slices: slices per block (10; fewer: a quick check).

    Raises:
        ValueError: a block that is not inside its volume's training slices, or ``slices`` outside 1-10.
    """
    if not 1 <= int(slices) <= 10:
        raise ValueError(f"slices must be 1 to 10, got {slices!r}.")
    for volume, starts in CALIBRATION_BLOCKS.items():
        data, train = load_volume(volume), set(VOLUME_SPLITS[volume]["train"])
        for shift, start in zip((None, "inverted"), starts):
            zs = range(start, start + int(slices))
            if not set(zs) <= train:
                raise ValueError(f"calibration block {volume} {zs[0]}..{zs[-1]} is not inside the training slices.")
            clean = [shift_contrast(data[:, :, z], shift).astype(np.float32) for z in zs]
            for condition in CALIBRATION_CONDITIONS:
                for level in levels:
                    if condition == "rician":
                        slab = [rician_noise(c, level, np.random.default_rng(_RICIAN_SEED + z)) for c, z in zip(clean, zs)]
                    else:
                        slab = [scanner_noise_slice(c, z, condition, level).noisy for c, z in zip(clean, zs)]
                    yield f"{volume}_{shift or 'asis'}_{condition}_{level:.2f}", np.stack(slab).astype(np.float32)


def calibrate_int8(
    network2d: torch.nn.Module, network3d: torch.nn.Module | None = None, log: Callable[[str], None] = print, slices: int = 10
) -> dict[str, dict]:
    """Record the int8 ranges of the 2D model (and the volume model) on :func:`calibration_slabs`.

    Args:
        network2d: the 2D model, as the bundle runs it (its self-ensemble included).
        network3d: the volume model, or None.
        log: one line per slab.
        slices: slices per calibration block (10; fewer: a quick check, not the shipped calibration).

    Returns:
        ``{"2d": {"fingerprint": ..., "ranges": {layer: [4 numbers]}}, "3d": ...}`` (what
        :func:`~monai_nad.networks.load_int8_ranges` reads; every convolution except :func:`~monai_nad.networks.float_layers`).
    """
    models = {"2d": network2d} if network3d is None else {"2d": network2d, "3d": network3d}
    result: dict[str, dict] = {}
    for kind, network in models.items():
        network.eval()
        keep = float_layers(network)
        layers = [n for n, m in network.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) and n not in keep]
        inferer = ScanInferer(volume_network=network if kind == "3d" else None, mode=kind, noise_estimate="map", precision="float32")
        with torch.no_grad(), ActivationRanges(network, layers) as recorder:
            for name, slab in calibration_slabs(slices=slices):
                volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(slab, 0, -1)))[None, None]
                inferer(volume, network2d)
                log(f"{kind} {name}")
        result[kind] = {"fingerprint": weights_fingerprint(network), "ranges": recorder.ranges()}
    return result
