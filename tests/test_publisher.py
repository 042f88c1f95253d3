"""One publisher (`aggregator publisher`) and the published documents kept in the database
(`[output] store_documents`, `aggregator serve --from-database`).

SQLite here runs in process and as the real CLI; the PostgreSQL tests (advisory lock,
NOTIFY, take-over after kill -9, a dropped lock connection, two serving nodes) run real
processes against `AGGREGATOR_TEST_POSTGRES` and skip, saying why, without it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from test_cli_run import aggregator
from test_daemon import free_port, wait_for

from aggregator.config import Settings
from aggregator.pipeline import run_once
from aggregator.publish.documents import keep_documents, sync_documents
from aggregator.runtime.publisher import Publisher, PublisherOptions, SQLiteLeadership
from aggregator.serve import create_app, create_database_app
from aggregator.store import Store, open_store
from aggregator.store.documents import Document

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def add_seed(seeds: Path, n: int) -> str:
    """A press release of its own (its title and text share nothing with the others)."""
    title = f"Harbour works stage {n} finished ahead of schedule"
    words = " ".join(f"word{n}x{i}" for i in range(60))
    seeds.mkdir(parents=True, exist_ok=True)
    (seeds / f"release-{n:03}.txt").write_text(
        f"{title}\n\nPort Authority {n}\n\nThe stage {n} works finished today. {words}.\n",
        encoding="utf-8",
    )
    return title


def settings_in(tmp_path: Path, db: str, **changes: object) -> Settings:
    return replace(
        Settings(db=db, seeds=tmp_path / "seeds", out=tmp_path / "feeds", lock_timeout=5),
        **changes,
    )


def stored_run(settings: Settings, n: int) -> str:
    """Store one new item the way a worker or a run does, publishing elsewhere."""
    title = add_seed(settings.seeds, n)
    store = open_store(settings.db)
    try:
        run_once(replace(settings, out=settings.out.parent / "run-out"), store, now=NOW)
    finally:
        store.close()
    return title


# -- the same answers from the folder and from the database --------------------------------

REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/index.atom", {"Accept-Encoding": "identity"}),
    ("GET", "/index.atom", {"Accept-Encoding": "gzip"}),
    ("HEAD", "/index.atom", {"Accept-Encoding": "gzip"}),
    ("GET", "/", {"Accept-Encoding": "identity"}),
    ("GET", "/sources.opml", {}),
    ("GET", "/index.json", {"Accept-Encoding": "gzip, br"}),
    ("GET", "/index.atom", {"If-Modified-Since": "Sat, 01 Jan 2100 00:00:00 GMT"}),
    ("GET", "/index.atom", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
    ("GET", "/nothing-here.atom", {}),
    ("GET", "/.published.json", {}),
    ("POST", "/index.atom", {}),
]


def answers(app: object, requests: list[tuple[str, str, dict[str, str]]]) -> list[object]:
    async def ask() -> list[object]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            found: list[object] = []
            for method, path, headers in requests:
                r = await client.request(method, path, headers=headers)
                found.append((r.status_code, sorted(r.headers.items()), r.content))
            return found

    return asyncio.run(ask())


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    """A SQLite store with two items, published with the documents kept."""
    settings = settings_in(tmp_path, str(tmp_path / "agg.sqlite"), store_documents=True)
    add_seed(settings.seeds, 1)
    add_seed(settings.seeds, 2)
    store = open_store(settings.db)
    run_once(settings, store, now=NOW)
    try:
        yield settings, store
    finally:
        store.close()


def test_database_answers_every_request_as_the_folder_does(
    published: tuple[Settings, Store],
) -> None:
    settings, store = published
    from_files = answers(create_app(settings.out), REQUESTS)
    from_database = answers(create_database_app(store), REQUESTS)
    assert from_database == from_files
    statuses = [a[0] for a in from_files]  # type: ignore[index]
    assert statuses == [200, 200, 200, 200, 200, 200, 304, 200, 404, 404, 405]
    # Revalidation with the ETag each mode gave (identity and gzip): 304 from both.
    for app in (create_app(settings.out), create_database_app(store)):
        first = answers(app, [("GET", "/index.atom", {"Accept-Encoding": "gzip"})])
        etag = dict(first[0][1])["etag"]  # type: ignore[index]
        again = answers(app, [("GET", "/index.atom", {"If-None-Match": etag})])
        assert again[0][0] == 304  # type: ignore[index]


def test_documents_follow_the_folder(published: tuple[Settings, Store]) -> None:
    settings, store = published
    files = sorted(
        p.relative_to(settings.out).as_posix()
        for p in settings.out.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    assert sorted(store.document_stamps()) == files
    version = store.documents_version()
    # Nothing changed: nothing stored, the version stays (servers keep their caches).
    assert sync_documents(store, settings.out).stored == ()
    assert store.documents_version() == version
    # A file removed, a file rewritten with the same bytes later, a file changed.
    (settings.out / "sources.opml").unlink()
    index = settings.out / "index.atom"
    before = store.document("index.atom")
    assert before is not None
    os.utime(index, (before.modified.timestamp() + 100,) * 2)
    (settings.out / "index.json").write_bytes(b'{"changed": true}')
    done = sync_documents(store, settings.out)
    assert done.removed == ("sources.opml",)
    assert set(done.stored) == {"index.atom", "index.json"}
    assert store.document("sources.opml") is None
    after = store.document("index.atom")
    assert after is not None and after.modified == before.modified  # same bytes: same date
    changed = store.document("index.json")
    assert changed is not None and changed.body == b'{"changed": true}'
    assert store.documents_version() != version
    # Asked with the ETag it holds, a reader gets no body.
    held = store.document("index.json", unless_etag=changed.etag)
    assert held is not None and held.body == b"" and held.etag == changed.etag


def test_turned_on_later_stores_the_existing_folder(tmp_path: Path) -> None:
    # Published with the option off (or a process killed before it stored them): the next
    # publish, even one that renders nothing, stores every file.
    settings = settings_in(tmp_path, str(tmp_path / "agg.sqlite"))
    add_seed(settings.seeds, 1)
    store = open_store(settings.db)
    try:
        run_once(settings, store, now=NOW)
        assert store.document_stamps() == {}
        assert keep_documents(settings, store) is None  # off: nothing
        on = replace(settings, store_documents=True)
        report = run_once(on, store, now=NOW)
        assert report.published is None  # nothing new to render
        assert "index.atom" in store.document_stamps()
    finally:
        store.close()


class CountingSource:
    """A DocumentSource that counts the database reads a server makes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.location = store.location
        self.version_reads = 0
        self.document_reads = 0

    def documents_version(self) -> str:
        self.version_reads += 1
        return self.store.documents_version()

    def document(self, path: str, *, unless_etag: str | None = None) -> Document | None:
        self.document_reads += 1
        return self.store.document(path, unless_etag=unless_etag)


