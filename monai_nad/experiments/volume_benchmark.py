"""The volume benchmark: the real-anatomy benchmark's test slabs taken as volumes, against BM4D+rc and DIPY's
non-local means.

Cells: MNI and Colin27, as is and inverted, Rician ``s`` = 0.05 / 0.10 / 0.15, the slab ``z`` in ``[90, 100)`` as one
volume ``(H, W, 10)`` with that benchmark's noise (:func:`~monai_nad.data.real_anatomy_cell`). The methods:

- ``neural_pde_2d``: the shipped 2D model slice by slice (blind, as ``monai-nad denoise --mode 2d`` runs it);
- ``neural_pde_3d``: the volume model (:class:`~monai_nad.networks.SliceContextPDE`, blind, ``--mode 3d``) as
  shipped (one pass), and ``neural_pde_3d_2pass`` averaged over two mirror images;
- ``bm4d_rc``: BM4D told the true noise level, then the Rician correction with ``b`` tuned on the validation slab
  (``z`` in ``[80, 90)``) taken as a volume, by the one tuner (:func:`~monai_nad.experiments.evaluation.classical_tuner`);
- ``dipy_nlmeans``: DIPY's Rician non-local means with its own noise estimate and default radii.

Every cell goes through :func:`~monai_nad.experiments.evaluation.benchmark_cells`, the evaluation loop of the
real-anatomy pages (PSNR, SSIM and foreground PSNR per slice, averaged), on one thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_nad._optional import pyplot
from monai_nad.bundle import bundle_network, default_bundle
from monai_nad.data.real_anatomy import (
    NEAR_CLEAN_LEVEL,
    REAL_ANATOMY_LEVELS,
    REAL_ANATOMY_VOLUMES,
    load_volume,
    real_anatomy_cell,
    real_anatomy_noise,
)
from monai_nad.experiments.evaluation import benchmark_cells, classical_tuner, score_slices
from monai_nad.experiments.machine import machine_description
from monai_nad.experiments.volume_timing import dipy_nlmeans_blind
from monai_nad.inference import ScanInferer
from monai_nad.transforms.noise import rician_noise

__all__ = [
    "VOLUME_SHIFTS",
    "BM4D_RC",
    "volume_cells",
    "other_cells",
    "run_other_cells",
    "volume_methods",
    "thick_slice_rows",
    "noisy_whole_volume",
    "whole_volume_timing",
    "large_volume_memory",
]

#: The contrasts of the volume benchmark: as is and inverted.
VOLUME_SHIFTS = (None, "inverted")
#: BM4D+rc: the true noise level, ``b`` tuned on the validation slab as one volume.
BM4D_RC = classical_tuner("bm4d", {"sigma_factor": (1.0,)}, volumetric=True)


def volume_cells() -> list[tuple[str, str | None, float]]:
    """The 12 cells: volume x contrast (as is, inverted) x noise std."""
    return [(v, s, noise_std) for v in REAL_ANATOMY_VOLUMES for s in VOLUME_SHIFTS for noise_std in REAL_ANATOMY_LEVELS]


def other_cells() -> list[tuple[str, str | None, float]]:
    """Cells outside the bar that a user meets: the dim contrast (:func:`~monai_nad.data.shift_contrast`) at every level,
    and nearly clean volumes (as is, s = :data:`~monai_nad.data.real_anatomy.NEAR_CLEAN_LEVEL`), where a denoiser must keep fine detail."""
    dim = [(v, "dim", noise_std) for v in REAL_ANATOMY_VOLUMES for noise_std in REAL_ANATOMY_LEVELS]
    return dim + [(v, None, NEAR_CLEAN_LEVEL) for v in REAL_ANATOMY_VOLUMES]


def shipped_models(bundle: str | Path | None = None, self_ensemble: int | None = None) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The bundle's 2D model (``inference.json``) and volume model (``volume.json``, ``models/model_3d.pt``), as shipped
    (or with the given self-ensemble, for every image: correlated noise too)."""
    bundle = Path(bundle) if bundle is not None else default_bundle()
    overrides = {} if self_ensemble is None else {"self_ensemble": int(self_ensemble), "correlated_self_ensemble": int(self_ensemble)}
    net2d = bundle_network(bundle, ["inference.json"], bundle / "models" / "model.pt", overrides)
    ensemble = overrides or {"self_ensemble": _inference_ensemble(bundle)}
    net3d = bundle_network(bundle, ["volume.json"], bundle / "models" / "model_3d.pt", ensemble)
    return net2d, net3d


