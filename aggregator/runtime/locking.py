"""One writer at a time: a cron `aggregator run` next to the daemon waits, then gives up.

SQLite gets a file lock beside the database file (filelock). PostgreSQL gets a session
advisory lock (`pg_advisory_lock`, waited for at most the timeout: the server hands it
to the next waiter the moment it is released) on a connection of its own, so processes
on several machines sharing one database take turns. Either way the lock goes when its
holder does: the OS releases the file lock of a dead process and the server the
advisory lock of an ended session, so a kill -9 never leaves a stale lock.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from aggregator.config import Settings
from aggregator.exceptions import StorageError
from aggregator.store import is_postgres_url, sqlite_path
from aggregator.urlparts import redact

if TYPE_CHECKING:
    from filelock import FileLock

    from aggregator.store.postgres import AdvisoryLock

_BUSY = "another aggregator process is writing to this database"


class WriterBusy(StorageError):
    """The writer lock stayed with another process for the whole timeout."""


def lock_path(db: str) -> Path:
    path = sqlite_path(db)
    return path.with_name(path.name + ".lock")


class WriterLock:
    """`with WriterLock(settings): …` for one turn. With `keep_session`, the object is
    meant for many turns (`aggregator worker`): on PostgreSQL one session serves them all,
    until `close`."""

    def __init__(
        self, settings: Settings, *, timeout: float | None = None, keep_session: bool = False
    ) -> None:
        self._db = settings.db
        self._timeout = settings.lock_timeout if timeout is None else timeout
        self._keep_session = keep_session
        self._lock: FileLock | None = None
        self._advisory: AdvisoryLock | None = None
        self._session: AdvisoryLock | None = None  # the one kept between turns

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def acquire(self, timeout: float | None = None) -> None:
        """Take the lock, waiting up to `timeout` s (by default the settings'
        `lock_timeout`; 0: only if it is free now); WriterBusy if it stayed taken."""
        timeout = self._timeout if timeout is None else timeout
        if is_postgres_url(self._db):
            self._enter_postgres(timeout)
        else:
            self._enter_file(timeout)

    def _enter_file(self, timeout: float) -> None:
        self._path = lock_path(self._db)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {self._path.parent}: {exc}") from exc
        # filelock only where SQLite is used: a PostgreSQL worker starts without it.
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(self._path))
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout:
            raise WriterBusy(
                f"{_BUSY} (lock {self._path} held for more than {timeout:g} s); try again later"
            ) from None

    def _enter_postgres(self, timeout: float) -> None:
        location = redact(self._db)
        try:
            from aggregator.store.postgres import AdvisoryLock
        except ImportError:
            raise StorageError(
                f"{location}: PostgreSQL support needs psycopg: pip install 'aggregator[postgres]'"
            ) from None
        lock = self._session or AdvisoryLock(
            self._db, location=location, keep_session=self._keep_session
        )
        if self._keep_session:
            self._session = lock
        if not lock.acquire(timeout):
            raise WriterBusy(
                f"{_BUSY} (advisory lock on {location} held for more than "
                f"{timeout:g} s); try again later"
            )
        self._advisory = lock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
        if self._advisory is not None:
            self._advisory.release()
            self._advisory = None

    def close(self) -> None:
        """End the session kept between turns (`keep_session`), if any."""
        session, self._session = self._session, None
        if session is not None:
            session.close()