def test_a_busy_server_does_not_read_the_database_per_request(
    published: tuple[Settings, Store],
) -> None:
    _, store = published
    source = CountingSource(store)
    app = create_database_app(source, revalidate=3600)
    many = [("GET", "/index.atom", {})] * 20 + [("GET", "/missing", {})] * 20
    answers(app, many)
    assert (source.version_reads, source.document_reads) == (1, 2)


def test_a_server_sees_the_next_publish(published: tuple[Settings, Store]) -> None:
    settings, store = published
    app = create_database_app(store, revalidate=0)
    (first,) = answers(app, [("GET", "/index.atom", {})])
    add_seed(settings.seeds, 3)
    run_once(settings, store, now=NOW)
    (second,) = answers(app, [("GET", "/index.atom", {})])
    assert b"stage 3" not in first[2] and b"stage 3" in second[2]  # type: ignore[index]
    assert dict(first[1])["etag"] != dict(second[1])["etag"]  # type: ignore[index]


# -- the publisher on SQLite, in process ----------------------------------------------------


@contextmanager
def publisher_thread(settings: Settings, **options: float) -> Iterator[Publisher]:
    store = open_store(settings.db, create=False)
    stopping = threading.Event()
    publisher = Publisher(
        settings,
        store,
        SQLiteLeadership(settings.db, store),
        PublisherOptions(**options),  # type: ignore[arg-type]
        stopping,
    )
    thread = threading.Thread(target=publisher.run)
    thread.start()
    try:
        yield publisher
    finally:
        stopping.set()
        thread.join(timeout=30)
        store.close()
    assert not thread.is_alive()


def index_text(out: Path) -> str:
    index = out / "index.atom"
    return index.read_text(encoding="utf-8") if index.is_file() else ""


def test_sqlite_publisher_wakes_on_a_commit(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, str(tmp_path / "agg.sqlite"))
    stored_run(settings, 1)
    # The timer is an hour: only the store's data version can wake it.
    with publisher_thread(settings, interval=3600, debounce=0) as publisher:
        wait_for(lambda: publisher.publishes == 1, what="the first publish")
        assert "stage 1" in index_text(settings.out)
        stored_run(settings, 2)
        wait_for(lambda: "stage 2" in index_text(settings.out), what="the commit published")


