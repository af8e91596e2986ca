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


@pytest.mark.parametrize(
    "flag, attribute", [("--simulation-margin", "simulation_margin"), ("--snapshot-interval", "snapshot_interval")]
)
def test_a_count_option_reaches_the_run_and_a_negative_one_is_refused(flag, attribute, tmp_path, monkeypatch, capsys):
    """``--simulation-margin`` and ``--snapshot-interval`` go to the bundle run's options; a negative value is one
    usage line, nothing runs."""
    script = _script()
    seen = []
    monkeypatch.setattr(script, "train_real_scan", lambda bundle, output, options, *a, **k: seen.append(options))
    out = tmp_path / "run"
    assert script.main(["--max-epochs", "1", "--output-dir", str(out), "--volumes", "mni", "--no-install", flag, "24"]) == 0
    assert seen and getattr(seen[0], attribute) == 24
    with pytest.raises(SystemExit) as stop:
        script.main(["--output-dir", str(tmp_path / "bad"), "--volumes", "mni", flag, "-3"])
    assert stop.value.code == 2
    assert f"{flag} must be >= 0" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_install_snapshot_reaches_the_install_and_is_refused_without_one(tmp_path, monkeypatch, capsys):
    """``--install-snapshot N [N ...]`` is passed to the install; below 1, repeated or with ``--no-install`` it is one
    usage line."""
    script = _script()
    seen = []
    monkeypatch.setattr(script, "train_real_scan", lambda *a, **k: seen.append(k))
    assert script.main(["--max-epochs", "1", "--output-dir", str(tmp_path / "run"), "--volumes", "mni", "--install-snapshot", "4"]) == 0
    assert script.main(["--max-epochs", "1", "--output-dir", str(tmp_path / "run"), "--volumes", "mni", "--install-snapshot", "4", "6"]) == 0
    assert seen == [{"install": True, "install_snapshot": [4]}, {"install": True, "install_snapshot": [4, 6]}]
    for extra in (["--install-snapshot", "0"], ["--install-snapshot", "2", "--no-install"], ["--install-snapshot", "3", "3"]):
        with pytest.raises(SystemExit) as stop:
            script.main(["--output-dir", str(tmp_path / "bad"), "--volumes", "mni", *extra])
        assert stop.value.code == 2 and "--install-snapshot needs" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
