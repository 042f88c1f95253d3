"""RFC 5005 archived feeds: the full history, one archive document per month.

The subscription document (index.atom) holds the newest entries and links with
`prev-archive` to the newest archive; each archive links to its older (`prev-archive`) and
newer (`next-archive`) neighbour and to the subscription document (`current`), and is
marked with <fh:archive/>. An entry belongs to the month (UTC) it was first published in,
so an archive changes only when an entry of that month is added or updated.
"""

from __future__ import annotations

from collections.abc import Sequence

from aggregator.publish.atom import INDEX_PATH, AtomDocument
from aggregator.publish.clean import PublishedEntry
from aggregator.publish.info import FeedInfo


def month_of(entry: PublishedEntry) -> str:
    return entry.published.strftime("%Y-%m")


def archive_path(month: str) -> str:
    return f"archive/{month}.atom"


def _links(months: Sequence[str], index: int) -> tuple[tuple[str, str], ...]:
    links = [("current", INDEX_PATH)]
    if index > 0:
        links.append(("prev-archive", archive_path(months[index - 1])))
    if index + 1 < len(months):
        links.append(("next-archive", archive_path(months[index + 1])))
    return tuple(links)


def archive_documents(info: FeedInfo, entries: Sequence[PublishedEntry]) -> list[AtomDocument]:
    """One archive document per month of `entries` (newest first), oldest month first."""
    months = sorted({month_of(e) for e in entries})
    return [
        AtomDocument(
            path=archive_path(month),
            feed_id=info.id,  # archives and index.atom are one logical feed (RFC 5005 §4)
            title=f"{info.title} — archive {month}",
            entries=[e for e in entries if month_of(e) == month],
            links=_links(months, i),
            archive=True,
        )
        for i, month in enumerate(months)
    ]


def newest_archive_link(entries: Sequence[PublishedEntry]) -> tuple[tuple[str, str], ...]:
    """The subscription document's link to the newest archive, if there is one."""
    months = sorted({month_of(e) for e in entries})
    return (("prev-archive", archive_path(months[-1])),) if months else ()
