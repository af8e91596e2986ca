"""Whole volumes: the choice between the 2D and the volume model, sliding windows, anisotropic voxels, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_nad.cli import main
from monai_nad.inference import ScanInferer, choose_mode
from monai_nad.networks import SliceContextPDE

SMALL = {"features": 8, "encoder_layers": 2, "refine_layers": 2, "steps": 4, "groups": 2, "detail_layers": 2, "detail_features": 4}


def _phantom(shape, level=0.05, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    clean = (sum(g**2 for g in grid) < 0.7).astype(np.float64) * (0.5 + 0.3 * np.cos(5 * grid[0]) * np.sin(3 * grid[1]))
    return np.sqrt((clean + level * rng.standard_normal(shape)) ** 2 + (level * rng.standard_normal(shape)) ** 2).astype(np.float32)


def _trained_like(seed=0) -> SliceContextPDE:
    """A small volume model with non-zero weights everywhere (its context and heads act)."""
    torch.manual_seed(seed)
    net = SliceContextPDE(context_slices=2, **SMALL).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.add_(0.02 * torch.randn_like(module.weight))
    return net


@pytest.fixture()
def tiny_volume_bundle(tiny_bundle):
    """The tiny bundle with a volume model (``models/model_3d.pt``) of the same tiny network."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(tiny_bundle / "configs" / "common.json"), str(tiny_bundle / "configs" / "volume.json")])
    torch.manual_seed(1)
    net = parser.get_parsed_content("network_def")
    torch.save(net.state_dict(), tiny_bundle / "models" / "model_3d.pt")
    return tiny_bundle


def test_the_mode_follows_slices_and_voxel_size():
    assert choose_mode((64, 64, 40), (1.0, 1.0, 1.0)) == ("3d", 2, "")
    model, axis, reason = choose_mode((64, 64, 40), (1.0, 1.0, 5.0))
    assert (model, axis) == ("2d", 2) and "5 mm thick" in reason and "--mode 3d" in reason
    model, axis, _ = choose_mode((30, 64, 64), (4.0, 0.9, 0.9))  # sagittal thick slices: the slice axis is x
    assert (model, axis) == ("2d", 0)
    assert choose_mode((30, 64, 64), (1.2, 1.0, 1.0))[:2] == ("3d", 0)  # mildly anisotropic: still the volume model
    model, _, reason = choose_mode((64, 64, 3), None)
    assert model == "2d" and "only 3 slices" in reason
    model, _, reason = choose_mode((64, 64, 40), (1.0, 1.0, 5.0), mode="3d")  # forced, with a warning
    assert model == "3d" and "thick" in reason
    assert choose_mode((64, 64, 40), None, mode="2d", axis=0)[:2] == ("2d", 0)
    assert choose_mode((64, 64, 40), None, has_volume_network=False)[0] == "2d"
    with pytest.raises(ValueError, match="needs a volume model"):
        choose_mode((64, 64, 40), None, mode="3d", has_volume_network=False)


def test_sliding_windows_match_a_whole_volume_pass():
    """Windows smaller than the slices, overlapping and blended, give (nearly) the whole-volume result; a window as
    large as the slice gives it exactly."""
    net = _trained_like()
    x = torch.from_numpy(_phantom((72, 64, 6)))[None, None]
    with torch.no_grad():
        whole = net(x, noise_std=0.05)
        windows = ScanInferer(volume_network=net, mode="3d", roi_size=48, overlap=0.5, precision="float32")(x, None, noise_std=0.05)
        one = ScanInferer(volume_network=net, mode="3d", roi_size=512, precision="float32")(x, None, noise_std=0.05)
    torch.testing.assert_close(one, whole, rtol=0, atol=1e-6)
    difference = (windows - whole).abs()
    assert float(difference.mean()) < 2e-3 and float(difference.max()) < 0.05, (float(difference.mean()), float(difference.max()))


def test_the_slice_axis_of_anisotropic_voxels_is_the_thick_one():
    """A volume whose thick axis is x is run along x: the same as the volume turned so that x is last."""
    net = _trained_like()
    volume = _phantom((6, 40, 36))
    x = torch.from_numpy(volume)[None, None]
    turned = torch.from_numpy(np.ascontiguousarray(np.moveaxis(volume, 0, -1)))[None, None]
    inferer = ScanInferer(volume_network=net, mode="3d")
    with torch.no_grad():
        along_x = inferer(x, None, spacing=[(1.4, 1.0, 1.0)], noise_std=0.05)
        assert inferer.last_choices[0][:2] == ("3d", 0)
        reference = inferer(turned, None, noise_std=0.05)
    torch.testing.assert_close(along_x, torch.movedim(reference, -1, 2), rtol=0, atol=1e-6)


