"""The scanner-noise benchmark (filtered, partial-Fourier, 8-coil sum-of-squares, SENSE R = 2), in the one loop.

The 32 cells (:func:`scanner_cells`): {MNI, Colin27} x {as is, inverted} x the four conditions of
:data:`~monai_nad.transforms.scanner_noise.SCANNER_NOISE_CONDITIONS` x ``s`` in {0.05, 0.10}. A cell's slices are
the real-anatomy benchmark's clean slices (:func:`~monai_nad.data.real_anatomy_cell`: test ``z`` in ``[90, 100)``,
validation ``z`` in ``[80, 90)``), each put through :func:`~monai_nad.transforms.scanner_noise.scanner_noise_slice` (seed ``2000 + z``);
the reference a method is scored against is that simulation's noise-free output (both divided by its maximum).
For ``sense2`` the slices lose their last row when their length along axis 0 is odd, the reference too, so every
stack of a cell has one shape.

Every cell goes through :func:`~monai_nad.experiments.evaluation.benchmark_cells`, the project's one evaluation
loop (mean PSNR / SSIM over the slices, outputs clipped to ``[0, 1]``, seconds per slice on one thread). The methods:

- ``neural_pde_2d``: the shipped 2D model, blind (told nothing; the command line's default noise estimate, the noise
  map read from the air, told as its white equivalent), through the command line's inferer
  (:func:`~monai_nad.experiments.volume_benchmark.scan_method`, ``--mode 2d``);
- ``neural_pde_3d``: the shipped volume model, blind, on the cell's test slab stacked as a volume ``(H, W, N)``
  (``--mode 3d``; the same in-plane condition on every slice);
- ``neural_pde_2d_level``, ``neural_pde_3d_level``: the same with ``--noise-estimate level`` (one white Rician level);
- ``neural_pde_2d_int8``, ``neural_pde_3d_int8``: the first two with ``--precision int8`` (the inner convolutions in
  8-bit integers, the bundle's ``models/int8_ranges.json``, :func:`~monai_nad.networks.int8_network`);
- ``bm3d_true_noise`` (the anchor): BM3D told the true noise of each slice (:func:`bm3d_told_true_noise`), then the
  magnitude bias correction ``sqrt(max(f^2 - 2 b N s_eff^2, 0))`` with ``s_eff`` the true per-pixel std map and
  ``N`` the effective coil count, ``b`` tuned on the validation slab over the ``b`` grid of the real-anatomy benchmark's BM3D+rc
  (:data:`~monai_nad.baselines.tuning.B_GRID`);
- ``bm3d_white``: BM3D told a white level, ``factor x`` the median of the slice's true std map, ``factor`` and ``b``
  tuned on the validation slab (:func:`bm3d_white_tuner`; the correction uses that median and ``N``);
- ``dipy_nlmeans_std_map``: DIPY's Rician non-local means told the true per-pixel std map (each slice as a
  one-slice volume: DIPY takes no 2D image).

The non-blind methods get their side information (:class:`TrueNoise`) from the cell (``TestCell.side``), the loop
passes it to the methods and tuners marked ``side_info = True``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monai_nad.baselines.tuning import B_GRID
from monai_nad.bundle import int8_ranges_path
from monai_nad.data.real_anatomy import REAL_ANATOMY_VOLUMES, real_anatomy_cell
from monai_nad.experiments.evaluation import TestCell, Tuner, benchmark_cells, matching_cells
from monai_nad.experiments.machine import machine_description
from monai_nad.experiments.records import row_run
from monai_nad.experiments.volume_benchmark import scan_method, shipped_models
from monai_nad.inference.heap import keep_freed_memory
from monai_nad.metrics import psnr
from monai_nad.transforms.noise import magnitude_bias_correction
from monai_nad.transforms.scanner_noise import SCANNER_NOISE_CONDITIONS, scanner_noise_slice

__all__ = [
    "SCANNER_VOLUMES",
    "SCANNER_SHIFTS",
    "SCANNER_LEVELS",
    "SCANNER_CONDITIONS",
    "SCANNER_METHODS",
    "WHITE_FACTORS",
    "BLIND",
    "ANCHOR",
    "TrueNoise",
    "scanner_cell_name",
    "scanner_cell_keys",
    "scanner_test_cell",
    "scanner_cells",
    "select_cells",
    "bm3d_told_true_noise",
    "bm3d_true_noise_slice",
    "blind_model_methods",
    "bm3d_true_noise_tuner",
    "bm3d_true_noise",
    "bm3d_white_tuner",
    "bm3d_white",
    "dipy_nlmeans_std_map",
    "scanner_methods",
    "scanner_card_section",
    "run_scanner_benchmark",
    "summarise_scanner",
    "render_scanner_page",
    "scanner_figure",
]

#: The volumes, contrasts (as is, inverted) and levels of the benchmark.
SCANNER_VOLUMES = REAL_ANATOMY_VOLUMES
SCANNER_SHIFTS: tuple[str | None, ...] = (None, "inverted")
SCANNER_LEVELS = (0.05, 0.10)
SCANNER_CONDITIONS = SCANNER_NOISE_CONDITIONS
#: The methods of the page, in its column order.
SCANNER_METHODS = (
    "neural_pde_2d", "neural_pde_3d", "neural_pde_2d_level", "neural_pde_3d_level", "neural_pde_2d_int8", "neural_pde_3d_int8",
    "bm3d_true_noise", "bm3d_white", "dipy_nlmeans_std_map",
)
#: The white factors ``bm3d_white`` may choose from: two, to keep the whole run near an hour on one core (BM3D on
#: every validation slice per factor is most of its cost), chosen from checks on single validation slices (factors
#: 0.5-4) that the page reports (:func:`render_scanner_page`).
WHITE_FACTORS = (1.25, 3.0)
#: The model the quality bar grades, and the anchor it is graded against.
BLIND, ANCHOR = "neural_pde_2d", "bm3d_true_noise"
#: the blind 2D model with int8 convolutions (``--precision int8``)
INT8 = "neural_pde_2d_int8"


@dataclass(frozen=True)
class TrueNoise:
    """What the non-blind methods are told about one slice's noise (all divided by the slice's reference maximum).

    Attributes:
        z: the slice index.
        std_map: per-pixel noise std of one real channel ``(H, W)`` (constant but for ``sense2``).
        psd: the noise PSD ``(H, W)`` in the ``bm3d`` package's convention: of one real channel for the stationary
            conditions (symmetrised for partial Fourier: what a real channel sees of its one-sided window), of the
            unit-variance noise for ``sense2``.
        stationary: whether the noise is stationary (then ``psd`` carries the level).
        coils: the effective coil count ``N`` of the magnitude's law (8 for sos8, else 1).
        noise_std: the slice's nominal noise std ``s`` divided by the reference maximum.
    """

    z: int
    std_map: np.ndarray
    psd: np.ndarray
    stationary: bool
    coils: float
    noise_std: float

    @property
    def white(self) -> float:
        """One white level: the median of the std map."""
        return float(np.median(self.std_map))


def _check_cell(volume: str, shift: str | None, condition: str, noise_std: float) -> None:
    if volume not in SCANNER_VOLUMES:
        raise ValueError(f"unknown volume {volume!r}; choose one of {SCANNER_VOLUMES}.")
    if shift not in SCANNER_SHIFTS:
        raise ValueError(f"unknown contrast {shift!r}; the scanner-noise cells have the contrasts {SCANNER_SHIFTS}.")
    if condition not in SCANNER_CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {SCANNER_CONDITIONS}.")
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std > 0):
        raise ValueError(f"noise_std must be a positive number, got {noise_std!r}.")


def scanner_cell_name(volume: str, shift: str | None, condition: str, noise_std: float) -> str:
    """A cell's name, e.g. ``"mni_asis_filtered_0.05"`` or ``"colin27_inverted_sense2_0.10"``."""
    return f"{volume}_{shift or 'asis'}_{condition}_{noise_std:.2f}"


