"""The database schema as an ordered list of migrations.

The schema version is the number of migrations applied, kept in ``PRAGMA user_version``
(SQLite) or the ``schema_version`` table (PostgreSQL). Never edit a released migration:
append a new one. The SQL is the subset both SQLite and PostgreSQL speak; on PostgreSQL
each statement runs with ``REAL`` read as ``DOUBLE PRECISION`` and ``TEXT`` as
``TEXT COLLATE "C"`` (SQLite's meaning of both; see `aggregator.store.postgres.pg_ddl`),
and all pending migrations commit as one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aggregator.store.backend import Database

# Dates are stored as fixed-width ISO-8601 UTC text ("2026-11-12T00:00:00.000000Z"), so
# they sort as text and read the same from both databases.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE sources (
            -- source data (from config or seeds/)
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,  -- where it is fetched from now (after permanent redirects)
            config_url TEXT,  -- the URL the operator configured
            kind TEXT NOT NULL,
            title TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            enabled INTEGER NOT NULL DEFAULT 1,
            -- what the source said about itself
            feed_title TEXT,
            feed_id TEXT,
            site_link TEXT,
            feed_updated TEXT,
            -- fetch state
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            last_fetch_at TEXT,
            last_status INTEGER,
            error_count INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_check_at TEXT,
            disabled_reason TEXT,
            last_new INTEGER NOT NULL DEFAULT 0,
            last_updated INTEGER NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE entries (
            id TEXT PRIMARY KEY,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE items (
            key TEXT PRIMARY KEY,
            source_id TEXT NOT NULL REFERENCES sources (id),
            origin_id TEXT NOT NULL,
            entry_id TEXT NOT NULL REFERENCES entries (id),
            content_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT,
            summary TEXT,
            content_html TEXT,
            text TEXT NOT NULL,
            authors TEXT NOT NULL,
            categories TEXT NOT NULL,
            published TEXT NOT NULL,
            updated TEXT NOT NULL,
            via TEXT,
            date_rule TEXT,
            readmore TEXT,
            notes TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            merge_reason TEXT,
            merge_score REAL,
            signature TEXT
        )
        """,
        "CREATE INDEX items_entry ON items (entry_id)",
        "CREATE INDEX items_source ON items (source_id)",
        "CREATE INDEX items_published ON items (published)",
        """
        CREATE TABLE tombstones (
            key TEXT PRIMARY KEY,
            deleted_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """,
    ),
    (
        # What matching weighed for each new item (candidate stories, scores, refusals),
        # so `explain` can show it.
        "ALTER TABLE items ADD COLUMN merge_detail TEXT",
        # Links that identify no single item: a publisher gives them to several items.
        """
        CREATE TABLE shared_links (
            link TEXT PRIMARY KEY,
            source_id TEXT NOT NULL,
            noted_at TEXT NOT NULL
        )
        """,
        # Learn them from what is already stored (seed documents are each their own
        # publisher, so the seeds folder teaches nothing here).
        """
        INSERT INTO shared_links (link, source_id, noted_at)
        SELECT link, MIN(source_id), MIN(noted_at) FROM (
            SELECT link, source_id, MIN(first_seen) AS noted_at FROM items
            WHERE link IS NOT NULL AND source_id <> 'seeds'
            GROUP BY source_id, link
            HAVING COUNT(DISTINCT key) > 1 AND COUNT(DISTINCT content_hash) > 1
        ) AS shared GROUP BY link
        """,
        # The operator's repairs: split an item off its story, join two stories. `moved`
        # lists every (key, entry before, entry after) so a decision can be undone.
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            target TEXT NOT NULL,
            moved TEXT NOT NULL,
            created TEXT NOT NULL,
            undone TEXT
        )
        """,
    ),
    # Issue 18: article pages fetched for teaser items, by URL with their validators, so
    # a page is fetched once per change; and robots.txt per origin (RFC 9309: a day).
    (
        """
        CREATE TABLE article_cache (
            url TEXT PRIMARY KEY,  -- the article URL as the item gave it
            final_url TEXT,  -- after redirects: the entry's link
            etag TEXT,
            last_modified TEXT,
            teaser_hash TEXT NOT NULL,  -- the item's content hash when fetched
            html TEXT,  -- the extracted article, before cleaning; NULL after a failure
            method TEXT,  -- which extractor found it
            reason TEXT,  -- why there is no article (a failure), else NULL
            fetched_at TEXT NOT NULL,
            retry_at TEXT  -- a failure is not tried again before this
        )
        """,
        """
        CREATE TABLE robots_cache (
            origin TEXT PRIMARY KEY,  -- scheme://host:port
            body TEXT,  -- robots.txt as fetched; NULL: none (every path allowed)
            fetched_at TEXT NOT NULL
        )
        """,
    ),
    (
        # Issue 16. Reading costs what changed (aggregator.store.readstate): each seeds file as it
        # was last read, and a digest of each raw entry of a feed when last cleaned.
        """
        CREATE TABLE seed_files (
            path TEXT PRIMARY KEY,  -- relative to the seeds folder
            source_id TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime TEXT NOT NULL,
            fingerprint TEXT NOT NULL,  -- the folder and settings it was read with
            entries INTEGER NOT NULL  -- counted unchanged while it is not read again
        )
        """,
        """
        CREATE TABLE source_entries (
            source_id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,  -- what cleaning its entries depended on
            digests TEXT NOT NULL  -- JSON list: each raw entry's digest
        )
        """,
        # A run with one new item looks its link up (shared links) and an operator's
        # rule names items by origin id or link: without these, each is a read of every
        # stored item, whatever its age.
        "CREATE INDEX items_link ON items (link)",
        "CREATE INDEX items_origin ON items (origin_id)",
        # Publishing tells which entries changed from this index alone (`item_versions`).
        "CREATE INDEX items_version ON items "
        "(entry_id, key, content_hash, published, updated, source_id, link)",
    ),
    (
        # Issue 17: workers on several machines share the due sources through leases
        # (`aggregator.store.leases`). A source is held by the worker named in
        # `lease_owner` until `lease_until`; a dead worker's leases simply expire.
        "ALTER TABLE sources ADD COLUMN lease_owner TEXT",
        "ALTER TABLE sources ADD COLUMN lease_until TEXT",
        # Claiming looks for due sources: without it, each claim reads every row.
        "CREATE INDEX sources_due ON sources (next_check_at)",
        "CREATE INDEX sources_lease ON sources (lease_owner)",
        # One row per worker process, beating while it lives (`aggregator status`).
        """
        CREATE TABLE workers (
            id TEXT PRIMARY KEY,  -- unique per process: the owner its leases name
            name TEXT NOT NULL,  -- --name, host:pid by default
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started TEXT NOT NULL,
            last_beat TEXT NOT NULL,
            lease_seconds REAL NOT NULL,  -- a worker silent for this long is dead
            stopped TEXT,  -- when it exited cleanly
            feeds_done INTEGER NOT NULL DEFAULT 0,
            items_done INTEGER NOT NULL DEFAULT 0
        )
        """,
    ),
    (
        # Issue 17 part 3: the published files kept in the database (`[output]
        # store_documents`), so `aggregator serve --from-database` on any machine serves
        # them with the headers the file server would send for the same bytes.
        """
        CREATE TABLE documents (
            path TEXT PRIMARY KEY,  -- relative to the output folder, with /
            content_type TEXT NOT NULL,
            etag TEXT NOT NULL,  -- strong, quoted, as served
            modified TEXT NOT NULL,  -- Last-Modified: the file's modification time
            file_stamp TEXT NOT NULL,  -- size and mtime_ns of the file it was read from
            -- Last: SQLite reads the columns before it without its overflow pages.
            body BLOB NOT NULL
        )
        """,
    ),
    (
        # Issue 16 part 6: the entries each write touched, with the data version it made
        # (one row per entry, its latest change), so a publish reads what changed since
        # the version its output folder holds (`Store.changed_entries`), not every item.
        """
        CREATE TABLE entry_changes (
            entry_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        )
        """,
        "CREATE INDEX entry_changes_version ON entry_changes (version)",
    ),
    (
        # Issue 16 part 5: a seed file's modification time to the nanosecond (st_mtime_ns),
        # so a file rewritten with the same size within the second it was read is read
        # again. NULL in older rows: their `mtime` text is compared until they are next
        # written (`aggregator.store.readstate.unchanged_file`).
        "ALTER TABLE seed_files ADD COLUMN mtime_ns BIGINT",
        # Issue 16 part 6 (the ingest side): what finds a stored item for matching
        # (`aggregator.dedupe.lookup`): each item of the dedupe window under each of its
        # anchors, sentence hashes, link, read-more link and fingerprint, so a run with
        # one new item reads the few items that share one of these, not the whole window.
        # Filled for the items published since the `lookup_since` meta date.
        """
        CREATE TABLE lookup_keys (
            token TEXT NOT NULL,  -- `aggregator.dedupe.signature.lookup_tokens`
            key TEXT NOT NULL,  -- the item
            published TEXT NOT NULL  -- the item's, so the window is read from here
        )
        """,
        "CREATE INDEX lookup_keys_token ON lookup_keys (token, published)",
        "CREATE INDEX lookup_keys_key ON lookup_keys (key)",
    ),
    (
        # A worker's claim walks the due sources in the order it takes them (never
        # fetched first, then the longest overdue) and stops at its batch. Without it,
        # each claim read and sorted every due source: a round over 20,000 due sources
        # (a cold start, a large OPML) cost 20 ms per claim on PostgreSQL and 8 on
        # SQLite, against 3 and 1.6 with it (bench/claims.py).
        "CREATE INDEX sources_claim ON sources (COALESCE(next_check_at, ''), id)",
    ),
    (
        # An updated item's old lookup keys are deleted by their tokens, read from its
        # stored signature (`Store._lookup_tokens_stored`), so the index by item key only
        # cost a write per row: ~27 rows per new item, a cold ingest's millions
        # (inserting a million rows took 5.0 s with it on PostgreSQL, 3.6 s without).
        "DROP INDEX lookup_keys_key",
    ),
    (
        # `items_version` begins with entry_id, so it serves every read by entry that
        # `items_entry` did (checked with EXPLAIN on both databases, and by
        # bench/history.py): the narrow index only cost a write per stored item.
        "DROP INDEX items_entry",
    ),
    (
        # Storing a batch ends each lease by `id = ? AND lease_owner = ?`. Once statistics
        # were taken with no lease held (every lease_owner NULL: autovacuum's analyze at a
        # quiet moment), PostgreSQL ran it through this index, reading every lease of the
        # worker for each source stored: 225 ms of the server's CPU per 2,000 sources
        # against 62 by the primary key. What reads by owner alone (renewing a worker's
        # leases every quarter lease, `status`) reads the table; and the claim, which
        # sets the owner, may now update its rows in place (HOT).
        "DROP INDEX sources_lease",
    ),
    (
        # The config each source last ran under (`policy.config_key`), on its row: kept as
        # one JSON record of every source in `meta`, it was read and parsed whole for each
        # batch a worker stored (65 KB at 2,000 sources: a cost growing with the sources
        # configured, not with the batch). Moved by `_config_keys_to_rows`.
        "ALTER TABLE sources ADD COLUMN config_key TEXT",
    ),
)

_SOURCE_CONFIGS_META = "source_configs"  # where the config keys were kept before


def _config_keys_to_rows(db: Database) -> None:
    """Migration 13's data: each source's key from the JSON record onto its row."""
    row = db.execute("SELECT value FROM meta WHERE name = ?", (_SOURCE_CONFIGS_META,)).fetchone()
    if row is None:
        return
    keys = json.loads(row[0] or "{}")
    if isinstance(keys, dict):
        db.executemany(
            "UPDATE sources SET config_key = ? WHERE id = ?",
            [(str(key), str(source_id)) for source_id, key in keys.items()],
        )
    db.execute("DELETE FROM meta WHERE name = ?", (_SOURCE_CONFIGS_META,))


# Python run after a migration's statements, in the same transaction: data moved.
DATA_MIGRATIONS: dict[int, Callable[[Database], None]] = {13: _config_keys_to_rows}

SCHEMA_VERSION = len(MIGRATIONS)
