"""Training records: invocations add up, a fine-tuning keeps the record of the run it started from, installing writes both."""

from __future__ import annotations

import json

import torch

from monai_nad.engines.training_record import cpu_name, hardware_info, install_checkpoint, previous_record, recorded_path, update_record


def test_stages_chain_and_add_up(tmp_path):
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    for stage in (stage1, stage2):
        (stage / "checkpoints").mkdir(parents=True)
        torch.save({"model": {"w": torch.ones(3)}}, stage / "checkpoints" / "best_model.pt")
    first = update_record(stage1, {"wall_time_s": 100.0}, "cmd 1", stage1 / "checkpoints" / "best_model.pt", None)
    first = update_record(stage1, {"wall_time_s": 20.0}, "cmd 1 (resumed)", stage1 / "checkpoints" / "best_model.pt", None)
    assert first["total_wall_time_s"] == 120.0 and first["total_wall_time_s_all_stages"] == 120.0
    assert previous_record(None) is None
    started = previous_record(stage1 / "checkpoints" / "best_model.pt")
    second = update_record(stage2, {"wall_time_s": 30.0}, "cmd 2", stage2 / "checkpoints" / "best_model.pt", started)
    assert second["started_from"]["command"] == "cmd 1 (resumed)" and second["total_wall_time_s_all_stages"] == 150.0
    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "docs").mkdir()
    target = install_checkpoint(stage2 / "checkpoints" / "best_model.pt", bundle, second)
    installed_weights = torch.load(target, weights_only=True)
    assert installed_weights["w"].sum() == 3 and installed_weights["w"].dtype == torch.float16  # a plain state dict, half the bytes
    installed = json.loads((bundle / "docs" / "training_info_real_scan.json").read_text())
    assert installed["installed_as"] == "models/model.pt" and installed["total_wall_time_s_all_stages"] == 150.0
    # a fine-tuning from one of a run's snapshots finds that run's record, not the installed one
    snapshot = stage1 / "checkpoints" / "snapshots" / "epoch_3.pt"
    snapshot.parent.mkdir()
    torch.save({"w": torch.ones(3)}, snapshot)
    assert previous_record(snapshot, bundle / "docs" / "training_info_real_scan.json")["command"] == "cmd 1 (resumed)"
    # a fine-tuning of the installed model finds the installed record
    assert previous_record(target, bundle / "docs" / "training_info_real_scan.json")["command"] == "cmd 2"


def test_installed_half_precision_weights_give_the_float32_networks_output(tmp_path):
    """Installed in float16, the shipped network (its tiny test configuration) still computes in float32 and returns
    what the float32 weights return, to float16's precision."""
    from monai_nad.engines import load_network_weights
    from monai_nad.networks import NoiseConditionedPDE

    small = {"features": 8, "encoder_layers": 2, "refine_layers": 2, "steps": 4, "groups": 2, "detail_layers": 2, "detail_features": 4}
    torch.manual_seed(0)
    net = NoiseConditionedPDE(spatial_dims=2, **small).eval()
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    best = tmp_path / "run" / "checkpoints" / "best_model.pt"
    torch.save(net.state_dict(), best)
    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "docs").mkdir()
    target = install_checkpoint(best, bundle, {"command": "cmd"})
    assert target.stat().st_size < best.stat().st_size
    loaded = load_network_weights(NoiseConditionedPDE(spatial_dims=2, **small), target).eval()
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        reference, output = net(x, noise_std=torch.tensor([0.05])), loaded(x, noise_std=torch.tensor([0.05]))
    assert output.dtype == torch.float32
    assert float((output - reference).abs().max()) < 2e-3
    assert float((output - reference).abs().max()) > 0.0  # the weights were rounded, so this is not the same file


def test_recorded_path_is_relative_to_the_repository_or_only_a_name(tmp_path):
    repo = tmp_path / "repo"
    shipped, reproduction = repo / "bundles" / "shipped", repo / "bundles" / "reproductions" / "dd"
    assert recorded_path(repo / "runs" / "a" / "best.pt", shipped) == "runs/a/best.pt"
    assert recorded_path(repo / "docs" / "w.pt", reproduction) == "docs/w.pt"  # a reproduction lies one folder deeper
    assert recorded_path(tmp_path / "elsewhere" / "w.pt", shipped) == "w.pt"  # no machine's absolute path in a record


