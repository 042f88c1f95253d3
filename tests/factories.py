"""The one way tests build records by hand: an `Item`, its `Attribution`, an `Entry`.

Every field has a plain default, so a test names only what it is about; any field of
the record can be given. A test that needs an item as cleaning makes it builds a
`RawEntry` and calls `normalise_entry` instead (see tests/test_valid_entry.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aggregator.model import Attribution, Entry, Item

__all__ = ["NOW", "make_attribution", "make_entry", "make_item"]

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_attribution(source_id: str = "src", **fields: Any) -> Attribution:
    """The atom:source data of `source_id`: its feed at https://<source_id>.example/feed."""
    feed = f"https://{source_id}.example/feed"
    values: dict[str, Any] = {"source_id": source_id, "feed_url": feed, "feed_id": feed}
    values.update(fields)
    return Attribution(**values)


def make_item(
    key: str = "k",
    *,
    text: str = "body",
    source: str | Attribution = "src",
    when: datetime = NOW,
    **fields: Any,
) -> Item:
    """An item of `source` (an id or its attribution) published and updated `when`,
    whose plain text is `text`; `fields` set any other field of `Item`."""
    attribution = make_attribution(source) if isinstance(source, str) else source
    values: dict[str, Any] = {
        "key": key,
        "origin_id": key,
        "content_hash": "h-" + text,
        "title": f"Title {key}",
        "link": f"https://{attribution.source_id}.example/{key}",
        "summary": None,
        "content_html": f"<p>{text}</p>",
        "text": text,
        "authors": (),
        "categories": (),
        "published": when,
        "updated": when,
        "source": attribution,
    }
    values.update(fields)
    return Item(**values)


def make_entry(item: Item | None = None, *, entry_id: str | None = None, **fields: Any) -> Entry:
    """An entry shown through `item` (default: `make_item()`), with id `urn:e:<key>`;
    `fields` set any other field of `Entry` (vias, updated, carried_by)."""
    shown = item if item is not None else make_item()
    return Entry(id=entry_id or f"urn:e:{shown.key}", item=shown, **fields)
