"""Fetching article pages politely, through the feeds' fetcher (`aggregator.ingest.http`:
address check on every hop, body and decompression caps, total deadline, conditional GET).

    fetch_pages(jobs)
      └─ per origin, in parallel (at most `concurrency` requests in flight)
           ├─ robots.txt: from the store when fetched within a day, else fetched (a 4xx
           │  means no rules; a 5xx or no answer, a failure of each of the site's pages)
           └─ pages one after another (or `per_host` at once when robots.txt asks for no
              crawl delay), each start at least `Crawl-delay` seconds after the last
    budget: at most `pages` requests and `seconds` of wall time for the whole phase; a page
    not fetched within it is `DEFERRED` and waits for the next run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aggregator.config import FetchConfig
from aggregator.exceptions import FetchError
from aggregator.fulltext.robots import ALLOW_ALL, RobotsRules
from aggregator.ingest.http import (
    Fetcher,
    FetchOutcome,
    FetchRequest,
    Validators,
)
from aggregator.store.articles import CachedRobots
from aggregator.urlparts import redact

# RFC 9309 2.4: a crawler should not use a cached robots.txt for more than 24 hours.
ROBOTS_TTL = timedelta(hours=24)
# robots.txt may ask for any delay; above this a run fetches one page of that site.
MAX_CRAWL_DELAY = 60.0
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"
SOURCE_ID = "full-text"  # FetchRequest wants a source: the errors name the page URL anyway


@dataclass(frozen=True, slots=True, kw_only=True)
class PageJob:
    url: str
    validators: Validators = field(default_factory=Validators)


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not fetched in this run: the budget was spent."""

    why: str


PageResult = FetchOutcome | FetchError | Deferred


@dataclass(slots=True)
class _Budget:
    pages: int
    deadline: float  # loop time

    def take(self, loop: asyncio.AbstractEventLoop) -> Deferred | None:
        if self.pages <= 0:
            return Deferred("this run's page budget is spent")
        if loop.time() >= self.deadline:
            return Deferred("this run's time budget is spent")
        self.pages -= 1
        return None


@dataclass(slots=True)
class Robots:
    """robots.txt per origin: what the store had (fresh ones) and what this run fetched."""

    known: dict[str, RobotsRules] = field(default_factory=dict)
    fetched: list[CachedRobots] = field(default_factory=list)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def fresh_robots(cached: Iterable[CachedRobots], now: datetime) -> dict[str, RobotsRules]:
    return {c.origin: RobotsRules(c.body) for c in cached if now - c.fetched_at < ROBOTS_TTL}


async def fetch_pages(
    jobs: Sequence[PageJob],
    *,
    settings: FetchConfig,
    robots: Robots,
    pages: int,
    seconds: float,
    now: datetime,
) -> dict[str, PageResult]:
    """Each job's page (or why not), by URL; jobs in order of priority."""
    loop = asyncio.get_running_loop()
    budget = _Budget(pages, loop.time() + seconds)
    by_origin: defaultdict[str, list[PageJob]] = defaultdict(list)
    for job in jobs:
        by_origin[origin_of(job.url)].append(job)
    results: dict[str, PageResult] = {}
    overall = asyncio.Semaphore(settings.concurrency)
    async with Fetcher(settings) as fetcher:
        site = _Site(fetcher, overall, budget, robots, results, now)
        async with asyncio.TaskGroup() as group:
            for origin, origin_jobs in by_origin.items():
                group.create_task(site.crawl(origin, origin_jobs, settings.per_host))
    return results


