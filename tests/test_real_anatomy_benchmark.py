"""The real-anatomy benchmark: its bar summary, its Markdown table, and the command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monai_nad.experiments.real_anatomy import render_markdown, summarise_bar

ROOT = Path(__file__).resolve().parents[1]


def _row(cell, method, psnr, ssim=0.9, ms=10.0, input_psnr=20.0):
    return {"cell": cell, "method": method, "psnr": psnr, "ssim": ssim, "fg_psnr": psnr - 3, "ms": ms, "input_psnr": input_psnr}


def test_summary_grades_every_line_of_the_bar():
    rows = [
        _row("mni_asis_0.05", "ours_blind", 38.0, 0.98, 40), _row("mni_asis_0.05", "ours_true_sigma", 38.1, 0.98, 40),
        _row("mni_asis_0.05", "bm3d_rc", 37.5, 0.97, 1300),
        _row("colin27_inverted_0.15", "ours_blind", 27.0, 0.85, 42), _row("colin27_inverted_0.15", "ours_true_sigma", 27.3),
        _row("colin27_inverted_0.15", "bm3d_rc", 27.6, 0.86, 1200),
        _row("mni_asis_0.005", "ours_blind", 44.0, input_psnr=44.05),
    ]
    summary = summarise_bar(rows)
    assert summary["cells_graded"] == 2 and summary["cells_blind_at_least_bm3d_rc"] == 1
    assert summary["mean_blind_minus_bm3d_rc"] == pytest.approx((0.5 - 0.6) / 2)
    assert summary["worst_abs_blind_minus_true_sigma"] == pytest.approx(0.3)
    assert summary["near_clean_output_minus_input"]["mni_asis_0.005"] == pytest.approx(-0.05)
    table = render_markdown(rows, summary, "cmd")
    assert "| blind ≥ BM3D+rc in every cell | 1 of 2 cells (worst -0.60 dB) | no |" in table
    assert "| near-clean: output ≥ input − 0.1 dB | mni_asis_0.005 -0.05 dB | yes |" in table
    assert "worst 0.300 dB | no |" in table


@pytest.mark.slow
def test_benchmark_command_quick(tmp_path):
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark_real_anatomy.py"), "--quick", "--no-v02", "--out", str(out)],
                   check=True, timeout=900, capture_output=True)
    data = json.loads(out.read_text())
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"ours_blind", "ours_true_sigma", "bm3d_rc"}
    assert all(10 < r["psnr"] < 70 for r in data["rows"])
    assert out.with_suffix(".md").read_text().count("| mni_") >= 1
