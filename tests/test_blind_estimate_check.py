"""The page of scripts/check_blind_estimates.py: each cell's gap to the stored BM3D+rc row, the means, and a quick
check marked as such; the script's quick run (slow tier)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monai_nad.experiments.blind_estimate_check import ESTIMATE_METHODS, render_estimate_page

ROOT = Path(__file__).resolve().parents[1]


def _rows(cell: str, base: float) -> list[dict]:
    return [{"cell": cell, "method": m, "psnr": base + i * 0.1} for i, m in enumerate(ESTIMATE_METHODS)]


def test_the_page_gives_each_cell_its_gap_to_bm3d_and_the_means():
    rows = _rows("mni_asis_0.05", 38.0) + _rows("colin27_dim_0.10", 33.0) + _rows("mni_asis_0.005", 51.0)
    anchor = [{"cell": "mni_asis_0.05", "method": "bm3d_rc", "psnr": 37.5}, {"cell": "colin27_dim_0.10", "method": "bm3d_rc", "psnr": 33.5},
              {"cell": "mni_asis_0.05", "method": "ours_blind", "psnr": 99.0}]
    page = render_estimate_page(rows, anchor, "python scripts/check_blind_estimates.py", "python scripts/benchmark_real_anatomy.py")
    assert "| mni_asis_0.05 | 38.00 | 38.10 | 38.20 | 38.30 | 38.40 | 38.50 | 37.50 | +0.50 | -0.10 |" in page
    assert "| colin27_dim_0.10 | 33.00 | 33.10 | 33.20 | 33.30 | 33.40 | 33.50 | 33.50 | -0.50 | -0.10 |" in page
    assert "| mni_asis_0.005 | 51.00 | 51.10 | 51.20 | 51.30 | 51.40 | 51.50 | – | – | -0.10 |" in page  # near-clean: no anchor, not graded
    assert "- `cli_2d_map`: 35.50 dB, +0.00 dB against BM3D+rc, 1 cell(s) below it" in page
    assert "quick check" not in page
    assert "quick check on the first 2 slice(s)" in render_estimate_page(rows, anchor, "c", "a", limit=2)


@pytest.mark.slow
def test_the_quick_run_writes_the_page(tmp_path):
    out = tmp_path / "page.md"
    subprocess.run([sys.executable, "scripts/check_blind_estimates.py", "--limit", "1", "--out", str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=900)
    page = out.read_text()
    assert page.count("| mni_") == 10 and page.count("| colin27_") == 10 and "quick check on the first 1 slice(s)" in page
