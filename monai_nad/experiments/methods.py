"""Denoising methods of the experiment suites: classical baselines with tuned parameters, and trained networks."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_nad.baselines import BASELINES, classical_denoise
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.transforms.array import RicianBiasCorrection

__all__ = ["Method", "level_key", "load_tuned", "classical_method", "network_method", "counted_flops"]


def level_key(noise_std: float) -> str:
    """How a noise std is written in JSON keys and metric names (``0.05``, ``0.0980392``)."""
    return f"{noise_std:.6g}"


@dataclass
class Method:
    """A denoiser as the suites see it.

    Attributes:
        name: the run name.
        denoise: ``f(image (H, W), noise_std) -> (H, W)``.
        params: what to record in MLflow (tuned values, configuration).
        parameters: number of learned parameters (0 for classical methods).
        kind: ``"classical"`` or ``"learned"``.
        network: the network of a learned method (for conductance maps), else None.
    """

    name: str
    denoise: Callable[[np.ndarray, float], np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    kind: str = "classical"
    network: torch.nn.Module | None = None


def load_tuned(path: str | Path) -> dict[str, Any]:
    """Read ``configs/baselines_tuned.json`` (written by ``scripts/tune_baselines.py``).

    Raises:
        FileNotFoundError: naming the file and the command that writes it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `python scripts/tune_baselines.py` first.")
    return json.loads(path.read_text())


def classical_method(name: str, tuned: Mapping[str, Any], noise: str, noise_stds: Sequence[float], bias_correction: bool) -> Method:
    """A classical baseline with the parameters tuned for each of ``noise_stds`` (plain, or followed by the Rician correction).

    Raises:
        KeyError: a noise std or method without tuned values (naming them and the tuning command).
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}.")
    variant = "rc" if bias_correction else "plain"
    chosen = {}
    for noise_std in noise_stds:
        try:
            chosen[level_key(noise_std)] = tuned[noise][level_key(noise_std)][name][variant]
        except KeyError:
            raise KeyError(
                f"no tuned {variant} parameters for {name} at {noise} level {level_key(noise_std)}: run "
                f"`python scripts/tune_baselines.py --noise {noise} --noise-stds {level_key(noise_std)} --methods {name}`."
            ) from None

    def denoise(image: np.ndarray, noise_std: float) -> np.ndarray:
        setting = chosen[level_key(noise_std)]
        out = classical_denoise(name, image, noise_std, **setting["params"])
        if bias_correction:
            out = np.asarray(RicianBiasCorrection(noise_std, setting["b"])(out), dtype=np.float32)
        return out

    run_name = f"{name}+rc" if bias_correction else name
    params = {"library": BASELINES[name].library, "tuned": {k: {**v["params"], **({"b": v["b"]} if bias_correction else {})} for k, v in chosen.items()}}
    return Method(run_name, denoise, params)


def network_method(name: str, network: torch.nn.Module, params: Mapping[str, Any] | None = None) -> Method:
    """A trained network applied to one ``(H, W)`` slice at a time (``noise_std`` is not given to it: blind; a network
    that takes a noise level is told the blind estimate of the slice, :func:`~monai_nad.inference.inferer.noise_std_arguments`)."""
    network = network.eval()

    def denoise(image: np.ndarray, noise_std: float) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
            return network(x, **noise_std_arguments(network, x))[0, 0].float().numpy()

    count = sum(p.numel() for p in network.parameters())
    return Method(name, denoise, {"parameters": count, **dict(params or {})}, count, "learned", network)


def counted_flops(network: torch.nn.Module, x: torch.Tensor) -> float:
    """The FLOPs of one call ``network(x)`` as ``torch.utils.flop_counter`` counts them (convolutions and matrix
    products; a multiply-add counts 2); a network that takes a noise level is told the blind estimate of ``x``
    (:func:`~monai_nad.inference.inferer.noise_std_arguments`)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network(x, **noise_std_arguments(network, x))
    return float(counter.get_total_flops())
