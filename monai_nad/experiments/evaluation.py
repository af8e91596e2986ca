"""The project's one evaluation loop (:func:`benchmark_cells`): every method on every cell of a benchmark.

A cell (:class:`TestCell`) is a test set and its validation set at one noise setting: the real-anatomy benchmark's
18 cells (:func:`real_anatomy_test_cell`), the volume benchmark's slabs as volumes, the scanner-noise and diffusion
benchmarks' cells and the MNI test slab with Gaussian or Rician noise (:func:`mni_test_cell`, the learned-diffusivity
family's page) all go through the same loop.

Every method gets the same noisy slices (seed ``1000 + z``) and is scored by the same metric code. Classical methods
are tuned per cell on the validation slab by the project's one tuner (:func:`~monai_nad.baselines.tune_baseline`);
BM3D+rc is BM3D told the true noise level with the Rician bias-correction strength ``b`` tuned that way. The
network is run blind (its own noise estimate) and with the true noise level. Times are medians per slice on one
thread, measured in the same run.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from monai_nad.baselines.classical import classical_denoise
from monai_nad.baselines.tuning import tune_baseline
from monai_nad.data import mni_eval_arrays
from monai_nad.data.real_anatomy import NEAR_CLEAN_LEVEL, real_anatomy_cell, real_anatomy_cell_name
from monai_nad.inference.inferer import noise_std_arguments
from monai_nad.metrics import foreground_psnr, median_scores, psnr, ssim
from monai_nad.transforms.array import RicianBiasCorrection

__all__ = [
    "Tuner", "BM3D_RC", "TestCell", "real_anatomy_test_cell", "mni_test_cell", "matching_cells", "classical_tuner", "score_slices",
    "network_slices", "denoise_slices", "benchmark_cells",
]

#: A method tuned on a cell's validation slab: ``tune(noisy_val, clean_val, noise_std) -> (denoise(image, noise_std), chosen)``.
#: A tuner marked ``tune.side_info = True`` is told the cell's per-slice side information (:attr:`TestCell.side`):
#: ``tune(noisy_val, clean_val, noise_std, side_val) -> (denoise(image, noise_std, side_of_that_image), chosen)``.
Tuner = Callable[..., tuple[Callable[..., np.ndarray], dict]]


@dataclass(frozen=True)
class TestCell:
    """One evaluation cell: a test set and the validation set its tuned methods are fitted on, at one noise setting.

    Args:
        name: the cell's name in tables and records, e.g. ``"colin27_inverted_0.10"`` or ``"G25"``.
        noise_std: the noise level the methods are told, a standard deviation (the true one; blind methods ignore it).
        load: ``split -> (noisy, clean)``, ``(N, H, W)`` float32 stacks, for ``"test"`` and ``"validation"``.
        tuned: whether the tuned methods (BM3D+rc, ...) run on this cell. Defaults to True.
        side: ``split -> `` per-slice side information, one item per slice of ``load(split)``, in its order: what the
            methods and tuners marked ``side_info = True`` are told beyond ``noise_std`` (e.g. the scanner-noise benchmark's true
            noise PSD and std map, :mod:`~monai_nad.experiments.scanner_benchmark`). Defaults to None: the cell has none.
        score: ``(denoised, clean) -> {name: value}`` for the whole test set of ``load("test")`` (which then need not be
            2D slices: e.g. the diffusion series of :mod:`~monai_nad.experiments.diffusion_benchmark`); its names are
            the row's scores, and the input's scores are kept as ``input_<name>``. It must give ``"psnr"``. Defaults to
            None: :func:`score_slices`.
    """

    name: str
    noise_std: float
    load: Callable[[str], tuple[np.ndarray, np.ndarray]]
    tuned: bool = True
    side: Callable[[str], Sequence[Any]] | None = None
    score: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None


def real_anatomy_test_cell(volume: str, shift: str | None, noise_std: float, tune_near_clean: bool = False) -> TestCell:
    """A cell of the real-anatomy benchmark (:func:`~monai_nad.data.real_anatomy_cell`); ``tune_near_clean``: tuned methods
    also at the near-clean level, not part of the bar."""
    return TestCell(
        real_anatomy_cell_name(volume, shift, noise_std), noise_std,
        lambda split: real_anatomy_cell(volume, shift, noise_std, split)[:2], noise_std != NEAR_CLEAN_LEVEL or tune_near_clean,
    )


def mni_test_cell(name: str, noise_std: float, noise: str) -> TestCell:
    """The MNI test slab (its validation slab for tuning) with ``noise`` (``"gaussian"`` or ``"rician"``) of std ``noise_std``;
    tuned methods (which add the Rician correction) run on the Rician cells only."""
    return TestCell(name, noise_std, lambda split: mni_eval_arrays(split, noise_std, noise=noise), noise == "rician")


def score_slices(denoised: np.ndarray, clean: np.ndarray, statistic: str = "mean") -> dict[str, float]:
    """PSNR, SSIM and foreground PSNR of ``(N, H, W)`` slices (outputs clipped to ``[0, 1]``): their mean over the slices,
    or (``statistic="median"``) their median, as the MNI suites report them, with the edge MSE
    (:func:`~monai_nad.metrics.median_scores`)."""
    if statistic == "median":
        return median_scores(np.asarray(denoised, dtype=np.float32), np.asarray(clean, dtype=np.float32))
    if statistic != "mean":
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}.")
    pred = torch.from_numpy(np.ascontiguousarray(denoised, dtype=np.float32))[:, None]
    ref = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32))[:, None]
    return {
        "psnr": float(psnr(pred, ref).mean()),
        "ssim": float(ssim(pred, ref).mean()),
        "fg_psnr": float(foreground_psnr(pred, ref).mean()),
    }


def network_slices(net: torch.nn.Module, noisy: np.ndarray, noise_std: float | None = None) -> tuple[np.ndarray, list[float]]:
    """Denoise ``(N, H, W)`` slices one at a time; return the result and the seconds per slice.

    A network that takes a noise level is told ``noise_std`` or, without it, the blind estimate of each slice
    (:func:`~monai_nad.inference.inferer.noise_std_arguments`; estimated inside the timed call)."""
    out, times = [], []
    with torch.no_grad():
        for image in noisy:
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
            start = time.perf_counter()
            y = net(x, **noise_std_arguments(net, x, noise_std))
            times.append(time.perf_counter() - start)
            out.append(y[0, 0].numpy())
    return np.stack(out), times


def denoise_slices(denoiser: torch.nn.Module | Callable[[np.ndarray], np.ndarray], noisy: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Denoise ``(N, H, W)`` slices one at a time with a network (blind: :func:`network_slices`) or a function of one
    ``(H, W)`` array (a classical method, timed the same way); return the float32 result and the seconds per slice."""
    if isinstance(denoiser, torch.nn.Module):
        out, times = network_slices(denoiser, noisy)
        return np.asarray(out, dtype=np.float32), times
    outs, times = [], []
    with torch.inference_mode():
        for image in noisy:
            start = time.perf_counter()
            result = np.asarray(denoiser(image))
            times.append(time.perf_counter() - start)
            outs.append(np.asarray(result, dtype=np.float32))
    return np.stack(outs), times


