"""The diffusion benchmark's real-data check: residuals (noisy minus denoised) on the diffusion series that ship with DIPY.

For EVALUATION ONLY: nothing here tunes anything. The series are DIPY's example data (:data:`REAL_SERIES`, read with
``dipy.data.get_fnames``): crops of real brain scans, all tissue (no air). Each method denoises the whole series:

- ``dipy_mppca``: ``dipy.denoise.localpca.mppca`` (patch radius 2, less along an axis shorter than 5), its noise level
  the median of the per-voxel sigma it estimates (``return_sigma=True``);
- ``dipy_patch2self``: ``dipy.denoise.patch2self.patch2self`` (OLS, its defaults). It estimates no noise; its level is
  the median of DIPY's ``pca_noise_estimate`` (bias-corrected, ``smooth=2``, the estimate DIPY pairs with ``localpca``);
- ``neural_pde_series``: ``monai-nad denoise`` on a copy of the files (the ``.nii`` with its ``.bval``/``.bvec`` beside
  it, so the command line recognises the series), through :func:`monai_nad.cli.main`; its level is the ``noise_std``
  of the run's ``--report``: the series path's estimate (from the air where there is air; these crops have none, so the
  median Marchenko-Pastur sigma of the low-rank step over the brighter half of the voxels).

Scores of one volume (the first with ``b`` about 1000) and of all volumes: the residual's std and mean, the std over
the method's noise level, and the correlation of the residual with the denoised volume (anatomy left in the residual
correlates with it; white noise does not).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from monai_nad._optional import pyplot
from monai_nad.data.scans import normalise_intensity
from monai_nad.inference.series import SeriesDenoiser

__all__ = [
    "patch_radius",
    "REAL_SERIES",
    "REAL_METHODS",
    "RealSeries",
    "load_real_series",
    "real_mppca",
    "real_patch2self",
    "real_ours",
    "residual_scores",
    "series_steps",
    "run_real_check",
    "real_figure",
    "render_real_section",
]

#: DIPY's example diffusion series checked (``dipy.data.get_fnames(name=...)``).
REAL_SERIES = ("small_64D", "small_101D")
#: The methods, in the figure's order.
REAL_METHODS = ("dipy_mppca", "dipy_patch2self", "neural_pde_series")
_LABELS = {"dipy_mppca": "MP-PCA", "dipy_patch2self": "Patch2Self", "neural_pde_series": "ours (series)"}
_HOW = {
    "dipy_mppca": "median of MP-PCA's own sigma map (`mppca(..., return_sigma=True)`)",
    "dipy_patch2self": "median of DIPY's `pca_noise_estimate` (Patch2Self estimates none)",
    "neural_pde_series": "the series path's `noise_std` from the run's `--report`",
}


@dataclass
class RealSeries:
    """One of DIPY's example series.

    Attributes:
        name: the ``get_fnames`` name.
        data: ``(X, Y, Z, V)`` float32.
        bvals, bvecs: ``(V,)`` and ``(V, 3)``.
        files: the NIfTI, ``.bval`` and ``.bvec`` files.
        zooms: the voxel size (mm).
    """

    name: str
    data: np.ndarray
    bvals: np.ndarray
    bvecs: np.ndarray
    files: tuple[Path, Path, Path]
    zooms: tuple[float, float, float]

    @property
    def volume(self) -> int:
        """The volume shown and scored: the first whose b-value is within 100 of 1000 (else the first b > 50)."""
        near = np.flatnonzero(np.abs(self.bvals - 1000) <= 100)
        return int(near[0]) if near.size else int(np.flatnonzero(self.bvals > 50)[0])


def load_real_series(name: str) -> RealSeries:
    """DIPY's example series ``name`` (one of :data:`REAL_SERIES`)."""
    import nibabel as nib
    from dipy.data import get_fnames

    nii, bval, bvec = (Path(f) for f in get_fnames(name=name))
    image = nib.load(str(nii))
    bvals = np.loadtxt(bval).reshape(-1)
    bvecs = np.loadtxt(bvec, ndmin=2)
    bvecs = np.nan_to_num(bvecs.T if bvecs.shape[0] == 3 and bvecs.shape[1] != 3 else bvecs)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    return RealSeries(name, np.asarray(image.get_fdata(), dtype=np.float32), bvals, bvecs, (nii, bval, bvec), zooms)  # type: ignore[arg-type]


