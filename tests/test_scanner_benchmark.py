"""BENCHMARK 1d in the one loop: its cells, its anchors, its page and its command."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_nad.data.real_anatomy import real_anatomy_cell
from monai_nad.experiments import scanner_benchmark as sb
from monai_nad.experiments.evaluation import TestCell as Cell, benchmark_cells
from monai_nad.transforms.scanner_noise import scanner_noise_slice

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "benchmark_scanner_noise.py"


def _script():
    spec = importlib.util.spec_from_file_location("benchmark_scanner_noise", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_32_cells_in_a_fixed_order():
    cells = sb.scanner_cells()
    names = [c.name for c in cells]
    assert len(names) == len(set(names)) == 32
    assert names[:2] == ["mni_asis_filtered_0.05", "mni_asis_filtered_0.10"] and names[-1] == "colin27_inverted_sense2_0.10"
    assert all(c.tuned and c.side is not None and c.noise_std in (0.05, 0.10) for c in cells)
    assert [c.name for c in sb.select_cells(["*_sos8_0.10"])] == ["mni_asis_sos8_0.10", "mni_inverted_sos8_0.10", "colin27_asis_sos8_0.10",
                                                                   "colin27_inverted_sos8_0.10"]
    with pytest.raises(ValueError, match="no cell matches"):
        sb.select_cells(["mni_dim_*"])
    with pytest.raises(ValueError, match="contrast"):
        sb.scanner_test_cell("mni", "dim", "filtered", 0.05)


def test_cell_slices_are_1c_clean_slices_through_the_protocol_deterministically():
    cell = sb.scanner_test_cell("mni", "inverted", "sense2", 0.10)
    noisy, reference = cell.load("test")
    side = cell.side("test")
    _, clean, zs = real_anatomy_cell("mni", "inverted", 0.10, "test")
    rows = clean.shape[1] - clean.shape[1] % 2  # sense2 cuts an odd length along axis 0
    assert noisy.shape == reference.shape == (10, rows, clean.shape[2]) and noisy.dtype == np.float32
    assert [n.z for n in side] == list(zs) == list(range(90, 100)) and all(n.std_map.shape == noisy.shape[1:] for n in side)
    assert not side[0].stationary and side[0].coils == 1.0 and np.ptp(side[0].std_map) > 0  # the g-factor varies
    # the reference of sense2 is the clean 1c slice itself, divided by its maximum
    np.testing.assert_allclose(reference[3], clean[3, :rows] / clean[3, :rows].max(), atol=1e-5)
    sample = scanner_noise_slice(clean[3], int(zs[3]), "sense2", 0.10)
    np.testing.assert_array_equal(noisy[3], sample.noisy.astype(np.float32))
    # same cell again (simulated afresh): identical stacks; another slice: other noise
    sb._simulated.cache_clear()
    again, _ = sb.scanner_test_cell("mni", "inverted", "sense2", 0.10).load("test")
    np.testing.assert_array_equal(again, noisy)
    bright = (reference[0] > 0.3) & (reference[1] > 0.3)  # there the magnitude's noise is the real channel's, unbiased
    e0, e1 = (noisy[0] - reference[0])[bright], (noisy[1] - reference[1])[bright]
    assert abs(np.corrcoef(e0, e1)[0, 1]) < 0.05 and np.std(e0) > 0.05
    validation = sb.scanner_test_cell("mni", "inverted", "sense2", 0.10)
    assert [n.z for n in validation.side("validation")] == list(range(80, 90))
    filtered_noisy, filtered_ref = sb.scanner_test_cell("mni", "inverted", "filtered", 0.10).load("test")
    assert filtered_noisy.shape == filtered_ref.shape == (10, *clean.shape[1:])  # other conditions keep the slice's shape


def _phantom(n: int = 48, shift: float = 0.0) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    inside = (x / 0.8) ** 2 + (y / 0.9) ** 2 < 1
    return (inside * (0.5 + 0.3 * (np.abs(x + shift) < 0.3) + 0.2 * np.sin(6 * y))).clip(0, 1).astype(np.float32)


def _synthetic_cell(condition: str = "filtered", noise_std: float = 0.08) -> Cell:
    made = {}
    for split, zs in (("test", (0, 1)), ("validation", (2, 3))):
        samples = [scanner_noise_slice(_phantom(shift=0.1 * z), z, condition, noise_std) for z in zs]
        side = [sb.TrueNoise(z, s.noise_std_map, s.noise_psd, s.stationary, s.effective_coils, s.noise_std) for z, s in zip(zs, samples)]
        made[split] = (np.stack([s.noisy for s in samples]).astype(np.float32), np.stack([s.reference for s in samples]).astype(np.float32), side)
    return Cell(f"tiny_{condition}", noise_std, lambda split: made[split][:2], True, lambda split: made[split][2])


def test_bm3d_told_the_true_noise_beats_bm3d_told_a_wrong_white_level_in_the_loop():
    """The anchors get their side information from the cell through the one loop; the truth wins over a level half too low."""
    rows = benchmark_cells([_synthetic_cell()], {"dipy": sb.dipy_nlmeans_std_map},
                           tuned={"true": sb.bm3d_true_noise, "white_half": sb.bm3d_white_tuner((0.5,))}, bm3d=False, log=lambda _: None)
    by = {r["method"]: r for r in rows}
    assert set(by) == {"dipy", "true", "white_half"}
    assert by["true"]["psnr"] > by["white_half"]["psnr"] + 0.5 and by["true"]["psnr"] > by["true"]["input_psnr"] + 3
    assert by["dipy"]["psnr"] > by["dipy"]["input_psnr"]
    assert by["white_half"]["chosen"]["factor"] == 0.5 and "b" in by["true"]["chosen"] and by["true"]["b"] in sb.B_GRID
    # a method that needs side information on a cell without it: one clear error
    plain = Cell("plain", 0.05, _synthetic_cell().load)
    with pytest.raises(ValueError, match="side information"):
        benchmark_cells([plain], {"dipy": sb.dipy_nlmeans_std_map}, bm3d=False, log=lambda _: None)


def test_bias_correction_and_whitened_bm3d_for_nonstationary_noise():
    assert sb._bias_corrected(np.array([1.0, 0.1]), 0.1, 8, 1.0) == pytest.approx([np.sqrt(1 - 0.16), 0.0])
    cell = _synthetic_cell("sense2", 0.05)
    noisy, reference = cell.load("test")
    noise = cell.side("test")[0]
    out = sb.bm3d_told_true_noise(noisy[0], noise)
    assert out.shape == noisy[0].shape and np.isfinite(out).all()
    assert np.mean((out - reference[0]) ** 2) < np.mean((noisy[0] - reference[0]) ** 2)


def _row(cell, method, value, input_psnr=20.0):
    return {"cell": cell, "method": method, "psnr": value, "ssim": value / 40, "fg_psnr": value, "input_psnr": input_psnr, "input_ssim": 0.5,
            "ms": 2000.0 if method.startswith("bm3d") else 50.0} | ({"chosen": {"b": 1.0}, "b": 1.0} if method.startswith("bm3d") else {})


def test_page_grades_the_bar_and_render_only_reproduces_it(tmp_path):
    rows = [_row("mni_asis_filtered_0.05", "neural_pde_2d", 30.0), _row("mni_asis_filtered_0.05", "bm3d_true_noise", 31.0),
            _row("colin27_inverted_sense2_0.10", "neural_pde_2d", 28.0, 12.0), _row("colin27_inverted_sense2_0.10", "bm3d_true_noise", 26.5, 12.0)]
    summary = sb.summarise_scanner(rows)
    assert summary["blind_minus_anchor"] == {"mni_asis_filtered_0.05": pytest.approx(-1.0), "colin27_inverted_sense2_0.10": pytest.approx(1.5)}
    assert summary["by_condition"]["sense2"]["noisy"]["psnr"] == 12.0 and summary["overall"]["neural_pde_2d"]["psnr"] == 29.0
    page = sb.render_scanner_page(rows, summary, "python scripts/benchmark_scanner_noise.py --limit 1", {"limit": 1})
    assert "| blind ≥ BM3D-true in every cell | 1 of 2 cells (worst -1.00 dB) | no |" in page
    assert "| mean over the cells ≥ BM3D-true + 0.5 dB | +0.25 dB | no |" in page and "| all 32 cells graded | 2 of 32 | no |" in page
    assert "| mni_asis_filtered_0.05 | 20.00 / 0.500 | 30.00 / 0.750 | 31.00 / 0.775 | -1.00 |" in page
    assert "Produced by `python scripts/benchmark_scanner_noise.py --limit 1`" in page and "a quick run, not the benchmark" in page
    command = "python scripts/benchmark_scanner_noise.py --limit 1"
    (tmp_path / "scanner_noise.json").write_text(json.dumps({"command": command, "settings": {"limit": 1}, "rows": rows}))
    assert _script().main(["--render-only", "--output-dir", str(tmp_path)]) == 0
    assert (tmp_path / "scanner_noise.md").read_text() == page
    assert _script().main(["--render-only", "--output-dir", str(tmp_path / "missing")]) == 2
    assert "the volume model ≥ the 2D model" not in page  # no volume rows: the line is left out


def test_page_grades_the_volume_model_against_the_2d_model_in_psnr_and_names_its_worst_ssim_cell():
    rows = [_row("mni_asis_filtered_0.05", "neural_pde_2d", 30.0), _row("mni_asis_filtered_0.05", "neural_pde_3d", 31.0),
            _row("mni_asis_sos8_0.10", "neural_pde_2d", 28.0), _row("mni_asis_sos8_0.10", "neural_pde_3d", 28.5) | {"ssim": 0.5}]
    summary = sb.summarise_scanner(rows)
    assert summary["volume_minus_blind"] == {"mni_asis_filtered_0.05": pytest.approx(1.0), "mni_asis_sos8_0.10": pytest.approx(0.5)}
    page = sb.render_scanner_page(rows, summary, "python scripts/benchmark_scanner_noise.py --limit 1", {"limit": 1})
    assert ("| the volume model ≥ the 2D model (PSNR) in every cell | 2 of 2 cells (worst +0.50 dB, mean +0.75 dB); SSIM below "
            "the 2D model's by more than 0.01 in 1 cells (worst -0.200, mni_asis_sos8_0.10) | yes |") in page
    rows[3]["psnr"] = 27.9
    page = sb.render_scanner_page(rows, sb.summarise_scanner(rows), "python scripts/benchmark_scanner_noise.py", {})
    assert "| the volume model ≥ the 2D model (PSNR) in every cell | 1 of 2 cells (worst -0.10 dB" in page and page.count("| no |") >= 1


def test_same_run_speed_line_names_the_machine_of_the_command_that_timed_both():
    rows = [_row("mni_asis_filtered_0.05", "neural_pde_2d", 30.0) | {"run": 1, "machine": "Fake CPU"},
            _row("mni_asis_filtered_0.05", "bm3d_true_noise", 31.0) | {"run": 1, "machine": "Fake CPU"},
            _row("mni_asis_sos8_0.05", "neural_pde_2d", 30.0) | {"run": 0, "ms": 10.0}]
    summary = sb.summarise_scanner(rows)
    assert summary["same_run_speed"]["machine"] == "Fake CPU" and summary["same_run_speed"]["anchor_over_blind"] == pytest.approx(40.0)
    page = sb.render_scanner_page(rows, summary, "python scripts/benchmark_scanner_noise.py", {})
    assert "Same command (command 2 of the chain, 1 cells on Fake CPU): BM3D told the true noise 2000 ms per slice" in page
    for row in rows:
        row.pop("machine", None)  # rows of a record written before rows named their machine
    assert " cells): BM3D told the true noise" in sb.render_scanner_page(rows, sb.summarise_scanner(rows), "python x", {})



def test_int8_rows_are_graded_against_the_anchor_and_the_float_model_and_timed_in_the_speed_line():
    rows = [_row("mni_asis_filtered_0.05", "neural_pde_2d", 30.0) | {"run": 1}, _row("mni_asis_filtered_0.05", "bm3d_true_noise", 29.0) | {"run": 1},
            _row("mni_asis_filtered_0.05", "neural_pde_2d_int8", 29.9) | {"run": 1, "ms": 20.0},
            _row("mni_asis_sos8_0.10", "neural_pde_2d", 28.0), _row("mni_asis_sos8_0.10", "bm3d_true_noise", 28.5),
            _row("mni_asis_sos8_0.10", "neural_pde_2d_int8", 28.1)]
    summary = sb.summarise_scanner(rows)
    assert summary["int8_minus_blind"] == {"mni_asis_filtered_0.05": pytest.approx(-0.1), "mni_asis_sos8_0.10": pytest.approx(0.1)}
    assert summary["cells_int8_at_least_anchor"] == 1 and summary["same_run_speed"]["anchor_over_int8"] == pytest.approx(100.0)
    page = sb.render_scanner_page(rows, summary, "python scripts/benchmark_scanner_noise.py", {})
    assert ("| `--precision int8`: blind ≥ BM3D-true in every cell | 1 of 2 cells (worst -0.40 dB), mean +0.25 dB; against float32: "
            "mean +0.000 dB, worst -0.100 dB | no |") in page
    assert "ours 2D blind with `--precision int8` 20 ms (100.0x)" in page

@pytest.mark.slow
def test_quick_command_writes_a_page_that_names_it_and_render_only_gives_it_back(tmp_path):
    args = ["--limit", "1", "--cells", "mni_asis_filtered_0.05", "colin27_inverted_sense2_0.10", "--methods", "neural_pde_2d", "dipy_nlmeans_std_map",
            "--output-dir", str(tmp_path)]
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, timeout=600, capture_output=True, cwd=ROOT)
    data = json.loads((tmp_path / "scanner_noise.json").read_text())
    assert {(r["cell"], r["method"]) for r in data["rows"]} == {(c, m) for c in ("mni_asis_filtered_0.05", "colin27_inverted_sense2_0.10")
                                                                for m in ("neural_pde_2d", "dipy_nlmeans_std_map")}
    assert all(5 < r["psnr"] < 60 and r["ms"] > 0 and r["condition"] in ("filtered", "sense2") for r in data["rows"])
    page = (tmp_path / "scanner_noise.md").read_text()
    assert f"Produced by `python scripts/benchmark_scanner_noise.py {' '.join(args)}`" in page
    assert "not graded" in page and "scanner_noise.png" in page and (tmp_path / "scanner_noise.png").stat().st_size > 1000
    (tmp_path / "scanner_noise.md").unlink()
    subprocess.run([sys.executable, str(SCRIPT), "--render-only", "--output-dir", str(tmp_path)], check=True, timeout=120, capture_output=True, cwd=ROOT)
    assert (tmp_path / "scanner_noise.md").read_text() == page
    # --update re-runs one method and keeps the other's rows; the page names both commands
    before = {(r["cell"], r["method"]): r["psnr"] for r in data["rows"]}
    update = ["--update", "--limit", "1", "--cells", "mni_asis_filtered_0.05", "--methods", "neural_pde_2d_level", "--output-dir", str(tmp_path)]
    subprocess.run([sys.executable, str(SCRIPT), *update], check=True, timeout=600, capture_output=True, cwd=ROOT)
    after = {(r["cell"], r["method"]): r["psnr"] for r in json.loads((tmp_path / "scanner_noise.json").read_text())["rows"]}
    assert {k: v for k, v in after.items() if k in before} == before and set(after) - set(before) == {("mni_asis_filtered_0.05", "neural_pde_2d_level")}
    assert f"then python scripts/benchmark_scanner_noise.py {' '.join(update)}" in (tmp_path / "scanner_noise.md").read_text()
