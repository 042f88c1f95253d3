"""Turn `Entry` records into values every output format can write without failing.

feedgen and lxml raise on characters XML cannot hold, on naive datetimes and on missing
titles (TRAPS 7), so one bad item would take down the whole feed. Normalisation
guarantees a valid entry (`aggregator.normalise`), so an item made today passes through
here unchanged; what is repaired here are rows stored by older versions or edited by
hand. Every entry is checked once, before any renderer sees it, and each repair becomes a
warning that names the entry. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache

from aggregator.model import Attribution, Entry, ViaLink
from aggregator.normalise.identity import entry_id as derive_entry_id
from aggregator.normalise.text import strip_controls
from aggregator.sources.feeds import is_absolute_iri, output_url, source_feed
from aggregator.urlparts import is_http_url

# A URL holds no control at all (C0, DEL, C1) nor any character XML cannot hold.
_CONTROL_IN_URL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
# An http(s) URL with a plain host name and an optional port: urlsplit would accept it.
_PLAIN_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:[/?#]|\Z)")
_SUMMARY_TITLE_CHARS = 80
UNTITLED = "Untitled"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRef:
    """What atom:source says about the feed an entry came from: an `Attribution` made
    safe to write (an absolute IRI as id, an http(s) link, aware UTC), computed once per
    source (`_source_ref`). A checked value of the publisher, not another source record."""

    source_id: str  # the slug, for per-source feeds
    feed_id: str  # atom:source/atom:id, an absolute IRI
    title: str
    link: str  # absolute http(s) URL
    updated: datetime  # aware UTC


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedEntry:
    """An entry whose every field is safe to write as XML, JSON and HTML."""

    id: str
    title: str
    link: str  # the entry's own http(s) address, else the URL of `page`
    page: str | None  # our page of an entry with no http(s) link of its own (its path)
    summary: str | None
    content_html: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime  # aware UTC
    updated: datetime  # aware UTC
    source: SourceRef
    vias: tuple[ViaLink, ...]
    carried_by: tuple[str, ...]  # source ids whose feeds hold it, the representative's first


class _Notes:
    """Collects the repairs made to one entry, worded for the operator."""

    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        self.repairs: list[str] = []

    def add(self, message: str) -> None:
        self.repairs.append(message)

    @property
    def messages(self) -> tuple[str, ...]:
        if not self.repairs:  # nearly every entry
            return ()
        return tuple(f"entry {self.entry_id}: {repair}" for repair in self.repairs)


def xml_text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry: the very ones cleaning
    removes (`normalise.text.strip_controls`), so cleaned text comes back unchanged."""
    return strip_controls(value)


def _text(value: str | None, field: str, notes: _Notes) -> str | None:
    if value is None:
        return None
    cleaned = xml_text(value)
    if cleaned != value:
        notes.add(f"{field}: removed {len(value) - len(cleaned)} control/surrogate character(s)")
    return cleaned if cleaned.strip() else None


def _line(value: str | None, field: str, notes: _Notes) -> str | None:
    """A one-line text (title, name): cleaned and with its whitespace collapsed."""
    cleaned = _text(value, field, notes)
    return _SPACES.sub(" ", cleaned).strip() if cleaned else None


@lru_cache(maxsize=4096)  # pure; a source's site and feed URLs recur in each of its entries
def http_url(value: str | None) -> str | None:
    """`value` if it is an absolute http(s) URL that can be written as is, else None."""
    if not value or value != value.strip() or _CONTROL_IN_URL.search(value):
        return None
    if _SPACES.search(value):
        return None
    # What nearly every link looks like needs no splitting.
    return value if _PLAIN_HTTP_URL.match(value) or is_http_url(value) else None


