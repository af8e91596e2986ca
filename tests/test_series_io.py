"""A diffusion series' files and reports: NaN directions of b = 0 volumes (DIPY's example data), the series path's noise
in the ``--report`` and its ``--noise-map``."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.inference.gradients import diffusion_gradients


def _rician_series(sigma: float, shape: tuple[int, int, int] = (24, 22, 8), volumes: int = 12, seed: int = 0) -> np.ndarray:
    """A rank-3 series inside a box with air around it, its Rician magnitude ``(V, X, Y, Z)`` float32."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij"))
    maps = np.stack([0.6 + 0.2 * np.sin(3 * grid[0]), 0.3 * grid[1], 0.2 * np.cos(4 * grid[2])])
    clean = np.einsum("vk,kxyz->vxyz", rng.uniform(0.3, 1.0, (volumes, 3)), maps)
    box = np.zeros(shape, dtype=bool)
    box[4:-4, 4:-4, :] = True
    clean = np.where(box, clean, 0.0)
    noisy = np.hypot(clean + sigma * rng.standard_normal(clean.shape), sigma * rng.standard_normal(clean.shape))
    return noisy.astype(np.float32)


def test_nan_directions_are_accepted_on_b0_volumes_only(tmp_path):
    image = tmp_path / "dwi.nii.gz"
    np.savetxt(tmp_path / "dwi.bval", np.array([[0, 1000, 1000, 1000]]), fmt="%g")
    (tmp_path / "dwi.bvec").write_text("nan nan nan\n1 0 0\n0 1 0\n0 0 1\n")  # V rows of three (4 volumes: 3 x 3 would read as three rows), as DIPY's small_64D
    table = diffusion_gradients(image, 4)
    assert table is not None and np.array_equal(table.bvecs[0], np.zeros(3)) and np.array_equal(table.bvecs[1], [1, 0, 0])
    (tmp_path / "dwi.bvec").write_text("1 0 0\nnan nan nan\n0 1 0\n0 0 1\n")  # a b = 1000 volume without a direction
    with pytest.raises(ValueError, match="no finite direction"):
        diffusion_gradients(image, 4)
    (tmp_path / "dwi.bvec").write_text("nan 0 0\n1 0 0\n0 1 0\n0 0 1\n")  # partly NaN
    with pytest.raises(ValueError, match="finite"):
        diffusion_gradients(image, 4)


def test_residual_scores_and_the_real_data_section():
    from monai_nad.experiments.diffusion_real import render_real_section, residual_scores

    rng = np.random.default_rng(0)
    clean = np.broadcast_to(np.linspace(100, 300, 12)[:, None, None, None], (12, 10, 8, 5)).astype(np.float32)
    noisy = clean + 5.0 * rng.standard_normal(clean.shape).astype(np.float32)
    white = residual_scores(noisy, clean, 5.0, 1)  # a perfect denoiser: the residual is the noise
    assert 0.9 < white["ratio"] < 1.1 and abs(white["corr"]) < 0.15
    flattened = residual_scores(noisy, 0.5 * clean + 100, 5.0, 1)  # half the contrast taken: anatomy left in the residual
    assert flattened["ratio"] > 5 and flattened["corr"] > 0.9
    row = {"method": "neural_pde_series", "sigma": 5.0, "how": "h", "seconds": 1.0, "kept_fraction": 0.2, "noise_from": "air", "coils": 1, **white}
    record = {"series": [{"name": "s", "shape": [12, 10, 8, 5], "volume": 1, "bval": 1000.0, "rows": [row]}], "figure": "f.png"}
    text = "\n".join(render_real_section(record, "cmd"))
    assert "`cmd`" in text and "`neural_pde_series`" in text and "20 % kept" in text and "(f.png)" in text


@pytest.mark.parametrize("estimate", ["level", "map"])
def test_a_series_noise_map_and_report_come_from_its_series_path(tiny_bundle, tmp_path, estimate):
    import json

    import nibabel as nib

    from monai_nad.cli import main
    noisy = _rician_series(0.05)
    folder = tmp_path / "in"
    folder.mkdir()
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(np.moveaxis(noisy, 0, -1) * 1000, affine), str(folder / "dwi.nii.gz"))
    np.savetxt(folder / "dwi.bval", np.array([[0, 0] + [1000] * 10]), fmt="%g")
    np.savetxt(folder / "dwi.bvec", np.vstack([np.zeros((2, 3)), np.eye(3)[np.arange(10) % 3]]).T, fmt="%g")
    report = tmp_path / "report.json"
    argv = ["denoise", str(folder), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle),
            "--noise-map", "--noise-estimate", estimate]
    assert main(argv) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["model"].startswith("series+")
    assert row["noise_from"] == "air" and row["coils"] == 1 and 0.0 < row["kept_fraction"] < 0.5
    assert abs(row["noise_std"] - 50.0) < 10.0  # sigma 0.05 of the series x 1000, in the scan's units
    noise_map = nib.load(str(tmp_path / "out" / "dwi_denoised_noise_std.nii.gz"))
    assert noise_map.shape == noisy.shape[1:] and np.allclose(noise_map.affine, affine)  # one 3D map for the series
    values = noise_map.get_fdata()
    inside = np.zeros(values.shape, dtype=bool)
    inside[6:-6, 6:-6, :] = True
    assert 35.0 < float(np.median(values[inside])) < 60.0  # the Marchenko-Pastur estimate of 50 in the object


_PEAK_CHILD = """
import resource, sys, numpy as np, torch
torch.set_num_threads(1)
from monai_nad.inference.series import SeriesDenoiser
from monai_nad.inference.transforms import LoadScand
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[1] != "imports":
    item = LoadScand()({"image": sys.argv[1]})  # the command line's loading of a series, then its series path
    with torch.no_grad():
        out = SeriesDenoiser(None)(item["image"])
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_the_series_path_holds_a_large_series_a_few_times_in_float32(tmp_path):
    """A 96x96x48x100 series (0.16 GiB in float32): loading it as the command line does and the series path (low-rank
    step and floor removal) stay under 3 float32 copies of it plus 0.6 GiB (the patch batches, bounded whatever the
    series) above the imports (measured: 0.86 GiB above 0.65 GiB of imports)."""
    import os
    import subprocess
    import sys

    import nibabel as nib

    shape = (96, 96, 48, 100)
    rng = np.random.default_rng(0)
    data = np.empty(shape, dtype=np.int16)
    grid = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape[:3]], indexing="ij")
    inside = sum(g**2 for g in grid) < 0.8
    for v in range(shape[3]):
        clean = (0.5 + 0.3 * np.sin(3 * grid[0] + v)) * inside
        data[..., v] = np.round(1000 * np.hypot(clean + 0.05 * rng.standard_normal(clean.shape), 0.05 * rng.standard_normal(clean.shape)))
    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), str(path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [subprocess.run([sys.executable, "-c", _PEAK_CHILD, arg], capture_output=True, text=True, env=env, check=True) for arg in ("imports", str(path))]
    imports = int(run[0].stdout.split()[1]) * 1024
    peak = int(run[1].stdout.split()[1]) * 1024
    series = data.size * 4
    assert peak - imports < 3 * series + 0.6 * 2**30, f"peak {peak / 2**30:.2f} GB, imports {imports / 2**30:.2f} GB, series {series / 2**30:.2f} GB"
