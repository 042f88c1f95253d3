"""Publishing costs what changed: a publish after a change reads the entries the store
logged as changed and the manifest's rows of the files they sit in, renders the files
whose content changed from the entries loaded for them alone, and writes the same bytes
as a publish of everything (aggregator.publish.incremental, aggregator.publish.manifest).

Real folders, real SQLite stores (and PostgreSQL for the store's change log), the
labelled realistic corpus and histories written through the store's own API.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Thread

import pytest
from factories import make_item

from aggregator import pipeline
from aggregator.config import FeedSettings, Settings
from aggregator.model import SourceKind, SourceSpec
from aggregator.normalise import identity
from aggregator.publish.manifest import MANIFEST_DB
from aggregator.publish.output import MANIFEST_NAME, publish
from aggregator.store import ItemWrite, Store, attribution_for, open_store

from outputs import published_files

REALISTIC = Path(__file__).resolve().parent / "data" / "realistic"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SOURCES = ("alpha", "beta")
MONTHS = ("2026-09", "2026-10", "2026-11")


def _files(folder: Path) -> dict[str, bytes]:
    return published_files(folder)  # hidden files (the manifest) are not output


def _full(settings: Settings, store: Store, name: str = "full") -> dict[str, bytes]:
    """What a publish of everything into a fresh folder writes."""
    full = replace(settings, out=settings.out.parent / name)
    shutil.rmtree(full.out, ignore_errors=True)
    publish(full, store, force=True, now=NOW)
    return _files(full.out)


def _add(store: Store, key: str, source: str, when: datetime, text: str = "") -> str:
    """Store one item (a new entry of its own); its entry id."""
    state = store.source(source)
    assert state is not None
    attribution = attribution_for(state, feed_id_base="http://127.0.0.1:8080/")
    item = make_item(key, source=attribution, when=when, text=text or f"text of {key}")
    entry_id = identity.entry_id(key)
    store.write_items([ItemWrite(item=item, entry_id=entry_id, first_seen=when, seen_at=when)])
    return entry_id


def _history(tmp_path: Path, db: str | None = None) -> tuple[Settings, Store, dict[str, str]]:
    """Two sources (one tagged), ten entries in each of three months, published once;
    the settings (three entries per feed), the store and each entry's month."""
    settings = Settings(
        seeds=tmp_path / "seeds",
        out=tmp_path / "feeds",
        db=db or str(tmp_path / "db.sqlite"),
        feed=FeedSettings(entries=3),
    )
    store = open_store(settings.db)
    store.ensure_sources(
        [
            SourceSpec(
                id=s,
                url=f"https://{s}.example/feed.rss",
                kind=SourceKind.REMOTE,
                tags=("wire",) if s == "alpha" else (),
            )
            for s in SOURCES
        ]
    )
    months = {}
    for m, month in enumerate(MONTHS):
        for n in range(10):
            when = datetime(2026, 9 + m, 1 + n, 12, tzinfo=UTC)
            months[_add(store, f"{month}-{n}", SOURCES[n % 2], when)] = month
    publish(settings, store, force=False, now=NOW)
    return settings, store, months


def _loaded(statements: list[str]) -> set[str]:
    """The entries whose items' content a traced publish read."""
    ids: set[str] = set()
    for statement in statements:
        if statement.startswith("SELECT") and "content_html" in statement:
            assert "WHERE entry_id IN" in statement
            ids.update(re.findall(r"'([^']*)'", statement.split("WHERE entry_id IN", 1)[1]))
    return ids


def _traced(store: Store) -> list[str]:
    statements: list[str] = []
    store._db._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    return statements


def test_one_new_item_renders_the_files_it_changes_from_their_entries_alone(
    tmp_path: Path,
) -> None:
    settings, store, months = _history(tmp_path)
    try:
        new = _add(store, "late", "alpha", datetime(2026, 11, 15, tzinfo=UTC))
        statements = _traced(store)
        report, count = publish(settings, store, force=False, now=NOW)
        store._db._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        assert report is not None and count == 31
        full = _full(settings, store)
    finally:
        store.close()
    assert _files(settings.out) == full
    # The files whose content changed, and no other: its month's archives, the index
    # (it is among the three newest), its source's and its tag's feeds and pages.
    assert set(report.written) == {
        "archive/2026-11.atom",
        "archive/2026-11.html",
        "index.atom",
        "index.json",
        "index.html",
        "sources/alpha.atom",
        "sources/alpha.html",
        "tags/wire.atom",
        "tags/wire.html",
    }
    # Nothing of the older months was read: neither their entries nor a whole table.
    loaded = _loaded(statements)
    assert new in loaded
    assert not {entry for entry, month in months.items() if month != "2026-11"} & loaded
    assert not [s for s in statements if "FROM items" in s and "WHERE" not in s]
    assert not [s for s in statements if "FROM entries" in s and "WHERE" not in s]


