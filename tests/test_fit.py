"""``monai-nad fit``: a self-supervised fit of the 2D model to a folder of noisy scans, written as a bundle that
``monai-nad denoise --bundle`` uses (tiny network, a few iterations)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from monai_nad.cli import main
from monai_nad.engines import read_state_dict
from monai_nad.inference.fit import mask_radius_for
from monai_nad.transforms import magnitude_mean, magnitude_mean_inversion

FAST = ["--epoch-length", "2", "--batch-size", "2", "--patch-size", "16", "--no-progress", "--threads", "1"]


def _scans(folder: Path) -> Path:
    """Two small volumes of a bright disc under Rician noise (std 8 of 100)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    x, y, _ = np.mgrid[:32, :28, :4]
    for i in range(2):
        clean = 100.0 * (((x - 16) ** 2 + (y - 14) ** 2) < (9 + 2 * i) ** 2)
        noisy = np.hypot(clean + rng.normal(0, 8, clean.shape), rng.normal(0, 8, clean.shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(noisy, np.eye(4)), str(folder / f"scan{i}.nii.gz"))
    return folder


def test_magnitude_mean_is_what_the_inversion_inverts():
    a = torch.tensor([0.0, 0.3, 1.0, 2.5, 12.0, 60.0], dtype=torch.float64, requires_grad=True)
    for coils in (1, 4):
        mean = magnitude_mean(a, 2.0, coils)
        assert float(mean[0].detach()) > 0  # the noise floor: E[M] > 0 where there is no signal
        assert torch.allclose(magnitude_mean_inversion(mean.detach(), 2.0, coils), a.detach(), atol=2e-3)
    magnitude_mean(a, 2.0).sum().backward()
    assert bool((a.grad[1:] > 0).all()) and float(a.grad[-1]) < 1.0001


def test_mask_radius_follows_the_noise_correlation():
    assert mask_radius_for([1.0, 1.1]) == 0 and mask_radius_for([1.4]) == 0
    assert mask_radius_for([2.2, 1.0]) == 1 and mask_radius_for([3.66, 3.65]) == 3


def test_fit_writes_a_bundle_denoise_uses_and_resumes(tiny_bundle, tmp_path, capsys):
    scans, out = _scans(tmp_path / "scans"), tmp_path / "fitted"
    assert main(["fit", str(scans), "-o", str(out), "--bundle", str(tiny_bundle), "--epochs", "1", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/1: masked loss" in printed
    assert printed.strip().splitlines()[-1].startswith("experimental:")  # the user is told to compare before use
    for name in ("configs/common.json", "configs/inference.json", "configs/metadata.json", "configs/logging.conf", "models/model.pt", "runs/mlruns.db"):
        assert (out / name).is_file(), name
    assert not (out / "models" / "model_3d.pt").exists()  # the volume model is not fitted: volumes go slice by slice
    record = json.loads((out / "docs" / "training_info_fit.json").read_text())
    assert record["epochs"] == 1 and record["scans"] == ["scan0.nii.gz", "scan1.nii.gz"] and record["command"].startswith("monai-nad fit")
    fitted, start = read_state_dict(out / "models" / "model.pt"), read_state_dict(tiny_bundle / "models" / "model.pt")
    assert fitted.keys() == start.keys() and any(not torch.equal(fitted[k], start[k]) for k in start)

    assert main(["denoise", str(scans / "scan0.nii.gz"), "-o", str(tmp_path / "den"), "--bundle", str(out)]) == 0
    noisy = nib.load(str(scans / "scan0.nii.gz")).get_fdata()
    denoised = nib.load(str(tmp_path / "den" / "scan0_denoised.nii.gz")).get_fdata()
    assert denoised.shape == noisy.shape and np.isfinite(denoised).all() and np.abs(denoised - noisy).mean() > 0.1

    # the same command with more epochs continues the fit (one MLflow run), it does not start over
    capsys.readouterr()
    assert main(["fit", str(scans), "-o", str(out), "--bundle", str(tiny_bundle), "--epochs", "2", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "resuming the fit" in printed and "epoch 2/2" in printed and "epoch 1/2" not in printed
    record = json.loads((out / "docs" / "training_info_fit.json").read_text())
    assert record["epochs"] == 2 and [(i["from_epoch"], i["to_epoch"]) for i in record["invocations"]] == [(0, 1), (1, 2)]
    assert [p.name for p in (out / "runs" / "checkpoints").iterdir()] == ["resume_checkpoint_epoch=2.pt"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{out / 'runs' / 'mlruns.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1 and [m.step for m in client.get_metric_history(runs[0].info.run_id, "train_loss")] == [1, 2, 3, 4]
    # finished: the same command again has nothing to do
    assert main(["fit", str(scans), "-o", str(out), "--bundle", str(tiny_bundle), "--epochs", "2", *FAST]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_fit_bad_inputs_give_one_line_naming_the_file(tiny_bundle, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a scan")
    broken = _scans(tmp_path / "scans") / "broken.nii.gz"
    broken.write_bytes(b"not an image" * 10)
    for bad, named in ((tmp_path / "empty", "empty"), (notes, "notes.txt"), (tmp_path / "scans", "broken.nii.gz"), (tmp_path / "nope", "nope")):
        capsys.readouterr()
        assert main(["fit", str(bad), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle), *FAST]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("monai-nad: error:") and named in err and "\n" not in err, err
    assert not (tmp_path / "out" / "models" / "model.pt").exists()


def test_fit_refuses_to_overwrite_what_is_not_its_own_fit(tiny_bundle, tmp_path, capsys):
    scans, out = _scans(tmp_path / "scans"), tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["fit", str(scans), "-o", str(out), "--bundle", str(tiny_bundle), "--epochs", "1", "--no-mlflow", *FAST]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert main([*args, "--overwrite"]) == 0
    assert (out / "models" / "model.pt").is_file() and (out / "keep.txt").read_text() == "mine"
    (scans / "scan1.nii.gz").unlink()  # other scans: not a resumption of this fit
    capsys.readouterr()
    assert main(args) == 2
    assert "fit to other scans" in capsys.readouterr().err
