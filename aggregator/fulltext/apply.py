"""Putting a fetched article into its teaser's item (pure).

The article goes through the very cleaning of feed content (nh3 last); the item keeps its
key, title and dates, takes the article as its content and text (so merging compares the
article), the page as its link, and keeps the feed's teaser as its summary. Every outcome
is written into the item's notes, which `aggregator explain` shows.
"""

from __future__ import annotations

import re
from dataclasses import replace

from aggregator.model import Item
from aggregator.normalise import identity
from aggregator.normalise.entry import clean_fragment
from aggregator.normalise.html import html_to_text
from aggregator.normalise.rules import BoilerplateRules
from aggregator.normalise.urls import canonicalise

_LEADING_HEADING = re.compile(r"^\s*<h[1-3][^>]*>(.*?)</h[1-3]>", re.DOTALL | re.IGNORECASE)


def with_article(
    item: Item, article_html: str, *, page_url: str, method: str, rules: BoilerplateRules
) -> Item | str:
    """`item` with the article as its text, or why the article cannot replace the teaser."""
    link = canonicalise(page_url, None, rules.tracking)[0] or item.link
    html, notes = clean_fragment(
        _without_title(article_html, item.title), where="article", base=page_url, rules=rules
    )
    text = html_to_text(html, skip_captions=True) if html else ""
    got, teaser = len(text.split()), len(item.text.split())
    if got <= teaser:
        return f"the extracted text ({got} words) is not longer than the teaser ({teaser} words)"
    summary = item.summary or item.text or None
    return replace(
        item,
        link=link,
        summary=summary,
        content_html=html,
        text=text,
        content_hash=identity.content_hash(item.title, link, html),
        notes=(*item.notes, _provenance(page_url, method), *notes),
    )


def _provenance(page_url: str, method: str) -> str:
    return (
        f"full text fetched from the article page {page_url} ({method}); "
        "the feed's teaser kept as the summary"
    )


def with_note(item: Item, note: str) -> Item:
    return replace(item, notes=(*item.notes, note))


def _without_title(html: str, title: str) -> str:
    """The article without a leading heading that repeats the entry's own title."""
    match = _LEADING_HEADING.match(html)
    if match is None:
        return html
    heading = html_to_text(match.group(1))
    if identity.fold(heading) != identity.fold(title):
        return html
    return html[match.end() :]
