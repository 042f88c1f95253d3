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
