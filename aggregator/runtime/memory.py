"""Memory in a long process: freed memory given back to the system between the phases of
a large run, and the cyclic garbage collector kept off what lives as long as the process.

CPython hands the memory of large objects (the text of 50k raw entries, once they are
cleaned) back to the C allocator, which keeps the pages for later: the next phase (the
dedupe index, built of small objects in CPython's own arenas) then grows on top of them.
glibc's malloc_trim returns those pages, which lowers a cold run's peak by about 60 MB per
10k items. Where the C library is not glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from functools import cache


def release_free_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# Cleaning a batch allocates containers by the million, nearly all freed by reference
# counting; with CPython's default of a collection every 700 net allocations, the young
# generation was collected ~1,200 times and the whole heap ~10 times per worker in a cold
# ingest of 1,000 feeds: 3.8 % of its CPU. With this, and the start-up objects frozen,
# 1.3 %. What it costs is up to this many unreachable cycles held a little longer.
YOUNG_COLLECTION_EVERY = 10_000


def settle_long_lived() -> None:
    """Once a long process (a run, a worker, the daemon) has imported and configured what
    it works with: those objects (modules, functions, clients) live as long as it does,
    so they are moved out of the collector's reach (`gc.freeze`), not traversed again by
    every full collection; and the young generation is collected less often."""
    gc.collect()  # what start-up left unreachable is not frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    # The symbols already loaded (libc's among them), not `ctypes.util.find_library`:
    # that runs `ldconfig -p` in a child process, tens of milliseconds on every run.
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: a platform with no such handle
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim
