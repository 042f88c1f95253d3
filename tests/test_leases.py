"""Leases on due sources (issue 17): claim, renew, release, drop, the workers' rows and
the lag, against real databases (SQLite always, PostgreSQL when one is given)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import Settings
from aggregator.ingest.policy import config_key
from aggregator.model import SourceKind, SourceSpec
from aggregator.runtime.locking import WriterLock
from aggregator.runtime.worker import apply_config
from aggregator.store import SourceState, Store, is_postgres_url, now_utc, open_store
from aggregator.store.leases import HELD_LEASES, WorkerRow, release_statement

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=3)
MIN_INTERVAL = timedelta(minutes=30)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.close()


def spec(n: int, **changes: object) -> SourceSpec:
    return replace(SourceSpec(id=f"s{n}", url=f"https://feeds.example/{n}"), **changes)  # type: ignore[arg-type]


def add(store: Store, n: int, **state: object) -> SourceState:
    """A configured source with fetch state `state` (next_check_at, last_fetch_at, ...)."""
    added = replace(store.ensure_source(spec(n)), **state)  # type: ignore[arg-type]
    store.save_source(added)
    return added


def claim(store: Store, owner: str, *, now: datetime = NOW, limit: int = 10) -> list[str]:
    claimed = store.claim_sources(
        owner, now=now, lease=LEASE, limit=limit, min_interval=MIN_INTERVAL
    )
    return [s.id for s in claimed]


def test_a_claim_takes_due_sources_never_fetched_and_longest_overdue_first(store: Store) -> None:
    add(store, 1, next_check_at=NOW - timedelta(minutes=5), last_fetch_at=NOW - timedelta(hours=1))
    add(store, 2, next_check_at=NOW - timedelta(hours=2), last_fetch_at=NOW - timedelta(hours=3))
    add(store, 3)  # never fetched
    add(store, 4, next_check_at=NOW + timedelta(minutes=1))  # not due yet
    assert claim(store, "a", limit=2) == ["s3", "s2"]
    assert claim(store, "b") == ["s1"]  # what the first left, never what it holds
    assert claim(store, "c") == []


def test_only_enabled_remote_sources_due_by_time_and_min_interval_are_claimed(
    store: Store,
) -> None:
    add(store, 1, enabled=False)
    add(store, 2, disabled_reason="410 Gone", enabled=False)
    # Due by its next-check time, but fetched less than min_interval ago (a feed asking
    # for more than two polls an hour does not get them).
    add(
        store,
        3,
        next_check_at=NOW - timedelta(minutes=1),
        last_fetch_at=NOW - timedelta(minutes=10),
    )
    local = SourceSpec(id="seed-x", url="x.xml", kind=SourceKind.SEED_FEED)
    store.ensure_source(local)
    add(store, 4, next_check_at=NOW, last_fetch_at=NOW - MIN_INTERVAL)  # due this instant
    assert claim(store, "a") == ["s4"]


def test_a_lease_is_claimable_again_once_expired_and_not_before(store: Store) -> None:
    add(store, 1)
    assert claim(store, "dead") == ["s1"]
    assert claim(store, "b", now=NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(store, "b", now=NOW + LEASE) == ["s1"]


def test_renewing_keeps_a_lease_past_its_first_expiry(store: Store) -> None:
    add(store, 1)
    add(store, 2)
    assert claim(store, "a") == ["s1", "s2"]
    assert store.renew_leases("a", until=NOW + 2 * LEASE) == 2
    assert claim(store, "b", now=NOW + LEASE + timedelta(seconds=1)) == []
    assert store.renew_leases("b", until=NOW + 2 * LEASE) == 0  # renews only its own


def test_release_writes_the_state_and_ends_the_lease_only_while_it_is_ours(store: Store) -> None:
    first = add(store, 1)
    second = add(store, 2)
    assert claim(store, "a") == ["s1", "s2"]
    # a stalled past its lease without renewing: another worker took s1 meanwhile.
    later = NOW + LEASE + timedelta(seconds=1)
    assert claim(store, "b", now=later, limit=1) == ["s1"]
    fetched = NOW + timedelta(seconds=5)
    due = fetched + timedelta(hours=1)
    done = [
        replace(s, last_fetch_at=fetched, etag='"v2"', next_check_at=due) for s in (first, second)
    ]
    assert store.release_sources("a", done) == ["s1"]
    s1, s2 = store.source("s1"), store.source("s2")
    assert s1 is not None and s1.etag is None  # left to its new holder
    assert s2 is not None and s2.etag == '"v2"' and s2.next_check_at == due
    assert store.lease_holders(later) == {"b": 1}


def test_a_release_writes_every_field_of_the_fetch_state(store: Store) -> None:
    """What a fetch learned comes back as it was written, on both backends (PostgreSQL
    takes a batch as one array per column, typed)."""
    first, second = add(store, 1), add(store, 2)
    claim(store, "a")
    learned = replace(
        first,
        url="https://moved.example/feed",
        enabled=False,
        feed_title="Feed – «one»",
        feed_id="urn:feed:1",
        site_link="https://moved.example/",
        feed_updated=NOW - timedelta(days=1),
        etag='"v3"',
        last_modified="Thu, 19 Nov 2026 10:00:00 GMT",
        body_hash="abc123",
        last_fetch_at=NOW,
        last_status=200,
        error_count=3,
        last_error="HTTP 500 Internal Server Error",
        next_check_at=NOW + timedelta(hours=6),
        disabled_reason="gone (410)",
        last_new=7,
        last_updated=2,
    )
    untouched = replace(second, last_fetch_at=NOW, last_status=304)
    assert store.release_sources("a", [learned, untouched]) == []
    assert store.source("s1") == learned
    assert store.source("s2") == untouched
    assert store.lease_holders(NOW) == {}


def test_a_run_leases_only_the_sources_nobody_holds_and_ends_its_own(store: Store) -> None:
    for n in (1, 2, 3):
        add(store, n)
    assert claim(store, "worker", limit=1) == ["s1"]
    until = NOW + timedelta(minutes=10)
    assert store.lease_these("run", ["s1", "s2", "s3"], now=NOW, until=until) == {"s2", "s3"}
    assert claim(store, "other") == []  # the run's are held too
    assert store.lease_holders(NOW) == {"worker": 1, "run": 2}
    store.drop_leases("run")
    assert store.lease_holders(NOW) == {"worker": 1}
    assert claim(store, "other") == ["s2", "s3"]
    # A worker's lease holds the source until it expires, and not after.
    assert store.lease_these("run", ["s2"], now=NOW + LEASE / 2, until=until) == set()
    assert store.lease_these("run", ["s2"], now=NOW + LEASE, until=until) == {"s2"}


def test_a_run_does_not_lease_a_source_fetched_since_it_read_it(store: Store) -> None:
    """A run reads the sources (s1 due, held by a worker that is fetching it), and asks
    for the leases a moment later: the worker has stored s1 in between, which freed its
    lease. The run must not take it: it would fetch s1 again within its interval."""
    earlier = NOW - timedelta(hours=2)
    s1 = add(store, 1, last_fetch_at=earlier, next_check_at=NOW - timedelta(minutes=1))
    add(store, 2)
    assert claim(store, "worker", limit=1) == ["s2"]  # never fetched: first
    as_read = {s.id: s.last_fetch_at for s in store.sources()}
    assert store.lease_these("worker", ["s1"], now=NOW, until=NOW + LEASE) == {"s1"}
    stored = replace(s1, last_fetch_at=NOW, next_check_at=NOW + timedelta(hours=1))
    assert store.release_sources("worker", [stored]) == []
    until = NOW + timedelta(minutes=2)
    assert store.lease_these("run", ["s1"], now=NOW, until=until, as_read=as_read) == set()
    assert store.lease_holders(NOW) == {"worker": 1}  # s1 nobody's: given back at once
    assert store.source("s1") == stored
    # Forced (`--only s1`: no as_read), the run takes it all the same.
    assert store.lease_these("run", ["s1"], now=NOW, until=until) == {"s1"}


def test_released_sources_are_not_due_until_their_next_check(store: Store) -> None:
    state = add(store, 1)
    claim(store, "a")
    store.release_sources(
        "a", [replace(state, last_fetch_at=NOW, next_check_at=NOW + timedelta(hours=1))]
    )
    assert claim(store, "b", now=NOW + timedelta(minutes=59)) == []
    assert claim(store, "b", now=NOW + timedelta(hours=1)) == ["s1"]


def test_dropped_leases_are_due_again_or_held_by_nobody_until_a_time(store: Store) -> None:
    add(store, 1)
    add(store, 2)
    add(store, 3)
    claim(store, "a")
    assert store.drop_leases("a", ["s1"]) == 1
    assert store.drop_leases("a", ["s2"], hold_until=NOW + timedelta(minutes=1)) == 1
    assert claim(store, "b") == ["s1"]
    assert store.renew_leases("a", until=NOW + LEASE) == 1  # s3 only: s2 is nobody's
    assert claim(store, "b", now=NOW + timedelta(minutes=1)) == ["s2"]
    assert store.drop_leases("a") == 1
    assert claim(store, "c", now=NOW + timedelta(minutes=1)) == ["s3"]


def test_dropping_a_batch_ends_only_the_owners_leases_in_it(store: Store) -> None:
    for n in range(1, 6):
        add(store, n)
    assert claim(store, "a", limit=3) == ["s1", "s2", "s3"]
    assert claim(store, "b", limit=2) == ["s4", "s5"]
    # s4 is b's: dropping it in a's batch leaves it with b; "gone" matches no row.
    assert store.drop_leases("a", ["s1", "s2", "s4", "gone"]) == 2
    assert store.drop_leases("a", []) == 0
    assert claim(store, "c") == ["s1", "s2"]
    assert store.renew_leases("a", until=NOW + LEASE) == 1  # s3
    assert store.renew_leases("b", until=NOW + LEASE) == 2  # s4 and s5


def test_lag_counts_due_sources_nobody_holds_and_live_leases(store: Store) -> None:
    add(store, 1)
    add(store, 2, next_check_at=NOW - timedelta(minutes=7), last_fetch_at=NOW - timedelta(hours=1))
    add(store, 3, next_check_at=NOW - timedelta(minutes=3), last_fetch_at=NOW - timedelta(hours=1))
    add(store, 4, next_check_at=NOW + timedelta(minutes=3))
    lag = store.lag(NOW, min_interval=MIN_INTERVAL)
    assert (lag.due, lag.never_fetched, lag.oldest_due, lag.leased) == (
        3,
        1,
        NOW - timedelta(minutes=7),
        0,
    )
    claim(store, "a", limit=2)  # s1 and s2
    lag = store.lag(NOW, min_interval=MIN_INTERVAL)
    assert (lag.due, lag.never_fetched, lag.oldest_due, lag.leased) == (
        1,
        0,
        NOW - timedelta(minutes=3),
        2,
    )


def test_next_due_is_the_first_due_time_to_come_of_a_source_nobody_holds(store: Store) -> None:
    assert store.next_due(NOW) is None  # nothing scheduled
    add(store, 1, next_check_at=NOW - timedelta(minutes=1))  # due already: claimed, not waited for
    add(store, 2, next_check_at=NOW + timedelta(minutes=9))
    add(store, 3, next_check_at=NOW + timedelta(minutes=2), enabled=False)
    add(store, 4, next_check_at=NOW + timedelta(minutes=4))
    assert store.next_due(NOW) == NOW + timedelta(minutes=4)
    store.lease_these("a", ["s4"], now=NOW, until=NOW + LEASE)  # a worker holds it
    assert store.next_due(NOW) == NOW + timedelta(minutes=9)


def test_workers_register_beat_and_stop(store: Store) -> None:
    store.register_worker(
        WorkerRow(
            id="w1/abc", name="w1", host="h", pid=7, started=NOW, last_beat=NOW, lease_seconds=60
        )
    )
    store.beat_worker("w1/abc", now=NOW + timedelta(seconds=30), feeds_done=4, items_done=9)
    (row,) = store.workers()
    assert (row.name, row.feeds_done, row.items_done) == ("w1", 4, 9)
    assert row.alive(NOW + timedelta(seconds=89))
    assert not row.alive(NOW + timedelta(seconds=90))  # silent for a lease: dead
    store.stop_worker("w1/abc", now=NOW + timedelta(seconds=40), feeds_done=5, items_done=9)
    (row,) = store.workers()
    assert row.stopped is not None and not row.alive(NOW + timedelta(seconds=41))
    assert (row.feeds_done, row.items_done) == (5, 9)
    assert store.forget_workers(before=NOW + timedelta(seconds=41)) == 1
    assert store.workers() == []


def test_config_is_applied_to_the_rows_without_touching_fetch_state(store: Store) -> None:
    kept = add(store, 1, etag='"e"', next_check_at=NOW + timedelta(hours=1))
    add(store, 2)
    store.save_source(replace(store.source("s1") or kept, url="https://moved.example/1"))
    settings = Settings(sources=(spec(1, title="Renamed"), spec(3)))
    apply_config(settings, store)
    s1, s2, s3 = (store.source(f"s{n}") for n in (1, 2, 3))
    assert s1 is not None and s1.title == "Renamed" and s1.etag == '"e"'
    assert s1.url == "https://moved.example/1"  # learnt from a permanent redirect: kept
    assert s1.next_check_at == NOW + timedelta(hours=1)
    assert s2 is not None and not s2.enabled  # no longer configured
    assert s3 is not None and s3.enabled
    assert claim(store, "a") == ["s3"]
    # Each configured source's row keeps the config it runs under; claimed with it, a
    # batch has nothing to record and its states need no writer lock.
    assert (s1.config_key, s2.config_key, s3.config_key) == (
        config_key(spec(1, title="Renamed"), settings.fetch),
        None,
        config_key(spec(3), settings.fetch),
    )
    later = NOW + timedelta(hours=2)
    claimed = store.claim_sources(
        "b", now=later, lease=timedelta(minutes=3), limit=10, min_interval=timedelta(0)
    )
    assert {s.id: s.config_key for s in claimed}["s1"] == s1.config_key


def _writes_to_sources(store: Store, db_url: str) -> object:
    """Something that changes whenever a source row is written: the rows' versions on
    PostgreSQL, SQLite's count of changed rows."""
    if is_postgres_url(db_url):
        rows = store._db.execute("SELECT id, xmin::text FROM sources ORDER BY id").fetchall()
        return [(row[0], row[1]) for row in rows]
    return store._db.execute("SELECT total_changes()").fetchone()[0]


