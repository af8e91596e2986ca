"""The benchmark script runs end to end (slow: run with ``-m slow``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_quick_mode(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark_mni.py"), "--quick", "--out", str(tmp_path)], check=True, timeout=1200)
    results = json.loads((tmp_path / "benchmark.json").read_text())
    assert set(results["levels"]) == {"0.05", "0.1", "0.15"} and set(results["shifted"]) == {"dim", "inverted"}
    assert (tmp_path / "benchmark.md").read_text().count("| 0.") >= 3
    # the shifted sets are also reported at s = 0.15, but the quality bar on them covers only s = 0.05 and 0.10
    assert all(set(rows) == {"0.05", "0.1", "0.15"} for rows in results["shifted"].values())
    shifted_bar = [name for name in results["quality_bar"] if name.startswith(("dim", "inverted"))]
    assert len(shifted_bar) == 4 and not any("0.15" in name for name in shifted_bar)
    assert "| inverted | 0.15* |" in (tmp_path / "benchmark.md").read_text()
