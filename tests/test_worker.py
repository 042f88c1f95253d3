"""`aggregator worker` end to end: real worker processes, a loopback farm of feeds that
counts the requests each feed gets, and a real database (SQLite on one machine; the
real PostgreSQL for several workers, skipped with the reason when none is given)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import Settings
from aggregator.runtime.worker import IDLE_POLL_SECONDS
from aggregator.store import load_date, now_utc, open_store

from feedserver import FeedServer, Reply, Request

PUBLISHED = format_datetime(datetime.now(UTC) - timedelta(hours=2), usegmt=True)


def rss(title: str, items: Sequence[tuple[str, str, str]]) -> bytes:
    """A feed of (guid, title, text) items, each with its own link."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{t}</title>"
        f"<link>https://news.example/{guid}</link><description>{text}</description>"
        f"<pubDate>{PUBLISHED}</pubDate></item>"
        for guid, t, text in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://news.example/</link>{body}</channel></rss>"
    ).encode()


def story_text(n: int) -> str:
    """A text long enough for matching to recognise its copies, distinct per `n`."""
    words = " ".join(f"word{n}x{i}" for i in range(60))
    return f"Story {n} reports that the council approved plan {n} on Monday. {words}"


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}


def start_worker(cwd: Path, db: str, *args: str, name: str | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "aggregator", "worker", "--config", "agg.toml", "--db", db]
    if name is not None:
        command += ["--name", name]
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def run_worker(cwd: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "worker", *args],
        cwd=cwd,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Farm:
    """Feeds on a loopback server, each answering 304 to its ETag, counting requests."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.paths: list[str] = []
        self.times: list[tuple[str, datetime]] = []  # (path, when its request came)

    def add(
        self,
        path: str,
        body: bytes,
        *,
        hold: threading.Barrier | None = None,
        delay_first: float = 0.0,
        delay: float = 0.0,
        gate: threading.Event | None = None,
    ) -> None:
        etag = f'"{len(self.paths)}"'

        def answer(request: Request) -> Reply:
            self.times.append((request.path, datetime.now(UTC)))
            if gate is not None:
                gate.wait(timeout=60)  # held until the test opens it
            if delay_first and len(self.times_of(request.path)) == 1:
                return Reply(body=body, headers={"ETag": etag}, delay=delay_first)
            if request.headers.get("if-none-match") == etag:
                return Reply(status=304, headers={"ETag": etag}, delay=delay)
            if hold is not None:
                # Copies of one story: answered together, so workers store them at once.
                with contextlib.suppress(threading.BrokenBarrierError):
                    hold.wait(timeout=2)
            headers = {"ETag": etag, "Content-Type": "application/rss+xml"}
            return Reply(body=body, headers=headers, delay=delay)

        self.server.route(path, answer)
        self.paths.append(path)

    def times_of(self, path: str) -> list[datetime]:
        return [when for p, when in self.times if p == path]

    def requests(self) -> Counter[str]:
        return Counter(r.path for r in self.server.requests)

    def config(self, cwd: Path, *, interval_minutes: float = 60, timeout: float = 5) -> None:
        lines = [
            "[fetch]",
            'allow = ["127.0.0.1"]',
            "per_host = 64",  # every feed of the farm is on one host
            f"timeout = {timeout}",
            f"min_interval_minutes = {interval_minutes}",
            "",
        ]
        for path in self.paths:
            lines += [
                "[[sources]]",
                f'url = "{self.server.url(path)}"',
                f'name = "{path.strip("/")}"',
                f"interval_minutes = {interval_minutes}",
                'full_text = "never"',  # no article pages: the farm serves feeds only
                "",
            ]
        (cwd / "agg.toml").write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def farm() -> Iterator[Farm]:
    with FeedServer() as server:
        yield Farm(server)


def exported(cwd: Path, db: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "export", "--db", db, "--config", "agg.toml"],
        cwd=cwd,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# -- one machine, SQLite ---------------------------------------------------------------------


def test_a_worker_on_sqlite_fetches_each_due_feed_once_and_exits_when_idle(
    farm: Farm, tmp_path: Path
) -> None:
    for n in range(5):
        farm.add(f"/f{n}", rss(f"Feed {n}", [(f"g{n}", f"Story {n}", story_text(n))]))
    farm.config(tmp_path)
    db = str(tmp_path / "agg.sqlite")
    first = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle")
    assert first.returncode == 0, first.stderr
    assert farm.requests() == Counter({p: 1 for p in farm.paths})
    assert "5 feeds fetched, 5 items stored" in first.stderr
    again = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle")
    assert again.returncode == 0, again.stderr
    assert farm.requests() == Counter({p: 1 for p in farm.paths})  # none due again yet
    store = open_store(db)
    try:
        assert store.item_count() == 5
        assert store.lease_holders(now_utc()) == {}  # every lease given back
        assert [w.stopped is not None for w in store.workers()] == [True, True]
    finally:
        store.close()


def run_until_idle(farm: Farm, tmp_path: Path, *args: str) -> str:
    """One worker on SQLite over the farm's feeds until nothing is due; its stderr."""
    farm.config(tmp_path)
    db = str(tmp_path / "agg.sqlite")
    result = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle", *args)
    assert result.returncode == 0, result.stderr
    return result.stderr


