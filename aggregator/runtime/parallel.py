"""Spread pure, CPU-bound work (cleaning, dedup signatures) over the machine's cores.

Parsing and cleaning run under the GIL, so threads do not help (TRAPS 12); processes do.
Small runs stay in-process: starting workers costs more than it saves. Workers are forked
only from a single-threaded process (the CLI); a process with other threads running (the
daemon) maps serially, since forking it could copy a held lock into the child.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4  # beyond this the main process (dedupe, store) is the bottleneck
_CHUNKS_AHEAD = 3  # chunks in flight per worker (see parallel_map)


def worker_count() -> int:
    return min(MAX_WORKERS, len(os.sched_getaffinity(0)))


def parallel_map(
    func: Callable[[T], R], jobs: Sequence[T], *, weight: int, min_weight: int, chunksize: int = 1
) -> list[R]:
    """`[func(j) for j in jobs]`, in worker processes when `weight` (e.g. the number of
    items behind the jobs) reaches `min_weight` and the process may fork safely."""
    workers = worker_count()
    if weight < min_weight or workers < 2 or len(jobs) < 2 or threading.active_count() > 1:
        return [func(job) for job in jobs]
    context = multiprocessing.get_context("fork")
    results: list[R] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # Executor.map would pickle every job up front and hold all those copies until
        # the workers get to them (for 50k cleaned items, a few hundred MB at once); a
        # window of a few chunks per worker keeps them busy and memory flat.
        pending: deque[Future[list[R]]] = deque()
        for start in range(0, len(jobs), chunksize):
            pending.append(pool.submit(_run_chunk, func, jobs[start : start + chunksize]))
            if len(pending) >= workers * _CHUNKS_AHEAD:
                results.extend(pending.popleft().result())
        while pending:
            results.extend(pending.popleft().result())
    return results


def _run_chunk(func: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [func(job) for job in chunk]
