"""The DiffDenoise bundle and the self-supervised Neural PDE mode, end to end through ``python -m monai.bundle``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_nad.bundle import find_reproduction
from monai_nad.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = find_reproduction("diffdenoise")
#: the v0.2 recipe, and the reproductions that override it
V02 = find_reproduction("neural_pde_v0.2")
SELF_SUPERVISED = find_reproduction("self_supervised")
BASELINES = find_reproduction("baselines")
SCHEMA = ROOT / "tests" / "resources" / "meta_schema_20240725.json"


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """The three stages on a tiny budget, tracked in MLflow (scripts/train_diffdenoise.py --quick)."""
    out = tmp_path_factory.mktemp("diffdenoise")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_diffdenoise.py"), "--quick", "--output-dir", str(out)],
                            capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout + result.stderr


@pytest.mark.slow
def test_three_stages_train_and_are_tracked_in_mlflow(quick_runs):
    from mlflow.tracking import MlflowClient

    out, log = quick_runs
    for stage in ("bsn", "diffusion", "student"):
        assert (out / stage / "model.pt").is_file(), stage
    assert "train_loss" in log and "val_psnr" in log and "teacher outputs" in log
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("diffdenoise")
    runs = client.search_runs([experiment.experiment_id])
    stages = {run.data.params.get("stage"): run for run in runs}
    assert set(stages) == {"bsn", "diffusion", "student"}
    assert stages["diffusion"].data.params["network"] == "DiffusionModelUNet"
    assert "train_loss" in stages["bsn"].data.metrics and "val_psnr" in stages["student"].data.metrics
    # a second call finds every stage done and trains nothing
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_diffdenoise.py"), "--quick", "--output-dir", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.count("exists, skipped") == 3


@pytest.mark.slow
def test_inference_with_each_denoiser(quick_runs, tmp_path):
    out, _ = quick_runs
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    for stage, name in (("bsn", "bsn.pt"), ("diffusion", "diffusion.pt"), ("student", "model.pt")):
        shutil.copyfile(out / stage / "model.pt", bundle / "models" / name)
    volume = np.random.default_rng(0).random((24, 20, 2)).astype(np.float32)
    scan = tmp_path / "scans" / "scan.nii.gz"
    scan.parent.mkdir()
    nib.save(nib.Nifti1Image(volume, np.diag([0.5, 0.5, 2.0, 1.0])), scan)
    # the student through the clinician-facing command
    assert cli_main(["denoise", str(scan), "-o", str(tmp_path / "student"), "--bundle", str(bundle), "--device", "cpu"]) == 0
    result = nib.load(tmp_path / "student" / "scan_denoised.nii.gz")
    assert result.shape == volume.shape and np.allclose(result.affine, np.diag([0.5, 0.5, 2.0, 1.0]))
    # the full pipeline through monai.bundle
    configs = bundle / "configs"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", f"['{configs / 'common.json'}', '{configs / 'inference.json'}']",
               "--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"), "--bundle_root", str(bundle),
               "--input_paths", f"['{scan}']", "--output_dir", str(tmp_path / "full"), "--denoiser", "diffdenoise", "--inference_steps", "2"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    full = nib.load(tmp_path / "full" / "denoised" / "scan_denoised.nii.gz").get_fdata()
    assert full.shape == volume.shape and np.isfinite(full).all()
    assert np.array_equal(nib.load(scan).get_fdata(), volume)  # the input is untouched


def test_metadata_is_valid_offline(tmp_path):
    from monai.bundle import verify_metadata

    schema = tmp_path / "schema.json"
    shutil.copyfile(SCHEMA, schema)
    verify_metadata(meta_file=str(BUNDLE / "configs" / "metadata.json"), filepath=str(schema))


def test_shipped_weights_load_safely_and_are_small():
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(BUNDLE / "configs" / "common.json"), str(BUNDLE / "configs" / "inference.json")])
    parser["bundle_root"] = str(BUNDLE)
    for name in ("model.pt", "bsn.pt", "diffusion.pt"):
        path = BUNDLE / "models" / name
        if not path.is_file():
            pytest.fail(f"the bundle ships no weights at {path}")
        assert path.stat().st_size < 1_000_000, name
    student = parser.get_parsed_content("load_student")
    pipeline = parser.get_parsed_content("pipeline_def")
    x = torch.rand(1, 1, 20, 18)
    with torch.no_grad():
        assert student(x).shape == x.shape and pipeline.with_sampling(False)(x).shape == x.shape


@pytest.mark.slow
def test_self_supervised_neural_pde_trains_without_clean_images(tmp_path):
    from mlflow.tracking import MlflowClient
    from monai.bundle import ConfigParser

    configs = [str(V02 / "configs" / "train.json"), str(SELF_SUPERVISED / "configs" / "self_supervised.json")]
    parser = ConfigParser()
    parser.read_config(configs)
    parser["train#datalist"] = "$monai_nad.data.noisy_slices('train', @self_supervised_conditions, limit=2)"
    item = parser.get_parsed_content("train#dataset")[0][0]
    assert item["label"].shape[0] == 2 and set(np.unique(np.asarray(item["label"][1]))) == {0.0, 1.0}  # noisy + mask, no clean
    shutil.copytree(V02 / "configs", tmp_path / "configs")
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(configs).replace(str(V02), str(tmp_path)),
               "--meta_file", str(tmp_path / "configs" / "metadata.json"), "--bundle_root", str(tmp_path),
               "--max_epochs", "2", "--val_interval", "1", "--patches_per_slice", "1", "--network_def#steps", "2", "--val_noise_stds", "[0.1]",
               "--train#datalist", "$monai_nad.data.noisy_slices('train', @self_supervised_conditions, limit=4)",
               "--tracking", "mlflow", "--experiment_name", "ss"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    final = tmp_path / "runs" / "checkpoints" / "final_model.pt"
    assert final.is_file() and not (tmp_path / "runs" / "checkpoints" / "best_model.pt").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlruns.db'}")
    run = client.search_runs([client.get_experiment_by_name("ss").experiment_id])[0]
    assert run.data.params["loss.training"].startswith("self-supervised") and "val_psnr" in run.data.metrics


def test_self_supervised_mode_composes_with_the_unet_baseline():
    """The v0.2 recipe + ``unet_baseline.json`` + ``self_supervised.json``: the U-Net baseline trained on noisy images with the masked loss."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(V02 / "configs" / "train.json"), str(BASELINES / "configs" / "unet_baseline.json"),
                        str(SELF_SUPERVISED / "configs" / "self_supervised.json")])
    parser["train#datalist"] = "$monai_nad.data.noisy_slices('train', @self_supervised_conditions, limit=1)"
    network, loss = parser.get_parsed_content("network_def"), parser.get_parsed_content("loss")
    assert type(network).__name__ == "ResidualDenoiser" and type(loss).__name__ == "MaskedLoss"
    item = parser.get_parsed_content("train#dataset")[0][0]
    value = loss(network(torch.as_tensor(item["image"])[None]), torch.as_tensor(item["label"])[None])
    value.backward()
    assert torch.isfinite(value) and all(p.grad is not None for p in network.parameters())
    # mask_radius hides a block around each scored pixel (for noise correlated across pixels): 5 x 5 blocks every 6 pixels
    parser["mask_radius"], parser["mask_stride"] = 2, 6
    item = parser.get_parsed_content("train#dataset", lazy=False)[0][0]
    mask = np.asarray(item["label"][1])
    assert mask.sum() > 0 and mask.sum() == pytest.approx(mask.size / 36, rel=0.2)
    image, noisy = np.asarray(item["image"][0]), np.asarray(item["label"][0])
    y, x = np.argwhere(mask)[0]
    block = (slice(max(y - 2, 0), y + 3), slice(max(x - 2, 0), x + 3))
    assert not np.any(image[block] == noisy[block]) or np.ptp(noisy[block]) == 0  # the whole block is replaced in the input


