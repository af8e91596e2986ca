"""The diffusion benchmark: diffusion MRI series on a phantom with a known clean series, in the one evaluation loop.

The phantom is :mod:`monai_nad.data.dwi_phantom` (MNI152 2009 tissue on a 2 mm grid, 6 b = 0 and 30 directions at
b = 1000 and 2000 s/mm^2). Cells (:func:`diffusion_cells`): {Rician, 4-coil sum of squares} x SNR {10, 20}, the test
series the 10 test slices ``(98, 116, 10, 66)``, tuned methods fitted on the validation series (10 slices).

Each cell is a :class:`~monai_nad.experiments.evaluation.TestCell` whose ``load`` gives one series ``(1, X, Y, Z, V)``
and whose ``score`` (:func:`score_series`) gives, on the output clipped to ``[0, 1]``:

- ``psnr_b0``, ``psnr_b1000``, ``psnr_b2000`` (and ``psnr``: all volumes): PSNR with data range 1 over the brain
  (``f_gm + f_wm + f_csf > 0.5``), the squared error pooled over the shell's volumes;
- ``fa_mae``, ``md_mae``: mean absolute error of FA and of MD (``1e-3 mm^2/s``) in white matter (``f_wm > 0.7``) of
  DIPY's ``TensorModel`` (its default weighted least squares) fitted on the b <= 1000 volumes, against the same fit of
  the clean series.

Every method runs on one thread; ``ms`` is the milliseconds per series, and the page compares two methods' times only
where one command made both rows (:func:`~monai_nad.experiments.records.same_run`). The methods (:data:`DIFFUSION_METHODS`):

- ``dipy_mppca``: ``dipy.denoise.localpca.mppca`` with ``patch_radius=2``;
- ``dipy_patch2self``: ``dipy.denoise.patch2self.patch2self`` with ``model="ols"`` (its other defaults);
- ``dipy_localpca``: ``localpca`` with ``sigma`` from ``pca_noise_estimate`` (``correct_bias=True``, ``smooth=2``);
- ``dipy_nlmeans``: ``nlmeans`` volume by volume (Rician), ``sigma`` per volume from ``estimate_sigma``, whose coil
  count ``N`` (0, 1 or 4) is chosen per cell on the validation series (:func:`nlmeans_tuner`);
- ``neural_pde_2d``, ``neural_pde_3d``: the shipped 2D and volume models, blind, volume by volume through the command
  line's :class:`~monai_nad.inference.ScanInferer` with the series scaled as the command line scales it
  (:func:`~monai_nad.data.scans.normalise_intensity` over the whole series) and scaled back;
- ``neural_pde_3d_guided``: a first series-aware variant without training, the shipped volume model with its encoder
  reading the series' low-rank projection (:class:`~monai_nad.experiments.guided_series.GuidedSeriesDenoiser`), the
  rank chosen per cell on the validation series from :data:`GUIDE_RANKS` (:func:`guided_tuner`);
- ``neural_pde_series``: what ``monai-nad denoise`` runs on a series recognised as diffusion (its ``.bval``/``.bvec``
  found): :class:`~monai_nad.inference.series.SeriesDenoiser` through :class:`~monai_nad.inference.ScanInferer`, blind
  (noise and coil count read from the air), with the product's defaults (chosen on the validation series by
  ``scripts/diffusion_series_validation.py``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_nad._optional import pyplot
from monai_nad.data.dwi_phantom import (
    DWI_COILS,
    DWI_SHELLS,
    DWI_SNRS,
    DWI_SPLITS,
    dwi_gradient_table,
    dwi_noisy_series,
    dwi_phantom,
    dwi_noise_std,
)
from monai_nad.data.scans import denormalise_intensity, normalise_intensity
from monai_nad.experiments.diffusion_real import patch_radius, render_real_section
from monai_nad.experiments.guided_series import GuidedSeriesDenoiser
from monai_nad.experiments.evaluation import TestCell, Tuner, benchmark_cells, matching_cells
from monai_nad.experiments.records import same_run
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference import ScanInferer

__all__ = [
    "DIFFUSION_METHODS",
    "NLMEANS_COILS",
    "FIGURE_CELL",
    "diffusion_cell_name",
    "diffusion_cell_keys",
    "diffusion_test_cell",
    "diffusion_cells",
    "select_cells",
    "tensor_maps",
    "score_series",
    "dipy_mppca",
    "dipy_patch2self",
    "dipy_localpca",
    "nlmeans_tuner",
    "guided_tuner",
    "series_method",
    "diffusion_methods",
    "run_diffusion_benchmark",
    "summarise_diffusion",
    "render_diffusion_page",
    "diffusion_figure",
]

#: The methods of the page, in its column order (``dipy_nlmeans`` is tuned on validation).
DIFFUSION_METHODS = ("neural_pde_2d", "neural_pde_3d", "neural_pde_3d_guided", "neural_pde_series", "dipy_mppca", "dipy_patch2self", "dipy_localpca", "dipy_nlmeans")
#: The guide ranks ``neural_pde_3d_guided`` may choose from on validation.
GUIDE_RANKS = (8, 16)
#: The coil counts ``estimate_sigma`` may be told for ``dipy_nlmeans`` (0: Gaussian, no correction).
NLMEANS_COILS = (0, 1, 4)
#: The cell of the figure.
FIGURE_CELL = "rician_snr10"
_SHELL_NAMES = tuple(f"psnr_b{b}" for b in DWI_SHELLS)


def diffusion_cell_name(coils: int, snr: float) -> str:
    """``"rician_snr10"``, ``"sos4_snr20"``, ..."""
    return f"{'rician' if coils == 1 else f'sos{coils}'}_snr{snr:g}"


def diffusion_cell_keys() -> list[tuple[int, int]]:
    """The 4 cells' ``(coils, snr)``: Rician first, SNR 10 before 20."""
    return [(c, s) for c in DWI_COILS for s in DWI_SNRS]