def test_a_worker_starting_on_an_unchanged_config_writes_no_source_row(
    store: Store, db_url: str
) -> None:
    add(store, 9)  # configured once, then removed from the config
    moved = add(store, 1)
    gone = add(store, 2)
    store.save_source(replace(moved, url="https://moved.example/1"))
    store.save_source(replace(gone, enabled=False, disabled_reason="410 Gone"))
    settings = Settings(sources=(spec(1, title="One", tags=("a",)), spec(2), spec(3)))
    apply_config(settings, store)
    before = _writes_to_sources(store, db_url)
    apply_config(settings, store)  # what every worker does at start
    assert _writes_to_sources(store, db_url) == before
    # ... and a change is still written, to that row alone
    apply_config(
        replace(settings, sources=(spec(1, title="Uno", tags=("a",)), spec(2), spec(3))), store
    )
    s1, s2, s9 = store.source("s1"), store.source("s2"), store.source("s9")
    assert s1 is not None and s1.title == "Uno" and s1.url == "https://moved.example/1"
    assert s2 is not None and not s2.enabled  # disabled for a reason: stays so
    assert s9 is not None and not s9.enabled
    if is_postgres_url(db_url):
        changed = {
            sid
            for (sid, v), (_, w) in zip(before, _writes_to_sources(store, db_url), strict=True)
            if v != w
        }  # type: ignore[call-overload]
        assert changed == {"s1"}


