"""The noise-level sensitivity page: its methods, its table and its command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_nad.experiments.noise_sensitivity import render_sensitivity_page, sensitivity_methods

ROOT = Path(__file__).resolve().parents[1]


class _Told(torch.nn.Module):
    """Returns the noise level it was told (or -1 when blind), so the test sees what each method passes on."""

    def forward(self, x, noise_std=None):
        return torch.full_like(x, -1.0 if noise_std is None else float(torch.as_tensor(noise_std).flatten()[0]))


def test_each_method_tells_the_model_its_multiple_of_the_true_level():
    methods = sensitivity_methods(_Told(), _Told(), factors=(0.8, 1.25))
    assert list(methods) == ["2d_blind", "2d_x0.8", "2d_x1.25", "3d_blind", "3d_x0.8", "3d_x1.25"]
    noisy = np.zeros((3, 8, 9), dtype=np.float32)
    told = {name: float(run(noisy, 0.1)[0].flat[0]) for name, run in methods.items()}
    assert told == pytest.approx({"2d_blind": -1, "2d_x0.8": 0.08, "2d_x1.25": 0.125, "3d_blind": -1, "3d_x0.8": 0.08, "3d_x1.25": 0.125})
    assert methods["3d_x0.8"](noisy, 0.1)[0].shape == noisy.shape


def test_the_page_measures_against_the_true_level():
    rows = [{"cell": c, "method": m, "psnr": p} for c, m, p in (
        ("a", "2d_x1", 30.0), ("b", "2d_x1", 32.0), ("a", "2d_x0.9", 29.0), ("b", "2d_x0.9", 29.0),
        ("a", "2d_x1.1", 29.5), ("b", "2d_x1.1", 32.0), ("a", "2d_blind", 30.1), ("b", "2d_blind", 32.0))]
    page = render_sensitivity_page(rows, "python scripts/noise_level_sensitivity.py")
    assert "| 2D | 0.9 x true s | 29.00 | -2.00 | -3.00 (b) |" in page
    assert "| 2D | blind estimate | 31.05 | +0.05 | +0.00 (b) |" in page
    assert "0.9 x: -2.00 dB on average, -3.00 dB in the worst cell; 1.1 x: -0.25 dB on average, -0.50 dB in the worst cell" in page


@pytest.mark.slow
def test_command_quick(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "noise_level_sensitivity.py"), "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "noise_level_sensitivity.md").read_text()
    assert "| 3D | 1.1 x true s |" in page and (tmp_path / "noise_level_sensitivity.json").is_file()