def make_due(db: str, where: str = "1 = 1") -> None:
    """An interval later: the sources `where` names are due again (SQLite)."""
    import sqlite3

    long_ago = "2000-01-01T00:00:00.000000Z"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            f"UPDATE sources SET next_check_at = ?, last_fetch_at = ? WHERE {where}",
            (long_ago,) * 2,
        )


def gated_feeds_fetched_once(
    farm: Farm, tmp_path: Path, count: int
) -> tuple[threading.Event, str, Settings]:
    """`count` feeds of one story each, fetched and stored once by a worker; their
    answers then wait for the returned gate (closed) until the test opens it."""
    from aggregator.config import load_settings

    gate = threading.Event()
    for n in range(count):
        items = [(f"g{n}", f"Story {n}", story_text(n))]
        farm.add(f"/f{n}", rss(f"Feed {n}", items), gate=gate)
    farm.config(tmp_path)
    db = str(tmp_path / "agg.sqlite")
    settings = load_settings(tmp_path / "agg.toml").with_overrides(db=db)
    gate.set()
    first = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle")
    assert first.returncode == 0, first.stderr
    gate.clear()
    return gate, db, settings


def wait_for_requests(farm: Farm, worker: subprocess.Popen[str], count: int) -> None:
    """Until the farm has had `count` requests in all (a minute at most)."""
    deadline = time.monotonic() + 60
    while len(farm.server.requests) < count:
        assert worker.poll() is None, finish(worker)
        assert time.monotonic() < deadline, "the worker never fetched"
        time.sleep(0.05)


def stories_fetched_once(farm: Farm, tmp_path: Path) -> str:
    """Three feeds of one story each, fetched once by a worker on SQLite, then due again;
    the database."""
    for n in range(3):
        farm.add(f"/f{n}", rss(f"Feed {n}", [(f"g{n}", f"Story {n}", story_text(n))]))
    run_until_idle(farm, tmp_path)
    db = str(tmp_path / "agg.sqlite")
    make_due(db)
    return db


def test_slow_feeds_fill_every_request_slot_not_just_two_batches(
    farm: Farm, tmp_path: Path
) -> None:
    """Feeds slow to answer (here 1 s each) make fetching the slower stage: the worker
    claims batches ahead until its 8 request slots are busy, instead of waiting with two
    batches of 2 in flight and 4 slots idle."""
    for n in range(16):
        farm.add(f"/s{n}", rss(f"Slow {n}", [(f"s{n}", f"Slow {n}", story_text(n))]), delay=1.0)
    err = run_until_idle(farm, tmp_path, "--batch", "2", "--concurrency", "8")
    assert "16 feeds fetched, 16 items stored" in err
    assert farm.requests() == Counter({p: 1 for p in farm.paths})
    arrivals = sorted(when for _, when in farm.times)
    offsets = [round((when - arrivals[0]).total_seconds(), 3) for when in arrivals]
    assert offsets[7] < 0.8, offsets  # the first 8 were all sent before any feed answered


def test_a_slow_feed_does_not_leave_the_other_request_slots_idle(
    farm: Farm, tmp_path: Path
) -> None:
    """One feed slow to answer holds its batch back, not the worker: the slots the quick
    feeds free are filled again at once, so every other feed is fetched meanwhile."""
    farm.add("/a-slow", rss("Slow", [("slow", "Slow", story_text(0))]), delay=3.0)
    for n in range(15):
        farm.add(f"/b{n:02}", rss(f"Quick {n}", [(f"q{n}", f"Quick {n}", story_text(n + 1))]))
    err = run_until_idle(farm, tmp_path, "--batch", "2", "--concurrency", "4")
    assert "16 feeds fetched, 16 items stored" in err
    (slow_asked,) = farm.times_of("/a-slow")
    quick = sorted(when for path, when in farm.times if path != "/a-slow")
    assert len(quick) == 15
    # Asked before the slow feed answered (3 s), not batch by batch behind it.
    assert quick[-1] - slow_asked < timedelta(seconds=2), [w - slow_asked for w in quick]


