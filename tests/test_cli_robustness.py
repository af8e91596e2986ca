"""`monai-nad denoise` on a folder of mixed good and bad inputs: every failure named in one line, the rest written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from monai_nad.cli import main
from monai_nad.data import RESULTS_MARKER


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _mixed_inputs(folder: Path) -> tuple[list[str], list[str]]:
    folder.mkdir()
    rng = np.random.default_rng(0)
    good = []
    nib.save(nib.Nifti1Image(rng.uniform(0, 900, (24, 20, 4)).astype(np.float32), np.eye(4)), str(folder / "vol.nii.gz"))
    Image.fromarray(rng.uniform(0, 255, (30, 26)).astype(np.uint8)).save(folder / "slice.png")
    good += ["vol_denoised.nii.gz", "slice_denoised.png"]
    bad = {
        "tiny.png": lambda p: Image.fromarray(np.array([[0, 255], [128, 7]], np.uint8)).save(p),
        "tiny.nii.gz": lambda p: nib.save(nib.Nifti1Image(rng.uniform(0, 1, (2, 2, 2)).astype(np.float32), np.eye(4)), str(p)),
        "corrupt.nii.gz": lambda p: p.write_bytes(b"not an image" * 10),
        "empty.png": lambda p: p.write_bytes(b""),
        "nan.nii.gz": lambda p: nib.save(nib.Nifti1Image(np.full((8, 8, 3), np.nan, np.float32), np.eye(4)), str(p)),
        "constant.nii.gz": lambda p: nib.save(nib.Nifti1Image(np.ones((8, 8, 3), np.float32), np.eye(4)), str(p)),
        "series5d.nii.gz": lambda p: nib.save(nib.Nifti1Image(np.ones((6, 6, 6, 2, 2), np.float32), np.eye(4)), str(p)),
    }
    for name, make in bad.items():
        make(folder / name)
    return good, list(bad)


def test_mixed_folder_reports_each_bad_file_and_writes_the_good_ones(tiny_bundle, tmp_path, capsys):
    inputs = tmp_path / "in"
    good, bad = _mixed_inputs(inputs)
    before = _digest(inputs)
    status = main(["denoise", str(inputs), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)])
    captured = capsys.readouterr()
    assert status == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != RESULTS_MARKER) == sorted(good)
    skipped = [line for line in captured.out.splitlines() if line.startswith("  ") and ": " in line and "wrote" not in line]
    for name in bad:
        assert sum(name in line for line in skipped) == 1, (name, captured.out)
    assert "Traceback" not in captured.out + captured.err
    assert _digest(inputs) == before  # inputs untouched


def test_a_failure_inside_the_network_skips_only_that_file(tiny_bundle, tmp_path, capsys, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.nii.gz", "b.nii.gz", "c.nii.gz"):
        nib.save(nib.Nifti1Image(np.random.default_rng(1).uniform(0, 9, (16, 12, 3)).astype(np.float32), np.eye(4)), str(inputs / name))
    import monai_nad.inference.inferer as inferer

    original = inferer.SliceWiseInferer.__call__
    calls = {"n": 0}

    def flaky(self, inputs, network, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected failure")
        return original(self, inputs, network, *args, **kwargs)

    monkeypatch.setattr(inferer.SliceWiseInferer, "__call__", flaky)
    status = main(["denoise", str(inputs), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)])
    out = capsys.readouterr().out
    assert status == 1
    assert len([p for p in (tmp_path / "out").iterdir() if p.name != RESULTS_MARKER]) == 2
    assert "b.nii.gz: RuntimeError: injected failure" in out


def test_unwritable_output_folder_fails_in_one_line_before_any_work(tiny_bundle, tmp_path, capsys):
    inputs = tmp_path / "in"
    _mixed_inputs(inputs)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    status = main(["denoise", str(inputs), "-o", str(blocked / "out"), "--bundle", str(tiny_bundle)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "cannot write to the output folder" in err and str(blocked / "out") in err


def test_output_folder_of_an_input_file_is_refused(tiny_bundle, tmp_path, capsys):
    inputs = tmp_path / "in"
    _mixed_inputs(inputs)
    status = main(["denoise", str(inputs / "vol.nii.gz"), "-o", str(inputs), "--bundle", str(tiny_bundle)])
    assert status == 2 and "holds the input" in capsys.readouterr().err
    assert not (inputs / "vol_denoised.nii.gz").exists()


def test_results_inside_an_input_folder_are_never_denoised_again(tiny_bundle, tmp_path, capsys):
    inputs = tmp_path / "in"
    _mixed_inputs(inputs)
    for _ in range(2):
        main(["denoise", str(inputs), "-o", str(inputs / "out"), "--bundle", str(tiny_bundle), "--overwrite"])
    capsys.readouterr()
    assert sorted(p.name for p in (inputs / "out").iterdir() if p.name != RESULTS_MARKER) == ["slice_denoised.png", "vol_denoised.nii.gz"]