@dataclass(slots=True)
class _Site:
    fetcher: Fetcher
    overall: asyncio.Semaphore
    budget: _Budget
    robots: Robots
    results: dict[str, PageResult]
    now: datetime
    locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    unreadable: dict[str, Deferred | FetchError] = field(default_factory=dict)

    async def crawl(self, origin: str, jobs: list[PageJob], per_host: int) -> None:
        rules = await self.rules_for(origin)
        if not isinstance(rules, RobotsRules):
            # RFC 9309 2.3.1.4: a robots.txt that cannot be reached (server error,
            # network) disallows the whole site, until it can be read. A failure, not a
            # deferral: an unreachable site must not make its feed be read again.
            self.results.update((job.url, rules) for job in jobs)
            return
        delay = min(rules.crawl_delay(), MAX_CRAWL_DELAY)
        queue = list(reversed(jobs))
        gate = _Gate(delay)
        workers = per_host if delay == 0 else 1
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(jobs))):
                group.create_task(self._work(origin, queue, rules, gate))

    async def rules_for(self, origin: str) -> RobotsRules | Deferred | FetchError:
        """The origin's robots.txt rules (asked for once per run), or why there are none."""
        async with self.locks[origin]:
            known = self.robots.known.get(origin) or self.unreadable.get(origin)
            if known is None:
                known = await self._robots(origin)
                if isinstance(known, RobotsRules):
                    self.robots.known[origin] = known
                else:
                    self.unreadable[origin] = known
            return known

    async def _work(
        self, origin: str, queue: list[PageJob], rules: RobotsRules, gate: _Gate
    ) -> None:
        loop = asyncio.get_running_loop()
        while queue:
            job = queue.pop()
            if not rules.allows(job.url):
                self.results[job.url] = _refusal(job.url, "robots.txt disallows it")
                continue
            if not await gate.wait(self.budget.deadline):
                self.results[job.url] = Deferred("the site's crawl delay reaches past the budget")
                continue
            spent = self.budget.take(loop)
            if spent is not None:
                self.results[job.url] = spent
                continue
            self.results[job.url] = await self._redirect_checked(
                job, origin, await self._fetch(job)
            )

    async def _redirect_checked(self, job: PageJob, origin: str, result: PageResult) -> PageResult:
        """A page reached through a redirect to another site is used only if that site's
        robots.txt allows it too (the fetcher follows redirects itself, so the request
        was made; its content is not used)."""
        if not isinstance(result, FetchOutcome):
            return result
        target = origin_of(result.final_url)
        if target == origin:
            return result
        rules = await self.rules_for(target)
        if not isinstance(rules, RobotsRules):
            return rules
        if not rules.allows(result.final_url):
            final = redact(result.final_url)
            return _refusal(job.url, f"it redirects to {final}, which its robots.txt disallows")
        return result

    async def _fetch(self, job: PageJob) -> PageResult:
        request = FetchRequest(
            source_id=SOURCE_ID, url=job.url, validators=job.validators, accept=PAGE_ACCEPT
        )
        try:
            async with self.overall, asyncio.timeout_at(self.budget.deadline):
                return await self.fetcher.fetch(request)
        except FetchError as error:
            return error
        except TimeoutError:
            return Deferred("this run's time budget ran out while fetching it")

    async def _robots(self, origin: str) -> RobotsRules | Deferred | FetchError:
        request = FetchRequest(
            source_id=SOURCE_ID, url=f"{origin}/robots.txt", accept=ROBOTS_ACCEPT
        )
        try:
            async with self.overall, asyncio.timeout_at(self.budget.deadline):
                outcome = await self.fetcher.fetch(request)
        except TimeoutError:
            return Deferred("this run's time budget ran out while fetching robots.txt")
        except FetchError as error:
            if error.status is not None and 400 <= error.status < 500:
                # RFC 9309 2.3.1.3: "unavailable" (404, 403, …): no rules at all.
                self.robots.fetched.append(
                    CachedRobots(origin=origin, body=None, fetched_at=self.now)
                )
                return ALLOW_ALL
            return _refusal(origin, f"robots.txt of {origin} could not be read ({error.message})")
        body = (outcome.body or b"").decode("utf-8", errors="replace")
        self.robots.fetched.append(CachedRobots(origin=origin, body=body, fetched_at=self.now))
        return RobotsRules(body)


class _Gate:
    """Spaces the starts of requests to one origin by its crawl delay."""

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._next = 0.0

    async def wait(self, deadline: float) -> bool:
        """Wait for the next start; False when it would come after `deadline` (loop time)."""
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        if start > deadline:
            return False
        self._next = start + self._delay
        if start > now:
            await asyncio.sleep(start - now)
        return True


def _refusal(url: str, why: str) -> FetchError:
    return FetchError(why, source_id=SOURCE_ID, url=redact(url))


def content_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()
