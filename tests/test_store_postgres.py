"""The PostgreSQL backend against a real server (no mocks): what is particular to it.

Needs `AGGREGATOR_TEST_POSTGRES` (see conftest.py; `.ci/run` starts a throwaway cluster);
skips with the reason otherwise. Behaviour shared with SQLite (items persist, updates
keep entry and first-seen, prune with tombstones, the redirect rule, ...) is in
test_store.py, which runs every such test on both backends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree
from test_cli_run import aggregator
from test_store import make_item

from aggregator.config import Settings
from aggregator.exceptions import StorageError
from aggregator.model import SourceKind, SourceSpec
from aggregator.runtime.daemon import Daemon
from aggregator.runtime.locking import WriterLock
from aggregator.store import ItemWrite, open_store
from aggregator.store.schema import MIGRATIONS, SCHEMA_VERSION

from atomcheck import validate_atom

# Every test takes the `postgres_url` fixture (conftest.py): a fresh database of its own,
# or a skip saying why when no server was given.
psycopg = pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parent.parent
ATOM = "{http://www.w3.org/2005/Atom}"
BUSY = "another aggregator process is writing to this database"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + name).geturl()


def admin_url() -> str:
    return os.environ["AGGREGATOR_TEST_POSTGRES"]


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password, "the test server's URL should carry a password (redaction is tested)"
    return password


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql).fetchall())


def settings_for(url: str, tmp_path: Path, **changes: object) -> Settings:
    return Settings(db=url, seeds=tmp_path / "seeds", out=tmp_path / "feeds").with_overrides(
        **changes
    )


# -- schema --------------------------------------------------------------------------------


def test_first_open_migrates_in_one_go(postgres_url: str) -> None:
    open_store(postgres_url).close()
    assert query(postgres_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    tables = {
        r[0]
        for r in query(
            postgres_url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()",
        )
    }
    assert tables == {
        "schema_version", "sources", "entries", "items", "tombstones", "meta", "shared_links",
        "decisions", "article_cache", "robots_cache", "seed_files", "source_entries", "workers",
        "documents", "entry_changes", "lookup_keys",
    }  # fmt: skip
    # SQLite's meaning of the shared types: byte-wise text, 8-byte REAL.
    columns = dict(
        query(
            postgres_url,
            "SELECT column_name, coalesce(collation_name, data_type) FROM "
            "information_schema.columns WHERE table_name = 'items' "
            "AND column_name IN ('key', 'merge_score')",
        )
    )
    assert columns == {"key": "C", "merge_score": "double precision"}
    # A second open finds the schema current and changes nothing.
    open_store(postgres_url).close()
    assert query(postgres_url, "SELECT count(*) FROM schema_version") == [(1,)]


def test_upgrading_moves_the_recorded_configs_onto_the_sources_rows(postgres_url: str) -> None:
    """Migration 13 on PostgreSQL: the JSON record of each source's config key (schema 12)
    becomes a key on each source's row, in the migration's transaction."""
    open_store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE sources DROP COLUMN config_key")
        conn.execute("UPDATE schema_version SET version = 12")
        for sid in ("a", "b"):
            conn.execute("INSERT INTO sources (id, url, kind) VALUES (%s, 'u', 'remote')", (sid,))
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('source_configs', %s)",
            (json.dumps({"a": "key-a", "gone": "key-x"}),),
        )
    store = open_store(postgres_url)
    try:
        assert [(s.id, s.config_key) for s in store.sources()] == [("a", "key-a"), ("b", None)]
        assert store.get_meta("source_configs") is None
    finally:
        store.close()
    assert query(postgres_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_workers_starting_together_migrate_once(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_store(postgres_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert query(postgres_url, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


def test_newer_schema_is_refused(postgres_url: str) -> None:
    open_store(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 5,))
    with pytest.raises(StorageError, match="newer than this aggregator") as caught:
        open_store(postgres_url)
    assert password_of(postgres_url) not in str(caught.value)


def test_non_utf8_database_is_refused(postgres_url: str) -> None:
    from psycopg import sql

    name = urlsplit(postgres_url).path[1:] + "_latin1"
    latin = with_database(postgres_url, name)
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'LATIN1' "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            ).format(sql.Identifier(name))
        )
    try:
        with pytest.raises(StorageError, match="UTF8"):
            open_store(latin)
    finally:
        with psycopg.connect(admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# -- messages never carry credentials -------------------------------------------------------


def test_wrong_password_is_a_clear_error_without_it(postgres_url: str) -> None:
    wrong = postgres_url.replace(":" + password_of(postgres_url) + "@", ":not-the-password@")
    with pytest.raises(StorageError) as caught:
        open_store(wrong)
    message = str(caught.value)
    assert "cannot open PostgreSQL database postgresql://***@127.0.0.1" in message
    assert "not-the-password" not in message
    assert "password authentication failed" in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:hunter2@[unclosed/agg",  # libpq quotes the whole URI back
        "postgresql://user:hunter2@host:notaport/agg",
    ],
)
def test_a_malformed_url_never_shows_its_password(url: str) -> None:
    # No server needed: these fail before connecting. The first used to come back with
    # the password in clear, since it could not be found in a URL urllib cannot split.
    with pytest.raises(StorageError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "hunter2" not in message and "user:" not in message
    assert "postgresql://***@" in message


def test_a_short_password_does_not_mask_the_rest_of_the_message() -> None:
    with pytest.raises(StorageError) as caught:
        open_store("postgresql://u:p@[unclosed/agg")
    message = str(caught.value)
    assert "IPv6 host address" in message  # not "IPv6 host address" with every p masked
    assert 'in URI: "postgresql://***@[unclosed/agg"' in message


def test_no_server_is_a_clear_error(postgres_url: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://user:hunter2@127.0.0.1:{port}/agg"
    with pytest.raises(StorageError, match="cannot open PostgreSQL database") as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)
    settings = Settings(db=url, lock_timeout=0)
    with pytest.raises(StorageError, match="cannot open PostgreSQL database") as caught:
        WriterLock(settings).__enter__()
    assert "hunter2" not in str(caught.value)


def test_lost_table_is_a_storage_error(postgres_url: str) -> None:
    store = open_store(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        conn.execute("DROP TABLE tombstones")
    with pytest.raises(StorageError, match="cannot read tombstones"):
        store.tombstoned(["k"])
    store.close()


def test_reconnects_after_the_server_ends_the_session(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.set_meta("before", "1")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StorageError):
        store.get_meta("before")  # the first statement finds the connection gone
    assert store.get_meta("before") == "1"  # the next one reconnects
    store.close()


def test_failed_write_rolls_back_and_the_store_goes_on(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    orphan = make_item("orphan", source_id="no-such-source")
    with pytest.raises(StorageError, match="cannot write"):
        store.write_items(
            [
                ItemWrite(item=make_item("ok"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW),
                ItemWrite(item=orphan, entry_id="urn:e2", first_seen=NOW, seen_at=NOW),
            ]
        )
    assert store.item_count() == 0
    assert store.data_version() == "0"
    store.close()


def _long_item_stored(url: str) -> tuple[object, ...]:
    """Store one item whose text is long enough to be compressed; how it was compressed
    and what reads back."""
    store = open_store(url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    text = " ".join(f"Paragraph {n} of a long release, repeated." for n in range(400))
    store.write_items(
        [ItemWrite(item=make_item("k", text=text), entry_id="urn:e", first_seen=NOW, seen_at=NOW)]
    )
    (stored,) = store.items(feed_id_base="https://feeds.example/")
    store.close()
    assert stored.item.text == text
    (row,) = query(url, "SELECT pg_column_compression(text) FROM items")
    return row


def lz4_available(url: str) -> bool:
    (row,) = query(url, "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    return "lz4" in row[0]  # type: ignore[operator]


def test_long_values_are_stored_with_lz4(postgres_url: str) -> None:
    # lz4 costs the server a fraction of pglz's CPU to compress; a cold ingest stores
    # every item's markup and text once.
    if not lz4_available(postgres_url):
        pytest.skip("this PostgreSQL was built without lz4")
    assert _long_item_stored(postgres_url) == ("lz4",)


def test_a_compression_the_operator_chose_is_kept(postgres_url: str) -> None:
    if not lz4_available(postgres_url):
        pytest.skip("this PostgreSQL was built without lz4")
    database = urlsplit(postgres_url).path.lstrip("/")
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET default_toast_compression = pglz")
    assert _long_item_stored(postgres_url) == ("pglz",)


def _keepalives(store: object) -> tuple[dict[str, str], dict[str, str]]:
    """The server's probe settings of a store's session, and its client's."""
    conn = store._db._conn  # type: ignore[attr-defined]
    rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name LIKE 'tcp_%'").fetchall()
    client = conn.info.get_parameters()
    return {r[0]: r[1] for r in rows}, {k: v for k, v in client.items() if "keepalives" in k}


