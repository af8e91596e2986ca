"""``scripts/train_real_scan.py``: a missing Colin27 volume is one line before anything runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import monai_nad.data.colin27 as colin27

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_real_scan_script", ROOT / "scripts" / "train_real_scan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_colin27_is_one_line_and_nothing_runs(tmp_path, monkeypatch, capsys):
    script = _script()
    monkeypatch.setenv(colin27.COLIN27_ENV, str(tmp_path / "nowhere" / "ch2.nii.gz"))
    monkeypatch.setattr(colin27, "COLIN27_SYSTEM_PATH", tmp_path / "absent.nii.gz")
    monkeypatch.setattr(colin27, "colin27_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(script, "train_real_scan", lambda *a, **k: (_ for _ in ()).throw(AssertionError("the bundle run started")))
    out = tmp_path / "run"
    assert script.main(["--max-epochs", "1", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("train_real_scan: error: Colin27") and "--download" in err
    assert not out.exists()
    # MNI alone needs no Colin27: the check passes and the run would start
    monkeypatch.setattr(script, "train_real_scan", lambda *a, **k: None)
    assert script.main(["--max-epochs", "1", "--output-dir", str(out), "--volumes", "mni", "--no-install"]) == 0


def test_simulation_margin_reaches_the_run_and_a_negative_one_is_refused(tmp_path, monkeypatch, capsys):
    """``--simulation-margin`` goes to the bundle run's options; a negative margin is one usage line, nothing runs."""
    script = _script()
    seen = []
    monkeypatch.setattr(script, "train_real_scan", lambda bundle, output, options, *a, **k: seen.append(options))
    out = tmp_path / "run"
    assert script.main(["--max-epochs", "1", "--output-dir", str(out), "--volumes", "mni", "--no-install", "--simulation-margin", "24"]) == 0
    assert seen and seen[0].simulation_margin == 24
    with pytest.raises(SystemExit) as stop:
        script.main(["--output-dir", str(tmp_path / "bad"), "--volumes", "mni", "--simulation-margin", "-3"])
    assert stop.value.code == 2
    assert "--simulation-margin must be >= 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_snapshot_interval_reaches_the_run_and_a_negative_one_is_refused(tmp_path, monkeypatch, capsys):
    """``--snapshot-interval`` goes to the bundle run's options; a negative interval is one usage line, nothing runs."""
    script = _script()
    seen = []
    monkeypatch.setattr(script, "train_real_scan", lambda bundle, output, options, *a, **k: seen.append(options))
    out = tmp_path / "run"
    assert script.main(["--max-epochs", "1", "--output-dir", str(out), "--volumes", "mni", "--no-install", "--snapshot-interval", "2"]) == 0
    assert seen and seen[0].snapshot_interval == 2
    with pytest.raises(SystemExit) as stop:
        script.main(["--output-dir", str(tmp_path / "bad"), "--volumes", "mni", "--snapshot-interval", "-1"])
    assert stop.value.code == 2
    assert "--snapshot-interval must be >= 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()
