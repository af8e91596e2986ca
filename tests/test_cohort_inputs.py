"""A study's files through `monai-nad denoise`: every input accounted for, no result lost, merged or read back."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_nad.cli import main
from monai_nad.data import RESULTS_MARKER, find_scans, load_image

pydicom = pytest.importorskip("pydicom")


def _results(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != RESULTS_MARKER)


def _nifti(path: Path, seed: int = 0, top: float = 125.0, shape=(24, 20, 4), affine=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(0, top, shape).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))


def _dicom_series(folder: Path, uid: str, number: int, slices: int, spacing: float, shape=(16, 12), offset: float = 0.0,
                  instance_order=None, start: int = 0) -> None:
    """Write one axial series: slice k at z = offset + k * spacing, InstanceNumber from ``instance_order``."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    order = instance_order or list(range(slices))
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = folder / f"im{start + k:03d}.dcm"
        ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID, ds.SeriesInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID, uid
        ds.Modality, ds.Rows, ds.Columns, ds.SeriesNumber = "MR", shape[0], shape[1], number
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], spacing
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, offset + spacing * k], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.InstanceNumber = order[k] + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        pixels = np.random.default_rng(number * 100 + k).integers(0, 40, shape) + 1000 * k + 100
        ds.PixelData = pixels.astype(np.uint16).tobytes()
        ds.save_as(str(name), enforce_file_format=True)


def test_a_dicom_folder_with_two_series_gives_two_volumes_with_their_own_spacing(tiny_bundle, tmp_path, capsys):
    from pydicom.uid import generate_uid

    folder = tmp_path / "in" / "dicom"
    _dicom_series(folder, generate_uid(), 3, 6, 0.8)
    _dicom_series(folder, generate_uid(), 4, 6, 0.8, offset=0.35, start=10)
    scans, problems, _ = find_scans(folder)
    assert problems == [] and [s.series.label for s in scans] == ["series3", "series4"]
    for scan in scans:
        loaded = load_image(scan.path, dicom_files=scan.series.files)
        assert loaded.array.shape == (12, 16, 6)
        assert np.linalg.norm(loaded.affine[:3, 2]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="2 DICOM series"):
        load_image(folder)  # a caller that does not say which series is told, not given a merged volume
    run = ["--bundle", str(tiny_bundle)]
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "nifti"), "--dicom-as-nifti", *run]) == 0
    assert _results(tmp_path / "nifti") == ["dicom_series3_denoised.nii.gz", "dicom_series4_denoised.nii.gz"]
    for name in _results(tmp_path / "nifti"):
        image = nib.load(str(tmp_path / "nifti" / name))
        assert image.shape == (12, 16, 6) and image.header.get_zooms()[2] == pytest.approx(0.8)


def test_a_dicom_series_is_written_back_as_a_new_dicom_series(tiny_bundle, tmp_path):
    from pydicom.uid import generate_uid

    source_uid = generate_uid()
    _dicom_series(tmp_path / "in" / "t1", source_uid, 7, 6, 0.8, instance_order=[5, 4, 3, 2, 1, 0])
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)]) == 0
    result = tmp_path / "out" / "t1_denoised"
    files = sorted(result.glob("*.dcm"))
    assert len(files) == 6 and _results(tmp_path / "out") == [f"t1_denoised/{f.name}" for f in files]
    source, denoised = load_image(tmp_path / "in" / "t1"), load_image(result)
    np.testing.assert_allclose(denoised.affine, source.affine)
    assert denoised.array.shape == source.array.shape
    assert not np.allclose(denoised.array, source.array) and np.corrcoef(denoised.array.ravel(), source.array.ravel())[0, 1] > 0.9
    headers = [pydicom.dcmread(str(f)) for f in files]
    assert {h.SeriesInstanceUID for h in headers} != {source_uid} and len({h.SeriesInstanceUID for h in headers}) == 1
    originals = {str(pydicom.dcmread(str(f)).SOPInstanceUID) for f in (tmp_path / "in" / "t1").glob("*.dcm")}
    assert len({str(h.SOPInstanceUID) for h in headers} | originals) == 12  # every image a new identity
    first = headers[0]
    assert first.ImageType[:2] == ["DERIVED", "SECONDARY"] and "denoised (monai_nad" in first.SeriesDescription
    assert first.Modality == "MR" and int(first.SeriesNumber) == 1007
    # a second run does not read the written series back, and --skip-existing keeps it
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", "--bundle", str(tiny_bundle)]) == 0
    assert len(list(result.iterdir())) == 6