@functools.lru_cache(maxsize=4)
def _series(split: str, coils: int, snr: float, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    slices = None if limit is None else DWI_SPLITS[split][:limit]
    phantom = dwi_phantom(split, slices)
    noisy = dwi_noisy_series(phantom.clean, phantom.zs, snr, coils)
    noisy.setflags(write=False)
    return noisy, phantom.clean


def tensor_maps(series: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FA and MD (``mm^2/s``) in ``mask`` of DIPY's ``TensorModel`` fitted on the b <= 1000 volumes of ``series``.

    Args:
        series: ``(X, Y, Z, V)``.
        bvals, bvecs: ``(V,)`` and ``(V, 3)``.
        mask: ``(X, Y, Z)`` boolean.

    Returns:
        ``(fa, md)``, each ``(M,)`` float64 for the ``M`` voxels of ``mask``.
    """
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    keep = np.asarray(bvals) <= 1000
    table = gradient_table(np.asarray(bvals)[keep], bvecs=np.asarray(bvecs)[keep])
    fit = TensorModel(table).fit(np.asarray(series, dtype=np.float64)[..., keep], mask=mask)
    return np.nan_to_num(fit.fa[mask]), np.nan_to_num(fit.md[mask])


def score_series(denoised: np.ndarray, clean: np.ndarray, brain: np.ndarray, white_matter: np.ndarray, bvals: np.ndarray,
                 bvecs: np.ndarray, clean_maps: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """The scores of the diffusion benchmark for series ``(1, X, Y, Z, V)`` (or ``(X, Y, Z, V)``); the output is
    clipped to ``[0, 1]``.

    Args:
        denoised, clean: the output and the clean series.
        brain, white_matter: ``(X, Y, Z)`` masks.
        bvals, bvecs: the gradient table.
        clean_maps: the clean series' :func:`tensor_maps` in ``white_matter`` (computed when not given).

    Returns:
        ``{"psnr", "psnr_b0", "psnr_b1000", "psnr_b2000", "fa_mae", "md_mae"}`` (dB; FA; ``1e-3 mm^2/s``).
    """
    out = np.clip(np.asarray(denoised, dtype=np.float64).reshape(clean.shape[-4:]), 0.0, 1.0)
    ref = np.asarray(clean, dtype=np.float64).reshape(clean.shape[-4:])
    error = np.square(out - ref)[brain]  # (M, V)
    scores = {"psnr": float(-10 * np.log10(error.mean()))}
    for b, name in zip(DWI_SHELLS, _SHELL_NAMES):
        shell = np.asarray(bvals) == b
        scores[name] = float(-10 * np.log10(error[:, shell].mean()))
    fa0, md0 = clean_maps if clean_maps is not None else tensor_maps(ref, bvals, bvecs, white_matter)
    fa, md = tensor_maps(out, bvals, bvecs, white_matter)
    scores["fa_mae"] = float(np.mean(np.abs(fa - fa0)))
    scores["md_mae"] = float(np.mean(np.abs(md - md0)) * 1e3)
    return scores


def diffusion_test_cell(coils: int, snr: float, limit: int | None = None) -> TestCell:
    """One cell of the diffusion benchmark for the one loop.

    Args:
        coils: 1 (Rician) or 4 (sum of squares).
        snr: 10 or 20 (``sigma = 0.5 / snr``, the ``noise_std`` the cell is told).
        limit: only the first ``limit`` 2 mm slices of each split (quick runs), or None (all 10).

    Returns:
        a :class:`~monai_nad.experiments.evaluation.TestCell`: ``load(split)`` gives the noisy and clean series, each
        ``(1, 98, 116, Z, 66)`` float32; ``score`` is :func:`score_series` with the split's masks.
    """
    if coils not in DWI_COILS or snr not in DWI_SNRS:
        raise ValueError(f"no diffusion phantom cell has coils={coils!r} and snr={snr!r}: coils must be one of {DWI_COILS}, snr one of {DWI_SNRS}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}.")

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        noisy, clean = _series(split, coils, snr, limit)
        return noisy[None].copy(), np.asarray(clean)[None]

    test = dwi_phantom("test", None if limit is None else DWI_SPLITS["test"][:limit])
    maps: dict[str, Any] = {}

    def score(denoised: np.ndarray, clean: np.ndarray) -> dict[str, float]:
        if "clean" not in maps:
            maps["clean"] = tensor_maps(test.clean, test.bvals, test.bvecs, test.white_matter)
        return score_series(denoised, clean, test.brain, test.white_matter, test.bvals, test.bvecs, maps["clean"])

    return TestCell(diffusion_cell_name(coils, snr), dwi_noise_std(snr), load, True, None, score)


def diffusion_cells(limit: int | None = None) -> list[TestCell]:
    """The 4 cells in a fixed order (:func:`diffusion_cell_keys`)."""
    return [diffusion_test_cell(c, s, limit) for c, s in diffusion_cell_keys()]


def select_cells(patterns: Iterable[str] | None = None, limit: int | None = None) -> list[TestCell]:
    """The cells whose names match any of the shell-style ``patterns`` (all 4 for None).

    Raises:
        ValueError: a pattern that matches no cell.
    """
    return matching_cells(diffusion_cells(limit), patterns)


# ------------------------------------------------------------------------------------------------------ methods
Method = Callable[[np.ndarray, float], tuple[np.ndarray, list[float]]]


def _timed(denoise: Callable[[np.ndarray], np.ndarray]) -> Method:
    """A loop method from ``denoise(series (X, Y, Z, V)) -> series``: every series of the batch, seconds per series."""

    def run(noisy: np.ndarray, noise_std: float) -> tuple[np.ndarray, list[float]]:
        outputs, times = [], []
        for series in noisy:
            start = time.perf_counter()
            outputs.append(np.asarray(denoise(np.asarray(series, dtype=np.float32)), dtype=np.float32))
            times.append(time.perf_counter() - start)
        return np.stack(outputs), times

    return run


def _gradient_table():
    from dipy.core.gradients import gradient_table

    bvals, bvecs = dwi_gradient_table()
    return gradient_table(np.asarray(bvals), bvecs=np.asarray(bvecs))


def dipy_mppca(series: np.ndarray) -> np.ndarray:
    """DIPY's MP-PCA with ``patch_radius=2`` on a series ``(X, Y, Z, V)`` (on fewer than 5 slices, less along z)."""
    from dipy.denoise.localpca import mppca

    return mppca(series, patch_radius=patch_radius(series.shape), suppress_warning=True)


def dipy_patch2self(series: np.ndarray) -> np.ndarray:
    """DIPY's Patch2Self with ordinary least squares on a series ``(X, Y, Z, V)`` of the phantom's gradient table."""
    from dipy.denoise.patch2self import patch2self

    return patch2self(series, np.asarray(_gradient_table().bvals), model="ols", verbose=False)


def dipy_localpca(series: np.ndarray) -> np.ndarray:
    """DIPY's local PCA (patch radius 2, less along z on fewer than 5 slices) with the noise from ``pca_noise_estimate``
    (bias-corrected, smoothed with 2) on a series ``(X, Y, Z, V)``."""
    from dipy.denoise.localpca import localpca
    from dipy.denoise.pca_noise_estimate import pca_noise_estimate

    sigma = pca_noise_estimate(series, _gradient_table(), correct_bias=True, smooth=2)
    return localpca(series, sigma=sigma, patch_radius=patch_radius(series.shape), suppress_warning=True)


def _nlmeans(series: np.ndarray, coils: int) -> np.ndarray:
    from dipy.denoise.nlmeans import nlmeans
    from dipy.denoise.noise_estimate import estimate_sigma

    sigma = estimate_sigma(series, N=coils)
    return np.stack([nlmeans(series[..., v], float(sigma[v]), rician=True, num_threads=1) for v in range(series.shape[-1])], axis=-1)


def nlmeans_tuner(coils: Sequence[int] = NLMEANS_COILS) -> Tuner:
    """DIPY's Rician non-local means volume by volume, ``sigma`` per volume from ``estimate_sigma(N=...)``, ``N`` chosen
    from ``coils`` by the brain PSNR of the validation series (its first best kept)."""
    def tune(noisy_val: np.ndarray, clean_val: np.ndarray, noise_std: float):
        best: tuple[int, float] | None = None
        for n in coils:
            value = _brain_psnr(_nlmeans(np.asarray(noisy_val[0], dtype=np.float32), n), clean_val[0])
            if best is None or value > best[1]:
                best = (int(n), value)
        assert best is not None

        def denoise(image: np.ndarray, noise_std: float) -> np.ndarray:
            return _nlmeans(np.asarray(image, dtype=np.float32), best[0]).astype(np.float32)

        return denoise, {"N": best[0], "validation_psnr": best[1]}

    return tune


def _brain_psnr(out: np.ndarray, clean: np.ndarray) -> float:
    """PSNR (data range 1) over the brain of the validation series ``(X, Y, Z, V)`` (the output clipped to ``[0, 1]``)."""
    brain = dwi_phantom("validation", DWI_SPLITS["validation"][: clean.shape[2]]).brain
    return float(-10 * np.log10(np.mean(np.square(np.clip(out, 0, 1) - clean)[brain])))


def guided_tuner(volume_network: torch.nn.Module, ranks: Sequence[int] = GUIDE_RANKS) -> Tuner:
    """:class:`~monai_nad.experiments.guided_series.GuidedSeriesDenoiser` with the rank of the highest brain PSNR on the
    validation series (its first best kept)."""

    def tune(noisy_val: np.ndarray, clean_val: np.ndarray, noise_std: float):
        best: tuple[int, float] | None = None
        for rank in ranks:
            value = _brain_psnr(GuidedSeriesDenoiser(volume_network, rank)(np.asarray(noisy_val[0], dtype=np.float32)), clean_val[0])
            if best is None or value > best[1]:
                best = (int(rank), value)
        assert best is not None
        chosen = GuidedSeriesDenoiser(volume_network, best[0])

        def denoise(image: np.ndarray, noise_std: float) -> np.ndarray:
            return np.asarray(chosen(np.asarray(image, dtype=np.float32)), dtype=np.float32)

        return denoise, {"rank": best[0], "validation_psnr": best[1]}

    return tune


def series_method(network2d: torch.nn.Module, network3d: torch.nn.Module | None, mode: str, diffusion: bool = False, **inferer: Any) -> Method:
    """A shipped model on a series as ``monai-nad denoise`` runs a 4D NIfTI: the series scaled to about ``[0, 1]`` as one
    (:func:`~monai_nad.data.scans.normalise_intensity`), its volumes as channels ``(1, V, X, Y, Z)`` through
    :class:`~monai_nad.inference.ScanInferer` (``mode``; blind), scaled back. ``diffusion``: the series is recognised
    as a diffusion series (its ``.bval``/``.bvec`` found), so the inferer denoises it as a series
    (:class:`~monai_nad.inference.series.SeriesDenoiser`)."""
    scan = ScanInferer(volume_network=network3d, mode=mode, **inferer)
    flags = {"diffusion": [True]} if diffusion else {}

    def denoise(series: np.ndarray) -> np.ndarray:
        scaled, params = normalise_intensity(series)
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(scaled, -1, 0)))[None]
        with torch.no_grad():
            y = scan(x, network2d, spacing=(2.0, 2.0, 2.0), **flags)
        return denormalise_intensity(np.moveaxis(y[0].float().numpy(), 0, -1), params)

    return _timed(denoise)


