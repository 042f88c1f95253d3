"""What the fetched pages give: articles (extracted in worker processes when there are
many), notes why not, and the cache rows to save."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.exceptions import FetchError
from aggregator.fulltext.extract import Extracted, extract_article
from aggregator.fulltext.pages import Deferred, PageResult, content_type
from aggregator.fulltext.plan import (
    Article,
    Want,
    deferred,
    failure,
    from_cache,
    stored_article,
)
from aggregator.ingest.http import FetchOutcome
from aggregator.runtime.parallel import parallel_map
from aggregator.store.articles import CachedArticle

_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Extraction and cleaning take 4-15 ms a page; below this many pages, forking workers
# (~0.1 s) costs more than it saves.
PARALLEL_MIN_PAGES = 50


@dataclass(frozen=True, slots=True)
class _Page:
    """One page to extract from: plain values, so it can go to a worker process."""

    body: bytes
    url: str
    selector: str | None
    teaser_words: int


def _extract(page: _Page) -> Extracted | str:
    return extract_article(
        page.body, page.url, selector=page.selector, teaser_words=page.teaser_words
    )


def extract_all(
    wants: Mapping[str, Want], results: Mapping[str, PageResult]
) -> dict[str, Extracted | str]:
    """The article (or why none) of every page fetched in full, by URL."""
    pages: dict[str, _Page] = {}
    found: dict[str, Extracted | str] = {}
    for url, result in results.items():
        if not isinstance(result, FetchOutcome) or result.not_modified:
            continue
        kind = content_type(result.headers)
        if kind and kind not in _HTML_TYPES:
            found[url] = f"not an HTML page ({kind})"
            continue
        want = wants[url]
        pages[url] = _Page(result.body or b"", result.final_url, want.selector, want.teaser_words)
    extracted = parallel_map(
        _extract, list(pages.values()), weight=len(pages), min_weight=PARALLEL_MIN_PAGES
    )
    found.update(zip(pages, extracted, strict=True))
    return found


def resolve(
    want: Want,
    row: CachedArticle | None,
    result: PageResult,
    extracted: Extracted | str | None,
    now: datetime,
) -> tuple[Article | str, CachedArticle | None]:
    """The article (or the note why there is none) and the cache row to save, if any."""
    if isinstance(result, Deferred):
        if stored_article(row) is not None:  # the last article, until the page is fetched
            return from_cache(want, row, result.why), None
        return deferred(want, result.why, now)
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
    if not isinstance(extracted, Extracted):
        return failure(want, extracted or "the server answered 304 to a first request", now)
    row = CachedArticle(
        url=want.url,
        teaser_hash=want.teaser_hash,
        fetched_at=now,
        final_url=result.final_url,
        etag=result.validators.etag,
        last_modified=result.validators.last_modified,
        html=extracted.html,
        method=extracted.method,
    )
    return Article(extracted.html, extracted.method, result.final_url), row
