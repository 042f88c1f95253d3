"""Publishing loads only the entries of the files it renders, and writes the same bytes
as a publish of everything (aggregator.publish.output, `LazyEntries`).

Real folders, a real SQLite store, the labelled realistic corpus (stories of several
copies, updates, a correction) ingested in two steps.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.publish.output import MANIFEST_NAME, publish
from aggregator.store import open_store

from outputs import published_files

REALISTIC = Path(__file__).resolve().parent / "data" / "realistic"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _files(folder: Path) -> dict[str, bytes]:
    return {path: data for path, data in published_files(folder).items() if path != MANIFEST_NAME}


def test_incremental_publish_is_byte_identical_to_a_full_one(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(REALISTIC / "before", seeds)
    settings = Settings(seeds=seeds, out=tmp_path / "feeds", db=str(tmp_path / "db.sqlite"))
    store = open_store(settings.db)
    try:
        pipeline.run_once(settings, store, now=NOW)
        shutil.rmtree(seeds)
        shutil.copytree(REALISTIC / "seeds", seeds)
        statements: list[str] = []
        store._db._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        report = pipeline.run_once(settings, store, now=NOW)
        store._db._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        assert report.counts["new"] and report.counts["updated"]
        assert report.published is not None and report.published.unchanged
        full = replace(settings, out=tmp_path / "full")
        publish(full, store, force=True, now=NOW)
    finally:
        store.close()
    assert _files(settings.out) == _files(full.out)
    # The content of items was read for the entries of the rendered files only.
    content_reads = [s for s in statements if "content_html" in s and s.startswith("SELECT")]
    assert content_reads
    assert all("WHERE entry_id IN" in s for s in content_reads)


def test_publish_without_manifest_or_after_a_change_of_source_renders_right(
    tmp_path: Path,
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(REALISTIC / "seeds", seeds)
    settings = Settings(seeds=seeds, out=tmp_path / "feeds", db=str(tmp_path / "db.sqlite"))
    store = open_store(settings.db)
    full = replace(settings, out=tmp_path / "full")
    try:
        pipeline.run_once(settings, store, now=NOW)
        (source,) = [s for s in store.sources() if s.id == "seed-newswire-rss"]
        store.save_source(replace(source, feed_title="Renamed wire"))
        report, _ = publish(settings, store, force=False, now=NOW)
        assert report is not None and report.unchanged  # only what the wire carried
        publish(full, store, force=True, now=NOW)
        assert _files(settings.out) == _files(full.out)
        assert b"Renamed wire" in _files(settings.out)["index.atom"]
        (settings.out / MANIFEST_NAME).write_text("not json", encoding="utf-8")
        store.save_source(source)
        publish(settings, store, force=False, now=NOW)
        publish(full, store, force=True, now=NOW)
    finally:
        store.close()
    assert _files(settings.out) == _files(full.out)
    assert b"Renamed wire" not in _files(settings.out)["index.atom"]
