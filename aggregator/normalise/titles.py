"""Titles: plain text, entities decoded, the site's own name not repeated, never empty."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aggregator.normalise.html import looks_like_html, paragraphs, sanitise
from aggregator.normalise.identity import fold
from aggregator.normalise.text import clean_text, first_words

UNTITLED = "Untitled"
TITLE_FROM_TEXT_CHARS = 80
# " - Site", " | Site", " — Site", " :: Site", " · Site": the separators sites put
# between a story's title and their own name.
_SUFFIX = re.compile(r"^(?P<title>.+?)\s+(?:[-|–—·•~]|::)\s+(?P<site>[^-|–—·•]+?)\s*$")


def strip_site_suffix(title: str, site_names: Iterable[str]) -> tuple[str, str | None]:
    """The title without a trailing site name that repeats the source's name."""
    match = _SUFFIX.match(title)
    if match is None:
        return title, None
    site = fold(match["site"])
    if site and any(site == fold(name) for name in site_names if name):
        return match["title"].rstrip(" -|–—:·•"), match["site"]
    return title, None


def clean_title(
    raw: str | None, *, site_names: Iterable[str], fallback_text: str
) -> tuple[str, tuple[str, ...]]:
    """A non-empty one-line title, and notes on what was changed."""
    notes: list[str] = []
    text = raw or ""
    if looks_like_html(text):
        # The parser decodes the markup's entities once; clean_text then catches text
        # that was escaped twice ("AT&amp;amp;T"). The sanitiser reads the markup first,
        # as a browser would: lxml's parser ends a comment early at "-- … >" and would
        # give what follows ("<script>…") back as text.
        text = " ".join(paragraphs(sanitise(text)))
    title = clean_text(text)
    if raw and title != raw.strip():
        notes.append("title cleaned (markup, entities or spacing)")
    title, site = strip_site_suffix(title, site_names)
    if site is not None:
        notes.append(f"title suffix removed: {site}")
    if not title:
        title = clean_text(first_words(fallback_text, TITLE_FROM_TEXT_CHARS))
        notes.append("title missing; first words of the text used" if title else "")
    if not title:
        title = UNTITLED
        notes.append(f"title missing; {UNTITLED} used")
    return title, tuple(n for n in notes if n)