def test_a_series_runs_volume_by_volume_through_the_volume_model():
    net = _trained_like()
    a, b = _phantom((32, 28, 6), 0.05, 1), _phantom((32, 28, 6), 0.1, 2)
    series = torch.from_numpy(np.stack([a, b]))[None]  # (1, V=2, X, Y, Z)
    inferer = ScanInferer(volume_network=net, mode="3d")
    with torch.no_grad():
        both = inferer(series, None)
        alone = inferer(torch.from_numpy(b)[None, None], None)
    torch.testing.assert_close(both[:, 1:], alone, rtol=0, atol=1e-6)


def test_3d_mode_refuses_a_2d_image():
    with pytest.raises(ValueError, match="needs a volume"):
        ScanInferer(volume_network=_trained_like(), mode="3d")(torch.rand(1, 1, 16, 16), torch.nn.Identity())


def test_cli_volume_model_thick_slices_and_modes(tiny_volume_bundle, tmp_path, capfd):
    """Auto takes the volume model for a 1 mm volume and the 2D model (with a message) for 5 mm slices; --mode forces
    one; the header is kept."""
    (tmp_path / "in").mkdir()
    volume = _phantom((40, 36, 12)) * 800
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / "in" / "iso.nii.gz"))
    thick = np.diag([0.9, 0.9, 5.0, 1.0])
    nib.save(nib.Nifti1Image(volume, thick), str(tmp_path / "in" / "thick.nii.gz"))
    run = ["--bundle", str(tiny_volume_bundle), "--self-ensemble", "1"]
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "auto"), *run]) == 0
    said = capfd.readouterr()
    assert any("thick.nii.gz" in line and "5 mm thick" in line for line in (said.out + said.err).splitlines())
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "two"), "--mode", "2d", *run]) == 0
    assert main(["denoise", str(tmp_path / "in" / "iso.nii.gz"), "-o", str(tmp_path / "three"), "--mode", "3d", *run]) == 0
    auto_iso = nib.load(str(tmp_path / "auto" / "iso_denoised.nii.gz")).get_fdata()
    auto_thick = nib.load(str(tmp_path / "auto" / "thick_denoised.nii.gz"))
    np.testing.assert_allclose(auto_thick.affine, thick)
    np.testing.assert_allclose(auto_iso, nib.load(str(tmp_path / "three" / "iso_denoised.nii.gz")).get_fdata(), atol=1e-3)
    np.testing.assert_allclose(auto_thick.get_fdata(), nib.load(str(tmp_path / "two" / "thick_denoised.nii.gz")).get_fdata(), atol=1e-3)
    assert np.abs(auto_iso - nib.load(str(tmp_path / "two" / "iso_denoised.nii.gz")).get_fdata()).max() > 1e-3  # two models


def test_cli_mode_errors_are_one_line(tiny_bundle, tiny_volume_bundle, tmp_path, capsys):
    from PIL import Image

    (tmp_path / "in").mkdir()
    Image.fromarray((_phantom((32, 32)) * 200).astype(np.uint8)).save(tmp_path / "in" / "slice.png")
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bundle", str(tiny_volume_bundle), "--mode", "3d"]) == 1
    assert "needs a volume" in capsys.readouterr().out
    (tiny_bundle / "models" / "model_3d.pt").unlink()
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out2"), "--bundle", str(tiny_bundle), "--mode", "3d"]) == 2
    err = capsys.readouterr().err
    assert "model_3d.pt" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # a 256 x 256 x 160 volume through the whole inferer (about 25 s)
def test_memory_stays_bounded_on_a_large_volume(tmp_path):
    """A 256 x 256 x 160 volume (42 MB) through the volume model in chunks: the process grows by a few copies of the
    volume, not by the network's activations for every slice at once (those would take several GB)."""
    script = textwrap.dedent(
        f"""
        import json, resource, torch
        from monai_nad.inference import ScanInferer
        from monai_nad.networks import SliceContextPDE
        torch.set_num_threads(1)
        net = SliceContextPDE(context_slices=2, pixel_budget=2 * 256 * 256, **{SMALL!r}).eval()
        x = torch.rand(1, 1, 256, 256, 160)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with torch.no_grad():
            y = ScanInferer(volume_network=net, mode="3d", roi_size=192)(x, None, noise_std=0.05)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"grown_mb": (peak - base) / 1024, "volume_mb": x.numel() * 4 / 2**20, "ok": bool(torch.isfinite(y).all())}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"]
    assert result["grown_mb"] < 8 * result["volume_mb"] + 300, result


def test_bfloat16_convolutions_give_the_float32_result_to_within_rounding():
    from monai_nad.inference import inference_dtype

    net = _trained_like()
    x = torch.from_numpy(_phantom((40, 36, 8)))[None, None]
    with torch.no_grad():
        full = ScanInferer(volume_network=net, mode="3d", precision="float32")(x, None, noise_std=0.05)
        half = ScanInferer(volume_network=net, mode="3d", precision="bfloat16")(x, None, noise_std=0.05)
    assert half.dtype == torch.float32
    assert float((half - full).abs().mean()) < 2e-3
    assert inference_dtype("auto", "cuda") == torch.float32 and inference_dtype("float32") == torch.float32
    assert inference_dtype("auto") in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="precision"):
        ScanInferer(precision="float16")
