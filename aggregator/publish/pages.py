"""Which pages for people there are and what each holds (html.py renders them). Pure.

The index shows what index.atom holds and leads, with "older entries", into the archive:
the same months as the RFC 5005 archive, cut into pages of `HTML_PAGE_SIZE` entries (a
page of full texts must stay light on a phone), each linked to its newer and older
neighbour. A source's or tag's page shows what its feed holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from aggregator.publish.archive import archive_pages, archive_path
from aggregator.publish.atom import HTML_PATH, AtomDocument
from aggregator.publish.clean import PublishedEntry, http_url
from aggregator.publish.html import DIRECTORY_PATH, Directory, Link, RiverPage, html_path
from aggregator.publish.info import SourceInfo
from aggregator.sources.feeds import source_feed_path, tag_feed_path

HTML_PAGE_SIZE = 100  # entries per archive page
TAG_SOURCES_SHOWN = 12  # sources named at the top of a tag's page: the entries come first
# A per-source or per-tag feed: its title, its atom:id, its sources' ids.
Group = tuple[str, str, set[str]]


def _heading(name: str) -> str:
    """'2026-11' → 'November 2026'; '2026-11-2' → 'November 2026, page 2'."""
    year, month, *number = name.split("-")
    heading = f"{date(int(year), int(month), 1):%B %Y}"
    return f"{heading}, page {number[0]}" if number else heading


def archive_river(
    entries: Sequence[PublishedEntry], shown: int
) -> tuple[list[RiverPage], str | None]:
    """The archive pages of `entries` (newest first), oldest first, and the path of the
    page that holds the first entry the index does not show (its "older" link)."""
    pages = archive_pages(entries, HTML_PAGE_SIZE)
    river = river_pages([name for name, _ in pages], pages)
    older = None
    if len(entries) > shown:
        first_not_shown = entries[shown].id
        older = next(
            page.path for page in river if any(e.id == first_not_shown for e in page.entries)
        )
    return river, older


def river_pages(
    names: Sequence[str], pages: Sequence[tuple[str, Sequence[PublishedEntry]]]
) -> list[RiverPage]:
    """The HTML archive pages of some `pages`, linked to their neighbours among `names`
    (every page, oldest first)."""
    paths = [html_path(archive_path(name)) for name in names]
    position = {name: i for i, name in enumerate(names)}
    river = []
    for name, page_entries in pages:
        i = position[name]
        river.append(
            RiverPage(
                path=paths[i],
                heading=_heading(name),
                entries=page_entries,
                newer=paths[i + 1] if i + 1 < len(paths) else HTML_PATH,
                older=paths[i - 1] if i > 0 else None,
            )
        )
    return river


def index_page(entries: Sequence[PublishedEntry], older: str | None) -> RiverPage:
    # Its feed, index.atom, is the site's: every page names it already.
    return RiverPage(path=HTML_PATH, heading=None, entries=entries, older=older)


def _source_page(source: SourceInfo) -> str:
    return html_path(source_feed_path(source.id))


def _source_links(source: SourceInfo) -> list[Link]:
    """Where else a source can be read: its website, if it has one, and our feed of it."""
    site = http_url(source.site_link)
    feed = Link("Atom feed", source_feed_path(source.id))
    return [Link("Website", site), feed] if site else [feed]


def group_pages(
    docs: Sequence[AtomDocument], groups: Mapping[str, Group], sources: Sequence[SourceInfo]
) -> list[RiverPage]:
    """The page of each per-source and per-tag feed in `docs`: the same entries."""
    by_id = {s.id: s for s in sources}
    pages = []
    for doc in docs:
        title, _, ids = groups[doc.path]
        members = [by_id[i] for i in sorted(ids)]
        if doc.path.startswith("tags/"):
            about = [Link("Atom feed", doc.path)]
            about += [Link(f"Source: {s.title or s.id}", _source_page(s)) for s in members]
            if len(members) > TAG_SOURCES_SHOWN:  # the rest are listed in the directory
                more = len(members) - TAG_SOURCES_SHOWN
                about[1 + TAG_SOURCES_SHOWN :] = [Link(f"{more} more sources", DIRECTORY_PATH)]
        else:  # sources whose ids slugify alike share a feed: the first one describes it
            about = _source_links(members[0])
            about += [Link(f"Tag: {t}", html_path(tag_feed_path(t))) for t in members[0].tags]
        pages.append(
            RiverPage(
                path=html_path(doc.path),
                heading=title,
                entries=doc.entries,
                feed=doc.path,
                about=tuple(about),
            )
        )
    return pages


def directory(sources: Sequence[SourceInfo]) -> Directory:
    """sources.html: each source with its page, website and feed; each tag with its page."""
    by_title = sorted(sources, key=lambda s: ((s.title or s.id).casefold(), s.id))
    tags = sorted({tag for source in sources for tag in source.tags}, key=str.casefold)
    return Directory(
        sources=tuple(
            (Link(s.title or s.id, _source_page(s)), tuple(_source_links(s))) for s in by_title
        ),
        tags=tuple(Link(tag, html_path(tag_feed_path(tag))) for tag in tags),
    )
