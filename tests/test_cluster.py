"""A study across machines: the shards' reports merged into one run's, and the Ray Data path."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_nad.cli import main
from monai_nad.inference.reports import merge_reports, study_digest


def _nifti(path: Path, seed: int, shape: tuple[int, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).uniform(0, 100, shape).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))


def _rows(report: Path, out: Path) -> list[tuple]:
    """(input, output relative to its run's folder, status) of every entry of a report."""
    return [(row["input"], row["output"] and str(Path(row["output"]).relative_to(out)), row["status"])
            for row in json.loads(report.read_text())["files"]]


def test_two_shards_of_200_files_merge_into_the_report_of_one_run(tiny_bundle, tmp_path, capsys):
    study = tmp_path / "study"
    for index in range(198):  # tiny 3D and 2D NIfTI files in nested folders
        shape = (8, 8, 4) if index % 2 else (8, 8)
        _nifti(study / f"sub-{index % 7}" / ("ses-1" if index % 3 else "") / f"scan{index}.nii.gz", index, shape)
    (study / "sub-0" / "broken.nii.gz").write_bytes(b"not a scan")
    (study / "sub-1" / "empty.nii").write_bytes(b"")
    run = ["--bundle", str(tiny_bundle), "--threads", "1"]
    assert main(["denoise", str(study), "-o", str(tmp_path / "one"), "--report", str(tmp_path / "one.json"), *run]) == 1
    for k in (1, 2):
        main(["denoise", str(study), "-o", str(tmp_path / "all"), "--shard", f"{k}/2", "--report", str(tmp_path / f"s{k}.json"), *run])
    capsys.readouterr()
    assert main(["report", "merge", str(tmp_path / "s1.json"), str(tmp_path / "s2.json"), "-o", str(tmp_path / "merged.json")]) == 0
    said = capsys.readouterr().out
    assert said.startswith("merged 2 report(s): 200 input(s), each once (2 failed, 198 written)"), said
    assert _rows(tmp_path / "merged.json", tmp_path / "all") == _rows(tmp_path / "one.json", tmp_path / "one")
    single = json.loads((tmp_path / "one.json").read_text())
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["study"] == single["study"] and single["study"]["inputs"] == 200 and single["shard"] is None
    assert len(list((tmp_path / "all").rglob("*_denoised.nii.gz"))) == 198


def _report(path: Path, names: list[str], shard: str | None, study: list[str]) -> Path:
    body = {"shard": shard, "study": {"inputs": len(study), "sha256": study_digest(study)}, "seconds": 1.0,
            "files": [{"input": name, "output": f"{name}_out", "status": "written", "error": None} for name in names]}
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("twice", "input c appears in {a} and in {b}: the reports overlap"),
        ("missing_shard", "shard 2/2 missing: no report for it"),
        ("same_shard", "shard 1/2 is given twice: {a} and {b}"),
        ("missing_input", "the reports hold 3 input(s) where the study has 4: inputs are missing"),
        ("other_study", "the reports are of different studies"),
    ],
)
def test_merging_fails_in_one_line_when_an_input_is_not_there_exactly_once(tmp_path, capsys, case, message):
    study = ["a", "b", "c", "d"]
    a = _report(tmp_path / "a.json", ["a", "c"], "1/2", study)
    b = {
        "twice": lambda: _report(tmp_path / "b.json", ["b", "c", "d"], "2/2", study),
        "missing_shard": lambda: _report(tmp_path / "b.json", ["b", "d"], "1/2", study),
        "same_shard": lambda: _report(tmp_path / "b.json", ["b", "d"], "1/2", study),
        "missing_input": lambda: _report(tmp_path / "b.json", ["b"], "2/2", study),
        "other_study": lambda: _report(tmp_path / "b.json", ["b", "d"], "2/2", study + ["e"]),
    }[case]()
    if case == "missing_shard":
        status = main(["report", "merge", str(a), "-o", str(tmp_path / "m.json")])
    else:
        status = main(["report", "merge", str(a), str(b), "-o", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert message.format(a=a, b=b) in err
    assert not (tmp_path / "m.json").exists()


def test_merging_complete_shards_and_reading_bad_files(tmp_path):
    study = ["a", "b", "c"]
    merged = merge_reports([_report(tmp_path / "2.json", ["b"], "2/2", study), _report(tmp_path / "1.json", ["a", "c"], "1/2", study)])
    assert [row["input"] for row in merged["files"]] == study and merged["seconds"] == 2.0 and merged["shard"] is None
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json: not a readable JSON report"):
        merge_reports([tmp_path / "bad.json"])
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="other.json: not a monai-nad report"):
        merge_reports([tmp_path / "other.json"])
    with pytest.raises(FileNotFoundError, match="nothere.json: no such report"):
        merge_reports([tmp_path / "nothere.json"])


@pytest.mark.slow
def test_ray_data_denoises_a_study_on_two_workers_with_the_report_of_one_run(tiny_bundle, tmp_path, capsys):
    """`monai-nad denoise --ray` on a local Ray instance with two workers: every file written once, under the names a
    single run gives, with the same report (timings aside); --skip-existing then leaves everything as it is."""
    ray = pytest.importorskip("ray")
    study = tmp_path / "study"
    for index in range(6):
        _nifti(study / f"sub-{index % 2}" / ("anat" if index % 3 else "") / f"scan{index}.nii.gz", index, (10, 9, 3) if index % 2 else (12, 10))
    (study / "sub-1" / "broken.nii.gz").write_bytes(b"not a scan")
    run = ["--bundle", str(tiny_bundle), "--threads", "1"]
    assert main(["denoise", str(study), "-o", str(tmp_path / "one"), "--report", str(tmp_path / "one.json"), *run]) == 1

    def entries(report: Path, out: Path) -> list[dict]:
        rows = json.loads(report.read_text())["files"]
        return [{**{k: v for k, v in row.items() if k != "seconds"}, "output": row["output"] and str(Path(row["output"]).relative_to(out))}
                for row in rows]

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        capsys.readouterr()
        status = main(["denoise", str(study), "-o", str(tmp_path / "ray"), "--report", str(tmp_path / "ray.json"),
                       "--ray", "local", "--workers", "2", *run])
        said = capsys.readouterr()
        assert status == 1, said.err
        assert entries(tmp_path / "ray.json", tmp_path / "ray") == entries(tmp_path / "one.json", tmp_path / "one")
        written = [line.split("wrote ", 1)[1] for line in said.out.splitlines() if line.startswith("  wrote ")]
        assert len(written) == len(set(written)) == 6 and said.out.startswith("denoised 6 image(s)")
        assert sorted(str(p.relative_to(tmp_path / "ray")) for p in (tmp_path / "ray").rglob("*.nii.gz")) == sorted(
            str(p.relative_to(tmp_path / "one")) for p in (tmp_path / "one").rglob("*.nii.gz"))
        assert "broken.nii.gz" in said.err and len([line for line in said.err.splitlines() if line.strip()]) == 1, said.err
        status = main(["denoise", str(study), "-o", str(tmp_path / "ray"), "--report", str(tmp_path / "again.json"), "--skip-existing",
                       "--ray", "local", *run])
        assert {row["status"] for row in json.loads((tmp_path / "again.json").read_text())["files"]} == {"existing", "failed"}
    finally:
        ray.shutdown()


def test_a_ray_worker_loads_the_model_once_and_denoises_batch_after_batch(tiny_bundle, tmp_path, monkeypatch):
    """The actor of the Ray path, without Ray: one workflow (one model load) for every batch it is given; each batch's
    rows say what became of its scans, a failing scan included."""
    import monai_nad.engines
    from monai_nad.inference.ray_data import ScanDenoiser
    from monai_nad.inference.workflow import inference_workflow

    for index in range(3):
        _nifti(tmp_path / "in" / f"s{index}.nii.gz", index, (10, 9, 3))
    options = {"bundle": str(tiny_bundle)}
    planned = inference_workflow([tmp_path / "in"], tmp_path / "out", **options).parser.get_parsed_content("inputs")
    loads = []
    real_load = monai_nad.engines.load_bundle_weights
    monkeypatch.setattr(monai_nad.engines, "load_bundle_weights", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    worker = ScanDenoiser(str(tmp_path / "out"), options, threads=1)
    first = worker({"item": [json.dumps(planned.items[0]), json.dumps(planned.items[1])]})
    (tmp_path / "in" / "s2.nii.gz").write_bytes(b"changed since it was planned")
    second = worker({"item": [json.dumps(planned.items[2])]})
    assert len(loads) == 1
    assert first["status"] == ["written", "written"] and first["output"] == [item["output"] for item in planned.items[:2]]
    assert second["status"] == ["failed"] and second["output"] == [""] and "s2.nii.gz" in second["error"][0]
    assert json.loads(first["details"][0])["model"] and json.loads(second["details"][0]) == {}
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == ["s0_denoised.nii.gz", "s1_denoised.nii.gz"]


def test_without_ray_the_ray_path_says_which_extra_to_install(tiny_bundle, tmp_path, capsys, monkeypatch):
    import sys

    _nifti(tmp_path / "in" / "a.nii.gz", 0, (8, 8))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.setattr("monai_nad._optional._installed", lambda top: False)
    status = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle), "--ray", "auto"])
    err = capsys.readouterr().err
    assert status == 2 and err.strip() == 'monai-nad: error: ray is not installed (needed for the Ray Data path): pip install "monai_nad[cluster]"'