def test_nothing_changed_is_no_publish_and_a_changed_item_is_rewritten(tmp_path: Path) -> None:
    settings, store, months = _history(tmp_path)
    try:
        assert publish(settings, store, force=False, now=NOW) == (None, 30)
        oldest = min(months, key=lambda e: months[e])
        (key,) = store.entry_items(oldest)
        _add(store, key, "alpha", datetime(2026, 9, 1, 12, tzinfo=UTC), text="corrected")
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert "archive/2026-09.atom" in report.written
        assert "index.atom" not in report.written  # not among the newest
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()


def test_moved_and_pruned_entries_are_republished(tmp_path: Path) -> None:
    settings, store, months = _history(tmp_path)
    try:
        entry = sorted(e for e, m in months.items() if m == "2026-10")[0]
        (key,) = store.entry_items(entry)
        store.reassign(key, "moved-entry", "test", NOW)
        publish(settings, store, force=False, now=NOW)
        assert _files(settings.out) == _full(settings, store)
        assert store.prune(datetime(2026, 10, 1, tzinfo=UTC), NOW) == 10
        report, count = publish(settings, store, force=False, now=NOW)
        assert report is not None and count == 20
        published = _files(settings.out)
        # An Atom archive of a month that is gone stays, as a full publish leaves it.
        assert published.pop("archive/2026-09.atom")
        assert published == _full(settings, store)
        assert not (settings.out / "archive" / "2026-09.html").exists()
    finally:
        store.close()


def test_a_crash_between_storing_and_publishing_is_caught_up(tmp_path: Path) -> None:
    settings, store, _ = _history(tmp_path)
    try:
        # Items stored by runs that died before publishing: the change log holds them.
        _add(store, "first", "alpha", datetime(2026, 11, 16, tzinfo=UTC))
        _add(store, "second", "beta", datetime(2026, 10, 16, tzinfo=UTC))
        report, count = publish(settings, store, force=False, now=NOW)
        assert report is not None and count == 32
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()


