"""Finding the article in a page: the source's CSS selector when it has one, else
trafilatura, else readability-lxml; the first whose text is longer than the teaser wins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aggregator.fulltext import by_readability, by_trafilatura
from aggregator.fulltext.selector import select
from aggregator.normalise.html import html_to_text


@dataclass(frozen=True, slots=True)
class Extracted:
    html: str  # an HTML fragment, not yet cleaned
    method: str  # which extractor found it


def word_count(html: str) -> int:
    return len(html_to_text(html).split())


def extract_article(
    page: bytes, url: str, *, selector: str | None, teaser_words: int
) -> Extracted | str:
    """The article of `page`, or why none longer than the teaser was found."""
    extractors: list[tuple[str, Callable[[], str | None]]] = []
    if selector is not None:
        extractors.append((f"CSS selector {selector!r}", lambda: select(page, selector)))
    extractors.append(("trafilatura", lambda: by_trafilatura.extract(page, url)))
    extractors.append(("readability", lambda: by_readability.extract(page, url)))
    best = 0
    for method, run in extractors:
        html = run()
        words = word_count(html) if html else 0
        if html and words > teaser_words:
            return Extracted(html, method)
        best = max(best, words)
    if best == 0:
        return "no article text found on the page"
    return f"the extracted text ({best} words) is not longer than the teaser ({teaser_words} words)"
