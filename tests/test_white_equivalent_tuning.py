"""The scanner-noise validation loop (monai_nad.experiments.white_equivalent_tuning, scripts/tune_white_equivalent.py):
PSNR and SSIM per cell and gain, and a training run's weights scored in place of the bundle's. One small synthetic
cell stands in for the benchmark's 32 validation slabs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_nad.experiments import white_equivalent_tuning as tuning
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.transforms import scanner_noise_slice


ROOT = Path(__file__).resolve().parents[1]


def _script_main():
    spec = importlib.util.spec_from_file_location("tune_white_equivalent_script", ROOT / "scripts" / "tune_white_equivalent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _phantom(n: int = 80) -> np.ndarray:
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    img = np.where((y / 0.55) ** 2 + (x / 0.45) ** 2 <= 1, 0.6, 0.0)
    return np.where(((y + 0.18) / 0.15) ** 2 + ((x - 0.1) / 0.12) ** 2 <= 1, 1.0, img)


class _Cell:
    """A validation slab of 4 phantom slices through the filtered condition, shaped like a benchmark cell."""

    name = "phantom_asis_filtered_0.05"

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        assert split == "validation"  # the loop never reads a test slab
        samples = [scanner_noise_slice(_phantom(), z, "filtered", 0.05) for z in range(4)]
        return np.stack([s.noisy for s in samples]).astype(np.float32), np.stack([s.reference for s in samples]).astype(np.float32)


@pytest.fixture
def one_cell(monkeypatch):
    monkeypatch.setattr(tuning, "scanner_cells", lambda: [_Cell()])


def test_each_cell_and_gain_is_scored_by_psnr_and_ssim(one_cell):
    lines = []
    table = tuning.tune_white_gain([0.0, 0.7], ["2d"], log=lines.append)["2d"]
    psnr, ssim = table["cells"][_Cell.name], table["cells_ssim"][_Cell.name]
    assert set(psnr) == set(ssim) == {0.0, 0.7}
    assert all(10.0 < v < 60.0 for v in psnr.values()) and all(0.0 < v <= 1.0 for v in ssim.values())
    assert table["conditions"]["filtered"] == table["conditions"]["all"] == psnr
    assert table["conditions_ssim"]["all"] == ssim
    assert re.search(r"0\.7:\d+\.\d\d/0\.\d{3}", lines[0])
    page = tuning.render_gain_page({"2d": table}, "python scripts/tune_white_equivalent.py")
    assert re.search(r"\| all \| (\*\*)?\d+\.\d\d(\*\*)? / 0\.\d{3} \|", page)


def test_weights_are_scored_in_place_of_the_bundles(one_cell, tmp_path):
    own = tmp_path / "own.pt"
    network = shipped_models()[0]
    torch.save(network.state_dict(), own)
    changed = tmp_path / "changed.pt"
    state = {k: v.clone() for k, v in network.state_dict().items()}
    state["dt_logits"] = torch.full_like(state["dt_logits"], -6.0)  # almost no diffusion
    torch.save({"model": state}, changed)  # nested, as the training's best_model.pt
    shipped = tuning.tune_white_gain([0.7], ["2d"], log=lambda _: None)["2d"]["cells"]
    same = tuning.tune_white_gain([0.7], ["2d"], tuning.scored_networks(weights={"2d": own}), log=lambda _: None)["2d"]["cells"]
    other = tuning.tune_white_gain([0.7], ["2d"], tuning.scored_networks(weights={"2d": changed}), log=lambda _: None)["2d"]["cells"]
    assert same == shipped
    assert abs(other[_Cell.name][0.7] - shipped[_Cell.name][0.7]) > 0.1
    with pytest.raises(ValueError, match="'2d' or '3d'"):
        tuning.scored_networks(weights={"3D": own})


def test_mirror_passes_are_scored_as_denoise_runs_them(one_cell):
    """--self-ensemble K scores the models as denoise --self-ensemble K runs them, K passes for every slice: the cell's
    filtered noise is correlated, so the shipped setting runs four there (two on white noise), and naming four gives
    the shipped scores, one or two others."""
    def score(count):
        networks = None if count is None else tuning.scored_networks(self_ensemble=count)
        return tuning.tune_white_gain([0.7], ["2d"], networks, log=lambda _: None)["2d"]["cells"][_Cell.name][0.7]

    shipped = score(None)
    assert score(4) == shipped and score(2) != shipped and score(1) != shipped


def test_the_script_refuses_weights_it_cannot_read_in_one_line(tmp_path, capsys):
    main = _script_main()
    with pytest.raises(SystemExit):
        main(["--weights-2d", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "page.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "missing.pt: no such file" in err[-1] and "Traceback" not in "".join(err)
    bad = tmp_path / "bad.pt"
    torch.save({"encoder.0.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(SystemExit):
        main(["--weights-2d", str(bad), "--gains", "0.7", "--models", "2d", "--out", str(tmp_path / "page.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "bad.pt" in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "page.md").exists()


def test_the_script_refuses_diverged_weights_in_one_line(tmp_path, capsys):
    """A snapshot of a diverged training (NaN weights) that fits the network is refused, not scored as NaN."""
    from monai_nad.experiments.volume_benchmark import shipped_models

    net2d, _ = shipped_models()
    state = {k: v.clone() for k, v in net2d.state_dict().items()}
    state["encoder.0.bias"][0] = float("nan")
    nan = tmp_path / "nan.pt"
    torch.save(state, nan)
    with pytest.raises(SystemExit):
        _script_main()(["--weights-2d", str(nan), "--gains", "0.7", "--models", "2d", "--out", str(tmp_path / "page.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "nan.pt" in err[-1] and "NaN or infinite" in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "page.md").exists()


def test_several_weights_score_the_mean_of_their_weights(one_cell, tmp_path, capsys):
    """--weights-2d A B scores the mean of A's and B's weights (as --install-snapshot with both epochs installs it):
    the mean of a snapshot and itself scores as that snapshot, the mean of two different ones as neither."""
    network = shipped_models()[0]
    state = {k: v.clone() for k, v in network.state_dict().items()}
    low, high = tmp_path / "low.pt", tmp_path / "high.pt"
    torch.save({**state, "dt_logits": torch.full_like(state["dt_logits"], -6.0)}, low)
    torch.save({**state, "dt_logits": torch.full_like(state["dt_logits"], 2.0)}, high)

    def score(*paths):
        nets = tuning.scored_networks(weights={"2d": list(paths)})
        return tuning.tune_white_gain([0.7], ["2d"], nets, log=lambda _: None)["2d"]["cells"][_Cell.name][0.7]

    assert score(low, low) == score(low)
    mean = score(low, high)
    assert mean not in (score(low), score(high))
    mid = tmp_path / "mid.pt"
    torch.save({**state, "dt_logits": torch.full_like(state["dt_logits"], -2.0)}, mid)
    assert mean == pytest.approx(score(mid), abs=1e-3)
    main = _script_main()
    with pytest.raises(SystemExit):
        main(["--weights-2d", str(low), str(tmp_path / "gone.pt"), "--out", str(tmp_path / "page.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "gone.pt: no such file" in err[-1] and "Traceback" not in "".join(err)
    other = tmp_path / "other.pt"
    torch.save({"encoder.0.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(SystemExit):
        main(["--weights-2d", str(low), str(other), "--gains", "0.7", "--models", "2d", "--out", str(tmp_path / "page.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "other.pt" in err[-1] and "Traceback" not in "".join(err)
    assert not (tmp_path / "page.md").exists()


@pytest.mark.skipif(not __import__("monai_nad.networks", fromlist=["int8_supported"]).int8_supported(), reason="no quantized CPU engine")
def test_int8_copies_are_scored_beside_the_float_networks(one_cell, tmp_path, capsys):
    """--int8 scores the shipped 2D model and its int8 copy with the bundle's calibration on the same slabs and writes
    their comparison; a calibration for other weights is refused in one line before any page is written."""
    main = _script_main()
    page = tmp_path / "int8.md"
    assert main(["--gains", "0.7", "--models", "2d", "--int8", str(ROOT / "bundles/neural_pde_denoising/models/int8_ranges.json"), "--out", str(page)]) == 0
    text = page.read_text()
    row = re.search(r"\| all \| (\d+\.\d{3}) / 0\.\d{4} \| (\d+\.\d{3}) / 0\.\d{4} \| ([+-]\d+\.\d{3}) dB", text)
    assert row and abs(float(row.group(2)) - float(row.group(1)) - float(row.group(3))) < 2e-3
    assert abs(float(row.group(3))) < 0.2  # 8-bit steps cost a little, not the denoising
    stale = tmp_path / "stale.json"
    stale.write_text('{"2d": {"fingerprint": "0000", "ranges": {}}}')
    with pytest.raises(SystemExit):
        main(["--gains", "0.7", "--models", "2d", "--int8", str(stale), "--out", str(tmp_path / "other.md")])
    err = capsys.readouterr().err.strip().splitlines()
    assert "stale.json" in err[-1] and "other weights" in err[-1] and not (tmp_path / "other.md").exists()
