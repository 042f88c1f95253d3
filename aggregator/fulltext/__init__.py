"""Full text for teaser-only sources (issue 18): fetch the article, extract it, clean it,
credit it.

    items of this run (cleaned) ─► which want their page (`plan`, `detect`: per source)
      ─► the article cache in the store (by URL, with validators and the teaser's hash)
      ─► pages due: new URLs, changed teasers (a conditional GET), failures due a retry
      ─► `pages.fetch_pages` (robots.txt, crawl delay, per-run budget, the feeds' fetcher)
      ─► `extract` (CSS selector override, trafilatura, readability-lxml)
      ─► `apply` (the feed's cleaning, nh3 last; article as text and content, page as
         link, teaser as summary, a note for `explain`) ─► the cache rows saved

A page is fetched once per change: an item whose teaser is unchanged gets its article
from the cache, with no request. Every failure keeps the teaser and says why in the
item's notes; none fails the run. A page that failed, or that this run's budget left for
later, is tried again when its cache row's `retry_at` comes (6 hours after a failure,
the next run after a deferral): the stored items waiting for it join the items of the
next run that fetches their source (`pipeline`), so a feed that did not change is neither
downloaded again nor cleaned again for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator.fulltext.apply import with_article, with_note
from aggregator.fulltext.plan import (
    Article,
    Want,
    awaiting,
    from_cache,
    is_due,
    not_used,
    wanted,
)
from aggregator.model import Item
from aggregator.normalise.rules import BoilerplateRules, default_rules
from aggregator.store.articles import CachedArticle

if TYPE_CHECKING:
    from aggregator.config import Settings
    from aggregator.fulltext.extract import Extracted
    from aggregator.fulltext.pages import PageResult
    from aggregator.store.protocol import ArticleStore

__all__ = ["FullText", "awaiting", "complete_items"]


@dataclass(frozen=True, slots=True)
class FullText:
    items: dict[str, Item] = field(default_factory=dict)  # by key: with article or note


def complete_items(
    settings: Settings, store: ArticleStore, items: Sequence[Item], *, now: datetime, fetch: bool
) -> FullText:
    """The items of this run that a fetched article (or a note saying why not) changes.
    `fetch` False (a dry run): the cache only, no request, nothing written."""
    configured = settings.sources_by_id
    modes = {
        source_id: (spec.full_text, spec.full_text_selector)
        for source_id in {item.source.source_id for item in items}
        if (spec := configured.get(source_id)) is not None
    }
    wants = wanted(items, modes)
    if not wants:
        return FullText()
    cached = store.cached_articles(wants)
    due = [w for w in wants.values() if is_due(w, cached.get(w.url), now)]
    results = _fetch(settings, store, due, cached, now) if fetch and due else {}
    extracted: dict[str, Extracted | str] = {}
    if results:
        from aggregator.fulltext.fetched import extract_all

        extracted = extract_all(wants, results)
    rules = default_rules()
    changed: dict[str, Item] = {}
    rows: list[CachedArticle] = []
    for want in wants.values():
        row = cached.get(want.url)
        result = results.get(want.url)
        if result is None:
            found: Article | str = from_cache(want, row, "not fetched in a dry run")
        else:
            from aggregator.fulltext.fetched import resolve

            found, new_row = resolve(want, row, result, extracted.get(want.url), now)
            rows.extend([new_row] if new_row is not None else [])
        for item in want.items:
            changed[item.key] = _finish(item, found, want.url, rules)
    if fetch:
        store.save_articles(rows)
    return FullText(changed)


def _fetch(
    settings: Settings,
    store: ArticleStore,
    due: list[Want],
    cached: dict[str, CachedArticle],
    now: datetime,
) -> dict[str, PageResult]:
    # Imported here: httpx and the extractors load only when a page is to be fetched.
    from aggregator.fulltext.pages import PageJob, Robots, fetch_pages, fresh_robots, origin_of
    from aggregator.ingest.http import Validators
    from aggregator.runtime import eventloop

    def job(want: Want) -> PageJob:
        row = cached.get(want.url)
        if row is None or row.html is None:
            return PageJob(url=want.url)
        return PageJob(url=want.url, validators=Validators(row.etag, row.last_modified))

    origins = sorted({origin_of(w.url) for w in due})
    robots = Robots(known=fresh_robots(filter(None, map(store.cached_robots, origins)), now))
    results = eventloop.run(
        fetch_pages(
            [job(w) for w in due],
            settings=settings.fetch,
            robots=robots,
            pages=settings.full_text.pages_per_run,
            seconds=settings.full_text.seconds_per_run,
            now=now,
        )
    )
    for fetched in robots.fetched:
        store.save_robots(fetched)
    return results


def _finish(item: Item, found: Article | str, url: str, rules: BoilerplateRules) -> Item:
    if isinstance(found, str):
        return with_note(item, found)
    done = with_article(item, found.html, page_url=found.page_url, method=found.method, rules=rules)
    return with_note(item, not_used(url, done)) if isinstance(done, str) else done
