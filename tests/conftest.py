"""Fixtures shared by several test modules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from monai_nad.bundle import default_bundle

BUNDLE = default_bundle()

#: a network small enough for fast end-to-end tests, of the class the shipped ``common.json`` names
TINY_NETWORK = {"steps": 2, "groups": 1, "features": 8, "encoder_layers": 2, "refine_layers": 2, "detail_features": 4}


@pytest.fixture()
def tiny_bundle(tmp_path):
    """A copy of the shipped bundle whose ``common.json`` network is tiny, with random weights."""
    from monai.bundle import ConfigParser

    root = tmp_path / "bundle"
    shutil.copytree(BUNDLE / "configs", root / "configs")
    config = json.loads((root / "configs" / "common.json").read_text())
    config["network_def"].update(TINY_NETWORK)
    (root / "configs" / "common.json").write_text(json.dumps(config))
    (root / "models").mkdir()
    torch.manual_seed(0)
    net = ConfigParser(config).get_parsed_content("network_def")
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root
