"""What keeping freed memory (:func:`~monai_nad.inference.heap.keep_freed_memory`) saves: the minor page faults and
the time of one call of the shipped 2D model, with and without it.

The setting belongs to the whole process and cannot be undone, so :func:`heap_fault_rows` runs each case in a child
process (:func:`forward_faults` there). The input is random: the faults and the time depend on the sizes, not the
values.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import torch

from monai_nad.bundle import int8_ranges_path
from monai_nad.experiments.volume_benchmark import shipped_models
from monai_nad.inference.heap import keep_freed_memory
from monai_nad.networks.quantization import int8_network, load_int8_ranges

__all__ = ["PRECISIONS", "forward_faults", "heap_fault_rows", "render_heap_faults"]

#: the precisions :func:`forward_faults` times
PRECISIONS = ("float32", "int8")

# a child process: forward_faults(precision, keep, repeats) from its arguments, the row as JSON on the last line
_CHILD = """
import json, sys
from monai_nad.experiments.heap_faults import forward_faults
print(json.dumps(forward_faults(sys.argv[1], sys.argv[2] == "keep", repeats=int(sys.argv[3]))))
"""


def forward_faults(precision: str, keep: bool, slices: int = 5, size: tuple[int, int] = (197, 233), repeats: int = 5, passes: int = 4) -> dict:
    """Time one call of the shipped 2D model on ``slices`` random slices, ``passes`` flips each, in this process.

    Args:
        precision: ``"float32"`` or ``"int8"`` (the bundle's calibration).
        keep: apply :func:`~monai_nad.inference.heap.keep_freed_memory` first.
        slices, size: the batch ``(slices, 1, *size)``.
        repeats: timed calls after one warm-up call; the median is kept.
        passes: the flips averaged (1, 2, 4 or 8): 4 as on correlated noise.

    Returns:
        ``{"precision", "keep", "kept" (whether glibc took the setting), "ms_per_slice", "faults", "peak_mb"}``: the
        median milliseconds per slice, the median minor page faults per call and the process's peak resident memory.

    Raises:
        ValueError: a precision other than those two.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    kept = keep_freed_memory() if keep else False
    torch.set_num_threads(1)
    network, _ = shipped_models(None)
    network.self_ensemble, network.correlated_self_ensemble = int(passes), None
    if precision == "int8":
        network = int8_network(network, load_int8_ranges(int8_ranges_path(None), network, "2d"))
    x = torch.rand(slices, 1, *size, generator=torch.Generator().manual_seed(0))
    times, faults = [], []
    with torch.no_grad():
        network(x, 0.05, 1)
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            network(x, 0.05, 1)
            times.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"precision": precision, "keep": keep, "kept": kept, "ms_per_slice": 1e3 * statistics.median(times) / slices, "faults": int(statistics.median(faults)),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def heap_fault_rows(precisions: Sequence[str] = PRECISIONS, repeats: int = 5) -> list[dict]:
    """:func:`forward_faults` for each precision, without and with freed memory kept, each in its own child process.

    Raises:
        ValueError: an unknown precision or ``repeats`` below 1.
        RuntimeError: a child process that failed (its last line of errors).
    """
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or int(repeats) < 1:
        raise ValueError(f"precisions must be among {PRECISIONS} and repeats at least 1, got {list(precisions)!r} and {repeats!r}.")
    rows = []
    for precision in precisions:
        for keep in ("return", "keep"):
            done = subprocess.run([sys.executable, "-c", _CHILD, precision, keep, str(int(repeats))], capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"the {precision} case with freed memory {keep!r} failed: {last}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def render_heap_faults(rows: Sequence[dict]) -> str:
    """The rows as a markdown table, with the time saved per precision."""
    lines = ["| precision | freed memory | minor page faults per call | ms per slice | peak memory (MB) |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['precision']} | {'kept' if row['kept'] else 'returned'} | {row['faults']} | {row['ms_per_slice']:.1f} | {row['peak_mb']:.0f} |")
    for precision in dict.fromkeys(r["precision"] for r in rows):
        pair = {r["keep"]: r for r in rows if r["precision"] == precision}
        if True in pair and False in pair:
            lines.append(f"\n{precision}: {pair[True]['ms_per_slice'] / pair[False]['ms_per_slice']:.2f} of the time with freed memory kept")
    return "\n".join(lines)
