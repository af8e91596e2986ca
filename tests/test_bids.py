"""``monai-nad bids``: a BIDS dataset in, a BIDS derivative dataset out, valid for the BIDS validator.

The dataset is synthetic and tiny (two participants, one with a session; a T1w volume each, one 4D dwi series with
its .bval/.bvec); the network is the tiny one of ``tests/conftest.py``. The validator is ``bids-validator-deno`` (the
``dev`` extra), run offline on the source dataset and on the derivative.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("bids", reason="pybids (the bids extra) is not installed")

from monai_nad.bids import derivative_name  # noqa: E402
from monai_nad.cli import main  # noqa: E402
from monai_nad.inference import prepare_inputs  # noqa: E402

#: the scans of the synthetic dataset and their shapes
SCANS = {
    "sub-01/anat/sub-01_T1w.nii.gz": (24, 20, 6),
    "sub-01/dwi/sub-01_dwi.nii.gz": (16, 16, 6, 3),
    "sub-02/ses-1/anat/sub-02_ses-1_acq-mprage_run-1_T1w.nii.gz": (24, 20, 6),
}
#: their derivatives
RESULTS = {
    "sub-01/anat/sub-01_T1w.nii.gz": "sub-01/anat/sub-01_desc-denoised_T1w.nii.gz",
    "sub-01/dwi/sub-01_dwi.nii.gz": "sub-01/dwi/sub-01_desc-denoised_dwi.nii.gz",
    "sub-02/ses-1/anat/sub-02_ses-1_acq-mprage_run-1_T1w.nii.gz": "sub-02/ses-1/anat/sub-02_ses-1_acq-mprage_run-1_desc-denoised_T1w.nii.gz",
}
BVAL, BVEC = "0 1000 1000\n", "0 1 0\n0 0 1\n0 0 0\n"


def _validator() -> str | None:
    beside = Path(sys.executable).with_name("bids-validator-deno")
    return str(beside) if beside.is_file() else shutil.which("bids-validator-deno")


def _validate(dataset: Path) -> list[dict]:
    """The validator's errors on ``dataset`` (it must exit 0 and say no error)."""
    validator = _validator()
    if validator is None:
        pytest.skip("bids-validator-deno (the dev extra) is not installed")
    run = subprocess.run([validator, str(dataset), "--format", "json"], capture_output=True, text=True, timeout=300)
    issues = json.loads(run.stdout)["issues"]["issues"]
    errors = [issue for issue in issues if issue["severity"] == "error"]
    assert run.returncode == 0 and not errors, (run.returncode, errors, run.stderr[-2000:])
    return issues


@pytest.fixture()
def raw(tmp_path) -> Path:
    """A tiny synthetic BIDS dataset."""
    root = tmp_path / "raw"
    root.mkdir()
    description = {"Name": "synthetic", "BIDSVersion": "1.9.0", "DatasetType": "raw", "Authors": ["monai_nad tests", "a second author"]}
    (root / "dataset_description.json").write_text(json.dumps(description))
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t30\nsub-02\t40\n")
    (root / "README").write_text("A tiny synthetic BIDS dataset written by the monai_nad tests: noise around a constant.\n")
    rng = np.random.default_rng(0)
    for relpath, shape in SCANS.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        zooms = (2.0, 2.0, 2.0, 3.0) if len(shape) == 4 else (1.0, 1.0, 1.0)
        image = nib.Nifti1Image((100 + 20 * rng.standard_normal(shape)).clip(0).astype(np.float32), np.diag([*zooms[:3], 1.0]))
        image.header.set_zooms(zooms)
        image.header.set_xyzt_units("mm", "sec")
        nib.save(image, path)
        sidecar = {"RepetitionTime": 3.0, "PhaseEncodingDirection": "j", "TotalReadoutTime": 0.05} if len(shape) == 4 else {"RepetitionTime": 2.3}
        path.with_name(path.name.replace(".nii.gz", ".json")).write_text(json.dumps(sidecar))
    (root / "sub-01/dwi/sub-01_dwi.bval").write_text(BVAL)
    (root / "sub-01/dwi/sub-01_dwi.bvec").write_text(BVEC)
    return root