def scanner_cell_keys() -> list[tuple[str, str | None, str, float]]:
    """The 32 cells' ``(volume, shift, condition, noise_std)``: volume-major, then contrast, condition, noise std."""
    return [(v, s, c, lv) for v in SCANNER_VOLUMES for s in SCANNER_SHIFTS for c in SCANNER_CONDITIONS for lv in SCANNER_LEVELS]


@functools.lru_cache(maxsize=2)
def _simulated(volume: str, shift: str | None, condition: str, noise_std: float, split: str) -> tuple[np.ndarray, np.ndarray, tuple[TrueNoise, ...]]:
    """One split of one cell, simulated once for its ``load`` and its ``side`` (the loop asks for both in turn)."""
    _, clean, zs = real_anatomy_cell(volume, shift, noise_std, split)  # the real-anatomy clean slices, exactly (its noise unused)
    noisy, reference, side = [], [], []
    for image, z in zip(clean, zs):
        sample = scanner_noise_slice(image, int(z), condition, noise_std)
        noisy.append(sample.noisy)
        reference.append(sample.reference)
        std, psd = np.array(sample.noise_std_map, dtype=np.float64), np.array(sample.noise_psd, dtype=np.float64)
        std.setflags(write=False)
        psd.setflags(write=False)
        side.append(TrueNoise(int(z), std, psd, bool(sample.stationary), float(sample.effective_coils), float(sample.noise_std)))
    return np.stack(noisy).astype(np.float32), np.stack(reference).astype(np.float32), tuple(side)


def scanner_test_cell(volume: str, shift: str | None, condition: str, noise_std: float) -> TestCell:
    """One cell of the benchmark for the one loop.

    Args:
        volume: ``"mni"`` or ``"colin27"``.
        shift: ``None`` (as is) or ``"inverted"``.
        condition: one of :data:`SCANNER_CONDITIONS`.
        noise_std: ``s`` (0.05 and 0.10 in the benchmark), in the clean slice's units.

    Returns:
        a :class:`~monai_nad.experiments.evaluation.TestCell` named :func:`scanner_cell_name`, told ``noise_std`` ``s``:
        ``load(split)`` gives the noisy and reference ``(N, H, W)`` float32 stacks (``N`` = 10; for ``sense2`` ``H``
        is cut to even), ``side(split)`` a :class:`TrueNoise` per slice.

    Raises:
        ValueError: an unknown volume, contrast or condition, or a bad ``noise_std``.
    """
    _check_cell(volume, shift, condition, noise_std)
    noise_std = float(noise_std)

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        noisy, reference, _ = _simulated(volume, shift, condition, noise_std, split)
        return noisy.copy(), reference.copy()

    def side(split: str) -> tuple[TrueNoise, ...]:
        return _simulated(volume, shift, condition, noise_std, split)[2]

    return TestCell(scanner_cell_name(volume, shift, condition, noise_std), noise_std, load, True, side)


