"""Blind runs of `monai-nad denoise --noise-estimate map` read scanner noise from the air: the level as a map, the coil
count, once per scan (the default); `--noise-estimate level` keeps one white level."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_nad.cli import main
from monai_nad.transforms.scanner_noise import simulate_scanner_noise


def _head(shape=(72, 64, 8)) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    inside = (y / 0.7) ** 2 + (x / 0.65) ** 2 < 1
    image = np.where(inside, 0.6 + 0.3 * (np.abs(x) < 0.25), 0.0)
    return np.repeat(image[..., None], shape[2], axis=-1).astype(np.float64)


@pytest.mark.parametrize("coils, combination", [(1, "magnitude"), (8, "rss")])
def test_the_report_names_the_noise_and_coils_read_from_the_air(tiny_bundle, tmp_path, coils, combination):
    sample = simulate_scanner_noise(_head(), rng=np.random.default_rng(0), noise_std=0.04, coils=coils, combination=combination)
    scale = 800.0  # the scan's own units
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image((sample.noisy * scale).astype(np.float32), np.eye(4)), str(tmp_path / "in" / "scan.nii.gz"))
    report = tmp_path / "report.json"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--noise-estimate", "map", "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    truth = float(np.median(sample.noise_std_map[_head() > 0])) * scale
    assert row["noise_estimated"] is True and row["coils_estimated"] is True and row["coils"] == coils
    assert row["noise_std"] == pytest.approx(truth, rel=0.1)


def test_a_given_coil_count_and_level_are_used_as_given(tiny_bundle, tmp_path):
    sample = simulate_scanner_noise(_head(), rng=np.random.default_rng(1), noise_std=0.04, coils=8, combination="rss")
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(sample.noisy.astype(np.float32), np.eye(4)), str(tmp_path / "in" / "scan.nii.gz"))
    report = tmp_path / "report.json"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "a"), "--coils", "4", "--report", str(report), "--noise-estimate", "map", "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["coils"] == 4 and row["coils_estimated"] is False
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "b"), "--noise-std", "0.05", "--report", str(report), "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["noise_estimated"] is False and row["noise_std"] == pytest.approx(0.05, rel=1e-4)


def test_a_flat_image_without_background_is_not_read_as_many_coils(tiny_bundle, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for index in range(3):
        flat = (100 + 20 * rng.standard_normal((24, 20, 6))).clip(0).astype(np.float32)
        nib.save(nib.Nifti1Image(flat, np.eye(4)), str(tmp_path / "in" / f"flat{index}.nii.gz"))
    report = tmp_path / "report.json"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--noise-estimate", "map",
                 "--bundle", str(tiny_bundle)]) == 0
    assert [row["coils"] for row in json.loads(report.read_text())["files"]] == [1, 1, 1]


def test_the_default_blind_run_reads_the_noise_from_the_air_and_level_keeps_one_white_level(tiny_bundle, tmp_path):
    sample = simulate_scanner_noise(_head(), rng=np.random.default_rng(2), noise_std=0.04, coils=8, combination="rss")
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(sample.noisy.astype(np.float32), np.eye(4)), str(tmp_path / "in" / "scan.nii.gz"))
    report = tmp_path / "report.json"
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(report), "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert row["noise_estimated"] is True and row["coils"] == 8 and row["white_equivalent_factor"] >= 1.0
    assert main(["denoise", str(tmp_path / "in"), "-o", str(tmp_path / "level"), "--report", str(report), "--noise-estimate", "level",
                 "--bundle", str(tiny_bundle)]) == 0
    (row,) = json.loads(report.read_text())["files"]
    assert "noise_estimated" not in row and row["coils"] == 1
