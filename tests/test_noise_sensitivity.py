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
    """Returns the noise level it was told everywhere, so the test sees what each method passes on (the interface of
    the noise-conditioned networks: ``forward(x, noise_std, coils)``)."""

    spatial_dims = 2

    def forward(self, x, noise_std=None, coils=1):
        return torch.full_like(x, float(torch.as_tensor(noise_std).flatten()[0]))


class _ToldVolume(_Told):
    spatial_dims = 3
    min_spatial_size = 3


def test_each_method_tells_the_model_its_multiple_of_the_true_level():
    """Each method runs the command line's path: the blind estimate of the volume, or the given multiple of the level."""
    from monai_nad.transforms.noise import VOLUME_ESTIMATE_VOXELS, estimate_noise_std

    methods = sensitivity_methods(_Told(), _ToldVolume(), factors=(0.8, 1.25))
    assert list(methods) == ["2d_blind", "2d_x0.8", "2d_x1.25", "3d_blind", "3d_x0.8", "3d_x1.25"]
    rng = np.random.default_rng(0)
    clean = np.zeros((6, 24, 20), dtype=np.float32)
    clean[:, 6:18, 5:15] = 0.6
    noisy = np.hypot(clean + 0.1 * rng.standard_normal(clean.shape), 0.1 * rng.standard_normal(clean.shape)).astype(np.float32)
    told = {name: float(run(noisy, 0.1)[0].flat[0]) for name, run in methods.items()}
    blind = float(estimate_noise_std(torch.from_numpy(np.moveaxis(noisy, 0, -1))[None, None], max_voxels=VOLUME_ESTIMATE_VOXELS)[0, 0])
    assert told == pytest.approx({"2d_blind": blind, "2d_x0.8": 0.08, "2d_x1.25": 0.125, "3d_blind": blind, "3d_x0.8": 0.08, "3d_x1.25": 0.125}, rel=1e-5)
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
