"""Experiment suites: the quick mode runs every suite end to end and `monai-nad compare` reads them from MLflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_nad.cli import main as cli_main
from monai_nad.experiments import compare_suite, latest_runs, log_method_run, sqlite_uri

ROOT = Path(__file__).resolve().parents[1]


def test_latest_run_of_each_name_wins(tmp_path):
    uri = sqlite_uri(tmp_path / "mlflow.db")
    log_method_run(uri, "demo", "method_a", {"x": 1}, {"psnr_0.1": 20.0})
    log_method_run(uri, "demo", "method_b", {"x": {"nested": 2}}, {"psnr_0.1": 25.0})
    log_method_run(uri, "demo", "method_a", {"x": 3}, {"psnr_0.1": 30.0})
    runs = latest_runs(uri, "demo")
    assert [r["name"] for r in runs] == ["method_b", "method_a"]
    assert runs[1]["metrics"]["psnr_0.1"] == 30.0 and runs[0]["params"]["x.nested"] == "2"


def test_compare_reports_a_missing_store_or_suite(tmp_path):
    with pytest.raises(ValueError, match="does not exist: run `python scripts/run_suite.py --suite comparison`"):
        compare_suite("comparison", tmp_path / "none.db", tmp_path)
    with pytest.raises(ValueError, match="unknown suite 'comparisons'"):
        compare_suite("comparisons", tmp_path / "none.db", tmp_path)
    uri = sqlite_uri(tmp_path / "mlflow.db")
    log_method_run(uri, "demo", "a", {}, {})
    with pytest.raises(ValueError, match="no MLflow experiment 'ablation'"):
        compare_suite("ablation", tmp_path / "mlflow.db", tmp_path)


@pytest.mark.slow
def test_quick_suites_end_to_end(tmp_path):
    """Every suite in quick mode (tiny budgets, 2 slices), then the tables and figures from MLflow."""
    runs = tmp_path / "suites"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_suite.py"), "--suite", "all", "--quick", "--output-dir", str(runs),
         "--budget-runs", str(tmp_path / "no_budget_runs"), "--family-runs", str(tmp_path / "no_family")],
        # about 750 s alone on a two-core Intel Xeon (float32): 900 s timed out beside other jobs; the limit is for a hang
        capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "results"
    for suite in ("comparison", "unet_baseline", "noise_sweep", "ablation", "self_supervised"):
        assert cli_main(["compare", "--suite", suite, "--store", str(runs / "mlflow.db"), "-o", str(out)]) == 0
        page = (out / f"{suite}.md").read_text()
        assert "Quick mode" in page and "from the MLflow experiment" in page
    # the logged values themselves, not only the rows: finite and positive for every method (quick-mode models are barely
    # trained), and the shipped model among the better half
    from monai_nad.experiments import latest_runs, sqlite_uri

    logged = {r["name"]: r["metrics"] for r in latest_runs(sqlite_uri(runs / "mlflow.db"), "comparison")}
    means = {}
    for name, metrics in logged.items():
        values = [v for k, v in metrics.items() if "psnr" in k and "fg" not in k]
        assert values and all(0.0 < v < 80.0 for v in values), (name, metrics)
        means[name] = sum(values) / len(values)
    assert means["neural_pde"] >= sorted(means.values())[len(means) // 2] and means["neural_pde"] > 25.0, means
    comparison = (out / "comparison.md").read_text()
    for name in ("| neural_pde |", "| unet |", "| tv+rc |", "| nlm |", "| diffdenoise_student |"):
        assert name in comparison
    assert "Standing of the Neural PDE" in comparison
    assert "| inverted (T2-like), s=0.1 |" in (out / "unet_baseline.md").read_text()
    assert "| steps_4 | `--network_def#steps 4` |" in (out / "ablation.md").read_text()
    assert "| bm3d" not in (out / "noise_sweep.md").read_text() and "| nlm+rc |" in (out / "noise_sweep.md").read_text()
    self_supervised = (out / "self_supervised.md").read_text()
    for name in ("| bm3d |", "| blind_spot |", "| diffdenoise_single |", "| diffdenoise |", "| student |", "| neural_pde_self_supervised |"):
        assert name in self_supervised
    assert "**SRDS variance**" in self_supervised and "**Distillation**" in self_supervised
    assert "per noise condition, Colin27 test slices" in self_supervised  # both slabs scored
    # an 8-coil scanner cell (noisy about 15 dB): the self-supervised model's N-coil mean inverted with the estimated map
    # and coil count; with one Rician level it kept the floor and read about the noisy input's PSNR
    ss_logged = {r["name"]: r["metrics"] for r in latest_runs(sqlite_uri(runs / "mlflow.db"), "self_supervised")}
    assert ss_logged["neural_pde_self_supervised"]["psnr_scanner_sos8_0.05"] > 20.0
    for figure in ("self_supervised_qualitative.png", "comparison_psnr.png", "comparison_qualitative.png", "comparison_conductance.png", "noise_sweep.png", "ablation.png"):
        assert (out / figure).stat().st_size > 5_000, figure


def test_classical_method_uses_the_tuned_values_and_names_missing_ones():
    import numpy as np

    from monai_nad.baselines import classical_denoise
    from monai_nad.experiments import classical_method

    tuned = {"rician": {"0.1": {"tv": {"plain": {"params": {"weight_factor": 2.0}, "psnr": 0},
                                       "rc": {"params": {"weight_factor": 1.0}, "b": 0.5, "psnr": 0}}}}}
    image = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    plain = classical_method("tv", tuned, "rician", [0.1], bias_correction=False)
    np.testing.assert_allclose(plain.denoise(image, 0.1), classical_denoise("tv", image, 0.1, weight_factor=2.0))
    rc = classical_method("tv", tuned, "rician", [0.1], bias_correction=True)
    assert rc.name == "tv+rc" and rc.params["tuned"]["0.1"] == {"weight_factor": 1.0, "b": 0.5}
    with pytest.raises(KeyError, match=r"no tuned plain parameters for tv at rician level 0.05: run .*--noise-stds 0.05 --methods tv"):
        classical_method("tv", tuned, "rician", [0.05], bias_correction=False)


def _br35h_folder(root: Path) -> Path:
    """A small folder laid out like Br35H: smooth 'anatomy' of varying sizes, RGB and grey, JPEG and PNG."""
    import numpy as np
    from PIL import Image

    for name in ("yes", "no"):
        (root / name).mkdir(parents=True)
        for i in range(12):
            yy, xx = np.mgrid[0:140 + 3 * i, 0:130 + 2 * i]
            head = ((xx - xx.mean()) / (0.45 * xx.shape[1])) ** 2 + ((yy - yy.mean()) / (0.45 * yy.shape[0])) ** 2 < 1
            image = (head * (140 + 70 * np.sin(xx / (4 + i)) * np.cos(yy / 6))).clip(0, 255).astype(np.uint8)
            if i % 2:
                Image.fromarray(np.stack([image] * 3, -1)).save(root / name / f"{name}{i}.jpg")
            else:
                Image.fromarray(image).save(root / name / f"{name}{i}.png")
    return root


def test_br35h_suite_refuses_a_missing_folder_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_suite.py"), "--data", "br35h", "--root", str(tmp_path / "absent")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "needs --root DIR, an existing Br35H-like folder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_br35h_suite_end_to_end_on_a_br35h_like_folder(tmp_path):
    """``--data br35h --root DIR``: tuned classical methods and a network trained on the folder, then the page."""
    root = _br35h_folder(tmp_path / "Br35H")
    runs = tmp_path / "suites"
    command = [sys.executable, str(ROOT / "scripts" / "run_suite.py"), "--data", "br35h", "--root", str(root), "--quick", "--output-dir", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from monai_nad.experiments import latest_runs, sqlite_uri

    logged = {r["name"]: r for r in latest_runs(sqlite_uri(runs / "mlflow.db"), "br35h")}
    assert set(logged) == {"tv", "tv+rc", "dncnn"}
    assert logged["dncnn"]["params"]["training"].startswith("Br35H train split")
    for run in logged.values():
        assert all(0.0 < run["metrics"][f"psnr_{lv}"] < 80.0 for lv in ("0.05", "0.1", "0.15"))
    assert (runs / "br35h" / "dncnn" / "checkpoints" / "best_model.pt").is_file()
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)  # the trained network is reused
    assert again.returncode == 0 and "[br35h] training" not in again.stdout
    out = tmp_path / "results"
    assert cli_main(["compare", "--suite", "br35h", "--store", str(runs / "mlflow.db"), "-o", str(out)]) == 0
    page = (out / "br35h.md").read_text()
    assert "Br35H test slices" in page and "| dncnn |" in page and "seed project's published Br35H numbers" in page


def test_compare_renders_the_benchmark_pages_from_their_records(tmp_path, capsys):
    """`monai-nad compare --suite real_anatomy|volumes` writes the committed page again from its committed record;
    without a record it says which command writes one."""
    import shutil

    from monai_nad.cli import main

    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    for page in ("real_anatomy", "volumes"):
        shutil.copy(results / f"{page}.json", tmp_path / f"{page}.json")
        if (results / f"{page}_views.png").is_file():
            shutil.copy(results / f"{page}_views.png", tmp_path)
        assert main(["compare", "--suite", page, "-o", str(tmp_path)]) == 0
        assert (tmp_path / f"{page}.md").read_text() == (results / f"{page}.md").read_text()
    assert main(["compare", "--suite", "diffusivity_family", "-o", str(tmp_path / "empty")]) == 2
    assert "python scripts/diffusivity_family_results.py" in capsys.readouterr().err


def test_a_scanner_condition_of_a_suite_is_the_benchmark_1d_cell_as_is():
    from monai_nad.experiments.scanner_benchmark import scanner_test_cell
    from monai_nad.experiments.suites import suite_condition_arrays, suite_noise

    noisy, reference = suite_condition_arrays("validation", "scanner_filtered_0.10", "colin27", limit=2)
    cell_noisy, cell_reference = scanner_test_cell("colin27", None, "filtered", 0.10).load("validation")
    assert np.array_equal(noisy, cell_noisy[:2]) and np.array_equal(reference, cell_reference[:2])  # its first slices
    assert suite_noise("scanner_sos8_0.05") == ("scanner", 0.05) and suite_noise("gamma_500") == ("gamma", 500.0)
    with pytest.raises(ValueError, match="scanner_<condition>_<noise std>"):
        suite_noise("scanner_sos8")
    with pytest.raises(ValueError, match="scanner_<condition>_<noise std> with a condition from"):
        suite_condition_arrays("test", "scanner_hann_0.05")
    with pytest.raises(ValueError, match="unknown noise condition"):
        suite_noise("hann_0.05")