def matching_cells(cells: Sequence[TestCell], patterns: Iterable[str] | None = None) -> list[TestCell]:
    """The ``cells`` whose names match any of the shell-style ``patterns`` (all of them for None), in their order.

    Raises:
        ValueError: a pattern that matches no cell.
    """
    cells = list(cells)
    if patterns is None:
        return cells
    patterns = list(patterns)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(c.name, pattern) for c in cells):
            raise ValueError(f"no cell matches {pattern!r}; the cells are {[c.name for c in cells]}.")
    return [c for c in cells if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]


def classical_tuner(name: str, grid: dict | None = None, volumetric: bool = False) -> Tuner:
    """A classical method followed by the Rician correction, its parameters and ``b`` chosen on the cell's validation
    slab by the one tuner of the project (:func:`~monai_nad.baselines.tune_baseline`).

    Args:
        name: a key of :data:`~monai_nad.baselines.BASELINES`.
        grid: a restriction of the method's parameter grid (e.g. ``{"sigma_factor": (1.0,)}``: BM3D told the true
            noise level, as the real-anatomy benchmark defines BM3D+rc).
        volumetric: the method denoises a slab as one volume ``(H, W, N)`` (BM4D), tuned on the validation slab as one
            volume; the tuner is marked ``tune.volumetric = True`` and its ``denoise`` takes the ``(N, H, W)`` stack.
            Defaults to False (slice by slice).
    """

    def as_volume(stack: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(np.asarray(stack), 0, -1))

    def tune(noisy_val: np.ndarray, clean_val: np.ndarray, noise_std: float):
        if volumetric:
            noisy_val, clean_val = as_volume(noisy_val)[None], as_volume(clean_val)[None]
        chosen = tune_baseline(name, noisy_val, clean_val, noise_std, rician=True, grid=grid)["rc"]
        params, b = chosen["params"], chosen["b"]

        def denoise(image: np.ndarray, noise_std: float) -> np.ndarray:
            out = classical_denoise(name, as_volume(image) if volumetric else image, noise_std, **params)
            out = np.asarray(RicianBiasCorrection(noise_std, b)(out), dtype=np.float32)
            return np.ascontiguousarray(np.moveaxis(out, -1, 0)) if volumetric else out

        return denoise, {**params, "b": b}

    tune.volumetric = volumetric  # type: ignore[attr-defined]
    return tune


#: BM3D+rc as the real-anatomy benchmark defines it: the true noise level, ``b`` tuned on the validation slab.
BM3D_RC = classical_tuner("bm3d", {"sigma_factor": (1.0,)})