def _inference_ensemble(bundle: Path) -> int:
    """The volume model's self-ensemble as the bundle's inference runs it."""
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    return int(config.get("volume_self_ensemble", config.get("self_ensemble", 1)))


def scan_method(
    network2d: torch.nn.Module, network3d: torch.nn.Module | None, mode: str, noise_factor: float | None = None,
    noise_estimate: str = "level", white_gain: dict[str, float] | None = None, precision: str = "auto", int8_ranges: str | Path | None = None,
) -> Callable[[np.ndarray, float], tuple[np.ndarray, list[float]]]:
    """A benchmark method that denoises a slab ``(N, H, W)`` as one volume through the command line's
    :class:`~monai_nad.inference.ScanInferer`, like ``monai-nad denoise --mode <mode>``: with the blind noise estimate,
    or (``noise_factor``) told that multiple of the true noise std, like ``--noise-std``; ``noise_estimate`` as
    ``--noise-estimate`` (``"level"``, the default, or ``"map"``); ``white_gain`` and ``precision`` as the inferer's
    (``{"2d": 0.0, "3d": 0.0}``: the estimated std map and coil count as they are, as a bundle whose network inverts the
    magnitude mean runs); ``int8_ranges`` the calibration file of ``precision="int8"`` (``--precision int8``)."""
    inferer = ScanInferer(volume_network=network3d, mode=mode, noise_estimate=noise_estimate, white_gain=white_gain, precision=precision,
                          int8_ranges=None if int8_ranges is None else str(int8_ranges))

    def run(noisy: np.ndarray, noise_std: float) -> tuple[np.ndarray, list[float]]:
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, 0, -1), dtype=np.float32))[None, None]
        start = time.perf_counter()
        with torch.no_grad():
            y = inferer(x, network2d, noise_std=None if noise_factor is None else noise_factor * noise_std)
        seconds = time.perf_counter() - start
        return np.ascontiguousarray(np.moveaxis(y[0, 0].numpy(), -1, 0)), [seconds / len(noisy)] * len(noisy)

    return run


def dipy_method(noisy: np.ndarray, noise_std: float) -> tuple[np.ndarray, list[float]]:
    """DIPY's non-local means on a slab ``(N, H, W)`` as one volume (it is not told ``noise_std``)."""
    start = time.perf_counter()
    out, _ = dipy_nlmeans_blind(np.moveaxis(noisy, 0, -1))
    seconds = time.perf_counter() - start
    return np.ascontiguousarray(np.moveaxis(out, -1, 0)), [seconds / len(noisy)] * len(noisy)


def volume_methods(bundle: str | Path | None = None) -> dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, list[float]]]]:
    """The learned and untuned methods of the benchmark (BM4D+rc is tuned per cell: :data:`BM4D_RC`)."""
    net2d, net3d = shipped_models(bundle)
    _, net3d_two = shipped_models(bundle, self_ensemble=2)
    return {
        "neural_pde_2d": scan_method(net2d, None, "2d"),
        "neural_pde_3d": scan_method(net2d, net3d, "3d"),
        "neural_pde_3d_2pass": scan_method(net2d, net3d_two, "3d"),
        "dipy_nlmeans": dipy_method,
    }