def test_install_without_trained_stages_names_them_and_touches_nothing(tmp_path):
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "model.pt").write_bytes(b"")
    shipped = {p.name: p.read_bytes() for p in (BUNDLE / "models").glob("*.pt")}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_diffdenoise.py"), "--stages", "student", "--install",
                             "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no trained weights for stage(s) ['bsn', 'diffusion']" in result.stderr
    assert {p.name: p.read_bytes() for p in (BUNDLE / "models").glob("*.pt")} == shipped


def test_install_from_given_weights_records_their_origin(tmp_path):
    from monai_nad.diffdenoise.training import install_diffdenoise

    bundle, runs = tmp_path / "bundle", tmp_path / "runs"
    (bundle / "docs").mkdir(parents=True)
    (bundle / "docs" / "training_info.json").write_text('{"seconds_per_stage": {"bsn": 10.0, "diffusion": 20.0, "student": 5.0}}')
    (runs / "student").mkdir(parents=True)
    torch.save({"w": torch.ones(2)}, runs / "student" / "model.pt")
    diffusion = tmp_path / "retrained" / "diffusion.pt"
    diffusion.parent.mkdir()
    torch.save({"w": torch.tensor([0.5, -1.25]), "steps": torch.tensor([3])}, diffusion)
    (bundle / "models").mkdir()
    torch.save({"w": torch.zeros(3)}, bundle / "models" / "bsn.pt")
    (bundle / "docs" / "training_info.json").write_text('{"seconds_per_stage": {"bsn": 10.0, "diffusion": 20.0, "student": 5.0}, "epochs": {"bsn": 3, "diffusion": 4, "student": 5}}')
    install_diffdenoise(bundle, runs, {"student": 7.0}, False, "cmd", {"bsn": bundle / "models" / "bsn.pt", "diffusion": diffusion}, {"student": 800})
    installed = torch.load(bundle / "models" / "diffusion.pt", weights_only=True)
    assert installed["w"].dtype == torch.float16 and torch.equal(installed["w"].float(), torch.tensor([0.5, -1.25]))
    assert installed["steps"].dtype == torch.int64  # only floating tensors are halved
    assert torch.equal(torch.load(bundle / "models" / "bsn.pt", weights_only=True)["w"], torch.zeros(3))  # installed onto itself intact
    student = torch.load(bundle / "models" / "model.pt", weights_only=True)["w"]
    assert student.dtype == torch.float16 and torch.equal(student.float(), torch.ones(2))  # the student in float16 too
    info = json.loads((bundle / "docs" / "training_info.json").read_text())
    # the kept BSN keeps its time, the given diffusion weights replace the old time by their origin, the student is new
    assert info["seconds_per_stage"] == {"bsn": 10.0, "student": 7.0}
    assert info["weights_from"] == {"diffusion": "retrained/diffusion.pt"} and info["command"] == "cmd"  # no machine path
    assert info["epochs"] == {"bsn": 3, "student": 800}
    # installed again from the installed files themselves: every stage keeps its record, the origin included
    install_diffdenoise(bundle, runs, {}, False, "cmd2", {"bsn": bundle / "models" / "bsn.pt", "diffusion": bundle / "models" / "diffusion.pt"})
    again = json.loads((bundle / "docs" / "training_info.json").read_text())
    assert again["weights_from"] == info["weights_from"] and again["seconds_per_stage"] == info["seconds_per_stage"]


