"""Leases on due sources and the workers that hold them (issue 17): the SQL behind
`aggregator worker`, mixed into `Store`.

A worker claims a few due sources at a time by writing its id and an expiry into their
rows (`claim_sources`); PostgreSQL skips the rows another worker is claiming at that very
moment (``FOR UPDATE SKIP LOCKED``), SQLite serialises the one statement in its write
lock. While it works the worker renews its leases with each heartbeat; once a source's
results are stored it writes the source's new state and clears the lease in one
statement that only matches while the lease is still its own (`release_sources`). A
killed worker renews nothing: its leases expire and the next claim takes them.

Every time here is the caller's clock (`now`), as everywhere in the store: the machines
running workers keep their clocks in step (NTP), as they must for due times anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from aggregator.model import SourceSpec
from aggregator.store.backend import Database

if TYPE_CHECKING:
    from aggregator.store import SourceState

__all__ = ["Lag", "LeaseMethods", "WorkerRow"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerRow:
    """One worker process as its heartbeats left it."""

    id: str  # unique per process: what its leases name
    name: str
    host: str
    pid: int
    started: datetime
    last_beat: datetime
    lease_seconds: float
    stopped: datetime | None = None
    feeds_done: int = 0
    items_done: int = 0

    def alive(self, now: datetime) -> bool:
        """Beating, and not stopped: a worker silent for a lease's length is dead (its
        leases have expired by then too)."""
        return self.stopped is None and now - self.last_beat < timedelta(seconds=self.lease_seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lag:
    """How far the workers are behind: the due sources nobody holds."""

    due: int  # enabled remote sources due now and not leased
    never_fetched: int  # of those, sources never fetched (no due time yet)
    oldest_due: datetime | None  # the earliest due time among the others
    leased: int  # sources under a live lease


# The columns a worker's release writes: the fetch state `policy.state_after` computes.
# The configured ones (title, tags, kind, config_url) are the config's, kept as they are.
_STATE_COLUMNS = (
    "url", "enabled", "feed_title", "feed_id", "site_link", "feed_updated", "etag",
    "last_modified", "body_hash", "last_fetch_at", "last_status", "error_count",
    "last_error", "next_check_at", "disabled_reason", "last_new", "last_updated",
)  # fmt: skip

_STATE_SETS = ", ".join(f"{c} = :{c}" for c in _STATE_COLUMNS)


# The columns `sync_sources` writes: the configured ones, the URL and the enabled flag.
_CONFIG_COLUMNS = ("url", "config_url", "kind", "title", "tags", "enabled")
# A source's row as its config says (`_configured_params`), its fetch state and lease
# untouched: a worker storing that state at the same moment loses nothing. The rules of
# `store.configured_state`, applied to the row as it is when written, not as it was read.
_CONFIGURED_UPSERT = (
    "INSERT INTO sources (id, url, config_url, kind, title, tags, enabled) "
    "VALUES (:id, :url, :config_url, :kind, :title, :tags, :enabled) "
    "ON CONFLICT (id) DO UPDATE SET title = excluded.title, tags = excluded.tags, "
    "kind = excluded.kind, config_url = excluded.config_url, "
    # A URL learnt from a permanent redirect stays, unless the configured one changed.
    "url = CASE WHEN sources.config_url = excluded.config_url "
    "THEN sources.url ELSE excluded.url END, "
    # A source disabled for a reason (a 410) stays so until its config changes.
    "enabled = CASE WHEN sources.disabled_reason IS NULL "
    "THEN excluded.enabled ELSE sources.enabled END"
)


def _params(state: SourceState, columns: Sequence[str]) -> dict[str, Any]:
    """The id and `columns` of a source's row, as the store writes them."""
    from aggregator.store import _source_params

    params = _source_params(state)
    return {"id": state.id, **{c: params[c] for c in columns}}


def _configured_params(spec: SourceSpec) -> dict[str, Any]:
    """`_CONFIGURED_UPSERT`'s parameters for a configured source."""
    from aggregator.store import configured_state

    return _params(configured_state(spec, None), _CONFIG_COLUMNS)


def _state_params(state: SourceState) -> dict[str, Any]:
    return _params(state, _STATE_COLUMNS)


