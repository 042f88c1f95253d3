"""Atom documents (RFC 4287, RFC 5005 archives), the only user of feedgen.

feedgen 1.0.0 needs help in three places, all handled here:

* it stamps every entry with `datetime.now()` unless told otherwise, so every timestamp
  is set explicitly, which makes the output byte-identical for identical input;
* its atom:source holds only title and link, so an entry extension adds atom:id and
  atom:updated (RFC 4287 §4.2.11 asks for both when the source feed has them);
* it drops `rel`, `type` and `title` from entry links (entry.py builds the element and
  then reads the attributes back from the element instead of the dict), so a via link
  would come out as a second alternate link: the extension writes via links itself.

A feed's `updated` is that of its newest entry, never the time of the run; a feed with
no entries says when it last changed (`AtomDocument.updated`, which publish_all keeps from
one publish to the next), so re-publishing an empty feed changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from aggregator.model import Entry
from aggregator.publish.clean import (
    PublishedEntry,
    derived_id,
    http_url,
    prepare_entries,
    xml_text,
)
from aggregator.publish.info import FeedInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ATOM_TYPE = "application/atom+xml"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
INDEX_PATH = "index.atom"
HTML_PATH = "index.html"
_EXTENSION = "aggregator"


@dataclass(frozen=True, slots=True, kw_only=True)
class AtomDocument:
    """One Atom file to write: which entries, under which name, linked to what."""

    path: str  # relative to the output directory; also gives the self link
    feed_id: str
    title: str
    entries: Sequence[PublishedEntry]  # already newest first and limited
    links: tuple[tuple[str, str], ...] = ()  # (rel, path) of related documents
    archive: bool = False  # an RFC 5005 archive document: carries <fh:archive/>
    updated: datetime | None = None  # its last change: the feed's updated when it is empty


class _FeedExtension:
    """Marks archive documents with <fh:archive/> (RFC 5005 §4)."""

    def __init__(self) -> None:
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        return feed


class _EntryExtension:
    """Completes atom:source and writes the rel="via" links of one entry."""

    def __init__(self) -> None:
        self.entry: PublishedEntry | None = None

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, element: etree._Element) -> etree._Element:
        if self.entry is None:
            return element
        # feedgen builds un-namespaced elements under a root that declares the Atom default
        # namespace, so plain names land in the Atom namespace once serialised.
        source = element.find("source")
        if source is not None:
            source_id = etree.Element("id")
            source_id.text = self.entry.source.feed_id
            source.insert(0, source_id)
            etree.SubElement(source, "updated").text = self.entry.source.updated.isoformat()
        for via in self.entry.vias:
            link = etree.SubElement(element, "link", rel="via", href=via.href)
            if via.title:
                link.set("title", via.title)
        return element

    def extend_rss(self, item: etree._Element) -> etree._Element:
        return item


def feed_updated(entries: Sequence[PublishedEntry], empty: datetime | None = None) -> datetime:
    """The newest entry's updated; for no entries, `empty` (the feed's last change)."""
    return max((e.updated for e in entries), default=empty or EPOCH)


def _add_entry(fg: Any, entry: PublishedEntry) -> None:
    fe = fg.add_entry(order="append")
    fe.id(entry.id)
    fe.title(entry.title)
    fe.updated(entry.updated)
    fe.published(entry.published)
    fe.author([{"name": name} for name in entry.authors])
    fe.link(href=entry.link, rel="alternate", type="text/html")
    if entry.content_html:
        fe.content(entry.content_html, type="html")
    elif entry.page is not None:
        # No web address of its own and no content: the text is the content, so that a
        # reader shows it without following the link to our page.
        fe.content(entry.summary or entry.title, type="text")
    if entry.summary:
        fe.summary(entry.summary, type="text")
    if entry.categories:
        fe.category([{"term": term} for term in entry.categories])
    fe.source(url=entry.source.link, title=entry.source.title)
    getattr(fe, _EXTENSION).entry = entry


def _feed_text(value: str | None, field: str, warnings: list[str]) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(xml_text(value).split())
    if cleaned != " ".join(value.split()):
        warnings.append(f"feed {field}: removed control/surrogate characters")
    return cleaned or None


def _feed_links(fg: Any, info: FeedInfo, doc: AtomDocument, warnings: list[str]) -> None:
    fg.link(href=info.url(doc.path), rel="self", type=ATOM_TYPE)
    fg.link(href=info.url(HTML_PATH), rel="alternate", type="text/html")
    for rel, path in doc.links:
        fg.link(href=info.url(path), rel=rel, type=ATOM_TYPE)
    if info.hub is not None:
        hub = http_url(info.hub)
        if hub is None:
            warnings.append(f"feed hub {xml_text(info.hub)!r} is not an http(s) URL; left out")
        else:
            fg.link(href=hub, rel="hub")


def atom_bytes(info: FeedInfo, doc: AtomDocument) -> tuple[bytes, tuple[str, ...]]:
    """Serialise one document; the entries must come from `prepare_entries`."""
    from feedgen.feed import FeedGenerator  # here: a run that publishes nothing skips it

    warnings: list[str] = []
    fg = FeedGenerator()
    fg.register_extension(_EXTENSION, _FeedExtension, _EntryExtension, atom=True, rss=False)
    fg.id(doc.feed_id)
    fg.title(_feed_text(doc.title, "title", warnings) or info.id)
    fg.updated(feed_updated(doc.entries, doc.updated))
    subtitle = _feed_text(info.subtitle, "subtitle", warnings)
    if subtitle:
        fg.subtitle(subtitle)
    fg.author({"name": _feed_text(info.author, "author", warnings) or fg.title()})
    name, version = info.generator
    fg.generator(generator=name, version=version)
    _feed_links(fg, info, doc, warnings)
    getattr(fg, _EXTENSION).archive = doc.archive
    for entry in doc.entries:
        _add_entry(fg, entry)
    data: bytes = fg.atom_str(pretty=True)
    return data, tuple(warnings)


def feed_id_for(info: FeedInfo, path: str) -> str:
    """index.atom and its archives are one logical feed; other paths are feeds of their own.

    A sub-feed of a feed whose id is one of our URLs is identified by its own URL (an id
    under our base URL names a file we write); under an opaque id (urn:, tag:) it gets a
    part of that id. Per-source feeds take the id `aggregator.sources.feeds` gives them.
    """
    if path == INDEX_PATH or path.startswith("archive/"):
        return info.id
    derived = derived_id(info.id, path)
    return info.url(path) if derived.startswith(info.base_url) else derived


def render_atom(
    info: FeedInfo,
    entries: Sequence[Entry],
    *,
    path: str = INDEX_PATH,
    title: str | None = None,
) -> tuple[bytes, tuple[str, ...]]:
    """The Atom document of the newest `info.entries_per_feed` entries, and the repairs made.

    Pure and deterministic: the same arguments give the same bytes. Bad entries are
    repaired (control characters, naive datetimes, missing titles, non-http links) and
    each repair is reported as a warning instead of failing the feed.
    """
    prepared, warnings = prepare_entries(entries, info.base_url)
    doc = AtomDocument(
        path=path,
        feed_id=feed_id_for(info, path),
        title=title if title is not None else info.title,
        entries=prepared[: info.entries_per_feed],
    )
    data, feed_warnings = atom_bytes(info, doc)
    return data, warnings + feed_warnings
