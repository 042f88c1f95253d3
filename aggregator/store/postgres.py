"""PostgreSQL behind `Store`, through psycopg 3: the only module that imports psycopg.

Imported only when ``--db`` is a ``postgresql://`` URL, so SQLite users neither need
psycopg nor pay for importing it.

What this adapter adds to the shared SQL:

* placeholders: ``?`` → ``%s`` and ``:name`` → ``%(name)s`` (string literals and comments
  are left alone, ``%`` is escaped);
* rows readable by column name and by position, like ``sqlite3.Row``;
* the connection runs in autocommit mode, so a read is one statement and a write is an
  explicit ``BEGIN … COMMIT`` (`transaction`); a connection found broken (the server
  restarted) is reopened before the next statement outside a transaction;
* the schema version in a one-row ``schema_version`` table; every pending migration in
  one transaction, under a transaction advisory lock so two workers starting at once do
  not both migrate;
* schema statements get PostgreSQL's types for what SQLite means: ``REAL`` is a double
  (SQLite's REAL is 8 bytes), ``BLOB`` is ``BYTEA`` and ``TEXT`` compares byte-wise
  (``COLLATE "C"``, SQLite's BINARY), so keys, ids and dates sort the same in both
  databases whatever the database's locale;
* `notify`: ``pg_notify`` inside the transaction that changes stored items, so the
  publisher (`PublisherLock`, LISTENing) wakes when it commits;
* `AdvisoryLock`, the writer lock several machines can share (see `aggregator.runtime.locking`),
  and `PublisherLock`, the one publisher's lock (see `aggregator.runtime.publisher`).

Credentials never reach a message: locations are redacted by the caller and the password
is scrubbed from driver messages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import RowMaker

from aggregator.exceptions import StorageError
from aggregator.store.backend import ITEMS_CHANNEL, Cursor, Database, Params
from aggregator.urlparts import redact

CONNECT_TIMEOUT = 10  # seconds; a URL's own connect_timeout wins

# Prefixes of advisory lock keys; the current schema is appended, so two stores in two
# schemas of one database do not block each other.
_WRITER_LOCK = "aggregator writer "
_PUBLISHER_LOCK = "aggregator publisher "
_MIGRATION_LOCK = "aggregator migrate "
_LOCK_KEY = "hashtextextended(%s || coalesce(current_schema(), ''), 0)"
_MAX_LOCK_TIMEOUT_MS = 2**31 - 1  # lock_timeout is an int of milliseconds (~24.8 days)

# Error classes (SQLSTATE) that mean our SQL is wrong rather than the database: syntax,
# unknown column or function, type mismatches. Missing tables, permissions and the like
# are the user's database and become StorageError.
_BUG_STATES = frozenset(
    {"42601", "42703", "42883", "42804", "42P18", "42725", "42702", "42803", "42P02", "42P08"}
)


class _Row:
    """A result row read by column name or position (what `Store` expects of sqlite3.Row)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str, /) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"_Row({dict(zip(self._names, self._values, strict=False))!r})"


def _row_factory(cursor: Any) -> RowMaker[_Row]:
    # `cursor` is a psycopg BaseCursor, whose module moved between psycopg versions.
    names = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> _Row:
        return _Row(names, values)

    return make


_SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|--[^\n]*|\?|(?<![:\w]):([A-Za-z_]\w*)|%")


@functools.lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """sqlite3 placeholders → psycopg ones (``?`` → ``%s``, ``:name`` → ``%(name)s``)."""

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")  # a literal, a comment or a bare %

    # A list bound to `= ANY(?)` (`Store._rows_in`) or cast to an array (`?::text[]`,
    # `Store._insert_many`) goes in binary: the text format escapes each element in
    # Python, twice the client's CPU for the tens of thousands of lookup tokens a worker's
    # batch asks for, and more than that for the markup of the items it writes.
    converted = _SQL_TOKEN.sub(token, sql).replace("= ANY(%s)", "= ANY(%b)")
    return _ARRAY_PARAMETER.sub(r"%b\1", converted)


_ARRAY_PARAMETER = re.compile(r"(?<!%)%s(::\w+\[\])")


def pg_ddl(statement: str) -> str:
    """A schema statement with PostgreSQL's types for what SQLite means (see the module)."""
    statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
    statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)


