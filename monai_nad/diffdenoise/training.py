"""Training-side pieces of DiffDenoise: the diffusion model's data, its Ignite batch preparation, distillation pairs."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from monai.config import KeysCollection, NdarrayOrTensor
from monai.engines.utils import DiffusionPrepareBatch
from monai.transforms import MapTransform
from monai.utils import convert_to_tensor
from tqdm import tqdm

from monai_nad.diffdenoise.pipeline import diffusion_inputs

__all__ = ["BlindSpotConditiond", "ConcatConditionPrepareBatch", "distillation_pairs", "state_fingerprint"]


class BlindSpotConditiond(MapTransform):
    """Make the diffusion model's training item from a noisy image: target and blind-spot condition.

    ``image`` becomes the scale-normalised noisy image in the diffusion range and ``condition_key`` its blind-spot
    estimate in the same range (:func:`~monai_nad.diffdenoise.diffusion_inputs`). Deterministic, so it can sit
    before a cache; crop both keys together afterwards.

    Args:
        keys: the noisy image key (a single key). Defaults to ``"image"``.
        network: the trained blind-spot network (evaluated without gradient, on the CPU).
        condition_key: where to store the condition. Defaults to ``"condition"``.
        quantile: intensity-scale quantile. Defaults to 0.99.
    """

    def __init__(self, keys: KeysCollection = "image", network: nn.Module | None = None, condition_key: str = "condition", quantile: float = 0.99) -> None:
        super().__init__(keys)
        if network is None:
            raise ValueError("BlindSpotConditiond needs the trained blind-spot network.")
        self.network = network.cpu().eval()
        self.condition_key = condition_key
        self.quantile = quantile

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            x = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)[None]
            target, condition, _ = diffusion_inputs(x, self.network, self.quantile)
            d[key], d[self.condition_key] = target[0], condition[0]
        return d


class ConcatConditionPrepareBatch(DiffusionPrepareBatch):
    """MONAI's :class:`~monai.engines.utils.DiffusionPrepareBatch` for a condition concatenated as input channels.

    The trainer then calls ``DiffusionInferer(inputs, network, noise=..., timesteps=..., condition=..., mode="concat")``
    and the loss compares the predicted and the true noise.

    Args:
        num_train_timesteps: the scheduler's number of training steps.
        condition_name: the batch key of the condition. Defaults to ``"condition"``.
    """

    def __init__(self, num_train_timesteps: int, condition_name: str = "condition") -> None:
        super().__init__(num_train_timesteps, condition_name)

    def __call__(self, batchdata: dict[str, torch.Tensor], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any):
        images, target, args, infer_kwargs = super().__call__(batchdata, device, non_blocking, **kwargs)
        infer_kwargs["mode"] = "concat"
        return images, target, args, infer_kwargs


def state_fingerprint(network: nn.Module) -> str:
    """A short hash of a network's weights (to key caches of its outputs)."""
    digest = hashlib.sha256()
    for name, value in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def distillation_pairs(
    teacher: nn.Module,
    items: Sequence[Mapping[str, Any]],
    cache_dir: str | Path | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The student's training pairs: each noisy image and the teacher's (DiffDenoise's) output for it.

    Args:
        teacher: the full pipeline, e.g. :class:`~monai_nad.diffdenoise.DiffDenoise`.
        items: ``{"image": noisy (C, H, W[, D]), "id": ...}`` dictionaries of equal image shape.
        cache_dir: if given, the targets are stored in ``<cache_dir>/teacher_<fingerprint>.npz`` and reused while
            the teacher's weights, settings and item ids are unchanged.
        batch_size: images per teacher call. Defaults to 4.
        device: where the teacher runs. Defaults to CPU.
        progress: show a progress bar. Defaults to True.

    Returns:
        ``[{"image": noisy, "label": teacher output, "id"}, ...]`` as float32 arrays.
    """
    ids = [str(it["id"]) for it in items]
    settings = f"{getattr(teacher, 'inference_steps', '')}|{getattr(teacher, 'symmetric', '')}|{getattr(teacher, 'seed', '')}"
    key = hashlib.sha256(("|".join(ids) + settings + state_fingerprint(teacher)).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"teacher_{key}.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        targets = np.load(cache)["targets"]
    else:
        teacher = teacher.to(device).eval()
        outputs = []
        starts = range(0, len(items), batch_size)
        for start in tqdm(starts, desc="teacher outputs", disable=not progress):
            batch = torch.stack([torch.as_tensor(np.asarray(it["image"], dtype=np.float32)) for it in items[start : start + batch_size]])
            with torch.no_grad():
                outputs.append(teacher(batch.to(device)).cpu().numpy())
        targets = np.concatenate(outputs).astype(np.float32)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, targets=targets)
            tmp.replace(cache)
    return [{"image": np.asarray(it["image"], dtype=np.float32), "label": targets[i], "id": ids[i]} for i, it in enumerate(items)]