def test_a_reconfigured_failing_source_starts_afresh(store: Store) -> None:
    add(store, 1)
    apply_config(Settings(sources=(spec(1),)), store)
    failing = store.source("s1")
    assert failing is not None
    store.save_source(
        replace(failing, error_count=5, last_fetch_at=NOW, next_check_at=NOW + timedelta(days=1))
    )
    apply_config(Settings(sources=(spec(1),)), store)  # unchanged config: backoff kept
    assert claim(store, "a", now=NOW + timedelta(hours=1)) == []
    apply_config(Settings(sources=(spec(1, interval=timedelta(hours=2)),)), store)
    assert claim(store, "a", now=NOW + timedelta(hours=1)) == ["s1"]


def test_a_config_change_restarts_every_failing_source_and_keeps_the_leases(
    store: Store,
) -> None:
    for n in (1, 2, 3):
        add(store, n)
    apply_config(Settings(sources=(spec(1), spec(2), spec(3))), store)
    for n in (1, 2, 3):
        failing = store.source(f"s{n}")
        assert failing is not None
        store.save_source(
            replace(
                failing, error_count=5, last_fetch_at=NOW, next_check_at=NOW + timedelta(days=1)
            )
        )
    assert store.lease_these("w", ["s3"], now=NOW, until=NOW + timedelta(hours=2)) == {"s3"}
    slower = timedelta(hours=2)
    apply_config(Settings(sources=tuple(spec(n, interval=slower) for n in (1, 2, 3))), store)
    assert claim(store, "a", now=NOW + timedelta(hours=1)) == ["s1", "s2"]
    s3 = store.source("s3")
    assert s3 is not None and s3.error_count == 0  # started afresh, still w's
    assert store.renew_leases("w", until=NOW + LEASE) == 1