def test_a_slow_feed_holds_back_only_its_own_items(farm: Farm, tmp_path: Path) -> None:
    """The feeds claimed with a slow one, and after it, are stored as they answer: their
    items are in the database while the slow feed is still answering, which then stores
    its own."""
    gate = threading.Event()
    farm.add("/a-slow", rss("Slow", [("slow", "Slow", story_text(0))]), gate=gate)
    for n in range(11):
        farm.add(f"/b{n:02}", rss(f"Quick {n}", [(f"q{n}", f"Quick {n}", story_text(n + 1))]))
    farm.config(tmp_path, timeout=60)
    db = str(tmp_path / "agg.sqlite")
    worker = start_worker(tmp_path, db, "--until-idle", "--batch", "4")
    try:
        # Well before the slow feed is given up on (no data for 20 s): still answering.
        deadline = time.monotonic() + 15
        while stored_items(db) < 11:
            assert worker.poll() is None, finish(worker)
            assert time.monotonic() < deadline, f"{stored_items(db)} items stored"
            time.sleep(0.1)
        assert farm.requests()["/a-slow"] == 1
    finally:
        gate.set()
    code, err = finish(worker)
    assert code == 0, err
    assert "12 feeds fetched, 12 items stored" in err
    assert farm.requests() == Counter({p: 1 for p in farm.paths})


def stored_items(db: str) -> int:
    store = open_store(db)
    try:
        return store.item_count()
    finally:
        store.close()


