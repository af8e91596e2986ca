"""The machine a timing names: the CPU's model (tests/engines/test_training_record.py), the threads and the precision of
the convolutions."""

from __future__ import annotations

import torch

from monai_nad.experiments import machine
from monai_nad.inference.scan_inferer import inference_dtype


def test_description_names_threads_torch_and_the_precision_auto_takes(monkeypatch):
    monkeypatch.setattr(machine, "cpu_name", lambda: "Fake CPU")
    text = machine.machine_description(threads=3)
    assert text.startswith("Fake CPU, ") and "3 thread(s)" in text and f"torch {torch.__version__}" in text
    expected = "bfloat16" if inference_dtype("auto", "cpu") == torch.bfloat16 else "float32"
    assert f"convolutions in {expected}" in text
    monkeypatch.setattr(machine, "inference_dtype", lambda precision, device: torch.bfloat16)
    assert "convolutions in bfloat16 (native bfloat16 units)" in machine.machine_description(threads=1)
    assert f"{torch.get_num_threads()} thread(s)" in machine.machine_description()