def test_a_publish_that_dies_midway_is_done_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.publish import incremental

    settings, store, _ = _history(tmp_path)
    try:
        _add(store, "late", "alpha", datetime(2026, 11, 15, tzinfo=UTC))

        def dies(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        with monkeypatch.context() as patched:
            patched.setattr(incremental, "_remove", dies)  # after the files, before the manifest
            with pytest.raises(KeyboardInterrupt):
                publish(settings, store, force=False, now=NOW)
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()


@pytest.mark.parametrize("loss", ["emptied", "manifest lost", "manifest broken"])
def test_a_folder_that_lost_its_files_or_manifest_is_published_in_full(
    tmp_path: Path, loss: str
) -> None:
    settings, store, _ = _history(tmp_path)
    try:
        _add(store, "late", "beta", datetime(2026, 11, 15, tzinfo=UTC))
        if loss == "emptied":
            shutil.rmtree(settings.out)
            settings.out.mkdir()
        elif loss == "manifest lost":
            (settings.out / MANIFEST_DB).unlink()
        else:
            (settings.out / MANIFEST_DB).write_bytes(b"SQLite format 3\x00 but no database")
        publish(settings, store, force=False, now=NOW)
        assert _files(settings.out) == _full(settings, store)
        assert publish(settings, store, force=False, now=NOW)[0] is None
    finally:
        store.close()


def test_a_folder_published_before_the_manifest_file_is_upgraded(tmp_path: Path) -> None:
    settings, store, _ = _history(tmp_path)
    try:
        # What the publishes before wrote: a JSON manifest with each file's key.
        report, _ = publish(settings, store, force=True, now=NOW)
        assert report is not None
        (settings.out / MANIFEST_DB).unlink()
        old = {"fingerprint": "", "entries": 30, "keys": dict(report.keys), "stamps": {}}
        (settings.out / MANIFEST_NAME).write_text(json.dumps(old), encoding="utf-8")
        _add(store, "late", "beta", datetime(2026, 11, 15, tzinfo=UTC))
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert "archive/2026-09.atom" in report.unchanged  # the old keys were used
        assert _files(settings.out) == _full(settings, store)
        assert not (settings.out / MANIFEST_NAME).exists()
        assert (settings.out / MANIFEST_DB).is_file()
    finally:
        store.close()


def test_a_file_deleted_by_hand_comes_back_on_the_next_publish(tmp_path: Path) -> None:
    settings, store, _ = _history(tmp_path)
    try:
        before = _files(settings.out)
        (settings.out / "archive" / "2026-09.atom").unlink()
        (settings.out / "sources" / "beta.html").unlink()
        report, _ = publish(settings, store, force=False, now=NOW)  # nothing stored since
        assert report is not None
        assert set(report.written) == {"archive/2026-09.atom", "sources/beta.html"}
        assert _files(settings.out) == before
    finally:
        store.close()


def test_a_source_whose_attribution_changed_republishes_its_entries(tmp_path: Path) -> None:
    settings, store, _months = _history(tmp_path)
    try:
        beta = store.source("beta")
        assert beta is not None
        # What a fetch learns (atom:source's updated): not a change of the sources list.
        store.save_source(replace(beta, feed_updated=NOW - timedelta(days=1)))
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert "sources.opml" not in report.written + report.unchanged
        assert {f"archive/{m}.atom" for m in MONTHS} <= set(report.written)
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()


def test_the_realistic_corpus_in_two_steps_is_byte_identical_to_a_full_publish(
    tmp_path: Path,
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(REALISTIC / "before", seeds)
    settings = Settings(seeds=seeds, out=tmp_path / "feeds", db=str(tmp_path / "db.sqlite"))
    store = open_store(settings.db)
    try:
        pipeline.run_once(settings, store, now=NOW)
        shutil.rmtree(seeds)
        shutil.copytree(REALISTIC / "seeds", seeds)
        statements = _traced(store)
        report = pipeline.run_once(settings, store, now=NOW)
        store._db._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        assert report.counts["new"] and report.counts["updated"]
        assert report.published is not None
        assert "sources.opml" not in report.published.written  # no source was added
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()
    # The content of items was read for the entries of the rendered files only.
    assert _loaded(statements)


def test_sources_added_retitled_retagged_or_removed_are_published(tmp_path: Path) -> None:
    settings, store, _ = _history(tmp_path)

    def spec(source: str, tags: tuple[str, ...] = ()) -> SourceSpec:
        return SourceSpec(
            id=source, url=f"https://{source}.example/feed.rss", kind=SourceKind.REMOTE, tags=tags
        )

    try:
        store.ensure_sources([spec("gamma", ("wire",))])  # a new source, no items yet
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert {"sources/gamma.atom", "sources.opml", "tags/wire.html"} <= set(report.written)
        assert not {f"archive/{m}.atom" for m in MONTHS} & set(report.written)
        assert _files(settings.out) == _full(settings, store)
        store.ensure_sources([spec("alpha")])  # the tag loses alpha, then every source
        publish(settings, store, force=False, now=NOW)
        assert _files(settings.out) == _full(settings, store)
        store.ensure_sources([spec("gamma")])
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None and "tags/wire.atom" in report.removed
        assert _files(settings.out) == _full(settings, store)
        (beta,) = [s for s in store.sources() if s.id == "beta"]
        store.save_source(replace(beta, feed_title="Renamed wire"))  # its entries' atom:source
        publish(settings, store, force=False, now=NOW)
        assert b"Renamed wire" in _files(settings.out)["archive/2026-09.atom"]
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()


def test_a_change_of_feed_settings_publishes_in_full(tmp_path: Path) -> None:
    settings, store, _ = _history(tmp_path)
    try:
        settings = replace(settings, feed=FeedSettings(title="Another title", entries=3))
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None and "sources.opml" in report.written
        assert _files(settings.out) == _full(settings, store)
    finally:
        store.close()
    assert b"Another title" in _files(settings.out)["archive/2026-09.atom"]


def test_the_change_log_on_either_backend(db_url: str, tmp_path: Path) -> None:
    settings, store, months = _history(tmp_path, db_url)
    try:
        version = int(store.data_version())
        assert store.changed_entries(version, version) == []
        late = _add(store, "late", "alpha", datetime(2026, 11, 15, tzinfo=UTC))
        now = int(store.data_version())
        assert store.changed_entries(version, now) == [late]
        assert store.changed_entries(now, now) == []
        entry = sorted(months)[0]
        (key,) = store.entry_items(entry)
        store.reassign(key, late, "joined", NOW)  # both the entry it leaves and joins
        assert store.changed_entries(now, int(store.data_version())) == sorted([entry, late])
        assert next(iter(store.item_versions([late])))[0] == late
        assert len(list(store.item_versions([late]))) == 2
        assert store.entries_of_sources(["beta"]) == sorted(
            e for e in months if e != entry and next(iter(store.item_versions([e])))[5] == "beta"
        )
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None
        assert _files(settings.out) == _full(settings, store)
        pruned = int(store.data_version())
        older = sorted({row[0] for row in store.item_versions() if row[3] < "2026-10"})
        assert store.prune(datetime(2026, 10, 1, tzinfo=UTC), NOW) == 10
        assert store.changed_entries(pruned, int(store.data_version())) == older
    finally:
        store.close()


def test_two_publishes_at_once_in_one_process_each_write_their_own_folder(
    tmp_path: Path,
) -> None:
    """A process may publish two folders at the same moment (a publisher beside a
    one-off publish, or an application embedding the library in threads): neither may
    render the other's files or write into the other's folder."""
    folders = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        settings, store, _ = _history(tmp_path / name)
        _add(store, f"only-in-{name}", "alpha", datetime(2026, 11, 15, tzinfo=UTC))
        folders[name] = (settings, _full(settings, store))
        store.close()
    errors: list[BaseException] = []

    def publish_often(settings: Settings) -> None:
        try:
            store = open_store(settings.db)
            try:
                for _ in range(15):
                    publish(settings, store, force=True, now=NOW)
            finally:
                store.close()
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    threads = [Thread(target=publish_often, args=(s,)) for s, _ in folders.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for settings, expected in folders.values():
        assert _files(settings.out) == expected
