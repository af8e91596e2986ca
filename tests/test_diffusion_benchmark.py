"""Benchmark 1e in the one loop (monai_nad.experiments.diffusion_benchmark) and its script, on a few phantom slices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_nad.data.dwi_phantom import DWI_SPLITS, dwi_phantom
from monai_nad.experiments import diffusion_benchmark as db

ROOT = Path(__file__).resolve().parents[1]


def test_cells_and_names():
    assert [db.diffusion_cell_name(c, s) for c, s in db.diffusion_cell_keys()] == ["rician_snr10", "rician_snr20", "sos4_snr10", "sos4_snr20"]
    assert [c.name for c in db.select_cells(["sos4_*"])] == ["sos4_snr10", "sos4_snr20"]
    with pytest.raises(ValueError, match="no cell"):
        db.select_cells(["t2_*"])
    with pytest.raises(ValueError, match="coils"):
        db.diffusion_test_cell(8, 10)


def test_score_series_on_the_clean_and_the_noisy_series():
    cell = db.diffusion_test_cell(1, 10, limit=2)
    noisy, clean = cell.load("test")
    assert noisy.shape == clean.shape == (1, 98, 116, 2, 66)
    perfect = cell.score(clean, clean)
    assert perfect["fa_mae"] == 0 and perfect["md_mae"] == 0 and np.isinf(perfect["psnr_b1000"])
    scores = cell.score(noisy, clean)
    assert set(scores) == {"psnr", "psnr_b0", "psnr_b1000", "psnr_b2000", "fa_mae", "md_mae"}
    # sigma 0.05 in the brain: about 26 dB in every shell (the Rician bias adds a little error)
    for key in ("psnr_b0", "psnr_b1000", "psnr_b2000"):
        assert 24 < scores[key] < 26.5
    assert 0 < scores["fa_mae"] < 0.2
    val_noisy, _ = cell.load("validation")
    assert not np.array_equal(val_noisy, noisy)  # other slices, other seeds


def test_the_loop_scores_a_method_and_the_tuned_one():
    cells = [db.diffusion_test_cell(4, 20, limit=1)]
    rows = db.benchmark_cells(cells, {"identity": db._timed(lambda s: s)}, tuned={"dipy_nlmeans": db.nlmeans_tuner((0,))}, bm3d=False, log=lambda m: None)
    by = {r["method"]: r for r in rows}
    assert by["identity"]["psnr_b0"] == pytest.approx(by["identity"]["input_psnr_b0"])
    assert by["dipy_nlmeans"]["chosen"]["N"] == 0 and np.isfinite(by["dipy_nlmeans"]["psnr_b2000"])
    summary = db.summarise_diffusion(rows, ours="identity")
    assert summary["of"] == 0  # no anchors in this run: nothing graded
    text = db.render_diffusion_page(rows, "cmd", {"limit": 1, "all_cells": False})
    assert "a quick run, not the benchmark" in text and "| `identity` |" in text


@pytest.mark.slow
def test_script_quick_run(tmp_path):
    """The script end to end on two slices of one cell (~40 s on one thread)."""
    result = subprocess.run(
        [sys.executable, "scripts/benchmark_diffusion.py", "--limit", "2", "--cells", "rician_snr10", "--methods", "neural_pde_3d",
         "dipy_patch2self", "dipy_mppca", "--output-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "diffusion.json").read_text())
    assert {r["method"] for r in record["rows"]} == {"neural_pde_3d", "dipy_patch2self", "dipy_mppca"}
    page = (tmp_path / "diffusion.md").read_text()
    assert "a quick run, not the benchmark" in page and "python scripts/benchmark_diffusion.py --limit 2" in page
    assert (tmp_path / "diffusion.png").is_file()
    assert DWI_SPLITS["test"][:2] == dwi_phantom("test", [40, 41]).zs