def _finished_run(tmp_path, monkeypatch):
    """A bundle folder, and the bundle run replaced by one that leaves a best checkpoint and snapshots of epochs 1, 2."""
    import monai_nad.engines.bundle_training as bundle_training

    bundle = tmp_path / "bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "docs").mkdir()

    def fake_run(*args, **kwargs):
        ckpt = tmp_path / "run" / "checkpoints"
        (ckpt / "snapshots").mkdir(parents=True, exist_ok=True)
        torch.save({"w": torch.full((2,), 9.0)}, ckpt / "best_model.pt")
        for epoch in (1, 2):
            torch.save({"w": torch.full((2,), float(epoch))}, bundle_training.snapshot_path(ckpt, epoch))
        return 0, 1.0

    monkeypatch.setattr(bundle_training, "run_bundle", fake_run)
    monkeypatch.setattr(bundle_training, "real_scan_command", lambda *a, **k: ())
    return bundle, bundle_training


def test_a_chosen_snapshot_is_installed_and_recorded(tmp_path, monkeypatch):
    bundle, bundle_training = _finished_run(tmp_path, monkeypatch)
    options = bundle_training.RealScanOptions(max_epochs=2)
    record, installed = bundle_training.train_real_scan(bundle, tmp_path / "run", options, "cmd", install_snapshot=2)
    assert installed == bundle / "models" / "model.pt" and torch.load(installed, weights_only=True)["w"].tolist() == [2.0, 2.0]
    written = json.loads((bundle / "docs" / "training_info_real_scan.json").read_text())
    assert written["installed_checkpoint"] == "checkpoints/snapshots/epoch_2.pt" == record["installed_checkpoint"]
    # by default the best checkpoint of the training's own validation
    _, installed = bundle_training.train_real_scan(bundle, tmp_path / "run", options, "cmd")
    assert torch.load(installed, weights_only=True)["w"].tolist() == [9.0, 9.0]
    assert json.loads((bundle / "docs" / "training_info_real_scan.json").read_text())["installed_checkpoint"] == "checkpoints/best_model.pt"
    # several epochs: the mean of their weights, kept beside the snapshots
    record, installed = bundle_training.train_real_scan(bundle, tmp_path / "run", options, "cmd", install_snapshot=[1, 2])
    assert torch.load(installed, weights_only=True)["w"].tolist() == [1.5, 1.5]
    assert record["installed_checkpoint"] == "checkpoints/snapshots/mean_epochs_1_2.pt"
    assert torch.load(tmp_path / "run" / record["installed_checkpoint"], weights_only=True)["w"].tolist() == [1.5, 1.5]


def test_a_missing_snapshot_installs_nothing(tmp_path, monkeypatch):
    bundle, bundle_training = _finished_run(tmp_path, monkeypatch)
    import pytest

    for epochs in (3, [1, 3]):
        with pytest.raises(RuntimeError, match="no snapshot of epoch 3"):
            bundle_training.train_real_scan(bundle, tmp_path / "run", bundle_training.RealScanOptions(max_epochs=2), "cmd", install_snapshot=epochs)
    assert not (bundle / "models" / "model.pt").exists() and not (bundle / "docs" / "training_info_real_scan.json").exists()


def test_averaged_weights_are_the_mean_and_refuse_other_networks(tmp_path):
    from monai_nad.engines.checkpoints import average_weights

    import pytest

    a, b, c = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    torch.save({"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(5)}, a)
    torch.save({"model": {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(7)}}, b)  # nested as a bundle checkpoint
    torch.save({"w": torch.zeros(3), "n": torch.tensor(5)}, c)
    mean = average_weights([a, b])
    assert mean["w"].tolist() == [2.0, 4.0] and mean["w"].dtype == torch.float32 and int(mean["n"]) == 5
    with pytest.raises(ValueError, match="other weights"):
        average_weights([a, c])
    with pytest.raises(ValueError, match="at least one"):
        average_weights([])


def test_cpu_name_reads_the_model_name_line_and_falls_back(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: Fake\nmodel name\t:  Fake   CPU 9000 \nflags\t: sse\n")
    assert cpu_name(info) == "Fake CPU 9000"
    info.write_text("processor\t: 0\n")
    assert cpu_name(info) and cpu_name(info) != "Fake CPU 9000"
    assert cpu_name(tmp_path / "missing")  # no such file: what platform knows
    assert hardware_info()["processor"] == cpu_name()  # a training record names the CPU's model
