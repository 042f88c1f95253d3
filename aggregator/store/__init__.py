"""Persistence: sources and their fetch state, items, published entries.

`open_store(db)` takes a path (SQLite, the embedded default; the file and its folder are
created on first run), a URL ``sqlite:///path``, or ``postgresql://user:pass@host:port/db``
(PostgreSQL, for several workers on several machines; needs psycopg, the ``postgres``
extra). All SQL lives here and in `schema`; it is the subset SQLite and PostgreSQL both
speak, so there is one `Store`, and a small `backend.Database` adapter per database holds
what differs (placeholder style, row access, schema version, transactions, errors).
Driver errors are wrapped into `StorageError` (except errors in our own SQL, which stay
bugs); credentials never appear in a message.

Integrity rule (TRAPS 8): items are written first and a source's validators last, in a
later transaction, so a crash in between costs a refetch, never lost items.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.exceptions import StorageError
from aggregator.model import Attribution, Item, SourceSpec
from aggregator.sources.feeds import source_feed
from aggregator.store.articles import CachedArticle, CachedRobots
from aggregator.store.backend import ITEMS_CHANNEL, Database, Row, SQLiteDatabase
from aggregator.store.documents import DOCUMENTS_VERSION_META, Document
from aggregator.store.leases import LeaseMethods
from aggregator.store.readstate import (
    FORGOTTEN_FOLDER,
    SeedFileRecord,
    SeedFolder,
    SeedStamp,
    SourceEntries,
)
from aggregator.store.schema import DATA_MIGRATIONS, MIGRATIONS, SCHEMA_VERSION
from aggregator.urlparts import redact


# A batch of writes dumps the same few times (now, first seen) again and again, and each
# item's dates twice; formatting one costs microseconds, looking it up a fraction.
@functools.lru_cache(maxsize=1024)
def dump_date(value: datetime) -> str:
    """UTC, as "YYYY-MM-DDTHH:MM:SS.ffffffZ": fixed width, so text order is time order."""
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the store")
    # isoformat pads the year to four digits (strftime's %Y does not, before 1000) and
    # is a few times faster; the stored text is otherwise the same as ever.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def load_date(value: str) -> datetime:
    # fromisoformat reads what dump_date writes some 20 times faster than strptime; a run
    # reads a date or three of every source and stored item.
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        # Written before years were padded ("999-05-01T…"): pad, then read.
        year, dash, rest = value.partition("-")
        if not (dash and year.isdigit() and len(year) < 4):
            raise
        return datetime.fromisoformat(year.zfill(4) + dash + rest).astimezone(UTC)


def _opt_date(value: str | None) -> datetime | None:
    return load_date(value) if value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceState:
    """A source row: what was configured plus what fetching learned.

    Apart from `model.SourceSpec` on purpose: the row outlives config edits (a removed
    source's items stay attributed) and holds the fetch state no config has."""

    id: str
    url: str
    kind: str
    config_url: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    feed_title: str | None = None
    feed_id: str | None = None
    site_link: str | None = None
    feed_updated: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch_at: datetime | None = None
    last_status: int | None = None
    error_count: int = 0
    last_error: str | None = None
    next_check_at: datetime | None = None
    disabled_reason: str | None = None
    last_new: int = 0
    last_updated: int = 0
    # The config it last ran under (`policy.config_key`): when the config's differs, the
    # source starts afresh (`policy.reconfigured`). Written by `record_config_keys` only.
    config_key: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or self.feed_title or self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownItem:
    key: str
    entry_id: str
    content_hash: str
    published: datetime
    updated: datetime
    first_seen: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """An item as stored, with what the store decided about it."""

    item: Item
    entry_id: str
    first_seen: datetime
    merge_reason: str | None = None
    merge_score: float | None = None
    merge_detail: str | None = None  # JSON: the candidate stories matching weighed


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemWrite:
    item: Item
    entry_id: str
    first_seen: datetime
    seen_at: datetime
    merge_reason: str | None = None
    merge_score: float | None = None
    signature: str | None = None
    merge_detail: str | None = None
    # False when the writer knows no item with this key is stored (a plan's new items):
    # there are no old lookup keys to clear. Wrongly False, it leaves the old version's
    # keys, which only find a candidate that matching then weighs on its stored signature.
    replaces_stored: bool = True
    # The item's lookup tokens (`dedupe.signature.lookup_tokens`), when the writer has its
    # signature at hand (a plan does); None: they are read from `signature`, parsed back.
    lookup: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """An operator's repair of a merge, kept so it survives re-runs and can be undone."""

    id: int
    kind: str  # "split" or "join"
    subject: str  # the item key named
    target: str  # split: the entry it left; join: the entry it joined
    moved: tuple[tuple[str, str, str], ...]  # (item key, entry before, entry after)
    created: datetime
    undone: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUseRow:
    source_id: str
    key: str
    link: str
    content_hash: str


_DATE_FIELDS = {"feed_updated", "last_fetch_at", "next_check_at"}
_SOURCE_COLUMNS = tuple(f.name for f in fields(SourceState))


def _source_from_row(row: Row) -> SourceState:
    values: dict[str, Any] = {}
    for name in _SOURCE_COLUMNS:
        value = row[name]
        if name in _DATE_FIELDS:
            value = _opt_date(value)
        elif name == "tags":
            value = tuple(json.loads(value))
        elif name == "enabled":
            value = bool(value)
        values[name] = value
    return SourceState(**values)


def _source_params(state: SourceState) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in _SOURCE_COLUMNS:
        value = getattr(state, name)
        if name in _DATE_FIELDS:
            value = dump_date(value) if value else None
        elif name == "tags":
            value = json.dumps(list(value))
        elif name == "enabled":
            value = int(value)
        params[name] = value
    return params


def attribution_for(state: SourceState, *, feed_id_base: str) -> Attribution:
    """atom:source data for items of this source; `feed_id_base` is the base URL the
    output is served from (`aggregator.sources.feeds` derives the id from it)."""
    feed = source_feed(
        state.id,
        base_url=feed_id_base,
        feed_id=state.feed_id,
        site_link=state.site_link,
        feed_url=state.url,
    )
    return Attribution(
        source_id=state.id,
        feed_url=state.url,
        feed_id=feed.id,
        title=state.display_title,
        # Its page, else its feed's URL, else our feed of it: a seed is still reachable.
        site_link=feed.link,
        updated=state.feed_updated,
    )


class Store(LeaseMethods):
    """One database connection; never used by two threads at once. The leases of
    `aggregator worker` are `LeaseMethods`."""

    def __init__(self, database: Database, *, location: str, opened_as: str | None = None) -> None:
        self._db = database
        self.location = location  # never holds a password (see `aggregator.urlparts.redact`)
        self._opened_as = opened_as  # the path or URL given to `open_store` (may hold one)

    # -- lifecycle -------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema up to date; on PostgreSQL all pending migrations commit as one
        transaction, under a lock that keeps two workers from migrating at once."""
        with self._wrap("migrate"):
            if self._schema_version() == SCHEMA_VERSION:
                return
            with self._db.migration():
                version = self._schema_version()
                for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                    with self._db.transaction():
                        for statement in statements:
                            self._db.execute_ddl(statement)
                        if number in DATA_MIGRATIONS:
                            DATA_MIGRATIONS[number](self._db)
                        self._db.set_schema_version(number)

    def is_empty(self) -> bool:
        """No migration was ever applied: not an aggregator database (yet)."""
        with self._wrap("read the schema version"):
            return self._schema_version() == 0

    def _schema_version(self) -> int:
        version = self._db.schema_version()
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.location} has schema version {version}, newer than this "
                f"aggregator ({SCHEMA_VERSION}); upgrade aggregator"
            )
        return version

    def close(self) -> None:
        self._db.close()

    def reopen(self) -> Store:
        """Another connection to this database, for another thread: a connection is never
        used by two at once."""
        if self._opened_as is None:
            raise StorageError(f"database {self.location}: not opened by open_store")
        return open_store(self._opened_as, create=False)

    def integrity_check(self) -> str:
        with self._wrap("check integrity"):
            return self._db.integrity_check()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._wrap("write"), self._db.transaction():
            yield

    @contextmanager
    def _wrap(self, doing: str) -> Iterator[None]:
        try:
            yield
        except self._db.errors as exc:
            if self._db.is_bug(exc):
                raise  # a bug in our SQL, not the user's database
            raise StorageError(
                f"database {self.location}: cannot {doing}: {self._db.describe(exc)}"
            ) from exc

    # -- sources ---------------------------------------------------------------------

    def sources(self) -> list[SourceState]:
        with self._wrap("read sources"):
            rows = self._db.execute("SELECT * FROM sources ORDER BY id").fetchall()
        return [_source_from_row(r) for r in rows]

    def source(self, source_id: str) -> SourceState | None:
        with self._wrap("read source"):
            row = self._db.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        return _source_from_row(row) if row else None

    def ensure_source(self, spec: SourceSpec) -> SourceState:
        """Insert a configured source or refresh its configured fields; keeps fetch state."""
        return self.ensure_sources([spec])[spec.id]

    def ensure_sources(
        self, specs: Sequence[SourceSpec], *, write: bool = True
    ) -> dict[str, SourceState]:
        """`ensure_source` for many, reading every row once and writing only the changed
        ones in one transaction (nothing at all with `write=False`, for a dry run)."""
        if not specs:
            return {}
        existing = {state.id: state for state in self.sources()}
        states = {spec.id: configured_state(spec, existing.get(spec.id)) for spec in specs}
        if write:
            # Their configured fields only: a worker that stored one's fetch state since
            # the read above keeps it (the whole row, as read, put the old state back).
            self.write_configured([s for s in specs if states[s.id] != existing.get(s.id)])
        return states

    def save_source(self, state: SourceState) -> None:
        self.save_sources([state])

    def save_sources(self, states: Sequence[SourceState]) -> None:
        """Upsert source rows in one transaction (a run saves every source it touched)."""
        if not states:
            return
        columns = ", ".join(_SOURCE_COLUMNS)
        placeholders = ", ".join(f":{c}" for c in _SOURCE_COLUMNS)
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in _SOURCE_COLUMNS if c not in ("id", "config_key")
        )
        sql = (
            f"INSERT INTO sources ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        with self.transaction():
            self._lock_sources(state.id for state in states)
            for state in states:
                self._db.execute(sql, _source_params(state))

    def record_config_keys(self, keys: Mapping[str, str]) -> None:
        """Remember the config each source (by id) ran under; one batch of updates."""
        if not keys:
            return
        with self.transaction():
            self._lock_sources(keys)
            self._db.executemany(
                "UPDATE sources SET config_key = ? WHERE id = ?",
                [(key, source_id) for source_id, key in keys.items()],
            )

    def remove_source(self, source_id: str) -> None:
        """Forget a source's fetch state; its items stay until retention drops them."""
        with self.transaction():
            self._db.execute("UPDATE sources SET enabled = 0 WHERE id = ?", (source_id,))

    # -- items -----------------------------------------------------------------------

    def known_items(self, keys: Iterable[str]) -> dict[str, KnownItem]:
        found: dict[str, KnownItem] = {}
        with self._wrap("read items"):
            rows = self._rows_in(
                "SELECT key, entry_id, content_hash, published, updated, first_seen "
                "FROM items WHERE key IN ({})",
                keys,
            )
            for r in rows:
                found[r["key"]] = KnownItem(
                    key=r["key"],
                    entry_id=r["entry_id"],
                    content_hash=r["content_hash"],
                    published=load_date(r["published"]),
                    updated=load_date(r["updated"]),
                    first_seen=load_date(r["first_seen"]),
                )
        return found

    def tombstoned(self, keys: Iterable[str]) -> set[str]:
        with self._wrap("read tombstones"):
            return {
                r[0] for r in self._rows_in("SELECT key FROM tombstones WHERE key IN ({})", keys)
            }

    def _rows_in(
        self, sql: str, values: Iterable[str], *, first: Sequence[str | None] = ()
    ) -> Iterator[Any]:
        """The rows of `sql`, whose `{}` is an IN list of `values` (after the parameters
        `first`), asked in chunks (the databases cap the parameters of one statement)."""
        for statement, params in self._in_statements(sql, values, first):
            yield from self._db.execute(statement, params)

    def _execute_in(self, sql: str, values: Iterable[str]) -> None:
        """`sql` (a statement without rows), whose `{}` is an IN list of `values`."""
        for statement, params in self._in_statements(sql, values, ()):
            self._db.execute(statement, params)

    def _in_statements(
        self, sql: str, values: Iterable[str], first: Sequence[str | None]
    ) -> Iterator[tuple[str, list[Any]]]:
        listed = list(values)
        if self._db.arrays and listed:
            # PostgreSQL: the values as one array. An IN list of hundreds of placeholders
            # made a new statement text for each length, which psycopg parsed again every
            # time (too long for its cache): 10 % of a worker's CPU on bench/scale.py.
            # And the array as one text the server splits: psycopg dumps a list value by
            # value in Python (80,000 lookup tokens, a batch's, cost 55-95 ms; joined, 2).
            joined = _LIST_SEPARATOR.join(listed)
            if joined and joined.count(_LIST_SEPARATOR) == len(listed) - 1:
                yield sql.replace(" IN ({})", _ANY_OF_JOINED), [*first, joined]
            else:  # a value holds the separator (or is the one empty value): as a list
                yield sql.replace(" IN ({})", " = ANY(?)"), [*first, listed]
            return
        for start in range(0, len(listed), _IN_CHUNK):
            chunk = listed[start : start + _IN_CHUNK]
            yield sql.format(", ".join("?" * len(chunk))), [*first, *chunk]

    def data_version(self) -> str:
        """A counter bumped by every change to stored items: publishing skips work when
        it has not moved."""
        return self.get_meta("data_version") or "0"

    def _bump_version(self) -> int:
        # Inside the caller's transaction, so the bump commits with the change itself.
        current = int(self.get_meta("data_version") or 0)
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES ('data_version', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (str(current + 1),),
        )
        # Delivered when this transaction commits: the publisher wakes (PostgreSQL).
        self._db.notify(ITEMS_CHANNEL, str(current + 1))
        return current + 1

    def _note_changes(self, entry_ids: Iterable[str]) -> None:
        """Bump the data version and log these entries as changed by it, inside the
        caller's transaction (a crash loses both or neither: the next publish catches up)."""
        version = self._bump_version()
        self._insert_many(
            "INSERT INTO entry_changes (entry_id, version) {} "
            "ON CONFLICT (entry_id) DO UPDATE SET version = excluded.version",
            [(entry_id, version) for entry_id in sorted(set(entry_ids))],
            types=("text", "integer"),
        )

    def _insert_many(
        self,
        sql: str,
        rows: Sequence[tuple[Any, ...]],
        *,
        types: tuple[str, ...],
        row_by_row: bool = False,
    ) -> None:
        """`sql`, an INSERT whose `{}` stands for its rows (of PostgreSQL `types`), for
        every row; `row_by_row`, one statement per row on PostgreSQL too (an upsert whose
        rows may name one row twice: one statement cannot update a row twice).

        PostgreSQL takes the rows as one array per column, in one statement: one statement
        per row cost it more than the rows themselves (a worker writes thousands at once).
        The arrays go in binary (`pg_sql`): in text, the client escapes every element, which
        for items' markup cost more than a statement per row."""
        if not rows:
            return
        if self._db.arrays and not row_by_row:
            unnest = ", ".join(f"?::{name}[]" for name in types)
            statement = sql.format(f"SELECT * FROM unnest({unnest})")
            # In chunks: filling the lookup table of a large window is millions of rows.
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                chunk = rows[start : start + _ROWS_PER_STATEMENT]
                self._db.execute(statement, [list(c) for c in zip(*chunk, strict=True)])
        else:
            self._db.executemany(sql.format(f"VALUES ({', '.join('?' * len(types))})"), rows)

    def _entries_of_keys(self, keys: Iterable[str]) -> set[str]:
        return {r[0] for r in self._rows_in("SELECT entry_id FROM items WHERE key IN ({})", keys)}

    def changed_entries(self, since: int, until: int) -> list[str]:
        """The entries changed after data version `since` up to `until` (what a publish of
        a folder holding `since` must look at again, `until` being the version it read
        first), from the change log alone. An entry changed again after `until` is left
        for the next publish."""
        with self._wrap("read changes"):
            rows = self._db.execute(
                "SELECT entry_id FROM entry_changes WHERE version > ? AND version <= ? "
                "ORDER BY entry_id",
                (since, until),
            ).fetchall()
        return [r[0] for r in rows]

    def entries_of_sources(self, source_ids: Iterable[str]) -> list[str]:
        """The entries holding an item of these sources (whose attribution changed)."""
        with self._wrap("read items"):
            rows = self._rows_in(
                "SELECT DISTINCT entry_id FROM items WHERE source_id IN ({})", sorted(source_ids)
            )
            return sorted({r[0] for r in rows})

    def write_items(self, writes: Sequence[ItemWrite]) -> None:
        """Upsert items and create their entries, in one transaction."""
        if not writes:
            return
        with self.transaction():
            since = self._lookup_since()
            # Read before the rows are overwritten: what finds the old versions.
            stale = self._lookup_tokens_stored(writes) if since is not None else []
            self._insert_many(
                "INSERT INTO entries (id, created, updated) {} ON CONFLICT (id) DO NOTHING",
                [(w.entry_id, dump_date(w.seen_at), dump_date(w.item.updated)) for w in writes],
                types=("text", "text", "text"),
            )
            # A batch naming an item twice goes row by row, the later write updating
            # the earlier.
            self._insert_many(
                _UPSERT_ITEM,
                [_item_params(w) for w in writes],
                types=_ITEM_TYPES,
                row_by_row=len({w.item.key for w in writes}) < len(writes),
            )
            # The entries as stored: an update keeps its item's entry, whatever it was told.
            self._note_changes(self._entries_of_keys(w.item.key for w in writes))
            if since is not None:  # else `cover_lookup` reads the signatures when it fills
                self._index_writes(writes, since, stale)

    def touch_items(self, keys: Sequence[str], seen_at: datetime) -> None:
        with self.transaction():
            self._db.executemany(
                "UPDATE items SET last_seen = ? WHERE key = ?",
                [(dump_date(seen_at), k) for k in keys],
            )

    def signatures(self, since: datetime) -> list[tuple[str, str]]:
        """(signature, entry_id) of items published since `since`, for dedup."""
        # Sorted here, not by the database: with ORDER BY key, SQLite walks the key index
        # through every stored item instead of the published index through the window.
        with self._wrap("read signatures"):
            rows = self._db.execute(
                "SELECT key, signature, entry_id FROM items "
                "WHERE published >= ? AND signature IS NOT NULL",
                (dump_date(since),),
            ).fetchall()
        rows.sort(key=lambda r: r[0])
        return [(r[1], r[2]) for r in rows]

    # -- what finds an item for matching (aggregator.dedupe.lookup) ----------------------

    def _lookup_since(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (LOOKUP_SINCE,)).fetchone()
        return str(row[0]) if row else None

    def _lookup_tokens_stored(self, writes: Sequence[ItemWrite]) -> list[tuple[str, list[str]]]:
        """(key, lookup tokens) of the stored items these writes replace, from their stored
        signatures. New items (`ItemWrite.replaces_stored` False) have none to read."""
        from aggregator.dedupe.signature import Signature, lookup_tokens

        replaced = [w.item.key for w in writes if w.replaces_stored]
        sql = "SELECT key, signature FROM items WHERE signature IS NOT NULL AND key IN ({})"
        with self._wrap("read signatures"):
            rows = list(self._rows_in(sql, replaced))
        return [(r[0], lookup_tokens(Signature.from_json(r[1]))) for r in rows]

    def _index_writes(
        self, writes: Sequence[ItemWrite], since: str, stale: Sequence[tuple[str, list[str]]]
    ) -> None:
        """Keep `lookup_keys` true for the written items (in the caller's transaction):
        the old versions' keys go (`stale`, read before they were overwritten), the new
        ones come if the item is published inside the range the table covers.

        The table has no index by item key: one index fewer to write for each of the ~27
        rows of every new item (a cold ingest of live feeds writes millions), against a
        statement per updated item here, found by token."""
        for key, tokens in stale:
            sql = "DELETE FROM lookup_keys WHERE key = ? AND token IN ({})"
            for statement, params in self._in_statements(sql, tokens, (key,)):
                self._db.execute(statement, params)
        signed = [(w.item.key, w.signature, dump_date(w.item.published), w.lookup) for w in writes]
        self._insert_lookup([(k, sig, p, t) for k, sig, p, t in signed if sig and p >= since])

    def _insert_lookup(self, rows: Iterable[tuple[str, str, str, Sequence[str] | None]]) -> None:
        """(key, signature, published, lookup tokens or None) of items, each stored under
        its lookup tokens: those given, else read from the signature."""
        # The tokens are the dedupe package's to define; the store only keeps them.
        from aggregator.dedupe.signature import Signature, lookup_tokens

        tokened = [
            (k, p, lookup_tokens(Signature.from_json(sig)) if tokens is None else tokens)
            for k, sig, p, tokens in rows
        ]
        rest = tokened  # what goes as one row per token
        if self._db.arrays:
            # PostgreSQL: an item's tokens as one text, split by the server. As rows, a
            # cold ingest sent ~27 (token, key, published) per item, each value dumped by
            # a Python call. Tokens are canonical links and numbers: none holds a space,
            # and an item whose would goes as rows.
            joined: list[tuple[str, str, Sequence[str]]] = []
            rest = []
            for row in tokened:
                (rest if any(" " in token for token in row[2]) else joined).append(row)
            self._insert_many(
                "INSERT INTO lookup_keys (token, key, published) "
                "SELECT unnest(string_to_array(tokens, ' ')), key, published FROM ({}) AS t"
                "(key, published, tokens)",
                [(k, p, " ".join(t)) for k, p, t in joined],
                types=("text", "text", "text"),
            )
        self._insert_many(
            "INSERT INTO lookup_keys (token, key, published) {}",
            [(token, key, published) for key, published, tokens in rest for token in tokens],
            types=("text", "text", "text"),
        )

    def lookup_covers(self, since: datetime) -> bool:
        """`lookup_keys` holds every signed item published since `since`."""
        with self._wrap("read meta"):
            covered = self._lookup_since()
        return covered is not None and covered <= dump_date(since)

    def cover_lookup(self, since: datetime) -> None:
        """Make `lookup_keys` hold every signed item published since `since`: the items
        between `since` and what it already covers are read once (the first run after an
        upgrade, a longer window); the keys of items older than `since` are dropped
        about once a day (the window only moves on)."""
        wanted = dump_date(since)
        with self.transaction():
            covered = self._lookup_since()
            if covered is not None and covered <= wanted:
                if covered >= dump_date(since - LOOKUP_PRUNE_EVERY):
                    return
                self._db.execute("DELETE FROM lookup_keys WHERE published < ?", (wanted,))
            else:
                sql = (
                    "SELECT key, signature, published FROM items "
                    "WHERE published >= ? AND signature IS NOT NULL"
                )
                bounds: tuple[str, ...] = (wanted,)
                if covered is not None:
                    sql, bounds = sql + " AND published < ?", (wanted, covered)
                else:  # items written meanwhile kept no keys: none can be trusted
                    self._db.execute("DELETE FROM lookup_keys")
                rows = self._db.execute(sql, bounds).fetchall()
                self._insert_lookup((r[0], r[1], r[2], None) for r in rows)
            self._set_meta(LOOKUP_SINCE, wanted)

    def lookup(self, tokens: Iterable[str], since: datetime) -> list[tuple[str, str, str]]:
        """(token, item key, entry id) of the items published since `since` found under
        these tokens (`lookup_covers(since)` must hold)."""
        sql = (
            "SELECT k.token, k.key, i.entry_id FROM lookup_keys k "
            "JOIN items i ON i.key = k.key "
            "WHERE k.published >= ? AND k.token IN ({})"
        )
        return [(r[0], r[1], r[2]) for r in self._under_tokens(sql, tokens, since)]

    def keys_under(self, tokens: Iterable[str], since: datetime) -> list[tuple[str, str]]:
        """(token, item key) of the items published since `since` found under these
        tokens: `lookup` without the entries, which costs the database a read of each
        item found (`lookup_covers(since)` must hold)."""
        sql = "SELECT token, key FROM lookup_keys WHERE published >= ? AND token IN ({})"
        return [(r[0], r[1]) for r in self._under_tokens(sql, tokens, since)]

    def _under_tokens(self, sql: str, tokens: Iterable[str], since: datetime) -> list[Any]:
        """The rows of `sql`, a read of `lookup_keys` by published date (`?`) and token
        (its `{}`)."""
        with self._wrap("read lookup keys"):
            return list(self._rows_in(sql, sorted(set(tokens)), first=(dump_date(since),)))

    def window_signatures(
        self, since: datetime, *, keys: Iterable[str] = (), entries: Iterable[str] = ()
    ) -> list[tuple[str, str, str]]:
        """(key, signature, entry id) of the signed items published since `since` that
        have one of these keys or belong to one of these entries, by key."""
        found: dict[str, tuple[str, str, str]] = {}
        select = "SELECT key, signature, entry_id FROM items"
        where = "published >= ? AND signature IS NOT NULL"
        with self._wrap("read signatures"):
            for column, values in (("key", keys), ("entry_id", entries)):
                sql = f"{select} WHERE {where} AND {column} IN ({{}})"
                for r in self._rows_in(sql, sorted(set(values)), first=(dump_date(since),)):
                    found[r[0]] = (r[0], r[1], r[2])
        return [found[key] for key in sorted(found)]

    def items(
        self,
        *,
        entry_ids: Sequence[str] | None = None,
        feed_id_base: str,
        with_text: bool = True,
    ) -> list[StoredItem]:
        """Stored items, oldest first. Publishing passes `with_text=False`: the plain text
        (kept for dedup and export) is most of an item's size, and neither it nor the
        cleaning notes (kept for `explain`) are ever shown in a feed."""
        sources = {s.id: attribution_for(s, feed_id_base=feed_id_base) for s in self.sources()}
        columns = ", ".join(
            c if c not in _TEXT_COLUMNS or with_text else f"{_TEXT_COLUMNS[c]} AS {c}"
            for c in _ITEM_COLUMNS
            if c != "signature"
        )
        query = f"SELECT {columns} FROM items"
        found: list[StoredItem] = []
        with self._wrap("read items"):
            if entry_ids is None:
                cursor = self._db.execute(query + " ORDER BY published, key")
                found.extend(_stored_from_row(r, sources) for r in cursor)
                return found
            rows = self._rows_in(
                query + " WHERE entry_id IN ({}) ORDER BY published, key", entry_ids
            )
            found.extend(_stored_from_row(r, sources) for r in rows)
        return found

    def item_versions(
        self, entry_ids: Iterable[str] | None = None
    ) -> Iterator[tuple[str, str, str, str, str, str, str | None]]:
        """(entry_id, key, content_hash, published, updated, source_id, link) of every item
        (or of the items of `entry_ids`), by entry then key: what tells publishing which
        entries changed, read from one index (`items_version`) without touching the
        items' content."""
        sql = "SELECT entry_id, key, content_hash, published, updated, source_id, link FROM items"
        with self._wrap("read items"):
            if entry_ids is None:
                cursor: Iterable[Any] = self._db.execute(sql + " ORDER BY entry_id, key")
            else:  # sorted ids in sorted chunks: the rows come in order all the same
                ids = sorted(set(entry_ids))
                cursor = self._rows_in(sql + " WHERE entry_id IN ({}) ORDER BY entry_id, key", ids)
            for row in cursor:
                yield (row[0], row[1], row[2], row[3], row[4], row[5], row[6])

    def find_items(self, ident: str, *, feed_id_base: str) -> list[StoredItem]:
        """Items whose key, origin id or link is `ident` (what an operator can name)."""
        sources = {s.id: attribution_for(s, feed_id_base=feed_id_base) for s in self.sources()}
        with self._wrap("read items"):
            rows = self._db.execute(
                "SELECT * FROM items WHERE key = ? OR origin_id = ? OR link = ? ORDER BY key",
                (ident, ident, ident),
            ).fetchall()
        return [_stored_from_row(r, sources) for r in rows]

    def entry_size(self, entry_id: str) -> int:
        with self._wrap("read entries"):
            row = self._db.execute(
                "SELECT COUNT(*) FROM items WHERE entry_id = ?", (entry_id,)
            ).fetchone()
        return int(row[0])

    def entry_ids_newest(self, limit: int | None = None) -> list[str]:
        """Entries ordered newest first by their newest item; all when limit is None."""
        sql = (
            "SELECT entry_id, MAX(published) AS newest FROM items GROUP BY entry_id "
            "ORDER BY newest DESC, entry_id"
        )
        with self._wrap("read entries"):
            if limit is None:
                rows = self._db.execute(sql).fetchall()
            else:
                rows = self._db.execute(sql + " LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in rows]

    def entry_updates(self) -> dict[str, datetime]:
        with self._wrap("read entries"):
            rows = self._db.execute("SELECT id, updated FROM entries").fetchall()
        return {r[0]: load_date(r[1]) for r in rows}

    def set_entry_updated(self, entry_id: str, updated: datetime) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE entries SET updated = ? WHERE id = ?", (dump_date(updated), entry_id)
            )

    def reassign(self, key: str, entry_id: str, reason: str, seen_at: datetime) -> None:
        """Move one item to another (possibly new) entry (config rules, repairs)."""
        with self.transaction():
            self._move([(key, "", entry_id)], reason, seen_at)

    # -- what merging learns and what the operator decides ---------------------------

    def shared_links(self, links: Iterable[str] | None = None) -> set[str]:
        """The links known to identify no single item: all, or those among `links`."""
        with self._wrap("read shared links"):
            if links is not None:
                sql = "SELECT link FROM shared_links WHERE link IN ({})"
                return {r[0] for r in self._rows_in(sql, sorted(set(links)))}
            return {r[0] for r in self._db.execute("SELECT link FROM shared_links").fetchall()}

    def add_shared_links(self, links: dict[str, str], noted_at: datetime) -> None:
        """Remember links (link -> the source that revealed it) that identify no item."""
        if not links:
            return
        with self.transaction():
            self._db.executemany(
                "INSERT INTO shared_links (link, source_id, noted_at) VALUES (?, ?, ?) "
                "ON CONFLICT (link) DO NOTHING",
                [(link, source, dump_date(noted_at)) for link, source in sorted(links.items())],
            )

    def link_uses(self, links: Iterable[str]) -> list[LinkUseRow]:
        """Every stored item with one of these links, whatever its age."""
        sql = "SELECT source_id, key, link, content_hash FROM items WHERE link IN ({})"
        with self._wrap("read items"):
            return [
                LinkUseRow(source_id=r[0], key=r[1], link=r[2], content_hash=r[3])
                for r in self._rows_in(sql, sorted(set(links)))
            ]

    def decisions(self, *, active_only: bool = False) -> list[Decision]:
        sql = "SELECT id, kind, subject, target, moved, created, undone FROM decisions"
        if active_only:
            sql += " WHERE undone IS NULL"
        with self._wrap("read decisions"):
            rows = self._db.execute(sql + " ORDER BY id").fetchall()
        return [
            Decision(
                id=int(r[0]),
                kind=r[1],
                subject=r[2],
                target=r[3],
                moved=tuple((k, a, b) for k, a, b in json.loads(r[4])),
                created=load_date(r[5]),
                undone=_opt_date(r[6]),
            )
            for r in rows
        ]

    def record_decision(
        self,
        kind: str,
        subject: str,
        target: str,
        moved: Sequence[tuple[str, str, str]],
        now: datetime,
        reason: str,
    ) -> int:
        """Move the items (key, before, after) and keep the decision, in one transaction."""
        with self.transaction():
            self._move(moved, reason, now)
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM decisions").fetchone()
            number = int(row[0])
            self._db.execute(
                "INSERT INTO decisions (id, kind, subject, target, moved, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    number,
                    kind,
                    subject,
                    target,
                    json.dumps([list(m) for m in moved]),
                    dump_date(now),
                ),
            )
        return number

    def undo_decision(
        self, number: int, moves: Sequence[tuple[str, str, str]], now: datetime, reason: str
    ) -> None:
        with self.transaction():
            self._move(moves, reason, now)
            self._db.execute(
                "UPDATE decisions SET undone = ? WHERE id = ?", (dump_date(now), number)
            )

    def _move(self, moves: Sequence[tuple[str, str, str]], reason: str, now: datetime) -> None:
        touched = self._entries_of_keys(key for key, _, _ in moves)  # the entries they leave
        for key, _before, after in moves:
            touched.add(after)
            self._db.execute(
                "INSERT INTO entries (id, created, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (after, dump_date(now), dump_date(now)),
            )
            self._db.execute(
                "UPDATE items SET entry_id = ?, merge_reason = ?, merge_score = NULL WHERE key = ?",
                (after, reason, key),
            )
        if moves:
            self._note_changes(touched)

    def entry_items(self, entry_id: str) -> list[str]:
        """Keys of the items of one entry."""
        with self._wrap("read entries"):
            rows = self._db.execute(
                "SELECT key FROM items WHERE entry_id = ? ORDER BY key", (entry_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def prune(self, before: datetime, now: datetime) -> int:
        """Drop items published before `before`; tombstones keep them from coming back."""
        cutoff = dump_date(before)
        with self.transaction():
            touched = [
                r[0]
                for r in self._db.execute(
                    "SELECT DISTINCT entry_id FROM items WHERE published < ?", (cutoff,)
                ).fetchall()
            ]
            self._db.execute(
                "INSERT INTO tombstones (key, deleted_at) SELECT key, ? FROM items "
                "WHERE published < ? ON CONFLICT (key) DO NOTHING",
                (dump_date(now), cutoff),
            )
            count = self._db.execute("DELETE FROM items WHERE published < ?", (cutoff,)).rowcount
            self._db.execute("DELETE FROM lookup_keys WHERE published < ?", (cutoff,))
            if count:
                self._note_changes(touched)
            self._db.execute(
                "DELETE FROM entries WHERE id NOT IN (SELECT DISTINCT entry_id FROM items)"
            )
        return int(count)

    def item_counts(self) -> dict[str, int]:
        """Stored items per source."""
        with self._wrap("count items"):
            rows = self._db.execute("SELECT source_id, COUNT(*) FROM items GROUP BY source_id")
            return {r[0]: int(r[1]) for r in rows.fetchall()}

    def item_count(self) -> int:
        with self._wrap("count items"):
            return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    # -- what was read (aggregator.store.readstate) ----------------------------------------

    def seed_files(self) -> dict[str, SeedStamp]:
        """Every seeds-folder file as last read, by path, as plain rows (`SeedStamp`)."""
        with self._wrap("read seed files"):
            rows = self._db.execute(
                "SELECT path, source_id, size, mtime_ns, mtime, fingerprint, entries "
                "FROM seed_files"
            ).fetchall()
        # Rows index like the tuples they stand for: no copy of a row per file.
        return {row[0]: row for row in rows}

    def seed_files_at(self, paths: Iterable[str]) -> dict[str, SeedStamp]:
        """The records of these paths (those that have one), as `seed_files` gives them."""
        with self._wrap("read seed files"):
            rows = list(
                self._rows_in(
                    "SELECT path, source_id, size, mtime_ns, mtime, fingerprint, entries "
                    "FROM seed_files WHERE path IN ({})",
                    paths,
                )
            )
        return {row[0]: row for row in rows}

    def source_entries(self, source_ids: Iterable[str]) -> dict[str, SourceEntries]:
        """The raw entries of these feeds as last cleaned, by source id."""
        found: dict[str, SourceEntries] = {}
        with self._wrap("read source entries"):
            rows = self._rows_in(
                "SELECT source_id, fingerprint, digests FROM source_entries "
                "WHERE source_id IN ({})",
                source_ids,
            )
            for r in rows:
                found[r[0]] = SourceEntries(
                    source_id=r[0], fingerprint=r[1], digests=frozenset(json.loads(r[2]))
                )
        return found

    def save_reads(
        self,
        files: Sequence[SeedFileRecord],
        entries: Sequence[SourceEntries],
        *,
        gone: Sequence[str] = (),
        folder: SeedFolder | None = None,
    ) -> None:
        """Remember what this run read (after its items are written), and forget the
        seeds-folder files that are `gone`, in one transaction; and the seeds folder as a
        whole (`folder`, when given)."""
        if not (files or entries or gone or folder):
            return
        with self.transaction():
            if folder is not None:
                self._set_meta(SEED_FOLDER_META, folder.to_json())
            self._db.executemany(
                "DELETE FROM seed_files WHERE path = ?", [(path,) for path in gone]
            )
            self._db.executemany(
                "INSERT INTO seed_files "
                "(path, source_id, size, mtime, mtime_ns, fingerprint, entries) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET "
                "source_id = excluded.source_id, size = excluded.size, "
                "mtime = excluded.mtime, mtime_ns = excluded.mtime_ns, "
                "fingerprint = excluded.fingerprint, entries = excluded.entries",
                [
                    (
                        f.path,
                        f.source_id,
                        f.size,
                        dump_date(f.mtime),
                        f.mtime_ns,
                        f.fingerprint,
                        f.entries,
                    )
                    for f in files
                ],
            )
            self._db.executemany(
                "INSERT INTO source_entries (source_id, fingerprint, digests) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, digests = excluded.digests",
                [(e.source_id, e.fingerprint, json.dumps(sorted(e.digests))) for e in entries],
            )

    def seed_folder(self) -> SeedFolder | None:
        """The seeds folder as last read in full, if known."""
        text = self.get_meta(SEED_FOLDER_META)
        return SeedFolder.from_json(text) if text else None

    def forget_reads(self, source_id: str) -> None:
        """Make the next run read and clean this source again in full."""
        with self.transaction():
            self._set_meta(SEED_FOLDER_META, FORGOTTEN_FOLDER.to_json())
            self._db.execute("DELETE FROM seed_files WHERE source_id = ?", (source_id,))
            self._db.execute("DELETE FROM source_entries WHERE source_id = ?", (source_id,))

    # -- small key/value facts (last publish, ...) -----------------------------------

    def get_meta(self, name: str) -> str | None:
        with self._wrap("read meta"):
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction():
            self._set_meta(name, value)

    def _set_meta(self, name: str, value: str) -> None:
        """In the caller's transaction."""
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # -- published documents (`[output] store_documents`) ----------------------------

    def document_stamps(self) -> dict[str, str]:
        """Each stored document's path and the stamp of the file it was read from."""
        with self._wrap("read documents"):
            rows = self._db.execute("SELECT path, file_stamp FROM documents").fetchall()
        return {r[0]: r[1] for r in rows}

    def save_documents(self, documents: Sequence[Document], removed: Sequence[str]) -> None:
        """Store and delete documents in one transaction (a server sees a publish whole),
        with a new documents version. A document whose bytes did not change keeps its
        Last-Modified (another folder may have written the same bytes later)."""
        if not documents and not removed:
            return
        with self.transaction():
            self._db.executemany(_UPSERT_DOCUMENT, [_document_params(d) for d in documents])
            self._db.executemany("DELETE FROM documents WHERE path = ?", [(p,) for p in removed])
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (DOCUMENTS_VERSION_META, uuid.uuid4().hex),
            )

    def documents_version(self) -> str:
        """Changes with every change to the stored documents ("" before the first)."""
        return self.get_meta(DOCUMENTS_VERSION_META) or ""

    def document(self, path: str, *, unless_etag: str | None = None) -> Document | None:
        """The document at `path`, or None; its body is left out (b"") when its ETag is
        `unless_etag`, the version the caller holds already."""
        with self._wrap("read a document"):
            row = self._db.execute(
                "SELECT CASE WHEN etag = ? THEN NULL ELSE body END, content_type, etag, "
                "modified, file_stamp FROM documents WHERE path = ?",
                (unless_etag, path),
            ).fetchone()
        if row is None:
            return None
        return Document(
            path=path,
            body=bytes(row[0]) if row[0] is not None else b"",
            content_type=row[1],
            etag=row[2],
            modified=load_date(row[3]),
            file_stamp=row[4],
        )

    # -- article pages and robots.txt (full text for teasers) ------------------------

    def cached_articles(self, urls: Iterable[str]) -> dict[str, CachedArticle]:
        found: dict[str, CachedArticle] = {}
        with self._wrap("read the article cache"):
            rows = self._rows_in(
                f"SELECT {', '.join(_ARTICLE_COLUMNS)} FROM article_cache WHERE url IN ({{}})",
                dict.fromkeys(urls),
            )
            for row in rows:
                values = dict(zip(_ARTICLE_COLUMNS, row, strict=True))
                values["fetched_at"] = load_date(values["fetched_at"])
                values["retry_at"] = _opt_date(values["retry_at"])
                found[values["url"]] = CachedArticle(**values)
        return found

    def items_awaiting_pages(
        self, source_ids: Iterable[str], now: datetime, *, feed_id_base: str
    ) -> list[Item]:
        """The stored items of these sources with no article whose page is due a retry
        (its cache row's `retry_at` has come: a failure's, or a deferral's)."""
        with self._wrap("read the article cache"):
            due = {
                r[0]
                for r in self._db.execute(
                    "SELECT url FROM article_cache WHERE html IS NULL AND retry_at <= ?",
                    (dump_date(now),),
                )
            }
        wanted = set(source_ids)
        if not due or not wanted:
            return []
        sources = {
            s.id: attribution_for(s, feed_id_base=feed_id_base)
            for s in self.sources()
            if s.id in wanted
        }
        columns = ", ".join(c for c in _ITEM_COLUMNS if c != "signature")
        found: dict[str, Item] = {}
        with self._wrap("read items"):
            for column in ("link", "readmore"):  # the page: the read-more target, else the link
                rows = self._rows_in(f"SELECT {columns} FROM items WHERE {column} IN ({{}})", due)
                for row in rows:
                    if row["source_id"] in wanted and (row["readmore"] or row["link"]) in due:
                        found[row["key"]] = _stored_from_row(row, sources).item
        return list(found.values())

    def save_articles(self, rows: Sequence[CachedArticle]) -> None:
        if not rows:
            return
        # In the order of their URLs: a worker and a run saving pages of the same articles
        # at once then wait for each other, where each could hold a row the other wanted
        # next (a deadlock, PostgreSQL aborting one), as `LeaseMethods._lock_sources`.
        with self.transaction():
            self._db.executemany(
                _UPSERT_ARTICLE,
                [
                    tuple(
                        dump_date(v) if isinstance(v, datetime) else v
                        for v in (getattr(r, c) for c in _ARTICLE_COLUMNS)
                    )
                    for r in sorted(rows, key=lambda row: row.url)
                ],
            )

    def cached_robots(self, origin: str) -> CachedRobots | None:
        with self._wrap("read the robots.txt cache"):
            row = self._db.execute(
                "SELECT body, fetched_at FROM robots_cache WHERE origin = ?", (origin,)
            ).fetchone()
        if row is None:
            return None
        return CachedRobots(origin=origin, body=row[0], fetched_at=load_date(row[1]))

    def save_robots(self, robots: CachedRobots) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO robots_cache (origin, body, fetched_at) VALUES (?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET body = excluded.body, "
                "fetched_at = excluded.fetched_at",
                (robots.origin, robots.body, dump_date(robots.fetched_at)),
            )


_ARTICLE_COLUMNS = tuple(f.name for f in fields(CachedArticle))
_UPSERT_ARTICLE = (
    f"INSERT INTO article_cache ({', '.join(_ARTICLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ARTICLE_COLUMNS))}) "
    "ON CONFLICT (url) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ARTICLE_COLUMNS if c != "url")
)

_UPSERT_DOCUMENT = (
    "INSERT INTO documents (path, body, content_type, etag, modified, file_stamp) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET body = excluded.body, "
    "content_type = excluded.content_type, file_stamp = excluded.file_stamp, "
    "modified = CASE WHEN documents.etag = excluded.etag THEN documents.modified "
    "ELSE excluded.modified END, etag = excluded.etag"
)


def _document_params(d: Document) -> tuple[Any, ...]:
    return (d.path, d.body, d.content_type, d.etag, dump_date(d.modified), d.file_stamp)


_IN_CHUNK = 500  # values per IN list: far below SQLite's and PostgreSQL's caps
_ROWS_PER_STATEMENT = 10_000  # rows per INSERT of arrays (`Store._insert_many`)
# How `Store._in_statements` sends an IN list to PostgreSQL: one text, split by the server
# at a character that no key, id, link or token holds (the ASCII unit separator).
_LIST_SEPARATOR = "\x1f"
_ANY_OF_JOINED = f" = ANY(string_to_array(?, chr({ord(_LIST_SEPARATOR)})))"

# The meta holding the date since which `lookup_keys` holds every signed item; the keys of
# older items are dropped when it is this far behind the window's start.
LOOKUP_SINCE = "lookup_since"
LOOKUP_PRUNE_EVERY = timedelta(days=1)
# The meta holding the seeds folder as last read in full (`readstate.SeedFolder`).
SEED_FOLDER_META = "seed_folder"

_ITEM_COLUMNS = (
    "key", "source_id", "origin_id", "entry_id", "content_hash", "title", "link", "summary",
    "content_html", "text", "authors", "categories", "published", "updated", "via",
    "date_rule", "readmore", "notes", "first_seen", "last_seen", "merge_reason",
    "merge_score", "signature", "merge_detail",
)  # fmt: skip

_ITEM_TYPES = tuple("float8" if c == "merge_score" else "text" for c in _ITEM_COLUMNS)

# An update keeps the entry, the first-seen time and the merge decision of the item
# (`{}`: its rows, see `Store._insert_many`).
_UPSERT_ITEM = (
    f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}) {{}} "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in _ITEM_COLUMNS
        if c not in ("key", "entry_id", "first_seen", "merge_reason", "merge_score", "merge_detail")
    )
)