def run_volume_cells(bundle: str | Path | None = None, limit: int | None = None, bm4d: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """Score every method on the 12 cells (``limit``: the first slices of each slab only, a quick check)."""
    tuned = {"bm4d_rc": BM4D_RC} if bm4d else {}
    return benchmark_cells(volume_cells(), volume_methods(bundle), tuned=tuned, bm3d=False, limit=limit, log=log)


def run_other_cells(bundle: str | Path | None = None, limit: int | None = None, bm4d: bool = True, log: Callable[[str], None] = print) -> list[dict]:
    """The 2D and the volume model (one and two passes) and BM4D+rc (tuned on each cell's validation slab, the
    near-clean cells included) on :func:`other_cells`, through the one evaluation loop."""
    methods = {k: v for k, v in volume_methods(bundle).items() if k.startswith("neural_pde")}
    tuned = {"bm4d_rc": BM4D_RC} if bm4d else {}
    return benchmark_cells(other_cells(), methods, tuned=tuned, bm3d=False, limit=limit, log=log, tune_near_clean=True)


def thick_slice_rows(bundle: str | Path | None = None, steps: Sequence[int] = (1, 2, 3), log: Callable[[str], None] = print) -> list[dict]:
    """The 2D and the volume model on thicker slices: every ``step``-th slice of the as-is test slabs (``step`` mm).

    Returns:
        rows ``{"volume", "level" (the noise std), "step", "model", "psnr"}`` (the volume model forced with ``--mode 3d``).
    """
    net2d, net3d = shipped_models(bundle)
    runs = {"2d": scan_method(net2d, None, "2d"), "3d": scan_method(net2d, net3d, "3d")}
    rows = []
    for volume in REAL_ANATOMY_VOLUMES:
        for noise_std in REAL_ANATOMY_LEVELS:
            noisy, clean, _ = real_anatomy_cell(volume, None, noise_std)
            for step in steps:
                for model, run in runs.items():
                    out, _ = run(noisy[::step], noise_std)
                    rows.append({"volume": volume, "level": noise_std, "step": step, "model": model, "psnr": score_slices(out, clean[::step])["psnr"]})
                log(f"thick slices {volume} s={noise_std} every {step}: 2d {rows[-2]['psnr']:.2f}  3d {rows[-1]['psnr']:.2f}")
    return rows


def noisy_whole_volume(path: str | Path, volume: str = "colin27", noise_std: float = 0.10) -> Path:
    """Write the whole ``volume`` with the real-anatomy benchmark's Rician noise (slice ``z`` seeded ``1000 + z``) as a
    1 mm NIfTI."""
    import nibabel as nib

    clean = np.asarray(load_volume(volume), dtype=np.float32)
    noisy = np.stack([real_anatomy_noise(clean[:, :, z], noise_std, z) for z in range(clean.shape[2])], axis=-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(noisy, np.eye(4)), str(path))
    return path


def _timed(method: str, source: Path, out_dir: Path, noise_std: float | None = None, threads: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "monai_nad.experiments.volume_timing", method, str(source), str(out_dir)]
    if noise_std is not None:
        command += ["--noise-std", repr(noise_std)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_volume_timing(
    out_dir: str | Path, methods: Sequence[str] = ("neural_pde_3d", "neural_pde_3d_2pass", "neural_pde_2d", "dipy_nlmeans"), noise_std: float = 0.10,
    repeats: int = 1, log: Callable[[str], None] = print,
) -> list[dict]:
    """Time each method on the whole noisy Colin27 (181 x 217 x 181), each in a fresh one-thread process, in turn.

    Returns:
        one row per method: median seconds over ``repeats``, peak memory (MB), PSNR of the whole volume against the
        clean Colin27 (it contains the training slabs: for the figure and the time, not a quality result), the
        output file and the machine (:func:`~monai_nad.experiments.machine.machine_description`, one thread).
    """
    out_dir = Path(out_dir)
    source = noisy_whole_volume(out_dir / f"colin27_s{noise_std:.2f}.nii.gz", "colin27", noise_std)
    clean = np.asarray(load_volume("colin27"), dtype=np.float32)
    rows = []
    times: dict[str, list[float]] = {m: [] for m in methods}
    results: dict[str, dict] = {}
    for _ in range(repeats):
        for method in methods:  # interleaved, so a slow moment of the machine is shared
            result = _timed(method, source, out_dir, noise_std if method == "bm4d" else None)
            times[method].append(result["seconds"])
            results[method] = result
    import nibabel as nib

    for method in methods:
        out = np.asarray(nib.load(results[method]["output"]).dataobj, dtype=np.float32)
        psnr = float(10 * np.log10(1.0 / np.mean((np.clip(out, 0, 1) - clean) ** 2)))
        rows.append({"method": method, "seconds": float(np.median(times[method])), "all_seconds": times[method],
                     "peak_rss_mb": results[method]["peak_rss_mb"], "psnr_whole": psnr, "output": results[method]["output"],
                     "machine": machine_description(threads=1)})
        log(f"whole Colin27 {method:<20} {rows[-1]['seconds']:7.1f} s  {rows[-1]['peak_rss_mb']:7.0f} MB")
    return rows


def large_volume_memory(out_dir: str | Path, shape: Sequence[int] = (512, 512, 300), log: Callable[[str], None] = print) -> dict:
    """Peak memory of ``monai-nad denoise --mode 3d`` (the volume model as shipped) on a synthetic ``shape`` volume (fresh process).

    Returns:
        ``{"shape", "seconds", "peak_rss_mb"}``.
    """
    import nibabel as nib

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in shape], indexing="ij"))
    phantom = (np.sqrt((grid**2).sum(0)) < 0.8).astype(np.float32) * (0.6 + 0.3 * np.sin(8 * grid[0]) * np.cos(6 * grid[1]))
    del grid
    noisy = rician_noise(phantom, 0.05, rng, dtype=np.float32)
    source = out_dir / "large_synthetic.nii.gz"
    nib.save(nib.Nifti1Image(noisy.astype(np.float32), np.eye(4)), str(source))
    del noisy, phantom
    result = _timed("neural_pde_3d", source, out_dir / "large")
    row = {"shape": list(shape), "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"]}
    log(f"large volume {shape}: {row['seconds']:.0f} s, peak {row['peak_rss_mb']:.0f} MB")
    return row


