"""One writer at a time: a cron `aggregator run` next to the daemon waits, then gives up.

SQLite gets a file lock beside the database file (filelock); the lock is released by
the OS if the process dies, so a kill -9 never leaves a stale lock behind.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from aggregator.config import Settings
from aggregator.exceptions import StorageError
from aggregator.store import sqlite_path


def lock_path(db: str) -> Path:
    path = sqlite_path(db)
    return path.with_name(path.name + ".lock")


class WriterLock:
    def __init__(self, settings: Settings, *, timeout: float | None = None) -> None:
        self._db = settings.db
        self._timeout = settings.lock_timeout if timeout is None else timeout
        self._lock: FileLock | None = None

    def __enter__(self) -> WriterLock:
        self._path = lock_path(self._db)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the data folder {self._path.parent}: {exc}") from exc
        self._lock = FileLock(str(self._path))
        try:
            self._lock.acquire(timeout=self._timeout)
        except Timeout:
            raise StorageError(
                f"another aggregator process is writing to this database (lock {self._path} "
                f"held for more than {self._timeout:g} s); try again later"
            ) from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lock is not None:
            self._lock.release()
