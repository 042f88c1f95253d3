"""The copy of a story that its entry shows whole."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aggregator.dedupe.signature import READ_MORE_TAIL, TAIL_CHARS, TRUNCATED
from aggregator.model import Item
from aggregator.normalise.identity import fold

# Bump when folding or hashing changes. Version 2 added `truncated` and `dated`; version 3
# `unit` and `figures`. Older stored signatures still load: an untruncated text with an
# untrusted date, its source as its unit, and figures unknown (never a conflict).

# ---------------------------------------------------------------------------------------
# The representative of a story


def is_own_item(item: Item) -> bool:
    """The originating organisation's own copy: its own feed, not carried by anyone."""
    if item.via or not item.authors:
        return False
    org = fold(item.authors[0])
    feed_names = (item.source.title, item.source.source_id)
    return bool(org) and any(name and fold(name) == org for name in feed_names)


def is_teaser(item: Item) -> bool:
    """A copy that is not the whole release: it points at its full version, or ends cut
    short or in a "Read more"."""
    if item.readmore is not None:
        return True
    # Publishing reads items without their plain text: the end of the HTML tells as well.
    body = item.text or _TAG.sub(" ", (item.content_html or item.summary or "")[-TAIL_CHARS * 2 :])
    tail = body.rstrip()[-TAIL_CHARS:]
    return bool(TRUNCATED.search(tail) or READ_MORE_TAIL.search(tail))


_TAG = re.compile(r"<[^>]*>|^[^<]*>")


def choose_representative(items: Sequence[Item]) -> Item:
    """The copy an entry shows whole: the organisation's own item when present, else the
    earliest published whole copy, else the earliest teaser; ties by key."""
    if not items:
        raise ValueError("a story has at least one item")
    return min(items, key=lambda i: (not is_own_item(i), is_teaser(i), i.published, i.key))