def test_dicom_slices_follow_their_position_not_their_instance_number(tmp_path):
    from pydicom.uid import generate_uid

    _dicom_series(tmp_path / "s", generate_uid(), 1, 5, 2.0, instance_order=[3, 0, 4, 1, 2])
    loaded = load_image(tmp_path / "s")
    # slice k holds values around 1000 k + 100: ordered by z whatever the instance numbers say
    assert np.all(np.diff(loaded.array.mean(axis=(0, 1))) > 900)
    assert np.allclose(loaded.affine[:3, 2], [0, 0, 2.0]) and np.allclose(loaded.affine[:3, 3], [0, 0, 0])


def test_a_dicom_folder_with_two_matrix_sizes_is_two_scans(tiny_bundle, tmp_path, capfd):
    from pydicom.uid import generate_uid

    folder = tmp_path / "in" / "mixed"
    _dicom_series(folder, generate_uid(), 1, 5, 1.0, shape=(16, 12))
    _dicom_series(folder, generate_uid(), 2, 5, 1.0, shape=(20, 14), start=10)
    assert main(["denoise", str(folder), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)]) == 0
    said = capfd.readouterr()
    assert sorted({name.split("/")[0] for name in _results(tmp_path / "out")}) == ["mixed_series1_denoised", "mixed_series2_denoised"]
    assert "UserWarning" not in said.err + said.out


def test_same_names_in_different_folders_keep_their_folders_and_never_collide(tiny_bundle, tmp_path, capsys):
    _nifti(tmp_path / "coll" / "a" / "x.nii.gz", 1)
    _nifti(tmp_path / "coll" / "b" / "x.nii.gz", 2)
    run = ["--bundle", str(tiny_bundle)]
    assert main(["denoise", str(tmp_path / "coll"), "-o", str(tmp_path / "out"), *run]) == 0
    out = capsys.readouterr().out
    assert _results(tmp_path / "out") == ["a/x_denoised.nii.gz", "b/x_denoised.nii.gz"]
    assert out.count("x_denoised.nii.gz") == 2 and "denoised 2 image(s)" in out
    first = nib.load(str(tmp_path / "out" / "a" / "x_denoised.nii.gz")).get_fdata()
    second = nib.load(str(tmp_path / "out" / "b" / "x_denoised.nii.gz")).get_fdata()
    assert not np.allclose(first, second)  # two results, not one written twice
    # the same two files given one by one, and with --overwrite: still two results
    direct = [str(tmp_path / "coll" / "a" / "x.nii.gz"), str(tmp_path / "coll" / "b" / "x.nii.gz")]
    assert main(["denoise", *direct, "-o", str(tmp_path / "flat"), *run]) == 0
    assert main(["denoise", *direct, "-o", str(tmp_path / "flat"), "--overwrite", *run]) == 0
    assert _results(tmp_path / "flat") == ["a/x_denoised.nii.gz", "b/x_denoised.nii.gz"]
    # names that differ only in their extension
    _nifti(tmp_path / "ext" / "y.nii.gz", 3)
    nib.save(nib.load(str(tmp_path / "ext" / "y.nii.gz")), str(tmp_path / "ext" / "y.nii"))
    assert main(["denoise", str(tmp_path / "ext"), "-o", str(tmp_path / "out_ext"), *run]) == 0
    assert _results(tmp_path / "out_ext") == ["y.nii.gz_denoised.nii.gz", "y.nii_denoised.nii.gz"]


def test_a_noise_level_that_would_erase_the_image_is_refused_in_one_line(tiny_bundle, tmp_path, capsys):
    _nifti(tmp_path / "in" / "scan.nii.gz", top=125.0)
    status = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--noise-std", "1000", "--bundle", str(tiny_bundle)])
    said = capsys.readouterr()
    assert status == 2 and _results(tmp_path / "out") == []
    assert said.err.count("\n") <= 2 and "scan.nii.gz" in said.err and "would erase" in said.err


def test_huge_noise_std_is_refused_by_the_argument_check(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["denoise", str(tmp_path), "-o", str(tmp_path / "out"), "--noise-std", "1e308"])
    assert exit_.value.code == 2 and "--noise-std" in capsys.readouterr().err


def test_the_summary_and_report_name_only_what_this_run_wrote(tiny_bundle, tmp_path, capsys):
    _nifti(tmp_path / "in" / "a.nii.gz", 1)
    _nifti(tmp_path / "in" / "b.nii.gz", 2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a_denoised.nii.gz").write_bytes(b"an older result")
    report = tmp_path / "reports" / "run.json"
    status = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle)])
    out = capsys.readouterr().out
    assert status == 1
    assert "denoised 1 image(s)" in out
    assert [line for line in out.splitlines() if "wrote" in line] == [f"  wrote {tmp_path / 'out' / 'b_denoised.nii.gz'}"]
    assert (tmp_path / "out" / "a_denoised.nii.gz").read_bytes() == b"an older result"  # never overwritten
    body = json.loads(report.read_text())
    status_of = {Path(row["input"]).name: row for row in body["files"]}
    assert status_of["a.nii.gz"]["status"] == "failed" and "already exists" in status_of["a.nii.gz"]["error"]
    assert status_of["b.nii.gz"]["status"] == "written" and status_of["b.nii.gz"]["model"] == "2d"
    assert status_of["b.nii.gz"]["seconds"] >= 0 and body["interrupted"] is False


