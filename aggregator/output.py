"""Publishing the store: entries built from stored items, every output file written,
the WebSub hub told. Skipped when nothing changed since the last publish."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from aggregator import __version__, eventloop
from aggregator.config import Settings
from aggregator.entries import build_entries
from aggregator.model import Entry, Item
from aggregator.publish import FeedInfo, PublishReport, SourceInfo, publish_all, write_atomically
from aggregator.publish.atom import INDEX_PATH
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


# What the last publish into a folder was, kept in that folder: each machine of a scaled-out
# deployment that publishes to a folder of its own knows what its own folder holds, and a
# folder that was emptied or replaced is published in full.
MANIFEST_NAME = ".published.json"  # hidden: `aggregator serve` does not serve it


@dataclass(frozen=True, slots=True)
class _Manifest:
    fingerprint: str = ""
    entries: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # output path → its key
    # feeds without entries: path → (key, ISO time of its last change)
    stamps: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, out_dir: Path) -> _Manifest:
        """The folder's manifest; an empty one when it is missing or unreadable (then
        every file is rendered, which is always correct)."""
        try:
            data = json.loads((out_dir / MANIFEST_NAME).read_bytes())
            keys = data["keys"]
            stamps = data.get("stamps", {})
            if not isinstance(keys, dict) or not isinstance(stamps, dict):
                return cls()
            stamps = {
                path: (str(stamp[0]), str(stamp[1]))
                for path, stamp in stamps.items()
                if isinstance(stamp, list) and len(stamp) == 2
            }
            return cls(str(data["fingerprint"]), int(data["entries"]), keys, stamps)
        except (OSError, ValueError, TypeError, KeyError):
            return cls()

    def write(self, out_dir: Path) -> None:
        data = {
            "fingerprint": self.fingerprint,
            "entries": self.entries,
            "keys": self.keys,
            "stamps": self.stamps,
        }
        write_atomically(out_dir / MANIFEST_NAME, json.dumps(data, sort_keys=True).encode())


def _publish_fingerprint(store: Store, settings: Settings, sources: list[SourceInfo]) -> str:
    """Changes whenever anything that shapes the output changes: stored items (the store's
    data version), sources, feed settings, or the aggregator version."""
    parts = [
        __version__,  # a new version may render differently
        repr(settings.feed),
        repr(sources),
        store.data_version(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def publish(
    settings: Settings, store: Store, *, force: bool = True, now: datetime | None = None
) -> tuple[PublishReport | None, int]:
    """Render and write the outputs. Without `force`, skip the work (None) when nothing
    changed since the last publish into this folder and the output is still there, and
    otherwise render only the files whose content changed; with it, render every file.
    `now` (default: the clock) dates a feed without entries that changed."""
    sources = [
        SourceInfo(
            id=s.id,
            url=s.url,
            title=s.display_title,
            site_link=s.site_link,
            tags=s.tags,
            feed_id=s.feed_id,
        )
        for s in store.sources()
    ]
    fingerprint = _publish_fingerprint(store, settings, sources)
    last = _Manifest.read(settings.out)
    if not force and last.fingerprint == fingerprint and (settings.out / INDEX_PATH).is_file():
        return None, last.entries
    stored = store.items(feed_id_base=settings.feed.base_url, with_text=False)
    grouped: dict[str, list[Item]] = {}
    for s in stored:
        grouped.setdefault(s.entry_id, []).append(s.item)
    entries = [_with_carriers(e, grouped[e.id]) for e in build_entries(sorted(grouped.items()))]
    previous = {} if force else last.keys
    report = publish_all(
        settings.out,
        feed_info(settings),
        entries,
        sources,
        previous=previous,
        now=now or datetime.now(UTC),
        stamps=last.stamps,
    )
    _Manifest(fingerprint, len(entries), dict(report.keys), dict(report.stamps)).write(settings.out)
    return report, len(entries)


def _with_carriers(entry: Entry, copies: list[Item]) -> Entry:
    """The entry with every source that carried a copy: each one's feed holds the story,
    not only the representative's (the same entry, same id, as in index.atom)."""
    if len(copies) == 1:
        return entry  # most stories: the representative's source alone, known already
    return replace(entry, carried_by=tuple(sorted({c.source.source_id for c in copies})))


def notify_hub(settings: Settings, published: PublishReport) -> list[str]:
    """WebSub: tell the hub which feeds changed (never fails the run)."""
    hub = settings.feed.hub
    topics = [p for p in published.written if p.endswith(".atom")]
    if not hub or not topics:
        return []
    from aggregator.websub import ping_hub  # httpx: only when there is a hub to ping

    info = feed_info(settings)
    return eventloop.run(ping_hub(hub, [info.url(p) for p in topics]))