def _item_params(w: ItemWrite) -> tuple[Any, ...]:
    i = w.item
    return (
        i.key, i.source.source_id, i.origin_id, w.entry_id, i.content_hash, i.title, i.link,
        i.summary, i.content_html, i.text, json.dumps(list(i.authors)),
        json.dumps(list(i.categories)), dump_date(i.published), dump_date(i.updated), i.via,
        i.date_rule, i.readmore, json.dumps(list(i.notes)), dump_date(w.first_seen),
        dump_date(w.seen_at), w.merge_reason, w.merge_score, w.signature, w.merge_detail,
    )  # fmt: skip


# Columns left out of a read without text, and what stands in for them.
_TEXT_COLUMNS = {"text": "''", "notes": "'[]'"}


def _strings(stored: str) -> tuple[str, ...]:
    """A stored JSON list of strings; most are empty, which needs no parsing."""
    return () if stored == "[]" else tuple(json.loads(stored))


def _stored_from_row(row: Row, sources: dict[str, Attribution]) -> StoredItem:
    source = sources.get(row["source_id"]) or Attribution(
        source_id=row["source_id"],
        feed_url=row["source_id"],
        feed_id="urn:aggregator:source:" + row["source_id"],
    )
    item = Item(
        key=row["key"],
        origin_id=row["origin_id"],
        content_hash=row["content_hash"],
        title=row["title"],
        link=row["link"],
        summary=row["summary"],
        content_html=row["content_html"],
        text=row["text"],
        authors=_strings(row["authors"]),
        categories=_strings(row["categories"]),
        published=load_date(row["published"]),
        updated=load_date(row["updated"]),
        source=source,
        via=row["via"],
        date_rule=row["date_rule"],
        readmore=row["readmore"],
        notes=_strings(row["notes"]),
    )
    return StoredItem(
        item=item,
        entry_id=row["entry_id"],
        first_seen=load_date(row["first_seen"]),
        merge_reason=row["merge_reason"],
        merge_score=row["merge_score"],
        merge_detail=row["merge_detail"],
    )


