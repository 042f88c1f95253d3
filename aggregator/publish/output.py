"""Publishing the store: entries built from stored items, every output file written,
the WebSub hub told. Skipped when nothing changed since the last publish."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator import __version__
from aggregator.config import Settings
from aggregator.publish import FeedInfo, PublishReport, SourceInfo, publish_all
from aggregator.publish.archive import month_of
from aggregator.publish.atom import INDEX_PATH
from aggregator.publish.clean import newest_first
from aggregator.publish.incremental import publish_changes
from aggregator.publish.manifest import Manifest, Placed
from aggregator.publish.site import LazyEntries
from aggregator.publish.versions import (
    Job,
    Loader,
    entry_versions,
    source_digests,
    stand_in,
    stories_of,
)
from aggregator.store import Store, attribution_for

log = logging.getLogger(__name__)


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


# The manifest of the publishes before `manifest.MANIFEST_DB`: read once, to publish an
# upgraded folder incrementally, then removed.
MANIFEST_NAME = ".published.json"  # hidden: `aggregator serve` does not serve it


@dataclass(frozen=True, slots=True)
class _Manifest:
    """What a full publish takes from the last one: its files' keys and stamps, and the
    dates of its entries of several items (from `manifest.Manifest` or the old JSON)."""

    keys: dict[str, str] = field(default_factory=dict)  # output path → its key
    # feeds without entries: path → (key, ISO time of its last change)
    stamps: dict[str, tuple[str, str]] = field(default_factory=dict)
    # entries of several items: id → [version, published, updated, carried_by, page], what
    # their representative gave them (one item's entry is known from the store's index)
    stories: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def read_json(cls, out_dir: Path) -> _Manifest:
        """The old JSON manifest; an empty one when it is missing or unreadable (then
        every file is rendered, which is always correct)."""
        try:
            data = json.loads((out_dir / MANIFEST_NAME).read_bytes())
            keys = data["keys"]
            stamps = data.get("stamps", {})
            stories = data.get("stories", {})
            if not all(isinstance(d, dict) for d in (keys, stamps, stories)):
                return cls()
            stamps = {
                path: (str(stamp[0]), str(stamp[1]))
                for path, stamp in stamps.items()
                if isinstance(stamp, list) and len(stamp) == 2
            }
            return cls(keys, stamps, stories)
        except (OSError, ValueError, TypeError, KeyError):
            return cls()

    @classmethod
    def of(cls, manifest: Manifest, multi: set[str]) -> _Manifest:
        files = manifest.files()
        return cls(
            {path: key for path, (key, _) in files.items()},
            {path: (key, stamp) for path, (key, stamp) in files.items() if stamp},
            {
                e.id: [
                    e.digest.hex(),
                    e.published.isoformat(),
                    e.updated.isoformat(),
                    list(e.carried_by),
                    e.page,
                ]
                for e in manifest.entries(multi).values()
            }
            if multi
            else {},
        )


def _publish_fingerprint(settings: Settings) -> str:
    """Changes whenever anything that shapes every file changes: the feed settings or the
    aggregator version (then the whole folder is published again). The sources shape
    their own feeds, the directory and their entries' atom:source only (`incremental`)."""
    parts = [
        __version__,  # a new version may render differently
        repr(settings.feed),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def publish(
    settings: Settings, store: Store, *, force: bool = True, now: datetime | None = None
) -> tuple[PublishReport | None, int]:
    """Render and write the outputs. Without `force`, skip the work (None) when nothing
    changed since the last publish into this folder and the output is still there, and
    otherwise render only the files whose content changed, from the entries the store
    logged as changed since then (`incremental`); with it, render every file.
    `now` (default: the clock) dates a feed without entries that changed.

    A full publish (every entry's version read, the files whose key changed rendered)
    when: `force`; the folder has no manifest or an unreadable one; the aggregator
    version, feed settings or sources changed; index.atom is missing; or a file was
    added, deleted or renamed in the folder by someone else (so a file deleted by hand
    comes back on the next publish)."""
    states = store.sources()
    sources = [
        SourceInfo(
            id=s.id,
            url=s.url,
            title=s.display_title,
            site_link=s.site_link,
            tags=s.tags,
            feed_id=s.feed_id,
        )
        for s in states
    ]
    base_url = settings.feed.base_url
    attributed = {s.id: repr(attribution_for(s, feed_id_base=base_url)) for s in states}
    job = Job(
        settings=settings,
        info=feed_info(settings),
        store=store,
        sources=sources,
        attributed=attributed,
        fingerprint=_publish_fingerprint(settings),
        listed=hashlib.sha256(repr(sources).encode()).hexdigest(),
        data_version=int(store.data_version()),  # before any item is read
        now=now or datetime.now(UTC),
    )
    manifest = Manifest.open(settings.out)
    try:
        why = _why_in_full(job, manifest, force=force)
        if why is None and manifest is not None:
            return publish_changes(job, manifest)
        log.info("publishing every file: %s", why)
        return _publish_full(job, manifest, force=force)
    finally:
        if manifest is not None:
            manifest.close()


def _why_in_full(job: Job, manifest: Manifest | None, *, force: bool) -> str | None:
    """Why this publish must look at every file; None when the changes will do."""
    out = job.settings.out
    if force:
        return "asked to"
    if manifest is None:
        return f"{out} has no manifest of its last publish"
    if int(manifest.fact("version") or 0) > job.data_version:
        return "the database holds an older version of the data than the folder shows"
    if manifest.fact("fingerprint") != job.fingerprint:
        return "the feed settings or the aggregator version changed"
    if not (out / INDEX_PATH).is_file():
        return f"{out / INDEX_PATH} is missing"
    if manifest.folders_touched(out):
        return f"files in {out} were added, removed or renamed since its last publish"
    return None


def _publish_full(job: Job, manifest: Manifest | None, *, force: bool) -> tuple[PublishReport, int]:
    settings, store = job.settings, job.store
    base_url = settings.feed.base_url
    versions = entry_versions(store.item_versions(), job.attributed)
    multi = {i for i, v in versions.items() if v.dates is None}
    if force:
        last = _Manifest()
    elif manifest is not None:
        last = _Manifest.of(manifest, multi)
    else:
        last = _Manifest.read_json(settings.out)
    loader = Loader(store, base_url)
    stories = stories_of(versions, last.stories, loader)
    entries = newest_first(stand_in(entry_id, v, stories) for entry_id, v in versions.items())
    report = publish_all(
        settings.out,
        job.info,
        (),
        job.sources,
        previous=last.keys,
        now=job.now,
        stamps=last.stamps,
        lazy=LazyEntries(entries, lambda e: versions[e.id].digest, loader.load),
    )
    written = Manifest.create(settings.out)
    try:
        with written.transaction():
            written.add_entries(
                Placed(e.id, versions[e.id].digest, e.published, e.updated, e.page, e.carried_by)
                for e in entries
            )
            months: dict[str, int] = {}
            for e in entries:
                month = month_of(e)
                months[month] = months.get(month, 0) + 1
            written.recount_months(months)
            written.save_files(report.keys, report.stamps, ())
            written.set_source_digests(source_digests(job.attributed))
            written.set_facts(job.facts(len(entries)))
        written = written.replace_into(settings.out)
        with contextlib.suppress(FileNotFoundError):
            (settings.out / MANIFEST_NAME).unlink()  # an upgraded folder's old manifest
        written.seal(settings.out)
    finally:
        written.close()
    return report, len(entries)


def notify_hub(settings: Settings, published: PublishReport) -> list[str]:
    """WebSub: tell the hub which feeds changed (never fails the run)."""
    hub = settings.feed.hub
    topics = [p for p in published.written if p.endswith(".atom")]
    if not hub or not topics:
        return []
    # httpx and asyncio only when there is a hub to ping: not in every run's start-up
    from aggregator.publish.websub import ping_hub
    from aggregator.runtime import eventloop

    info = feed_info(settings)
    return eventloop.run(ping_hub(hub, [info.url(p) for p in topics]))
