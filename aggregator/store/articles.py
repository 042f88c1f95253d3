"""Rows of the article-page cache (issue 18): what a teaser item's page gave, by URL,
with the validators that let the next fetch be a conditional GET."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedArticle:
    url: str  # the article URL as the item gave it
    teaser_hash: str  # the item's content hash when the page was fetched
    fetched_at: datetime
    final_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    html: str | None = None  # the extracted article, before cleaning; None after a failure
    method: str | None = None  # the extractor that found it
    reason: str | None = None  # why there is no article
    retry_at: datetime | None = None  # a failure is not tried again before this


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedRobots:
    origin: str  # scheme://host:port
    body: str | None  # None: no robots.txt (every path allowed)
    fetched_at: datetime