def configured_state(spec: SourceSpec, existing: SourceState | None) -> SourceState:
    """A source row after (re)reading its configuration; fetch state is kept."""
    if existing is None:
        return SourceState(
            id=spec.id,
            url=spec.url,
            config_url=spec.url,
            kind=spec.kind.value,
            title=spec.title,
            tags=spec.tags,
            enabled=spec.enabled,
        )
    # Keep a URL learnt from a permanent redirect, unless the operator changed the
    # configured one since.
    url = existing.url if existing.config_url == spec.url else spec.url
    state = _replace(
        existing,
        title=spec.title,
        tags=spec.tags,
        kind=spec.kind.value,
        url=url,
        config_url=spec.url,
    )
    if existing.disabled_reason is None:
        state = _replace(state, enabled=spec.enabled)
    return state


def _replace(state: SourceState, **changes: Any) -> SourceState:
    values = {name: getattr(state, name) for name in _SOURCE_COLUMNS}
    values.update(changes)
    return SourceState(**values)


def is_postgres_url(db: str) -> bool:
    """Whether a `--db` value names a PostgreSQL database."""
    return db.startswith(("postgresql://", "postgres://"))


def sqlite_path(db: str) -> Path:
    """The SQLite file a `--db` value names; a clear error for anything else."""
    if is_postgres_url(db):
        raise StorageError(f"{redact(db)} is a PostgreSQL URL, not a SQLite path")
    if db.startswith("sqlite:"):
        return Path(db.removeprefix("sqlite:///").removeprefix("sqlite://"))
    if "://" in db:
        raise StorageError(
            f"{redact(db)}: unknown database URL; use a path, sqlite:///path or "
            "postgresql://user:password@host:port/database"
        )
    return Path(db)