def patch_radius(shape: Sequence[int], radius: int = 2) -> np.ndarray:
    """DIPY's ``patch_radius`` for a series of ``shape`` ``(X, Y, Z, V)``: ``radius`` along each spatial axis, less along an
    axis too short for the patch (e.g. quick runs on a few slices)."""
    return np.array([min(radius, (n - 1) // 2) for n in shape[:3]])


def real_mppca(series: RealSeries) -> tuple[np.ndarray, float]:
    """DIPY's MP-PCA and the median of its sigma map."""
    from dipy.denoise.localpca import mppca

    out, sigma = mppca(series.data, patch_radius=patch_radius(series.data.shape), return_sigma=True, suppress_warning=True)
    return np.asarray(out, dtype=np.float32), float(np.median(sigma))


def real_patch2self(series: RealSeries) -> tuple[np.ndarray, float]:
    """DIPY's Patch2Self (OLS) and the median of ``pca_noise_estimate``."""
    from dipy.core.gradients import gradient_table
    from dipy.denoise.patch2self import patch2self
    from dipy.denoise.pca_noise_estimate import pca_noise_estimate

    out = patch2self(series.data, series.bvals, model="ols", verbose=False)
    table = gradient_table(series.bvals, bvecs=series.bvecs, b0_threshold=50)
    sigma = pca_noise_estimate(series.data, table, correct_bias=True, smooth=2)
    return np.asarray(out, dtype=np.float32), float(np.median(sigma))


def real_ours(series: RealSeries, cli_main: Callable[[list[str]], int], extra: Sequence[str] = ()) -> tuple[np.ndarray, float, dict]:
    """``monai-nad denoise`` on a copy of the series' files (``cli_main`` is :func:`monai_nad.cli.main`).

    Returns:
        ``(denoised (X, Y, Z, V), the report's noise_std, the report's row)``.

    Raises:
        RuntimeError: the command failed or did not denoise the file as a series.
    """
    import nibabel as nib

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for f in series.files:
            shutil.copy(f, folder / f.name)
        report = Path(tmp) / "report.json"
        code = cli_main(["denoise", str(folder / series.files[0].name), "-o", str(Path(tmp) / "out"), "--report", str(report), *extra])
        rows = json.loads(report.read_text())["files"] if report.is_file() else []
        if code != 0 or len(rows) != 1 or rows[0].get("status") != "written":
            raise RuntimeError(f"monai-nad denoise failed on {series.name} (exit {code}): {rows}")
        row = rows[0]
        if not str(row.get("model", "")).startswith("series+"):
            raise RuntimeError(f"{series.name} was not denoised as a series: {row}")
        out = np.asarray(nib.load(row["output"]).get_fdata(), dtype=np.float32)
    return out, float(row["noise_std"]), row


def residual_scores(noisy: np.ndarray, denoised: np.ndarray, noise_std: float, volume: int) -> dict[str, float]:
    """The residual ``noisy - denoised`` of one volume and of the whole series ``(X, Y, Z, V)``.

    Returns:
        ``{"std", "mean", "ratio" (std / noise_std), "corr" (with the denoised volume), "std_all", "ratio_all", "corr_all"}``
        (``*_all``: every volume's residual pooled; ``corr_all`` the mean of the volumes' correlations).
    """
    residual = np.asarray(noisy, dtype=np.float64) - np.asarray(denoised, dtype=np.float64)

    def corr(r: np.ndarray, d: np.ndarray) -> float:
        r, d = r.reshape(-1) - r.mean(), d.reshape(-1) - d.mean()
        scale = np.sqrt((r * r).sum() * (d * d).sum())
        return float((r * d).sum() / scale) if scale > 0 else 0.0

    one = residual[..., volume]
    return {
        "std": float(one.std()), "mean": float(one.mean()), "ratio": float(one.std() / noise_std), "corr": corr(one, denoised[..., volume]),
        "std_all": float(residual.std()), "ratio_all": float(residual.std() / noise_std),
        "corr_all": float(np.mean([corr(residual[..., v], denoised[..., v]) for v in range(residual.shape[-1])])),
    }


#: The series path's steps :func:`series_steps` runs: label -> (with the volume model, with the floor removal).
SERIES_STEPS = {"low-rank step only": (False, False), "low-rank + floor removal": (False, True), "low-rank + volume model": (True, False)}


def series_steps(series: RealSeries, volume_network: torch.nn.Module) -> dict[str, tuple[np.ndarray, float]]:
    """The series path's steps (:data:`SERIES_STEPS`) on ``series`` scaled as the command line scales it: what each
    adds to the residual. :class:`~monai_nad.inference.series.SeriesDenoiser` called directly (the volume model on each
    whole volume, not in windows: these crops are smaller than one window).

    Returns:
        label -> ``(denoised (X, Y, Z, V) in the scan's units, the noise level it estimated, in the scan's units)``.
    """
    scaled, (offset, scale) = normalise_intensity(series.data)
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(scaled, -1, 0)))
    out = {}
    for label, (model, floor) in SERIES_STEPS.items():
        denoiser = SeriesDenoiser(volume_network if model else None, floor=floor)
        with torch.no_grad():
            y = denoiser(x)
        out[label] = (np.moveaxis(y.numpy(), 0, -1) * scale + offset, denoiser.last["noise_std"] * scale)
    return out


def run_real_check(names: Sequence[str], cli_main: Callable[[list[str]], int], figure: Path | None = None,
                   log: Callable[[str], None] = print, volume_network: torch.nn.Module | None = None) -> dict:
    """Every method of :data:`REAL_METHODS` on each series of ``names``; the figure (if a path is given) and the record.
    ``volume_network`` (the shipped volume model): also the series path's steps (:func:`series_steps`), as rows
    ``neural_pde_series: <step>``.

    Returns:
        ``{"series": [{"name", "shape", "zooms", "volume", "bval", "rows": [{"method", "sigma", "how", "seconds",
        **residual_scores}]}]}``.
    """
    record: dict = {"series": []}
    panels: list[tuple[RealSeries, dict[str, np.ndarray]]] = []
    for name in names:
        series = load_real_series(name)
        v = series.volume
        entry = {"name": name, "shape": list(series.data.shape), "zooms": list(series.zooms), "volume": v,
                 "bval": float(series.bvals[v]), "rows": []}
        outputs: dict[str, np.ndarray] = {}
        for method in REAL_METHODS:
            start = time.perf_counter()
            if method == "dipy_mppca":
                out, sigma = real_mppca(series)
                extra: dict = {}
            elif method == "dipy_patch2self":
                out, sigma = real_patch2self(series)
                extra = {}
            else:
                out, sigma, row = real_ours(series, cli_main)
                extra = {k: row[k] for k in ("model", "coils", "kept_fraction", "noise_from") if k in row}
            seconds = time.perf_counter() - start
            outputs[method] = out
            scores = residual_scores(series.data, out, sigma, v)
            entry["rows"].append({"method": method, "sigma": sigma, "how": _HOW[method], "seconds": seconds, **extra, **scores})
            log(f"{name} {method}: sigma {sigma:.4g}, residual std {scores['std']:.4g} ({scores['ratio']:.2f} sigma), "
                f"corr {scores['corr']:+.3f}, {seconds:.1f} s")
        if volume_network is not None:
            for label, (out, sigma) in series_steps(series, volume_network).items():
                scores = residual_scores(series.data, out, sigma, v)
                entry["rows"].append({"method": f"neural_pde_series: {label}", "sigma": sigma, "how": "the series path's estimate",
                                      "seconds": float("nan"), **scores})
                log(f"{name} {label}: residual std {scores['std']:.4g} ({scores['ratio']:.2f} sigma), corr {scores['corr']:+.3f}")
        record["series"].append(entry)
        panels.append((series, outputs))
    if figure is not None:
        real_figure(panels, figure)
        record["figure"] = figure.name
    return record


def real_figure(panels: Sequence[tuple[RealSeries, dict[str, np.ndarray]]], path: Path) -> None:
    """Per series two rows, the middle slice of its scored volume: noisy and each method's output (grey, one window), and
    each method's residual (``noisy - denoised``, from -3 to +3 times the std of MP-PCA's residual of the volume)."""
    plt = pyplot("the real-data residual figure")
    columns = 1 + len(REAL_METHODS)
    fig, axes = plt.subplots(2 * len(panels), columns, figsize=(2.3 * columns, 2.5 * 2 * len(panels)), squeeze=False)
    for p, (series, outputs) in enumerate(panels):
        v = series.volume
        z = series.data.shape[2] // 2
        noisy = series.data[:, :, z, v]
        vmax = float(np.percentile(series.data[..., v], 99.5))
        ref = float(np.std(series.data[..., v] - outputs[REAL_METHODS[0]][..., v]))  # MP-PCA's residual std: one scale for all
        top, bottom = axes[2 * p], axes[2 * p + 1]
        top[0].imshow(np.rot90(noisy), cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
        top[0].set_title(f"{series.name}: noisy\nvolume {v} (b={series.bvals[v]:g}), z={z}", fontsize=7)
        bottom[0].axis("off")
        for c, method in enumerate(REAL_METHODS, start=1):
            out = outputs[method][:, :, z, v]
            residual = noisy - out
            top[c].imshow(np.rot90(out), cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
            top[c].set_title(_LABELS[method], fontsize=8)
            bottom[c].imshow(np.rot90(residual), cmap="RdBu_r", vmin=-3 * ref, vmax=3 * ref, interpolation="nearest")
            bottom[c].set_title(f"residual: {_LABELS[method]}", fontsize=8)
        for ax in (*top, *bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _seconds(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.1f}"


def render_real_section(record: dict, command: str | None = None) -> list[str]:
    """The Markdown lines of the real-data check (a section of the diffusion benchmark's page, docs/results/diffusion.md)."""
    lines = ["", "## Real data: the residual (noisy − denoised) on DIPY's example series (evaluation only)", ""]
    if command:
        lines += [f"Produced by `{command}` (one thread; the series are DIPY's example data, `dipy.data.get_fnames`, used for "
                  "nothing but this check). Residual std over all voxels of the volume (the crops are all tissue, no air), and over "
                  "all volumes pooled; σ is each method's noise level, estimated as the table says; corr is the correlation of the "
                  "residual with the denoised volume (anatomy left in the residual correlates with it, white noise does not).", ""]
    lines += ["| series | method | σ (how) | residual std (one volume) | std / σ | mean | corr | std / σ (all volumes) | corr (all) | s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in record.get("series", []):
        label = f"{entry['name']} {'x'.join(str(n) for n in entry['shape'])}, volume {entry['volume']} (b = {entry['bval']:g})"
        for r in entry["rows"]:
            how = r["how"] + (f"; from {r['noise_from']}, {r['coils']} coil(s), {100 * r['kept_fraction']:.0f} % kept" if "kept_fraction" in r else "")
            lines.append(f"| {label} | `{r['method']}` | {r['sigma']:.2f} ({how}) | {r['std']:.2f} | {r['ratio']:.2f} | {r['mean']:+.2f} | "
                         f"{r['corr']:+.3f} | {r['ratio_all']:.2f} | {r['corr_all']:+.3f} | {_seconds(r['seconds'])} |")
    if record.get("figure"):
        lines += ["", f"![noisy, MP-PCA, Patch2Self, ours (top) and their residuals (bottom) on DIPY's example series]({record['figure']})"]
    if record.get("notes"):
        lines += [""] + [f"- {n}" for n in record["notes"]]
    return lines
