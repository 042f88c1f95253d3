"""publish_all: every output file from one list of entries, written atomically.

    index.atom            newest entries_per_feed entries, prev-archive → newest archive
    sources/<slug>.atom   per source          tags/<slug>.atom   per tag of the sources
    archive/<YYYY-MM>.atom  the full history (RFC 5005)
    index.json            JSON Feed 1.1       index.html         the page, with autodiscovery
    sources.opml          the sources

Everything is rendered first (pure, `build_outputs`), then written; index.atom is written
last so that the archives it links to exist before it does. A file whose bytes did not
change is not touched, so its mtime (and the server's ETag) stays.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from aggregator.model import Entry
from aggregator.publish.archive import archive_documents, newest_archive_link
from aggregator.publish.atom import (
    HTML_PATH,
    INDEX_PATH,
    AtomDocument,
    atom_bytes,
    feed_id_for,
)
from aggregator.publish.clean import PublishedEntry, prepare_entries, slugify, source_feed_path
from aggregator.publish.files import remove_stale, write_atomically
from aggregator.publish.html import render_html
from aggregator.publish.info import FeedInfo, PublishReport, SourceInfo
from aggregator.publish.jsonfeed import JSON_PATH, render_json_feed
from aggregator.publish.opml import OPML_PATH, render_opml

_PRUNED_DIRS = ("sources", "tags")  # feeds of sources and tags that no longer exist


def _all_sources(sources: Sequence[SourceInfo], entries: Sequence[Entry]) -> list[SourceInfo]:
    """The listed sources plus any source an entry names that the list does not."""
    known = {s.id: s for s in sources}
    for entry in entries:
        attribution = entry.item.source
        if attribution.source_id not in known:
            known[attribution.source_id] = SourceInfo(
                id=attribution.source_id,
                url=attribution.feed_url,
                title=attribution.title,
                site_link=attribution.site_link,
            )
    return sorted(known.values(), key=lambda s: s.id)


def _sub_feeds(
    info: FeedInfo, sources: Sequence[SourceInfo], entries: Sequence[PublishedEntry]
) -> list[AtomDocument]:
    """One feed per source and one per tag; tags that slugify alike share a feed."""
    groups: dict[str, tuple[str, set[str]]] = {}
    for source in sources:
        title = source.title or source.id
        groups.setdefault(source_feed_path(source.id), (title, set()))[1].add(source.id)
    for source in sources:
        for tag in sorted(source.tags):
            groups.setdefault(f"tags/{slugify(tag)}.atom", (tag, set()))[1].add(source.id)
    # Entries are grouped by source once: filtering every entry per feed would cost
    # sources × entries, minutes for a thousand sources.
    by_source: dict[str, list[PublishedEntry]] = {}
    for entry in entries:
        by_source.setdefault(entry.source.source_id, []).append(entry)
    return [
        AtomDocument(
            path=path,
            feed_id=feed_id_for(info, path),
            title=f"{info.title}: {title}",
            entries=_newest_of(by_source, ids, info.entries_per_feed),
        )
        for path, (title, ids) in sorted(groups.items())
    ]


def _order_key(entry: PublishedEntry) -> tuple[float, str]:
    # The order of `newest_first`: newest updated first, ties by id.
    return (-entry.updated.timestamp(), entry.id)


def _newest_of(
    by_source: dict[str, list[PublishedEntry]], ids: set[str], limit: int
) -> list[PublishedEntry]:
    """The first `limit` entries of these sources, in the order `entries` had (newest first)."""
    if len(ids) == 1:
        return by_source.get(next(iter(ids)), [])[:limit]
    merged = heapq.merge(*(by_source.get(i, []) for i in sorted(ids)), key=_order_key)
    return list(itertools.islice(merged, limit))


def iter_outputs(
    info: FeedInfo, entries: Sequence[Entry], sources: Sequence[SourceInfo], warnings: list[str]
) -> Iterator[tuple[str, bytes]]:
    """Every output file as (path, bytes), rendered one at a time in writing order, so a
    large history never sits in memory as a thousand rendered files at once; the warnings
    are appended to `warnings` as they come. Pure apart from that list."""
    prepared, entry_warnings = prepare_entries(entries, info.base_url)
    warnings.extend(entry_warnings)
    all_sources = _all_sources(sources, entries)
    newest = prepared[: info.entries_per_feed]
    index = AtomDocument(
        path=INDEX_PATH,
        feed_id=feed_id_for(info, INDEX_PATH),
        title=info.title,
        entries=newest,
        links=newest_archive_link(prepared),
    )
    docs = itertools.chain(
        archive_documents(info, prepared), _sub_feeds(info, all_sources, prepared)
    )
    feed_warnings: list[str] = []
    for doc in docs:
        data, doc_warnings = atom_bytes(info, doc)
        feed_warnings.extend(w for w in doc_warnings if w not in feed_warnings)
        yield doc.path, data
    yield JSON_PATH, render_json_feed(info, newest)
    yield (
        HTML_PATH,
        render_html(info, newest, atom_path=INDEX_PATH, json_path=JSON_PATH, opml_path=OPML_PATH),
    )
    yield OPML_PATH, render_opml(info, all_sources)
    data, doc_warnings = atom_bytes(info, index)
    feed_warnings.extend(w for w in doc_warnings if w not in feed_warnings)
    warnings.extend(feed_warnings)
    yield INDEX_PATH, data  # last: its archive links must exist first


def build_outputs(
    info: FeedInfo, entries: Sequence[Entry], sources: Sequence[SourceInfo]
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Every output file as path → bytes, in writing order, and the warnings. Pure."""
    warnings: list[str] = []
    outputs = dict(iter_outputs(info, entries, sources, warnings))
    return outputs, tuple(warnings)


def publish_all(
    out_dir: Path, info: FeedInfo, entries: Sequence[Entry], sources: Sequence[SourceInfo]
) -> PublishReport:
    """Write every output file under `out_dir`; only files whose bytes changed are replaced.

    Per-source and per-tag feeds of sources and tags that are gone are removed. Raises
    PublishError naming the file when one cannot be written; files written before it stay
    complete and valid.
    """
    warnings: list[str] = []
    written: list[str] = []
    unchanged: list[str] = []
    for path, data in iter_outputs(info, entries, sources, warnings):
        (written if write_atomically(out_dir / path, data) else unchanged).append(path)
    keep = {out_dir / path for path in [*written, *unchanged]}
    removed = [
        path.relative_to(out_dir).as_posix()
        for directory in _PRUNED_DIRS
        for path in remove_stale(out_dir / directory, "*.atom", keep)
    ]
    return PublishReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        warnings=tuple(warnings),
    )
