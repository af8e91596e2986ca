"""User text (file names, folders, values) reaches bundle configs as data, never as code (issue 14, item 1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_nad.cli import main
from monai_nad.data import RESULTS_MARKER
from monai_nad.engines import bundle_command, data_overrides, user_value

HOSTILE_NAMES = [
    "$__import__('pathlib').Path('PWNED').touch() or 'g.nii.gz",
    "$HOME_scan.nii.gz",
    "@input_paths.nii.gz",
    "%inference.json.nii.gz",
    "q\"uo'te and space.nii.gz",
    "ünï cødé.nii.gz",
    "a@b#c$d.nii.gz",
]


def _write_inputs(folder: Path) -> list[Path]:
    folder.mkdir()
    volume = np.random.default_rng(0).uniform(0, 500, (20, 18, 3)).astype(np.float32)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / "base.nii.gz"))
    paths = []
    for name in HOSTILE_NAMES:
        target = folder / name
        shutil.copyfile(folder / "base.nii.gz", target)
        paths.append(target)
    return paths


@pytest.mark.parametrize("hostile_output", ["$__import__('pathlib').Path('PWNED_OUT').touch() or 'out'", "@output_dir", "%out"])
def test_cli_denoises_hostile_names_without_running_them(tiny_bundle, tmp_path, monkeypatch, capsys, hostile_output):
    monkeypatch.chdir(tmp_path)
    inputs = _write_inputs(tmp_path / "in")
    status = main(["denoise", *map(str, inputs), "-o", str(tmp_path / hostile_output), "--bundle", str(tiny_bundle)])
    capsys.readouterr()
    assert status == 0
    assert not list(tmp_path.rglob("PWNED*"))  # nothing was evaluated
    written = sorted(p.name for p in (tmp_path / hostile_output).iterdir() if p.name != RESULTS_MARKER)
    expected = sorted(Path(name).name.replace(".nii.gz", "_denoised.nii.gz") for name in HOSTILE_NAMES)
    assert written == expected
    assert (tmp_path / hostile_output / "$HOME_scan_denoised.nii.gz").is_file()


def test_data_overrides_return_values_unparsed():
    from monai.bundle import ConfigParser

    hostile = "$__import__('os').getcwd()"
    parser = ConfigParser({"imports": ["$import monai_nad"], "paths": ["x"], "out": "y", "n": 1})
    parser.update(data_overrides({"paths": [hostile, "@n", "%a"], "out": Path("@n"), "n": 3}))
    assert parser.get_parsed_content("paths") == [hostile, "@n", "%a"]
    assert parser.get_parsed_content("out") == "@n"
    assert parser.get_parsed_content("n") == 3
    assert user_value("out") == "@n"


def test_data_overrides_reject_odd_keys():
    with pytest.raises(ValueError, match="may only contain"):
        data_overrides({"x')+__import__('os').getcwd()+('": 1})


def test_bundle_command_passes_values_to_a_subprocess(tmp_path):
    config = tmp_path / "config.json"
    record = tmp_path / "record.json"
    config.write_text(json.dumps({
        "imports": ["$import json", "$import monai_nad"],
        "output_dir": ".", "names": [], "record": "",
        "run": ["$open(@record, 'w').write(json.dumps({'output_dir': @output_dir, 'names': @names}))"],
    }))
    hostile = {"output_dir": "$__import__('pathlib').Path('PWNED').touch() or 'x'", "names": ["@record", "%x", "$y"], "record": str(record)}
    command, env = bundle_command([config], hostile)
    assert all("PWNED" not in part for part in command)  # no user text on the command line
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(record.read_text()) == {"output_dir": hostile["output_dir"], "names": hostile["names"]}
    assert not (tmp_path / "PWNED").exists()
    assert not os.path.exists("PWNED")
