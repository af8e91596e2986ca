"""Random training patches of precomputed slices: a crop that (usually) contains tissue, of every channel at once.

The items are those of :func:`~monai_nad.data.training_slabs` (one slice) and :func:`~monai_nad.data.training_blocks`
(consecutive slices): a read-only ``"stack"`` of channels (image, head mask and, for MNI, the tissue maps), their
``"channels"`` names and the ``"corners"`` (flat indices) of the crops with enough tissue.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from monai.transforms import RandomizableTransform, Transform

__all__ = ["RandTissuePatchd", "RandTissuePatchD", "RandTissuePatchDict", "RandTissueBlockd", "RandTissueBlockD", "RandTissueBlockDict"]


class RandTissuePatchd(RandomizableTransform, Transform):
    """Crop a random ``P x P`` patch of every channel of a :func:`~monai_nad.data.training_slabs` item.

    With probability ``tissue_prob`` the top-left corner comes from the item's tissue-containing ``"corners"``
    (when it has any), otherwise it is uniform over the slice. The output has one ``(1, P, P)`` float32 array per
    channel (``"image"``, ``"mask"`` and, for MNI, ``"gm"``, ``"wm"``, ``"csf"``), plus ``"volume"`` and ``"z"``.

    With a ``margin`` ``m`` the crop is ``P + 2 m`` wide, the chosen ``P x P`` patch at its centre and zeros (air)
    where it leaves the slice: the surroundings a simulated acquisition needs. A k-space window applied to the
    ``P x P`` patch alone treats it as periodic, so the jump between its opposite edges rings through the reference
    (a sharp partial-Fourier cut most); on a scan the field of view ends in air. Crop the centre back after the
    simulation (:func:`~monai_nad.data.realistic_transforms` does).

    Args:
        patch_size: the patch side ``P``. Defaults to 64.
        tissue_prob: probability of a tissue-containing crop. Defaults to 0.9.
        margin: the context ``m`` on every in-plane side. Defaults to 0.

    Raises:
        ValueError: a negative margin.
    """

    def __init__(self, patch_size: int = 64, tissue_prob: float = 0.9, margin: int = 0) -> None:
        RandomizableTransform.__init__(self, prob=1.0)
        if int(margin) != margin or margin < 0:
            raise ValueError(f"margin must be a non-negative integer, got {margin!r}.")
        self.patch_size = int(patch_size)
        self.tissue_prob = float(tissue_prob)
        self.margin = int(margin)

    def _crop(self, stack: np.ndarray, i: int, j: int) -> np.ndarray:
        """The ``P + 2 m`` crop of ``stack`` ``(..., H, W)`` around the patch at ``(i, j)``, zero outside, float32."""
        p, m = self.patch_size, self.margin
        h, w = stack.shape[-2:]
        out = np.zeros((*stack.shape[:-2], p + 2 * m, p + 2 * m), dtype=np.float32)
        top, left = i - m, j - m
        r0, r1, c0, c1 = max(top, 0), min(top + p + 2 * m, h), max(left, 0), min(left + p + 2 * m, w)
        out[..., r0 - top : r1 - top, c0 - left : c1 - left] = stack[..., r0:r1, c0:c1]
        return out

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        stack = data["stack"]
        _, h, w = stack.shape
        p = self.patch_size
        corners = data["corners"]
        if corners.size and self.R.uniform() < self.tissue_prob:
            i, j = divmod(int(corners[self.R.randint(corners.size)]), w - p + 1)
        else:
            i, j = int(self.R.randint(h - p + 1)), int(self.R.randint(w - p + 1))
        self._last_corner = (i, j)
        patch = self._crop(stack, i, j)
        out: dict[Hashable, Any] = {name: patch[k : k + 1] for k, name in enumerate(data["channels"])}
        out["volume"], out["z"] = data["volume"], data["z"]
        return out


class RandTissueBlockd(RandTissuePatchd):
    """Crop a random ``P x P x D`` patch of every channel of a :func:`~monai_nad.data.training_blocks` item.

    Like :class:`RandTissuePatchd` (same corner choice and margin), but each output channel is a volume
    ``(1, P, P, D)`` (``P + 2 m`` in plane with a margin).
    """

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        stack = data["stack"]  # (D, K, H, W)
        flat = {**data, "stack": stack[stack.shape[0] // 2]}
        corner = super().__call__(flat)  # draws the corner as for one slice
        i, j = self._last_corner
        patch = np.ascontiguousarray(np.moveaxis(self._crop(stack, i, j), 0, -1))  # (K, P, P, D)
        out: dict[Hashable, Any] = {name: patch[k : k + 1] for k, name in enumerate(data["channels"])}
        out["volume"], out["z"] = corner["volume"], data["z"]
        return out


RandTissuePatchD = RandTissuePatchDict = RandTissuePatchd
RandTissueBlockD = RandTissueBlockDict = RandTissueBlockd
