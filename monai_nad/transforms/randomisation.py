"""Randomised contrasts and magnitude noise, so that no contrast, intensity scale or SNR is special in training.

A denoiser trained on one smooth T1 template learns that dark means background and that brains are smooth.
These transforms build training data that vary what a scanner varies:

- :class:`RandTissueContrastd` synthesises a new contrast from tissue probability maps (grey matter, white
  matter, CSF) with random per-tissue intensities in T1-, T2-, PD- and FLAIR-like orders or random ones;
- :class:`RandIntensityBandRemap` / :class:`RandIntensityBandRemapd` apply a random piecewise-linear (not
  necessarily monotone) intensity map inside the head, for images without tissue maps; air stays 0;
- :class:`RandMagnitudeNoise` / :class:`RandMagnitudeNoisePaird` add magnitude noise: Rician (one coil) or
  non-central chi (``N`` coils), with a constant or a smooth, spatially varying (g-factor-like) noise std, and
  record the true noise std map.

All randomness comes from each transform's ``self.R``; ``set_random_state`` makes a stream reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, RandBiasField, RandomizableTransform
from monai.utils import convert_data_type, convert_to_dst_type

from monai_nad.transforms.array import as_range
from monai_nad.transforms.noise import rician_noise

__all__ = [
    "TISSUE_CONTRASTS",
    "BAND_ORDERS",
    "tissue_intensities",
    "RandTissueContrastd",
    "RandTissueContrastD",
    "RandTissueContrastDict",
    "RandIntensityBandRemap",
    "RandIntensityBandRemapd",
    "RandIntensityBandRemapD",
    "RandIntensityBandRemapDict",
    "RandMagnitudeNoise",
    "RandMagnitudeNoisePaird",
    "RandMagnitudeNoisePairD",
    "RandMagnitudeNoisePairDict",
]

#: Contrast families of :class:`RandTissueContrastd`.
TISSUE_CONTRASTS = ("t1", "t2", "pd", "flair", "random")

#: Orders of the knot values of :class:`RandIntensityBandRemap`.
BAND_ORDERS = ("ascending", "descending", "random")


def _as_numpy(img: NdarrayOrTensor) -> np.ndarray:
    return np.asarray(convert_data_type(img, np.ndarray)[0], dtype=np.float32)


def tissue_intensities(contrast: str, rng: np.random.RandomState) -> np.ndarray:
    """Draw ``(grey matter, white matter, CSF)`` intensities of one contrast family.

    Args:
        contrast: one of :data:`TISSUE_CONTRASTS`:

            - ``"t1"``: WM > GM > CSF;
            - ``"t2"``: CSF > GM > WM;
            - ``"pd"``: GM >~ WM, CSF high-ish (between 0.6 and 1.05 times GM);
            - ``"flair"``: GM > WM, CSF dark;
            - ``"random"``: independent ``U(0.05, 1)`` values.
        rng: the random state to draw from.

    Returns:
        float32 array ``[gm, wm, csf]``, the largest value in ``[0.7, 1]``.

    Raises:
        ValueError: unknown contrast.
    """
    u = rng.uniform
    if contrast == "t1":
        wm = u(0.7, 1.0)
        gm = wm * u(0.5, 0.85)
        csf = gm * u(0.1, 0.5)
    elif contrast == "t2":
        csf = u(0.7, 1.0)
        gm = csf * u(0.45, 0.8)
        wm = gm * u(0.55, 0.9)
    elif contrast == "pd":
        gm = u(0.7, 1.0)
        wm = gm * u(0.75, 0.97)
        csf = gm * u(0.6, 1.05)
    elif contrast == "flair":
        gm = u(0.7, 1.0)
        wm = gm * u(0.6, 0.9)
        csf = wm * u(0.03, 0.3)
    elif contrast == "random":
        gm, wm, csf = u(0.05, 1.0, size=3)
        peak = max(gm, wm, csf)
        scale = u(0.7, 1.0) / peak
        gm, wm, csf = gm * scale, wm * scale, csf * scale
    else:
        raise ValueError(f"unknown contrast {contrast!r}; choose one of {TISSUE_CONTRASTS}.")
    return np.asarray([gm, wm, csf], dtype=np.float32)


def _weights(weights: Sequence[float] | None, n: int, name: str) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"{name} must be {n} non-negative numbers with a positive sum, got {weights!r}.")
    return w / w.sum()


class RandTissueContrastd(RandomizableTransform, MapTransform):
    """Synthesise a new contrast from tissue probability maps, when the item has them.

    With maps ``p_gm, p_wm, p_csf`` (each ``(C, H, W[, D])`` in ``[0, 1]``, zero outside the head) and random
    intensities ``I`` of a contrast family (:func:`tissue_intensities`), every image of ``keys`` becomes
    ``(1 - a) * sum_t I_t p_t + a * image`` with ``a ~ U(texture)``: mixing in a fraction of the original keeps
    some of its texture. Items lacking any of the ``tissue_keys`` are returned unchanged.

    Args:
        keys: keys of the images to replace. Defaults to ``"image"``.
        tissue_keys: keys of the grey-matter, white-matter and CSF maps, in that order.
            Defaults to ``("gm", "wm", "csf")``.
        prob: probability of synthesising. Defaults to 0.5.
        contrasts: contrast families to draw from (:data:`TISSUE_CONTRASTS`). Defaults to all five.
        weights: probabilities of ``contrasts`` (normalised). Defaults to uniform.
        texture: range of the fraction ``a`` of the original image mixed in. Defaults to ``(0.0, 0.3)``.
        allow_missing_keys: don't raise if an image key is missing.

    Raises:
        ValueError: not three tissue keys, an unknown contrast, invalid weights or texture range.

    Example::

        t = RandTissueContrastd("image", prob=1.0, contrasts=("t2",))
        t.set_random_state(0)
        out = t({"image": t1, "gm": gm, "wm": wm, "csf": csf})  # CSF bright, WM dark
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        tissue_keys: Sequence[str] = ("gm", "wm", "csf"),
        prob: float = 0.5,
        contrasts: Sequence[str] = TISSUE_CONTRASTS,
        weights: Sequence[float] | None = None,
        texture: Sequence[float] = (0.0, 0.3),
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.tissue_keys = tuple(tissue_keys)
        if len(self.tissue_keys) != 3:
            raise ValueError(f"tissue_keys must name the (gm, wm, csf) maps, got {tissue_keys!r}.")
        self.contrasts = tuple(contrasts)
        for c in self.contrasts:
            if c not in TISSUE_CONTRASTS:
                raise ValueError(f"unknown contrast {c!r}; choose from {TISSUE_CONTRASTS}.")
        self.weights = _weights(weights, len(self.contrasts), "weights")
        lo, hi = as_range(texture, "texture")
        if hi > 1:
            raise ValueError(f"texture must lie in [0, 1], got {texture!r}.")
        self.texture = (lo, hi)
        self.contrast = self.contrasts[0]
        self.intensities = np.ones(3, dtype=np.float32)
        self.mix = 0.0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        self.contrast = self.contrasts[int(self.R.choice(len(self.contrasts), p=self.weights))]
        self.intensities = tissue_intensities(self.contrast, self.R)
        self.mix = float(self.R.uniform(*self.texture))

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if not all(k in d for k in self.tissue_keys):
            return d
        self.randomize()
        if not self._do_transform:
            return d
        synth = sum(np.float32(i) * _as_numpy(d[k]) for i, k in zip(self.intensities, self.tissue_keys))
        for key in self.key_iterator(d):
            out = np.float32(1.0 - self.mix) * synth + np.float32(self.mix) * _as_numpy(d[key])
            d[key] = convert_to_dst_type(out.astype(np.float32), d[key], dtype=torch.float32)[0]
        return d


class RandIntensityBandRemap(RandomizableTransform):
    """A random piecewise-linear intensity map inside the head; air stays 0.

    The intensity range ``[lo, hi]`` is cut into ``num_bands`` bands at random knots; each knot gets a random
    value in ``value_range``, in ascending (T1-like kept), descending (contrast reversed, T2-like) or random
    (non-monotone) order. Voxels inside the mask follow the interpolated map; the others are set to 0, so
    contrast orders change (dark white matter, bright CSF, ...) while the air stays black.

    Args:
        prob: probability of remapping. Defaults to 0.5.
        num_bands: number of bands, or an inclusive ``(low, high)`` range drawn per call. Defaults to ``(2, 6)``.
        threshold: without an explicit mask, the head is ``img > threshold * max(img)``. Defaults to 0.01.
        intensity_range: the ``(lo, hi)`` input range the knots span; ``None`` uses the image's range inside
            the mask. Defaults to None.
        value_range: range of the knot values. Defaults to ``(0.03, 1.0)``.
        orders: knot orders to draw from (:data:`BAND_ORDERS`). Defaults to all three.
        order_weights: probabilities of ``orders``. Defaults to uniform.

    Raises:
        ValueError: invalid ranges or orders.

    Example::

        t = RandIntensityBandRemap(prob=1.0, orders=("descending",))
        t.set_random_state(0)
        t2_like = t(t1_image, mask=head)  # (C, H, W[, D])
    """

    def __init__(
        self,
        prob: float = 0.5,
        num_bands: int | Sequence[int] = (2, 6),
        threshold: float = 0.01,
        intensity_range: Sequence[float] | None = None,
        value_range: Sequence[float] = (0.03, 1.0),
        orders: Sequence[str] = BAND_ORDERS,
        order_weights: Sequence[float] | None = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        bands = (num_bands, num_bands) if isinstance(num_bands, int) else tuple(int(v) for v in num_bands)
        if len(bands) != 2 or not 1 <= bands[0] <= bands[1]:
            raise ValueError(f"num_bands must be a positive int or an inclusive (low, high) range, got {num_bands!r}.")
        self.num_bands = bands
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold!r}.")
        self.threshold = float(threshold)
        if intensity_range is not None:
            lo, hi = (float(v) for v in intensity_range)
            if not hi > lo:
                raise ValueError(f"intensity_range must be (low, high) with low < high, got {intensity_range!r}.")
            intensity_range = (lo, hi)
        self.intensity_range = intensity_range
        self.value_range = as_range(value_range, "value_range")
        self.orders = tuple(orders)
        for o in self.orders:
            if o not in BAND_ORDERS:
                raise ValueError(f"unknown order {o!r}; choose from {BAND_ORDERS}.")
        self.order_weights = _weights(order_weights, len(self.orders), "order_weights")
        self.knots = np.array([0.0, 1.0])
        self.values = np.array([0.0, 1.0])
        self.order = self.orders[0]

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        n = int(self.R.randint(self.num_bands[0], self.num_bands[1] + 1))
        self.knots = np.concatenate([[0.0], np.sort(self.R.uniform(0.0, 1.0, n - 1)), [1.0]])
        values = self.R.uniform(*self.value_range, n + 1)
        self.order = self.orders[int(self.R.choice(len(self.orders), p=self.order_weights))]
        if self.order == "ascending":
            values = np.sort(values)
        elif self.order == "descending":
            values = np.sort(values)[::-1]
        self.values = values

    def __call__(self, img: NdarrayOrTensor, mask: NdarrayOrTensor | None = None, randomize: bool = True) -> NdarrayOrTensor:
        """Remap ``img`` of shape ``(C, H, W[, D])``.

        Args:
            img: the image (non-negative, air 0).
            mask: optional head mask broadcastable to ``img`` (non-zero inside); by default ``img`` above the
                threshold.
            randomize: draw a new map first. Defaults to True.

        Returns:
            the remapped image (same type as ``img``, float32); the input is never modified.
        """
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        x = _as_numpy(img)
        inside = _as_numpy(mask) > 0.5 if mask is not None else x > self.threshold * float(x.max(initial=0.0))
        inside = np.broadcast_to(inside, x.shape)
        if self.intensity_range is not None:
            lo, hi = self.intensity_range
        else:
            vals = x[inside]
            lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
            if hi <= lo:
                hi = lo + 1.0
        u = (x - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        mapped = np.interp(u.ravel(), self.knots, self.values).reshape(x.shape).astype(np.float32)
        out = np.where(inside, mapped, np.float32(0.0)).astype(np.float32)
        return convert_to_dst_type(out, img, dtype=torch.float32)[0]


class RandIntensityBandRemapd(RandomizableTransform, MapTransform):
    """Dictionary twin of :class:`RandIntensityBandRemap`: one random map for all ``keys``.

    Args:
        keys: keys of the images to remap.
        prob: probability of remapping. Defaults to 0.5.
        num_bands, threshold, intensity_range, value_range, orders, order_weights: see
            :class:`RandIntensityBandRemap`.
        mask_key: optional key of a head mask (non-zero inside, e.g. the filled head); when absent from an item
            the threshold rule is used. Defaults to None.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        num_bands: int | Sequence[int] = (2, 6),
        threshold: float = 0.01,
        intensity_range: Sequence[float] | None = None,
        value_range: Sequence[float] = (0.03, 1.0),
        orders: Sequence[str] = BAND_ORDERS,
        order_weights: Sequence[float] | None = None,
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.remap = RandIntensityBandRemap(1.0, num_bands, threshold, intensity_range, value_range, orders, order_weights)
        self.mask_key = mask_key

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandIntensityBandRemapd:
        super().set_random_state(seed, state)
        self.remap.set_random_state(state=self.R)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.remap.R = self.R
        self.remap.randomize()
        mask = d.get(self.mask_key) if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.remap(d[key], mask=mask, randomize=False)
        return d


class RandMagnitudeNoise(RandomizableTransform):
    """Magnitude MRI noise: Rician (one coil) or non-central chi (``N`` coils), constant or spatially varying.

    With per-channel noise ``s`` (drawn per call, log-uniform or uniform in ``noise_std``) and ``N`` coils, the output
    is ``sqrt(sum_k (x / sqrt(N) + s n1_k)^2 + (s n2_k)^2)`` (``n ~ N(0, 1)``), so the noiseless magnitude is
    ``x``; in air ``mean(M^2) = 2 N s^2`` (``N = 1``: Rician, ``sqrt(mean(M^2) / 2) = s``). With probability
    ``varying_prob`` the noise is ``s * g`` with ``g`` a smooth positive gain (a random Legendre polynomial from
    MONAI's :class:`~monai.transforms.RandBiasField`, spanning about ``varying_range``, mean 1), like a parallel
    imaging g-factor map. After a call, :attr:`noise_std`, :attr:`num_coils` and :meth:`noise_std_map` describe the draw.

    Args:
        prob: probability of adding noise. Defaults to 1.0.
        noise_std: ``(low, high)`` range of ``s``, or a fixed ``s``. Defaults to ``(0.005, 0.2)``.
        log_uniform: draw ``s`` log-uniformly (every SNR decade equally often). Defaults to True.
        coils: inclusive ``(low, high)`` range of the coil count of multi-coil draws, or a fixed count.
            Defaults to ``(1, 8)``.
        coil_prob: probability of a multi-coil draw (``N`` from ``coils``, at least 2 when possible); otherwise
            ``N = 1``. Defaults to 0.3.
        varying_prob: probability of a spatially varying noise std. Defaults to 0.3.
        varying_range: approximate ``(min, max)`` of the gain ``g``. Defaults to ``(0.7, 1.6)``.
        degree: polynomial degree of the gain. Defaults to 3.

    Raises:
        ValueError: invalid noise_std, coil or gain ranges.

    Example::

        t = RandMagnitudeNoise(noise_std=(0.01, 0.1))
        t.set_random_state(0)
        noisy = t(clean)  # (C, H, W[, D])
        noise_std = t.noise_std_map(clean.shape)
    """

    def __init__(
        self,
        prob: float = 1.0,
        noise_std: float | Sequence[float] = (0.005, 0.2),
        log_uniform: bool = True,
        coils: int | Sequence[int] = (1, 8),
        coil_prob: float = 0.3,
        varying_prob: float = 0.3,
        varying_range: Sequence[float] = (0.7, 1.6),
        degree: int = 3,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.noise_std_range = as_range(noise_std, "noise_std", strict=log_uniform)
        self.log_uniform = bool(log_uniform)
        pair = (coils, coils) if isinstance(coils, int) else tuple(int(c) for c in coils)
        if len(pair) != 2 or not 1 <= pair[0] <= pair[1]:
            raise ValueError(f"coils must be a positive int or an inclusive (low, high) range, got {coils!r}.")
        self.coils = pair
        for name, p in (("coil_prob", coil_prob), ("varying_prob", varying_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {p!r}.")
        self.coil_prob = float(coil_prob)
        self.varying_prob = float(varying_prob)
        g_lo, g_hi = (float(v) for v in varying_range)
        if not 0 < g_lo <= 1 <= g_hi:
            raise ValueError(f"varying_range must satisfy 0 < low <= 1 <= high, got {varying_range!r}.")
        self.varying_range = (g_lo, g_hi)
        self._field = RandBiasField(degree=degree, coeff_range=(-1.0, 1.0), prob=1.0)
        self.noise_std = self.noise_std_range[0]
        self.num_coils = 1
        self.gain: np.ndarray | None = None
        self._varying = False

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandMagnitudeNoise:
        super().set_random_state(seed, state)
        self._field.set_random_state(state=self.R)
        return self

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        lo, hi = self.noise_std_range
        self.noise_std = float(math.exp(self.R.uniform(math.log(lo), math.log(hi)))) if self.log_uniform else float(self.R.uniform(lo, hi))
        self.num_coils = 1
        if self.R.uniform() < self.coil_prob:
            c_lo, c_hi = max(self.coils[0], min(2, self.coils[1])), self.coils[1]
            self.num_coils = int(self.R.randint(c_lo, c_hi + 1))
        self._varying = bool(self.R.uniform() < self.varying_prob)
        self.gain = None

    def _make_gain(self, spatial_shape: Sequence[int]) -> np.ndarray:
        self._field.R = self.R
        field = np.log(_as_numpy(self._field(np.ones((1, *spatial_shape), dtype=np.float32)))[0].astype(np.float64))
        span = float(field.max() - field.min())
        t = (field - field.min()) / span if span > 1e-12 else np.full(field.shape, 0.5)
        g_lo = self.R.uniform(self.varying_range[0], 0.5 * (1.0 + self.varying_range[0]))
        g_hi = self.R.uniform(0.5 * (1.0 + self.varying_range[1]), self.varying_range[1])
        gain = g_lo * (g_hi / g_lo) ** t
        return (gain / gain.mean()).astype(np.float32)

    def noise_std_map(self, shape: Sequence[int]) -> np.ndarray:
        """The per-channel noise std of the last draw, as a float32 array of ``shape`` (``(C, H, W[, D])``).

        Zero when the last call added no noise.
        """
        shape = tuple(shape)
        if not self._do_transform:
            return np.zeros(shape, dtype=np.float32)
        if self.gain is None:
            return np.full(shape, self.noise_std, dtype=np.float32)
        return np.broadcast_to(np.float32(self.noise_std) * self.gain, shape).astype(np.float32)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Add magnitude noise to ``img`` of shape ``(C, H, W[, D])`` (float32 out, same type; input unchanged)."""
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        x = _as_numpy(img).astype(np.float64)
        if self._varying:
            self.gain = self._make_gain(x.shape[1:])
            s = self.noise_std * self.gain.astype(np.float64)
        else:
            self.gain = None
            s = self.noise_std
        out = rician_noise(x, s, self.R, coils=self.num_coils).astype(np.float32)
        return convert_to_dst_type(out, img, dtype=torch.float32)[0]


class RandMagnitudeNoisePaird(RandomizableTransform, MapTransform):
    """Make a training pair with magnitude noise and its true noise std map.

    The clean image under ``keys`` is copied to ``label_key`` (float32), replaced by its noisy magnitude
    (:class:`RandMagnitudeNoise`), ``noise_std_key`` receives the true per-channel noise std map of the image's
    shape (float32) and ``coils_key`` the coil count ``N``. For ``N > 1`` the noise std is per channel: an estimator must know ``N`` to relate it to the air statistics
    (``mean(M^2) = 2 N s^2``).

    Args:
        keys: the key of the clean image, a single key. Defaults to ``"image"``.
        label_key: where the clean copy goes. Defaults to ``"label"``.
        noise_std_key: where the noise std map goes. Defaults to ``"noise_std"``.
        coils_key: where the coil count goes. Defaults to ``"coils"``.
        noise_std, log_uniform, coils, coil_prob, varying_prob, varying_range, degree: see :class:`RandMagnitudeNoise`.
        allow_missing_keys: don't raise if the key is missing.

    Example::

        pair = RandMagnitudeNoisePaird("image", noise_std=(0.005, 0.2))
        pair.set_random_state(0)
        d = pair({"image": clean})  # d["image"] noisy, d["label"] clean, d["noise_std"] its map, d["coils"] N
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        label_key: str = "label",
        noise_std_key: str = "noise_std",
        coils_key: str = "coils",
        noise_std: float | Sequence[float] = (0.005, 0.2),
        log_uniform: bool = True,
        coils: int | Sequence[int] = (1, 8),
        coil_prob: float = 0.3,
        varying_prob: float = 0.3,
        varying_range: Sequence[float] = (0.7, 1.6),
        degree: int = 3,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if len(self.keys) != 1:
            raise ValueError(f"a noisy-pair transform takes exactly one image key, got {self.keys!r}.")
        self.key = self.keys[0]
        self.label_key = label_key
        self.noise_std_key = noise_std_key
        self.coils_key = coils_key
        self.noise = RandMagnitudeNoise(1.0, noise_std, log_uniform, coils, coil_prob, varying_prob, varying_range, degree)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandMagnitudeNoisePaird:
        super().set_random_state(seed, state)
        self.noise.set_random_state(state=self.R)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"key {self.key!r} not found in the data; available keys: {list(d)}.")
        self.randomize(None)
        self.noise.set_random_state(state=self.R)
        clean = d[self.key]
        d[self.label_key] = convert_to_dst_type(_as_numpy(clean).copy(), clean, dtype=torch.float32)[0]
        d[self.key] = self.noise(clean)
        shape = tuple(clean.shape)
        d[self.noise_std_key] = convert_to_dst_type(self.noise.noise_std_map(shape), clean, dtype=torch.float32)[0]
        d[self.coils_key] = self.noise.num_coils
        return d


RandTissueContrastD = RandTissueContrastDict = RandTissueContrastd
RandIntensityBandRemapD = RandIntensityBandRemapDict = RandIntensityBandRemapd
RandMagnitudeNoisePairD = RandMagnitudeNoisePairDict = RandMagnitudeNoisePaird