def test_a_stage_trained_by_an_earlier_run_is_recorded_with_its_own_time_not_the_bundles(tmp_path):
    """Installing a folder whose student an earlier run trained (the install run skips it): the record takes that run's
    time and epochs from the stage's own record, never the time of the student it replaces; without a stage record
    the time is not known and is left out."""
    from monai_nad.diffdenoise.training import STAGE_RECORD, install_diffdenoise

    bundle, runs = tmp_path / "bundle", tmp_path / "runs"
    (bundle / "docs").mkdir(parents=True)
    (bundle / "models").mkdir()
    for name, value in (("bsn.pt", 0.0), ("diffusion.pt", 1.0), ("model.pt", 2.0)):
        torch.save({"w": torch.full((2,), value)}, bundle / "models" / name)
    (bundle / "docs" / "training_info.json").write_text(json.dumps(
        {"seconds_per_stage": {"bsn": 10.0, "student": 5.0}, "epochs": {"bsn": 3, "student": 800}, "weights_from": {"diffusion": "d.pt"}}))
    (runs / "student").mkdir(parents=True)
    torch.save({"w": torch.full((2,), 9.0)}, runs / "student" / "model.pt")  # a new student, trained earlier
    given = {"bsn": bundle / "models" / "bsn.pt", "diffusion": bundle / "models" / "diffusion.pt"}
    install_diffdenoise(bundle, runs, {}, False, "cmd", given)
    info = json.loads((bundle / "docs" / "training_info.json").read_text())
    assert info["seconds_per_stage"] == {"bsn": 10.0} and info["epochs"] == {"bsn": 3}  # not the replaced student's 5 s / 800
    assert info["weights_from"] == {"diffusion": "d.pt"}
    (runs / "student" / STAGE_RECORD).write_text(json.dumps({"seconds": 5736.0, "epochs": 300}))
    install_diffdenoise(bundle, runs, {}, False, "cmd", given)
    info = json.loads((bundle / "docs" / "training_info.json").read_text())
    assert info["seconds_per_stage"] == {"bsn": 10.0, "student": 5736.0} and info["epochs"] == {"bsn": 3, "student": 300}


