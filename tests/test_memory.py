from __future__ import annotations

import subprocess
import sys

import pytest

from aggregator.runtime import memory

# In a fresh interpreter, so that what else the test process holds cannot pin the pages.
PROBE = """
from aggregator.runtime import memory

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

# 4 KB strings come from malloc's heap (not mmap): freed, their pages stay in the process.
texts = ["x" * 4000 + str(i) for i in range(40_000)]  # ~160 MB
# Something allocated after them pins the top of the heap, as in any real process;
# without it, whether malloc gives the top back by itself depends on where the
# interpreter's own small allocations happened to land.
pin = ["y" * 4000 + str(i) for i in range(16)]
held = rss_mib()
del texts
freed = rss_mib()
memory.release_free_memory()
print(held, freed, rss_mib())
"""


def test_freed_text_goes_back_to_the_system() -> None:
    if memory._malloc_trim() is None:
        pytest.skip("the C library has no malloc_trim")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    held, freed, released = map(float, out.split())
    assert freed > held - 20  # freeing alone gives (almost) nothing back
    assert released < held - 100  # releasing does


SETTLE_PROBE = """
import gc

import aggregator.pipeline  # what a run or a worker has loaded before it starts work
from aggregator.runtime import memory

loaded = len(gc.get_objects())
memory.settle_long_lived()
frozen = gc.get_freeze_count()


class Node:
    pass


# A batch's worth of work that leaves reference cycles behind (lxml's proxies, tracebacks,
# dataclasses pointing at each other): 400,000 objects made unreachable in pairs.
for _ in range(200_000):
    a, b = Node(), Node()
    a.other, b.other = b, a
del a, b
print(loaded, frozen, len(gc.get_objects()))
"""


def test_settled_process_keeps_start_up_objects_out_of_collections_and_still_collects() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SETTLE_PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded, frozen, tracked = map(int, out.split())
    # The modules' objects are no longer traversed by each full collection ...
    assert frozen > loaded * 0.9
    # ... and the cycles the work leaves are still collected on the way, unasked: only
    # the youngest generation's worth of them is left (400,000 without a collector).
    assert tracked <= memory.YOUNG_COLLECTION_EVERY + 5_000
