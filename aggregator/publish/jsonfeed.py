"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1) of the same entries as index.atom.

Attribution travels in an `_aggregator` extension object on each item (custom keys start
with an underscore in JSON Feed): the source the entry came from and the other copies
merged into it, the same facts atom:source and rel="via" carry in Atom.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aggregator.publish.clean import PublishedEntry
from aggregator.publish.info import FeedInfo

VERSION = "https://jsonfeed.org/version/1.1"
JSON_PATH = "index.json"


def _item(entry: PublishedEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id, "url": entry.link}
    item["title"] = entry.title
    if entry.content_html:
        item["content_html"] = entry.content_html
    else:
        item["content_text"] = entry.summary or entry.title
    if entry.summary:
        item["summary"] = entry.summary
    item["date_published"] = entry.published.isoformat()
    item["date_modified"] = entry.updated.isoformat()
    item["authors"] = [{"name": name} for name in entry.authors]
    if entry.categories:
        item["tags"] = list(entry.categories)
    item["_aggregator"] = {
        "source": {
            "id": entry.source.source_id,
            "feed_id": entry.source.feed_id,
            "title": entry.source.title,
            "url": entry.source.link,
            "updated": entry.source.updated.isoformat(),
        },
        "via": [{"url": via.href, "title": via.title} for via in entry.vias],
    }
    return item


def render_json_feed(info: FeedInfo, entries: Sequence[PublishedEntry]) -> bytes:
    """The JSON Feed document of `entries` (already repaired, newest first and limited)."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": info.title,
        "home_page_url": info.url("index.html"),
        "feed_url": info.url(JSON_PATH),
    }
    if info.subtitle:
        feed["description"] = info.subtitle
    feed["authors"] = [{"name": info.author}]
    if info.hub:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub}]
    feed["items"] = [_item(e) for e in entries]
    # Key order is fixed by construction, so the bytes are stable without sort_keys.
    text = json.dumps(feed, ensure_ascii=False, indent=2) + "\n"
    # Entries are repaired already; "replace" only guards the operator's FeedInfo text.
    return text.encode("utf-8", "replace")