def scanner_cells() -> list[TestCell]:
    """The 32 cells of the benchmark in a fixed order (:func:`scanner_cell_keys`)."""
    return [scanner_test_cell(*key) for key in scanner_cell_keys()]


def select_cells(patterns: Iterable[str] | None = None) -> list[TestCell]:
    """The cells whose names match any of the shell-style ``patterns`` (all 32 for None), in the fixed order.

    Raises:
        ValueError: a pattern that matches no cell.
    """
    return matching_cells(scanner_cells(), patterns)


# ------------------------------------------------------------------------------------------------------ anchors
def _bias_corrected(image: np.ndarray, std: np.ndarray | float, coils: float, b: float) -> np.ndarray:
    """:func:`~monai_nad.transforms.noise.magnitude_bias_correction` in float64, as float32: ``std`` a per-pixel std map
    or one level, ``coils`` the coil count."""
    return magnitude_bias_correction(np.asarray(image, dtype=np.float64), std, coils, b).astype(np.float32)


def _bm3d(image: np.ndarray, sigma_psd: np.ndarray | float) -> np.ndarray:
    import bm3d

    if not hasattr(np, "trapz"):  # bm3d calls numpy.trapz for PSD input, which numpy 2 removed
        np.trapz = np.trapezoid  # type: ignore[attr-defined]
    profile = bm3d.BM3DProfile()
    profile.num_threads = 1  # one thread, like every method; also deterministic
    return np.asarray(bm3d.bm3d(np.asarray(image, dtype=np.float64), sigma_psd=sigma_psd, profile=profile), dtype=np.float64)


def bm3d_told_true_noise(image: np.ndarray, noise: TrueNoise) -> np.ndarray:
    """BM3D told the true noise of a slice, before the bias correction.

    Stationary noise: ``sigma_psd`` = the noise PSD of one real channel (its float round-off below zero clipped to 0,
    which the ``bm3d`` package's PSD analysis does not survive). ``sense2``: the image divided by the true per-pixel
    std map, denoised with std 1, multiplied back.
    """
    if noise.stationary:
        return _bm3d(image, np.maximum(noise.psd, 0.0))
    return _bm3d(np.asarray(image, dtype=np.float64) / noise.std_map, 1.0) * noise.std_map


def bm3d_true_noise_slice(image: np.ndarray, noise: TrueNoise, b: float) -> np.ndarray:
    """The anchor on one slice: :func:`bm3d_told_true_noise`, then the magnitude bias correction with the true
    per-pixel std map, the effective coil count and ``b``."""
    return _bias_corrected(bm3d_told_true_noise(image, noise), noise.std_map, noise.coils, b)


def _median_psnr(pred: np.ndarray, clean: np.ndarray) -> float:
    """The median PSNR over the slices, as :func:`~monai_nad.metrics.median_scores` gives it (without its other scores)."""
    import torch

    p = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32))[:, None]
    c = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[:, None]
    return float(np.median(psnr(p, c).numpy()))


def _best_b(outputs: Sequence[np.ndarray], clean: np.ndarray, stds: Sequence[Any], coils: Sequence[float], b_grid: Sequence[float]) -> tuple[float, float]:
    """The ``b`` of the highest median validation PSNR (the selection rule of the one tuner, first best kept)."""
    best: tuple[float, float] | None = None
    for b in b_grid:
        corrected = np.stack([_bias_corrected(o, s, n, b) for o, s, n in zip(outputs, stds, coils)])
        value = _median_psnr(corrected, clean)
        if best is None or value > best[1]:
            best = (float(b), float(value))
    assert best is not None
    return best


def bm3d_true_noise_tuner(b_grid: Sequence[float] = B_GRID) -> Tuner:
    """The anchor of the benchmark: :func:`bm3d_told_true_noise`, then :func:`_bias_corrected` with the true std
    map and coil count, ``b`` chosen from ``b_grid`` by median PSNR on the validation slab (as the one tuner chooses)."""

    def tune(noisy_val: np.ndarray, clean_val: np.ndarray, noise_std: float, side_val: Sequence[TrueNoise]):
        outputs = [bm3d_told_true_noise(x, n) for x, n in zip(noisy_val, side_val)]
        b, value = _best_b(outputs, clean_val, [n.std_map for n in side_val], [n.coils for n in side_val], b_grid)

        def denoise(image: np.ndarray, noise_std: float, noise: TrueNoise) -> np.ndarray:
            return bm3d_true_noise_slice(image, noise, b)

        return denoise, {"b": b, "validation_psnr": value}

    tune.side_info = True  # type: ignore[attr-defined]
    return tune


def bm3d_white_tuner(factors: Sequence[float] = WHITE_FACTORS, b_grid: Sequence[float] = B_GRID) -> Tuner:
    """BM3D told a white level: ``factor x`` the median of the slice's true std map, then the bias correction with that
    median and the coil count; ``factor`` and ``b`` chosen together on the validation slab (median PSNR).

    Raises:
        ValueError: no factor, or a non-positive one.
    """
    factors = tuple(float(f) for f in factors)
    if not factors or min(factors) <= 0:
        raise ValueError(f"factors must be positive numbers, got {factors!r}.")

    def tune(noisy_val: np.ndarray, clean_val: np.ndarray, noise_std: float, side_val: Sequence[TrueNoise]):
        best: tuple[float, float, float] | None = None
        whites, coils = [n.white for n in side_val], [n.coils for n in side_val]
        for factor in factors:
            outputs = [_bm3d(x, factor * w) for x, w in zip(noisy_val, whites)]
            b, value = _best_b(outputs, clean_val, whites, coils, b_grid)
            if best is None or value > best[2]:
                best = (factor, b, value)
        assert best is not None
        factor, b, value = best

        def denoise(image: np.ndarray, noise_std: float, noise: TrueNoise) -> np.ndarray:
            return _bias_corrected(_bm3d(image, factor * noise.white), noise.white, noise.coils, b)

        return denoise, {"factor": factor, "b": b, "validation_psnr": value}

    tune.side_info = True  # type: ignore[attr-defined]
    return tune