class Burst(SQLiteLeadership):
    """The real lock and store, with commits made by the wake-ups themselves: the first
    three waits each commit an item and report it at once, however slow the machine."""

    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings.db, store)
        self.settings = settings
        self.pending = [2, 3, 4]

    def wait(self, timeout: float) -> bool:
        if self.pending:
            stored_run(self.settings, self.pending.pop(0))
            return True
        threading.Event().wait(min(timeout, 0.05))
        return False


def test_a_burst_of_commits_gives_one_publish(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, str(tmp_path / "agg.sqlite"))
    stored_run(settings, 1)
    store = open_store(settings.db, create=False)
    stopping = threading.Event()
    options = PublisherOptions(interval=3600, debounce=0.2)
    publisher = Publisher(settings, store, Burst(settings, store), options, stopping)
    thread = threading.Thread(target=publisher.run)
    thread.start()
    try:
        wait_for(lambda: "stage 4" in index_text(settings.out), what="the burst published")
    finally:
        stopping.set()
        thread.join(timeout=30)
        store.close()
    # The first publish (stage 1), then one for the three commits.
    assert publisher.publishes == 2


def test_a_failed_publish_is_retried_at_the_next_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_in(tmp_path, str(tmp_path / "agg.sqlite"))
    stored_run(settings, 1)
    settings.out.write_text("a file where the output folder should be")
    with publisher_thread(settings, interval=3600, debounce=0):
        wait_for(lambda: "publish failed" in caplog.text, what="the failure logged")
        settings.out.unlink()
        stored_run(settings, 2)
        # Still the holder: the next commit is published, in the folder now writable.
        wait_for(lambda: "stage 2" in index_text(settings.out), what="the next publish")


# -- the command line -----------------------------------------------------------------------


