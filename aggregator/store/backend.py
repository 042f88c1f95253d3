"""What differs between the databases behind `Store`: one small adapter per database.

`Store` writes its SQL once, in the subset SQLite and PostgreSQL both speak, with sqlite3's
placeholders (``?`` and ``:name``), and reads rows by column name or position. A `Database`
runs that SQL on its connection and owns what cannot be shared: placeholder style, row
access, where the schema version is kept, how a transaction starts, which driver errors
are the user's database (wrapped into `StorageError` by `Store`) and which are our bugs.

`SQLiteDatabase` is here (sqlite3 is in the standard library); the PostgreSQL one lives in
`aggregator.store.postgres`, the only module that imports psycopg.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol

Params = Sequence[Any] | Mapping[str, Any]

# The channel a commit of stored items notifies (PostgreSQL NOTIFY; the payload is the
# store's new data version), which the publisher LISTENs on.
ITEMS_CHANNEL = "aggregator_items"


class Row(Protocol):
    """A result row: ``row["column"]`` or ``row[0]``."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Cursor(Protocol):
    """The part of a DB-API cursor `Store` uses."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """One connection to one database, in the dialect `Store` writes."""

    #: "SQLite" or "PostgreSQL", for messages.
    name: str
    #: Driver exceptions `Store` turns into `StorageError` (unless `is_bug`).
    errors: tuple[type[Exception], ...]
    #: Appended to the SELECT that picks sources to lease (`store.leases`): PostgreSQL
    #: skips the rows another worker's claim holds; SQLite's one writer needs nothing.
    skip_locked: str = ""
    #: Appended to a SELECT whose rows the same transaction then updates: PostgreSQL
    #: locks them, so no other transaction changes them in between.
    lock_rows: str = ""
    # Whether a list can be one parameter (`x = ANY(?)`): a statement of constant text
    # however many values, which the driver parses and the server plans once.
    arrays: bool = False

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement written with ``?`` or ``:name`` placeholders."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    def execute_ddl(self, statement: str) -> None:
        """Run one schema statement from `schema.MIGRATIONS` (no parameters)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Commit on success, roll back on an exception; nests."""

    def migration(self) -> AbstractContextManager[None]:
        """Held while migrations run: keeps two processes from migrating at once."""
        return nullcontext()

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Called inside the migration's transaction."""

    @abstractmethod
    def integrity_check(self) -> str:
        """Either "ok" or what is wrong with the database."""

    @abstractmethod
    def is_bug(self, exc: Exception) -> bool:
        """True for an error in our own SQL (it propagates as is, a bug to fix)."""

    def describe(self, exc: Exception) -> str:
        """The error as one line for a message."""
        return " ".join(str(exc).split())

    def notify(self, channel: str, payload: str) -> None:
        """Tell listeners on `channel`, when the current transaction commits. SQLite has
        no listeners: its publisher polls the data version."""
        return None

    @abstractmethod
    def close(self) -> None: ...


class SQLiteDatabase(Database):
    name = "SQLite"
    errors = (sqlite3.Error,)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._conn.row_factory = sqlite3.Row

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, rows)

    def execute_ddl(self, statement: str) -> None:
        self._conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn:
            yield

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._conn.execute(f"PRAGMA user_version = {int(version)}")

    def integrity_check(self) -> str:
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def is_bug(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.ProgrammingError)

    def describe(self, exc: Exception) -> str:
        return str(exc)

    def close(self) -> None:
        self._conn.close()