#: The anchor and BM3D told a white level, with the default grids.
bm3d_true_noise = bm3d_true_noise_tuner()
bm3d_white = bm3d_white_tuner()


def dipy_nlmeans_std_map(noisy: np.ndarray, noise_std: float, side: Sequence[TrueNoise]) -> tuple[np.ndarray, list[float]]:
    """DIPY's non-local means (``rician=True``, its default radii, one thread) told each slice's true std map.

    DIPY's ``nlmeans`` takes 3D and 4D arrays only, so each slice is denoised as a one-slice volume ``(H, W, 1)`` with
    its std map as ``sigma`` (its blockwise method reads ``sigma`` voxel by voxel).
    """
    from dipy.denoise.nlmeans import nlmeans

    out, times = [], []
    for image, noise in zip(noisy, side):
        x = np.asarray(image, dtype=np.float64)[:, :, None]
        sigma = np.array(noise.std_map, dtype=np.float64)[:, :, None]  # a writable copy: DIPY's buffers refuse read-only arrays
        start = time.perf_counter()
        y = nlmeans(x, sigma=sigma, rician=True, num_threads=1)
        times.append(time.perf_counter() - start)
        out.append(np.asarray(y[:, :, 0], dtype=np.float32))
    return np.stack(out), times


dipy_nlmeans_std_map.side_info = True  # type: ignore[attr-defined]


def blind_model_methods(names: Iterable[str], bundle: str | Path | None = None) -> dict[str, Callable]:
    """The shipped models as benchmark methods, blind, through the command line's inferer
    (:func:`~monai_nad.experiments.volume_benchmark.scan_method`), for the names in ``names`` of ``neural_pde_2d``,
    ``neural_pde_3d`` (the default noise map), their ``_level`` (one white level) and ``_int8`` (``--precision int8``
    with the bundle's calibration) forms; other names are ignored. The models are loaded once, and only when named."""
    wanted = [n for n in names if n.startswith("neural_pde")]
    if not wanted:
        return {}
    net2d, net3d = shipped_models(bundle)
    ranges = int8_ranges_path(bundle)
    builders = {
        "neural_pde_2d": lambda: scan_method(net2d, None, "2d", noise_estimate="map"),
        "neural_pde_3d": lambda: scan_method(net2d, net3d, "3d", noise_estimate="map"),
        "neural_pde_2d_level": lambda: scan_method(net2d, None, "2d", noise_estimate="level"),
        "neural_pde_3d_level": lambda: scan_method(net2d, net3d, "3d", noise_estimate="level"),
        "neural_pde_2d_int8": lambda: scan_method(net2d, None, "2d", noise_estimate="map", precision="int8", int8_ranges=ranges),
        "neural_pde_3d_int8": lambda: scan_method(net2d, net3d, "3d", noise_estimate="map", precision="int8", int8_ranges=ranges),
    }
    return {n: builders[n]() for n in wanted if n in builders}


