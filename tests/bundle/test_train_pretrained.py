"""The two-stage training script of the v0.2 model (a reproduction), on a tiny budget (nothing is installed)."""

from __future__ import annotations

import pytest

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import torch

from monai_nad.engines import read_state_dict

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_pretrained.py"
#: the weights the two stages would install: the diffusion-only first stage and the v0.2 model
MODELS = [ROOT / "bundles" / "reproductions" / name / "models" for name in ("diffusion_only", "neural_pde_v0.2")]
TINY = [
    "--val-interval", "1", "--patches_per_slice", "1", "--network_def#steps", "2",
    "--train#datalist", "$monai_nad.data.mni_slices('train')[:4]", "--val_noise_stds", "[0.1]",
]


def _digests() -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for folder in MODELS for p in sorted(folder.glob("*.pt"))}


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_diffusion_then_refinement_stage(tmp_path):
    shipped = _digests()
    result = _run("--no-install", "--output-dir", str(tmp_path), "--diffusion-epochs", "1", "--refinement-epochs", "1", *TINY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    diffusion = read_state_dict(tmp_path / "diffusion" / "checkpoints" / "best_model.pt")
    refined = read_state_dict(tmp_path / "refinement" / "checkpoints" / "best_model.pt")
    assert not any(k.startswith("refine_net") for k in diffusion)
    assert any(k.startswith("refine_net") for k in refined)
    # stage 2 started from stage 1 (warm start) and then trained every part
    assert set(diffusion) < set(refined)
    assert any(not torch.equal(diffusion[k], refined[k]) for k in diffusion)
    assert "init_ckpt_path" in result.stdout + result.stderr
    assert (tmp_path / "refinement" / "training_info.json").is_file()
    assert _digests() == shipped  # --no-install: the shipped weights are untouched


def test_refinement_without_diffusion_stage_names_the_missing_checkpoint(tmp_path):
    result = _run("--no-install", "--output-dir", str(tmp_path), "--stages", "refinement", *TINY)
    assert result.returncode == 1
    assert "run the diffusion stage first" in result.stderr and str(tmp_path / "diffusion") in result.stderr


def test_unknown_stage_is_refused(tmp_path):
    result = _run("--no-install", "--output-dir", str(tmp_path), "--stages", "diffusion,refine")
    assert result.returncode == 2 and "unknown stage" in result.stderr
