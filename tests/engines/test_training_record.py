"""Training records: invocations add up, a fine-tuning keeps the record of the run it started from, installing writes both."""

from __future__ import annotations

import json

import torch

from monai_nad.engines.training_record import install_checkpoint, previous_record, update_record


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
    assert torch.load(target, weights_only=True)["w"].sum() == 3  # a plain state dict
    installed = json.loads((bundle / "docs" / "training_info_real_scan.json").read_text())
    assert installed["installed_as"] == "models/model.pt" and installed["total_wall_time_s_all_stages"] == 150.0
    # a fine-tuning of the installed model finds the installed record
    assert previous_record(target, bundle / "docs" / "training_info_real_scan.json")["command"] == "cmd 2"
