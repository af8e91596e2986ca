"""The real-anatomy benchmark: its bar summary, its Markdown table, and the command end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_nad.experiments.quality_bar import render_markdown, summarise_bar

ROOT = Path(__file__).resolve().parents[1]


def _row(cell, method, psnr, ssim=0.9, ms=10.0, input_psnr=20.0):
    return {"cell": cell, "method": method, "psnr": psnr, "ssim": ssim, "fg_psnr": psnr - 3, "ms": ms, "input_psnr": input_psnr}


def test_summary_grades_every_line_of_the_bar():
    rows = [
        _row("mni_asis_0.05", "ours_blind", 38.0, 0.98, 40), _row("mni_asis_0.05", "ours_true_sigma", 38.1, 0.98, 40),
        _row("mni_asis_0.05", "bm3d_rc", 37.5, 0.97, 1300),
        _row("colin27_inverted_0.15", "ours_blind", 27.0, 0.85, 42), _row("colin27_inverted_0.15", "ours_true_sigma", 27.3),
        _row("colin27_inverted_0.15", "bm3d_rc", 27.6, 0.86, 1200),
        _row("mni_asis_0.005", "ours_blind", 44.0, input_psnr=44.05),
    ]
    summary = summarise_bar(rows)
    assert summary["cells_graded"] == 2 and summary["cells_blind_at_least_bm3d_rc"] == 1
    assert summary["mean_blind_minus_bm3d_rc"] == pytest.approx((0.5 - 0.6) / 2)
    assert summary["worst_abs_blind_minus_true_sigma"] == pytest.approx(0.3)
    assert summary["near_clean_output_minus_input"]["mni_asis_0.005"] == pytest.approx(-0.05)
    table = render_markdown(rows, summary, "cmd")
    assert "| blind ≥ BM3D+rc in every cell | 1 of 2 cells (worst -0.60 dB) | no |" in table
    assert "| near-clean: output ≥ input − 0.1 dB | mni_asis_0.005 -0.05 dB | yes |" in table
    assert "worst 0.300 dB | no |" in table


@pytest.mark.slow
def test_benchmark_command_quick(tmp_path):
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "benchmark_real_anatomy.py"), "--quick", "--no-v02", "--out", str(out)],
                   check=True, timeout=900, capture_output=True)
    data = json.loads(out.read_text())
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"ours_blind", "ours_true_sigma", "ours_blind_one_pass", "bm3d_rc"}  # the bundle averages 2 passes
    assert all(10 < r["psnr"] < 70 for r in data["rows"])
    assert out.with_suffix(".md").read_text().count("| mni_") >= 1


def test_pareto_front_and_method_summary():
    from monai_nad.experiments.real_anatomy_report import method_summary, pareto_front, render_page

    assert pareto_front({"fast": (10, 30.0), "slow_better": (100, 31.0), "dominated": (50, 29.0), "tie_slower": (20, 30.0)}) == ["fast", "slow_better"]
    rows = [_row("mni_asis_0.05", "a", 38.0, ms=5), _row("mni_asis_0.10", "a", 34.0, ms=7), _row("mni_asis_0.005", "a", 50.0, ms=6),
            _row("mni_asis_0.05", "b", 37.0, ms=100), _row("mni_asis_0.10", "b", 35.0, ms=90)]
    summary = method_summary(rows)
    assert summary["a"]["psnr"] == pytest.approx(36.0) and summary["a"]["cells"] == 2  # near-clean is not graded
    assert summary["a"]["ms"] == pytest.approx(6.0)
    info = {"a": {"kind": "learned", "parameters": 1234, "network_gflops": 1.5, "counted_gflops": 1.25}, "b": {"kind": "learned", "counted_gflops": 0.0}}
    page = render_page(rows, info, "cmd", "set-up text", [("cap", "fig.png")])
    assert "| a (Pareto) | learned | 36.00 |" in page and "1,234" in page and "![cap](fig.png)" in page and "set-up text" in page
    # the two FLOP rules in two columns: the network's own count where it has one, torch's counter for every network
    assert "| GFLOPs / 181×217 slice, network's count | GFLOPs / 181×217 slice, torch counter |" in page
    assert "| 1,234 | 1.5 | 1.25 |" in page and "| – | – | 0.00 |" in page
    assert "| mni_asis_0.05 | 20.00 | **38.00** | 37.00 |" in page  # the best method of a cell in bold


@pytest.mark.slow
def test_results_page_command_quick(tmp_path):
    """The real-anatomy page end to end on 3 cells x 2 slices: every method scored, figures written, one MLflow run each."""
    out = tmp_path / "page" / "real_anatomy.md"
    runs = tmp_path / "runs"  # no budget runs: the page says how to train them
    subprocess.run([sys.executable, str(ROOT / "scripts" / "real_anatomy_results.py"), "--quick", "--runs", str(runs), "--out", str(out),
                    "--classical", "gaussian", "tv"], check=True, timeout=900, capture_output=True)
    from monai_nad.experiments.real_anatomy_setup import shipped_label

    data = json.loads(out.with_suffix(".json").read_text())
    methods = {r["method"] for r in data["rows"]}
    shipped = shipped_label()  # named by the bundle's version, which its record also keeps
    assert {shipped, f"{shipped}_1pass", "neural_pde_v0.2", "diffusion_only_v0.2", "diffdenoise_student", "gaussian_rc",
            "tv_rc", "bm3d_rc"} <= methods
    assert data["methods"][shipped]["bundle_version"].startswith(shipped.removeprefix("neural_pde_v") + ".")
    assert {r["method"] for r in data["rows"] if r["cell"] == "colin27_asis_0.005"} >= {shipped, "gaussian_rc", "bm3d_rc"}  # near clean too
    assert all(10 < r["psnr"] < 70 for r in data["rows"])
    page = out.read_text()
    for network in ("dncnn", "unet", "pde", "pm_exponential", "ka", "foe_s"):
        assert f"not trained: `python scripts/train_real_scan.py --network {network} " in page
    assert "(Pareto)" in page
    assert all(data["methods"][m].get("counted_gflops", 0) > 0 for m in (shipped, "neural_pde_v0.2", "diffdenoise_student"))
    assert data["methods"][shipped].get("network_gflops", 0) > 0 and "network_gflops" not in data["methods"]["neural_pde_v0.2"]
    assert not any("gflops" in v for v in data["methods"].values())
    assert (out.parent / "real_anatomy_pareto.png").stat().st_size > 1000 and (out.parent / "real_anatomy_cortex.png").stat().st_size > 1000
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    logged = client.search_runs([client.get_experiment_by_name("real_anatomy").experiment_id])
    assert {r.info.run_name for r in logged} == {m for m in methods}


def _results_script():
    import importlib.util

    script = ROOT / "scripts" / "real_anatomy_results.py"
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_only_gives_the_committed_page_back(tmp_path):
    """The committed record renders the committed page again, byte for byte: its rows were measured with an earlier
    shipped model (other name, parameters and training than the bundle's now), which the page must keep describing."""
    shutil.copy(ROOT / "docs" / "results" / "real_anatomy.json", tmp_path)
    assert _results_script().main(["--render-only", "--out", str(tmp_path / "real_anatomy.md")]) == 0
    assert (tmp_path / "real_anatomy.md").read_text() == (ROOT / "docs" / "results" / "real_anatomy.md").read_text()
    assert (tmp_path / "real_anatomy.json").read_bytes() == (ROOT / "docs" / "results" / "real_anatomy.json").read_bytes()


def test_render_only_describes_each_row_by_its_record(tmp_path, monkeypatch):
    """--render-only takes every method's name, cost, training and note from the record, none from the bundle or the
    runs folder now: a record under the name the current bundle would get, with other numbers, keeps its numbers."""
    from monai_nad.experiments.real_anatomy_setup import shipped_label

    module = _results_script()

    def current(*_args, **_kwargs):
        raise AssertionError("--render-only read the methods from the current bundle and runs")

    monkeypatch.setattr(module, "learned_methods", current)
    shipped = shipped_label()
    rows = [_row(cell, m, psnr, ms=ms) for cell in ("mni_asis_0.05", "colin27_dim_0.10")
            for m, psnr, ms in ((shipped, 35.0, 100), ("neural_pde_budget", 34.0, 50), ("bm3d_rc", 33.0, 2000))]
    methods = {shipped: {"kind": "learned, shipped", "training": "1234 s on 2 CPU cores (3 stages)", "note": "as measured",
                         "parameters": 4321, "network_gflops": 7.0, "counted_gflops": 7.25},
               "neural_pde_budget": {"kind": "learned, budget", "training": "900 s budget, 1 thread(s), 55 iterations of 16 patches",
                                     "note": "blind, same recipe", "parameters": 4321, "counted_gflops": 3.5},
               "bm3d_rc": {"kind": "classical", "training": "true sigma, b tuned per cell on validation", "parameters": 0}}
    record = tmp_path / "real_anatomy.json"
    record.write_text(json.dumps({"command": "python scripts/real_anatomy_results.py", "rows": rows, "methods": methods}))
    assert module.main(["--render-only", "--out", str(tmp_path / "real_anatomy.md"), "--note", "bm3d_rc=one thread"]) == 0
    page = (tmp_path / "real_anatomy.md").read_text()
    assert f"| {shipped} (Pareto) | learned, shipped | 35.00 | 0.9000 | 32.00 | 100 | 4,321 | 7.0 | 7.25 | 1234 s on 2 CPU cores (3 stages) | as measured |" in page
    assert "| neural_pde_budget (Pareto) | learned, budget | 34.00 |" in page and "(900 s budget, one thread)" in page
    assert f"The shipped `{shipped}` had a longer schedule" in page and "not trained" not in page
    assert "| true sigma, b tuned per cell on validation | one thread |" in page
    saved = json.loads(record.read_text())  # the note kept; nothing else of the record changed
    assert saved["methods"]["bm3d_rc"].pop("note") == "one thread" and saved["methods"] == methods and saved["rows"] == rows
    # the page names the shipped model as the record does, whatever the bundle ships now
    renamed = {"neural_pde_v0.9" if m == shipped else m: v for m, v in methods.items()}
    record.write_text(json.dumps({"command": "c", "rows": [{**r, "method": "neural_pde_v0.9"} if r["method"] == shipped else r for r in rows],
                                  "methods": renamed}))
    assert module.main(["--render-only", "--out", str(tmp_path / "real_anatomy.md")]) == 0
    page = (tmp_path / "real_anatomy.md").read_text()
    assert "The shipped `neural_pde_v0.9` had a longer schedule" in page and f"`{shipped}`" not in page


def test_one_loop_scores_any_test_set_and_tunes_only_where_asked():
    """A cell is any test/validation pair: the loop reads the test split for every method, fits the tuned methods on
    the validation split only where the cell allows it, and its median statistic is the suites' metric code."""
    from monai_nad.experiments.evaluation import TestCell, benchmark_cells
    from monai_nad.metrics import median_scores

    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 0.8, (3, 24, 24)).astype(np.float32)
    splits = {"test": (clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32), clean),
              "validation": (clean[::-1] + 0.05, clean[::-1].copy())}
    read: list[str] = []

    def load(split):
        read.append(split)
        return splits[split]

    seen: list[tuple] = []

    def tuner(noisy_val, clean_val, noise_std):
        seen.append((noisy_val.shape, noise_std))
        return (lambda image, lv: image * 0 + 0.5), {"b": 1.0}

    halve = {"identity": lambda noisy, noise_std: (noisy, [0.001] * len(noisy))}
    rows = benchmark_cells([TestCell("a", 0.05, load), TestCell("b", 0.07, load, tuned=False)], halve, tuned={"flat": tuner},
                           bm3d=False, statistic="median", log=lambda _: None)
    assert [(r["cell"], r["method"]) for r in rows] == [("a", "identity"), ("a", "flat"), ("b", "identity")]
    assert read == ["test", "validation", "test"] and seen == [((3, 24, 24), 0.05)]
    expected = median_scores(splits["test"][0], clean)
    assert rows[0]["psnr"] == pytest.approx(expected["psnr"]) and rows[0]["input_psnr"] == pytest.approx(expected["psnr"])
    assert rows[1]["b"] == 1.0
    mean_rows = benchmark_cells([TestCell("a", 0.05, load, tuned=False)], halve, bm3d=False, log=lambda _: None)
    assert mean_rows[0]["psnr"] != pytest.approx(expected["psnr"], abs=1e-6)  # the mean is another statistic
    with pytest.raises(ValueError, match="statistic"):
        benchmark_cells([TestCell("a", 0.05, load)], halve, bm3d=False, statistic="max", log=lambda _: None)