def _secrets(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    found = [password, unquote(password)] if password else []
    try:
        parsed = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        parsed = None
    if parsed:
        found.append(str(parsed))
    return sorted({s for s in found if s}, key=len, reverse=True)


# Shorter passwords are not searched for in the message text: "p" would mask every "p"
# of it. libpq quotes a password only inside the URI it was given, which is redacted.
_MIN_SEARCHED_SECRET = 4


def describe(exc: BaseException, url: str) -> str:
    """A driver message as one line, without the password (also when the URL is too
    malformed for its password to be found: libpq then quotes the whole URI back)."""
    text = " ".join(str(exc).split())
    text = redact(text)  # the user information of any URL the driver quotes back
    for secret in _secrets(url):
        if len(secret) >= _MIN_SEARCHED_SECRET:
            text = text.replace(secret, "***")
    return text


def connect(url: str, location: str, *, check_encoding: bool = True) -> psycopg.Connection[_Row]:
    """An autocommit connection; StorageError (naming `location`) when there is none."""
    try:
        options = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise StorageError(f"invalid PostgreSQL URL {location}: {describe(exc, url)}") from None
    extra: dict[str, Any] = {"application_name": "aggregator", **CLIENT_KEEPALIVES}
    if "connect_timeout" not in options:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    for given in options.keys() & extra.keys():  # the URL's own choice wins
        del extra[given]
    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=_row_factory, **extra)
    except psycopg.Error as exc:
        raise StorageError(
            f"cannot open PostgreSQL database {location}: {describe(exc, url)}"
        ) from None
    encoding = conn.info.parameter_status("server_encoding")
    if check_encoding and encoding != "UTF8":
        conn.close()
        raise StorageError(
            f"PostgreSQL database {location} uses the encoding {encoding}; aggregator needs "
            "a UTF8 database (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0)"
        )
    _prefer_session_settings(conn)
    return conn


# A machine that vanishes (power, network) sends nothing more: by the operating system's
# defaults each side notices only after two hours of silence and nine probes. Until then
# the server keeps the dead session's advisory lock (every writer waits: the whole
# cluster stops storing) and the row locks of its open transaction; and a worker waiting
# on a vanished server waits as long. Probed after 30 s of silence, every 10 s, given up
# after 3 unanswered: about a minute. The client's side (libpq) here, the server's below.
CLIENT_KEEPALIVES = {"keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# Each session's settings, where the server still has its default (a setting in the URL,
# for the role, the database or the server is kept):
# * lz4 for the long values this session stores (items' markup and text, published
#   documents) rather than pglz, where the server has it (14 and later, when built with
#   it): the server's CPU for a cold ingest went down by a seventh (bench/scale.py).
#   Values stored either way read the same.
# * The server's probes of a silent client (above), over TCP only. Not `tcp_user_timeout`:
#   it also ends a live session whose client leaves its socket unread a minute (the
#   publisher's, while a long publish lets notifications pile up).
SESSION_SETTINGS = {
    "default_toast_compression": "lz4",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}
_SET_SESSION = (
    "SELECT set_config(s.name, v.value, false) FROM pg_settings AS s"
    " JOIN unnest(%s::text[], %s::text[]) AS v(name, value) ON s.name = v.name"
    " WHERE s.source = 'default' AND (s.enumvals IS NULL OR v.value = ANY(s.enumvals))"
)


def _prefer_session_settings(conn: psycopg.Connection[_Row]) -> None:
    """`SESSION_SETTINGS`, in one round trip (a setting this server lacks is left out)."""
    # Preferences: a session that cannot have them works as the server does.
    with suppress(psycopg.Error):
        conn.execute(_SET_SESSION, (list(SESSION_SETTINGS), list(SESSION_SETTINGS.values())))


class PostgresDatabase(Database):
    name = "PostgreSQL"
    errors = (psycopg.Error,)
    skip_locked = " FOR UPDATE SKIP LOCKED"
    lock_rows = " FOR UPDATE"
    arrays = True

    def __init__(self, url: str, *, location: str) -> None:
        self._url = url
        self._location = location
        self._conn = connect(url, location)
        self._depth = 0  # open transactions (nested ones are savepoints)

    def _connection(self) -> psycopg.Connection[_Row]:
        if self._depth == 0 and self._conn.broken:
            self._conn.close()
            self._conn = connect(self._url, self._location)
        return self._conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._connection().execute(pg_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._connection().cursor() as cursor:
            cursor.executemany(pg_sql(sql), rows)

    def execute_ddl(self, statement: str) -> None:
        self._connection().execute(pg_ddl(statement))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._connection()
        self._depth += 1
        try:
            with conn.transaction():
                yield
        finally:
            self._depth -= 1

    @contextmanager
    def migration(self) -> Iterator[None]:
        with self.transaction():
            self._conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})", (_MIGRATION_LOCK,))
            if not self._has_version_table():
                self._conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            yield

    def _has_version_table(self) -> bool:
        query = (
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'schema_version'"
        )
        return self._connection().execute(query).fetchone() is not None

    def schema_version(self) -> int:
        if not self._has_version_table():
            return 0
        row = self._conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def set_schema_version(self, version: int) -> None:
        self._conn.execute("DELETE FROM schema_version")
        self._conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    def integrity_check(self) -> str:
        row = self._connection().execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and row[0]:
            return "read-only standby (in recovery): point the database URL at the primary"
        return "ok"

    def is_bug(self, exc: Exception) -> bool:
        if not isinstance(exc, psycopg.ProgrammingError):
            return False
        state = exc.sqlstate
        return state is None or state in _BUG_STATES

    def describe(self, exc: Exception) -> str:
        return describe(exc, self._url)

    def notify(self, channel: str, payload: str) -> None:
        self._connection().execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def close(self) -> None:
        self._conn.close()