def scanner_methods(
    names: Sequence[str] = SCANNER_METHODS, bundle: str | Path | None = None, white_factors: Sequence[float] = WHITE_FACTORS
) -> tuple[dict[str, Callable], dict[str, Tuner]]:
    """The methods of the benchmark named in ``names`` as the loop takes them: ``(methods, tuned)``. The shipped models
    (``bundle``, the default bundle for None) are loaded only when named.

    Raises:
        ValueError: an unknown name.
    """
    unknown = [n for n in names if n not in SCANNER_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {SCANNER_METHODS}.")
    methods: dict[str, Callable] = {}
    tuned: dict[str, Tuner] = {}
    models = blind_model_methods(names, bundle)
    for name in SCANNER_METHODS:
        if name not in names:
            continue
        if name.startswith("neural_pde"):
            methods[name] = models[name]
        elif name == "dipy_nlmeans_std_map":
            methods[name] = dipy_nlmeans_std_map
        elif name == "bm3d_true_noise":
            tuned[name] = bm3d_true_noise
        else:
            tuned[name] = bm3d_white_tuner(white_factors)
    return methods, tuned


def run_scanner_benchmark(
    cells: Sequence[TestCell] | None = None,
    names: Sequence[str] = SCANNER_METHODS,
    limit: int | None = None,
    white_factors: Sequence[float] = WHITE_FACTORS,
    bundle: str | Path | None = None,
    log: Callable[[str], None] = print,
    outputs: dict[tuple[str, str], np.ndarray] | None = None,
) -> list[dict]:
    """Score the named methods on the cells (all 32 for None) through the one loop; each row also gets its cell's
    ``volume``, ``contrast``, ``condition`` and ``level`` (its ``noise_std``; the key the results JSON keeps) and the
    ``machine`` its time was measured on (:func:`~monai_nad.experiments.machine.machine_description`). Like the command
    line, the process keeps freed memory (:func:`~monai_nad.inference.heap.keep_freed_memory`), for every method."""
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()
    methods, tuned = scanner_methods(names, bundle, white_factors)
    rows = benchmark_cells(scanner_cells() if cells is None else cells, methods, tuned=tuned, bm3d=False, limit=limit, log=log, outputs=outputs)
    machine = machine_description()
    return [{**_with_keys(r), "machine": machine} for r in rows]


_KEYS = {scanner_cell_name(*k): k for k in scanner_cell_keys()}


def _with_keys(row: dict) -> dict:
    volume, shift, condition, noise_std = _KEYS[row["cell"]]
    return row | {"volume": volume, "contrast": shift or "asis", "condition": condition, "level": noise_std}


# ------------------------------------------------------------------------------------------------------ the page
def summarise_scanner(rows: Sequence[dict]) -> dict:
    """Per-cell differences of the blind 2D model (and of the volume model) to the anchor, the page's quality bar
    (blind >= anchor in every cell, mean >= +0.5 dB), per-condition and overall means of every
    method (PSNR, SSIM; ``"noisy"`` the input) and median ms per slice."""
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    condition = {r["cell"]: _KEYS[r["cell"]][2] for r in rows}

    def diffs(model: str, against: str = ANCHOR, score: str = "psnr") -> dict[str, float]:
        return {c: by[c, model][score] - by[c, against][score] for c in cells if (c, model) in by and (c, against) in by}

    def means(group: list[str]) -> dict[str, dict[str, float]]:
        first = {c: next(r for r in rows if r["cell"] == c) for c in group}
        out = {"noisy": {"psnr": float(np.mean([first[c]["input_psnr"] for c in group])),
                         "ssim": float(np.mean([first[c]["input_ssim"] for c in group])), "cells": len(group)}}
        for m in methods:
            mine = [by[c, m] for c in group if (c, m) in by]
            if mine:
                out[m] = {"psnr": float(np.mean([r["psnr"] for r in mine])), "ssim": float(np.mean([r["ssim"] for r in mine])), "cells": len(mine)}
        return out

    blind, volume, int8 = diffs(BLIND), diffs("neural_pde_3d"), diffs(INT8)
    int8_over_float = diffs(INT8, BLIND)
    volume_over_2d, ssim_over_2d = diffs("neural_pde_3d", BLIND), diffs("neural_pde_3d", BLIND, "ssim")
    groups = {cond: [c for c in cells if condition[c] == cond] for cond in SCANNER_CONDITIONS}
    return {
        "cells": len(cells),
        "blind_minus_anchor": blind,
        "cells_blind_at_least_anchor": sum(v >= 0 for v in blind.values()),
        "mean_blind_minus_anchor": float(np.mean(list(blind.values()))) if blind else None,
        "worst_blind_minus_anchor": float(min(blind.values())) if blind else None,
        "volume_minus_anchor": volume,
        "mean_volume_minus_anchor": float(np.mean(list(volume.values()))) if volume else None,
        "cells_volume_at_least_anchor": sum(v >= 0 for v in volume.values()),
        "volume_minus_blind": volume_over_2d,
        "volume_minus_blind_ssim": ssim_over_2d,
        "int8_minus_anchor": int8,
        "cells_int8_at_least_anchor": sum(v >= 0 for v in int8.values()),
        "int8_minus_blind": int8_over_float,
        "by_condition": {cond: means(group) for cond, group in groups.items() if group},
        "overall": means(cells) if cells else {},
        "median_ms_per_slice": {m: float(np.median([r["ms"] for r in rows if r["method"] == m])) for m in methods},
        "runs": {m: sorted({row_run(r) for r in rows if r["method"] == m}) for m in methods},
        "same_run_speed": _same_run_speed(rows),
    }


def scanner_card_section(summary: dict, command: str) -> str | None:
    """The model card's scanner-noise section: the per-condition means of the shipped models and the anchor, and the
    quality bar, from :func:`summarise_scanner` of a full run (None when the run lacks a method or cells)."""
    shown = [m for m in (BLIND, "neural_pde_3d", INT8, "neural_pde_2d_level", ANCHOR) if m in summary["overall"]]
    if summary["cells"] != len(scanner_cell_keys()) or BLIND not in shown or ANCHOR not in shown:
        return None
    lines = [f"Measured by `{command}` ([`docs/results/scanner_noise.md`](../../../docs/results/scanner_noise.md)): the 32 cells of "
             "filtered, partial-Fourier, 8-coil sum-of-squares and SENSE R = 2 noise simulated through k-space from the 1c test "
             "slabs; ours blind (the CLI's default noise map, correlated noise told as its white equivalent), BM3D told the "
             "true noise. Mean PSNR dB / SSIM per condition.", "",
             "| condition | " + " | ".join(f"`{m}`" for m in shown) + " |", "|---|" + "---|" * len(shown)]
    groups = {**summary["by_condition"], "**all**": summary["overall"]}
    for name, group in groups.items():
        lines.append(f"| {name} | " + " | ".join(f"{group[m]['psnr']:.2f} / {group[m]['ssim']:.3f}" for m in shown) + " |")
    lines += ["", f"Blind 2D ≥ BM3D-true in {summary['cells_blind_at_least_anchor']} of {len(summary['blind_minus_anchor'])} cells "
              f"(worst {summary['worst_blind_minus_anchor']:+.2f} dB), mean {summary['mean_blind_minus_anchor']:+.2f} dB; the volume "
              f"model in {summary['cells_volume_at_least_anchor']} of {len(summary['volume_minus_anchor'])} cells, mean "
              f"{summary['mean_volume_minus_anchor']:+.2f} dB" + _volume_over_2d_clause(summary) + "."]
    int8 = summary.get("int8_minus_anchor") or {}
    if int8:
        over = summary["int8_minus_blind"]
        lines[-1] += (f" With `--precision int8` (`{INT8}`): ≥ BM3D-true in {summary['cells_int8_at_least_anchor']} of {len(int8)} "
                      f"cells (worst {min(int8.values()):+.2f} dB), {np.mean(list(over.values())):+.3f} dB against float32 on average.")
    return "\n".join(lines)


def _volume_over_2d_clause(summary: dict) -> str:
    over = summary.get("volume_minus_blind") or {}
    if not over:
        return ""
    return (f", and at or above the 2D model in {sum(v >= 0 for v in over.values())} of {len(over)} cells "
            f"(worst {min(over.values()):+.2f} dB)")


def _same_run_speed(rows: Sequence[dict]) -> dict | None:
    """The blind 2D model's and the anchor's median ms per slice over the cells that one command of the chain timed
    both in (the last such command), their ratio and the machine it ran on (None for rows that do not name it); None
    when no command timed both."""
    runs = sorted({row_run(r) for r in rows}, reverse=True)
    for run in runs:
        mine = {m: [r["ms"] for r in rows if r["method"] == m and row_run(r) == run] for m in (BLIND, "neural_pde_3d", INT8, ANCHOR)}
        if mine[BLIND] and mine[ANCHOR]:
            out = {m: float(np.median(v)) for m, v in mine.items() if v}
            machine = next((r["machine"] for r in rows if r["method"] == ANCHOR and row_run(r) == run and r.get("machine")), None)
            return {"run": run, "cells": len(mine[ANCHOR]), "ms": out, "anchor_over_blind": out[ANCHOR] / out[BLIND],
                    "anchor_over_volume": out[ANCHOR] / out["neural_pde_3d"] if "neural_pde_3d" in out else None,
                    "anchor_over_int8": out[ANCHOR] / out[INT8] if INT8 in out else None, "machine": machine}
    return None


_LABELS = {
    "neural_pde_2d": "ours 2D, blind",
    "neural_pde_3d": "ours volume, blind",
    "neural_pde_2d_int8": "ours 2D, blind, int8",
    "bm3d_true_noise": "BM3D told the true noise",
    "bm3d_white": "BM3D told a white level",
    "dipy_nlmeans_std_map": "DIPY nlmeans, true std map",
}


def _chosen_range(rows: Sequence[dict], method: str, key: str) -> str:
    values = sorted({r["chosen"][key] for r in rows if r["method"] == method and key in r.get("chosen", {})})
    if not values:
        return "–"
    return f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g}–{values[-1]:g} (" + ", ".join(f"{v:g}" for v in values) + ")"


