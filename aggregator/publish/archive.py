"""RFC 5005 archived feeds: the full history, one archive document per month.

The subscription document (index.atom) holds the newest entries and links with
`prev-archive` to the newest archive; each archive links to its older (`prev-archive`) and
newer (`next-archive`) neighbour and to the subscription document (`current`), and is
marked with <fh:archive/>. An entry belongs to the month (UTC) it was first published in,
so an archive changes only when an entry of that month is added or updated. A month with
more than `ARCHIVE_PAGE_SIZE` entries is split into pages (`2026-11`, `2026-11-2`, …) in
order of publication, so no archive document grows without bound: a thousand busy
sources fill a month with tens of thousands of entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aggregator.publish.atom import INDEX_PATH, AtomDocument
from aggregator.publish.clean import PublishedEntry, newest_first
from aggregator.publish.info import FeedInfo


def month_of(entry: PublishedEntry) -> str:
    published = entry.published
    return f"{published.year:04d}-{published.month:02d}"


def archive_path(month: str) -> str:
    return f"archive/{month}.atom"


def _links(months: Sequence[str], index: int) -> tuple[tuple[str, str], ...]:
    links = [("current", INDEX_PATH)]
    if index > 0:
        links.append(("prev-archive", archive_path(months[index - 1])))
    if index + 1 < len(months):
        links.append(("next-archive", archive_path(months[index + 1])))
    return tuple(links)


ARCHIVE_PAGE_SIZE = 1000  # entries per archive document


def month_pages(
    month: str, entries: Sequence[PublishedEntry], size: int
) -> list[tuple[str, list[PublishedEntry]]]:
    """The pages of one month's entries (any order): (page name, entries newest first)."""
    oldest_first = sorted(entries, key=lambda e: (e.published, e.id))
    pages = []
    for number, start in enumerate(range(0, len(oldest_first), size), start=1):
        chunk = oldest_first[start : start + size]
        pages.append((page_name(month, number), newest_first(chunk)))
    return pages


def page_name(month: str, number: int) -> str:
    return month if number == 1 else f"{month}-{number}"


def page_names(counts: Mapping[str, int], size: int) -> list[str]:
    """Every page's name, oldest first, from the number of entries of each month."""
    return [
        page_name(month, number)
        for month in sorted(counts)
        for number in range(1, -(-counts[month] // size) + 1)
    ]


def archive_pages(
    entries: Sequence[PublishedEntry], size: int
) -> list[tuple[str, list[PublishedEntry]]]:
    """(page name, entries newest first), oldest page first, at most `size` entries a page.
    Pages fill in order of publication, so adding an entry changes only its month's last
    page (the HTML archive pages, smaller than the Atom ones, are cut the same way)."""
    by_month: dict[str, list[PublishedEntry]] = {}
    for entry in entries:
        by_month.setdefault(month_of(entry), []).append(entry)
    pages = []
    for month in sorted(by_month):
        pages += month_pages(month, by_month[month], size)
    return pages


def archive_documents(info: FeedInfo, entries: Sequence[PublishedEntry]) -> list[AtomDocument]:
    """The archive documents of `entries` (newest first), oldest first; the newest archive
    is the last one, which the subscription document links to (`newest_archive_link`)."""
    pages = archive_pages(entries, ARCHIVE_PAGE_SIZE)
    return archive_documents_of(info, [name for name, _ in pages], pages)


def archive_documents_of(
    info: FeedInfo, names: Sequence[str], pages: Sequence[tuple[str, Sequence[PublishedEntry]]]
) -> list[AtomDocument]:
    """The archive documents of some `pages`, linked to their neighbours among `names`
    (every page, oldest first)."""
    position = {name: i for i, name in enumerate(names)}
    return [
        AtomDocument(
            path=archive_path(name),
            feed_id=info.id,  # archives and index.atom are one logical feed (RFC 5005 §4)
            title=f"{info.title} — archive {name}",
            entries=page,
            links=_links(names, position[name]),
            archive=True,
        )
        for name, page in pages
    ]


def newest_archive_link(archives: Sequence[AtomDocument]) -> tuple[tuple[str, str], ...]:
    """The subscription document's link to the newest of `archives`, if there is one."""
    return (("prev-archive", archives[-1].path),) if archives else ()
