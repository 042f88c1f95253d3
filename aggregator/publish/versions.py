"""Entries known by their versions: what tells publishing which entries changed, and
stand-ins that place an entry in files without loading it (`site.LazyEntries`)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from aggregator import __version__
from aggregator.config import Settings
from aggregator.model import Entry, Item
from aggregator.publish.atom import EPOCH
from aggregator.publish.clean import (
    PublishedEntry,
    SourceRef,
    entry_page_path,
    http_url,
    prepare_entry,
)
from aggregator.publish.entries import build_entries
from aggregator.publish.info import FeedInfo, SourceInfo
from aggregator.store import Store, load_date


@dataclass(frozen=True, slots=True)
class Job:
    """One publish: what it is given and what it read first."""

    settings: Settings
    info: FeedInfo
    store: Store
    sources: list[SourceInfo]
    attributed: dict[str, str]  # source id → repr of its attribution (atom:source)
    fingerprint: str  # of what shapes every file (`output._publish_fingerprint`)
    listed: str  # a digest of `sources`: the feeds, directory and OPML they make
    data_version: int  # the store's, read before any item
    now: datetime

    def facts(self, entries: int) -> dict[str, str]:
        """What the manifest keeps of this publish."""
        return {
            "fingerprint": self.fingerprint,
            "sources": self.listed,
            "version": str(self.data_version),
            "entries": str(entries),
        }


def with_carriers(entry: Entry, copies: list[Item]) -> Entry:
    """The entry with every source that carried a copy: each one's feed holds the story,
    not only the representative's (the same entry, same id, as in index.atom)."""
    if len(copies) == 1:
        return entry  # most stories: the representative's source alone, known already
    return replace(entry, carried_by=tuple(sorted({c.source.source_id for c in copies})))


@dataclass(frozen=True, slots=True)
class Version:
    digest: bytes  # of everything the entry's rendering depends on
    carried_by: tuple[str, ...]  # sorted
    dates: tuple[datetime, datetime] | None  # (published, updated) of a one-item entry
    link: str | None  # of a one-item entry: without one, the entry has a page of ours


def source_digests(attributed: Mapping[str, str]) -> dict[str, str]:
    """Each source's attribution as a short digest, kept in the manifest."""
    return {
        source_id: hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        for source_id, text in attributed.items()
    }


def entry_versions(
    rows: Iterable[tuple[str, str, str, str, str, str, str | None]],
    attributed: Mapping[str, str],
) -> dict[str, Version]:
    """Each entry's version, from the store's index of items (`Store.item_versions`, by
    entry): its items' keys, content hashes and dates (an item is rewritten only with a
    new content hash and updated), and how each item's source is attributed (atom:source)."""
    versions: dict[str, Version] = {}
    for entry_id, group in itertools.groupby(rows, key=lambda row: row[0]):
        found = list(group)
        # The version too: a new one may choose representatives otherwise.
        digest = hashlib.blake2b(__version__.encode(), digest_size=16)
        for _, key, content_hash, published, updated, source_id, _link in found:
            digest.update(f"{key}\x1f{content_hash}\x1f{published}\x1f{updated}\x1f".encode())
            digest.update(attributed.get(source_id, source_id).encode())
        dates = (load_date(found[0][3]), load_date(found[0][4])) if len(found) == 1 else None
        carried_by = tuple(sorted({row[5] for row in found}))
        link = found[0][6] if len(found) == 1 else None
        versions[entry_id] = Version(digest.digest(), carried_by, dates, link)
    return versions


class Loader:
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
                carried = with_carriers(entry, grouped[entry.id])
                prepared, notes = prepare_entry(carried, self._base_url)
                self.loaded[entry.id] = prepared
                self.warnings[entry.id] = notes
        return (
            {i: self.loaded[i] for i in ids},
            [w for i in sorted(ids) for w in self.warnings[i]],
        )


def stories_of(
    versions: Mapping[str, Version], known: Mapping[str, list[Any]], loader: Loader
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


def stand_in(entry_id: str, version: Version, stories: Mapping[str, list[Any]]) -> PublishedEntry:
    """What places an entry in files and orders it, and nothing else (`LazyEntries`)."""
    if version.dates is not None:
        published, updated = version.dates
        carried_by = version.carried_by
        page = None if http_url(version.link) else entry_page_path(entry_id)
    else:
        _, first, last, sources, page = stories[entry_id]
        published, updated = datetime.fromisoformat(first), datetime.fromisoformat(last)
        carried_by = tuple(sources)
    return placeholder(entry_id, published, updated, carried_by, page)


def placeholder(
    entry_id: str,
    published: datetime,
    updated: datetime,
    carried_by: tuple[str, ...],
    page: str | None,
) -> PublishedEntry:
    """A stand-in of these facts (`stand_in`, and the manifest's `Placed`)."""
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