def test_a_run_refreshing_a_renamed_source_keeps_the_state_a_worker_stores_meanwhile(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run reads the sources' rows, then writes the configured fields of those whose
    config changed (`ensure_sources`); a worker that stores one of them in between (its
    fetch just ended) keeps its new validators and next due time."""
    run_store, worker_store = open_store(db_url), open_store(db_url)
    try:
        add(run_store, 1, etag='"v1"')
        assert claim(worker_store, "w") == ["s1"]
        fetched_at, due_at = NOW + timedelta(minutes=1), NOW + timedelta(hours=1)
        read_rows = run_store.sources

        def rows_then_the_worker_stores() -> list[SourceState]:
            rows = read_rows()
            (row,) = rows
            stored = replace(row, etag='"v2"', last_fetch_at=fetched_at, next_check_at=due_at)
            assert worker_store.release_sources("w", [stored]) == []
            return rows

        monkeypatch.setattr(run_store, "sources", rows_then_the_worker_stores)
        states = run_store.ensure_sources([spec(1, title="Renamed")])
        assert states["s1"].title == "Renamed"
        source = worker_store.source("s1")
        assert source is not None
        assert source.title == "Renamed"
        assert (source.etag, source.last_fetch_at, source.next_check_at) == (
            '"v2"',
            fetched_at,
            due_at,
        )
    finally:
        run_store.close()
        worker_store.close()


def test_a_batch_that_trips_a_bug_rests_its_sources_and_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from aggregator.runtime import worker as worker_module

    settings = Settings(db=str(tmp_path / "agg.sqlite"), sources=(spec(1), spec(2)))
    store = open_store(settings.db)
    stop = threading.Event()

    def broken(*args: object, **kwargs: object) -> None:
        stop.set()  # this batch is the last one
        raise RuntimeError("a bug")

    monkeypatch.setattr(worker_module, "gather_read", broken)
    options = worker_module.WorkerOptions(name="w", lease=60)
    try:
        writer = WriterLock(settings, keep_session=True)
        worker = worker_module.Worker(
            settings, store, options, open_store=open_store, writer=writer
        )
        counts = worker.run(stop)  # returns: the bug did not take the worker down
        assert counts.batches == 0
        # Both sources left resting: held by nobody, due to nobody for a lease.
        assert store.lease_holders(now_utc()) == {}
        lag = store.lag(now_utc(), min_interval=MIN_INTERVAL)
        assert (lag.due, lag.leased) == (0, 2)
        (row,) = store.workers()
        assert row.stopped is not None
    finally:
        store.close()


def test_an_idle_worker_waits_until_the_next_source_falls_due_and_at_most_a_poll(
    tmp_path: Path,
) -> None:
    from aggregator.runtime import worker as worker_module

    settings = Settings(db=str(tmp_path / "agg.sqlite"), sources=(spec(1), spec(2)))
    store = open_store(settings.db)
    try:
        writer = WriterLock(settings, keep_session=True)
        worker = worker_module.Worker(
            settings, store, worker_module.WorkerOptions(name="w"), open_store=open_store,
            writer=writer,
        )  # fmt: skip
        poll = worker_module.IDLE_POLL_SECONDS
        assert worker._idle_wait() == poll  # no source scheduled
        add(store, 1, next_check_at=now_utc() + timedelta(hours=1))
        assert worker._idle_wait() == poll
        add(store, 2, next_check_at=now_utc() + timedelta(seconds=poll / 2))
        assert 0 < worker._idle_wait() <= poll / 2
        until_idle = worker_module.Worker(
            settings, store, worker_module.WorkerOptions(name="w", until_idle=True),
            open_store=open_store, writer=writer,
        )  # fmt: skip
        assert until_idle._idle_wait() == worker_module.UNTIL_IDLE_POLL_SECONDS
    finally:
        store.close()


def _generic_plan(store: Store, name: str, statement: str, arguments: list[str]) -> str:
    """PostgreSQL's plan for `statement` (its `?` numbered) as a prepared statement that
    has run often: planned once for any values."""
    pieces = statement.split("?")
    numbered = "".join(f"{piece}${n}" for n, piece in enumerate(pieces[:-1], 1)) + pieces[-1]
    store._db.execute("SET plan_cache_mode = force_generic_plan")
    store._db.execute(f"PREPARE {name} AS {numbered}")
    rows = store._db.execute(f"EXPLAIN EXECUTE {name} ({', '.join(arguments)})")
    return "\n".join(row[0] for row in rows)


def test_storing_a_batch_ends_each_lease_through_its_source_whatever_the_statistics(
    store: Store, db_url: str
) -> None:
    """Statistics taken while no lease was held (autovacuum's analyze at a quiet moment)
    say every owner is NULL. PostgreSQL then planned the end of a batch's leases by owner
    as matching nothing: through an index by owner, reading every lease the worker held
    for each source stored, or through the whole table. Each source is found by its key."""
    if not is_postgres_url(db_url):
        pytest.skip("a PostgreSQL planner's choice")
    store._db.execute(
        "INSERT INTO sources (id, url, kind) SELECT 's' || n, 'https://feeds.example/' || n, "
        "'remote' FROM generate_series(1, 5000) AS n"
    )
    store._db.execute("ANALYZE sources")
    assert len(claim(store, "worker-a", limit=200)) == 200
    release = release_statement(arrays=True)
    # What finds the leases still held and locks them, as the store sends it.
    (held, _), *_ = store._in_statements(HELD_LEASES + " FOR UPDATE", ["s1", "s2"], ())
    plans = [
        _generic_plan(store, "release_all", release, ["NULL"] * release.count("?")),
        _generic_plan(store, "held", held, ["NULL"] * held.count("?")),
    ]
    for plan in plans:
        assert "sources_pkey" in plan and "Seq Scan on sources" not in plan, plan


def test_renewing_never_waits_for_a_source_being_stored(postgres_url: str) -> None:
    """A heartbeat renews its leases while its own worker stores some of them: were the
    renewal to wait for the rows the store has locked, the two could each hold a row the
    other wants, and PostgreSQL would abort one of them as a deadlock (the store, as
    likely as not). The rows being stored are skipped: they end their lease anyway."""
    import threading

    import psycopg

    store = open_store(postgres_url)
    try:
        for n in (1, 2, 3):
            add(store, n)
        assert claim(store, "a") == ["s1", "s2", "s3"]
        with psycopg.connect(postgres_url) as storing:
            storing.execute("SELECT id FROM sources WHERE id = 's2' FOR UPDATE")
            renewed: list[int] = []
            renewal = threading.Thread(
                target=lambda: renewed.append(store.renew_leases("a", until=NOW + 2 * LEASE))
            )
            renewal.start()
            renewal.join(timeout=5)
            waited = renewal.is_alive()
            storing.rollback()  # lets a waiting renewal finish, before the checks
            renewal.join()
        assert not waited
        assert renewed == [2]
        # s1 and s3 were renewed: nobody claims them past the first expiry.
        assert claim(store, "b", now=NOW + LEASE + timedelta(seconds=1)) == ["s2"]
    finally:
        store.close()


def test_a_failing_renewal_warns_only_once_the_leases_could_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A renewal that fails once (SQLite's lock held by a long write) is retried quietly
    a quarter lease later; the operator is warned when the next try could come too late."""
    import logging
    import time

    from aggregator.exceptions import StorageError
    from aggregator.runtime.renewal import LeaseRenewal

    def unreachable() -> Store:
        raise StorageError("database agg.sqlite: cannot write: database is locked")

    caplog.set_level(logging.INFO, logger="aggregator.runtime.renewal")
    with LeaseRenewal(unreachable, "run:x", lease=timedelta(seconds=4), holder="run"):
        time.sleep(4.5)  # tries at 1, 2 (the next still in time), 3 and 4 s
    levels = [r.levelno for r in caplog.records]
    assert levels[:2] == [logging.INFO, logging.INFO]
    assert logging.WARNING in levels[2:]
    assert all("run: heartbeat failed: database agg.sqlite" in r.message for r in caplog.records)


def _three_sources_laid_out_against_their_ids(store: Store, *, leased: bool) -> list[SourceState]:
    """s1, s2, s3, stored in the table in the order s3, s1, s2 (a scan of the table meets
    them so), leased to "w" or to nobody; their states as claimed."""
    for n in (1, 2, 3):
        add(store, n)
    claimed = store.claim_sources("w", now=NOW, lease=LEASE, limit=10, min_interval=MIN_INTERVAL)
    for source_id in ("s3", "s1", "s2"):  # each row's newest version after the last
        store._db.execute("UPDATE sources SET last_error = 'x' WHERE id = ?", (source_id,))
    if not leased:
        store.drop_leases("w")
    return claimed


def _written_by_id_and_backwards(store: Store, claimed: list[SourceState]) -> dict[str, Any]:
    """Each way a process writes several sources' rows, given them in the order s3, s2,
    s1 where it takes an order, with the setup it needs (leased or not)."""
    backwards = sorted(claimed, key=lambda s: s.id, reverse=True)
    ids = [s.id for s in backwards]
    renamed = [spec(n, title=f"Renamed {n}") for n in (3, 2, 1)]
    return {
        "release_sources": lambda: store.release_sources("w", backwards),
        "write_states": lambda: store.write_states(backwards),
        "drop_leases": lambda: store.drop_leases("w"),
        "drop_leases(ids)": lambda: store.drop_leases("w", ids),
        "sync_sources": lambda: store.sync_sources(renamed),
        "ensure_sources": lambda: store.ensure_sources(renamed),
        "save_sources": lambda: store.save_sources(backwards),
        "record_config_keys": lambda: store.record_config_keys({i: "k" for i in ids}),
        "lease_these": lambda: store.lease_these("run", ids, now=NOW, until=NOW + LEASE),
    }


@pytest.mark.parametrize(
    "operation",
    [
        "release_sources",
        "write_states",
        "drop_leases",
        "drop_leases(ids)",
        "sync_sources",
        "ensure_sources",
        "save_sources",
        "record_config_keys",
        "lease_these",
    ],
)
def test_writers_of_the_same_sources_wait_for_each_other_and_never_deadlock(
    postgres_url: str, operation: str
) -> None:
    """Workers storing, a run leasing or saving, a worker applying its config at start:
    each writes several sources' rows in one transaction, at the same moment as the
    others. Another transaction (as every writer of ours, in the order of the ids) holds
    s2 and then wants s3: the operation must wait for s2 holding s1 only, never s3, or
    the two would each wait for the other, a deadlock PostgreSQL ends by aborting one
    (a worker's batch given up, fetched again)."""
    store = open_store(postgres_url)
    try:
        claimed = _three_sources_laid_out_against_their_ids(
            store, leased=operation != "lease_these"
        )
        write = _written_by_id_and_backwards(store, claimed)[operation]
        assert _waited_in_order(postgres_url, "sources", "id", ("s2", "s3"), write) == []
    finally:
        store.close()


def test_saving_article_pages_waits_for_another_writer_and_never_deadlocks(
    postgres_url: str,
) -> None:
    """The full-text cache: a worker and a run completing teasers that link to the same
    articles (copies of a story) save their pages at the same moment."""
    from aggregator.store.articles import CachedArticle

    store = open_store(postgres_url)
    try:
        urls = [f"https://news.example/{name}" for name in ("c", "b", "a")]
        pages = [CachedArticle(url=u, teaser_hash="t", fetched_at=NOW) for u in urls]
        store.save_articles(pages)
        later = [replace(page, teaser_hash="u") for page in pages]
        hold, then = urls[1], urls[0]  # b, then c: as every writer, in order
        failures = _waited_in_order(
            postgres_url, "article_cache", "url", (hold, then), lambda: store.save_articles(later)
        )
        assert failures == []
    finally:
        store.close()


def _waited_in_order(
    url: str, table: str, key: str, rows: tuple[str, str], write: Callable[[], object]
) -> list[BaseException]:
    """Another transaction holds the first of `rows` (by `key`) while `write` runs on a
    thread of its own; once `write` waits for it, that transaction wants the second too,
    then commits. What `write` raised: a deadlock, had it taken the second row first."""
    import threading
    import time

    import psycopg

    failures: list[BaseException] = []

    def writing() -> None:
        try:
            write()
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    locking = f"SELECT 1 FROM {table} WHERE {key} = %s FOR UPDATE"
    with psycopg.connect(url) as other, psycopg.connect(url, autocommit=True) as watch:
        other.execute("SET lock_timeout = '10s'")
        other.execute(locking, (rows[0],))
        writer = threading.Thread(target=writing)
        writer.start()
        deadline = time.monotonic() + 10
        while not watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the write never waited for the held row"
            time.sleep(0.02)
        try:
            other.execute(locking, (rows[1],))
            other.commit()
        finally:
            other.rollback()
            writer.join(timeout=30)
    return failures


def test_a_holder_of_no_lease_renews_without_waiting_for_a_sqlite_write(tmp_path: Path) -> None:
    """A run of seeds only holds no lease: its renewal must not wait for (and, after the
    busy timeout, fail on) the write lock that the run's own long store holds."""
    import sqlite3
    import time

    db = str(tmp_path / "agg.sqlite")
    store = open_store(db)
    add(store, 1)
    writing = sqlite3.connect(db, timeout=0)
    try:
        writing.execute("BEGIN IMMEDIATE")  # a long store in progress
        store._db._conn.execute("PRAGMA busy_timeout = 2000")  # type: ignore[attr-defined]
        started = time.monotonic()
        assert store.renew_leases("run:seeds-only", until=NOW + LEASE) == 0
        assert time.monotonic() - started < 1
    finally:
        writing.rollback()
        writing.close()
        store.close()
