"""Publishing the store: entries built from stored items, every output file written,
the WebSub hub told. Skipped when nothing changed since the last publish."""

from __future__ import annotations

import hashlib
import json

from aggregator import __version__, eventloop
from aggregator.config import Settings
from aggregator.entries import build_entries
from aggregator.model import Item
from aggregator.publish import FeedInfo, PublishReport, SourceInfo, publish_all
from aggregator.store import Store


def feed_info(settings: Settings) -> FeedInfo:
    f = settings.feed
    return FeedInfo(
        id=f.feed_id,
        title=f.title,
        subtitle=f.subtitle,
        base_url=f.base_url,
        author=f.author,
        hub=f.hub,
        entries_per_feed=f.entries,
    )


def _publish_fingerprint(settings: Settings, store: Store, sources: list[SourceInfo]) -> str:
    """Changes whenever anything that shapes the output changes: stored items (the store's
    data version), sources, feed settings, the output folder, or the aggregator version."""
    parts = [
        __version__,  # a new version may render differently
        repr(settings.feed),
        str(settings.out.resolve()),
        repr(sources),
        store.data_version(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def publish(
    settings: Settings, store: Store, *, force: bool = True
) -> tuple[PublishReport | None, int]:
    """Render and write the outputs. Without `force`, skip the work (None) when nothing
    changed since the last publish and the output is still there, and otherwise render
    only the files whose content changed; with it, render every file."""
    sources = [
        SourceInfo(id=s.id, url=s.url, title=s.display_title, site_link=s.site_link, tags=s.tags)
        for s in store.sources()
    ]
    fingerprint = _publish_fingerprint(settings, store, sources)
    if (
        not force
        and store.get_meta("published_fingerprint") == fingerprint
        and (settings.out / "index.atom").is_file()
    ):
        return None, int(store.get_meta("published_entries") or 0)
    stored = store.items(feed_id_base=settings.feed.base_url, with_text=False)
    grouped: dict[str, list[Item]] = {}
    for s in stored:
        grouped.setdefault(s.entry_id, []).append(s.item)
    entries = build_entries(sorted(grouped.items()))
    previous = {} if force else _published_keys(store)
    report = publish_all(settings.out, feed_info(settings), entries, sources, previous=previous)
    store.set_meta("published_keys", json.dumps(report.keys, sort_keys=True))
    store.set_meta("published_fingerprint", fingerprint)
    store.set_meta("published_entries", str(len(entries)))
    return report, len(entries)


def _published_keys(store: Store) -> dict[str, str]:
    """The key of each file as the last publish wrote it ({} if unknown or unreadable:
    then every file is rendered, which is always correct)."""
    try:
        keys = json.loads(store.get_meta("published_keys") or "{}")
    except ValueError:
        return {}
    return keys if isinstance(keys, dict) else {}


def notify_hub(settings: Settings, published: PublishReport) -> list[str]:
    """WebSub: tell the hub which feeds changed (never fails the run)."""
    hub = settings.feed.hub
    topics = [p for p in published.written if p.endswith(".atom")]
    if not hub or not topics:
        return []
    from aggregator.websub import ping_hub  # httpx: only when there is a hub to ping

    info = feed_info(settings)
    return eventloop.run(ping_hub(hub, [info.url(p) for p in topics]))