def test_the_epochs_of_a_stage_follow_the_last_override():
    from monai_nad.diffdenoise.training import TRAINING_EPOCHS, stage_epochs

    assert stage_epochs("student") == TRAINING_EPOCHS["student"] and stage_epochs("bsn", quick=True) == 1
    assert stage_epochs("student", extra=["--max_epochs", "300", "--lr", "1", "--max_epochs", "800"]) == 800


# each case is a subprocess (about 10 s of imports): two stay in the default tier, the rest run in the full tier
_FULL = pytest.mark.slow


@pytest.mark.parametrize(("item", "message"), [
    pytest.param("student=x.pt", "not 'student'", marks=_FULL),
    pytest.param("diffusion=missing.pt", "the diffusion weights missing.pt do not exist", marks=_FULL),
    pytest.param("diffusion", "STAGE=PATH", marks=_FULL),
    ("diffusion=empty.pt", "cannot load checkpoint empty.pt"),
    pytest.param("bsn=corrupt.pt", "cannot load checkpoint corrupt.pt", marks=_FULL),
    pytest.param("diffusion=other.pt", "the diffusion weights other.pt do not fit the bundle's diffusion network", marks=_FULL),
    ("bsn=other.pt", "the bsn weights other.pt do not fit the bundle's bsn network"),
])
def test_bad_stage_weights_are_one_line_errors(tmp_path, item, message):
    import io

    shipped = {p.name: p.read_bytes() for p in (BUNDLE / "models").glob("*.pt")}
    other = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, other)  # a loadable checkpoint of another network
    given = {"empty.pt": b"", "corrupt.pt": b"not a checkpoint", "other.pt": other.getvalue()}
    for name, data in given.items():
        (tmp_path / name).write_bytes(data)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_diffdenoise.py"), "--weights", item, "--install", "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(given)  # nothing written, the given files untouched
    assert all((tmp_path / name).read_bytes() == data for name, data in given.items())
    assert {p.name: p.read_bytes() for p in (BUNDLE / "models").glob("*.pt")} == shipped


@pytest.mark.slow
def test_student_is_distilled_from_given_weights(quick_runs, tmp_path):
    out, _ = quick_runs
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_diffdenoise.py"), "--quick", "--output-dir", str(tmp_path),
                             "--weights", f"bsn={out / 'bsn' / 'model.pt'}", f"diffusion={out / 'diffusion' / 'model.pt'}"],
                            capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("weights given") == 2 and (tmp_path / "student" / "model.pt").is_file()
    assert not (tmp_path / "bsn").exists() and not (tmp_path / "diffusion").exists()
    record = json.loads((tmp_path / "student" / "stage_record.json").read_text())  # what a later --install of the folder reads
    assert record["epochs"] == 1 and record["seconds"] > 0