class AdvisoryLock:
    """A session advisory lock held on a connection of its own (the writer lock unless
    another `key` is given).

    PostgreSQL releases it when the session ends, so a killed process never leaves a
    stale lock behind (a vanished machine's session ends once the server's probes of it
    go unanswered: about a minute, `SESSION_SETTINGS`).
    """

    #: Keep the connection of a timed-out attempt for the next one (a standby that tries
    #: every second should not open a connection every second).
    _keep_spare = False

    def __init__(
        self,
        url: str,
        *,
        location: str,
        key: str = _WRITER_LOCK,
        what: str = "writer lock",
        keep_session: bool = False,
    ) -> None:
        self._url = url
        self._location = location
        self._key = key
        self._what = what
        # Keep the session between turns (`close` ends it): a worker takes the writer lock
        # for every batch with new items, and a new session cost ~10 ms of both sides'
        # CPU (authentication, a server process) where a turn on a kept one costs 0.3 ms.
        self._keep_session = keep_session
        self._conn: psycopg.Connection[_Row] | None = None
        self._spare: psycopg.Connection[_Row] | None = None

    def acquire(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the lock: True once it is ours, False if it was not
        free by then."""
        conn, self._spare = self._spare, None
        if conn is not None and not conn.broken:
            try:
                return self._take(conn, timeout)
            except StorageError:
                pass  # the kept session died while idle (a server restart): a new one
        return self._take(connect(self._url, self._location, check_encoding=False), timeout)

    def _take(self, conn: psycopg.Connection[_Row], timeout: float) -> bool:
        try:
            taken = self._wait_for(conn, timeout)
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(
                f"PostgreSQL database {self._location}: cannot take the {self._what}: "
                f"{describe(exc, self._url)}"
            ) from None
        if taken:
            self._held(conn)
            self._conn = conn
        elif self._keep_spare or self._keep_session:
            self._spare = conn
        else:
            conn.close()
        return taken

    def _wait_for(self, conn: psycopg.Connection[_Row], timeout: float) -> bool:
        """The server queues the waiter and wakes it the moment the holder lets go
        (`pg_advisory_lock`, bounded by `lock_timeout`): workers hand the writer lock
        from one batch to the next at once, where polling with a growing delay left it
        free for up to half a second each time."""
        if timeout <= 0:
            row = conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})", (self._key,)).fetchone()
            return row is not None and bool(row[0])
        waiting = max(1, min(_MAX_LOCK_TIMEOUT_MS, round(timeout * 1000)))
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{waiting}ms",))
        try:
            conn.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})", (self._key,))
        except psycopg.errors.LockNotAvailable:
            return False
        return True

    def _held(self, conn: psycopg.Connection[_Row]) -> None:
        """Called on the connection that now holds the lock."""

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if not self._keep_session:
            self.close()
        if conn is None:
            return
        try:
            if not conn.broken:
                conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})", (self._key,))
                if self._keep_session:
                    self._spare = conn  # the next turn starts on this session
                    return
        except psycopg.Error:
            pass  # closing the session below releases it all the same
        conn.close()

    def close(self) -> None:
        """End the session kept for the next turn, if any (the lock is not held then)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()


class LockLost(StorageError):
    """The publisher lock's connection is gone, and the lock with it."""


class PublisherLock(AdvisoryLock):
    """The publisher's session advisory lock, on a connection that then LISTENs for the
    commits of stored items (`ITEMS_CHANNEL`).

    Lock and wake-ups share one session on purpose: while it lives, this process is the
    publisher and hears every commit; when it drops (the server restarted, the session
    was terminated, the network went), both go together and `wait` raises `LockLost`.
    """

    _keep_spare = True

    def __init__(self, url: str, *, location: str) -> None:
        super().__init__(url, location=location, key=_PUBLISHER_LOCK, what="publisher lock")

    def _held(self, conn: psycopg.Connection[_Row]) -> None:
        conn.execute(f"LISTEN {ITEMS_CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """True when a commit was notified since the last call or within `timeout` s,
        False when none was; `LockLost` when the session is gone."""
        conn = self._conn
        if conn is None:
            raise LockLost("the publisher lock is not held")
        try:
            # A notification that arrived while the connection ran another statement is
            # kept by psycopg (>= 3.2.4, without notify handlers) and given here first.
            woken = any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
            if not woken:
                # A silent wait does not touch the socket: ask, so a session the server
                # ended is found within one wait.
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            self._drop()
            raise LockLost(
                f"PostgreSQL database {self._location}: lost the publisher lock: "
                f"{describe(exc, self._url)}"
            ) from None
        return woken

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
