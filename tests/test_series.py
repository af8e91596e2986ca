"""A diffusion series denoised as a series (monai_nad.inference.series): the local low-rank step, the floor removal,
and the command line's path for a 4D NIfTI with .bval/.bvec beside it (header and 4D shape kept)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_nad.inference import ScanInferer
from monai_nad.inference.series import SeriesDenoiser, local_low_rank, patch_radius_for
from monai_nad.transforms.noise import _chi_mean, magnitude_mean_inversion


def _low_rank_series(shape: tuple[int, int, int] = (24, 22, 8), volumes: int = 12, sigma: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean series of rank 3 inside a box with air around it, and its Rician magnitude ``(V, X, Y, Z)``."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij"))
    maps = np.stack([0.6 + 0.2 * np.sin(3 * grid[0]), 0.3 * grid[1], 0.2 * np.cos(4 * grid[2])])  # (3, X, Y, Z)
    weights = rng.uniform(0.3, 1.0, (volumes, 3))
    clean = np.einsum("vk,kxyz->vxyz", weights, maps)
    box = np.zeros(shape, dtype=bool)
    box[4:-4, 4:-4, :] = True
    clean = np.where(box, clean, 0.0).astype(np.float32)
    noisy = np.sqrt((clean + sigma * rng.standard_normal(clean.shape)) ** 2 + (sigma * rng.standard_normal(clean.shape)) ** 2)
    return clean, noisy.astype(np.float32)


def test_patch_radius_and_the_low_rank_step():
    assert patch_radius_for(66) == 2 and patch_radius_for(300) == 3 and patch_radius_for(2) == 2
    clean, noisy = _low_rank_series()
    low = local_low_rank(torch.from_numpy(noisy), radius=2, stride=2, batch_values=20_000)  # many small batches
    assert low.denoised.shape == noisy.shape and low.sigma.shape == noisy.shape[1:] and low.denoised.dtype == torch.float32
    inside = clean[0] > 0
    before = np.sqrt(np.mean((noisy - clean)[:, inside] ** 2))
    after = np.sqrt(np.mean((low.denoised.numpy() - clean)[:, inside] ** 2))
    assert after < 0.6 * before
    assert 0.035 < float(low.sigma[inside].median()) < 0.06  # the Marchenko-Pastur estimate of sigma = 0.05
    assert float(low.kept[inside].mean()) < 0.5


def test_batches_of_patches_bound_memory_without_changing_the_result():
    _, noisy = _low_rank_series(shape=(20, 20, 6), volumes=30)
    x = torch.from_numpy(noisy)
    whole = local_low_rank(x, radius=2, stride=2, batch_values=10**9)  # one batch
    small = local_low_rank(x, radius=2, stride=2, batch_values=125 * 30 * 3)  # three patches a batch
    torch.testing.assert_close(small.denoised, whole.denoised, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(small.sigma, whole.sigma, rtol=1e-4, atol=1e-6)


def test_the_floor_removal_inverts_the_chi_mean():
    for coils in (1, 4):
        a = np.array([0.0, 0.5, 1.0, 3.0, 10.0, 60.0])
        mean = torch.as_tensor(_chi_mean(a, coils) * 0.05)
        back = magnitude_mean_inversion(mean, 0.05, coils).numpy() / 0.05
        np.testing.assert_allclose(back[1:], a[1:], rtol=2e-2)
        assert back[0] < 0.05
    assert torch.equal(magnitude_mean_inversion(torch.ones(3), 0.0), torch.ones(3))  # no noise: nothing to undo


class _Identity(torch.nn.Module):
    """A stand-in volume model that takes a noise level and returns its input."""

    def forward(self, x: torch.Tensor, noise_std=None, coils=1) -> torch.Tensor:
        return x


def test_the_inferer_denoises_a_diffusion_series_as_a_series():
    clean, noisy = _low_rank_series()
    inferer = ScanInferer(volume_network=_Identity(), mode="3d")
    x = torch.from_numpy(noisy)[None]
    out = inferer(x, _Identity(), diffusion=[True])
    assert out.shape == x.shape and inferer.last_choices[0][0] == "series+3d"
    inside = clean[0] > 0
    assert np.mean((out[0].numpy() - clean)[:, inside] ** 2) < 0.4 * np.mean((noisy - clean)[:, inside] ** 2)
    plain = inferer(x, _Identity())  # not recognised: volume by volume (here the identity)
    assert inferer.last_choices[0][0] == "3d" and torch.equal(plain, x)
    series = SeriesDenoiser(None)
    series(torch.from_numpy(noisy))
    assert series.last["noise_from"] == "air" and series.last["coils"] == 1 and abs(series.last["noise_std"] - 0.05) < 0.01


def test_monai_nad_denoise_keeps_the_header_and_4d_shape_of_a_series(tiny_bundle, tmp_path):
    from monai_nad.cli import main

    _, noisy = _low_rank_series()
    folder = tmp_path / "in"
    folder.mkdir()
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-20.0, 10.0, 5.0)
    image = nib.Nifti1Image(np.moveaxis(noisy, 0, -1) * 1000, affine)
    image.header.set_xyzt_units("mm", "sec")
    nib.save(image, str(folder / "dwi.nii.gz"))
    np.savetxt(folder / "dwi.bval", np.array([[0, 0] + [1000] * 10]), fmt="%g")
    np.savetxt(folder / "dwi.bvec", np.vstack([np.zeros((2, 3)), np.eye(3)[np.arange(10) % 3]]).T, fmt="%g")
    report = tmp_path / "report.json"
    assert main(["denoise", str(folder), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["status"] == "written" and row["model"].startswith("series+")
    result = nib.load(row["output"])
    assert result.shape == image.shape and np.allclose(result.affine, affine)
    assert result.header.get_xyzt_units() == ("mm", "sec")
    assert np.all(np.isfinite(result.get_fdata()))


class _CountingModel(torch.nn.Module):
    """Returns its input; counts the volumes it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor, noise_std=None, coils=1) -> torch.Tensor:
        self.calls += 1
        return x


@pytest.mark.parametrize("sigma, runs", [(0.05, True), (0.0005, False)])
def test_the_model_is_not_told_a_level_below_what_it_learnt_from(sigma, runs):
    """A nearly noiseless series leaves the model so little noise to remove that it is below its training range
    (MIN_MODEL_LEVEL of the intensity scale): the series path then keeps the low-rank result."""
    _, noisy = _low_rank_series(sigma=sigma)
    model = _CountingModel()
    series = SeriesDenoiser(model)
    series(torch.from_numpy(noisy), noise_std=sigma, coils=1)
    assert (model.calls == noisy.shape[0]) is runs and series.last["model_volumes"] == model.calls
