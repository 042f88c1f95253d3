"""APScheduler wiring only: a ticking job that asks the daemon to run a cycle.

The scheduler owns no state and no policy: which sources are due is a store query plus
`policy.next_check_at` (in `pipeline`), and the cycle itself lives in `daemon`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

CYCLE_JOB_ID = "aggregator-cycle"


def start_scheduler(
    cycle: Callable[[], Awaitable[None]],
    *,
    every_seconds: float,
    jitter_seconds: float | None = None,
) -> AsyncIOScheduler:
    """Start ticking on the running event loop; the caller shuts the scheduler down.

    Jitter (default: a fifth of the period, at most a second) keeps several daemons
    started together from ticking in step.
    """
    if jitter_seconds is None:
        jitter_seconds = min(1.0, every_seconds / 5)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        cycle,
        IntervalTrigger(seconds=every_seconds, jitter=jitter_seconds),
        id=CYCLE_JOB_ID,
        # One cycle at a time; ticks missed while a long cycle ran collapse into one, and
        # a tick that is late by less than a period still runs.
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(every_seconds)),
        next_run_time=datetime.now(UTC),  # the first cycle right away
    )
    scheduler.start()
    return scheduler


def run_now(scheduler: AsyncIOScheduler) -> None:
    """Bring the next tick forward (after a SIGHUP reload)."""
    scheduler.modify_job(CYCLE_JOB_ID, next_run_time=datetime.now(UTC))
