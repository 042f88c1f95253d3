"""Giving freed memory back to the system between the phases of a large run.

CPython hands the memory of large objects (the text of 50k raw entries, once they are
cleaned) back to the C allocator, which keeps the pages for later: the next phase (the
dedupe index, built of small objects in CPython's own arenas) then grows on top of them.
glibc's malloc_trim returns those pages, which lowers a cold run's peak by about 60 MB per
10k items. Where the C library is not glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


def release_free_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim
