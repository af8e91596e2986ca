"""The Colin27 loader: location, normalisation, splits, slices and the download command (no real file needed)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from monai_nad.data import colin27 as colin
from monai_nad.data import COLIN27_SPLITS, colin27_path, colin27_slices, load_colin27, shift_contrast


def _write_volume(path, shape=(12, 14, 160), seed=0):
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 256, size=shape).astype(np.uint8)
    volume[:3] = 0  # some air
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(path))
    return volume


@pytest.fixture()
def fake_colin(tmp_path, monkeypatch):
    path = tmp_path / "ch2.nii.gz"
    raw = _write_volume(path)
    monkeypatch.setenv(colin.COLIN27_ENV, str(path))
    load_colin27.cache_clear()
    yield path, raw
    load_colin27.cache_clear()


@pytest.fixture()
def nowhere(tmp_path, monkeypatch):
    """No Colin27 anywhere: the env var unset, the system path and the cache empty."""
    monkeypatch.delenv(colin.COLIN27_ENV, raising=False)
    monkeypatch.setattr(colin, "COLIN27_SYSTEM_PATH", tmp_path / "system" / "ch2.nii.gz")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    load_colin27.cache_clear()
    yield tmp_path
    load_colin27.cache_clear()


def test_env_var_is_used_and_volume_is_normalised(fake_colin):
    path, raw = fake_colin
    assert colin27_path() == path
    volume = load_colin27()
    expected = np.clip(raw.astype(np.float32) / np.float32(np.percentile(raw.astype(np.float32), 99.5)), 0, 1)
    assert volume.dtype == np.float32 and volume.shape == raw.shape
    np.testing.assert_allclose(volume, expected, rtol=1e-6)
    assert volume.max() == 1.0 and (volume == 1.0).mean() > 0.001  # the top 0.5 % is clipped
    assert load_colin27() is volume  # cached
    with pytest.raises(ValueError):
        volume[0, 0, 0] = 0.5


def test_splits_are_those_of_the_benchmark():
    assert COLIN27_SPLITS["train"] == tuple(range(30, 80)) + tuple(range(100, 150))
    assert COLIN27_SPLITS["validation"] == tuple(range(80, 90))
    assert COLIN27_SPLITS["test"] == tuple(range(90, 100))
    sets = [set(v) for v in COLIN27_SPLITS.values()]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_slices_follow_the_mni_layout(fake_colin):
    volume = load_colin27()
    test = colin27_slices("test")
    assert len(test) == 10 and test[0]["id"] == "colin27_test_z090" and test[0]["z"] == 90
    assert test[0]["image"].shape == (1, 12, 14) and test[0]["image"].dtype == np.float32
    np.testing.assert_array_equal(test[4]["image"][0], volume[:, :, 94])
    inverted = colin27_slices("validation", "inverted")
    assert inverted[0]["id"] == "colin27_validation_inverted_z080"
    np.testing.assert_array_equal(inverted[0]["image"], shift_contrast(volume[None, :, :, 80], "inverted"))
    np.testing.assert_allclose(colin27_slices("test", "dim")[2]["image"], 0.3 * test[2]["image"], rtol=1e-6)
    assert len(colin27_slices("train")) == 100
    with pytest.raises(ValueError, match="unknown split"):
        colin27_slices("val")
    with pytest.raises(ValueError, match="unknown shift"):
        colin27_slices("test", "bright")


def test_missing_file_names_the_places_and_the_command(nowhere, monkeypatch):
    monkeypatch.setenv(colin.COLIN27_ENV, str(nowhere / "missing.nii.gz"))
    with pytest.raises(FileNotFoundError) as err:
        load_colin27()
    message = str(err.value)
    assert "python -m monai_nad.data.colin27 --download" in message
    assert "missing.nii.gz" in message and str(nowhere / "cache") in message and "\n" not in message
    assert colin.main([]) == 1


def test_cache_is_found_and_download_is_idempotent(nowhere, monkeypatch, capsys):
    cached = nowhere / "cache" / "monai_nad" / "mricron" / "usr" / "share" / "mricron" / "templates" / "ch2.nii.gz"
    cached.parent.mkdir(parents=True)
    _write_volume(cached)
    assert colin27_path() == cached

    def no_subprocess(*args, **kwargs):
        raise AssertionError("nothing must be downloaded when the file is cached")

    monkeypatch.setattr(colin.subprocess, "run", no_subprocess)
    assert colin.download_colin27() == cached
    assert colin.main(["--download"]) == 0
    assert capsys.readouterr().out.strip() == str(cached)


def test_download_without_apt_get_fails_clearly(nowhere, monkeypatch, capsys):
    monkeypatch.setattr(colin.shutil, "which", lambda tool: None)
    with pytest.raises(RuntimeError, match="apt-get not found"):
        colin.download_colin27()
    assert colin.main(["--download"]) == 1
    assert "apt-get not found" in capsys.readouterr().err


def test_failed_apt_get_download_fails_clearly(nowhere, monkeypatch):
    import subprocess

    monkeypatch.setattr(colin.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    failed = subprocess.CompletedProcess(["apt-get"], 100, stdout="", stderr="E: Unable to locate package mricron-data\n")
    monkeypatch.setattr(colin.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(RuntimeError, match="Unable to locate package"):
        colin.download_colin27()
