"""Optional extras: without one, asking for what it brings ends in one line naming the extra; the core never needs them.

The optional packages are made unimportable in this process by ``sys.modules[name] = None`` (their submodules too);
the import test and the small denoising run use a fresh interpreter, so nothing imported here hides a missing extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from monai.utils import OptionalImportError

from monai_nad._optional import EXTRAS, missing_extra_message, require
from monai_nad.baselines import bm3d_denoise, classical_denoise
from monai_nad.cli import main

ROOT = Path(__file__).resolve().parents[1]

#: every optional package of the extras (top-level import names); none may be needed to denoise
OPTIONAL = ("bm3d", "bm4d", "dipy", "SimpleITK", "nilearn", "matplotlib", "einops", "bids", "ray")


def _without(monkeypatch, *tops: str) -> None:
    """Make the packages ``tops`` unimportable (already imported submodules included) for this test."""
    for top in tops:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")] + [top]:
            monkeypatch.setitem(sys.modules, name, None)


def test_every_optional_package_has_its_extra():
    assert set(OPTIONAL) == set(EXTRAS)
    assert {EXTRAS[m] for m in ("bm3d", "bm4d", "dipy", "SimpleITK")} == {"baselines"}
    assert {EXTRAS[m] for m in ("nilearn", "matplotlib", "einops")} == {"experiments"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    core = pyproject[pyproject.index("dependencies = [") : pyproject.index("[project.optional-dependencies]")]
    for top in OPTIONAL:  # not a core dependency
        assert f'"{top}' not in core, top


def test_bm3d_missing_names_the_baselines_extra(monkeypatch):
    _without(monkeypatch, "bm3d")
    expected = 'bm3d is not installed (needed for the BM3D baseline): pip install "monai_nad[baselines]"'
    with pytest.raises(OptionalImportError) as info:
        bm3d_denoise(np.ones((8, 8), np.float32), 0.1)
    assert str(info.value) == expected
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback
    with pytest.raises(OptionalImportError, match=r'^bm3d is not installed .*pip install "monai_nad\[baselines\]"$'):
        classical_denoise("bm3d", np.ones((8, 8), np.float32), 0.1, sigma_factor=1.0)


@pytest.mark.parametrize(
    "name,image,params,missing",
    [
        ("bm4d", np.ones((6, 6, 6)), {"sigma_factor": 1.0}, "bm4d"),
        ("dipy_nlm", np.ones((8, 8)), {"sigma_factor": 1.0}, "dipy"),
        ("curvature_flow", np.ones((8, 8)), {"iterations": 2}, "SimpleITK"),
        ("curvature_anisotropic", np.ones((8, 8)), {"conductance": 1.0, "iterations": 2}, "SimpleITK"),
    ],
)
def test_other_baselines_name_the_extra_in_one_line(monkeypatch, name, image, params, missing):
    _without(monkeypatch, missing)
    with pytest.raises(OptionalImportError) as info:
        classical_denoise(name, image.astype(np.float32), 0.1, **params)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{missing} is not installed") and message.endswith('pip install "monai_nad[baselines]"')


def test_core_baselines_need_no_extra(monkeypatch):
    _without(monkeypatch, *OPTIONAL)
    out = classical_denoise("gaussian", np.random.default_rng(0).random((8, 8)).astype(np.float32), 0.1, sigma=1.0)
    assert out.shape == (8, 8)


def test_require_passes_other_import_errors_through():
    with pytest.raises(ModuleNotFoundError):  # not an optional package: the plain error
        require("no_such_module_of_monai_nad")
    assert require("json") is json
    assert missing_extra_message("dipy.denoise.nlmeans") == 'dipy is not installed: pip install "monai_nad[baselines]"'


def test_cli_compare_without_matplotlib_is_one_line(monkeypatch, tmp_path, capsys):
    shutil.copy(ROOT / "docs" / "results" / "real_anatomy.json", tmp_path / "real_anatomy.json")
    _without(monkeypatch, "matplotlib")
    status = main(["compare", "--suite", "real_anatomy", "-o", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.strip().splitlines() == [
        'monai-nad: error: matplotlib is not installed (needed for the quality-time figure): pip install "monai_nad[experiments]"'
    ]
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "real_anatomy.md").exists()


def test_cli_demo_without_nilearn_is_one_line(monkeypatch, tmp_path, capsys):
    _without(monkeypatch, "nilearn")
    status = main(["demo", "-o", str(tmp_path / "demo")])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("monai-nad: error: nilearn is not installed")
    assert lines[0].endswith('pip install "monai_nad[experiments]"')


def test_core_denoises_with_no_optional_package(tmp_path):
    """A fresh interpreter where none of the optional packages can be imported: the core modules import, and
    ``monai-nad denoise`` denoises a small volume (through the volume model) and a 4D series with the shipped bundle."""
    import nibabel as nib

    x, y = np.meshgrid(np.linspace(-1, 1, 24), np.linspace(-1, 1, 24), indexing="ij")
    phantom = np.where(x**2 + y**2 < 0.5, 300.0, 40.0)[..., None, None] + np.random.default_rng(0).normal(0, 10, (24, 24, 6, 2))
    nib.save(nib.Nifti1Image(np.abs(phantom[..., 0]).astype(np.float32), np.eye(4)), str(tmp_path / "scan.nii.gz"))
    nib.save(nib.Nifti1Image(np.abs(phantom).astype(np.float32), np.eye(4)), str(tmp_path / "series.nii.gz"))
    script = textwrap.dedent(
        f"""
        import sys
        for name in {OPTIONAL!r}:
            sys.modules[name] = None
        import monai_nad.cli, monai_nad.inference, monai_nad.networks, monai_nad.transforms, monai_nad.data
        import monai_nad.engines, monai_nad.experiments, monai_nad.baselines, monai_nad.metrics, monai_nad.losses
        status = monai_nad.cli.main(["denoise", sys.argv[1], sys.argv[2], "-o", sys.argv[3], "--device", "cpu"])
        loaded = sorted(n for n, m in sys.modules.items() if m is not None and n.split(".")[0] in {OPTIONAL!r})
        print("LOADED", loaded)
        sys.exit(status)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "scan.nii.gz"), str(tmp_path / "series.nii.gz"), str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "LOADED []" in run.stdout
    assert nib.load(str(tmp_path / "out" / "scan_denoised.nii.gz")).shape == (24, 24, 6)
    assert nib.load(str(tmp_path / "out" / "series_denoised.nii.gz")).shape == (24, 24, 6, 2)