def test_a_worker_waits_for_the_writer_lock_rather_than_fetching_again(
    farm: Farm, tmp_path: Path
) -> None:
    from aggregator.config import load_settings
    from aggregator.runtime.locking import WriterLock

    gate = threading.Event()
    for n in range(2):
        items = [(f"g{n}", f"Story {n}", story_text(n))]
        farm.add(f"/f{n}", rss(f"Feed {n}", items), gate=gate)
    farm.config(tmp_path)
    config = tmp_path / "agg.toml"
    config.write_text("lock_timeout = 1\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    db = str(tmp_path / "agg.sqlite")
    settings = load_settings(config).with_overrides(db=db)
    worker = start_worker(tmp_path, db, "--until-idle")
    try:
        deadline = time.monotonic() + 60
        while len(farm.requests()) < 2:  # fetching, the lock free
            assert worker.poll() is None, finish(worker)
            assert time.monotonic() < deadline, "the worker never fetched"
            time.sleep(0.05)
        with WriterLock(settings):  # a long `aggregator run`, say, takes it meanwhile
            gate.set()
            time.sleep(2.5)  # more than one lock_timeout: the worker keeps waiting
    finally:
        gate.set()
    code, err = finish(worker)
    assert code == 0, err
    assert "still waiting: another aggregator process is writing" in err
    assert farm.requests() == Counter({"/f0": 1, "/f1": 1})
    store = open_store(db)
    try:
        assert store.item_count() == 2
    finally:
        store.close()


def test_a_batch_of_304s_stores_its_sources_state_while_another_writer_holds_the_lock(
    farm: Farm, tmp_path: Path
) -> None:
    """A batch with nothing to match (every feed answered 304) writes only its sources'
    states and needs no writer lock: it is stored while a long `aggregator run`, say,
    holds it. No item is added or lost."""

    from aggregator.runtime.locking import WriterLock

    gate, db, settings = gated_feeds_fetched_once(farm, tmp_path, 2)
    make_due(db)

    worker = start_worker(tmp_path, db, "--until-idle")
    try:
        wait_for_requests(farm, worker, 4)  # fetching (config applied, the lock free)
        with WriterLock(settings):
            gate.set()  # both answer 304
            code, err = finish(worker, timeout=60)  # done with the lock held elsewhere
    finally:
        gate.set()
    assert code == 0, err
    assert "still waiting" not in err
    assert farm.requests() == Counter({"/f0": 2, "/f1": 2})
    store = open_store(db)
    try:
        assert store.item_count() == 2
        for state in store.sources():
            assert state.last_fetch_at is not None and state.last_fetch_at.year > 2000
            assert state.next_check_at is not None and state.next_check_at > now_utc()
    finally:
        store.close()


def stored_around_the_lock(
    farm: Farm,
    worker: subprocess.Popen[str],
    db: str,
    settings: Settings,
    gate: threading.Event,
    *,
    stored: Sequence[str],
    waiting: str,
) -> None:
    """Opens `gate` while the test holds the writer lock: the sources `stored` (304s) get
    their states meanwhile, the new item of `waiting` waits, its lease held. Once the
    lock is free the worker stores it and exits, every lease given back; each of the
    three feeds fetched twice in all, nothing lost."""
    from aggregator.runtime.locking import WriterLock

    store = open_store(db)
    try:
        wait_for_requests(farm, worker, 6)  # fetching (config applied, the lock free)
        deadline = time.monotonic() + 60
        with WriterLock(settings):
            gate.set()
            while True:
                states = {s.id: s for s in store.sources()}
                if all(states[sid].next_check_at > now_utc() for sid in stored):  # type: ignore[operator]
                    break
                assert worker.poll() is None, finish(worker)
                assert time.monotonic() < deadline, "the 304s waited for the lock"
                time.sleep(0.05)
            assert store.lease_holders(now_utc()).popitem()[1] == 1  # the waiting source's
            assert store.item_count() == 3  # the new item not yet
            due = states[waiting].next_check_at
            assert due is not None and due < now_utc()  # still due: not stored yet
        code, err = finish(worker, timeout=60)
        assert code == 0, err
        assert store.item_count() == 4
        assert store.lease_holders(now_utc()) == {}
        assert all(s.next_check_at and s.next_check_at > now_utc() for s in store.sources())
    finally:
        gate.set()
        if worker.poll() is None:
            worker.kill()
        store.close()
    assert farm.requests() == Counter({"/f0": 2, "/f1": 2, "/f2": 2})


def test_in_a_batch_where_one_feed_changed_only_that_feed_waits_for_the_writer_lock(
    farm: Farm, tmp_path: Path
) -> None:
    """The writer lock is the step all workers take in turn: a batch where one feed of
    three has a new item stores the other two's states (304s) without it, while another
    writer holds it, and only the changed feed's item and state wait. Nothing is lost."""

    gate, db, settings = gated_feeds_fetched_once(farm, tmp_path, 3)
    changed = rss("Feed 2", [(f"g{n}", f"Story {n}", story_text(n)) for n in (2, 9)])

    def new_item(request: Request) -> Reply:
        gate.wait(timeout=60)
        return Reply(body=changed, headers={"ETag": '"v2"', "Content-Type": "application/rss+xml"})

    farm.server.route("/f2", new_item)
    make_due(db)

    worker = start_worker(tmp_path, db, "--until-idle")
    stored_around_the_lock(farm, worker, db, settings, gate, stored=["f0", "f1"], waiting="f2")


def test_while_a_changed_feed_waits_for_the_writer_lock_the_worker_stores_later_304s(
    farm: Farm, tmp_path: Path
) -> None:
    """A group with a new item waits for the writer lock, which another writer (a long
    `aggregator run`, say) holds; the worker does not wait idle meanwhile: the feeds that
    answer after it, with 304s, are cleaned and their states stored. Once the lock is
    free the waiting item is stored; nothing is lost or fetched twice."""

    gate, db, settings = gated_feeds_fetched_once(farm, tmp_path, 3)
    changed = rss("Feed 0", [(f"g{n}", f"Story {n}", story_text(n)) for n in (0, 9)])

    def new_item(request: Request) -> Reply:
        gate.wait(timeout=60)
        return Reply(body=changed, headers={"ETag": '"v2"', "Content-Type": "application/rss+xml"})

    def late_304(etag: str) -> Callable[[Request], Reply]:
        def answer(request: Request) -> Reply:
            gate.wait(timeout=60)
            return Reply(status=304, headers={"ETag": etag}, delay=0.5)  # after f0's

        return answer

    farm.server.route("/f0", new_item)
    farm.server.route("/f1", late_304('"1"'))
    farm.server.route("/f2", late_304('"2"'))
    make_due(db)

    # f0 answers with its new item at once, f1 and f2 with 304s half a second later.
    worker = start_worker(tmp_path, db, "--until-idle", "--batch", "1")
    stored_around_the_lock(farm, worker, db, settings, gate, stored=["f1", "f2"], waiting="f0")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_copies_cleaned_while_the_writer_lock_was_held_are_merged_into_one_entry(
    farm: Farm, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Two groups cleaned while another writer holds the lock are stored in one turn of
    it, the second matched against the first as stored: two copies of one story, one in
    each, end as one entry, never two; the other stories keep their own."""

    from aggregator.config import load_settings
    from aggregator.runtime.locking import WriterLock

    gate = threading.Event()
    shared = story_text(500)
    for n in range(2):
        items = [(f"c{n}", "The shared story", shared), (f"g{n}", f"Story {n}", story_text(n))]
        farm.add(f"/f{n}", rss(f"Feed {n}", items), gate=gate)
    farm.config(tmp_path)
    if backend == "sqlite":
        db = str(tmp_path / "agg.sqlite")
    else:
        db = request.getfixturevalue("postgres_url")
    settings = load_settings(tmp_path / "agg.toml").with_overrides(db=db)
    worker = start_worker(tmp_path, db, "--until-idle", "--batch", "1")
    try:
        wait_for_requests(farm, worker, 2)  # fetching (config applied, the lock free)
        with WriterLock(settings):
            gate.set()  # both answer: each a group of its own, cleaned while the lock is held
            time.sleep(1.5)
    finally:
        gate.set()
    code, err = finish(worker)
    assert code == 0, err
    assert "2 feeds fetched, 4 items stored" in err
    records = exported(tmp_path, db)
    entries: dict[object, set[object]] = {}
    for record in records:
        entries.setdefault(record["title"], set()).add(record["entry_id"])
    assert len(records) == 4
    assert len(entries["The shared story"]) == 1
    assert len({r["entry_id"] for r in records}) == 3


def test_a_worker_whose_feeds_all_answer_304_loads_no_cleaning_merging_or_publishing(
    farm: Farm, tmp_path: Path
) -> None:
    """A warm worker's start is most of its time: it must not import what only a changed
    feed needs (parsing, cleaning, matching, publishing: about a third of its start)."""
    db = stories_fetched_once(farm, tmp_path)
    probe = (
        "import sys\n"
        "from aggregator.cli import main\n"
        "try:\n"
        f"    main(['worker', '--config', 'agg.toml', '--db', {db!r}, '--until-idle'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = ('feedparser', 'lxml', 'nh3', 'aggregator.parse', 'aggregator.normalise.entry',\n"
        "         'aggregator.dedupe', 'aggregator.fulltext', 'aggregator.publish')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert farm.requests() == Counter({p: 2 for p in farm.paths})
    store = open_store(db)
    try:
        assert store.item_count() == 3
        assert all(s.next_check_at and s.next_check_at > now_utc() for s in store.sources())
    finally:
        store.close()


# -- runs and workers on one database ----------------------------------------------------------


def aggregator_run(cwd: Path, db: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", "--config", "agg.toml", "--db", db],
        cwd=cwd,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_leaves_a_source_a_worker_is_fetching_to_it(farm: Farm, tmp_path: Path) -> None:
    db = stories_fetched_once(farm, tmp_path)
    store = open_store(db)
    try:
        now = now_utc()
        assert store.lease_these("w1", ["f0"], now=now, until=now + timedelta(minutes=5)) == {"f0"}
    finally:
        store.close()

    code, err = finish(aggregator_run(tmp_path, db))
    assert code == 0, err
    assert farm.requests() == Counter({"/f0": 1, "/f1": 2, "/f2": 2})
    store = open_store(db)
    try:
        assert store.lease_holders(now_utc()) == {"w1": 1}  # the run's own leases ended
        due = {s.id: s.next_check_at for s in store.sources()}
        assert due["f0"] is not None and due["f0"].year == 2000  # still the worker's to store
        assert all(due[f] and due[f] > now_utc() for f in ("f1", "f2"))
    finally:
        store.close()


def test_a_run_longer_than_its_lease_keeps_its_sources_until_they_are_stored(
    farm: Farm, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run renews its leases while it works, so a feed slower than a run's lease (a
    large OPML's cold start takes longer) is not claimed by a worker meanwhile."""
    from aggregator import pipeline
    from aggregator.config import load_settings

    gate = threading.Event()  # closed: the feed answers once the test opens it
    farm.add("/slow", rss("Slow", [("g0", "Story 0", story_text(0))]), gate=gate)
    farm.config(tmp_path)
    settings = replace(load_settings(tmp_path / "agg.toml"), db=db_url)
    monkeypatch.setattr(pipeline, "RUN_LEASE", timedelta(seconds=2))  # renewed every 0.5 s
    store, other = open_store(db_url), open_store(db_url)
    reports: list[pipeline.RunReport] = []
    run = threading.Thread(
        target=lambda: reports.append(pipeline.run_once(settings, store, now=now_utc()))
    )
    run.start()
    try:
        deadline = time.monotonic() + 30
        while not farm.times_of("/slow"):
            assert time.monotonic() < deadline, "the run never fetched"
            time.sleep(0.05)
        time.sleep(4.5)  # more than two leases
        now = now_utc()
        assert other.lease_holders(now) == {pipeline.run_lease_owner(): 1}
        claimed = other.claim_sources(
            "w", now=now, lease=timedelta(minutes=1), limit=10, min_interval=timedelta(0)
        )
        assert claimed == []
    finally:
        gate.set()
        run.join(timeout=60)
    try:
        (report,) = reports
        assert report.counts["new"] == 1
        assert other.lease_holders(now_utc()) == {}  # ended once its state was stored
        assert farm.requests() == Counter({"/slow": 1})
    finally:
        store.close()
        other.close()


def test_a_run_leaves_a_feed_a_worker_stored_while_the_run_read_the_sources(
    farm: Farm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run reads the sources while a worker fetches f0, and leases a moment later;
    the worker stored f0 in between. The run fetches f1 and f2, not f0 a second time."""
    from aggregator import pipeline
    from aggregator.config import load_settings

    db = stories_fetched_once(farm, tmp_path)
    settings = replace(load_settings(tmp_path / "agg.toml"), db=db)
    run_store, worker_store = open_store(db), open_store(db)
    try:
        now = now_utc()
        assert worker_store.lease_these("w1", ["f0"], now=now, until=now + timedelta(minutes=5))
        read_sources = run_store.ensure_sources

        def read_then_the_worker_stores(*args: Any, **kwargs: Any) -> dict[str, Any]:
            states: dict[str, Any] = read_sources(*args, **kwargs)
            if "f0" in states:  # the configured sources (the seeds' come after the fetch)
                due_later = now + timedelta(hours=1)
                fetched = replace(states["f0"], last_fetch_at=now, next_check_at=due_later)
                assert worker_store.release_sources("w1", [fetched]) == []
            return states

        monkeypatch.setattr(run_store, "ensure_sources", read_then_the_worker_stores)
        report = pipeline.run_once(settings, run_store, now=now_utc())
        assert not report.failures
        assert farm.requests() == Counter({"/f0": 1, "/f1": 2, "/f2": 2})
        assert worker_store.lease_holders(now_utc()) == {}
    finally:
        run_store.close()
        worker_store.close()


def test_a_worker_leaves_the_sources_a_run_is_fetching_to_it(farm: Farm, tmp_path: Path) -> None:
    """A worker running while a cron `aggregator run` fetches: each feed fetched once."""
    gate = threading.Event()
    gate.set()
    farm.add("/f0", rss("Feed 0", [("g0", "Story 0", story_text(0))]), gate=gate)
    for n in (1, 2):
        farm.add(f"/f{n}", rss(f"Feed {n}", [(f"g{n}", f"Story {n}", story_text(n))]))
    farm.add("/probe", rss("Probe", [("gp", "Probe", story_text(9))]))
    run_until_idle(farm, tmp_path)
    db = str(tmp_path / "agg.sqlite")
    worker = start_worker(tmp_path, db)
    try:
        make_due(db, "id = 'probe'")  # fetched once the worker looks for work: it is up
        deadline = time.monotonic() + 60
        while farm.requests()["/probe"] < 2:
            assert worker.poll() is None, finish(worker)
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        gate.clear()  # the run's fetch of /f0 hangs until the test opens it
        make_due(db, "id <> 'probe'")
        run = aggregator_run(tmp_path, db)
        while len(farm.server.requests) < 7:  # every feed asked for again, by either
            assert run.poll() is None, finish(run)
            assert time.monotonic() < deadline, "nobody fetched"
            time.sleep(0.05)
        time.sleep(2.5 * IDLE_POLL_SECONDS)  # the worker looks for due sources meanwhile
        assert farm.requests() == Counter({"/f0": 2, "/f1": 2, "/f2": 2, "/probe": 2})
        gate.set()
        code, err = finish(run)
        assert code == 0, err
        time.sleep(2.5 * IDLE_POLL_SECONDS)
        assert farm.requests() == Counter({"/f0": 2, "/f1": 2, "/f2": 2, "/probe": 2})
    finally:
        gate.set()
        worker.send_signal(signal.SIGTERM)
        code, err = finish(worker)
    assert code == 0, err
    store = open_store(db)
    try:
        assert store.lease_holders(now_utc()) == {}
        assert all(s.next_check_at and s.next_check_at > now_utc() for s in store.sources())
    finally:
        store.close()


# -- bad input -------------------------------------------------------------------------------


def test_a_bad_database_url_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_worker(tmp_path, "", "--db", "mysql://u:secret@db.example/agg", "--until-idle")
    assert result.returncode == 2
    assert "mysql://" in result.stderr and "unknown database URL" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_postgresql_exits_2_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://agg:hunter22@127.0.0.1:1/agg?connect_timeout=2"
    result = run_worker(tmp_path, url, "--db", url, "--until-idle")
    assert result.returncode == 2
    assert "cannot open PostgreSQL database" in result.stderr
    assert "hunter22" not in result.stderr and "Traceback" not in result.stderr


def test_a_bad_config_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "agg.toml").write_text("[fetch]\nconcurrency = 'many'\n", encoding="utf-8")
    result = run_worker(tmp_path, "", "--config", "agg.toml", "--until-idle")
    assert result.returncode == 2
    assert "fetch.concurrency" in result.stderr and "agg.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_lease_shorter_than_a_fetch_exits_2_saying_why(tmp_path: Path) -> None:
    (tmp_path / "agg.toml").write_text("[fetch]\ntimeout = 30\n", encoding="utf-8")
    db = str(tmp_path / "agg.sqlite")
    result = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--lease", "10")
    assert result.returncode == 2
    assert "--lease 10" in result.stderr and "[fetch] timeout 30" in result.stderr
    assert not (tmp_path / "agg.sqlite").exists()  # refused before touching anything


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    for args in (["--batch", "0"], ["--concurrency", "-1"], ["--lease", "nan"], ["--name", " "]):
        result = run_worker(tmp_path, "", *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr


# -- several workers, PostgreSQL -------------------------------------------------------------

STORIES = 12  # feeds with stories of their own, two items each
SHARED = 4  # stories carried by COPIES feeds each, their copies answered at the same moment
COPIES = 3


def shared_farm(farm: Farm) -> None:
    """Feeds with stories of their own, and feeds carrying copies of a shared story,
    named so that each of the first three claims of SHARED sources (one per worker) gets
    one copy of every shared story."""
    for story in range(SHARED):
        hold = threading.Barrier(COPIES)
        for copy in range(COPIES):
            text = story_text(1000 + story)
            items = [(f"c{story}-{copy}", f"Shared story {story}", text)]
            farm.add(f"/a{copy}-{story}", rss(f"Copy {copy}", items), hold=hold)
    for n in range(STORIES):
        items = [(f"g{n}-{i}", f"Story {n}.{i}", story_text(10 * n + i)) for i in range(2)]
        farm.add(f"/b{n}", rss(f"Feed {n}", items))


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        cursor = conn.execute(statement)
        return list(cursor.fetchall()) if cursor.description else []


def three_workers(tmp_path: Path, db: str, *args: str) -> None:
    workers = [
        start_worker(tmp_path, db, "--until-idle", "--batch", str(SHARED), "--lease", "10", *args)
        for _ in range(3)
    ]
    for process in workers:
        code, err = finish(process)
        assert code == 0, err
        assert "Traceback" not in err


def test_three_workers_fetch_each_feed_once_per_interval_and_merge_copies_into_one_entry(
    farm: Farm, tmp_path: Path, postgres_url: str
) -> None:
    shared_farm(farm)
    farm.config(tmp_path)
    three_workers(tmp_path, postgres_url)
    assert farm.requests() == Counter({p: 1 for p in farm.paths})

    records = exported(tmp_path, postgres_url)
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)) == STORIES * 2 + SHARED * COPIES  # none lost or twice
    entries: dict[object, set[object]] = {}
    for record in records:
        entries.setdefault(record["title"], set()).add(record["entry_id"])
    for story in range(SHARED):
        assert len(entries[f"Shared story {story}"]) == 1  # one entry, never two
    assert len({r["entry_id"] for r in records}) == STORIES * 2 + SHARED

    # An interval later (the clock moved on: every source's due time set back by one),
    # each feed is fetched once more (a conditional GET), and nothing changes.
    sql(
        postgres_url,
        "UPDATE sources SET next_check_at = '2000-01-01T00:00:00.000000Z', "
        "last_fetch_at = '2000-01-01T00:00:00.000000Z'",
    )
    three_workers(tmp_path, postgres_url)
    assert farm.requests() == Counter({p: 2 for p in farm.paths})
    assert exported(tmp_path, postgres_url) == records


def test_a_killed_workers_sources_are_fetched_by_the_others_once_its_leases_expire(
    farm: Farm, tmp_path: Path, postgres_url: str
) -> None:
    for n in range(8):
        items = [(f"k{n}", f"Story {n}", story_text(n))]
        farm.add(f"/k{n}", rss(f"Feed {n}", items), delay_first=30)
    farm.config(tmp_path)
    lease = 10.0
    doomed = start_worker(
        tmp_path, postgres_url, "--batch", "8", "--lease", str(lease), name="doomed"
    )
    try:
        deadline = time.monotonic() + 60
        while len(farm.requests()) < len(farm.paths):  # its whole batch in flight
            assert time.monotonic() < deadline, "the first worker never fetched its batch"
            time.sleep(0.1)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    rows = sql(postgres_url, "SELECT lease_owner, lease_until FROM sources")
    assert {owner.split("/")[0] for owner, _ in rows} == {"doomed"}
    expiry = max(load_date(until) for _, until in rows)

    _others_take_over(farm, tmp_path, postgres_url, expiry=expiry, lease=lease)


def test_a_killed_worker_with_a_batch_fetched_ahead_leaves_both_batches_to_the_others(
    farm: Farm, tmp_path: Path, postgres_url: str
) -> None:
    """A worker fetches its next batch while it stores the one before: killed then, the
    leases of both batches expire and the others fetch every one of those sources."""
    from aggregator.config import Settings
    from aggregator.runtime.locking import WriterLock

    gate = threading.Event()
    for n in range(8):
        items = [(f"p{n}", f"Story {n}", story_text(n))]
        farm.add(f"/p{n}", rss(f"Feed {n}", items), gate=gate)
    farm.config(tmp_path)
    lease = 10.0
    doomed = start_worker(
        tmp_path, postgres_url, "--batch", "4", "--lease", str(lease), name="doomed"
    )
    lock = WriterLock(Settings(db=postgres_url))
    try:
        deadline = time.monotonic() + 60
        while not farm.server.requests:  # its first batch in flight, the config applied
            assert doomed.poll() is None, finish(doomed)
            assert time.monotonic() < deadline, "the worker never fetched"
            time.sleep(0.05)
        with lock:  # its first batch cannot be stored: it waits for the lock...
            gate.set()
            while len(farm.requests()) < len(farm.paths):  # ...and fetches the next
                assert time.monotonic() < deadline, "the next batch was not fetched ahead"
                time.sleep(0.05)
            owners = sql(postgres_url, "SELECT lease_owner FROM sources")
            assert [owner.split("/")[0] for (owner,) in owners] == ["doomed"] * 8
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=30)
    finally:
        gate.set()
        if doomed.poll() is None:
            doomed.kill()
    rows = sql(postgres_url, "SELECT lease_until FROM sources")
    expiry = max(load_date(until) for (until,) in rows)
    assert sql(postgres_url, "SELECT COUNT(*) FROM items") == [(0,)]

    _others_take_over(farm, tmp_path, postgres_url, expiry=expiry, lease=lease)


def _others_take_over(
    farm: Farm, tmp_path: Path, postgres_url: str, *, expiry: datetime, lease: float
) -> None:
    """Two more workers run until idle: each of the killed worker's 8 feeds is fetched
    once more, by them, not before its lease ended and soon after (the others poll), and
    every story is stored."""
    others = [
        start_worker(tmp_path, postgres_url, "--until-idle", "--lease", str(lease), name=f"w{i}")
        for i in range(2)
    ]
    for process in others:
        code, err = finish(process)
        assert code == 0, err
    for path in farm.paths:
        _first, second, *more = farm.times_of(path)
        assert more == []  # fetched once by the others: never twice
        assert expiry <= second <= expiry + timedelta(seconds=lease)
    records = exported(tmp_path, postgres_url)
    assert sorted(r["title"] for r in records) == sorted(f"Story {n}" for n in range(8))


# -- operations: status, /metrics, SIGTERM ---------------------------------------------------


def status_json(cwd: Path, db: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aggregator",
            "status",
            "--json",
            "--config",
            "agg.toml",
            "--db",
            db,
        ],
        cwd=cwd,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_status_and_metrics_show_the_workers_leases_and_lag_and_sigterm_gives_leases_back(
    farm: Farm, tmp_path: Path
) -> None:
    from aggregator.config import load_settings
    from aggregator.runtime.daemon import Daemon

    # The worker's first batch (a0..a2) is answered once the test opens the gate; with 3
    # requests in flight at most, it claims one batch ahead (b0..b2), which waits for a
    # slot; c0..c2 wait their turn.
    gate = threading.Event()
    for n in range(3):
        farm.add(f"/a{n}", rss(f"A{n}", [(f"a{n}", f"A {n}", story_text(n))]), gate=gate)
    for n in range(3):
        farm.add(f"/b{n}", rss(f"B{n}", [(f"b{n}", f"B {n}", story_text(10 + n))]))
    for n in range(3):
        farm.add(f"/c{n}", rss(f"C{n}", [(f"c{n}", f"C {n}", story_text(20 + n))]))
    farm.config(tmp_path, timeout=60)
    db = str(tmp_path / "agg.sqlite")
    worker = start_worker(
        tmp_path, db, "--batch", "3", "--concurrency", "3", "--lease", "70", name="busy one"
    )
    try:
        deadline = time.monotonic() + 60
        while len(farm.requests()) < 3 or status_json(tmp_path, db)["leases"] < 6:
            assert time.monotonic() < deadline, "the worker never claimed its two batches"
            time.sleep(0.05)
        data = status_json(tmp_path, db)
        (row,) = data["workers"]
        assert (row["name"], row["state"], row["leases"]) == ("busy one", "alive", 6)
        assert data["leases"] == 6
        assert data["lag"]["due"] == 3 and data["lag"]["never_fetched"] == 3
        text = subprocess.run(
            [sys.executable, "-m", "aggregator", "status", "--config", "agg.toml", "--db", db],
            cwd=tmp_path,
            env=worker_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert "busy one" in text and "6 sources leased; 3 due not yet claimed" in text
        daemon = Daemon(lambda: load_settings(tmp_path / "agg.toml").with_overrides(db=db))
        try:
            metrics = daemon.metrics()
        finally:
            daemon.close()
        assert 'aggregator_workers{state="alive"} 1' in metrics
        assert 'aggregator_worker_leases{name="busy one",' in metrics
        assert "aggregator_leases 6\n" in metrics and "aggregator_due_sources 3\n" in metrics
        # Mid-batch: store it and the batch fetched ahead, claim nothing more.
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        gate.set()
        code, err = finish(worker)
    finally:
        gate.set()
        if worker.poll() is None:
            worker.kill()
    assert code == 0, err
    assert "6 feeds fetched, 6 items stored" in err
    assert farm.requests() == Counter({f"/{ab}{n}": 1 for ab in "ab" for n in range(3)})
    data = status_json(tmp_path, db)
    assert [(w["state"], w["leases"], w["feeds"]) for w in data["workers"]] == [("stopped", 0, 6)]
    assert (data["leases"], data["lag"]["due"]) == (0, 3)
    assert data["items"] == 6
