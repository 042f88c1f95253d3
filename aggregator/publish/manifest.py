"""What the last publish into an output folder was, kept in that folder and queried by key.

`.published.sqlite` (hidden: `aggregator serve` does not serve it) holds, for the folder
it sits in:

* facts: the fingerprint of what shapes every file (aggregator version, feed settings),
  a digest of the sources listed, the store's data version the folder holds, how many
  entries it shows, and the modification times of its folders when the publish ended;
* files: each output file's key (`site.Output.key`), and for a feed without entries the
  time of its last change;
* entries: each entry's place (dates, month, page, the sources that carried it) and the
  digest of everything its rendering depends on, indexed the ways the files select them:
  newest first (index.atom), by month in order of publication (archives), newest first
  per source (per-source and per-tag feeds);
* months: how many entries each month holds (the archive pages and their links);
* sources: a digest of each source's attribution (atom:source of its entries).

So a publish after a change reads the rows of the files that change, not the whole
folder's. A folder each machine publishes to has its own manifest: each knows what its
own folder holds. The manifest is a cache: a missing, unreadable or foreign one means a
full publish, which is always correct.

The journal is truncated, never deleted (`journal_mode = TRUNCATE`), so committing does
not touch the folder's own modification time, which tells a file deleted by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aggregator.exceptions import PublishError
from aggregator.publish.atom import EPOCH

MANIFEST_DB = ".published.sqlite"
_FORMAT = "1"  # of this file's tables; another value is a foreign manifest (read as none)
_MICROSECOND = timedelta(microseconds=1)
# The folders whose own modification time tells that a file in them was added, deleted
# or renamed by someone else ("" is the output folder itself).
FOLDERS = ("", "archive", "sources", "tags", "entries")

_SCHEMA = (
    "CREATE TABLE facts (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE files (path TEXT PRIMARY KEY, key TEXT NOT NULL, stamp TEXT)",
    """
    CREATE TABLE entries (
        id TEXT PRIMARY KEY,
        digest BLOB NOT NULL,
        rank INTEGER NOT NULL,  -- minus updated, in µs: newest first is ascending
        published INTEGER NOT NULL,  -- µs since 1970
        month TEXT NOT NULL,
        page TEXT,
        sources TEXT NOT NULL  -- JSON list: the sources that carried it (sorted)
    )
    """,
    """
    CREATE TABLE entry_sources (
        source_id TEXT NOT NULL,
        rank INTEGER NOT NULL,
        entry_id TEXT NOT NULL,
        PRIMARY KEY (source_id, rank, entry_id)
    ) WITHOUT ROWID
    """,
    "CREATE TABLE months (month TEXT PRIMARY KEY, entries INTEGER NOT NULL)",
    "CREATE TABLE sources (id TEXT PRIMARY KEY, digest TEXT NOT NULL)",
)
# Made once the rows of a new manifest are in: a million rows go in several times faster.
_INDEXES = (
    "CREATE INDEX entries_newest ON entries (rank, id)",
    "CREATE INDEX entries_month ON entries (month, published, id)",
)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return EPOCH + value * _MICROSECOND


@dataclass(frozen=True, slots=True)
class Placed:
    """An entry as the manifest keeps it: what places it in files, and its digest."""

    id: str
    digest: bytes
    published: datetime
    updated: datetime
    page: str | None
    carried_by: tuple[str, ...]

    @property
    def month(self) -> str:
        return f"{self.published.year:04d}-{self.published.month:02d}"


_ENTRY_COLUMNS = "id, digest, rank, published, page, sources"


def _placed(row: Sequence[object]) -> Placed:
    entry_id, digest, rank, published, page, sources = row
    assert isinstance(rank, int) and isinstance(published, int)
    return Placed(
        id=str(entry_id),
        digest=bytes(digest),  # type: ignore[call-overload]
        published=from_micros(published),
        updated=from_micros(-rank),
        page=None if page is None else str(page),
        carried_by=tuple(json.loads(str(sources))),
    )


class Manifest:
    """An open manifest of one output folder."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self.path = path

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, out_dir: Path) -> Manifest | None:
        """The folder's manifest; None when it is missing, unreadable or of another format."""
        path = out_dir / MANIFEST_DB
        if not path.is_file():
            return None
        try:
            conn = _connect(path)
        except sqlite3.Error:
            return None
        manifest = cls(conn, path)
        try:
            if manifest.fact("format") == _FORMAT:
                return manifest
        except sqlite3.Error:
            pass
        manifest.close()
        return None

    @classmethod
    def create(cls, out_dir: Path) -> Manifest:
        """A new, empty manifest in a temporary file (`replace_into` puts it in place)."""
        path = out_dir / f".{MANIFEST_DB}.new"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            conn = _connect(path, journal="OFF")  # a file of its own until it is complete
            with conn:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO facts VALUES ('format', ?)", (_FORMAT,))
        except (OSError, sqlite3.Error) as exc:
            raise PublishError(f"{path}: cannot write the manifest: {exc}") from exc
        return cls(conn, path)

    def replace_into(self, out_dir: Path) -> Manifest:
        """Put a manifest made by `create` in place (atomically), open again there."""
        with self.transaction():
            for statement in _INDEXES:
                self._conn.execute(statement)
        self.close()
        target = out_dir / MANIFEST_DB
        try:
            os.replace(self.path, target)
            for journal in (f"{MANIFEST_DB}-journal", f"{self.path.name}-journal"):
                with contextlib.suppress(FileNotFoundError):
                    (out_dir / journal).unlink()  # the replaced file's, the new one's
        except OSError as exc:
            raise PublishError(f"{target}: cannot write the manifest: {exc}") from exc
        manifest = Manifest.open(out_dir)
        if manifest is None:
            raise PublishError(f"{target}: the manifest just written cannot be read")
        return manifest

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._conn:
                yield
        except sqlite3.Error as exc:
            raise PublishError(f"{self.path}: cannot write the manifest: {exc}") from exc

    # -- facts -----------------------------------------------------------------------

    def fact(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_facts(self, facts: Mapping[str, str]) -> None:
        self._conn.executemany(
            "INSERT INTO facts (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            sorted(facts.items()),
        )

    def seal(self, out_dir: Path) -> None:
        """Note the folders' modification times, once everything else is written."""
        with self.transaction():  # the journal file exists before the folder is looked at
            self._conn.execute("INSERT OR REPLACE INTO facts VALUES ('sealed', '')")
        times = json.dumps(folder_times(out_dir))
        with self.transaction():
            self.set_facts({"folders": times})

    def folders_touched(self, out_dir: Path) -> bool:
        """Whether a file was added, deleted or renamed in a folder since `seal`."""
        return self.fact("folders") != json.dumps(folder_times(out_dir))

    # -- files -----------------------------------------------------------------------

    def files(self, paths: Iterable[str] | None = None) -> dict[str, tuple[str, str | None]]:
        """path → (key, stamp) of these files (of all, without `paths`)."""
        sql = "SELECT path, key, stamp FROM files"
        if paths is None:
            return {r[0]: (r[1], r[2]) for r in self._conn.execute(sql)}
        found = {}
        for chunk in _chunks(sorted(set(paths))):
            marks = ", ".join("?" * len(chunk))
            for r in self._conn.execute(f"{sql} WHERE path IN ({marks})", chunk):
                found[r[0]] = (r[1], r[2])
        return found

    def paths_under(self, folder: str) -> list[str]:
        """The files kept under `folder` (e.g. "sources/")."""
        sql = "SELECT path FROM files WHERE path >= ? AND path < ? ORDER BY path"
        return [r[0] for r in self._conn.execute(sql, (folder, folder + "\U0010ffff"))]

    def save_files(
        self, keys: Mapping[str, str], stamps: Mapping[str, tuple[str, str]], gone: Iterable[str]
    ) -> None:
        self._conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
        self._conn.executemany(
            "INSERT INTO files (path, key, stamp) VALUES (?, ?, ?) ON CONFLICT (path) "
            "DO UPDATE SET key = excluded.key, stamp = excluded.stamp",
            [
                (path, key, stamps[path][1] if path in stamps and stamps[path][0] == key else None)
                for path, key in sorted(keys.items())
            ],
        )

    # -- entries ---------------------------------------------------------------------

    def entries(self, ids: Iterable[str]) -> dict[str, Placed]:
        found = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id IN ({marks})"
            for row in self._conn.execute(sql, chunk):
                found[row[0]] = _placed(row)
        return found

    def all_entries(self) -> Iterator[Placed]:
        for row in self._conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries"):
            yield _placed(row)

    def newest(self, count: int) -> list[Placed]:
        """The first `count` entries, newest first (updated, then id)."""
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries ORDER BY rank, id LIMIT ?"
        return [_placed(r) for r in self._conn.execute(sql, (count,))]

    def newest_of_source(self, source_id: str, count: int) -> list[Placed]:
        """The first `count` entries a source carried, newest first."""
        sql = (
            f"SELECT {', '.join('e.' + c.strip() for c in _ENTRY_COLUMNS.split(','))} "
            "FROM entry_sources s JOIN entries e ON e.id = s.entry_id "
            "WHERE s.source_id = ? ORDER BY s.rank, s.entry_id LIMIT ?"
        )
        return [_placed(r) for r in self._conn.execute(sql, (source_id, count))]

    def month(self, month: str) -> list[Placed]:
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE month = ? ORDER BY published, id"
        return [_placed(r) for r in self._conn.execute(sql, (month,))]

    def position_in_month(self, entry: Placed) -> int:
        """How many entries of its month were published before `entry` (then by id)."""
        row = self._conn.execute(
            "SELECT COUNT(*) FROM entries WHERE month = ? AND "
            "(published < ? OR (published = ? AND id < ?))",
            (entry.month, micros(entry.published), micros(entry.published), entry.id),
        ).fetchone()
        return int(row[0])

    def months(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._conn.execute("SELECT month, entries FROM months")}

    def remove_entries(self, entries: Iterable[Placed]) -> None:
        gone = list(entries)
        self._conn.executemany("DELETE FROM entries WHERE id = ?", [(e.id,) for e in gone])
        self._conn.executemany(
            "DELETE FROM entry_sources WHERE source_id = ? AND rank = ? AND entry_id = ?",
            [(s, -micros(e.updated), e.id) for e in gone for s in e.carried_by],
        )

    def add_entries(self, entries: Iterable[Placed]) -> None:
        added = list(entries)
        listed: dict[tuple[str, ...], str] = {}  # most entries share their one source

        def sources(carried_by: tuple[str, ...]) -> str:
            text = listed.get(carried_by)
            if text is None:
                text = listed[carried_by] = json.dumps(list(carried_by))
            return text

        self._conn.executemany(
            "INSERT INTO entries (id, digest, rank, published, month, page, sources) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.id,
                    e.digest,
                    -micros(e.updated),
                    micros(e.published),
                    e.month,
                    e.page,
                    sources(e.carried_by),
                )
                for e in added
            ],
        )
        self._conn.executemany(
            "INSERT INTO entry_sources (source_id, rank, entry_id) VALUES (?, ?, ?)",
            [(s, -micros(e.updated), e.id) for e in added for s in e.carried_by],
        )

    def recount_months(self, months: Iterable[str]) -> None:
        """Count these months' entries again (a month with none is dropped)."""
        for month in sorted(set(months)):
            row = self._conn.execute(
                "SELECT COUNT(*) FROM entries WHERE month = ?", (month,)
            ).fetchone()
            if int(row[0]):
                self._conn.execute(
                    "INSERT INTO months (month, entries) VALUES (?, ?) "
                    "ON CONFLICT (month) DO UPDATE SET entries = excluded.entries",
                    (month, int(row[0])),
                )
            else:
                self._conn.execute("DELETE FROM months WHERE month = ?", (month,))

    # -- sources ---------------------------------------------------------------------

    def source_digests(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._conn.execute("SELECT id, digest FROM sources")}

    def set_source_digests(self, digests: Mapping[str, str]) -> None:
        self._conn.execute("DELETE FROM sources")
        self._conn.executemany("INSERT INTO sources VALUES (?, ?)", sorted(digests.items()))


def _connect(path: Path, journal: str = "TRUNCATE") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.execute("PRAGMA synchronous = NORMAL")
    # isolation_level=None: `with conn` alone would not begin a transaction.
    conn.isolation_level = "DEFERRED"
    return conn


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def folder_times(out_dir: Path) -> dict[str, int]:
    times = {}
    for folder in FOLDERS:
        try:
            times[folder] = (out_dir / folder).stat().st_mtime_ns
        except OSError:
            times[folder] = -1
    return times
