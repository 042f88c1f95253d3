"""Leases kept alive while their holder works: a thread that renews an owner's leases
on the due sources every quarter lease, on a connection of its own (a connection is
never shared between threads). A worker's heartbeat (`runtime.worker`) and a run
(`pipeline.run_once`) both hold their leases this way, so a lease expires only once its
holder has died, however long the holder works: a short lease then frees a dead
holder's sources soon, and a long fetch or store never loses them to another process.

    with LeaseRenewal(store.reopen, owner, lease=timedelta(minutes=2), holder="run"):
        ...  # fetch, clean, store: the leases are renewed every 30 s meanwhile
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from aggregator.exceptions import StorageError
from aggregator.store import Store, now_utc

__all__ = ["LeaseRenewal"]

log = logging.getLogger(__name__)


class LeaseRenewal:
    """While in its `with` block, renews `owner`'s leases to `lease` from now every
    quarter `lease`, on a store opened by `connect` at the first renewal (a holder done
    within a quarter lease opens none); then `also(store, now)`, the holder's own beat.
    A failed renewal is retried at the next; it is a warning once the leases could
    expire before that, else only logged (a long write on SQLite keeps the renewal
    waiting for the lock, and may time it out)."""

    def __init__(
        self,
        connect: Callable[[], Store],
        owner: str,
        *,
        lease: timedelta,
        holder: str,
        also: Callable[[Store, datetime], None] | None = None,
    ) -> None:
        self._connect = connect
        self._owner = owner
        self._lease = lease
        self._holder = holder  # who holds the leases, for the log
        self._also = also
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="lease-renewal")

    def __enter__(self) -> LeaseRenewal:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join()

    def _renew_until_stopped(self) -> None:
        interval = self._lease / 4
        store: Store | None = None
        renewed = now_utc()  # the leases were taken (or last renewed) no earlier
        try:
            while not self._stopping.wait(interval.total_seconds()):
                now = now_utc()
                try:
                    if store is None:
                        store = self._connect()
                    store.renew_leases(self._owner, until=now + self._lease)
                    renewed = now
                    if self._also is not None:
                        self._also(store, now)
                except StorageError as exc:
                    at_risk = now_utc() + interval >= renewed + self._lease
                    level = logging.WARNING if at_risk else logging.INFO
                    log.log(level, "%s: heartbeat failed: %s", self._holder, exc)
        finally:
            if store is not None:
                store.close()
