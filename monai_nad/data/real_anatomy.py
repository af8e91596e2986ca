"""The cells of the real-anatomy benchmark (docs/results/real_anatomy.md, docs/results/real_scan_benchmark.md).

Every cell is one volume (the MNI152 template or Colin27) in one contrast (as is, ``"dim"`` or
``"inverted"``, :func:`~monai_nad.data.shift_contrast`) at one Rician noise level. The noise of a slice depends
only on its index ``z``:
``rng = numpy.random.default_rng(1000 + z)``, ``n1 = rng.standard_normal(shape)`` drawn before
``n2 = rng.standard_normal(shape)``, and ``noisy = sqrt((x + s n1)^2 + (s n2)^2)`` computed in float64. So every
method, run and process sees the same noisy slices.

Example::

    for name, noisy, clean in real_anatomy_cells():
        denoised = np.stack([my_denoiser(n) for n in noisy])  # (N, H, W)
        print(name, psnr(denoised, clean))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from monai_nad.data.colin27 import COLIN27_SPLITS, load_colin27
from monai_nad.data.mni import MNI_SPLITS, load_mni_template, shift_contrast
from monai_nad.transforms.noise import rician_noise

__all__ = [
    "REAL_ANATOMY_VOLUMES",
    "REAL_ANATOMY_SHIFTS",
    "REAL_ANATOMY_LEVELS",
    "NEAR_CLEAN_LEVEL",
    "REAL_ANATOMY_SEED_OFFSET",
    "real_anatomy_noise",
    "real_anatomy_cell",
    "real_anatomy_cell_name",
    "real_anatomy_cells",
]

#: The two volumes of the benchmark.
REAL_ANATOMY_VOLUMES = ("mni", "colin27")
#: The three contrasts: as is (``None``), ``"dim"`` and ``"inverted"``.
REAL_ANATOMY_SHIFTS = (None, "dim", "inverted")
#: The evaluation noise levels (fraction of the maximum intensity 1).
REAL_ANATOMY_LEVELS = (0.05, 0.10, 0.15)
#: The near-clean level: the as-is slices at this level must come back (almost) unchanged.
NEAR_CLEAN_LEVEL = 0.005
#: The noise seed of slice ``z`` is ``REAL_ANATOMY_SEED_OFFSET + z``.
REAL_ANATOMY_SEED_OFFSET = 1000

#: The slice splits of each volume.
VOLUME_SPLITS: dict[str, dict[str, tuple[int, ...]]] = {"mni": MNI_SPLITS, "colin27": COLIN27_SPLITS}


def load_volume(volume: str) -> np.ndarray:
    """The clean ``"mni"`` or ``"colin27"`` volume in ``[0, 1]`` (read-only, cached by its loader).

    Raises:
        ValueError: an unknown volume.
        FileNotFoundError: Colin27 is missing (see :func:`~monai_nad.data.colin27_path`).
    """
    # the loaders are looked up at call time, so tests can replace this module's names
    if volume == "mni":
        return load_mni_template()
    if volume == "colin27":
        return load_colin27()
    raise ValueError(f"unknown volume {volume!r}; choose one of {REAL_ANATOMY_VOLUMES}.")


def real_anatomy_noise(clean: np.ndarray, noise_std: float, z: int) -> np.ndarray:
    """Rician noise of slice ``z``, seeded by ``z`` alone (the module's seed protocol).

    Args:
        clean: clean slice ``(H, W)``.
        noise_std: noise standard deviation ``s``.
        z: the slice index (seed ``1000 + z``).

    Returns:
        ``sqrt((x + s n1)^2 + (s n2)^2)`` as float32, ``(H, W)``.
    """
    return rician_noise(clean, float(noise_std), np.random.default_rng(REAL_ANATOMY_SEED_OFFSET + int(z))).astype(np.float32)


def _check(volume: str, shift: str | None, split: str) -> tuple[np.ndarray, tuple[int, ...]]:
    if volume not in VOLUME_SPLITS:
        raise ValueError(f"unknown volume {volume!r}; choose one of {REAL_ANATOMY_VOLUMES}.")
    if shift not in REAL_ANATOMY_SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose one of {REAL_ANATOMY_SHIFTS}.")
    splits = VOLUME_SPLITS[volume]
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(splits)}.")
    return load_volume(volume), splits[split]


def real_anatomy_cell(volume: str, shift: str | None, noise_std: float, split: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One evaluation cell of the benchmark: the split's axial slices of one volume, in one contrast, at one noise level.

    Args:
        volume: ``"mni"`` or ``"colin27"``.
        shift: ``None`` (as is), ``"dim"`` or ``"inverted"`` (see :func:`~monai_nad.data.shift_contrast`).
        noise_std: the noise standard deviation ``s``.
        split: ``"test"`` (the benchmark) or ``"validation"`` (same formula, seed ``1000 + z`` of those slices).
            Defaults to ``"test"``.

    Returns:
        ``(noisy, clean, z)``: noisy and clean ``(N, H, W)`` float32, and the ``N`` slice indices (int64).

    Raises:
        ValueError: unknown volume, shift or split.
        FileNotFoundError: Colin27 is missing (see :func:`~monai_nad.data.colin27_path`).
    """
    data, zs = _check(volume, shift, split)
    clean = np.stack([shift_contrast(data[:, :, z], shift) for z in zs]).astype(np.float32)
    noisy = np.stack([real_anatomy_noise(c, noise_std, z) for c, z in zip(clean, zs)])
    return noisy, clean, np.asarray(zs, dtype=np.int64)


def real_anatomy_cell_name(volume: str, shift: str | None, noise_std: float) -> str:
    """The name of a cell, e.g. ``"colin27_inverted_0.10"`` or ``"mni_asis_0.005"``."""
    std_text = f"{noise_std:.2f}" if abs(round(noise_std, 2) - noise_std) < 1e-12 else f"{noise_std:g}"
    return f"{volume}_{shift or 'asis'}_{std_text}"


def real_anatomy_cells(split: str = "test", include_near_clean: bool = True) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Iterate the 18 cells of the benchmark (volume-major, then contrast, then level), then the near-clean cells.

    Args:
        split: ``"test"`` or ``"validation"``. Defaults to ``"test"``.
        include_near_clean: also yield the as-is cells at :data:`NEAR_CLEAN_LEVEL` for both volumes
            (``"mni_asis_0.005"``, ``"colin27_asis_0.005"``). Defaults to True.

    Yields:
        ``(name, noisy, clean)`` with ``(N, H, W)`` float32 stacks.
    """
    for volume in REAL_ANATOMY_VOLUMES:
        for shift in REAL_ANATOMY_SHIFTS:
            for level in REAL_ANATOMY_LEVELS:
                noisy, clean, _ = real_anatomy_cell(volume, shift, level, split)
                yield real_anatomy_cell_name(volume, shift, level), noisy, clean
    if include_near_clean:
        for volume in REAL_ANATOMY_VOLUMES:
            noisy, clean, _ = real_anatomy_cell(volume, None, NEAR_CLEAN_LEVEL, split)
            yield real_anatomy_cell_name(volume, None, NEAR_CLEAN_LEVEL), noisy, clean
