"""Turn a clean image into a (noisy ``image``, clean ``label``) pair for training and evaluation.

Two transforms share one set of noise models:

- :class:`RandNoisyPaird` draws a noise level per item from a range (blind training) from its own random state,
  so ``Compose([...]).set_random_state(seed)`` makes a training run reproducible.
- :class:`DeterministicNoisyPaird` (evaluation) derives the noise of each item from ``(noise model, item id,
  level, seed)`` alone, so every method, run, process and data-loader worker sees the same noisy image.

Rician and Gaussian noise reuse MONAI's :class:`~monai.transforms.RandRicianNoise` and
:class:`~monai.transforms.RandGaussianNoise`; the other models come from :mod:`monai_nad.transforms.array`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandGaussianNoise, RandomizableTransform, RandRicianNoise
from monai.utils import convert_to_dst_type

from monai_nad.transforms.array import RandCorrelatedNoise, RandGammaNoise, RandPoissonNoise, as_range

__all__ = [
    "NOISE_MODELS",
    "NOISE_STD_MODELS",
    "make_noise_transform",
    "noise_seed",
    "RandNoisyPaird",
    "RandNoisyPairD",
    "RandNoisyPairDict",
    "DeterministicNoisyPaird",
    "DeterministicNoisyPairD",
    "DeterministicNoisyPairDict",
]

#: Supported noise models. ``level`` means: noise std for rician/gaussian/correlated (image units,
#: a fraction of the maximum for images in [0, 1]), photon scale ``lam`` for poisson, shape ``k`` for gamma.
NOISE_MODELS = ("rician", "gaussian", "poisson", "gamma", "correlated")

#: The models whose ``level`` is the noise std: their pairs carry it under ``"noise_std"``.
NOISE_STD_MODELS = ("rician", "gaussian", "correlated")

_STRICTLY_POSITIVE = {"poisson", "gamma"}


def _check_noise(noise: str) -> str:
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; choose one of {NOISE_MODELS}.")
    return noise


def make_noise_transform(noise: str, level: float, noise_kwargs: Mapping[str, Any] | None = None) -> RandomizableTransform:
    """Build the array transform that adds ``noise`` at a fixed ``level`` (with probability 1).

    Args:
        noise: one of :data:`NOISE_MODELS`.
        level: the noise level (see :data:`NOISE_MODELS`).
        noise_kwargs: extra arguments, e.g. ``{"correlation_length": 2.0}`` for ``"correlated"``.

    Returns:
        a MONAI randomizable array transform; seed it with ``set_random_state``.

    Raises:
        ValueError: unknown noise model or invalid level.
    """
    _check_noise(noise)
    level = as_range(level, "level", strict=noise in _STRICTLY_POSITIVE)[0]
    kwargs = dict(noise_kwargs or {})
    if noise == "rician":
        return RandRicianNoise(prob=1.0, mean=0.0, std=level, relative=False, sample_std=False, **kwargs)
    if noise == "gaussian":
        return RandGaussianNoise(prob=1.0, mean=0.0, std=level, sample_std=False, **kwargs)
    if noise == "poisson":
        return RandPoissonNoise(prob=1.0, lam=level, **kwargs)
    if noise == "gamma":
        return RandGammaNoise(prob=1.0, shape=level, **kwargs)
    return RandCorrelatedNoise(prob=1.0, std=level, **kwargs)


def _single_key(keys: KeysCollection) -> Hashable:
    keys = (keys,) if isinstance(keys, (str, int)) else tuple(keys)
    if len(keys) != 1:
        raise ValueError(f"a noisy-pair transform takes exactly one image key, got {keys!r}.")
    return keys[0]


class _NoisyPair(MapTransform):
    """Shared mechanics: copy the clean image to ``label_key`` and replace ``key`` by its noisy version."""

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str,
        noise: str,
        noise_kwargs: Mapping[str, Any] | None,
        allow_missing_keys: bool,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.key = _single_key(keys)
        self.label_key = label_key
        self.noise = _check_noise(noise)
        self.noise_kwargs = dict(noise_kwargs or {})

    def _apply(self, d: dict, level: float, state: np.random.RandomState) -> dict:
        if self.key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"key {self.key!r} not found in the data; available keys: {list(d)}.")
        clean = d[self.key]
        transform = make_noise_transform(self.noise, level, self.noise_kwargs)
        transform.set_random_state(state=state)
        noisy = convert_to_dst_type(transform(clean), clean, dtype=torch.float32)[0]
        label = clean.clone() if isinstance(clean, torch.Tensor) else np.array(clean, copy=True)
        d[self.label_key] = convert_to_dst_type(label, clean, dtype=torch.float32)[0]
        # every item gets the same keys, so that pairs of different noise models collate into one batch; poisson's
        # photon scale and gamma's shape are no std: NaN there
        told = {"noise_model": self.noise, "noise_std": float(level) if self.noise in NOISE_STD_MODELS else float("nan")}
        if isinstance(noisy, MetaTensor):
            noisy.meta.update(told)
        d[self.key] = noisy
        d.update(told)
        return d


class RandNoisyPaird(_NoisyPair, RandomizableTransform):
    """Make a training pair: noisy ``image``, clean ``label``, with the noise level drawn per item.

    Args:
        keys: the key of the clean image (replaced by the noisy one), a single key. Defaults to ``"image"``.
        label_key: where to store an unmodified copy of the clean image. Defaults to ``"label"``.
        noise: one of :data:`NOISE_MODELS`. Defaults to ``"rician"``.
        level: a ``(low, high)`` range sampled uniformly per item (blind training), or a fixed number.
            Defaults to ``(0.05, 0.20)``.
        noise_kwargs: extra arguments of the noise model, e.g. ``{"correlation_length": 2.0}``.
        allow_missing_keys: don't raise if the key is missing.

    The item also gets a ``"noise_model"`` entry and a ``"noise_std"`` entry: the level drawn for the models of
    :data:`NOISE_STD_MODELS`, NaN for poisson and gamma noise, which have no single std (every item has both keys, so
    pairs of different models collate into one batch); a noisy :class:`~monai.data.MetaTensor` carries them in its
    ``meta``.

    Example::

        train = Compose([LoadImaged("image"), EnsureChannelFirstd("image"), ScaleIntensityd("image"),
                         RandNoisyPaird("image", noise="rician", level=(0.05, 0.2))])
        train.set_random_state(0)
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        label_key: str = "label",
        noise: str = "rician",
        level: float | Sequence[float] = (0.05, 0.20),
        noise_kwargs: Mapping[str, Any] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        _NoisyPair.__init__(self, keys, label_key, noise, noise_kwargs, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.level = as_range(level, "level", strict=noise in _STRICTLY_POSITIVE)
        make_noise_transform(noise, self.level[0], self.noise_kwargs)  # validate early
        self._level = self.level[0]

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._level = float(self.R.uniform(*self.level))

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        self.randomize()
        return self._apply(dict(data), self._level, self.R)


def noise_seed(noise: str, item_id: str, level: float, seed: int, noise_kwargs: Mapping[str, Any] | None = None) -> int:
    """A 32-bit seed that is a pure, stable function of its arguments (never Python's salted ``hash``)."""
    extra = ",".join(f"{k}={v!r}" for k, v in sorted((noise_kwargs or {}).items()))
    text = f"{noise}|{item_id}|{level:.6g}|{seed}|{extra}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


class DeterministicNoisyPaird(_NoisyPair):
    """Make an evaluation pair whose noise is a pure function of ``(noise, item id, level, seed)``.

    The same item gets the same noisy image in every run, process, method and data-loader worker, whatever
    the order in which items are read; a different id, level or seed gives independent noise.

    Args:
        keys: the key of the clean image (replaced by the noisy one), a single key. Defaults to ``"image"``.
        label_key: where to store an unmodified copy of the clean image. Defaults to ``"label"``.
        noise: one of :data:`NOISE_MODELS`. Defaults to ``"rician"``.
        level: the fixed noise level. Defaults to 0.1.
        seed: the evaluation seed. Defaults to 0.
        id_key: the key holding each item's unique id (converted with ``str``). Defaults to ``"id"``.
        noise_kwargs: extra arguments of the noise model.
        allow_missing_keys: don't raise if the image key is missing.

    Raises:
        KeyError: an item without ``id_key``.
        ValueError: unknown noise model, or a level that is not a single valid number.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        label_key: str = "label",
        noise: str = "rician",
        level: float = 0.1,
        seed: int = 0,
        id_key: str = "id",
        noise_kwargs: Mapping[str, Any] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, label_key, noise, noise_kwargs, allow_missing_keys)
        if not isinstance(level, (int, float)):
            raise ValueError(f"DeterministicNoisyPaird needs a single noise level, got {level!r}.")
        make_noise_transform(noise, level, self.noise_kwargs)  # validate early
        self.level = float(level)
        self.seed = int(seed)
        self.id_key = id_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.id_key not in d:
            raise KeyError(f"evaluation noise needs a unique item id under key {self.id_key!r}; keys present: {list(d)}.")
        state = np.random.RandomState(noise_seed(self.noise, str(d[self.id_key]), self.level, self.seed, self.noise_kwargs))
        return self._apply(d, self.level, state)


RandNoisyPairD = RandNoisyPairDict = RandNoisyPaird
DeterministicNoisyPairD = DeterministicNoisyPairDict = DeterministicNoisyPaird