def _told(method: Callable) -> bool:
    """Whether a method or tuner takes the cell's side information (marked ``side_info = True``)."""
    return bool(getattr(method, "side_info", False))


def _side(cell: TestCell, split: str, limit: int | None, method: str) -> list:
    if cell.side is None:
        raise ValueError(f"{method} needs side information (TestCell.side), which cell {cell.name} does not give.")
    return list(cell.side(split))[:limit]


def benchmark_cells(
    cells: Iterable[TestCell | tuple[str, str | None, float]],
    methods: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, list[float]]]],
    tuned: dict[str, Tuner] | None = None,
    bm3d: bool = True,
    limit: int | None = None,
    log: Callable[[str], None] = print,
    tune_near_clean: bool = False,
    outputs: dict[tuple[str, str], np.ndarray] | None = None,
    statistic: str = "mean",
) -> list[dict]:
    """Score ``methods``, the ``tuned`` methods and BM3D+rc on the given cells: the one evaluation loop.

    Args:
        cells: :class:`TestCell` s, or ``(volume, shift, noise_std)`` triples of the real-anatomy benchmark,
            e.g. ``("colin27", "inverted", 0.1)``.
        methods: name -> ``f(noisy (N, H, W), true noise_std) -> (denoised, seconds per slice)`` (trained networks); one
            marked ``f.side_info = True`` is called ``f(noisy, noise_std, side)`` with the cell's side information of its
            test slices (:attr:`TestCell.side`).
        tuned: name -> :data:`Tuner`: tuned on the cell's validation slab, then timed slice by slice on the test slab
            (a volumetric tuner, see :func:`classical_tuner`: on the whole test slab as one volume, its time shared by the slices;
            one marked ``side_info``: told the side information of the validation slices, and of each test slice).
        bm3d: also run BM3D+rc (:data:`BM3D_RC`, named ``"bm3d_rc"``).
        limit: keep only the first ``limit`` slices of each slab (quick checks).
        log: progress messages.
        tune_near_clean: also run the tuned methods at the near-clean level (not part of the quality bar).
        outputs: if given, filled with the first test slice's result of every ``(cell, method)`` (for figures).
        statistic: ``"mean"`` or ``"median"`` over the slices (:func:`score_slices`). Defaults to ``"mean"``.

    Returns:
        one row per cell and method: ``{"cell", "method", "psnr", "ssim", "fg_psnr", "input_psnr", "ms"[, "chosen", "b"]}``.
    """
    tuners = dict(tuned or {})
    if bm3d:
        tuners["bm3d_rc"] = BM3D_RC
    rows = []
    for cell in cells:
        cell = cell if isinstance(cell, TestCell) else real_anatomy_test_cell(*cell, tune_near_clean=tune_near_clean)
        name, noise_std = cell.name, cell.noise_std
        noisy, clean = cell.load("test")
        noisy, clean = noisy[:limit], clean[:limit]
        score = cell.score or (lambda out, ref: score_slices(out, ref, statistic))
        noisy_scores = score(noisy, clean)
        if cell.score is None:
            base = {"cell": name, "input_psnr": noisy_scores["psnr"], "input_ssim": noisy_scores["ssim"]}
        else:
            base = {"cell": name, **{f"input_{k}": v for k, v in noisy_scores.items()}}
        for method, run in methods.items():
            out, times = run(noisy, noise_std, _side(cell, "test", limit, method)) if _told(run) else run(noisy, noise_std)
            rows.append(base | {"method": method, **score(out, clean), "ms": 1000 * float(np.median(times))})
            if outputs is not None:
                outputs[name, method] = out[0]
            log(f"{name:<24} {method:<16} {rows[-1]['psnr']:6.2f} dB")
        if not tuners or not cell.tuned:
            continue
        noisy_val, clean_val = cell.load("validation")
        for method, tune in tuners.items():
            told = _told(tune)
            if told:
                side = _side(cell, "test", limit, method)
                denoise, chosen = tune(noisy_val[:limit], clean_val[:limit], noise_std, _side(cell, "validation", limit, method))
            else:
                denoise, chosen = tune(noisy_val[:limit], clean_val[:limit], noise_std)
            out, times = [], []
            if getattr(tune, "volumetric", False):
                start = time.perf_counter()
                out = list(denoise(noisy, noise_std, side) if told else denoise(noisy, noise_std))
                times = [(time.perf_counter() - start) / len(noisy)] * len(noisy)
            for i, image in enumerate(noisy if not out else ()):
                start = time.perf_counter()
                out.append(denoise(image, noise_std, side[i]) if told else denoise(image, noise_std))
                times.append(time.perf_counter() - start)
            row = base | {"method": method, **score(np.stack(out), clean), "ms": 1000 * float(np.median(times)), "chosen": chosen}
            if outputs is not None:
                outputs[name, method] = out[0]
            if "b" in chosen:
                row["b"] = chosen["b"]
            rows.append(row)
            log(f"{name:<24} {method:<16} {row['psnr']:6.2f} dB ({chosen})")
    return rows
