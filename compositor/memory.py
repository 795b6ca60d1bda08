"""How a rendering process's memory allocator should behave.

A render allocates and frees the same large arrays every time (the artwork
placed and warped, the formula's terms: tens of MB each at 2000 px). With
glibc's defaults each block that large is mapped from the kernel and unmapped
when freed, and freed heap is trimmed back, so every render pays page faults to
get zeroed pages again. Keeping freed memory for the next render instead
(`keep_freed_memory`), measured on the 4000 px demo plan in a fresh process,
1 thread, 40 renders of mixed sizes: 500 px 15.1 -> 7.8 ms, 1000 px 16.6 ->
9.2 ms, 2000 px 55.7 -> 38.2 ms, 4000 px 221 -> 156 ms (p50). The price is a
resident size that stays near its peak (790 MB after those renders, against a
728 MB peak and 454 MB after with the defaults).
"""
from __future__ import annotations

import ctypes
import os

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap (reused) rather than fresh mappings...
MMAP_THRESHOLD = 1 << 30
# ...and the heap is only given back when this much lies free at its top.
TRIM_THRESHOLD = 1 << 30

ENV_SWITCH = "MOCKFARM_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Make this process keep freed memory for reuse; True when applied.

    A no-op (False) when MOCKFARM_KEEP_FREED_MEMORY is "0" or the C library
    has no mallopt (not glibc). Affects allocations made after the call.
    """
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
