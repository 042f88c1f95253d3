"""publish_all: every output file from one list of entries, written atomically.

    index.atom            newest entries_per_feed entries, prev-archive → newest archive
    sources/<slug>.atom   per source          tags/<slug>.atom   per tag of the sources
    archive/<YYYY-MM>.atom  the full history (RFC 5005)
    index.json            JSON Feed 1.1       sources.opml       the sources
    index.html, archive/<YYYY-MM>[-n].html, sources/<slug>.html, tags/<slug>.html,
    entries/<digest>.html, sources.html       the pages for people (pages.py, html.py)

Every file is an `Output`: its path, a key that changes whenever its bytes would, and
how to render it. index.atom comes last so that the archives it links to exist before
it does. A file whose bytes did not change is not touched, so its mtime (and the
server's ETag) stays; a file whose key is the one it was last written with is not even
rendered, so a run that adds a few items to a large history renders a few files, not
a thousand.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from aggregator.model import Entry
from aggregator.publish.archive import archive_documents, newest_archive_link
from aggregator.publish.atom import (
    EPOCH,
    INDEX_PATH,
    AtomDocument,
    atom_bytes,
    feed_id_for,
)
from aggregator.publish.clean import PublishedEntry, prepare_entries
from aggregator.publish.files import remove_stale, sweep_temp_files, write_atomically
from aggregator.publish.html import (
    DIRECTORY_PATH,
    RiverPage,
    render_directory,
    render_entry,
    render_river,
)
from aggregator.publish.info import FeedInfo, PublishReport, SourceInfo
from aggregator.publish.jsonfeed import JSON_PATH, render_json_feed
from aggregator.publish.opml import OPML_PATH, render_opml
from aggregator.publish.pages import Group, archive_river, directory, group_pages, index_page
from aggregator.runtime.parallel import parallel_map
from aggregator.sources.feeds import source_feed, tag_feed_path

# Files of sources, tags and entries that are gone, and HTML archive pages that a month no
# longer fills; (folder, pattern).
_PRUNED = (
    ("sources", "*.atom"),
    ("sources", "*.html"),
    ("tags", "*.atom"),
    ("tags", "*.html"),
    ("entries", "*.html"),
    ("archive", "*.html"),
)


@dataclass(frozen=True, slots=True)
class Output:
    """One output file, not rendered yet."""

    path: str  # relative to the output directory
    key: str  # digest of everything its bytes are made of
    render: Callable[[], bytes]
    size: int = 0  # entries it shows: how much rendering it takes
    entries: Sequence[PublishedEntry] = ()  # the entries it shows


@dataclass(frozen=True, slots=True)
class LazyEntries:
    """Entries known by their versions, loaded only for the files that are rendered: a
    run that adds one item to a large history loads the entries of a few files.

    `entries` are stand-ins with the real id, dates and carried_by (what places an entry
    in files and orders it) and nothing else; `version` gives each one's digest of
    everything its rendering depends on; `load` gives the real prepared entries of some
    ids, and the warnings preparing them raised."""

    entries: Sequence[PublishedEntry]  # newest first
    version: Callable[[PublishedEntry], bytes]
    load: Callable[[set[str]], tuple[Mapping[str, PublishedEntry], Sequence[str]]]


class _Keys:
    """Digests of documents, made of digests of their entries, each computed once: an
    entry appears in several documents (index, archive, its source's and tags' feeds)."""

    def __init__(
        self, info: FeedInfo, version: Callable[[PublishedEntry], bytes] | None = None
    ) -> None:
        self._info = repr(info).encode()  # FeedInfo carries the aggregator's version
        self._entries: dict[int, bytes] = {}
        self._version = version

    def _entry(self, entry: PublishedEntry) -> bytes:
        if self._version is not None:
            return self._version(entry)
        # Keyed by identity: the same PublishedEntry objects make up every document.
        key = self._entries.get(id(entry))
        if key is None:
            key = hashlib.blake2b(repr(entry).encode(), digest_size=16).digest()
            self._entries[id(entry)] = key
        return key

    def of(self, kind: str, entries: Sequence[PublishedEntry], *parts: object) -> str:
        digest = hashlib.blake2b(self._info, digest_size=16)
        digest.update(repr((kind, parts)).encode())
        for entry in entries:
            digest.update(self._entry(entry))
        return digest.hexdigest()


def all_sources_of(sources: Sequence[SourceInfo], entries: Sequence[Entry]) -> list[SourceInfo]:
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
                feed_id=attribution.feed_id,
            )
    return sorted(known.values(), key=lambda s: s.id)


def groups_of(info: FeedInfo, sources: Sequence[SourceInfo]) -> dict[str, Group]:
    """One feed per source and one per tag; tags that slugify alike share a feed. A
    source's feed has the id its entries' atom:source names (`aggregator.sources.feeds`)."""
    groups: dict[str, Group] = {}
    for source in sources:
        title = source.title or source.id
        feed = source_feed(
            source.id,
            base_url=info.base_url,
            feed_id=source.feed_id,
            site_link=source.site_link,
            feed_url=source.url,
        )
        groups.setdefault(feed.path, (title, feed.id, set()))[2].add(source.id)
    for source in sources:
        for tag in sorted(source.tags):
            path = tag_feed_path(tag)
            groups.setdefault(path, (tag, feed_id_for(info, path), set()))[2].add(source.id)
    return groups


def _sub_feeds(
    info: FeedInfo, groups: dict[str, Group], entries: Sequence[PublishedEntry]
) -> list[AtomDocument]:
    """The feed of each group, with its newest entries: a source's feed holds every story
    it carried (`PublishedEntry.carried_by`)."""
    # Entries are grouped by source once: filtering every entry per feed would cost
    # sources × entries, minutes for a thousand sources.
    by_source: dict[str, list[PublishedEntry]] = {}
    for entry in entries:
        for source_id in entry.carried_by:
            by_source.setdefault(source_id, []).append(entry)
    return [
        AtomDocument(
            path=path,
            feed_id=feed_id,
            title=f"{info.title}: {title}",
            entries=newest_of(by_source, ids, info.entries_per_feed),
        )
        for path, (title, feed_id, ids) in sorted(groups.items())
    ]


def _order_key(entry: PublishedEntry) -> tuple[float, str]:
    # The order of `newest_first`: newest updated first, ties by id.
    return (-entry.updated.timestamp(), entry.id)


def newest_of(
    by_source: dict[str, list[PublishedEntry]], ids: set[str], limit: int
) -> list[PublishedEntry]:
    """The first `limit` entries of these sources, in the order `entries` had (newest first)."""
    if len(ids) == 1:
        return by_source.get(next(iter(ids)), [])[:limit]
    merged = heapq.merge(*(by_source.get(i, []) for i in sorted(ids)), key=_order_key)
    # A story several of these sources carried is one entry of the feed.
    unique = (next(group) for _, group in itertools.groupby(merged, key=lambda e: e.id))
    return list(itertools.islice(unique, limit))


LastChange = Callable[[str, str], datetime]  # (path, key) of a feed without entries → updated


def iter_outputs(
    info: FeedInfo,
    entries: Sequence[Entry],
    sources: Sequence[SourceInfo],
    warnings: list[str],
    *,
    last_change: LastChange | None = None,
) -> Iterator[Output]:
    """Every output file in writing order, each rendered only when asked, so a large
    history never sits in memory as a thousand rendered files at once. The warnings of
    the entries, and of each document when it is rendered, are appended to `warnings`.
    A feed without entries says `last_change(path, key)` as its updated (default: the
    newest entry's of all). Pure apart from that list."""
    prepared, entry_warnings = prepare_entries(entries, info.base_url)
    warnings.extend(entry_warnings)
    yield from _outputs(
        info, prepared, all_sources_of(sources, entries), warnings, last_change=last_change
    )


class OutputMaker:
    """Documents and pages made `Output`s, keyed alike however many of them are made: a
    full publish makes every file, an incremental one (`publish.incremental`) the few its
    change touches, and both must give a file the same key.

    With `loaded`, the entries are stand-ins (`LazyEntries`) replaced by the loaded ones
    when a file is rendered; `warnings` receives what rendering raises."""

    def __init__(
        self,
        info: FeedInfo,
        warnings: list[str],
        *,
        last_change: LastChange | None = None,
        newest_time: datetime = EPOCH,
        version: Callable[[PublishedEntry], bytes] | None = None,
        loaded: Mapping[str, PublishedEntry] | None = None,
    ) -> None:
        self.info = info
        self._warnings = warnings
        self._last_change = last_change
        self._newest_time = newest_time
        self._keys = _Keys(info, version)
        self._loaded = loaded

    def _real(self, entries: Sequence[PublishedEntry]) -> Sequence[PublishedEntry]:
        return entries if self._loaded is None else [self._loaded[e.id] for e in entries]

    def atom(self, doc: AtomDocument) -> Output:
        key = self._keys.of(
            "atom", doc.entries, doc.path, doc.feed_id, doc.title, doc.links, doc.archive
        )
        if not doc.entries:
            when = self._last_change(doc.path, key) if self._last_change else self._newest_time
            doc = replace(doc, updated=when)
        return Output(doc.path, key, partial(self._render_atom, doc), len(doc.entries), doc.entries)

    def _render_atom(self, doc: AtomDocument) -> bytes:
        data, doc_warnings = atom_bytes(self.info, replace(doc, entries=self._real(doc.entries)))
        self._warnings.extend(w for w in doc_warnings if w not in self._warnings)
        return data

    def river(self, page: RiverPage) -> Output:
        parts = (page.path, page.heading, page.feed, page.about, page.newer, page.older)
        key = self._keys.of("html", page.entries, *parts)
        render = partial(self._render_river, page)
        return Output(page.path, key, render, len(page.entries), page.entries)

    def _render_river(self, page: RiverPage) -> bytes:
        return render_river(self.info, replace(page, entries=self._real(page.entries)))

    def json(self, newest: Sequence[PublishedEntry]) -> Output:
        render = partial(self._render_json, newest)
        return Output(JSON_PATH, self._keys.of("json", newest), render, entries=newest)

    def _render_json(self, newest: Sequence[PublishedEntry]) -> bytes:
        return render_json_feed(self.info, self._real(newest))

    def entry(self, entry: PublishedEntry, page: str) -> Output:
        key = self._keys.of("entry", (entry,), page)
        return Output(page, key, partial(self._render_entry, entry), 1, (entry,))

    def _render_entry(self, entry: PublishedEntry) -> bytes:
        return render_entry(self.info, self._real((entry,))[0])

    def directory(self, all_sources: Sequence[SourceInfo]) -> Output:
        key = self._keys.of("directory", (), all_sources)
        return Output(DIRECTORY_PATH, key, partial(_render_directory, self.info, all_sources))

    def opml(self, all_sources: Sequence[SourceInfo]) -> Output:
        key = self._keys.of("opml", (), all_sources)
        return Output(OPML_PATH, key, partial(render_opml, self.info, all_sources))


def _render_directory(info: FeedInfo, all_sources: Sequence[SourceInfo]) -> bytes:
    return render_directory(info, directory(all_sources))


def index_document(
    info: FeedInfo, newest: Sequence[PublishedEntry], archives: tuple[tuple[str, str], ...]
) -> AtomDocument:
    """index.atom: the newest entries, linked to the newest archive (`archives`)."""
    return AtomDocument(
        path=INDEX_PATH,
        feed_id=feed_id_for(info, INDEX_PATH),
        title=info.title,
        entries=newest,
        links=archives,
    )


def _outputs(
    info: FeedInfo,
    prepared: Sequence[PublishedEntry],
    all_sources: Sequence[SourceInfo],
    warnings: list[str],
    *,
    last_change: LastChange | None = None,
    version: Callable[[PublishedEntry], bytes] | None = None,
    loaded: Mapping[str, PublishedEntry] | None = None,
) -> Iterator[Output]:
    """`iter_outputs` of prepared entries; with `loaded`, the entries are stand-ins
    (`LazyEntries`) replaced by the loaded ones when a file is rendered."""
    newest = prepared[: info.entries_per_feed]
    make = OutputMaker(
        info,
        warnings,
        last_change=last_change,
        newest_time=prepared[0].updated if prepared else EPOCH,
        version=version,
        loaded=loaded,
    )
    archives = archive_documents(info, prepared)
    index = index_document(info, newest, newest_archive_link(archives))
    groups = groups_of(info, all_sources)
    sub_feeds = _sub_feeds(info, groups, prepared)
    for doc in itertools.chain(archives, sub_feeds):
        yield make.atom(doc)
    yield make.json(newest)
    html_archive, older = archive_river(prepared, len(newest))
    yield make.river(index_page(newest, older))
    for page in itertools.chain(html_archive, group_pages(sub_feeds, groups, all_sources)):
        yield make.river(page)
    for entry in prepared:
        if entry.page is not None:
            yield make.entry(entry, entry.page)
    yield make.directory(all_sources)
    yield make.opml(all_sources)
    yield make.atom(index)  # last: its archive links must exist first


def build_outputs(
    info: FeedInfo, entries: Sequence[Entry], sources: Sequence[SourceInfo]
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Every output file as path → bytes, in writing order, and the warnings. Pure."""
    warnings: list[str] = []
    outputs = {out.path: out.render() for out in iter_outputs(info, entries, sources, warnings)}
    return outputs, tuple(warnings)


# A large publish (thousands of entries in a thousand files) is spread over worker
# processes, each rendering and writing whole files, so no rendered bytes cross between
# processes. Below this many entries to render, forking costs more than it saves.
PARALLEL_MIN_ENTRIES = 5000

# What the forked workers render: set just before they start, read through the fork.
# Outputs hold closures over the prepared entries, which cannot be pickled. Held under
# a lock, so two publishes in threads of one process never render each other's files.
_PENDING: tuple[Path, Sequence[Output], list[str]] | None = None
_PENDING_LOCK = threading.Lock()


def _render_and_write(out_dir: Path, outputs: Sequence[Output], warnings: list[str]) -> set[str]:
    """Render and write `outputs` (in workers when large); the paths whose bytes changed.
    New warnings are added to `warnings`."""
    global _PENDING
    with _PENDING_LOCK:
        _PENDING = (out_dir, outputs, warnings)
        try:
            results = parallel_map(
                _write_pending,
                range(len(outputs)),
                weight=sum(out.size for out in outputs),
                min_weight=PARALLEL_MIN_ENTRIES,
                chunksize=4,
            )
        finally:
            _PENDING = None
    changed = set()
    for out, (written, new_warnings) in zip(outputs, results, strict=True):
        if written:
            changed.add(out.path)
        warnings.extend(w for w in new_warnings if w not in warnings)
    return changed


def _write_pending(index: int) -> tuple[bool, list[str]]:
    """Render and write `_PENDING` output `index`: (bytes changed, warnings it raised)."""
    assert _PENDING is not None
    out_dir, outputs, warnings = _PENDING
    before = len(warnings)
    out = outputs[index]
    written = write_atomically(out_dir / out.path, out.render())
    return written, warnings[before:]


def write_stale(
    out_dir: Path,
    outputs: Sequence[Output],
    previous: Mapping[str, str],
    warnings: list[str],
    *,
    loaded: dict[str, PublishedEntry],
    load: Callable[[set[str]], tuple[Mapping[str, PublishedEntry], Sequence[str]]] | None,
) -> set[str]:
    """Render and write the `outputs` whose key is not their `previous` one or whose
    file is missing, index.atom last; the paths whose bytes changed. With `load`, the
    entries of those files are loaded into `loaded` first (`LazyEntries`)."""
    stale = [
        out
        for out in outputs
        if previous.get(out.path) != out.key or not (out_dir / out.path).is_file()
    ]
    if load is not None:
        # Loaded here, before rendering forks its workers.
        found, load_warnings = load({e.id for out in stale for e in out.entries})
        loaded.update(found)
        warnings.extend(load_warnings)
    # index.atom links to the archives, so it is written after everything else.
    last = [out for out in stale if out.path == INDEX_PATH]
    changed = _render_and_write(out_dir, [o for o in stale if o.path != INDEX_PATH], warnings)
    changed |= _render_and_write(out_dir, last, warnings)
    return changed


def publish_all(
    out_dir: Path,
    info: FeedInfo,
    entries: Sequence[Entry],
    sources: Sequence[SourceInfo],
    *,
    previous: Mapping[str, str] | None = None,
    now: datetime | None = None,
    stamps: Mapping[str, tuple[str, str]] | None = None,
    lazy: LazyEntries | None = None,
) -> PublishReport:
    """Write every output file under `out_dir`; only files whose bytes changed are replaced.

    `previous` holds the keys of the last publish (`PublishReport.keys`): a file whose key
    is unchanged and that is still there is neither rendered nor written. Per-source and
    per-tag feeds of sources and tags that are gone are removed. Raises PublishError naming
    the file when one cannot be written; files written before it stay complete and valid.

    A feed without entries is dated by its last change: `stamps` (the last publish's
    `PublishReport.stamps`) when its key is the same, else `now` (default: the newest
    entry's updated of all).

    With `lazy`, `entries` is not used: the entries are `lazy`'s, loaded for the files
    that are rendered only.
    """
    previous = previous or {}
    warnings: list[str] = []
    kept = stamps or {}
    new_stamps: dict[str, tuple[str, str]] = {}

    def last_change(path: str, key: str) -> datetime:
        old_key, when = kept.get(path, ("", ""))
        changed = now or max((e.effective_updated for e in entries), default=EPOCH)
        moment = datetime.fromisoformat(when) if old_key == key and when else changed
        new_stamps[path] = (key, moment.isoformat())
        return moment

    loaded: dict[str, PublishedEntry] = {}
    if lazy is None:
        outputs = list(iter_outputs(info, entries, sources, warnings, last_change=last_change))
    else:
        outputs = list(
            _outputs(
                info,
                lazy.entries,
                all_sources_of(sources, ()),
                warnings,
                last_change=last_change,
                version=lazy.version,
                loaded=loaded,
            )
        )
    changed = write_stale(
        out_dir, outputs, previous, warnings, loaded=loaded, load=lazy.load if lazy else None
    )
    written = [out.path for out in outputs if out.path in changed]
    unchanged = [out.path for out in outputs if out.path not in changed]
    keys = {out.path: out.key for out in outputs}
    sweep_temp_files([out_dir, *(out_dir / d for d in dict.fromkeys(d for d, _ in _PRUNED))])
    keep = {out_dir / path for path in [*written, *unchanged]}
    removed = [
        path.relative_to(out_dir).as_posix()
        for folder, pattern in _PRUNED
        for path in remove_stale(out_dir / folder, pattern, keep)
    ]
    return PublishReport(
        written=tuple(written),
        unchanged=tuple(unchanged),
        removed=tuple(removed),
        warnings=tuple(warnings),
        keys=keys,
        stamps=new_stamps,
    )