def test_a_vanished_machine_is_noticed_within_a_minute_not_hours(postgres_url: str) -> None:
    """By the operating system's defaults a silent peer is probed after two hours: a
    worker's machine lost while it held the writer lock (or rows mid-store) would stop
    every writer that long. Each session asks the server to probe a silent client after
    30 s (every 10 s, 3 times), and its client to probe a silent server alike. (A lost
    machine cannot be staged here: the settings the server and the client run with are
    what is checked.)"""
    store = open_store(postgres_url)
    try:
        server, client = _keepalives(store)
    finally:
        store.close()
    assert server == {
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "0",  # the kernel's: a live client slow to read is not cut off
    }
    assert client == {"keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}


def test_probes_the_operator_chose_are_kept(postgres_url: str) -> None:
    database = urlsplit(postgres_url).path.lstrip("/")
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {database} SET tcp_keepalives_idle = 120")
    store = open_store(f"{postgres_url}?keepalives_idle=45")
    try:
        server, client = _keepalives(store)
    finally:
        store.close()
    assert (server["tcp_keepalives_idle"], server["tcp_keepalives_count"]) == ("120", "3")
    assert client["keepalives_idle"] == "45"


# -- the writer lock ----------------------------------------------------------------------


def test_second_writer_times_out_with_the_message(postgres_url: str, tmp_path: Path) -> None:
    settings = settings_for(postgres_url, tmp_path)
    with WriterLock(settings):
        started = time.monotonic()
        with pytest.raises(StorageError, match=BUSY) as caught, WriterLock(settings, timeout=0.5):
            pass
        assert time.monotonic() - started >= 0.5
        message = str(caught.value)
        assert "advisory lock on postgresql://***@127.0.0.1" in message
        assert password_of(postgres_url) not in message
    with WriterLock(settings, timeout=0):
        pass  # released on exit


def test_second_writer_waits_for_the_first(postgres_url: str, tmp_path: Path) -> None:
    settings = settings_for(postgres_url, tmp_path)
    first = WriterLock(settings)
    first.__enter__()
    timer = threading.Timer(0.4, first.__exit__, (None, None, None))
    timer.start()
    started = time.monotonic()
    with WriterLock(settings, timeout=30):
        waited = time.monotonic() - started
    timer.join()
    assert 0.3 <= waited < 10


def test_a_waiting_writer_gets_the_lock_as_soon_as_it_is_released(
    postgres_url: str, tmp_path: Path
) -> None:
    """Workers hand the writer lock from batch to batch: a waiter polling with a growing
    delay (0.05 s doubling to 0.5 s) found a lock released after 0.8 s some 0.45 s late,
    while every other worker waited behind it."""
    settings = settings_for(postgres_url, tmp_path)
    first = WriterLock(settings)
    first.__enter__()
    released: list[float] = []

    def release() -> None:
        first.__exit__(None, None, None)
        released.append(time.monotonic())

    timer = threading.Timer(0.8, release)
    timer.start()
    with WriterLock(settings, timeout=30):
        taken = time.monotonic()
    timer.join()
    assert taken - released[0] < 0.3


def test_a_writer_lock_timeout_beyond_what_postgresql_counts_still_waits(
    postgres_url: str, tmp_path: Path
) -> None:
    # lock_timeout is a 32-bit count of milliseconds; the config allows up to 1e9 s
    settings = replace(settings_for(postgres_url, tmp_path), lock_timeout=1e9)
    with WriterLock(settings):
        pass


def test_a_kept_writer_lock_session_serves_every_turn_and_survives_its_end(
    postgres_url: str, tmp_path: Path
) -> None:
    """A worker takes the lock for each batch on one session: between turns the lock is
    free for others, and a session the server ended while idle is replaced."""
    import psycopg

    settings = settings_for(postgres_url, tmp_path)
    kept = WriterLock(settings, keep_session=True)
    sessions = set()
    with psycopg.connect(postgres_url, autocommit=True) as admin:

        def lock_sessions() -> set[int]:
            rows = admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall()
            return {pid for (pid,) in rows}

        try:
            for _ in range(3):
                with kept:
                    sessions |= lock_sessions()
                with WriterLock(settings, timeout=0):  # free between turns
                    pass
            assert len(sessions) == 1
            admin.execute("SELECT pg_terminate_backend(%s)", (sessions.pop(),))
            with kept:  # the kept session is gone: a new one takes the lock
                assert len(lock_sessions()) == 1
        finally:
            kept.close()
        assert lock_sessions() == set()


def test_lock_is_per_database(postgres_url: str, tmp_path: Path) -> None:
    other = with_database(postgres_url, "postgres")
    with (
        WriterLock(settings_for(postgres_url, tmp_path)),
        WriterLock(settings_for(other, tmp_path), timeout=0),
    ):
        pass


def test_a_killed_holder_leaves_no_stale_lock(postgres_url: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from aggregator.store.postgres import AdvisoryLock\n"
            "lock = AdvisoryLock(sys.argv[1], location='x')\n"
            "assert lock.acquire(10)\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
            postgres_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        settings = settings_for(postgres_url, tmp_path)
        with pytest.raises(StorageError, match=BUSY), WriterLock(settings, timeout=0.2):
            pass
        holder.kill()
        holder.wait()
        with WriterLock(settings, timeout=30):
            pass
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_daemon_cycle_skips_while_another_writes(postgres_url: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    settings = settings_for(postgres_url, tmp_path)
    daemon = Daemon(lambda: settings)
    try:
        with WriterLock(settings):
            daemon.cycle()
        assert BUSY in (daemon.stats.last_error or "")
        assert not (tmp_path / "feeds" / "index.atom").exists()
        daemon.cycle()
        assert daemon.stats.publishes == 1
        assert (tmp_path / "feeds" / "index.atom").is_file()
    finally:
        daemon.close()


# -- end to end ---------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    yield tmp_path


def test_run_and_export_on_postgresql(postgres_url: str, workdir: Path) -> None:
    result = aggregator("run", "--db", postgres_url, cwd=workdir)
    assert "1 new" in result.stdout
    assert password_of(postgres_url) not in result.stdout + result.stderr
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    (entry,) = etree.fromstring(feed).findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "NATO Chief, Macron Talk Defense, Ukraine"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "NATO"
    assert not (workdir / "data").exists()  # nothing SQLite on the side

    (record,) = [
        json.loads(line)
        for line in aggregator("export", "--db", postgres_url, cwd=workdir).stdout.splitlines()
    ]
    assert record["title"] == "NATO Chief, Macron Talk Defense, Ukraine"
    assert record["source_id"] == "seeds"

    # Another worker (another folder, same database) finds the item already stored.
    other = workdir / "other"
    shutil.copytree(workdir / "seeds", other / "seeds")
    again = aggregator("run", "--db", postgres_url, cwd=other)
    assert "0 new" in again.stdout and "1 unchanged" in again.stdout


def test_run_while_another_writes_gives_up_with_the_message(
    postgres_url: str, workdir: Path
) -> None:
    (workdir / "aggregator.toml").write_text(f'db = "{postgres_url}"\nlock_timeout = 0.5\n')
    with WriterLock(settings_for(postgres_url, workdir)):
        result = aggregator("run", cwd=workdir, check=False)
    assert result.returncode == 1
    assert BUSY in result.stderr
    assert password_of(postgres_url) not in result.stderr
    assert "Traceback" not in result.stderr
    aggregator("run", cwd=workdir)


# -- the dialect (no server needed) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sqlite", "postgresql"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("INSERT INTO t (a, b) VALUES (:a, :b_2)", "INSERT INTO t (a, b) VALUES (%(a)s, %(b_2)s)"),
        (
            "SELECT '?:x 5%', x::text FROM t -- what?\n",
            "SELECT '?:x 5%%', x::text FROM t -- what?\n",
        ),
        ("SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = %s"),
        # a list for = ANY goes in binary (no per-element escaping)
        ("SELECT k FROM t WHERE k = ANY(?)", "SELECT k FROM t WHERE k = ANY(%b)"),
        ("SELECT '= ANY(%s)' FROM t", "SELECT '= ANY(%%s)' FROM t"),
        # so do the columns of rows given as arrays (Store._insert_many)
        (
            "INSERT INTO t SELECT * FROM unnest(?::text[], ?::float8[])",
            "INSERT INTO t SELECT * FROM unnest(%b::text[], %b::float8[])",
        ),
        ("SELECT '%s::text[]', ?::text", "SELECT '%%s::text[]', %s::text"),
    ],
)
def test_placeholders_become_psycopg_ones(sqlite: str, postgresql: str) -> None:
    from aggregator.store.postgres import pg_sql

    assert pg_sql(sqlite) == postgresql


def test_a_feed_with_nul_characters_is_stored_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    # PostgreSQL refuses NUL in text: one such feed must not fail the whole run.
    from test_cli_run import UNSTORABLE_JSON_FEED

    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "nul.json").write_text(UNSTORABLE_JSON_FEED)
    result = aggregator("run", "--db", postgres_url, cwd=tmp_path)
    assert "1 new" in result.stdout
    (title,) = query(postgres_url, "SELECT title FROM items")[0]
    assert title == "A story with a nul and a \ufffd lone surrogate"