def diffusion_methods(names: Sequence[str] = DIFFUSION_METHODS, bundle: str | Path | None = None) -> tuple[dict[str, Method], dict[str, Tuner]]:
    """The loop's untuned methods and tuners among ``names``."""
    unknown = [n for n in names if n not in DIFFUSION_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {DIFFUSION_METHODS}.")
    methods: dict[str, Method] = {}
    if any(n.startswith("neural_pde") for n in names):
        net2d, net3d = shipped_models(bundle)
        methods["neural_pde_2d"] = series_method(net2d, None, "2d")
        methods["neural_pde_3d"] = series_method(net2d, net3d, "3d")
        methods["neural_pde_series"] = series_method(net2d, net3d, "auto", diffusion=True)
    methods |= {"dipy_mppca": _timed(dipy_mppca), "dipy_patch2self": _timed(dipy_patch2self), "dipy_localpca": _timed(dipy_localpca)}
    tuned: dict[str, Tuner] = {"dipy_nlmeans": nlmeans_tuner()}
    if "neural_pde_3d_guided" in names:
        tuned["neural_pde_3d_guided"] = guided_tuner(net3d)
    return {k: v for k, v in methods.items() if k in names}, {k: v for k, v in tuned.items() if k in names}


class _FigureOutputs(dict):
    """The loop's ``outputs``, keeping of each result only the figure's slice ``(X, Y, V)`` of the figure's cell."""

    def __init__(self, cell: str, z: int) -> None:
        super().__init__()
        self.cell, self.z = cell, z

    def __setitem__(self, key: tuple[str, str], value: np.ndarray) -> None:
        if key[0] == self.cell:
            super().__setitem__(key, np.array(value[:, :, min(self.z, value.shape[2] - 1)], dtype=np.float32))


def run_diffusion_benchmark(cells: Sequence[TestCell], names: Sequence[str] = DIFFUSION_METHODS, bundle: str | Path | None = None,
                            outputs: dict | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Every method of ``names`` on ``cells`` through :func:`~monai_nad.experiments.evaluation.benchmark_cells` on one
    thread; ``outputs`` (if given) gets the middle test slice ``(X, Y, V)`` of every result of :data:`FIGURE_CELL`."""
    torch.set_num_threads(1)
    methods, tuned = diffusion_methods(names, bundle)
    figure = _FigureOutputs(FIGURE_CELL, 5)
    rows = benchmark_cells(cells, methods, tuned=tuned, bm3d=False, log=log, outputs=figure)
    if outputs is not None:
        outputs.update(figure)
    return rows


# ------------------------------------------------------------------------------------------------------ the page
_COLUMNS = (*_SHELL_NAMES, "fa_mae", "md_mae")
_ANCHORS = ("dipy_mppca", "dipy_patch2self")


def summarise_diffusion(rows: list[dict], ours: str = "neural_pde_3d") -> dict:
    """The page's quality bar for ``ours`` in every cell: each shell's PSNR >= the best of MP-PCA and Patch2Self, FA and MD
    errors <= the best of them, and its time against MP-PCA's where one command timed both.

    Returns:
        ``{"ours", "cells": {cell: {score: (ours, best anchor, met)}}, "met", "of", "time_vs_mppca": {cell: ratio},
        "other_run": [cells whose two times came from different commands]}``.
    """
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    summary: dict = {"ours": ours, "cells": {}, "met": 0, "of": 0, "time_vs_mppca": {}, "other_run": []}
    for cell in cells:
        anchors = [by[cell, a] for a in _ANCHORS if (cell, a) in by]
        if (cell, ours) not in by or not anchors:
            continue
        mine, lines = by[cell, ours], {}
        for key in _COLUMNS:
            higher = key.startswith("psnr")
            best = max(a[key] for a in anchors) if higher else min(a[key] for a in anchors)
            met = mine[key] >= best if higher else mine[key] <= best
            lines[key] = (mine[key], best, bool(met))
            summary["met"] += int(met)
            summary["of"] += 1
        summary["cells"][cell] = lines
        if (cell, "dipy_mppca") in by and same_run(mine, by[cell, "dipy_mppca"]):
            summary["time_vs_mppca"][cell] = mine["ms"] / by[cell, "dipy_mppca"]["ms"]
        elif (cell, "dipy_mppca") in by:
            summary["other_run"].append(cell)
    return summary


def render_diffusion_page(rows: list[dict], command: str, settings: dict | None = None, figure: str | None = None,
                          ours: str | None = None, real: dict | None = None) -> str:
    """The results page of the diffusion benchmark (docs/results/diffusion.md) as Markdown; its quality bar is graded
    for ``ours`` (default: ``neural_pde_series`` where the rows have it, else ``neural_pde_3d``). ``real``: the record
    of the real-data check (``scripts/diffusion_real_residuals.py``,
    :func:`~monai_nad.experiments.diffusion_real.render_real_section`), shown as a section before the notes."""
    if ours is None:
        ours = "neural_pde_series" if any(r["method"] == "neural_pde_series" for r in rows) else "neural_pde_3d"
    settings = dict(settings or {})
    limit = settings.get("limit")
    scope = ("the full protocol: all 4 cells, the 10 test slices (98 x 116 x 10 x 66 per series)" if limit is None and settings.get("all_cells", True)
             else f"**a quick run, not the benchmark**: {'the first ' + str(limit) + ' test slice(s)' if limit else 'all 10 test slices'}"
                  f"{'' if settings.get('all_cells', True) else ', some cells'}")
    lines = [
        "# Diffusion MRI series: BENCHMARK 1e",
        "",
        f"Produced by `{command}` ({scope}; one thread for every method; every method on the same noisy series, scored by "
        "the one evaluation loop `monai_nad.experiments.evaluation.benchmark_cells` with the cell's own scores, "
        "`monai_nad.experiments.diffusion_benchmark.score_series`).",
        "",
        "The phantom (`monai_nad.data.dwi_phantom`): nilearn's MNI152 2009 GM and WM maps and CSF = brain × (1 − GM − WM) "
        "at 2 mm; S(b, g) = S0 [f_csf e^(−3.0e-3 b) + f_gm e^(−0.8e-3 b) + f_wm e^(−b g'Dg)], D = 1.7e-3 vv' + 0.3e-3 (I − vv'), "
        "S0 = 1.0 f_csf + 0.65 f_gm + 0.5 f_wm, v from the structure tensor of the WM map; 6 b = 0, 30 directions at "
        "b = 1000 and at b = 2000 s/mm² (disperse_charges, seed 0). Noise: Rician or the sum of squares of 4 coils, "
        "σ = 0.5 / SNR per channel, seed 3000 + slice. Test: the 2 mm slices of 1 mm z 80-99; tuned methods see only the "
        "validation slices (1 mm z 60-79).",
        "",
        "Scores (output clipped to [0, 1]): PSNR (data range 1) inside the brain (f_gm + f_wm + f_csf > 0.5) per shell; "
        "FA and MD mean absolute error in white matter (f_wm > 0.7) of DIPY's `TensorModel` fitted on b ≤ 1000, against "
        "the same fit of the clean series (MD in 10⁻³ mm²/s); seconds per series.",
        "",
        "Methods: `dipy_mppca` (patch radius 2), `dipy_patch2self` (OLS), `dipy_localpca` (σ from `pca_noise_estimate`), "
        "`dipy_nlmeans` (Rician, volume by volume, σ per volume from `estimate_sigma` with its coil count N chosen on "
        "validation from {0, 1, 4}), and the shipped models as `monai-nad denoise` runs a 4D series today: "
        "`neural_pde_2d` (`--mode 2d`) and `neural_pde_3d` (the volume model, `--mode 3d`), each volume on its own, blind "
        "(one white Rician level estimated per volume, one coil assumed). `neural_pde_3d_guided` (not trained for it, a first "
        "series-aware try): the same volume model, its encoder (which sets the conductances and the refinement head's "
        "features) reading the series' low-rank projection of each volume instead of the noisy volume, told the volume's "
        "noise level; the rank chosen per cell on validation from {8, 16} "
        "(`monai_nad.experiments.guided_series.GuidedSeriesDenoiser`). `neural_pde_series` (no training): what "
        "`monai-nad denoise` now runs on a 4D series whose `.bval`/`.bvec` it finds, through the same `ScanInferer`: a "
        "Marchenko-Pastur local PCA of the series (patches of 5³ voxels every 2 voxels, the components above the MP edge "
        "kept, implemented in the project), then the shipped volume model on each volume told the noise that the kept "
        "components carry (σ √(kept fraction)), then the noise floor removed by inverting the non-central chi mean, with σ "
        "and the coil count read blind from the air (`monai_nad.inference.series.SeriesDenoiser`; its one setting chosen "
        "on the validation series, `docs/results/diffusion_series_validation.md`).",
    ]
    by = {(r["cell"], r["method"]): r for r in rows}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    methods = [m for m in DIFFUSION_METHODS if any(r["method"] == m for r in rows)]
    methods += [m for m in dict.fromkeys(r["method"] for r in rows) if m not in methods]
    for cell in cells:
        first = next(r for r in rows if r["cell"] == cell)
        lines += ["", f"## {cell}", "", "| method | PSNR b=0 | PSNR b=1000 | PSNR b=2000 | FA MAE | MD MAE | s per series |", "|---|---|---|---|---|---|---|"]
        lines.append(f"| noisy | {first['input_psnr_b0']:.2f} | {first['input_psnr_b1000']:.2f} | {first['input_psnr_b2000']:.2f} | "
                     f"{first['input_fa_mae']:.3f} | {first['input_md_mae']:.3f} | – |")
        best = {k: (max if k.startswith("psnr") else min)(by[cell, m][k] for m in methods if (cell, m) in by) for k in _COLUMNS}
        for m in methods:
            r = by.get((cell, m))
            if r is None:
                continue
            values = [(f"**{r[k]:.2f}**" if r[k] == best[k] else f"{r[k]:.2f}") if k.startswith("psnr")
                      else (f"**{r[k]:.3f}**" if r[k] == best[k] else f"{r[k]:.3f}") for k in _COLUMNS]
            chosen = "".join(f" ({k} = {r['chosen'][k]})" for k in ("N", "rank") if k in r.get("chosen", {}))
            lines.append(f"| `{m}`{chosen} | " + " | ".join(values) + f" | {r['ms'] / 1000:.1f} |")
    summary = summarise_diffusion(rows, ours)
    lines += ["", f"## The issue's bar for `{ours}` (each score against the best of MP-PCA and Patch2Self)", ""]
    if summary["of"]:
        lines += [f"Met in {summary['met']} of {summary['of']} (cell, score) pairs.", "",
                  "| cell | " + " | ".join(_COLUMNS) + " | time / MP-PCA's |", "|---|" + "---|" * (len(_COLUMNS) + 1)]
        for cell, items in summary["cells"].items():
            values = [f"{o:.3f} vs {b:.3f} {'✓' if ok else '✗'}" if not k.startswith("psnr") else f"{o:.2f} vs {b:.2f} {'✓' if ok else '✗'}"
                      for k, (o, b, ok) in items.items()]
            ratio = summary["time_vs_mppca"].get(cell)
            lines.append(f"| {cell} | " + " | ".join(values) + f" | {'–' if ratio is None else f'{ratio:.2f}'} |")
        if summary["other_run"]:
            lines += ["", "(–: the two times came from different commands of the chain, which are not compared.)"]
    else:
        lines.append(f"Not graded: the run lacks `{ours}` or both anchors.")
    pairs = [c for c in cells if (c, "neural_pde_3d") in by and (c, "neural_pde_3d_guided") in by]
    if pairs:
        lines += ["", "## The guided try against the plain volume model (`neural_pde_3d_guided` − `neural_pde_3d`)", "",
                  "| cell | PSNR b=0 | PSNR b=1000 | PSNR b=2000 | FA MAE | MD MAE |", "|---|---|---|---|---|---|"]
        for cell in pairs:
            guided, plain = by[cell, "neural_pde_3d_guided"], by[cell, "neural_pde_3d"]
            lines.append(f"| {cell} | " + " | ".join(f"{guided[k] - plain[k]:+.2f}" if k.startswith("psnr") else f"{guided[k] - plain[k]:+.3f}"
                                                    for k in _COLUMNS) + " |")
        lines += ["", "(dB; for the errors, negative is better.)"]
    against = [c for c in cells if (c, "neural_pde_series") in by and (c, "dipy_localpca") in by]
    if against:
        lines += ["", "## The series denoiser against the strongest anchor (`neural_pde_series` − `dipy_localpca`)", "",
                  "| cell | PSNR b=0 | PSNR b=1000 | PSNR b=2000 | FA MAE | MD MAE | time / localpca's |", "|---|---|---|---|---|---|---|"]
        other_run = False
        for cell in against:
            mine, anchor = by[cell, "neural_pde_series"], by[cell, "dipy_localpca"]
            ratio = f"{mine['ms'] / anchor['ms']:.2f}" if same_run(mine, anchor) else "–"
            other_run |= ratio == "–"
            lines.append(f"| {cell} | " + " | ".join(f"{mine[k] - anchor[k]:+.2f}" if k.startswith("psnr") else f"{mine[k] - anchor[k]:+.3f}"
                                                    for k in _COLUMNS) + f" | {ratio} |")
        lines += ["", "(dB; for the errors, negative is better" + ("; –: the two times came from different commands of the chain, which are not compared" if other_run else "") + ".)"]
    if figure:
        lines += ["", f"## {FIGURE_CELL}, middle test slice: a b = 1000 volume and the FA map", "",
                  f"![clean, noisy, MP-PCA, Patch2Self and ours: a b = 1000 volume (top) and FA (bottom)]({figure})"]
    if real:
        lines += render_real_section(real, real.get("command"))
    notes = settings.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def diffusion_figure(panels: dict[str, np.ndarray], bvals: np.ndarray, bvecs: np.ndarray, path: str | Path) -> None:
    """Two rows: a b = 1000 volume and the FA map (fitted on b <= 1000, in the brain) of each series' slice.

    Args:
        panels: title -> one slice of a series ``(X, Y, V)`` (clean, noisy, methods), in column order.
        bvals, bvecs: the gradient table.
        path: the PNG to write.
    """
    plt = pyplot("the benchmark's figure")
    volume = int(np.flatnonzero(np.asarray(bvals) == 1000)[0])
    fig, axes = plt.subplots(2, len(panels), figsize=(2.2 * len(panels), 5.0), squeeze=False)
    for column, (title, image) in enumerate(panels.items()):
        data = np.clip(np.asarray(image, dtype=np.float64), 0, 1)[:, :, None]
        mask = np.ones(data.shape[:3], dtype=bool)
        fa, _ = tensor_maps(data, bvals, bvecs, mask)
        for row, (shown, vmax) in enumerate(((data[:, :, 0, volume], 0.5), (fa.reshape(data.shape[:2]), 1.0))):
            ax = axes[row, column]
            ax.imshow(np.rot90(shown), cmap="gray", vmin=0, vmax=vmax)
            ax.axis("off")
            ax.set_title(title if row == 0 else f"FA: {title}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