def render_scanner_page(rows: Sequence[dict], summary: dict, command: str, settings: dict | None = None, figure: str | None = None) -> str:
    """The benchmark's page (docs/results/scanner_noise.md): every cell, the per-condition means, the quality bar,
    times, the figure and how it was made."""
    settings = dict(settings or {})
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    methods = [m for m in SCANNER_METHODS if any(r["method"] == m for r in rows)]
    methods += [m for m in dict.fromkeys(r["method"] for r in rows) if m not in methods]
    limit = settings.get("limit")
    slices = "the 10 test slices" if limit is None else f"the first {limit} test slice(s) (a quick run, not the benchmark)"
    factors = settings.get("white_factors", list(WHITE_FACTORS))
    lines = [
        "# Scanner noise: BENCHMARK 1d",
        "",
        f"Produced by `{command}` (one thread for every method; every method on the same noisy slices, scored by the one "
        "evaluation loop `monai_nad.experiments.evaluation.benchmark_cells`).",
        "",
        "The clean slices of section 1c (MNI and Colin27, as is and inverted; test z 90-99, validation z 80-89) go through "
        "`monai_nad.transforms.scanner_noise.scanner_noise_slice` (seed 2000 + z): a smooth phase, coils, complex k-space noise "
        "through the condition's window, the coil combination; the noisy image and the noise-free reference divided by the "
        "reference's maximum. Every method is scored against that reference. Conditions: `filtered` (one coil, Hann window "
        "over the central 70 % per axis, magnitude), `partial_fourier` (one coil, 5/8 of axis 0 acquired and zero-filled), "
        "`sos8` (8 coils, Hann over 80 %, root-sum-of-squares), `sense2` (8 coils, R = 2 along axis 0, SENSE unfolding with "
        "the true maps; the slice cut to an even number of rows, the reference too). s is the std of one real channel of "
        "one coil's image in the clean slice's units.",
        "",
        "Methods:",
        "",
        "- `neural_pde_2d` (**ours, blind**): the shipped 2D model through the command line's inferer (`monai-nad denoise "
        "--mode 2d`), told nothing: not the condition, the level or the coils. It reads the noise from the air once per slab "
        "(`--noise-estimate map`, the default: a per-voxel std map, the coil count and the noise's correlation, "
        "`monai_nad.transforms.noise_map.estimate_noise`) and tells the network correlated noise as its white equivalent "
        "(`white_equivalent_factor`: the std times `max(1, 0.7 sqrt(P(0)))`, with the magnitude bias of the true std; "
        "the gain chosen on the validation slabs by `python scripts/tune_white_equivalent.py`).",
        "- `neural_pde_3d`: the shipped volume model, blind (`--mode 3d`, gain 0.6), on each cell's test slab stacked as one volume.",
        "- `neural_pde_2d_level`, `neural_pde_3d_level`: the same two with `--noise-estimate level` (one white Rician level, "
        "the default before the noise map): what the models gave on scanner noise before.",
        "- `neural_pde_2d_int8`, `neural_pde_3d_int8`: the first two with `--precision int8`: their inner convolutions in 8-bit "
        "integers with the ranges calibrated on the training slabs (`python scripts/calibrate_int8.py`, "
        "[int8_validation.md](int8_validation.md)).",
        "- `bm3d_true_noise` (**the anchor**): BM3D told the true noise. Stationary conditions: `sigma_psd` = the noise "
        "PSD of one real channel that `scanner_noise_slice` returns (bm3d's convention; for `partial_fourier` the "
        "symmetrised spectrum (|W(f)|² + |W(−f)|²) / 2, which is what one real channel, and the magnitude, sees of the "
        "one-sided window). `sense2`: the image divided by the true per-pixel std map, denoised with std 1, multiplied "
        "back. Then `sqrt(max(f² − 2 b N s_eff², 0))` with s_eff the true per-pixel std map and N the effective coil "
        "count (8 for sos8, else 1), b chosen per cell on the validation slab by median PSNR from the b grid of "
        "section 1c's BM3D+rc (`monai_nad.baselines.tuning.B_GRID`).",
        f"- `bm3d_white`: BM3D told a white level, factor × the median of the true std map, factor from {{{', '.join(f'{f:g}' for f in factors)}}} "
        "and b chosen together on the validation slab; the correction uses that median and N. "
        + ("**Two factors only, to keep the run near an hour on one core** (BM3D on every validation slice per factor is most "
           "of its cost); checks on single validation slices (factors 0.5-4) found the best at 1 for sense2 (1.25 within "
           "0.25 dB), 1.25-1.5 for partial_fourier and 3-4 for filtered and sos8 (4 at most 0.1 dB above 3), so this "
           "anchor may be up to about 0.25 dB below a finer grid's." if tuple(factors) == WHITE_FACTORS else ""),
        "- `dipy_nlmeans_std_map`: DIPY `nlmeans` (`rician=True`, default radii) with `sigma` = the true std map, each "
        "slice as a one-slice volume (DIPY takes no 2D image). Its Rician model assumes one coil, also on sos8.",
        "",
        f"## Every cell (PSNR dB / SSIM, mean over {slices})",
        "",
        "| cell | noisy | " + " | ".join(f"`{m}`" for m in methods) + " | 2D blind − BM3D-true |",
        "|---|---|" + "---|" * len(methods) + "---|",
    ]
    for cell in cells:
        first = next(r for r in rows if r["cell"] == cell)
        values = []
        for method in methods:
            r = by.get((cell, method))
            values.append(f"{r['psnr']:.2f} / {r['ssim']:.3f}" if r else "–")
        delta = summary["blind_minus_anchor"].get(cell)
        lines.append(f"| {cell} | {first['input_psnr']:.2f} / {first['input_ssim']:.3f} | " + " | ".join(values)
                     + f" | {'–' if delta is None else f'{delta:+.2f}'} |")
    lines += ["", "## Means per condition (PSNR dB / SSIM over the cells of each: 2 volumes × 2 contrasts × 2 levels)", "",
              "| condition | cells | noisy | " + " | ".join(f"`{m}`" for m in methods) + " |",
              "|---|---|---|" + "---|" * len(methods)]
    groups = list(summary["by_condition"].items()) + ([("**all**", summary["overall"])] if summary["overall"] else [])
    for name, group in groups:
        values = [f"{group[m]['psnr']:.2f} / {group[m]['ssim']:.3f}" if m in group else "–" for m in methods]
        lines.append(f"| {name} | {group['noisy']['cells']} | {group['noisy']['psnr']:.2f} / {group['noisy']['ssim']:.3f} | " + " | ".join(values) + " |")
    lines += ["", "## Quality bar (the scanner-noise issue: ours blind against BM3D told the true noise)", "",
              "| line | measured | met |", "|---|---|---|"]
    graded = len(summary["blind_minus_anchor"])
    if graded:
        worst, mean = summary["worst_blind_minus_anchor"], summary["mean_blind_minus_anchor"]
        at_least = summary["cells_blind_at_least_anchor"]
        lines.append(f"| blind ≥ BM3D-true in every cell | {at_least} of {graded} cells (worst {worst:+.2f} dB) | {'yes' if at_least == graded else 'no'} |")
        lines.append(f"| mean over the cells ≥ BM3D-true + 0.5 dB | {mean:+.2f} dB | {'yes' if mean >= 0.5 else 'no'} |")
        if graded < len(_KEYS):
            lines.append(f"| all 32 cells graded | {graded} of {len(_KEYS)} | no |")
    else:
        lines.append("| blind ≥ BM3D-true in every cell, mean ≥ +0.5 dB | not graded (the run lacks `neural_pde_2d` or `bm3d_true_noise`) | – |")
    int8 = summary.get("int8_minus_anchor") or {}
    if int8:
        at_least, over = summary["cells_int8_at_least_anchor"], summary["int8_minus_blind"]
        lines.append(f"| `--precision int8`: blind ≥ BM3D-true in every cell | {at_least} of {len(int8)} cells (worst {min(int8.values()):+.2f} dB), "
                     f"mean {np.mean(list(int8.values())):+.2f} dB; against float32: mean {np.mean(list(over.values())):+.3f} dB, worst "
                     f"{min(over.values()):+.3f} dB | {'yes' if at_least == len(int8) else 'no'} |")
    volume = summary["volume_minus_anchor"]
    if volume:
        lines.append(f"| (for information) the volume model ≥ BM3D-true | {summary['cells_volume_at_least_anchor']} of {len(volume)} cells, "
                     f"mean {summary['mean_volume_minus_anchor']:+.2f} dB | – |")
    over_2d = summary.get("volume_minus_blind") or {}
    if over_2d:
        at_least = sum(v >= 0 for v in over_2d.values())
        ssim = summary["volume_minus_blind_ssim"]
        worst_ssim = min(ssim, key=ssim.get)
        lines.append(f"| the volume model ≥ the 2D model (PSNR) in every cell | {at_least} of {len(over_2d)} cells "
                     f"(worst {min(over_2d.values()):+.2f} dB, mean {np.mean(list(over_2d.values())):+.2f} dB); SSIM below the "
                     f"2D model's by more than 0.01 in {sum(v < -0.01 for v in ssim.values())} cells (worst {ssim[worst_ssim]:+.3f}, "
                     f"{worst_ssim}) | {'yes' if at_least == len(over_2d) else 'no'} |")
    ms = summary["median_ms_per_slice"]
    lines += ["", "## Time (median over the cells of the median ms per test slice, one thread)", "",
              "| method | ms per slice |", "|---|---|"]
    lines += [f"| `{m}` | {ms[m]:.0f} |" for m in methods if m in ms]
    runs = summary.get("runs", {})
    if any(len(set(v)) > 1 or v != [0] for v in runs.values()):
        lines[-len([m for m in methods if m in ms]) :] = [
            f"| `{m}` | {ms[m]:.0f} (command {', '.join(str(k + 1) for k in runs.get(m, [0]))} of the chain) |" for m in methods if m in ms
        ]
    lines += ["", "BM3D's times include the bias correction (and for sense2 the whitening); the volume model's is its slab's time "
              "divided by the slices; the blind models' include the noise estimate; none includes tuning. Measured on a machine "
              "whose cores other jobs may share: compare times of one command of the chain with each other rather than as "
              "absolute times."]
    speed = summary.get("same_run_speed")
    if speed:
        volume_ratio = f", the volume model {speed['anchor_over_volume']:.1f}x" if speed.get("anchor_over_volume") else ""
        if speed.get("anchor_over_int8"):
            volume_ratio += f", ours 2D blind with `--precision int8` {speed['ms'][INT8]:.0f} ms ({speed['anchor_over_int8']:.1f}x)"
        where = f" on {speed['machine']}" if speed.get("machine") else ""
        lines += ["", f"Same command (command {speed['run'] + 1} of the chain, {speed['cells']} cells{where}): BM3D told the true noise "
                  f"{speed['ms'][ANCHOR]:.0f} ms per slice, ours 2D blind {speed['ms'][BLIND]:.0f} ms: BM3D takes "
                  f"{speed['anchor_over_blind']:.1f}x as long{volume_ratio}."]
    lines += ["", "The blind models estimate the noise once per input, here once per 10-slice slab; on a whole scan that cost is "
              "shared by all its slices. Both, with BM3D, timed in one run: [scanner_noise_speed.md](scanner_noise_speed.md) "
              "(`OMP_NUM_THREADS=1 python scripts/benchmark_scanner_speed.py`).", ""]
    tuned = [(m, k) for m in ("bm3d_true_noise", "bm3d_white") for k in ("factor", "b") if any(r["method"] == m and k in r.get("chosen", {}) for r in rows)]
    if tuned:
        lines += ["Chosen on validation: " + "; ".join(f"`{m}` {k} {_chosen_range(rows, m, k)}" for m, k in tuned) + ".", ""]
    if figure:
        lines += ["## One MNI test slice (z = 90, as is, s = 0.05) per condition", "",
                  f"![clean reference, noisy, ours blind, BM3D told the true noise and their absolute errors]({figure})", ""]
    notes = settings.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines).rstrip() + "\n"


