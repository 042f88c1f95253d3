"""Reading costs what changed: unchanged seed files are not read again, a changed feed
re-cleans only its changed entries, a deleted file is forgotten (aggregator.store.readstate).

In process against real folders and a real SQLite store; the CLI end to end at the end.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.model import RawEntry, SourceSpec
from aggregator.store import open_store
from aggregator.store.readstate import (
    SeedFolder,
    SeedStamp,
    SourceEntries,
    entries_to_clean,
    entry_digest,
    legacy_mtime,
    listing_digest,
    seed_fingerprint,
    unchanged_file,
    upgraded,
)

from feedserver import FeedServer, Reply

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MTIME = 1_795_000_000  # 2026-11-18


def _seed(title: str, organisation: str, body: str) -> str:
    return f"{title}\n{organisation}\n\n{body}\n"


def _rss(items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>https://org.example/{guid}</link>"
        f"<guid>https://org.example/{guid}</guid>"
        "<pubDate>Mon, 16 Nov 2026 10:00:00 GMT</pubDate>"
        f"<description>{title}: the organisation announced it to the region.</description>"
        "</item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Org feed</title>'
        f"<link>https://org.example/</link><description>d</description>{entries}"
        "</channel></rss>"
    )


def _write(path: Path, text: str, mtime: int = MTIME) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _write(
        seeds / "a.txt", _seed("Harbour grant awarded", "Port Authority", "The grant funds work.")
    )
    _write(seeds / "b.txt", _seed("Library opens late", "City Council", "Hours are extended."))
    _write(seeds / "org.xml", _rss([("1", "Wind farm approved"), ("2", "Solar trial begins")]))
    return Settings(seeds=seeds, out=tmp_path / "feeds", db=str(tmp_path / "db.sqlite"))


def _run(settings: Settings, **options: object) -> pipeline.RunReport:
    with closing(open_store(settings.db)) as store:
        return pipeline.run_once(
            settings,
            store,
            now=NOW,
            options=pipeline.RunOptions(**options),  # type: ignore[arg-type]
        )


def _index(settings: Settings) -> str:
    return (settings.out / "index.atom").read_text(encoding="utf-8")


def test_unchanged_file_is_not_read_again(settings: Settings) -> None:
    first = _run(settings)
    assert first.counts["new"] == 4
    # Same size, same modification time: other bytes would never be looked at.
    _write(
        settings.seeds / "a.txt",
        _seed("Harbour grant revoked", "Port Authority", "Fees rise next month."),
    )
    second = _run(settings)
    assert (second.counts["new"], second.counts["updated"], second.counts["unchanged"]) == (0, 0, 4)
    assert "Harbour grant awarded" in _index(settings)
    assert "revoked" not in _index(settings)
    # Asked to, a caller reads a source whole again.
    third = _run(settings, reread=("seeds",))
    assert third.counts["new"] == 1
    assert "Harbour grant revoked" in _index(settings)


def test_a_file_touched_or_resized_is_read_again(settings: Settings) -> None:
    _run(settings)
    _write(
        settings.seeds / "b.txt",
        _seed("Library opens late", "City Council", "Hours are extended."),
        MTIME + 60,
    )
    _write(
        settings.seeds / "a.txt",
        _seed("Harbour grant awarded", "Port Authority", "The grant funds it all."),
    )
    report = _run(settings)
    # b.txt read again (same content: unchanged), a.txt read again (its text changed,
    # and a seed's opening words are part of its identity: a new item).
    assert (report.counts["new"], report.counts["updated"], report.counts["unchanged"]) == (1, 0, 3)
    assert "funds it all" in _index(settings)


def test_a_file_rewritten_within_the_same_second_is_read_again(settings: Settings) -> None:
    _run(settings)
    path = settings.seeds / "a.txt"
    ns = os.stat(path).st_mtime_ns
    # Same size, same second (same microsecond even): only the nanoseconds tell.
    path.write_text(
        _seed("Harbour grant revised", "Port Authority", "The grant funds rail."), encoding="utf-8"
    )
    assert os.stat(path).st_size == len(
        _seed("Harbour grant awarded", "Port Authority", "The grant funds work.")
    )
    os.utime(path, ns=(ns + 1, ns + 1))
    report = _run(settings)
    assert report.counts["new"] == 1
    assert "The grant funds rail." in _index(settings)
    assert _run(settings).counts["new"] == 0  # and remembered as it is now


def test_a_renamed_file_is_forgotten_under_its_old_name(settings: Settings) -> None:
    _run(settings)
    (settings.seeds / "a.txt").rename(settings.seeds / "c.txt")
    report = _run(settings)
    # Read under its new name: the same document, so the same item, unchanged.
    assert (report.counts["new"], report.counts["unchanged"]) == (0, 4)
    with closing(open_store(settings.db)) as store:
        assert set(store.seed_files()) == {"b.txt", "c.txt", "org.xml"}
    assert _run(settings).counts["unchanged"] == 4


def test_a_file_whose_read_failed_is_read_once_it_can_be(settings: Settings) -> None:
    _run(settings)
    broken = settings.seeds / "d.txt"
    broken.write_bytes(b"")  # no document: skipped with a warning, and not remembered
    report = _run(settings)
    assert any("d.txt" in w for w in report.warnings)
    with closing(open_store(settings.db)) as store:
        assert "d.txt" not in store.seed_files()
    _write(broken, _seed("Ferry timetable changes", "Transport Agency", "New times apply."))
    report = _run(settings)
    assert report.counts["new"] == 1 and not report.warnings
    assert "Ferry timetable changes" in _index(settings)


def test_records_from_before_nanoseconds_are_compared_then_upgraded(settings: Settings) -> None:
    _run(settings)
    with closing(sqlite3.connect(settings.db)) as conn, conn:  # as an older version left it
        conn.execute("UPDATE seed_files SET mtime_ns = NULL")
        conn.execute("DELETE FROM meta WHERE name = 'seed_folder'")
    report = _run(settings)
    assert (report.counts["new"], report.counts["unchanged"]) == (0, 4)
    with closing(sqlite3.connect(settings.db)) as conn:
        stored = dict(conn.execute("SELECT path, mtime_ns FROM seed_files").fetchall())
    assert stored == {
        name: os.stat(settings.seeds / name).st_mtime_ns for name in ("a.txt", "b.txt", "org.xml")
    }


def test_changed_feed_file_cleans_only_its_changed_entries(settings: Settings) -> None:
    _run(settings)
    with closing(open_store(settings.db)) as store:
        (before,) = store.source_entries(["seed-org"]).values()
    assert len(before.digests) == 2
    _write(
        settings.seeds / "org.xml",
        _rss([("1", "Wind farm approved"), ("2", "Solar trial ends"), ("3", "Rail line reopens")]),
    )
    report = _run(settings)
    (result,) = [r for r in report.results if r.source_id == "seed-org"]
    assert result.value == pipeline.SourceUpdated(new=1, updated=1, unchanged=1, skipped=0)
    with closing(open_store(settings.db)) as store:
        (after,) = store.source_entries(["seed-org"]).values()
    assert len(after.digests) == 3 and len(after.digests & before.digests) == 1
    assert "Solar trial ends" in _index(settings) and "Rail line reopens" in _index(settings)


def test_deleted_file_is_forgotten_and_read_when_it_returns(settings: Settings) -> None:
    _run(settings)
    text = (settings.seeds / "b.txt").read_text(encoding="utf-8")
    (settings.seeds / "b.txt").unlink()
    report = _run(settings)
    assert report.counts["unchanged"] == 3
    with closing(open_store(settings.db)) as store:
        assert set(store.seed_files()) == {"a.txt", "org.xml"}
    # The item stays published (items leave by retention only).
    assert "Library opens late" in _index(settings)
    _write(settings.seeds / "b.txt", text)
    _run(settings)
    with closing(open_store(settings.db)) as store:
        assert set(store.seed_files()) == {"a.txt", "b.txt", "org.xml"}


def test_dry_run_and_other_sources_remember_nothing(settings: Settings) -> None:
    _run(settings, dry_run=True)
    _run(settings, only=("seed-org",))
    with closing(open_store(settings.db)) as store:
        assert set(store.seed_files()) == {"org.xml"}
    report = _run(settings)
    assert report.counts["new"] == 2  # the text seeds were never stored before


def test_unreadable_file_is_read_and_warned_about_every_run(settings: Settings) -> None:
    (settings.seeds / "bad.txt").write_bytes(b"")
    for _ in range(2):
        report = _run(settings)
        assert any("bad.txt" in w for w in report.warnings)


def test_remote_feed_answering_200_cleans_only_its_changed_entries(
    settings: Settings, tmp_path: Path
) -> None:
    with FeedServer() as server:
        server.route(
            "/feed",
            Reply(body=_rss([("1", "Wind farm approved"), ("2", "Solar trial begins")]).encode()),
            Reply(body=_rss([("1", "Wind farm approved"), ("2", "Solar trial ends")]).encode()),
        )
        remote = replace(
            settings,
            seeds=tmp_path / "empty",
            sources=(SourceSpec(id="org", url=server.url("/feed")),),
            fetch=replace(settings.fetch, allow=("127.0.0.0/8",)),
        )
        remote.seeds.mkdir()
        assert _run(remote, all_sources=True).counts["new"] == 2
        with closing(open_store(remote.db)) as store:
            before = store.source_entries(["org"])["org"].digests
        report = _run(remote, all_sources=True)
    with closing(open_store(remote.db)) as store:
        after = store.source_entries(["org"])["org"].digests
    assert len(before & after) == 1 and len(after) == 2
    (result,) = report.results
    assert result.value == pipeline.SourceUpdated(new=0, updated=1, unchanged=1, skipped=0)
    assert "Solar trial ends" in _index(remote)


# -- the decisions, without a store or a disk -------------------------------------------


def test_unchanged_file_needs_size_mtime_to_the_nanosecond_and_fingerprint() -> None:
    ns = 1_795_000_000_123_456_789
    record = ("a.txt", "seeds", 10, ns, "2026-11-18T08:26:40.123457Z", "f", 1)

    def same(row: SeedStamp | None, **changes: object) -> bool:
        facts: dict[str, object] = {"size": 10, "mtime_ns": ns, "stamp": ns / 1e9}
        facts["fingerprint"] = "f"
        return unchanged_file(row, **{**facts, **changes})  # type: ignore[arg-type]

    assert same(record)
    assert not same(None)
    assert not same(record, size=11)
    assert not same(record, mtime_ns=ns + 1)  # rewritten within the same microsecond
    assert not same(record, fingerprint="g")
    # A record from before nanoseconds were kept: its text, to the microsecond.
    legacy = (*record[:3], None, legacy_mtime(ns / 1e9), *record[5:])
    assert same(legacy, mtime_ns=ns + 1)
    assert not same(legacy, mtime_ns=ns + 2000, stamp=(ns + 2000) / 1e9)
    when = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    assert upgraded(record, ns, when) is None  # type: ignore[arg-type]
    again = upgraded(legacy, ns, when)  # type: ignore[arg-type]
    assert again is not None
    assert (again.mtime_ns, again.entries, again.size, again.mtime) == (ns, 1, 10, when)


def test_seed_fingerprint_follows_folder_and_date_order() -> None:
    base = seed_fingerprint("/srv/seeds", None, 100)
    assert base == seed_fingerprint("/srv/seeds", None, 100)
    assert base != seed_fingerprint("/srv/other", None, 100)
    assert base != seed_fingerprint("/srv/seeds", "month-first", 100)


def test_entries_to_clean_are_the_new_and_changed_ones() -> None:
    raws = [RawEntry(id="1", title="a"), RawEntry(id="2", title="b"), RawEntry(id="2", title="c")]
    digests = [entry_digest(r) for r in raws]
    assert len(set(digests)) == 3
    previous = SourceEntries(source_id="s", fingerprint="f", digests=frozenset(digests[:2]))
    assert entries_to_clean(digests, previous, "f") == [2]
    assert entries_to_clean(digests, previous, "other") == [0, 1, 2]
    assert entries_to_clean(digests, None, "f") == [0, 1, 2]


def test_cli_run_with_nothing_changed_reads_no_seed_unless_asked(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _write(
        seeds / "a.txt", _seed("Harbour grant awarded", "Port Authority", "The grant funds work.")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "aggregator", "run", *args],
            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300, check=True,
        )  # fmt: skip
        return done.stdout

    assert "1 new" in run()
    before = (tmp_path / "feeds" / "index.atom").read_bytes()
    # Other bytes, but unchanged as far as size and time tell: not opened at all.
    _write(
        seeds / "a.txt", _seed("Harbour grant revoked", "Port Authority", "Fees rise next month.")
    )
    assert "0 new, 0 updated, 1 unchanged" in run()
    assert (tmp_path / "feeds" / "index.atom").read_bytes() == before
    assert "1 new" in run("--reread", "seeds")
    assert b"Harbour grant revoked" in (tmp_path / "feeds" / "index.atom").read_bytes()


# -- a run with one new item reads no whole table ----------------------------------------


def test_matching_one_new_item_searches_indexes_never_scans_items(settings: Settings) -> None:
    _run(settings)
    _write(settings.seeds / "org.xml", _rss([("1", "Wind farm approved"), ("4", "Ferry added")]))
    store = open_store(settings.db)
    statements: list[str] = []
    store._db._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        # A dry run decides everything (matching included) and publishes nothing.
        report = pipeline.run_once(
            settings, store, now=NOW, options=pipeline.RunOptions(dry_run=True)
        )
    finally:
        store.close()
    assert report.counts["new"] == 1
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and " items" in s]
    assert any("signature" in s for s in reads) and any("link IN" in s for s in reads)
    with closing(sqlite3.connect(settings.db)) as conn:
        plans = {s: conn.execute("EXPLAIN QUERY PLAN " + s).fetchall() for s in reads}
    scans = {s: p for s, p in plans.items() if any("SCAN items" in row[3] for row in p)}
    assert scans == {}


def test_a_run_over_an_unchanged_folder_starts_without_the_readers(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _write(seeds / "a.txt", _seed("Harbour grant awarded", "Port Authority", "Work starts."))
    _write(seeds / "org.xml", _rss([("1", "Wind farm approved")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    # The CLI as `python -m aggregator run` runs it, then which modules it loaded.
    probe = (
        "import sys\nfrom aggregator.cli import main\n"
        "try:\n    main(['run'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('feedparser', 'aggregator.parse', "
        "'aggregator.ingest.seedtext') if m in sys.modules))"
    )

    def loaded() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300, check=True,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    assert "feedparser" in loaded()  # the first run reads both files
    assert loaded() == "[]"
    _write(seeds / "b.txt", _seed("Library opens late", "City Council", "Hours are extended."))
    assert loaded() == "['aggregator.ingest.seedtext']"  # a text file read, no feed


def test_a_run_over_an_unchanged_folder_reads_no_record_of_a_file(settings: Settings) -> None:
    _run(settings)
    _run(settings)  # the folder as a whole is remembered once it was read in full

    def reads_of_records() -> list[str]:
        store = open_store(settings.db)
        statements: list[str] = []
        store._db._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        try:
            report = pipeline.run_once(settings, store, now=NOW)
        finally:
            store.close()
        assert (report.counts["new"], report.counts["unchanged"]) == (0, 4)
        return [s for s in statements if "FROM seed_files" in s]

    assert reads_of_records() == []
    # A file touched: the listing differs, and the records are compared again.
    os.utime(settings.seeds / "b.txt", (MTIME + 60, MTIME + 60))
    assert reads_of_records() != []
    assert reads_of_records() == []


def test_the_folder_digest_follows_every_path_size_time_and_the_fingerprint() -> None:
    files = [("a.txt", 10, 1), ("b/c.txt", 20, 2)]
    base = listing_digest("f", files)
    assert base == listing_digest("f", list(files))
    for other in (
        [("a.txt", 10, 1)],  # one gone
        [("a.txt", 10, 1), ("b/d.txt", 20, 2)],  # renamed
        [("a.txt", 11, 1), ("b/c.txt", 20, 2)],  # resized
        [("a.txt", 10, 2), ("b/c.txt", 20, 2)],  # a nanosecond later
    ):
        assert listing_digest("f", other) != base
    assert listing_digest("g", files) != base
    folder = SeedFolder(base, 3, {"b/feed.xml": 2})
    assert SeedFolder.from_json(folder.to_json()) == folder
    assert SeedFolder.from_json("{not json") == SeedFolder("")
