"""When an item's text is a teaser worth replacing with its article (pure).

`auto` fetches the page of an item whose text looks cut: a "Read more" link was removed
from it (cleaning keeps its target as `Item.readmore`), it ends in an ellipsis or a
read-more phrase, it stops in the middle of a sentence, or it is short. `always` fetches
the page of every item with a link; `never` none.
"""

from __future__ import annotations

import re

from aggregator.model import Item

# A teaser is a sentence or two; a release is several paragraphs. Below this many words
# an item is taken as cut even when it ends cleanly (a one-sentence digest entry).
SHORT_WORDS = 60
# Tail patterns are matched on the last characters only (cheap on long texts).
_TAIL_CHARS = 160
_ELLIPSIS = re.compile(r"(…|\.\.\.|\[…\]|\[\.\.\.\])\W*$")
_READ_MORE = re.compile(
    r"(read more|continue reading|read the full (story|release|article)|full story)\W*$",
    re.IGNORECASE,
)
# A complete text ends with a sentence end, possibly followed by quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?]['\"”’)\]]*\s*$")


def article_url(item: Item) -> str | None:
    """The page that holds the article: the read-more target, else the item's link."""
    return item.readmore or item.link


def cut_reason(item: Item) -> str | None:
    """Why the item's text looks cut short, or None when it looks whole."""
    tail = item.text[-_TAIL_CHARS:].rstrip()
    if item.readmore is not None:
        return "it ends in a read-more link"
    if not tail:
        return "it has no text"
    if _ELLIPSIS.search(tail):
        return "it ends in an ellipsis"
    if _READ_MORE.search(tail):
        return "it ends in a read-more phrase"
    if not _SENTENCE_END.search(tail):
        return "it stops in the middle of a sentence"
    words = len(item.text.split())
    if words < SHORT_WORDS:
        return f"it is short ({words} words)"
    return None


def fetch_reason(mode: str, item: Item) -> str | None:
    """Why the article page of `item` is wanted under `mode` (auto, always or never)."""
    if mode == "never" or article_url(item) is None:
        return None
    if mode == "always":
        return "full_text = always"
    return cut_reason(item)
