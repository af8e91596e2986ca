"""The whole-volume speed line of the scanner-noise benchmark: its volumes, its ratios, its page and its command."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from monai_nad.data.real_anatomy import load_volume
from monai_nad.experiments import scanner_speed as ss
from monai_nad.transforms.scanner_noise import scanner_noise_slice

ROOT = Path(__file__).resolve().parents[1]


def test_whole_volume_has_one_scale_and_the_slab_slices_in_it(monkeypatch):
    clean = np.array(load_volume("mni")[:, :, 90:98], dtype=np.float64)  # a thin stand-in for the whole volume: fast
    clean[:, :, 0] *= 0.01  # an empty slice at the edge (maximum below 0.05)
    monkeypatch.setattr(ss, "load_volume", lambda volume: clean)
    noisy = ss.scanner_noise_volume("mni", "filtered", 0.05)
    assert noisy.shape == (*clean.shape[:2], 7) and noisy.dtype == np.float32  # the empty slice is left out
    z = 3  # slice z of the volume is the protocol's slice z (seed 2000 + z), back on the volume's scale
    sample = scanner_noise_slice(clean[:, :, z], z, "filtered", 0.05)
    np.testing.assert_allclose(noisy[:, :, z - 1], sample.noisy * clean[:, :, z].max(), rtol=1e-5, atol=1e-6)
    # one scale: the noise std of the air is about the same in every slice (Hann-filtered magnitude air: below s)
    air = noisy[:20, :20, :].reshape(-1, noisy.shape[2]).std(axis=0)
    assert np.all(air < 0.05) and np.all(air > 0.005) and air.max() / air.min() < 1.5
    sense = ss.scanner_noise_volume("mni", "sense2", 0.05)
    assert sense.shape == (clean.shape[0] - clean.shape[0] % 2, clean.shape[1], 7)
    with pytest.raises(ValueError, match="no slice"):
        ss.scanner_noise_volume("mni", "sos8", 0.05, min_slice_max=2.0)


def _rows():
    rows = []
    for condition, bm3d, mine in (("filtered", 1500.0, (75.0, 100.0, 40.0, 60.0)), ("sos8", 1300.0, (65.0, 90.0, 50.0, 55.0))):
        for (method, source), ms in zip((("neural_pde_2d", "volume"), ("neural_pde_2d", "slab"), ("neural_pde_3d", "volume"), ("neural_pde_3d", "slab")), mine):
            rows.append({"condition": condition, "method": method, "input": source, "slices": 150 if source == "volume" else 10, "ms": ms})
        rows.append({"condition": condition, "method": "bm3d_true_noise", "input": "slices", "slices": 5, "ms": bm3d})
    return rows


def test_ratios_are_bm3d_over_the_model_in_the_same_run_and_the_page_shows_them():
    summary = ss.summarise_speed(_rows())
    assert summary["by_condition"]["filtered"]["ratio_neural_pde_2d_volume"] == pytest.approx(20.0)
    assert summary["by_condition"]["sos8"]["ratio_neural_pde_2d_slab"] == pytest.approx(1300 / 90)
    assert summary["median"]["ratio_neural_pde_2d_volume"] == pytest.approx(np.median([20.0, 20.0]))
    assert summary["median"]["neural_pde_2d_slab"] == pytest.approx(95.0)
    page = ss.render_speed_page({"rows": _rows(), "machine": "test machine", "repeats": 2, "noise_std": 0.1, "volume": "colin27"}, "python scripts/benchmark_scanner_speed.py")
    assert "`python scripts/benchmark_scanner_speed.py`" in page and "test machine" in page
    assert "s = 0.1," in page and "whole Colin27 volume" in page and "median of 2 calls" in page
    assert "| filtered | 150 | 75 | 100 | 40 | 60 | 1500 | 20.0x | 15.0x | 37.5x | 25.0x |" in page
    assert "| 2D, volume | 2D, slab | volume model, volume |" in page and "int8, volume" not in page  # only the models timed
    int8 = [{**r, "method": r["method"] + "_int8", "ms": r["ms"] / 2} for r in _rows() if r["method"].startswith("neural_pde")]
    both = ss.render_speed_page({"rows": _rows() + int8, "machine": "m", "repeats": 1, "noise_std": 0.05, "volume": "mni"}, "cmd")
    assert "| 2D, volume | 2D, slab | 2D int8, volume | 2D int8, slab | volume model, volume |" in both
    assert "| filtered | 150 | 75 | 100 | 38 | 50 | 40 | 60 | 20 | 30 | 1500 | 20.0x | 15.0x | 40.0x | 30.0x | 37.5x | 25.0x | 75.0x | 50.0x |" in both


def test_script_rejects_bad_arguments_with_one_line(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_scanner_speed", ROOT / "scripts" / "benchmark_scanner_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as err:
        module.main(["--repeats", "0"])
    assert err.value.code == 2 and "--repeats" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_command_writes_its_page(tmp_path):
    spec = importlib.util.spec_from_file_location("benchmark_scanner_speed", ROOT / "scripts" / "benchmark_scanner_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--conditions", "partial_fourier", "--repeats", "1", "--bm3d-slices", "1", "--output-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "scanner_noise_speed.json").read_text())
    timed = {(r["method"], r["input"]) for r in record["rows"]}
    assert timed >= {("neural_pde_2d", "volume"), ("neural_pde_2d", "slab"), ("neural_pde_3d", "volume"), ("neural_pde_3d", "slab"), ("bm3d_true_noise", "slices")}
    assert timed <= {(m, source) for m in ss.SPEED_METHODS for source in ("volume", "slab")} | {("bm3d_true_noise", "slices")}
    assert all(r["ms"] > 0 for r in record["rows"])
    assert "--conditions partial_fourier" in (tmp_path / "scanner_noise_speed.md").read_text()