def _differs(row: Any, wanted: dict[str, Any]) -> bool:
    """Whether writing `wanted` would change the stored `row` (id, config_url, kind, title,
    tags, enabled, disabled_reason), by the rules of `sync_sources`' upsert: a new
    configured URL brings its URL along, and the enabled flag of a source disabled for a
    reason stays."""
    if row is None:
        return True
    _, config_url, kind, title, tags, enabled, disabled_reason = row
    return (
        (config_url, kind, title, tags)
        != (wanted["config_url"], wanted["kind"], wanted["title"], wanted["tags"])
    ) or (disabled_reason is None and enabled != wanted["enabled"])


# Never fetched (NULL) reads as '', before every date: the form of the `sources_claim`
# index, so a claim walks it in order.
_DUE_ORDER = "COALESCE(next_check_at, '')"
_DUE = (
    "enabled = 1 AND kind = 'remote' "
    f"AND {_DUE_ORDER} <= :now "
    "AND (last_fetch_at IS NULL OR last_fetch_at <= :fetched_before)"
)
_FREE = "(lease_until IS NULL OR lease_until <= :now)"
# The sources (an IN list of ids) whose leases a release may end: each found by its key,
# and locked (`Database.lock_rows`) in the order of their ids (see `_lock_sources`).
HELD_LEASES = "SELECT id, lease_owner FROM sources WHERE id IN ({}) ORDER BY id"
# Every transaction that writes several sources' rows locks them in one order first, the
# ids': see `LeaseMethods._lock_sources`.
_LOCK_IN_ORDER = "SELECT id FROM sources WHERE id IN ({}) ORDER BY id"
# The state columns PostgreSQL stores as integers (the others are text).
_INTEGER_COLUMNS = frozenset({"enabled", "last_status", "error_count", "last_new", "last_updated"})


@cache
def release_statement(*, arrays: bool) -> str:
    """What stores sources' states and ends the owner's leases on them, each source found
    by its primary key (see `LeaseMethods.release_sources`). With `arrays` (PostgreSQL),
    all sources in one statement, each column an array: a statement per source cost the
    server and psycopg a round of work each, 2,000 in a steady round; the rows are those
    the transaction has locked as the owner's. Else one per source, named parameters,
    that checks the owner itself."""
    if not arrays:
        return (
            f"UPDATE sources SET {_STATE_SETS}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = :id AND lease_owner = :owner"
        )
    return states_from_arrays(", lease_owner = NULL, lease_until = NULL")


@cache
def states_from_arrays(also_set: str = "") -> str:
    """PostgreSQL: an UPDATE of sources' states, one array parameter per column of
    `state_arrays` (each row found by its id), setting `also_set` too."""
    columns = ("id", *_STATE_COLUMNS)
    arrays_of = ", ".join(f"?::{'integer' if c in _INTEGER_COLUMNS else 'text'}[]" for c in columns)
    return (
        f"UPDATE sources AS s SET {', '.join(f'{c} = v.{c}' for c in _STATE_COLUMNS)}"
        f"{also_set} FROM unnest({arrays_of}) AS v({', '.join(columns)}) WHERE s.id = v.id"
    )