def open_store(db: str, *, create: bool = True) -> Store:
    """Open (creating and migrating on first use) the store at a path or URL. With
    `create=False` (a process that only reads what others store: the publisher, a
    server of the documents) a database without our tables is refused, not created."""
    if not create and not is_postgres_url(db) and not sqlite_path(db).is_file():
        raise StorageError(f"no database at {sqlite_path(db)}: {_NOTHING_STORED}")
    store = _open_postgres(db) if is_postgres_url(db) else _open_sqlite(db)
    try:
        if not create and store.is_empty():
            raise StorageError(
                f"database {store.location} has no aggregator tables: {_NOTHING_STORED}"
            )
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


_NOTHING_STORED = (
    "nothing was ever stored there (check --db / db in the config; `aggregator run` or "
    "`aggregator worker` creates it)"
)


def _open_postgres(url: str) -> Store:
    location = redact(url)
    try:
        from aggregator.store.postgres import PostgresDatabase
    except ImportError:
        raise StorageError(
            f"{location}: PostgreSQL support needs psycopg: pip install 'aggregator[postgres]'"
        ) from None
    return Store(PostgresDatabase(url, location=location), location=location, opened_as=url)


def _open_sqlite(db: str) -> Store:
    path = sqlite_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN via `with conn`) and the
        # PRAGMAs below run outside of them.
        # check_same_thread=False: the daemon runs each cycle on a worker thread of its
        # own; cycles never overlap, so the connection is never used concurrently.
        connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    return Store(SQLiteDatabase(connection), location=str(path), opened_as=db)


def now_utc() -> datetime:
    """The one place the edge reads the clock; the core takes `now` as an argument."""
    return datetime.now(UTC)
