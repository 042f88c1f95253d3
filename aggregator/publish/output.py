"""Publishing the store: entries built from stored items, every output file written,
the WebSub hub told. Skipped when nothing changed since the last publish."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator import __version__
from aggregator.config import Settings
from aggregator.model import Entry, Item
from aggregator.publish import FeedInfo, PublishReport, SourceInfo, publish_all, write_atomically
from aggregator.publish.atom import EPOCH, INDEX_PATH
from aggregator.publish.clean import (
    PublishedEntry,
    SourceRef,
    entry_page_path,
    http_url,
    newest_first,
    prepare_entry,
)
from aggregator.publish.entries import build_entries
from aggregator.publish.site import LazyEntries
from aggregator.runtime import eventloop
from aggregator.store import Store, attribution_for, load_date


def feed_info(settings: Settings) -> FeedInfo:
    f = settings.feed
    return FeedInfo(
        id=f.feed_id,
        title=f.title,
        subtitle=f.subtitle,
        base_url=f.base_url,
        author=f.author,
        hub=f.hub,
        entries_per_feed=f.entries,
    )


# What the last publish into a folder was, kept in that folder: each machine of a scaled-out
# deployment that publishes to a folder of its own knows what its own folder holds, and a
# folder that was emptied or replaced is published in full.
MANIFEST_NAME = ".published.json"  # hidden: `aggregator serve` does not serve it


@dataclass(frozen=True, slots=True)
class _Manifest:
    fingerprint: str = ""
    entries: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # output path → its key
    # feeds without entries: path → (key, ISO time of its last change)
    stamps: dict[str, tuple[str, str]] = field(default_factory=dict)
    # entries of several items: id → [version, published, updated, carried_by], what
    # their representative gave them (one item's entry is known from the store's index)
    stories: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, out_dir: Path) -> _Manifest:
        """The folder's manifest; an empty one when it is missing or unreadable (then
        every file is rendered, which is always correct)."""
        try:
            data = json.loads((out_dir / MANIFEST_NAME).read_bytes())
            keys = data["keys"]
            stamps = data.get("stamps", {})
            stories = data.get("stories", {})
            if not all(isinstance(d, dict) for d in (keys, stamps, stories)):
                return cls()
            stamps = {
                path: (str(stamp[0]), str(stamp[1]))
                for path, stamp in stamps.items()
                if isinstance(stamp, list) and len(stamp) == 2
            }
            return cls(str(data["fingerprint"]), int(data["entries"]), keys, stamps, stories)
        except (OSError, ValueError, TypeError, KeyError):
            return cls()

    def write(self, out_dir: Path) -> None:
        data = {
            "fingerprint": self.fingerprint,
            "entries": self.entries,
            "keys": self.keys,
            "stamps": self.stamps,
            "stories": self.stories,
        }
        write_atomically(out_dir / MANIFEST_NAME, json.dumps(data, sort_keys=True).encode())


def _publish_fingerprint(store: Store, settings: Settings, sources: list[SourceInfo]) -> str:
    """Changes whenever anything that shapes the output changes: stored items (the store's
    data version), sources, feed settings, or the aggregator version."""
    parts = [
        __version__,  # a new version may render differently
        repr(settings.feed),
        repr(sources),
        store.data_version(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def publish(
    settings: Settings, store: Store, *, force: bool = True, now: datetime | None = None
) -> tuple[PublishReport | None, int]:
    """Render and write the outputs. Without `force`, skip the work (None) when nothing
    changed since the last publish into this folder and the output is still there, and
    otherwise render only the files whose content changed; with it, render every file.
    `now` (default: the clock) dates a feed without entries that changed."""
    sources = [
        SourceInfo(
            id=s.id,
            url=s.url,
            title=s.display_title,
            site_link=s.site_link,
            tags=s.tags,
            feed_id=s.feed_id,
        )
        for s in store.sources()
    ]
    fingerprint = _publish_fingerprint(store, settings, sources)
    last = _Manifest.read(settings.out)
    if not force and last.fingerprint == fingerprint and (settings.out / INDEX_PATH).is_file():
        return None, last.entries
    base_url = settings.feed.base_url
    versions = _entry_versions(store, base_url)
    loader = _Loader(store, base_url)
    stories = _stories(versions, {} if force else last.stories, loader)
    entries = newest_first(_stand_in(entry_id, v, stories) for entry_id, v in versions.items())
    report = publish_all(
        settings.out,
        feed_info(settings),
        (),
        sources,
        previous={} if force else last.keys,
        now=now or datetime.now(UTC),
        stamps=last.stamps,
        lazy=LazyEntries(entries, lambda e: versions[e.id].digest, loader.load),
    )
    manifest = _Manifest(fingerprint, len(entries), dict(report.keys), dict(report.stamps), stories)
    manifest.write(settings.out)
    return report, len(entries)


def _with_carriers(entry: Entry, copies: list[Item]) -> Entry:
    """The entry with every source that carried a copy: each one's feed holds the story,
    not only the representative's (the same entry, same id, as in index.atom)."""
    if len(copies) == 1:
        return entry  # most stories: the representative's source alone, known already
    return replace(entry, carried_by=tuple(sorted({c.source.source_id for c in copies})))