def test_skip_existing_finishes_an_interrupted_study_with_exit_0(tiny_bundle, tmp_path, capsys):
    for name in ("a", "b", "c"):
        _nifti(tmp_path / "in" / f"{name}.nii.gz", ord(name))
    run = ["--bundle", str(tiny_bundle)]
    assert main(["denoise", str(tmp_path / "in" / "a.nii.gz"), "-o", str(tmp_path / "out"), *run]) == 0
    kept = (tmp_path / "out" / "a_denoised.nii.gz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", *run]) == 0
    out = capsys.readouterr().out
    assert "denoised 2 image(s)" in out and "kept 1 result(s)" in out
    assert (tmp_path / "out" / "a_denoised.nii.gz").stat().st_mtime_ns == kept
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", *run]) == 0  # all done


def test_results_of_an_earlier_run_inside_an_input_folder_are_not_read_back(tiny_bundle, tmp_path, capsys):
    _nifti(tmp_path / "s" / "good.nii.gz")
    run = ["--bundle", str(tiny_bundle)]
    assert main(["denoise", str(tmp_path / "s"), "-o", str(tmp_path / "s" / "out1"), *run]) == 0
    assert main(["denoise", str(tmp_path / "s"), "-o", str(tmp_path / "s" / "out2"), *run]) == 0
    assert _results(tmp_path / "s" / "out2") == ["good_denoised.nii.gz"]
    # a result of an older version (no marker in its folder) is recognised by its name
    (tmp_path / "s" / "out1" / RESULTS_MARKER).unlink()
    assert main(["denoise", str(tmp_path / "s"), "-o", str(tmp_path / "out3"), *run]) == 0
    assert _results(tmp_path / "out3") == ["good_denoised.nii.gz"]
    assert "passed over 1 earlier result(s)" in capsys.readouterr().out


def test_a_nan_affine_is_one_line_and_exit_2(tiny_bundle, tmp_path, capsys):
    header = nib.Nifti1Header()
    header["srow_x"], header["srow_y"], header["srow_z"] = [np.nan, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]
    header["sform_code"] = 1
    data = np.random.default_rng(0).uniform(0, 9, (12, 10, 4)).astype(np.float32)
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(data, None, header=header), str(tmp_path / "in" / "bad.nii.gz"))
    assert main(["denoise", str(tmp_path / "in" / "bad.nii.gz"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)]) == 2
    err = capsys.readouterr().err
    assert "bad.nii.gz" in err and "affine" in err and "Compose" not in err and "Traceback" not in err


def test_an_output_folder_that_cannot_take_files_says_so(tmp_path, capsys):
    _nifti(tmp_path / "in" / "a.nii.gz")
    assert main(["denoise", str(tmp_path / "in"), "-o", "/proc/self"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "files cannot be created in it" in err


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_results_honour_the_umask(tiny_bundle, tmp_path, mask):
    _nifti(tmp_path / "in" / "a.nii.gz")
    old = os.umask(mask)
    try:
        assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "a_denoised.nii.gz").stat().st_mode & 0o777 == 0o666 & ~mask


def test_ctrl_c_ends_with_one_line_and_the_summary_of_what_finished(tiny_bundle, tmp_path, capsys, monkeypatch):
    for name in ("a", "b", "c"):
        _nifti(tmp_path / "in" / f"{name}.nii.gz", ord(name))
    import monai_nad.inference.inferer as inferer

    original = inferer.SliceWiseInferer.__call__
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(inferer.SliceWiseInferer, "__call__", interrupted)
    report = tmp_path / "report.json"
    status = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle)])
    said = capsys.readouterr()
    assert status == 130
    assert said.err.count("\n") == 1 and "interrupted" in said.err and "Traceback" not in said.err + said.out
    assert "denoised 1 image(s)" in said.out and _results(tmp_path / "out") == ["a_denoised.nii.gz"]
    rows = {Path(row["input"]).name: row["status"] for row in json.loads(report.read_text())["files"]}
    assert rows == {"a.nii.gz": "written", "b.nii.gz": "not run", "c.nii.gz": "not run"}
    monkeypatch.setattr(inferer.SliceWiseInferer, "__call__", original)
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--skip-existing", "--bundle", str(tiny_bundle)]) == 0
    assert _results(tmp_path / "out") == ["a_denoised.nii.gz", "b_denoised.nii.gz", "c_denoised.nii.gz"]


