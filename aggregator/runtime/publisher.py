"""`aggregator publisher`: one process publishes for every machine of a deployment.

    standby ──(lock taken)──► publish ──► wait ──(commit notified / timer)──► settle ──► publish
       ▲                                    │                                              │
       └──────────(lock lost: session gone)─┴──────────────────────────────────────────────┘

Whichever publisher holds the publisher lock publishes; the others wait for it:

* PostgreSQL: a session advisory lock (a key of its own, not the writer lock's) on a
  connection of its own, which then LISTENs on the channel every commit of stored items
  notifies (`Store._bump_version`). The server drops the lock when the holder's session
  ends (kill -9; a lost machine within about a minute: `postgres.SESSION_SETTINGS`), and
  a standby, trying every second, takes over. A holder whose lock connection drops stops
  publishing and tries to take the lock again.
* SQLite (one machine): a file lock beside the database, and the store's data version
  polled twice a second.

A wake-up is settled before publishing (`debounce`: no new commit for that long, at most
`MAX_SETTLE_FACTOR` times it), so a burst of commits gives one publish. A publish also runs
every `interval` seconds without a wake-up, as a safety net (a lost notification, a change
to sources alone); it costs one query when nothing changed. SIGTERM / SIGINT set `stopping`:
the publish in progress finishes, and the process exits.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from filelock import FileLock, Timeout

from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, StorageError
from aggregator.pipeline import publish_stage
from aggregator.publish import PublishReport
from aggregator.store import Store, is_postgres_url, now_utc, sqlite_path
from aggregator.urlparts import redact

log = logging.getLogger(__name__)

# A burst of commits that never pauses still publishes after this many debounce periods.
MAX_SETTLE_FACTOR = 10
# How often a standby tries the lock, and the longest a wait lasts before `stopping` and
# the safety-net timer are looked at again.
STEP_SECONDS = 1.0
SQLITE_POLL_SECONDS = 0.5
# After the database failed (down, restarting), before trying again.
RETRY_SECONDS = 2.0


class Leadership(Protocol):
    """The publisher lock and the wake-ups that come with holding it."""

    def acquire(self, timeout: float) -> bool:
        """Take the lock within `timeout` s (True) or not (False)."""

    def wait(self, timeout: float) -> bool:
        """True when stored items changed since the last call or within `timeout` s;
        `StorageError` when the lock is lost."""

    def release(self) -> None: ...


class SQLiteLeadership:
    """One machine: a file lock beside the database; the data version polled."""

    def __init__(self, db: str, store: Store) -> None:
        path = sqlite_path(db)
        self._lock = FileLock(str(path.with_name(path.name + ".publisher.lock")))
        self._store = store
        self._seen = ""

    def acquire(self, timeout: float) -> bool:
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            return False
        except OSError as exc:
            raise StorageError(
                f"cannot take the publisher lock {self._lock.lock_file}: {exc}"
            ) from None
        try:
            self._seen = self._store.data_version()
        except StorageError:
            self._lock.release()
            raise
        return True

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            version = self._store.data_version()
            if version != self._seen:
                self._seen = version
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(SQLITE_POLL_SECONDS, remaining))

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


def leadership_for(settings: Settings, store: Store) -> Leadership:
    if not is_postgres_url(settings.db):
        return SQLiteLeadership(settings.db, store)
    from aggregator.store.postgres import PublisherLock  # psycopg: only for PostgreSQL

    return PublisherLock(settings.db, location=redact(settings.db))


@dataclass(frozen=True, slots=True, kw_only=True)
class PublisherOptions:
    once: bool = False  # publish once (waiting for the lock up to lock_timeout), then exit
    debounce: float = 1.0  # seconds without a new commit before publishing
    interval: float = 300.0  # a publish at least this often, woken or not


class Publisher:
    """The loop of the module docstring. `publishes` counts the publishes that wrote."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        leadership: Leadership,
        options: PublisherOptions,
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.store = store
        self.leadership = leadership
        self.options = options
        self.stopping = stopping
        self.publishes = 0

    def run_once(self) -> tuple[PublishReport | None, int] | None:
        """`--once`: what was published (None: another publisher held the lock for all
        of lock_timeout)."""
        if not self.leadership.acquire(self.settings.lock_timeout):
            return None
        try:
            return self._publish()
        finally:
            self.leadership.release()

    def run(self) -> None:
        """Until `stopping`: wait for the lock, publish while holding it, and start
        over when it is lost."""
        waiting_said = False
        try:
            while not self.stopping.is_set():
                try:
                    held = self.leadership.acquire(STEP_SECONDS)
                except StorageError as exc:
                    log.warning("cannot reach the database for the publisher lock: %s", exc)
                    self.stopping.wait(RETRY_SECONDS)
                    continue
                if not held:
                    if not waiting_said:
                        log.warning("standing by: another publisher holds the publisher lock")
                        waiting_said = True
                    continue
                waiting_said = False
                log.warning("took the publisher lock: publishing to %s", self.settings.out)
                try:
                    self._lead()
                except StorageError as exc:
                    log.warning("stopped publishing: %s; taking the lock again", exc)
                    self.stopping.wait(RETRY_SECONDS)
                finally:
                    self.leadership.release()
        finally:
            self.leadership.release()  # a standby's idle connection

    def _lead(self) -> None:
        self._try_publish()  # whatever was committed while no one published
        last = time.monotonic()
        while not self.stopping.is_set():
            due_in = self.options.interval - (time.monotonic() - last)
            woken = self.leadership.wait(max(0.0, min(STEP_SECONDS, due_in)))
            if woken:
                self._settle()
            elif time.monotonic() - last < self.options.interval:
                continue
            if self.stopping.is_set():
                return  # the standby or the next start publishes what is left
            self._try_publish()
            last = time.monotonic()

    def _settle(self) -> None:
        """Wait until no commit came for `debounce` s (a burst gives one publish)."""
        debounce = self.options.debounce
        start = time.monotonic()
        quiet_from = start
        cap = start + debounce * MAX_SETTLE_FACTOR
        while not self.stopping.is_set():
            until = min(quiet_from + debounce, cap)
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            if self.leadership.wait(min(remaining, STEP_SECONDS)):
                quiet_from = time.monotonic()

    def _try_publish(self) -> None:
        """Publish; a failure that is not the database's (the output folder cannot be
        written, a bug) is logged and the next wake-up or tick tries again, as the
        daemon does. The database's errors end the lead: the lock may be gone too."""
        try:
            self._publish()
        except StorageError:
            raise
        except AggregatorError as exc:
            log.error("publish failed: %s", exc)
        except Exception:
            log.exception("publish failed unexpectedly")

    def _publish(self) -> tuple[PublishReport | None, int]:
        published, entries, warnings = publish_stage(self.settings, self.store, now=now_utc())
        for warning in warnings:
            log.warning("%s", warning)
        if published is not None:
            self.publishes += 1
            log.info(
                "publish %d: %d entries, %d files written",
                self.publishes,
                entries,
                len(published.written),
            )
        return published, entries


__all__ = [
    "Leadership",
    "Publisher",
    "PublisherOptions",
    "SQLiteLeadership",
    "leadership_for",
]
