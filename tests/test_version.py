"""One version number: the package's, shown by ``monai-nad --version``, matched by the shipped bundle, written into results."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_nad import __version__
from monai_nad.bundle import default_bundle
from monai_nad.cli import main
from monai_nad.data.scans import load_image, save_like

ROOT = Path(__file__).resolve().parents[1]


def test_the_bundle_and_the_package_have_one_version():
    metadata = json.loads((default_bundle() / "configs" / "metadata.json").read_text())
    assert metadata["version"] == __version__
    assert metadata["required_packages_version"]["monai_nad"] == __version__
    assert __version__ in metadata["changelog"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "monai_nad.__version__"}


def test_monai_nad_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"monai-nad {__version__}"


def test_a_nifti_result_names_the_version(tmp_path):
    source = nib.Nifti1Image(np.random.default_rng(0).random((6, 6, 3), dtype=np.float32), np.eye(4))
    source.header["descrip"] = b"T1 MPRAGE"
    nib.save(source, tmp_path / "scan.nii.gz")
    loaded = load_image(tmp_path / "scan.nii.gz")
    written = save_like(loaded.array, loaded, tmp_path / "out" / "scan_denoised.nii.gz")
    assert nib.load(written).header["descrip"].item().decode() == f"T1 MPRAGE denoised (monai_nad {__version__})"