# -- entries known by their versions -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Version:
    digest: bytes  # of everything the entry's rendering depends on
    carried_by: tuple[str, ...]  # sorted
    dates: tuple[datetime, datetime] | None  # (published, updated) of a one-item entry
    link: str | None  # of a one-item entry: without one, the entry has a page of ours


def _entry_versions(store: Store, base_url: str) -> dict[str, _Version]:
    """Each entry's version, from the store's index of items: its items' keys, content
    hashes and dates (an item is rewritten only with a new content hash and updated), and
    how each item's source is attributed (atom:source)."""
    attributed = {
        s.id: repr(attribution_for(s, feed_id_base=base_url)).encode() for s in store.sources()
    }
    versions: dict[str, _Version] = {}
    for entry_id, group in itertools.groupby(store.item_versions(), key=lambda row: row[0]):
        rows = list(group)
        # The version too: a new one may choose representatives otherwise.
        digest = hashlib.blake2b(__version__.encode(), digest_size=16)
        for _, key, content_hash, published, updated, source_id, _link in rows:
            digest.update(f"{key}\x1f{content_hash}\x1f{published}\x1f{updated}\x1f".encode())
            digest.update(attributed.get(source_id, source_id.encode()))
        dates = (load_date(rows[0][3]), load_date(rows[0][4])) if len(rows) == 1 else None
        carried_by = tuple(sorted({row[5] for row in rows}))
        link = rows[0][6] if len(rows) == 1 else None
        versions[entry_id] = _Version(digest.digest(), carried_by, dates, link)
    return versions


class _Loader:
    """Prepared entries loaded from the store by id, each once per publish."""

    def __init__(self, store: Store, base_url: str) -> None:
        self._store = store
        self._base_url = base_url
        self.loaded: dict[str, PublishedEntry] = {}
        self.warnings: dict[str, tuple[str, ...]] = {}

    def load(self, ids: set[str]) -> tuple[dict[str, PublishedEntry], list[str]]:
        missing = sorted(ids - self.loaded.keys())
        if missing:
            stored = self._store.items(
                entry_ids=missing, feed_id_base=self._base_url, with_text=False
            )
            grouped: dict[str, list[Item]] = {}
            for s in stored:
                grouped.setdefault(s.entry_id, []).append(s.item)
            for entry in build_entries(sorted(grouped.items())):
                carried = _with_carriers(entry, grouped[entry.id])
                prepared, notes = prepare_entry(carried, self._base_url)
                self.loaded[entry.id] = prepared
                self.warnings[entry.id] = notes
        return (
            {i: self.loaded[i] for i in ids},
            [w for i in sorted(ids) for w in self.warnings[i]],
        )


def _stories(
    versions: Mapping[str, _Version], known: Mapping[str, list[Any]], loader: _Loader
) -> dict[str, list[Any]]:
    """What the representative gives each entry of several items: from the last publish
    when the entry's version is the same, else loaded."""
    stories: dict[str, list[Any]] = {}
    unknown = set()
    for entry_id, version in versions.items():
        if version.dates is not None:
            continue
        last = known.get(entry_id)
        if last is not None and len(last) == 5 and last[0] == version.digest.hex():
            stories[entry_id] = last
        else:
            unknown.add(entry_id)
    found, _ = loader.load(unknown)
    for entry_id, entry in found.items():
        stories[entry_id] = [
            versions[entry_id].digest.hex(),
            entry.published.isoformat(),
            entry.updated.isoformat(),
            list(entry.carried_by),
            entry.page,
        ]
    return stories


_NOWHERE = SourceRef(source_id="", feed_id="", title="", link="", updated=EPOCH)


def _stand_in(entry_id: str, version: _Version, stories: Mapping[str, list[Any]]) -> PublishedEntry:
    """What places an entry in files and orders it, and nothing else (`LazyEntries`)."""
    if version.dates is not None:
        published, updated = version.dates
        carried_by = version.carried_by
        page = None if http_url(version.link) else entry_page_path(entry_id)
    else:
        _, first, last, sources, page = stories[entry_id]
        published, updated = datetime.fromisoformat(first), datetime.fromisoformat(last)
        carried_by = tuple(sources)
    return PublishedEntry(
        id=entry_id,
        title="",
        link="",
        page=page,
        summary=None,
        content_html=None,
        authors=(),
        categories=(),
        published=published,
        updated=updated,
        source=_NOWHERE,
        vias=(),
        carried_by=carried_by,
    )


def notify_hub(settings: Settings, published: PublishReport) -> list[str]:
    """WebSub: tell the hub which feeds changed (never fails the run)."""
    hub = settings.feed.hub
    topics = [p for p in published.written if p.endswith(".atom")]
    if not hub or not topics:
        return []
    from aggregator.publish.websub import ping_hub  # httpx: only when there is a hub to ping

    info = feed_info(settings)
    return eventloop.run(ping_hub(hub, [info.url(p) for p in topics]))
