"""Which article pages a run wants and what the cache already says about them (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aggregator.fulltext.detect import article_url, fetch_reason
from aggregator.model import Item
from aggregator.normalise import identity
from aggregator.store.articles import CachedArticle

# A page that failed (404, refused, robots.txt, nothing extracted) is tried again after
# this long, or as soon as the feed changes the item.
FAILURE_RETRY = timedelta(hours=6)
# How the notes this step adds to an item begin (`from_cache`, `deferred`, `not_used`):
# an item whose page is tried again loses the last try's note.
_NOTE_STARTS = ("full text of ", "full text not used from ")


@dataclass(slots=True)
class Want:
    """One article page and the items of this run that point at it."""

    url: str
    selector: str | None
    items: list[Item] = field(default_factory=list)

    @property
    def teaser_hash(self) -> str:
        return identity.content_hash(*sorted({i.content_hash for i in self.items}))

    @property
    def teaser_words(self) -> int:
        return max(len(i.text.split()) for i in self.items)


@dataclass(frozen=True, slots=True)
class Article:
    html: str  # extracted, not yet cleaned
    method: str
    page_url: str


def wanted(items: Sequence[Item], modes: Mapping[str, tuple[str, str | None]]) -> dict[str, Want]:
    """Article URL → what wants it, newest items first (they get the budget first).
    `modes`: each configured source's mode and CSS selector; other sources (seeds, which
    are releases and have no config of their own) are never fetched for."""
    wants: dict[str, Want] = {}
    for item in sorted(items, key=lambda i: i.published, reverse=True):
        mode, selector = modes.get(item.source.source_id, ("never", None))
        url = article_url(item)
        if url is None or fetch_reason(mode, item) is None:
            continue
        wants.setdefault(url, Want(url, selector)).items.append(item)
    return wants


def is_due(want: Want, row: CachedArticle | None, now: datetime) -> bool:
    """Whether the page is to be fetched in this run (budget permitting)."""
    if row is None or row.teaser_hash != want.teaser_hash:
        return True  # a new page, or the feed changed the item: a (conditional) GET
    return row.html is None and row.retry_at is not None and row.retry_at <= now


def stored_article(row: CachedArticle | None) -> Article | None:
    if row is None or row.html is None:
        return None
    return Article(row.html, row.method or "", row.final_url or row.url)


def from_cache(want: Want, row: CachedArticle | None, why: str) -> Article | str:
    """What an item gets when its page is not fetched in this run (`why`)."""
    stored = stored_article(row)
    if stored is not None:  # the last article we have, until the page is fetched again
        return stored
    if row is not None and row.reason is not None:
        return not_used(want.url, row.reason)
    return f"full text of {want.url} left for a later run: {why}"


def deferred(want: Want, why: str, now: datetime) -> tuple[str, CachedArticle]:
    """A page left for a later run (this run's budget was spent): a row due at once, so
    the next run that fetches the item's source tries the page again, whether its feed
    changed or not (`awaiting`), without reading the feed again."""
    reason = f"left for a later run: {why}"
    row = CachedArticle(
        url=want.url, teaser_hash=want.teaser_hash, fetched_at=now, reason=reason, retry_at=now
    )
    return f"full text of {want.url} {reason}", row


def awaiting(item: Item) -> Item:
    """A stored item whose page is due a retry, as the full-text step takes it: without
    the note of its last try (it gets the note of this one)."""
    notes = tuple(n for n in item.notes if not n.startswith(_NOTE_STARTS))
    return item if notes == item.notes else replace(item, notes=notes)


def failure(want: Want, reason: str, now: datetime) -> tuple[str, CachedArticle]:
    row = CachedArticle(
        url=want.url,
        teaser_hash=want.teaser_hash,
        fetched_at=now,
        reason=reason,
        retry_at=now + FAILURE_RETRY,
    )
    return not_used(want.url, reason), row


def not_used(url: str, reason: str) -> str:
    return f"full text not used from {url}: {reason}; the feed's teaser kept"
