"""The values publishing needs besides the entries: the feed's own description, the
sources, and the report of one publishing run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aggregator import __version__


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedInfo:
    """The aggregated feed as its operator describes it."""

    id: str  # stable absolute IRI of the feed; sub-feed ids are derived from it
    title: str
    subtitle: str | None = None
    base_url: str  # where feeds/ is served, e.g. "http://127.0.0.1:8080/"
    author: str
    hub: str | None = None  # WebSub hub; every Atom feed then carries <link rel="hub">
    generator: tuple[str, str] = ("aggregator", __version__)
    entries_per_feed: int = 50

    def url(self, path: str) -> str:
        """The public URL of an output file, `path` relative to feeds/."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source as listed in sources.opml and published as sources/<slug>.atom."""

    id: str  # slug
    url: str  # the source's URL, or its seed path
    title: str | None = None
    site_link: str | None = None
    tags: tuple[str, ...] = ()
    feed_id: str | None = None  # the id its own feed gave itself (aggregator.sources.feeds)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishReport:
    """What one publish_all call did; paths are relative to the output directory."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    keys: Mapping[str, str] = field(default_factory=dict)  # path -> key of what it holds
    # Feeds without entries: path -> (key, ISO time of its last change), kept for the
    # next publish so that an unchanged empty feed keeps its `updated`.
    stamps: Mapping[str, tuple[str, str]] = field(default_factory=dict)
