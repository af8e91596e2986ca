"""The self-supervised page: one table per slab, and the issue's comparisons named by their worst cell."""

from __future__ import annotations

from monai_nad.experiments.self_supervised_report import self_supervised_section


def run(name: str, psnr: dict[str, float]) -> dict:
    metrics = {f"psnr_{c}": v for c, v in psnr.items()} | {f"ssim_{c}": 0.9 for c in psnr}
    return {"name": name, "params": {"conditions": "rician_0.05,correlated_0.5", "volumes": "mni,colin27"}, "metrics": metrics}


def test_two_slabs_give_two_tables_and_cell_margins(tmp_path):
    cells = ["rician_0.05", "correlated_0.5", "colin27_rician_0.05", "colin27_correlated_0.5"]
    runs = [
        run("blind_spot", dict(zip(cells, [30.0, 31.0, 29.0, 30.0]))),
        run("diffdenoise", dict(zip(cells, [33.0, 34.0, 29.5, 33.0]))),
        run("neural_pde_self_supervised", dict(zip(cells, [32.0, 30.0, 30.0, 31.0]))),
        run("neural_pde", dict(zip(cells, [35.0, 33.5, 34.0, 31.0]))),
    ]
    text = "\n".join(self_supervised_section(runs, tmp_path, lambda r, n: None))
    assert "## PSNR (dB) per noise condition, MNI test slices" in text
    assert "## PSNR (dB) per noise condition, Colin27 test slices" in text
    assert "| diffdenoise | 29.50 | 33.00 | 31.25 |" in text  # the Colin27 row: its own cells and mean
    assert "least +0.50 dB (colin27_rician_0.05)" in text  # SRDS over its blind-spot estimate, worst cell
    assert "ahead in 3 of 4 cells" in text and "below: colin27_rician_0.05" in text
    assert "correlated_0.5 +0.50 dB, colin27_correlated_0.5 +2.00 dB" in text


def test_the_rows_corrected_by_the_posterior_mean_are_named(tmp_path):
    cells = {"rician_0.05": 30.0}
    srds, opponent = run("diffdenoise", cells), run("neural_pde_self_supervised", cells)
    srds["params"]["post_correction"] = "rician_mean_posterior on Rician conditions, magnitude_mean_posterior on scanner conditions"
    opponent["params"]["post_correction"] = "rician_mean on Rician conditions, magnitude_mean on scanner conditions"
    text = "\n".join(self_supervised_section([srds, opponent], tmp_path, lambda r, n: None))
    assert "- `diffdenoise`: rician_mean_posterior on Rician conditions" in text
    assert "- `neural_pde_self_supervised`: rician_mean on Rician conditions, magnitude_mean on scanner" in text
    exact = "\n".join(self_supervised_section([opponent], tmp_path, lambda r, n: None))
    assert "posterior-mean signal" not in exact