def orthogonal_views(outputs: dict[str, str], clean_volume: np.ndarray, noisy_path: str | Path, path: str | Path, title: str = "") -> None:
    """Axial, coronal and sagittal mid-planes of the clean, noisy and denoised whole volumes, one row each."""
    import nibabel as nib

    plt = pyplot("the orthogonal views")

    volumes = {"clean": clean_volume, "noisy": np.asarray(nib.load(str(noisy_path)).dataobj, dtype=np.float32)}
    volumes.update({name: np.asarray(nib.load(p).dataobj, dtype=np.float32) for name, p in outputs.items()})
    x, y, z = (s // 2 for s in clean_volume.shape)
    fig, axes = plt.subplots(len(volumes), 3, figsize=(9, 3 * len(volumes)))
    for row, (name, vol) in zip(axes, volumes.items()):
        for ax, (plane, image) in zip(row, (("axial", vol[:, :, z]), ("coronal", vol[:, y, :]), ("sagittal", vol[x, :, :]))):
            ax.imshow(np.rot90(image), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}: {plane}", fontsize=9)
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean PSNR/SSIM and median ms per slice of each method over the cells."""
    out: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        out[method] = {"psnr": float(np.mean([r["psnr"] for r in mine])), "ssim": float(np.mean([r["ssim"] for r in mine])),
                       "ms": float(np.median([r["ms"] for r in mine]))}
    return out
