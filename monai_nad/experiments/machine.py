"""What a timing was measured on: the CPU, the threads and the precision the networks' convolutions ran in.

Times on CPUs with native bfloat16 units (AMX, AVX512-BF16), where the command line's ``--precision auto`` convolves in
bfloat16, are about half those elsewhere, so a page that reports times names the machine they came from.
"""

from __future__ import annotations

import platform

import torch

from monai_nad.engines.training_record import cpu_name
from monai_nad.inference.heap import freed_memory_kept
from monai_nad.inference.scan_inferer import inference_dtype

__all__ = ["machine_description"]


def machine_description(threads: int | None = None) -> str:
    """One line naming the CPU, the architecture, the threads, torch's version and the dtype that ``--precision auto``
    convolves in on this CPU, e.g. ``"AMD EPYC, x86_64, 1 thread(s), torch 2.13.0+cpu, convolutions in float32 (no
    native bfloat16 units)"``, and whether this process keeps freed memory
    (:func:`~monai_nad.inference.heap.keep_freed_memory`, as the command line does).

    Args:
        threads: the threads the timed code ran on (for code timed in other processes); None: the threads torch uses
            in this one.
    """
    threads = torch.get_num_threads() if threads is None else int(threads)
    dtype = inference_dtype("auto", "cpu")
    precision = "convolutions in bfloat16 (native bfloat16 units)" if dtype == torch.bfloat16 else "convolutions in float32 (no native bfloat16 units)"
    heap = ", freed memory kept (keep_freed_memory)" if freed_memory_kept() else ""
    return f"{cpu_name()}, {platform.machine()}, {threads} thread(s), torch {torch.__version__}, {precision}{heap}"
