"""A diffusion series' files and reports: NaN directions of b = 0 volumes (DIPY's example data), the series path's noise
in the ``--report`` and its ``--noise-map``."""

from __future__ import annotations

import numpy as np
import pytest

from monai_nad.inference.gradients import diffusion_gradients


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