def _results(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz")}


def test_the_synthetic_dataset_is_valid_bids(raw):
    _validate(raw)


def test_a_bids_dataset_gives_a_valid_derivative_dataset(raw, tmp_path, tiny_bundle, capsys):
    out = tmp_path / "derivatives" / "monai_nad"
    assert main(["bids", str(raw), str(out), "participant", "--bundle", str(tiny_bundle)]) == 0
    printed = capsys.readouterr().out
    assert "denoised 3 image(s)" in printed and "BIDS derivative dataset" in printed
    assert _results(out) == set(RESULTS.values())
    for source, result in RESULTS.items():
        image = nib.load(out / result)
        assert image.shape == SCANS[source]
        np.testing.assert_allclose(image.affine, nib.load(raw / source).affine)
        sidecar = json.loads((out / result.replace(".nii.gz", ".json")).read_text())
        assert sidecar["Sources"] == [f"bids:raw:{source}"]
        assert "denoised" in sidecar["Description"] and sidecar["SkullStripped"] is False
        assert sidecar["RepetitionTime"] == json.loads((raw / source.replace(".nii.gz", ".json")).read_text())["RepetitionTime"]
        denoising = sidecar["Denoising"]
        assert denoising["Software"] == "monai_nad" and denoising["SoftwareVersion"]
        assert denoising["Model"] == "Neural PDE MRI denoising" and denoising["ModelVersion"]
        # the diffusion series (its .bval/.bvec found) is denoised as a series
        assert denoising["Network"] == ("series+2d" if "/dwi/" in source else "2d") and denoising["Coils"] == 1 and denoising["Seconds"] >= 0
    # the diffusion scan's gradients, under the name BIDS' inheritance principle applies to the result
    assert (out / "sub-01/dwi/sub-01_dwi.bval").read_text() == BVAL
    assert (out / "sub-01/dwi/sub-01_dwi.bvec").read_text() == BVEC
    from bids import BIDSLayout

    derived = BIDSLayout(str(out), validate=False, is_derivative=True)
    assert Path(derived.get_bval(str(out / RESULTS["sub-01/dwi/sub-01_dwi.nii.gz"]))) == out / "sub-01/dwi/sub-01_dwi.bval"
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"] == "1.9.0"
    assert description["GeneratedBy"][0]["Name"] == "monai_nad" and description["GeneratedBy"][0]["Version"]
    assert description["SourceDatasets"] == [{"URL": raw.resolve().as_uri()}]
    assert description["DatasetLinks"] == {"raw": raw.resolve().as_uri()}
    _validate(out)
    # a second run keeps what is there; the description is this pipeline's, so it is not refused
    assert main(["bids", str(raw), str(out), "participant", "--bundle", str(tiny_bundle), "--skip-existing"]) == 0
    assert "kept 3 result(s)" in capsys.readouterr().out


def test_participant_labels_and_shards(raw, tmp_path, tiny_bundle, capsys):
    only = tmp_path / "only"
    assert main(["bids", str(raw), str(only), "participant", "--participant-label", "01", "--bundle", str(tiny_bundle)]) == 0
    assert _results(only) == {RESULTS["sub-01/anat/sub-01_T1w.nii.gz"], RESULTS["sub-01/dwi/sub-01_dwi.nii.gz"]}
    sharded, shares = tmp_path / "sharded", []
    for k in (1, 2):
        report = tmp_path / f"report{k}.json"
        before = _results(sharded) if sharded.exists() else set()
        argv = ["bids", str(raw), str(sharded), "participant", "--shard", f"{k}/2", "--report", str(report), "--bundle", str(tiny_bundle)]
        assert main(argv) == 0
        shares.append(_results(sharded) - before)
        assert {entry["status"] for entry in json.loads(report.read_text())["files"]} == {"written"}
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    assert shares[0] | shares[1] == set(RESULTS.values())
    assert {p.name for p in (sharded / "sub-01" / "dwi").iterdir()} >= {"sub-01_dwi.bval", "sub-01_dwi.bvec"}
    assert json.loads((sharded / "dataset_description.json").read_text())["GeneratedBy"][0]["Name"] == "monai_nad"


def _error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_bad_input_is_one_line(raw, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "out")
    assert "not a BIDS dataset" in _error(["bids", str(tmp_path), out, "participant"], capsys)
    assert "participant label(s) 07 not found" in _error(["bids", str(raw), out, "participant", "--participant-label", "07", "01"], capsys)
    assert "no bold NIfTI images" in _error(["bids", str(raw), out, "participant", "--suffix", "bold"], capsys)
    assert "inside the BIDS dataset" in _error(["bids", str(raw), str(raw / "sub-01"), "participant"], capsys)
    other = tmp_path / "fmriprep"
    other.mkdir()
    (other / "dataset_description.json").write_text(json.dumps({"Name": "x", "BIDSVersion": "1.9.0", "GeneratedBy": [{"Name": "fMRIPrep"}]}))
    assert "describes another dataset or pipeline (fMRIPrep)" in _error(["bids", str(raw), str(other), "participant"], capsys)
    assert not (other / "sub-01").exists()
    assert main(["bids", str(raw), out, "group"]) == 0
    assert capsys.readouterr().out.strip() == "monai-nad: nothing to do at group level (scans are denoised at participant level)"
    assert not Path(out).exists()
    for name in [n for n in sys.modules if n == "bids" or n.startswith("bids.")] + ["bids"]:
        monkeypatch.setitem(sys.modules, name, None)
    message = _error(["bids", str(raw), out, "participant"], capsys)
    assert message.endswith('pip install "monai_nad[bids]"') and "bids is not installed" in message


@pytest.mark.parametrize(
    "filename,entities,expected",
    [
        ("sub-01_T1w.nii.gz", {"suffix": "T1w", "extension": ".nii.gz"}, "sub-01_desc-denoised_T1w.nii.gz"),
        ("sub-01_ses-2_acq-fast_rec-norm_run-3_echo-1_part-mag_T2w.nii", {"suffix": "T2w", "extension": ".nii"},
         "sub-01_ses-2_acq-fast_rec-norm_run-3_echo-1_part-mag_desc-denoised_T2w.nii"),
        ("sub-01_dir-AP_run-1_dwi.nii.gz", {"suffix": "dwi", "extension": ".nii.gz"}, "sub-01_dir-AP_run-1_desc-denoised_dwi.nii.gz"),
        ("sub-01_space-T1w_desc-preproc_T1w.nii.gz", {"suffix": "T1w", "extension": ".nii.gz"}, "sub-01_space-T1w_desc-preprocdenoised_T1w.nii.gz"),
    ],
)
def test_derivative_names_keep_every_entity(filename, entities, expected):
    from bids.layout import parse_file_entities

    parsed = parse_file_entities(filename)
    assert {k: parsed[k] for k in entities} == entities
    assert derivative_name(filename, parsed) == expected
    assert parse_file_entities(expected).get("desc", "").endswith("denoised")


def test_prepare_inputs_takes_given_result_names(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        nib.save(nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 3)).astype(np.float32), np.eye(4)), folder / name)
    out = tmp_path / "out"
    report = prepare_inputs([folder], out, outputs={folder / "a.nii.gz": "x/named_a.nii.gz"})
    assert {Path(item["output"]).relative_to(out).as_posix() for item in report.items} == {"x/named_a.nii.gz", "b_denoised.nii.gz"}
    clash = prepare_inputs([folder], tmp_path / "out2", outputs={folder / "a.nii.gz": "same.nii.gz", folder / "b.nii.gz": "same.nii.gz"})
    assert len(clash.items) == 1 and "same name" in clash.failures[0][1]
    with pytest.raises(ValueError, match="relative to the output folder"):
        prepare_inputs([folder], tmp_path / "out3", outputs={folder / "a.nii.gz": tmp_path / "elsewhere.nii.gz"})
