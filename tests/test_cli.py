"""The ``monai-nad`` command line on a tiny bundle (random weights, 2 steps)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from monai_nad.bundle import default_bundle
from monai_nad.cli import main
from monai_nad.networks import NeuralPDE, ResidualDenoiser

BUNDLE = default_bundle()


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _inputs(folder: Path) -> Path:
    folder.mkdir()
    affine = np.diag([1.2, 0.8, 3.0, 1.0])
    nib.save(nib.Nifti1Image(np.random.default_rng(0).uniform(0, 900, (24, 20, 4)).astype(np.float32), affine), str(folder / "t2.nii.gz"))
    Image.fromarray((np.random.default_rng(1).uniform(0, 255, (30, 26))).astype(np.uint8)).save(folder / "slice.png")
    (folder / "broken.nii.gz").write_bytes(b"not an image" * 10)
    nib.save(nib.Nifti1Image(np.random.default_rng(2).uniform(0, 1, (6, 6, 6, 2, 2)).astype(np.float32), np.eye(4)), str(folder / "series5d.nii.gz"))
    return folder


def test_denoise_folder_reports_bad_files_and_keeps_inputs(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    before = _digest(inputs)
    status = main(["denoise", str(inputs), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle)])
    out = capsys.readouterr().out
    assert status == 1  # some inputs were skipped
    assert "denoised 2 image(s)" in out and "broken.nii.gz" in out and "series5d.nii.gz has shape" in out
    result = nib.load(str(tmp_path / "out" / "t2_denoised.nii.gz"))
    np.testing.assert_allclose(result.affine, np.diag([1.2, 0.8, 3.0, 1.0]))
    assert result.shape == (24, 20, 4)
    assert 0 < result.get_fdata().mean() < 900  # back in the input's intensity scale
    assert np.asarray(Image.open(tmp_path / "out" / "slice_denoised.png")).shape == (30, 26)
    assert _digest(inputs) == before


def test_refuses_output_folder_equal_to_input_and_existing_outputs(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    assert main(["denoise", str(inputs), "-o", str(inputs), "--bundle", str(tiny_bundle)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(out), "--bundle", str(tiny_bundle)]) == 0
    first = (out / "t2_denoised.nii.gz").read_bytes()
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(out), "--bundle", str(tiny_bundle)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "t2_denoised.nii.gz").read_bytes() == first


def test_missing_and_mismatched_checkpoints(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    torch.save(NeuralPDE(2, steps=5, guidance=False).state_dict(), tiny_bundle / "models" / "model.pt")
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / "o1"), "--bundle", str(tiny_bundle)]) == 2
    assert "does not match the network configuration" in capsys.readouterr().err
    (tiny_bundle / "models" / "model.pt").unlink()
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / "o2"), "--bundle", str(tiny_bundle)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o3"), "--bundle", str(tiny_bundle)]) == 2
    assert "nope.nii.gz" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_request_without_cuda(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    assert main(["denoise", str(inputs), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_demo_writes_figure_and_scores(tiny_bundle, tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo"), "--bundle", str(tiny_bundle)]) == 0
    out = capsys.readouterr().out
    assert "noisy: PSNR" in out and "denoised: PSNR" in out
    assert (tmp_path / "demo" / "side_by_side.png").stat().st_size > 10_000


def test_conductance_maps_are_saved_on_request(tiny_bundle, tmp_path):
    inputs = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["denoise", str(inputs / "t2.nii.gz"), str(inputs / "slice.png"), "-o", str(out), "--bundle", str(tiny_bundle), "--save-conductance"]) == 0
    maps = nib.load(str(out / "t2_denoised_conductance.nii.gz"))
    assert maps.shape == (24, 20, 4, 4)  # spatial + 4 edge directions of the 8-neighbour stencil
    values = maps.get_fdata()
    assert values.min() >= 0 and values.max() <= 1
    assert np.load(out / "slice_denoised_conductance.npy").shape == (4, 30, 26)


def test_help_and_argument_errors_import_nothing_heavy():
    """`monai-nad --help` must be instant: the CLI module imports neither torch, MONAI, MLflow nor Ignite."""
    import subprocess
    import sys

    code = "import sys, monai_nad.cli as c; c._parser(); print(sorted(m for m in ('torch', 'monai', 'mlflow', 'ignite') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class _Opaque:
    """A class that a checkpoint may pickle but ``torch.load(weights_only=True)`` refuses."""


@pytest.mark.parametrize("content", [b"corrupt" * 20, "pickle"])
def test_bad_checkpoint_is_named_without_unsafe_advice(tiny_bundle, tmp_path, capsys, content):
    inputs = _inputs(tmp_path / "in")
    model = tiny_bundle / "models" / "model.pt"
    if content == "pickle":
        torch.save({"model": {"weight": torch.zeros(1)}, "extra": _Opaque()}, model)  # a Python object that weights_only refuses
    else:
        model.write_bytes(content)
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / "o"), "--bundle", str(tiny_bundle)]) == 2
    err = capsys.readouterr().err
    assert str(model) in err and err.count("\n") == 1
    assert "weights_only" not in err


def test_known_and_blind_noise_levels_both_denoise(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    for name, extra in (("blind", []), ("known", ["--noise-std", "40"]), ("coils", ["--coils", "4"])):
        assert main(["denoise", str(inputs / "t2.nii.gz"), str(inputs / "slice.png"), "-o", str(tmp_path / name), "--bundle", str(tiny_bundle), *extra]) == 0
        result = nib.load(str(tmp_path / name / "t2_denoised.nii.gz")).get_fdata()
        assert result.shape == (24, 20, 4) and np.isfinite(result).all()
    capsys.readouterr()
    blind = nib.load(str(tmp_path / "blind" / "t2_denoised.nii.gz")).get_fdata()
    known = nib.load(str(tmp_path / "known" / "t2_denoised.nii.gz")).get_fdata()
    assert not np.allclose(blind, known)  # the given level reached the network


def test_a_noise_level_for_a_network_that_takes_none_is_an_error(tiny_bundle, tmp_path, capsys):
    config = json.loads((tiny_bundle / "configs" / "common.json").read_text())
    conv = {"_target_": "torch.nn.Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1}
    config["network_def"] = {"_target_": "monai_nad.networks.ResidualDenoiser", "network": conv}
    (tiny_bundle / "configs" / "common.json").write_text(json.dumps(config))
    torch.save(ResidualDenoiser(torch.nn.Conv2d(1, 1, 3, padding=1)).state_dict(), tiny_bundle / "models" / "model.pt")
    inputs = _inputs(tmp_path / "in")
    status = main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / "o"), "--bundle", str(tiny_bundle), "--noise-std", "3"])
    err = capsys.readouterr().err
    assert status == 2 and "does not take a noise level" in err and err.count("\n") == 1


def test_self_ensemble_reaches_the_network(tiny_bundle, tmp_path, capsys):
    inputs = _inputs(tmp_path / "in")
    for name, extra in (("one", []), ("eight", ["--self-ensemble", "8"])):
        assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / name), "--bundle", str(tiny_bundle), *extra]) == 0
    one = nib.load(str(tmp_path / "one" / "t2_denoised.nii.gz")).get_fdata()
    eight = nib.load(str(tmp_path / "eight" / "t2_denoised.nii.gz")).get_fdata()
    assert one.shape == eight.shape and not np.allclose(one, eight)
    config = json.loads((tiny_bundle / "configs" / "common.json").read_text())
    config.pop("self_ensemble")
    config["network_def"].pop("self_ensemble")
    (tiny_bundle / "configs" / "common.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["denoise", str(inputs / "t2.nii.gz"), "-o", str(tmp_path / "none"), "--bundle", str(tiny_bundle), "--self-ensemble", "2"]) == 2
    err = capsys.readouterr().err
    assert "no self-ensemble setting" in err and err.count("\n") == 1


def test_the_shipped_2d_model_averages_more_orientations_on_correlated_noise_unless_told_a_count(tmp_path):
    """The shipped inference runs the 2D model over 2 orientations, 4 where the noise is correlated; --self-ensemble K
    means K for every slice."""
    from monai_nad.inference.workflow import inference_workflow

    inputs = _inputs(tmp_path / "in")
    for given, expected in ((None, (2, 4)), (1, (1, 1)), (8, (8, 8))):
        workflow = inference_workflow([inputs / "t2.nii.gz"], tmp_path / f"out{given}", bundle=default_bundle(), self_ensemble=given)
        network = workflow.parser.get_parsed_content("network")
        assert (network.self_ensemble, network.correlated_self_ensemble) == expected


def test_a_4d_series_is_denoised_volume_by_volume_with_its_header(tiny_bundle, tmp_path, capsys):
    """A 4D NIfTI (x, y, z, volume) comes back 4D with the same affine, header fields and scale; each volume is
    denoised on its own (the same volume alone gives the same result) with its own white level (`--noise-estimate
    level`; the default noise map reads one coil count and correlation per scan, shared by its volumes)."""
    rng = np.random.default_rng(3)
    clean = np.zeros((20, 18, 5), np.float32)
    clean[4:16, 3:15] = 600.0
    series = np.stack([np.sqrt((clean * f + rng.normal(0, s, clean.shape)) ** 2 + rng.normal(0, s, clean.shape) ** 2)
                       for f, s in ((1.0, 30.0), (0.6, 60.0), (0.8, 10.0))], axis=-1).astype(np.float32)
    affine = np.diag([1.0, 1.0, 2.5, 1.0])
    image = nib.Nifti1Image(series, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.header["pixdim"][4] = 2.2  # the repetition time of the series
    (tmp_path / "in").mkdir()
    nib.save(image, str(tmp_path / "in" / "dwi.nii.gz"))
    nib.save(nib.Nifti1Image(series[..., 1], affine), str(tmp_path / "in" / "volume1.nii.gz"))
    status = main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_bundle), "--self-ensemble", "1",
                   "--noise-estimate", "level"])
    assert status == 0, capsys.readouterr()
    result = nib.load(str(tmp_path / "out" / "dwi_denoised.nii.gz"))
    assert result.shape == series.shape
    np.testing.assert_allclose(result.affine, affine)
    assert result.header.get_xyzt_units() == ("mm", "sec") and float(result.header["pixdim"][4]) == pytest.approx(2.2)
    out = result.get_fdata()
    alone = nib.load(str(tmp_path / "out" / "volume1_denoised.nii.gz")).get_fdata()
    assert np.abs(out[..., 1] - alone).max() < 1e-3 * series.max()  # the series is one shared scale: equal up to rounding
    assert 0 < out.mean() < series.max()


def test_precision_int8_runs_the_calibrated_copy_and_needs_a_calibration(tiny_bundle, tmp_path, capsys):
    """--precision int8 with the shipped bundle: the same image as float32 within a small fraction of its range; a bundle
    without models/int8_ranges.json says so in one line."""
    from monai_nad.networks import int8_supported

    if not int8_supported():
        pytest.skip("no quantized CPU engine")
    inputs = _inputs(tmp_path / "in")
    for precision in ("float32", "int8"):
        assert main(["denoise", str(inputs / "slice.png"), "-o", str(tmp_path / precision), "--precision", precision, "--noise-std", "20"]) == 0
    out = {p: np.asarray(Image.open(next((tmp_path / p).glob("slice_denoised*"))), dtype=np.float64) for p in ("float32", "int8")}
    assert out["int8"].shape == out["float32"].shape and np.abs(out["int8"] - out["float32"]).mean() < 2.0  # 8-bit PNG levels
    capsys.readouterr()
    assert main(["denoise", str(inputs / "slice.png"), "-o", str(tmp_path / "tiny"), "--bundle", str(tiny_bundle), "--precision", "int8"]) == 2
    err = capsys.readouterr().err
    assert "int8_ranges.json" in err and err.count("\n") == 1
