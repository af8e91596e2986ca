"""The diffusivity-family scripts run end to end on the quick budget (slow: run with ``-m slow``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_family_quick_training_and_results(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    train = [sys.executable, str(ROOT / "scripts" / "train_diffusivity_family.py"), "--quick", "--output-dir", str(runs)]
    subprocess.run(train + ["--noises", "gaussian25", "rician"], check=True, timeout=1800)
    assert len(list(runs.glob("*/done.json"))) == 16
    results = [sys.executable, str(ROOT / "scripts" / "diffusivity_family_results.py"), "--runs", str(runs), "--out", str(out),
               "--limit", "2", "--no-bm3d"]
    log = subprocess.run(results, check=True, timeout=1800, capture_output=True, text=True).stdout
    assert "test metrics logged to 16 MLflow runs" in log
    data = json.loads((out / "diffusivity_family.json").read_text())
    for variant in ("pm_exponential", "pm_rational", "ka", "foe_s", "foe_d", "foe_m", "foe_rb", "unet"):
        assert {"G25", "R0.05", "R0.10", "R0.15"} <= set(data["methods"][variant])
        assert data["size"][variant]["parameters"] > 0
    for figure in ("diffusivity_functions.png", "diffusivity_maps.png"):
        assert (out / figure).stat().st_size > 10_000
    # a second start skips the finished runs instead of retraining them
    again = subprocess.run(train + ["--noises", "gaussian25"], check=True, timeout=600, capture_output=True, text=True).stdout
    assert again.count("already trained") == 8
