"""What the stages of a run ask of a store, as Protocols (typed; checked by mypy).

`Store` (SQLite or PostgreSQL through one class, see `aggregator.store`) satisfies every
one of them: `pipeline.run_once` hands its `Store` to stages typed with these, so mypy
proves it. A new backend is one module that
implements these methods; the decisions themselves never see a store: they get a frozen
snapshot loaded before deciding (`dedupe.plan.load_view`) and are tested with none.

Split by stage, so each says what it may touch:

* `GatherStore`: reading the sources needs what was read before (seed files, the digests
  of feeds' entries), the sources' rows (created for new sources: bookkeeping only), the
  organisations learnt and the last configs, the full-text caches, and which items are
  stored as they are (their signatures need not be computed).
* `MatchStore`: the read-only view matching decides from.
* `CommitStore`: that view, and the writes of a run (items, moves, shared links, what was
  read, the sources' states), and the operator's rules applied to stored items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from aggregator.model import Item, SourceSpec
from aggregator.store.articles import CachedArticle, CachedRobots
from aggregator.store.readstate import SeedFileRecord, SeedFolder, SeedStamp, SourceEntries

if TYPE_CHECKING:
    from aggregator.store import (
        Decision,
        ItemWrite,
        KnownItem,
        LinkUseRow,
        SourceState,
        StoredItem,
    )

__all__ = ["ArticleStore", "CommitStore", "GatherStore", "MatchStore", "MetaStore"]


class MetaStore(Protocol):
    def get_meta(self, name: str) -> str | None: ...


class ArticleStore(Protocol):
    """The full-text caches (`aggregator.fulltext`): articles by URL, robots.txt by origin."""

    def cached_articles(self, urls: Iterable[str]) -> dict[str, CachedArticle]: ...

    def save_articles(self, rows: Sequence[CachedArticle]) -> None: ...

    def cached_robots(self, origin: str) -> CachedRobots | None: ...

    def save_robots(self, robots: CachedRobots) -> None: ...


class GatherStore(MetaStore, ArticleStore, Protocol):
    def seed_files(self) -> Mapping[str, SeedStamp]: ...

    def seed_files_at(self, paths: Iterable[str]) -> Mapping[str, SeedStamp]: ...

    def seed_folder(self) -> SeedFolder | None: ...

    def items_awaiting_pages(
        self, source_ids: Iterable[str], now: datetime, *, feed_id_base: str
    ) -> Sequence[Item]: ...

    def known_items(self, keys: Iterable[str]) -> Mapping[str, KnownItem]: ...

    def source_entries(self, source_ids: Iterable[str]) -> Mapping[str, SourceEntries]: ...

    def ensure_sources(
        self, specs: Sequence[SourceSpec], *, write: bool = True
    ) -> dict[str, SourceState]: ...

    def lease_these(
        self,
        owner: str,
        ids: Sequence[str],
        *,
        now: datetime,
        until: datetime,
        as_read: Mapping[str, datetime | None] | None = None,
    ) -> set[str]: ...


class MatchStore(Protocol):
    def known_items(self, keys: Iterable[str]) -> Mapping[str, KnownItem]: ...

    def tombstoned(self, keys: Iterable[str]) -> set[str]: ...

    def entry_size(self, entry_id: str) -> int: ...

    def signatures(self, since: datetime) -> Sequence[tuple[str, str]]: ...

    def decisions(self, *, active_only: bool = False) -> Sequence[Decision]: ...

    def shared_links(self, links: Iterable[str] | None = None) -> set[str]: ...

    def link_uses(self, links: Iterable[str]) -> Sequence[LinkUseRow]: ...

    # The window by key (`aggregator.dedupe.lookup`).
    def lookup_covers(self, since: datetime) -> bool: ...

    def lookup(self, tokens: Iterable[str], since: datetime) -> Sequence[tuple[str, str, str]]: ...

    def keys_under(self, tokens: Iterable[str], since: datetime) -> Sequence[tuple[str, str]]: ...

    def window_signatures(
        self, since: datetime, *, keys: Iterable[str] = (), entries: Iterable[str] = ()
    ) -> Sequence[tuple[str, str, str]]: ...


class RulesStore(Protocol):
    """What applying `[dedupe] never_merge` / `always_merge` to stored items needs."""

    def find_items(self, ident: str, *, feed_id_base: str) -> Sequence[StoredItem]: ...

    def entry_size(self, entry_id: str) -> int: ...

    def entry_items(self, entry_id: str) -> Sequence[str]: ...

    def reassign(self, key: str, entry_id: str, reason: str, seen_at: datetime) -> None: ...


class CommitStore(MatchStore, RulesStore, MetaStore, Protocol):
    def write_items(self, writes: Sequence[ItemWrite]) -> None: ...

    def add_shared_links(self, links: dict[str, str], noted_at: datetime) -> None: ...

    def cover_lookup(self, since: datetime) -> None: ...

    def set_meta(self, name: str, value: str) -> None: ...

    def record_config_keys(self, keys: Mapping[str, str]) -> None: ...

    def touch_items(self, keys: Sequence[str], seen_at: datetime) -> None: ...

    def save_reads(
        self,
        files: Sequence[SeedFileRecord],
        entries: Sequence[SourceEntries],
        *,
        gone: Sequence[str] = (),
        folder: SeedFolder | None = None,
    ) -> None: ...

    def save_sources(self, states: Sequence[SourceState]) -> None: ...

    def prune(self, before: datetime, now: datetime) -> int: ...
