"""Recognising a diffusion series by its .bval/.bvec files (monai_nad.inference.gradients): FSL and BIDS naming,
files named by the user, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monai_nad.inference.gradients import diffusion_gradients, find_gradient_files, read_bvals, read_bvecs

BVALS = [0, 5, 1000, 1005, 2000]


def _write(folder: Path, stem: str, rows: bool = True, count: int = 5) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    bvals = np.array(BVALS[:count], dtype=float)
    bvecs = np.tile(np.eye(3)[:, :1], (1, count))
    bval, bvec = folder / f"{stem}.bval" if stem else folder / "bvals", folder / f"{stem}.bvec" if stem else folder / "bvecs"
    np.savetxt(bval, bvals[None] if rows else bvals[:, None], fmt="%g")
    np.savetxt(bvec, bvecs if rows else bvecs.T, fmt="%g")
    return bval, bvec


def test_beside_the_image_fsl_and_dcm2niix_naming(tmp_path):
    image = tmp_path / "dwi.nii.gz"
    assert diffusion_gradients(image, 5) is None
    _write(tmp_path, "dwi")
    table = diffusion_gradients(image, 5)
    assert table.found == "beside" and table.bvals.tolist() == BVALS and table.bvecs.shape == (5, 3)
    assert table.shells == {0: 2, 1000: 2, 2000: 1}
    assert table.summary() == "diffusion series: 5 volumes, 2 at b=0, 2 at b=1000, 1 at b=2000 (dwi.bval, dwi.bvec)"
    assert json.loads(json.dumps(table.as_dict()))["shells"] == {"0": 2, "1000": 2, "2000": 1}


def test_fsl_folder_layout_and_columns(tmp_path):
    _write(tmp_path, "", rows=False)
    found = find_gradient_files(tmp_path / "data.nii")
    assert found is not None and found[2] == "fsl" and found[0].name == "bvals"
    assert read_bvecs(found[1]).shape == (5, 3) and read_bvals(found[0]).shape == (5,)


def test_bids_sidecars_and_inheritance(tmp_path):
    (tmp_path / "dataset_description.json").write_text("{}")
    dwi = tmp_path / "sub-01" / "dwi"
    image = dwi / "sub-01_acq-a_dwi.nii.gz"
    assert diffusion_gradients(image) is None
    _write(tmp_path, "dwi")  # at the root: applies to every dwi of the dataset
    table = diffusion_gradients(image)
    assert table.found == "bids" and table.bval_path == tmp_path / "dwi.bval"
    _write(tmp_path, "acq-a_dwi", count=3)  # more specific, still at the root
    assert diffusion_gradients(image).bval_path.name == "acq-a_dwi.bval"
    _write(tmp_path, "acq-b_dwi")  # another acquisition's: not this image's
    assert diffusion_gradients(image).bval_path.name == "acq-a_dwi.bval"
    _write(dwi, "sub-01_acq-a_dwi")  # the image's own sidecars win
    assert diffusion_gradients(image, 5).found == "beside"
    assert diffusion_gradients(dwi / "sub-01_T1w.nii.gz") is None  # not a dwi


def test_given_files_and_errors(tmp_path):
    bval, bvec = _write(tmp_path / "elsewhere", "grads")
    image = tmp_path / "series.nii.gz"
    assert diffusion_gradients(image, 5, bval, bvec).found == "given"
    with pytest.raises(ValueError, match="go together"):
        diffusion_gradients(image, 5, bval, None)
    with pytest.raises(ValueError, match="has 6 volumes but grads.bval 5"):
        diffusion_gradients(image, 6, bval, bvec)
    with pytest.raises(ValueError, match="no such file"):
        diffusion_gradients(image, 5, tmp_path / "missing.bval", bvec)
    bad = tmp_path / "bad.bvec"
    bad.write_text("1 0\n0 1\n")
    with pytest.raises(ValueError, match="three rows"):
        read_bvecs(bad)
    short = tmp_path / "short.bvec"
    np.savetxt(short, np.ones((3, 4)))
    with pytest.raises(ValueError, match="5 b-values but short.bvec 4"):
        diffusion_gradients(image, None, bval, short)


def _series(folder: Path, volumes: int = 3) -> Path:
    import nibabel as nib

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    data = rng.uniform(0, 1, (12, 10, 6, volumes)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(folder / "dwi.nii.gz"))
    return folder / "dwi.nii.gz"


def test_prepare_inputs_recognises_a_series_and_refuses_wrong_files(tmp_path, caplog):
    import logging

    from monai_nad.inference.inputs import prepare_inputs

    image = _series(tmp_path / "in")
    _write(tmp_path / "in", "dwi", count=3)
    with caplog.at_level(logging.INFO, logger="monai_nad.inference.inputs"):
        report = prepare_inputs([tmp_path / "in"], tmp_path / "out")
    assert not report.failures and len(report.items) == 1  # the .bval/.bvec files are not taken for scans
    assert report.details[report.items[0]["name"]]["diffusion"]["shells"] == {"0": 2, "1000": 1}
    assert "diffusion series: 3 volumes, 2 at b=0, 1 at b=1000 (dwi.bval, dwi.bvec)" in caplog.text
    bval, bvec = _write(tmp_path / "grads", "five")
    with pytest.raises(ValueError, match="has 3 volumes but five.bval 5"):
        prepare_inputs([image], tmp_path / "out2", bvals=bval, bvecs=bvec)


def test_the_report_of_a_denoising_run_carries_the_gradient_table(tiny_bundle, tmp_path):
    from monai_nad.cli import main

    _series(tmp_path / "in")
    _write(tmp_path / "in", "dwi", count=3)
    report = tmp_path / "report.json"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["status"] == "written" and row["diffusion"]["volumes"] == 3 and row["diffusion"]["found"] == "beside"
    assert "seconds" in row  # the run's own details are kept beside it


def test_the_command_line_takes_gradient_files_from_elsewhere(tiny_bundle, tmp_path, capsys):
    from monai_nad.cli import main

    _series(tmp_path / "in")  # no .bval/.bvec beside it
    bval, bvec = _write(tmp_path / "grads", "table", count=3)
    report = tmp_path / "report.json"
    args = ["denoise", str(tmp_path / "in"), "--bundle", str(tiny_bundle)]
    assert main([*args, "-o", str(tmp_path / "out"), "--report", str(report), "--bvals", str(bval), "--bvecs", str(bvec)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["diffusion"]["found"] == "given" and row["diffusion"]["bvals"] == str(bval)
    capsys.readouterr()
    five, five_vec = _write(tmp_path / "grads", "five")  # 5 b-values for a 3-volume series
    assert main([*args, "-o", str(tmp_path / "out2"), "--bvals", str(five), "--bvecs", str(five_vec)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("monai-nad: error:") and "five.bval" in line and "3 volumes" in line
    assert main([*args, "-o", str(tmp_path / "out3"), "--bvals", str(tmp_path / "nothing.bval"), "--bvecs", str(bvec)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"monai-nad: error: --bvals {tmp_path / 'nothing.bval'}: no such file."
    assert main([*args, "-o", str(tmp_path / "out4"), "--bvals", str(bval)]) == 2
    assert "go together" in capsys.readouterr().err
