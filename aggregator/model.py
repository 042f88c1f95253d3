"""Frozen record types passed between the stages of the flow.

    SourceSpec ──► Retrieved ──► ParsedFeed(FeedMeta, RawEntry…) ──► Item ──► Entry
    (config)       (ingest)      (parse / seed reader)               (normalise) (dedupe + store)

"What a source said" (`RawEntry`, `FeedMeta`) is kept apart from "what we decided"
(`Item`, `Entry`). Pure: no third-party imports, so every stage can be
tested with plain values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

# How a source writes numeric dates whose day and month could swap (04/05/2026).
DateOrder = Literal["day-first", "month-first"]
DATE_ORDERS: tuple[DateOrder, ...] = ("day-first", "month-first")

# The source of every plain-text and Markdown seed document: a folder of documents from
# anywhere, so each document counts as a source of its own when merging.
SEED_TEXT_SOURCE = "seeds"


class SourceKind(enum.Enum):
    SEED_TEXT = "seed-text"  # a press release saved as text / markdown in seeds/
    SEED_FEED = "seed-feed"  # an RSS/Atom/JSON feed file dropped in seeds/
    REMOTE = "remote"  # an http(s) feed listed in the config


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """A source as configured: one `[[sources]]` entry of the config file, a seed source
    as found in seeds/ (which takes every default), or a feed an OPML file lists.

    The one record of a configured source. Kept apart from the store's `SourceState`,
    which is what fetching learnt about it (validators, failures, the next check) and
    outlives a config edit, and from `Attribution`, what one item says of it."""

    id: str  # stable slug, used in logs, file names and attribution
    url: str  # https://… for remote feeds; path relative to the seeds folder for seeds
    kind: SourceKind = SourceKind.REMOTE
    title: str | None = None  # the config's `name`
    tags: tuple[str, ...] = ()
    interval: timedelta = timedelta(hours=1)
    enabled: bool = True
    filters: Mapping[str, Any] = field(default_factory=dict)
    future_dates: str = "first-seen"
    date_order: DateOrder | None = None  # None: the top-level date_order
    organisation: str | None = None  # who publishes its items: wins over every guess
    # Issue 18: fetch the article page of teaser items ("auto": only those that look
    # cut), and an optional CSS selector for the article on this source's pages.
    full_text: str = "auto"
    full_text_selector: str | None = None


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Bytes of one document plus what the transport said about them."""

    url: str  # final URL after redirects, or the seed path
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    mtime: datetime | None = None  # seed files: modification time, aware UTC
    mtime_ns: int | None = None  # seed files: the same to the nanosecond (st_mtime_ns)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawEntry:
    """One entry as the source gave it: nothing cleaned, nothing decided."""

    id: str | None = None
    title: str | None = None
    link: str | None = None
    summary: str | None = None  # HTML or text as given
    content: str | None = None  # HTML or text as given
    content_type: str | None = None  # "text/html" or "text/plain"
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # A str is a date the source wrote that only its `date_order` can read (04/05/2026).
    published: datetime | str | None = None
    updated: datetime | str | None = None
    base: str | None = None  # xml:base / document URL to resolve relative links against
    date_rule: str | None = None  # seeds: which rule gave `published` (front-matter, text, mtime)
    via: str | None = None  # the republisher that carried it (seed footer), never the author
    public_release: bool = False  # seed footer: a public release of the named organisation
    notes: tuple[str, ...] = ()  # what reading the source already did (e.g. "footer removed")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedMeta:
    """Feed-level data from the source."""

    title: str | None = None
    link: str | None = None  # the site (alternate) link
    id: str | None = None
    subtitle: str | None = None
    updated: datetime | None = None
    author: str | None = None
    ttl_minutes: int | None = None  # RSS <ttl> / sy:updatePeriod hints, in minutes


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    meta: FeedMeta
    entries: tuple[RawEntry, ...]
    warning: str | None = None  # non-fatal problems, kept as a value


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """Where an item came from; becomes atom:source (RFC 4287 §4.2.11).

    Not the source itself: the values derived for its items' atom:source when they were
    read (`store.attribution_for`: the feed id made an absolute IRI, a link that always
    leads somewhere), carried by every `Item`."""

    source_id: str
    feed_url: str  # the source's URL, or its seed path
    feed_id: str  # atom:source/atom:id, an absolute IRI
    title: str | None = None
    site_link: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """A normalised, publishable copy of a story from one source."""

    key: str  # identity.item_key(); unique per (source, origin id)
    origin_id: str  # the id the source gave it; for a seed, its path relative to seeds/
    content_hash: str  # identity.content_hash(); changes only when the cleaned content does
    title: str
    link: str | None  # canonical http(s) link, or None
    summary: str | None  # plain text
    content_html: str | None  # sanitised HTML
    text: str  # plain text of the whole item, for dedup
    authors: tuple[str, ...]  # the originating organisation first
    categories: tuple[str, ...]
    published: datetime  # aware UTC
    updated: datetime  # aware UTC, never before published
    source: Attribution
    via: str | None = None  # the republisher that carried it, never the author
    date_rule: str | None = None  # which rule gave `published`
    readmore: str | None = None  # canonical link of the full version a teaser points at
    notes: tuple[str, ...] = ()  # the decision log of cleaning


@dataclass(frozen=True, slots=True, kw_only=True)
class ViaLink:
    """Another copy merged into an entry: <link rel="via" href=… title=…>."""

    href: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One published entry: a story, shown through its representative item."""

    id: str  # stable across runs and representative changes
    item: Item  # the representative
    vias: tuple[ViaLink, ...] = ()
    updated: datetime | None = None  # overrides item.updated when the story changed later
    # Every source that carried a copy of the story: each one's own feed holds the entry.
    carried_by: tuple[str, ...] = ()

    @property
    def effective_updated(self) -> datetime:
        return self.updated if self.updated is not None else self.item.updated


@dataclass(frozen=True, slots=True)
class SourceUpdated:
    """What became of one source's entries in a run (the dedupe plan's tally of it)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __add__(self, other: SourceUpdated) -> SourceUpdated:
        return SourceUpdated(
            new=self.new + other.new,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            skipped=self.skipped + other.skipped,
        )


class SourceResult(NamedTuple):
    source_id: str
    value: SourceUpdated | Exception | None  # None = not modified; Exception is a SourceError