def utc(value: datetime, field: str, notes: _Notes) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        notes.add(f"{field}: naive datetime {value.isoformat()} taken as UTC")
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def entry_slug(entry_id: str) -> str:
    """A short name of an entry for files and anchors; it lasts as long as the id does."""
    return hashlib.sha256(entry_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def entry_page_path(entry_id: str) -> str:
    """The path of our page of an entry."""
    return f"entries/{entry_slug(entry_id)}.html"


def derived_id(feed_id: str, path: str) -> str:
    """A stable id for a sub-feed (per source, per tag) of the feed `feed_id`.

    Hierarchical IRIs get a path segment; opaque ones (urn:, tag:) a colon-separated part.
    """
    sep = "" if feed_id.endswith(("/", ":")) else ("/" if "://" in feed_id else ":")
    return feed_id + sep + path


def _entry_id(entry: Entry, notes: _Notes) -> str:
    if is_absolute_iri(entry.id):
        return entry.id
    replacement = derive_entry_id(entry.item.key)
    notes.add(f"id {entry.id!r} is not an absolute IRI; published as {replacement}")
    return replacement


def _shorten(text: str, limit: int) -> str:
    words = _SPACES.sub(" ", text).strip()
    if len(words) <= limit:
        return words
    return words[:limit].rsplit(" ", 1)[0] + "…"


def _title(entry: Entry, summary: str | None, link: str | None, notes: _Notes) -> str:
    title = _line(entry.item.title, "title", notes)
    if title:
        return title
    title = _shorten(summary, _SUMMARY_TITLE_CHARS) if summary else (link or UNTITLED)
    notes.add(f"missing title; published as {title!r}")
    return title


def _link(value: str | None, field: str, notes: _Notes) -> str | None:
    if value is None:
        return None
    url = http_url(value)
    if url is None:
        notes.add(f"{field}: dropped {xml_text(value)[:100]!r}: not an absolute http(s) URL")
    return url


def _names(values: Sequence[str], field: str, notes: _Notes) -> tuple[str, ...]:
    if not values:
        return ()
    names = (_line(v, field, notes) for v in values)
    return tuple(dict.fromkeys(n for n in names if n))


def _vias(vias: Sequence[ViaLink], notes: _Notes) -> tuple[ViaLink, ...]:
    kept: dict[str, ViaLink] = {}
    for via in vias:
        href = _link(via.href, "via link", notes)
        if href is not None and href not in kept:
            kept[href] = ViaLink(href=href, title=_line(via.title, "via title", notes) or "")
    return tuple(kept.values())


# What a source without an `updated` of its own holds until `_source` gives it the entry's.
_NO_SOURCE_UPDATED = datetime.min.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)  # pure; every entry of a source carries the same attribution
def _source_ref(attribution: Attribution, base_url: str) -> tuple[SourceRef, tuple[str, ...]]:
    """What atom:source says that depends on the source alone, and the repairs it took."""
    notes = _Notes("")
    # The one derivation of a source's feed (aggregator.sources.feeds): an id that is no
    # absolute IRI gives way to the URL of our feed of the source, which publish_all
    # writes for every source seen, under the very same id; a source without a web page
    # of its own (a seed) links to that feed too.
    derived = source_feed(
        attribution.source_id,
        base_url=base_url,
        feed_id=attribution.feed_id,
        site_link=attribution.site_link,
        feed_url=attribution.feed_url,
    )
    feed_id = derived.id
    if feed_id != attribution.feed_id:
        notes.add(f"source id {attribution.feed_id!r} is not an absolute IRI; using {feed_id}")
    link = http_url(derived.link) or derived.url
    updated = _NO_SOURCE_UPDATED
    if attribution.updated is not None:
        updated = utc(attribution.updated, "source updated", notes)
    title = _line(attribution.title, "source title", notes) or attribution.source_id
    ref = SourceRef(
        source_id=attribution.source_id, feed_id=feed_id, title=title, link=link, updated=updated
    )
    return ref, tuple(notes.repairs)


def _source(entry: Entry, updated: datetime, base_url: str, notes: _Notes) -> SourceRef:
    ref, repairs = _source_ref(entry.item.source, base_url)
    for repair in repairs:
        notes.add(repair)
    if entry.item.source.updated is None:
        return replace(ref, updated=updated)
    return ref


def prepare_entry(entry: Entry, base_url: str) -> tuple[PublishedEntry, tuple[str, ...]]:
    """One entry made safe to publish, and the repairs that took (never raises on data)."""
    notes = _Notes(xml_text(entry.id))
    item = entry.item
    link = _link(item.link, "link", notes)
    summary = _text(item.summary, "summary", notes)
    updated = utc(entry.effective_updated, "updated", notes)
    source = _source(entry, updated, base_url, notes)
    entry_id = _entry_id(entry, notes)
    title = _title(entry, summary, link, notes)
    page = None
    if link is None:
        # An entry with no web address of its own (a seed document) links to our page of
        # it, so a reader of any output can reach its text.
        page = entry_page_path(entry_id)
        link = output_url(base_url, page)
    published = PublishedEntry(
        id=entry_id,
        title=title,
        link=link,
        page=page,
        summary=summary,
        content_html=_text(item.content_html, "content", notes),
        authors=_names(item.authors, "author", notes) or (source.title,),
        categories=_names(item.categories, "category", notes),
        published=utc(item.published, "published", notes),
        updated=updated,
        source=source,
        vias=_vias(entry.vias, notes),
        carried_by=tuple(dict.fromkeys((item.source.source_id, *entry.carried_by))),
    )
    return published, tuple(notes.messages)


def newest_first(entries: Iterable[PublishedEntry]) -> list[PublishedEntry]:
    """Newest updated first; equal times by id, so the order never depends on the input's."""
    by_id = sorted(entries, key=lambda e: e.id)
    return sorted(by_id, key=lambda e: e.updated, reverse=True)


def prepare_entries(
    entries: Iterable[Entry], base_url: str
) -> tuple[list[PublishedEntry], tuple[str, ...]]:
    """Every entry repaired, newest first, one per id; plus every warning."""
    prepared: list[PublishedEntry] = []
    warnings: list[str] = []
    for entry in entries:
        published, notes = prepare_entry(entry, base_url)
        prepared.append(published)
        warnings.extend(notes)
    unique: dict[str, PublishedEntry] = {}
    for candidate in newest_first(prepared):
        if candidate.id in unique:
            warnings.append(f"entry {candidate.id}: duplicate id; kept the newest copy only")
            continue
        unique[candidate.id] = candidate
    return list(unique.values()), tuple(warnings)
