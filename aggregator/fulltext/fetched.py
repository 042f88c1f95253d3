"""What a fetched page gives: an article, a note why not, and the cache row to save."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aggregator.exceptions import FetchError
from aggregator.fulltext.extract import Extracted, extract_article
from aggregator.fulltext.pages import Deferred, PageResult, content_type
from aggregator.fulltext.plan import Article, Want, failure, from_cache, stored_article
from aggregator.ingest.http import FetchOutcome
from aggregator.store.articles import CachedArticle

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def resolve(
    want: Want, row: CachedArticle | None, result: PageResult, now: datetime
) -> tuple[Article | str, CachedArticle | None]:
    if isinstance(result, Deferred):
        return from_cache(want, row, result.why), None
    if isinstance(result, FetchError):
        return failure(want, result.message, now)
    stored = stored_article(row)
    if result.not_modified and row is not None and stored is not None:
        validators = result.validators
        refreshed = replace(
            row,
            teaser_hash=want.teaser_hash,
            fetched_at=now,
            etag=validators.etag,
            last_modified=validators.last_modified,
        )
        return stored, refreshed
    return _extracted(want, result, now)


def _extracted(
    want: Want, result: FetchOutcome, now: datetime
) -> tuple[Article | str, CachedArticle]:
    kind = content_type(result.headers)
    if kind and kind not in _HTML_TYPES:
        return failure(want, f"not an HTML page ({kind})", now)
    found = extract_article(
        result.body or b"",
        result.final_url,
        selector=want.selector,
        teaser_words=want.teaser_words,
    )
    if not isinstance(found, Extracted):
        return failure(want, found, now)
    row = CachedArticle(
        url=want.url,
        teaser_hash=want.teaser_hash,
        fetched_at=now,
        final_url=result.final_url,
        etag=result.validators.etag,
        last_modified=result.validators.last_modified,
        html=found.html,
        method=found.method,
    )
    return Article(found.html, found.method, result.final_url), row
