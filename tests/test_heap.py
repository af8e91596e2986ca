"""Keeping freed memory (monai_nad.inference.heap): large blocks are reused without page faults, the setting is checked,
and the command line's bundle applies it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monai_nad.experiments import machine
from monai_nad.experiments.heap_faults import forward_faults, heap_fault_rows, render_heap_faults
from monai_nad.inference import heap

GLIBC = heap._glibc()  # glibc only runs on Linux here
BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "neural_pde_denoising" / "configs"
DIFFDENOISE = Path(__file__).resolve().parents[1] / "bundles" / "reproductions" / "diffdenoise" / "configs"

# a 48 MB block (above glibc's largest dynamic mmap threshold, 32 MB) written and freed four times: the last time's
# minor faults (the first ones fault the heap in)
_FAULTS = """
import resource, sys, torch
from monai_nad.inference.heap import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
for _ in range(3):
    torch.empty(12 * 2**20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.empty(12 * 2**20).fill_(1.0)
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_block_faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_a_freed_large_block_is_reused_without_page_faults():
    kept, faults = _second_block_faults("keep")
    assert kept and faults < 200
    kept, faults = _second_block_faults("return")  # glibc's default: unmapped when freed, faulted in again
    assert not kept and faults > 5000


@pytest.mark.parametrize("limit", [0, 1000, 2**31, 1.5, True, "1"])
def test_a_bad_limit_is_refused(limit):
    with pytest.raises(ValueError, match="limit must be an int"):
        heap.keep_freed_memory(limit)


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: False)
    assert heap.keep_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_the_bundles_runs_keep_freed_memory_and_timings_say_so(monkeypatch):
    for name in ("inference.json", "multi_gpu_inference.json", "train.json", "multi_gpu_train.json", "evaluate.json"):
        assert "$monai_nad.inference.keep_freed_memory()" in json.loads((BUNDLE / name).read_text())["initialize"], name
    for name in ("common.json", "inference.json"):
        assert "$monai_nad.inference.keep_freed_memory()" in json.loads((DIFFDENOISE / name).read_text())["initialize"], name
    monkeypatch.setattr(heap, "_kept", None)
    assert "freed memory kept" not in machine.machine_description(threads=1)
    assert heap.keep_freed_memory() and heap.freed_memory_kept() == heap.RETAINED_HEAP_BYTES
    assert "freed memory kept" in machine.machine_description(threads=1)


def test_the_fault_measurement_times_the_shipped_model_and_renders_the_ratio():
    row = forward_faults("float32", keep=False, slices=1, size=(32, 40), repeats=1, passes=1)
    assert row["precision"] == "float32" and row["keep"] is False and row["kept"] is False
    assert row["ms_per_slice"] > 0 and row["faults"] >= 0
    rows = [dict(row, ms_per_slice=10.0), dict(row, keep=True, kept=True, faults=0, ms_per_slice=8.0)]
    text = render_heap_faults(rows)
    assert "| float32 | returned |" in text and "| float32 | kept | 0 |" in text and "float32: 0.80 of the time" in text


def test_the_fault_measurement_refuses_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be one of"):
        forward_faults("bfloat16", keep=False)
    with pytest.raises(ValueError, match="precisions must be among"):
        heap_fault_rows(["float32", "fp8"])
    with pytest.raises(ValueError, match="repeats at least 1"):
        heap_fault_rows(["float32"], repeats=0)
