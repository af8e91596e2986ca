"""The volume benchmark: its bar, its page and its command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monai_nad.experiments.volume_report import render_volume_page, volume_bar

ROOT = Path(__file__).resolve().parents[1]


def _row(cell, method, psnr, ssim=0.9, ms=10.0, input_psnr=20.0):
    return {"cell": cell, "method": method, "psnr": psnr, "ssim": ssim, "fg_psnr": psnr - 2, "ms": ms, "input_psnr": input_psnr}


def test_the_bar_grades_every_line():
    rows = [_row("a", "neural_pde_3d", 35.0), _row("b", "neural_pde_3d", 30.0),
            _row("a", "neural_pde_2d", 34.0), _row("b", "neural_pde_2d", 30.5),
            _row("a", "bm4d_rc", 34.0), _row("b", "bm4d_rc", 30.2),
            _row("a", "dipy_nlmeans", 33.0), _row("b", "dipy_nlmeans", 28.0)]
    timing = [{"method": "neural_pde_3d", "seconds": 5.0}, {"method": "dipy_nlmeans", "seconds": 9.0}]
    bar = {line: (measured, met) for line, measured, met in volume_bar(rows, timing)}
    assert bar["beats the 2D model in every cell"] == ("1 of 2 (closest -0.50 dB)", False)
    assert bar["beats DIPY nlmeans in every cell"][1] is True
    assert bar["beats BM4D+rc on the mean"] == ("+0.40 dB", True)  # (+1.0 - 0.2) / 2
    assert bar["never more than 0.3 dB below BM4D+rc"] == ("worst -0.20 dB (b); 2 of 2 cells within", True)
    assert bar["whole Colin27 faster than DIPY nlmeans"] == ("5.0 s vs 9.0 s", True)
    worse = [dict(r, psnr=r["psnr"] - 1.0) if r["method"] == "neural_pde_3d" else r for r in rows]
    graded = {line: met for line, _, met in volume_bar(worse)}
    assert not graded["beats BM4D+rc on the mean"] and not graded["never more than 0.3 dB below BM4D+rc"]
    assert volume_bar([_row("a", "bm4d_rc", 30.0)]) == []  # nothing of ours: nothing to grade


def test_the_page_shows_every_cell_and_the_cells_outside_the_bar():
    rows = [_row("mni_asis_0.05", m, p) for m, p in (("neural_pde_3d", 39.0), ("bm4d_rc", 38.0))]
    other = [_row("mni_dim_0.05", "neural_pde_2d", 41.0), _row("mni_dim_0.05", "neural_pde_3d", 43.0),
             _row("mni_asis_0.005", "neural_pde_3d", 51.7, input_psnr=44.0)]
    page = render_volume_page(rows, [], [], None, "python scripts/benchmark_volumes.py", other=other)
    assert "| mni_asis_0.05 | 20.00 | 39.00 | 38.00 |" in page
    assert "## Dim contrast and nearly clean volumes" in page
    assert "| mni_dim_0.05 | 20.00 | 41.00 (39.00) | 43.00 (41.00) |" in page
    assert "| mni_asis_0.005 | 44.00 |  | 51.70 (49.70) |" in page


def test_the_page_names_the_machine_the_whole_volume_was_timed_on():
    rows = [_row("mni_asis_0.05", "neural_pde_3d", 39.0)]
    timing = [{"method": m, "seconds": 5.0, "peak_rss_mb": 900.0, "psnr_whole": 30.0, "machine": "Fake CPU, 1 thread(s)"} for m in ("neural_pde_3d", "dipy_nlmeans")]
    page = render_volume_page(rows, [], timing, None, "python scripts/benchmark_volumes.py")
    assert page.count("Timed on Fake CPU, 1 thread(s).") == 1
    for row in timing:
        del row["machine"]  # rows written before they named their machine
    assert "Timed on" not in render_volume_page(rows, [], timing, None, "python scripts/benchmark_volumes.py")


def test_the_timing_module_runs_alone():
    """``python -m monai_nad.experiments.volume_timing`` (one timed method per process) runs without runpy's warning
    that the package had imported it already, and the package imports neither it nor torch or MLflow: a timed process
    holds only its own method's modules."""
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "monai_nad.experiments.volume_timing", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "usage:" in done.stdout and "Warning" not in done.stderr, done.stderr
    probe = "import sys, monai_nad.experiments; print(sorted(m for m in ('monai_nad.experiments.volume_timing', 'torch', 'mlflow') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.slow
def test_benchmark_command_quick(tmp_path):
    """`python scripts/benchmark_volumes.py --quick`: both models on 2 slices of every cell, the page and its record."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark_volumes.py"), "--quick", "--out", str(tmp_path),
                           "--store", str(tmp_path / "mlflow.db")], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "volumes.json").read_text())
    assert {r["method"] for r in data["rows"]} >= {"neural_pde_2d", "neural_pde_3d", "dipy_nlmeans"}
    assert len({r["cell"] for r in data["rows"]}) == 12 and len({r["cell"] for r in data["other"]}) == 8
    page = (tmp_path / "volumes.md").read_text()
    assert "## The bar" in page and "## Dim contrast and nearly clean volumes" in page