def test_publisher_once_and_sigterm(tmp_path: Path) -> None:
    add_seed(tmp_path / "seeds", 1)
    aggregator("run", "--out", "run-out", cwd=tmp_path)
    done = aggregator("publisher", "--once", cwd=tmp_path)
    assert done.stdout.startswith("Published 1 entry to feeds (")
    assert "stage 1" in index_text(tmp_path / "feeds")
    again = aggregator("publisher", "--once", cwd=tmp_path)
    assert again.stdout.startswith("Nothing changed since the last publish: 1 entry")
    proc = start("publisher", "--interval", "3600", cwd=tmp_path)
    try:
        wait_for(lambda: "took the publisher lock" in read(proc), what="the lock taken")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("publisher", "--db", "missing/agg.sqlite"), "no database at missing/agg.sqlite"),
        (("serve", "--from-database", "--db", "missing.sqlite"), "no database at missing.sqlite"),
        (("publisher", "--db", "mysql://u:secret@h/db"), "unknown database URL"),
        (("publisher", "--debounce", "nan"), "expected a finite number"),
        (("publisher", "--interval", "0"), "--interval"),
    ],
)
def test_publisher_bad_input(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    result = aggregator(*args, cwd=tmp_path, check=False)
    assert result.returncode in (1, 2)
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_bad_store_documents_value_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "aggregator.toml").write_text('[output]\nstore_documents = "yes"\n')
    result = aggregator("publisher", "--once", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "output.store_documents: expected true or false" in result.stderr


def test_serve_from_an_empty_documents_table_says_so(tmp_path: Path) -> None:
    add_seed(tmp_path / "seeds", 1)
    aggregator("run", cwd=tmp_path)  # without [output] store_documents
    port = free_port()
    proc = start("serve", "--from-database", "--port", str(port), cwd=tmp_path)
    try:
        wait_for(lambda: "holds no published documents" in read(proc), what="the warning")
        wait_for(lambda: _status(port, "/index.atom") == 404, what="a 404")
    finally:
        stop(proc)


# -- processes ------------------------------------------------------------------------------

_OUTPUT: dict[int, list[str]] = {}


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--log-level", "info", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    _OUTPUT[proc.pid] = lines
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    return proc


def read(proc: subprocess.Popen[str]) -> str:
    return "".join(_OUTPUT[proc.pid])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _status(port: int, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
    except httpx.HTTPError:
        return None


# -- PostgreSQL: one publisher among several, woken by NOTIFY -------------------------------


def pg_run(tmp_path: Path, url: str, n: int) -> None:
    """Commit one new item to the shared database, as a worker would (publishing to a
    folder of its own, which the publishers never look at)."""
    add_seed(tmp_path / "seeds", n)
    aggregator("run", "--db", url, "--out", "run-out", cwd=tmp_path)


def publishers(tmp_path: Path, url: str, *outs: str) -> list[subprocess.Popen[str]]:
    # The timer is an hour: a publish after the first can only come from a NOTIFY.
    return [
        start("publisher", "--db", url, "--out", out, "--interval", "3600", "--debounce", "0.2",
              cwd=tmp_path)
        for out in outs
    ]  # fmt: skip


def test_one_publisher_publishes_and_a_standby_takes_over(
    tmp_path: Path, postgres_url: str
) -> None:
    pg_run(tmp_path, postgres_url, 1)
    procs = publishers(tmp_path, postgres_url, "a", "b")
    try:
        wait_for(
            lambda: any("standing by" in read(p) for p in procs), what="one publisher standing by"
        )
        holder, standby = procs if "standing by" in read(procs[1]) else procs[::-1]
        held, waiting = (tmp_path / o for o in (("a", "b") if holder is procs[0] else ("b", "a")))
        wait_for(lambda: "stage 1" in index_text(held), what="the holder's first publish")
        assert not waiting.exists()  # the standby published nothing
        pg_run(tmp_path, postgres_url, 2)
        wait_for(lambda: "stage 2" in index_text(held), what="the commit notified")
        assert not waiting.exists()

        holder.kill()  # kill -9: its session ends, the server drops its lock
        holder.wait(timeout=30)
        wait_for(lambda: "stage 2" in index_text(waiting), what="the standby taking over")
        pg_run(tmp_path, postgres_url, 3)
        wait_for(lambda: "stage 3" in index_text(waiting), what="the new holder woken")
        assert "stage 3" not in index_text(held)
        assert standby.poll() is None
    finally:
        for proc in procs:
            stop(proc)


def lock_sessions(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_a_dropped_lock_connection_stops_publishing_until_retaken(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    pg_run(tmp_path, postgres_url, 1)
    (proc,) = publishers(tmp_path, postgres_url, "feeds")
    try:
        wait_for(lambda: "stage 1" in index_text(tmp_path / "feeds"), what="the first publish")
        (session,) = lock_sessions(postgres_url)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (session,))
        wait_for(lambda: "stopped publishing" in read(proc), what="the loss noticed")
        wait_for(lambda: read(proc).count("took the publisher lock") == 2, what="retaken")
        assert lock_sessions(postgres_url) not in ([], [session])
        pg_run(tmp_path, postgres_url, 2)
        wait_for(lambda: "stage 2" in index_text(tmp_path / "feeds"), what="publishing again")
    finally:
        stop(proc)


def test_two_nodes_serve_the_same_documents(tmp_path: Path, postgres_url: str) -> None:
    (tmp_path / "aggregator.toml").write_text("[output]\nstore_documents = true\n")
    add_seed(tmp_path / "seeds", 1)
    aggregator("run", "--db", postgres_url, cwd=tmp_path)
    ports = [free_port(), free_port()]
    nodes = [
        start("serve", "--from-database", "--db", postgres_url, "--port", str(port), cwd=tmp_path)
        for port in ports
    ]
    try:
        for port in ports:
            wait_for(lambda port=port: _status(port, "/healthz") == 200, what="a node up")
        got = [httpx.get(f"http://127.0.0.1:{port}/index.atom") for port in ports]
        assert got[0].content == got[1].content == (tmp_path / "feeds/index.atom").read_bytes()
        assert got[0].headers["etag"] == got[1].headers["etag"]
        assert got[0].headers["last-modified"] == got[1].headers["last-modified"]
        for port in ports:
            again = httpx.get(
                f"http://127.0.0.1:{port}/index.atom",
                headers={"If-None-Match": got[0].headers["etag"]},
            )
            assert again.status_code == 304
        add_seed(tmp_path / "seeds", 2)
        aggregator("run", "--db", postgres_url, cwd=tmp_path)
        for port in ports:
            wait_for(
                lambda port=port: b"stage 2" in httpx.get(f"http://127.0.0.1:{port}/").content,
                what="each node serving the next publish",
            )
    finally:
        for node in nodes:
            stop(node)


def test_publisher_refuses_a_database_without_tables(tmp_path: Path, postgres_url: str) -> None:
    result = aggregator("publisher", "--db", postgres_url, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "has no aggregator tables" in result.stderr
    assert "Traceback" not in result.stderr
    served = aggregator("serve", "--from-database", "--db", postgres_url, cwd=tmp_path, check=False)
    assert served.returncode == 1 and "has no aggregator tables" in served.stderr


def test_publisher_bad_postgres_url(tmp_path: Path, postgres_url: str) -> None:
    wrong = postgres_url.replace("://", "://nobody:wrongpass@", 1).split("@", 1)
    url = wrong[0] + "@" + postgres_url.split("@", 1)[1]
    result = aggregator("publisher", "--db", url, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "cannot open PostgreSQL database" in result.stderr
    assert "wrongpass" not in result.stderr and "Traceback" not in result.stderr