def state_arrays(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The parameters of `states_from_arrays`: the rows (`_state_params`) by column."""
    return [[row[c] for row in rows] for c in ("id", *_STATE_COLUMNS)]


class LeaseMethods:
    """The lease and worker queries of `Store` (which provides what is declared here)."""

    _db: Database

    def _wrap(self, doing: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _rows_in(
        self, sql: str, values: Iterable[str], *, first: Sequence[str | None] = ()
    ) -> Iterator[Any]:
        raise NotImplementedError

    def _lock_sources(self, ids: Iterable[str]) -> None:
        """PostgreSQL: lock these sources' rows until the transaction ends, in the order of
        their ids. Workers, runs and a starting worker's config write sources' rows at the
        same moment, each statement locking rows in the order it finds them (the table's,
        an index's, the config's); two transactions that each held a row the other
        wanted next were a deadlock, which PostgreSQL ends by aborting one of them (a
        worker's batch given up: fetched again). Taken in one order, one waits for the
        other instead. SQLite has one writer at a time: nothing to do."""
        if self._db.lock_rows:
            for _ in self._rows_in(_LOCK_IN_ORDER + self._db.lock_rows, ids):
                pass

    def _execute_in(self, sql: str, values: Iterable[str]) -> None:
        raise NotImplementedError

    # -- leases --------------------------------------------------------------------------

    def claim_sources(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        min_interval: timedelta,
    ) -> list[SourceState]:
        """Lease up to `limit` due, unleased sources to `owner` until `now + lease`; the
        longest overdue first (never fetched before all). One statement, so two claims at
        once never get the same source."""
        from aggregator.store import _source_from_row, dump_date

        sql = (
            "UPDATE sources SET lease_owner = :owner, lease_until = :until "
            "WHERE id IN (SELECT id FROM sources "
            f"WHERE {_DUE} AND {_FREE} "
            f"ORDER BY {_DUE_ORDER}, id "
            f"LIMIT :limit{self._db.skip_locked}) RETURNING *"
        )
        params = {
            "owner": owner,
            "until": dump_date(now + lease),
            "now": dump_date(now),
            "fetched_before": dump_date(now - min_interval),
            "limit": limit,
        }
        with self.transaction():
            rows = self._db.execute(sql, params).fetchall()
        return sorted((_source_from_row(r) for r in rows), key=_claim_order)

    def lease_these(
        self,
        owner: str,
        ids: Sequence[str],
        *,
        now: datetime,
        until: datetime,
        as_read: Mapping[str, datetime | None] | None = None,
    ) -> set[str]:
        """Lease to `owner` until `until` those of the sources `ids` that nobody holds; the
        ids it got. For `aggregator run` (and `serve`'s schedule), which fetches the
        sources it found due itself: a worker's claim skips them meanwhile, and the run
        leaves alone those a worker holds. With `as_read` (each source's last fetch as
        the caller read it), a source fetched since is not leased either: a worker that
        held it then has stored it meanwhile, and it is no longer due."""
        from aggregator.store import _opt_date, dump_date

        if not ids:
            return set()
        with self.transaction():
            self._lock_sources(ids)
            rows = list(
                self._rows_in(
                    "UPDATE sources SET lease_owner = ?, lease_until = ? "
                    "WHERE (lease_until IS NULL OR lease_until <= ?) AND id IN ({}) "
                    "RETURNING id, last_fetch_at",
                    ids,
                    first=[owner, dump_date(until), dump_date(now)],
                )
            )
            ours = {row[0] for row in rows}
            if as_read is not None:
                since = [sid for sid, fetched in rows if _opt_date(fetched) != as_read.get(sid)]
                if since:  # given back at once, in the same transaction
                    self._execute_in(
                        "UPDATE sources SET lease_owner = NULL, lease_until = NULL "
                        "WHERE id IN ({})",
                        since,
                    )
                    ours.difference_update(since)
        return ours

    def renew_leases(self, owner: str, *, until: datetime) -> int:
        """Push the expiry of every lease `owner` holds to `until`; how many it renewed.

        On PostgreSQL the rows another transaction has locked are skipped: most likely
        the owner's own store is writing them, which ends their leases. Waiting for them
        instead could deadlock with that store, each having locked rows in its own order
        (its ids' against this index's), and PostgreSQL would abort one of the two.

        Asked first, without writing, whether `owner` holds any lease: a run of seeds only
        holds none, and on SQLite an UPDATE waits for the write lock even when it changes
        nothing (a long store of the run's own kept its renewal waiting, then failing)."""
        from aggregator.store import dump_date

        with self._wrap("read leases"):
            held = self._db.execute(
                "SELECT 1 FROM sources WHERE lease_owner = ? LIMIT 1", (owner,)
            ).fetchone()
        if held is None:
            return 0
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE sources SET lease_until = ? WHERE id IN "
                f"(SELECT id FROM sources WHERE lease_owner = ?{self._db.skip_locked})",
                (dump_date(until), owner),
            )
            return int(cursor.rowcount)

    def release_sources(self, owner: str, states: Sequence[SourceState]) -> list[str]:
        """Store each source's state after its fetch and end `owner`'s lease on it, in
        one transaction; a source whose lease is no longer `owner`'s is left alone (its
        new holder writes it). Returns the ids of those lost leases."""
        # Which leases are still ours, asked once and locked until the end of the
        # transaction (no claim can take them in between), then one batch of updates:
        # a statement per source cost a round trip each, a third of a warm worker's CPU.
        # The rows are found by id alone and their owner compared here: once statistics
        # were taken with no lease held (every owner NULL: autovacuum's analyze at a quiet
        # moment), PostgreSQL planned a condition on the owner as matching nothing, and
        # read every lease, or every source, to find it.
        held = self._rows_in(HELD_LEASES + self._db.lock_rows, [state.id for state in states])
        with self.transaction():
            ours = {row[0] for row in held if row[1] == owner}
            rows = [_state_params(s) for s in states if s.id in ours]
            if self._in_one_statement(rows):
                self._db.execute(release_statement(arrays=True), state_arrays(rows))
            elif rows:
                self._db.executemany(
                    release_statement(arrays=False), [{**r, "owner": owner} for r in rows]
                )
        return [state.id for state in states if state.id not in ours]

    def write_states(self, states: Sequence[SourceState]) -> None:
        """Write sources' fetch state whoever holds them (the config's restarts), their
        leases untouched."""
        rows = [_state_params(state) for state in states]
        with self.transaction():
            self._lock_sources(r["id"] for r in rows)
            # A config changed for every source restarts them all, under the writer lock
            # every worker waits for at start: one statement, not one per source.
            if self._in_one_statement(rows):
                self._db.execute(states_from_arrays(), state_arrays(rows))
            else:
                for row in rows:
                    self._db.execute(f"UPDATE sources SET {_STATE_SETS} WHERE id = :id", row)

    def _in_one_statement(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Whether these sources' states (`_state_params`) are written by one
        `states_from_arrays` statement: on PostgreSQL, and each source given once (one
        statement cannot update a row twice; a source given twice goes row by row)."""
        return bool(self._db.arrays and rows) and len({r["id"] for r in rows}) == len(rows)

    def drop_leases(
        self,
        owner: str,
        source_ids: Sequence[str] | None = None,
        *,
        hold_until: datetime | None = None,
    ) -> int:
        """End `owner`'s leases (on `source_ids`, or all) without touching the sources'
        state: they are due as before, for the next claim; or, with `hold_until`, for
        no claim before then (held by nobody: no heartbeat renews them)."""
        from aggregator.store import dump_date

        until = dump_date(hold_until) if hold_until is not None else None
        sql = "UPDATE sources SET lease_owner = NULL, lease_until = ? WHERE lease_owner = ?"
        with self.transaction():
            if source_ids is None:
                if self._db.lock_rows:  # in the ids' order, as `_lock_sources`
                    self._db.execute(
                        "SELECT id FROM sources WHERE lease_owner = ? ORDER BY id"
                        + self._db.lock_rows,
                        (owner,),
                    ).fetchall()
                return int(self._db.execute(sql, (until, owner)).rowcount)
            self._lock_sources(source_ids)
            # One statement for the lot: a batch given up is a batch of round trips less.
            dropped = self._rows_in(
                sql + " AND id IN ({}) RETURNING id", source_ids, first=[until, owner]
            )
            return sum(1 for _ in dropped)

    def lease_holders(self, now: datetime) -> dict[str, int]:
        """Live leases per owner."""
        from aggregator.store import dump_date

        with self._wrap("read leases"):
            rows = self._db.execute(
                "SELECT lease_owner, COUNT(*) FROM sources "
                "WHERE lease_owner IS NOT NULL AND lease_until > ? GROUP BY lease_owner",
                (dump_date(now),),
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def lag(self, now: datetime, *, min_interval: timedelta) -> Lag:
        """The due sources nobody holds, and the live leases."""
        from aggregator.store import dump_date, load_date

        params = {"now": dump_date(now), "fetched_before": dump_date(now - min_interval)}
        with self._wrap("read the due sources"):
            row = self._db.execute(
                "SELECT COUNT(*), "
                "SUM(CASE WHEN next_check_at IS NULL THEN 1 ELSE 0 END), MIN(next_check_at) "
                f"FROM sources WHERE {_DUE} AND {_FREE}",
                params,
            ).fetchone()
            leased = self._db.execute(
                "SELECT COUNT(*) FROM sources WHERE lease_until > :now", params
            ).fetchone()
        return Lag(
            due=int(row[0]),
            never_fetched=int(row[1] or 0),
            oldest_due=load_date(row[2]) if row[2] else None,
            leased=int(leased[0]),
        )

    def next_due(self, now: datetime) -> datetime | None:
        """When the first source nobody holds falls due after `now`: an idle worker
        sleeps until then rather than a whole poll interval (which a steady state of
        sources falling due one by one paid in lag). None when none is scheduled."""
        from aggregator.store import dump_date, load_date

        with self._wrap("read the next due time"):
            row = self._db.execute(
                "SELECT MIN(next_check_at) FROM sources WHERE enabled = 1 AND kind = 'remote' "
                f"AND next_check_at > :now AND {_FREE}",
                {"now": dump_date(now)},
            ).fetchone()
        return load_date(row[0]) if row and row[0] else None

    def write_configured(self, specs: Sequence[SourceSpec]) -> None:
        """Write what the config says of these sources in one transaction: new ones
        inserted, the others' configured fields refreshed, fetch state and leases as they
        are (`_CONFIGURED_UPSERT`)."""
        if specs:
            with self.transaction():
                self._lock_sources(s.id for s in specs)
                self._db.executemany(_CONFIGURED_UPSERT, [_configured_params(s) for s in specs])

    def sync_sources(self, specs: Sequence[SourceSpec]) -> None:
        """Make the sources' rows say what the config says, touching no fetch state and
        no lease (a worker releasing one at this moment loses nothing): new sources are
        inserted, configured fields refreshed, and remote sources the config no longer
        lists disabled, as `aggregator sources remove` does.

        Only the rows that would change are written: every worker does this at start,
        under the writer lock, over every configured source, and with a config unchanged
        since the last start that is one read instead of a write per source (which held
        the lock, and the other workers starting, for half a second at 1,000 sources)."""
        configured = {spec.id for spec in specs}
        wanted = [_configured_params(spec) for spec in specs]
        with self.transaction():
            stored = {
                row[0]: row
                for row in self._db.execute(
                    "SELECT id, config_url, kind, title, tags, enabled, disabled_reason "
                    "FROM sources"
                ).fetchall()
            }
            changed = [p for p in wanted if _differs(stored.get(p["id"]), p)]
            unlisted = [
                (sid,)
                for sid, row in stored.items()
                if row[2] == "remote" and row[5] == 1 and sid not in configured
            ]
            self._lock_sources([*(p["id"] for p in changed), *(sid for (sid,) in unlisted)])
            # One batch each (psycopg pipelines it), not a round trip per source.
            self._db.executemany(_CONFIGURED_UPSERT, changed)
            self._db.executemany("UPDATE sources SET enabled = 0 WHERE id = ?", unlisted)

    # -- workers -------------------------------------------------------------------------

    def register_worker(self, worker: WorkerRow) -> None:
        from aggregator.store import dump_date

        with self.transaction():
            self._db.execute(
                "INSERT INTO workers (id, name, host, pid, started, last_beat, lease_seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    worker.id,
                    worker.name,
                    worker.host,
                    worker.pid,
                    dump_date(worker.started),
                    dump_date(worker.last_beat),
                    worker.lease_seconds,
                ),
            )

    def beat_worker(
        self, worker_id: str, *, now: datetime, feeds_done: int, items_done: int
    ) -> None:
        from aggregator.store import dump_date

        with self.transaction():
            self._db.execute(
                "UPDATE workers SET last_beat = ?, feeds_done = ?, items_done = ? WHERE id = ?",
                (dump_date(now), feeds_done, items_done, worker_id),
            )

    def stop_worker(
        self, worker_id: str, *, now: datetime, feeds_done: int, items_done: int
    ) -> None:
        from aggregator.store import dump_date

        with self.transaction():
            self._db.execute(
                "UPDATE workers SET stopped = ?, last_beat = ?, feeds_done = ?, items_done = ? "
                "WHERE id = ?",
                (dump_date(now), dump_date(now), feeds_done, items_done, worker_id),
            )

    def forget_workers(self, *, before: datetime) -> int:
        """Drop the rows of workers not heard of since `before` (old restarts)."""
        from aggregator.store import dump_date

        with self.transaction():
            cursor = self._db.execute(
                "DELETE FROM workers WHERE last_beat < ?", (dump_date(before),)
            )
            return int(cursor.rowcount)

    def workers(self) -> list[WorkerRow]:
        with self._wrap("read workers"):
            rows = self._db.execute(
                "SELECT id, name, host, pid, started, last_beat, lease_seconds, stopped, "
                "feeds_done, items_done FROM workers ORDER BY name, started"
            ).fetchall()
        return [_worker_from_row(r) for r in rows]


def _worker_from_row(row: Any) -> WorkerRow:
    from aggregator.store import load_date

    return WorkerRow(
        id=row[0],
        name=row[1],
        host=row[2],
        pid=int(row[3]),
        started=load_date(row[4]),
        last_beat=load_date(row[5]),
        lease_seconds=float(row[6]),
        stopped=load_date(row[7]) if row[7] else None,
        feeds_done=int(row[8]),
        items_done=int(row[9]),
    )


def _claim_order(state: SourceState) -> tuple[bool, str, str]:
    due = state.next_check_at
    return (due is not None, due.isoformat() if due else "", state.id)
