"""Fixtures shared by several test modules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising"


@pytest.fixture()
def tiny_bundle(tmp_path):
    """A copy of the shipped bundle with a 2-step network of random weights."""
    from monai_nad.networks import NeuralPDE

    root = tmp_path / "bundle"
    shutil.copytree(BUNDLE / "configs", root / "configs")
    config = json.loads((root / "configs" / "inference.json").read_text())
    config["network_def"]["steps"] = 2
    (root / "configs" / "inference.json").write_text(json.dumps(config))
    (root / "models").mkdir()
    torch.manual_seed(0)
    net_args = {k: v for k, v in config["network_def"].items() if k != "_target_"}
    torch.save(NeuralPDE(**net_args).state_dict(), root / "models" / "model.pt")
    return root