def test_the_console_is_quiet_by_default_and_threads_are_set(tiny_bundle, tmp_path, capfd):
    import torch

    _nifti(tmp_path / "in" / "a.nii.gz")
    before = torch.get_num_threads()
    try:
        assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--threads", "1", "--bundle", str(tiny_bundle)]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    said = capfd.readouterr()
    text = said.out + said.err
    assert " - INFO - " not in text and "Engine run" not in text and "Logging file" not in text


def test_shards_cover_a_study_exactly_once_with_the_same_report_as_one_run(tiny_bundle, tmp_path):
    for index in range(23):
        _nifti(tmp_path / "study" / f"sub-{index % 5}" / f"scan{index}.nii.gz", index, shape=(10, 9, 3))
    (tmp_path / "study" / "sub-0" / "broken.nii.gz").write_bytes(b"not a scan")
    (tmp_path / "study" / "sub-1" / "scan0.nii").write_bytes(b"")  # a name clash with a bad file: accounted for too
    run = ["--bundle", str(tiny_bundle)]

    def rows(report: Path, out: Path) -> list[tuple]:
        return [(row["input"], row["output"] and str(Path(row["output"]).relative_to(out)), row["status"])
                for row in json.loads(report.read_text())["files"]]

    assert main(["denoise", str(tmp_path / "study"), "-o", str(tmp_path / "one" / "out"), "--report", str(tmp_path / "one.json"), *run]) == 1
    shards = []
    for k in (1, 2, 3):
        main(["denoise", str(tmp_path / "study"), "-o", str(tmp_path / f"s{k}" / "out"), "--shard", f"{k}/3",
              "--report", str(tmp_path / f"s{k}.json"), *run])
        shards.append(rows(tmp_path / f"s{k}.json", tmp_path / f"s{k}" / "out"))
    combined = sorted(row for shard in shards for row in shard)
    assert combined == rows(tmp_path / "one.json", tmp_path / "one" / "out")
    assert len({row[0] for row in combined}) == len(combined) == 25
    assert all(len(shard) >= 8 for shard in shards)  # dealt out in turn, not all to one job
    # more shares than inputs: an empty share is not an error
    assert main(["denoise", str(tmp_path / "study" / "sub-2"), "-o", str(tmp_path / "e"), "--shard", "9/9", *run]) == 0


@pytest.mark.slow
def test_torchrun_shards_a_study_across_two_processes_each_file_written_once(tiny_bundle, tmp_path):
    """`torchrun --nproc_per_node=2 -m monai.bundle run` with multi_gpu_inference.json: MONAI's DistributedSampler
    (even_divisible=False) deals the inputs to two gloo ranks; every file is written exactly once."""
    import shutil
    import subprocess
    import sys

    from monai_nad.engines import bundle_command

    for index in range(5):
        _nifti(tmp_path / "study" / f"s{index}.nii.gz", index, shape=(12, 10, 3))
    shutil.copyfile(Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising" / "configs" / "multi_gpu_inference.json",
                    tiny_bundle / "configs" / "multi_gpu_inference.json")
    # rank 1 starts 4 s late: a rank must not write before every rank has planned the study (a result that exists
    # when a late rank plans would change its list and its share)
    late = json.loads((tiny_bundle / "configs" / "multi_gpu_inference.json").read_text())["initialize"] + ["$__import__('time').sleep(4 * dist.get_rank())"]
    (tiny_bundle / "configs" / "late_rank.json").write_text(json.dumps({"initialize": late}))
    configs = [str(tiny_bundle / "configs" / name) for name in ("common.json", "inference.json", "multi_gpu_inference.json", "late_rank.json")]
    out = tmp_path / "out"
    command, env = bundle_command(configs, {"bundle_root": str(tiny_bundle), "input_paths": [str(tmp_path / "study")],
                                            "output_dir": str(out), "denoised_dir": str(out)})
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", "29573"]
    result = subprocess.run(launcher + command[1:], capture_output=True, text=True, timeout=300, env={**env, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert _results(out) == [f"s{index}_denoised.nii.gz" for index in range(5)]
    text = result.stdout + result.stderr
    counts = [int(word) for line in text.splitlines() if " - wrote " in line for word in line.split(" - wrote ")[1].split()[:1]]
    assert sorted(counts) == [2, 3] and "skipping" not in text  # 3 + 2 files: each written by one rank only
