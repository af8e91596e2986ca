"""Keep freed memory in the process for reuse: large CPU tensors then cost no page faults.

glibc's ``malloc`` serves a large block (a feature map of a few slices is tens of MB) by mapping fresh pages from the
operating system and unmaps them when the block is freed (``mmap`` threshold), and it returns the free top of its heap
to the system (trim threshold). Each inference step allocates and frees feature maps of the same sizes, so the next
step faults the same pages in again, each one zeroed by the kernel: tens of thousands of minor page faults per call of
the 2D model on five slices, none with freed memory kept (``python scripts/heap_faults.py`` counts them and times
both). Raising both thresholds keeps freed blocks in the heap, where the next step reuses them.

This is a setting of the whole process, like :func:`torch.set_num_threads`: the bundles' inference, evaluation and
training configs apply it in ``initialize`` (so the command line and ``python -m monai.bundle run`` do), as do the
benchmarks that time them. The results do not change, only where the memory comes from (training on the CPU
allocates in the same way). The cost: the process holds on to up to :data:`RETAINED_HEAP_BYTES` of freed memory
until it exits (blocks larger than that are still mapped and unmapped as before).
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["RETAINED_HEAP_BYTES", "freed_memory_kept", "keep_freed_memory"]

#: the largest block served from the heap, and the most free memory kept at the heap's top, by :func:`keep_freed_memory`
RETAINED_HEAP_BYTES = 1 << 30

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_kept: int | None = None  # the limit set in this process, if any


def keep_freed_memory(limit: int = RETAINED_HEAP_BYTES) -> bool:
    """Make glibc's ``malloc`` keep freed blocks up to ``limit`` bytes in the process (see the module docstring).

    Calling it again is harmless. A no-op where the C library is not glibc (macOS, Windows, musl).

    Args:
        limit: the ``mmap`` and trim thresholds, in bytes (at least 128 KiB, glibc's default; at most 2**31 - 1).
            Defaults to :data:`RETAINED_HEAP_BYTES`.

    Returns:
        whether the thresholds were set (False: not glibc, or glibc refused the value).

    Raises:
        ValueError: ``limit`` not an int from 131072 to 2**31 - 1.
    """
    if isinstance(limit, bool) or int(limit) != limit or not 1 << 17 <= int(limit) <= 2**31 - 1:
        raise ValueError(f"limit must be an int from 131072 to 2147483647 bytes, got {limit!r}.")
    if not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the trim threshold first: a refused mmap threshold then still keeps the heap's top
    trim = mallopt(_M_TRIM_THRESHOLD, int(limit))
    mapped = mallopt(_M_MMAP_THRESHOLD, int(limit))
    if not (trim and mapped):
        return False
    global _kept
    _kept = int(limit)
    return True


def freed_memory_kept() -> int | None:
    """The limit :func:`keep_freed_memory` set in this process (bytes), or None where it has not."""
    return _kept


def _glibc() -> bool:
    """Whether this process runs on glibc (its ``confstr`` names it; other C libraries do not know the name)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False