def scanner_figure(panels: dict[str, dict[str, np.ndarray]], path: str | Path) -> None:
    """One row per condition: the reference, the noisy slice, ours and BM3D-true, and the absolute errors of both.

    Args:
        panels: condition -> ``{"reference", "noisy"[, "neural_pde_2d"][, "bm3d_true_noise"]}`` 2D images.
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in (BLIND, ANCHOR) if any(m in p for p in panels.values())]
    columns = ["reference", "noisy", *models, *[f"|{m} − ref|" for m in models]]
    fig, axes = plt.subplots(len(panels), len(columns), figsize=(2.2 * len(columns), 2.5 * len(panels)), squeeze=False)
    for row, (condition, images) in zip(axes, panels.items()):
        ref = images["reference"]
        for ax, column in zip(row, columns):
            ax.axis("off")
            if column.startswith("|"):
                model = column[1:].split(" ")[0]
                if model in images:
                    ax.imshow(np.abs(np.clip(images[model], 0, 1) - ref), cmap="magma", vmin=0, vmax=0.15)
                title = f"|{_LABELS[model].split(',')[0]} − ref|"
            else:
                if column in images:
                    ax.imshow(images[column], cmap="gray", vmin=0, vmax=1)
                title = _LABELS.get(column, column)
            ax.set_title(f"{condition}: {title}" if column == "reference" else title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