def test_the_command_line_reports_what_the_shipped_student_wrote(tmp_path, capsys):
    """``monai-nad denoise --bundle <DiffDenoise>`` runs the shipped student and says which results it wrote (its
    evaluator is the command line's ScanEvaluator, which records them; a plain evaluator reported 0 images)."""
    volume = np.random.default_rng(1).random((24, 20, 2)).astype(np.float32)
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), scan)
    assert cli_main(["denoise", str(scan), "-o", str(tmp_path / "out"), "--bundle", str(BUNDLE), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "denoised 1 image(s)" in printed and "scan_denoised.nii.gz" in printed
    assert nib.load(tmp_path / "out" / "scan_denoised.nii.gz").shape == volume.shape


def test_given_weights_are_checked_against_the_network_the_runs_settings_make(tmp_path):
    from monai.networks.nets import DiffusionModelUNet

    from monai_nad.diffdenoise.training import check_stage_weights

    for channels, reads_noisy in ((2, "False"), (3, "True")):  # the estimate alone, or the noisy image too
        net = DiffusionModelUNet(2, channels, 1, num_res_blocks=1, channels=(16, 32, 32), attention_levels=(False,) * 3, norm_num_groups=8)
        path = tmp_path / f"diffusion_{channels}.pt"
        torch.save(net.state_dict(), path)
        given = check_stage_weights({"diffusion": path}, BUNDLE, ["--max_epochs", "2", "--condition_on_noisy", reads_noisy])
        assert given == {"diffusion": path}
        other = "True" if reads_noisy == "False" else "False"
        with pytest.raises(ValueError, match="do not fit the bundle's diffusion network"):
            check_stage_weights({"diffusion": path}, BUNDLE, ["--condition_on_noisy", other])
    # an expression given as a setting is left to the bundle run: the check evaluates nothing (the default holds here)
    assert check_stage_weights({"diffusion": path}, BUNDLE, ["--condition_on_noisy", "$open('/no/such/file')"]) == {"diffusion": path}


def test_the_magnitude_mean_correction_removes_the_8_coil_floor_the_student_keeps(tmp_path, capsys):
    """``--post-correction magnitude_mean``: the std map and coil count read from the scan's air invert the student's
    N-coil mean; without it the air keeps the ``sqrt(2N) s`` floor. A bundle whose inferer tells its network the white
    equivalent (the shipped Neural PDE) refuses the option in one line."""
    rng = np.random.default_rng(2)
    clean = np.zeros((96, 96, 6), np.float32)
    clean[30:66, 30:66] = 0.8
    coils, s = 8, 0.04
    power = sum((clean / np.sqrt(coils) + s * rng.standard_normal(clean.shape)) ** 2 + (s * rng.standard_normal(clean.shape)) ** 2 for _ in range(coils))
    scan = tmp_path / "sos8.nii.gz"
    nib.save(nib.Nifti1Image(np.sqrt(power).astype(np.float32), np.eye(4)), scan)
    outputs = {}
    for name, extra in (("raw", []), ("inverted", ["--post-correction", "magnitude_mean", "--noise-map"]),
                        ("posterior", ["--post-correction", "magnitude_mean_posterior"])):
        assert cli_main(["denoise", str(scan), "-o", str(tmp_path / name), "--bundle", str(BUNDLE), "--device", "cpu", *extra]) == 0
        outputs[name] = nib.load(tmp_path / name / "sos8_denoised.nii.gz").get_fdata()
    # the noise the inversion was told, written on request (--noise-map): about s inside the head, in the scan's units
    std_map = nib.load(tmp_path / "inverted" / "sos8_denoised_noise_std.nii.gz").get_fdata()
    assert std_map.shape == clean.shape and abs(float(np.median(std_map)) - s) < 0.2 * s
    air = (slice(0, 20), slice(None), slice(None))
    assert outputs["raw"][air].mean() > 0.12  # the floor: about sqrt(2 N) s = 0.16
    assert outputs["inverted"][air].mean() < 0.03
    inside = (slice(38, 58), slice(38, 58), slice(None))
    assert abs(outputs["inverted"][inside].mean() - 0.8) < abs(outputs["raw"][inside].mean() - 0.8)
    # the posterior mean: less of the inversion's speckle in the air, the same signal inside
    assert outputs["posterior"][air].mean() < 0.5 * outputs["inverted"][air].mean()
    assert abs(outputs["posterior"][inside].mean() - outputs["inverted"][inside].mean()) < 0.01
    capsys.readouterr()
    assert cli_main(["denoise", str(scan), "-o", str(tmp_path / "npde"), "--post-correction", "magnitude_mean", "--device", "cpu"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "does not pass the estimated noise map" in error[0] and not (tmp_path / "npde").exists()
