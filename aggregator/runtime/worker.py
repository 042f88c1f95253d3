"""`aggregator worker`: one of any number of processes, on any number of machines, that
share the due remote sources through leases in the database (issue 17).

    register ─► apply the config to the sources' rows (under the writer lock)
    loop:  claim a batch of due sources (a lease each)                    store.leases
           ─► fetch it on the fetcher's thread (`runtime.fetching`)      one client for life
           ─► claim the next batches and start their fetch               a batch ahead; while
                                                                         fetching is slower,
                                                                         as many as keep its
                                                                         slots busy
           ─► take what has answered, up to a batch, in the order the    a slow feed holds
              fetches end                                                back only itself
           ─► parse, clean it: `pipeline.gather_read`                    no lock held
           ─► the sources with no item (304s): their states only,        no lock held
              `commit_states`, each written as its lease ends            (checked: ours)
           ─► match and store the rest: `pipeline.commit` under the      one writer
              writer lock; while another worker holds it, the next
              group is parsed and cleaned meanwhile, and both are
              stored in one turn
    a heartbeat thread (its own connection) renews the leases and the worker's row

Why the lease never lets a source be fetched twice within its interval: a live worker
renews its leases every quarter lease, so they cannot expire while it fetches; a
source's state (its next due time) is written in the same statement that ends the
lease, and only while the lease is still this worker's. A worker that dies renews
nothing: its leases expire after at most one lease and the next claim takes them.
Matching stays one entry per story because the match + store step is serialised under
the writer lock every writer takes (`runtime.locking`): two workers' copies of one story
are matched one after the other, the second against the first as stored.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, FetchError, StorageError
from aggregator.ingest.collect import fetch_requests, read_outcomes
from aggregator.ingest.policy import afresh, keys_to_record, reconfigured, recorded_configs
from aggregator.pipeline import (
    Committed,
    Gathered,
    combined,
    commit,
    commit_states,
    compile_filters_of,
    gather_read,
    has_writes,
    split_states_only,
)
from aggregator.runtime.locking import WriterBusy, WriterLock
from aggregator.runtime.renewal import LeaseRenewal
from aggregator.store import SourceState, Store, now_utc
from aggregator.store.leases import WorkerRow

if TYPE_CHECKING:
    from aggregator.ingest.http import FetchOutcome
    from aggregator.runtime.fetching import BackgroundFetcher

log = logging.getLogger(__name__)

_T = TypeVar("_T")

DEFAULT_BATCH = 64  # 16 left half of [fetch] concurrency idle (bench/scale.py)
DEFAULT_LEASE = 180.0  # seconds
# How long a worker with nothing to claim waits before asking again (at most).
IDLE_POLL_SECONDS = 1.0
# The same for `--until-idle` while other workers still hold leases: it stops as soon as
# they are done, and asking is one light query.
UNTIL_IDLE_POLL_SECONDS = 0.1
# While fetching is the slower stage, how often the requests not yet answered are topped
# up: a worker of 128 slots answering 1,000 304s a second frees about a batch in this time.
REFILL_SECONDS = 0.02
# How long the first source of a group waits for a batch's worth of others to answer
# before it is stored with fewer: a slow feed delays the others' items by at most this,
# and a trickle of answers is stored in groups, not one commit each (at most ~50 a
# second). While storing is the slower stage, answers pile up meanwhile and groups are
# whole batches anyway; while the worker waits on the network, storing what has answered
# is free. 0.1 s left each steady round of running workers idle at its start and end:
# ~0.2 s of a 2 s round with two workers (bench/scale.py).
GROUP_WAIT_SECONDS = 0.02
# Groups cleaned and waiting for the writer lock, at most: while another worker holds it,
# the next group is parsed and cleaned rather than waited idle (two workers in a steady
# state each waited ~3 % of their time, bench/scale.py); more would only hold leases and
# memory longer, since the turn they wait for comes within one group's storing.
MAX_WAITING_GROUPS = 2
# Rows of workers not heard of for this long are dropped when a worker starts.
FORGET_WORKERS_AFTER = timedelta(days=1)
# A lease must outlast one whole fetch (the total deadline) by this much: even with one
# renewal missed, a fetch in progress ends before its lease can.
LEASE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    name: str
    batch: int = DEFAULT_BATCH
    concurrency: int | None = None  # requests in flight; None: [fetch] concurrency
    lease: float = DEFAULT_LEASE
    until_idle: bool = False


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_problem(options: WorkerOptions, settings: Settings) -> str | None:
    """Why the lease is too short for these fetch settings, or None."""
    shortest = settings.fetch.timeout + LEASE_MARGIN_SECONDS
    if options.lease < shortest:
        return (
            f"--lease {options.lease:g} is shorter than a fetch may take: at least "
            f"{shortest:g} s ([fetch] timeout {settings.fetch.timeout:g} s plus "
            f"{LEASE_MARGIN_SECONDS:g} s)"
        )
    return None


@dataclass(frozen=True, slots=True)
class Claim:
    """Sources leased together, their fetch started (`BackgroundFetcher.submit`)."""

    now: datetime  # when claimed: the time their next due times count from
    started: float  # time.monotonic() when the fetch started


@dataclass(frozen=True, slots=True)
class ReadyToStore:
    """A claimed source whose fetch has ended, waiting to be stored."""

    source: SourceState
    claim: Claim
    outcome: FetchOutcome | FetchError
    ended: float  # time.monotonic() when it ended


@dataclass(frozen=True, slots=True)
class AwaitingLock:
    """A group parsed and cleaned, its quiet sources stored (`split_states_only`), whose
    other sources wait for the writer lock to be matched and stored."""

    rest: Gathered
    quiet: Committed
    now: datetime  # the group's claim time (`Worker._store`)
    started: float  # time.monotonic(): the first fetch started,
    fetched: float  # all had answered,
    gathered: float  # all were cleaned

    @property
    def source_ids(self) -> list[str]:
        return [c.read.spec.id for c in self.rest.sources]


@dataclass(slots=True)
class WorkerCounts:
    feeds: int = 0  # sources fetched and stored
    items: int = 0  # items stored new or updated
    batches: int = 0
    lost: int = 0  # sources whose lease another worker had taken by the time they were stored
    lock_seconds: float = 0.0  # spent holding the writer lock (matching and storing)


class Worker:
    """One worker process's loop. `store` is used by the calling thread only; the
    heartbeat opens a connection of its own with `open_store`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        options: WorkerOptions,
        *,
        open_store: Callable[[str], Store],
        writer: WriterLock,
    ) -> None:
        if options.concurrency is not None:
            fetch = replace(settings.fetch, concurrency=options.concurrency)
            settings = replace(settings, fetch=fetch)
        compile_filters_of(settings)  # a bad pattern stops before any work
        self.settings = settings
        self.store = store
        self.options = options
        self.id = f"{options.name}/{uuid.uuid4().hex[:12]}"
        self.counts = WorkerCounts()
        self._open_store = open_store
        self._writer = writer  # every turn of the writer lock, on one kept session
        self._lease = timedelta(seconds=options.lease)
        # Each source being fetched: its state as claimed, and its claim.
        self._in_flight: dict[str, tuple[SourceState, Claim]] = {}
        self._awaiting: list[AwaitingLock] = []  # oldest first

    # -- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> WorkerCounts:
        """Claim, fetch and store until `stop` is set (or, with `until_idle`, until no
        source is due and nobody holds a lease); then end this worker's leases."""
        now = now_utc()
        self.store.forget_workers(before=now - FORGET_WORKERS_AFTER)
        self.store.register_worker(
            WorkerRow(
                id=self.id,
                name=self.options.name,
                host=socket.gethostname(),
                pid=os.getpid(),
                started=now,
                last_beat=now,
                lease_seconds=self.options.lease,
            )
        )
        heartbeat = LeaseRenewal(
            partial(self._open_store, self.settings.db),
            self.id,
            lease=self._lease,
            holder=f"worker {self.options.name}",
            also=self._beat,
        )
        try:
            with heartbeat:  # beating while it waits for the lock, too
                with writer_lock(self._writer, stop):
                    apply_config(self.settings, self.store)
                # httpx only in a process that fetches: not for every command of the CLI.
                from aggregator.runtime.fetching import BackgroundFetcher

                with BackgroundFetcher(self.settings.fetch) as fetcher:
                    self._loop(fetcher, stop)
        finally:
            self._leave()  # the leases of batches fetched ahead are given back too
        return self.counts

    def _loop(self, fetcher: BackgroundFetcher, stop: threading.Event) -> None:
        """Sources stored in groups of up to a batch, in the order their fetches end,
        while the next ones are fetched (`_top_up`), their leases renewed by the
        heartbeat. A group is whatever has answered: one slow feed holds back its own
        storing, not that of the feeds claimed with it or after it.

        Asked to stop, the worker claims nothing more but stores every source whose
        fetch has started: the feeds have answered (or are answering), and giving those
        sources back would have another worker fetch them again within their interval."""
        fetched: deque[ReadyToStore] = deque()
        dry = False  # the last claim found nothing due: asked again once something is stored
        while True:
            self._receive(fetcher, fetched)
            # Storing waits for fetching (304s, slow hosts) when less than a batch has
            # answered: then the requests in flight are kept at every slot and a batch.
            starved = len(fetched) < self.options.batch
            group = self._take_group(fetcher, fetched)
            if not stop.is_set() and not dry:
                dry = self._top_up(fetcher, len(fetched), starved=starved)
            if group:
                self._store(group)
                # Another writer's turn is spent cleaning the next group, up to a limit.
                self._store_awaiting(stop, block=len(self._awaiting) >= MAX_WAITING_GROUPS)
                dry = False
                continue
            if self._awaiting:
                # Nothing else to do yet: wait for the lock, but not past the next answers
                # (asked between waits for them: a wait for the lock that times out is an
                # error the server logs, where asking whether it is free is not).
                if fetched or fetcher.unanswered:
                    self._store_awaiting(stop, block=False)
                    if self._awaiting:
                        self._receive(fetcher, fetched, timeout=REFILL_SECONDS)
                else:
                    self._store_awaiting(stop, block=True)
                continue
            if not fetched and fetcher.unanswered == 0:
                if stop.is_set() or (self.options.until_idle and self._idle()):
                    break
                stop.wait(self._idle_wait())
                dry = False
                continue
            self._receive(fetcher, fetched, timeout=REFILL_SECONDS)

    def _receive(
        self, fetcher: BackgroundFetcher, fetched: deque[ReadyToStore], timeout: float = 0.0
    ) -> None:
        """The fetches ended since last asked (waiting up to `timeout` for one) onto
        `fetched`, each with its claim."""
        broken: list[tuple[SourceState, BaseException]] = []
        for answer in fetcher.answers(timeout):
            source, claim = self._in_flight.pop(answer.request.source_id)
            outcome = answer.outcome
            if isinstance(outcome, FetchError) or not isinstance(outcome, BaseException):
                fetched.append(ReadyToStore(source, claim, outcome, answer.ended))
            else:
                broken.append((source, outcome))
        if broken:
            # A bug in the fetcher (each feed's own failures are values): the sources rest
            # for a lease before anyone tries them again; the log has the traceback.
            log.error(
                "worker %s: fetching failed: %s",
                self.options.name,
                ", ".join(source.id for source, _ in broken),
                exc_info=broken[0][1],
            )
            self._drop_quietly([s.id for s, _ in broken], hold_until=now_utc() + self._lease)

    def _take_group(
        self, fetcher: BackgroundFetcher, fetched: deque[ReadyToStore]
    ) -> list[ReadyToStore]:
        """The next group to store: a batch when that many have answered; fewer once
        nothing else is in flight, or once the first of them has waited GROUP_WAIT_SECONDS
        for the rest; none yet otherwise."""
        size = self.options.batch
        if len(fetched) < size:
            if not fetched:
                return []
            waited = time.monotonic() - fetched[0].ended
            if fetcher.unanswered and waited < GROUP_WAIT_SECONDS:
                return []
            size = len(fetched)
        return [fetched.popleft() for _ in range(size)]

    def _top_up(self, fetcher: BackgroundFetcher, waiting: int, *, starved: bool) -> bool:
        """Claim batches until the sources outstanding (in flight, or answered and not
        yet stored) are a batch, plus [fetch] concurrency when storing is `starved`;
        True when nothing was due.

        When storing is the slower stage (new items to clean), a batch ahead keeps the
        store fed, and claiming more would only hold sources that an idle worker could
        take. When fetching is (feeds answering 304, slow hosts), every request slot is
        kept busy, and a batch to spare, topped up as each request ends, not only when
        a whole batch has (one slow feed left a batch's slots idle with it)."""
        wanted = self.options.batch + (self.settings.fetch.concurrency if starved else 0)
        while fetcher.unanswered + waiting < wanted:
            if self._claim(fetcher) == 0:
                return True
        return False

    def _claim(self, fetcher: BackgroundFetcher) -> int:
        """Lease a batch of due sources and start their fetch; how many leases it took
        (0: nothing was due, or the database could not be reached: the next round tries
        again)."""
        now = now_utc()
        try:
            claimed = self.store.claim_sources(
                self.id,
                now=now,
                lease=self._lease,
                limit=self.options.batch,
                min_interval=self.settings.fetch.min_interval,
            )
        except StorageError as exc:
            log.warning("worker %s: cannot claim sources: %s", self.options.name, exc)
            return 0
        if not claimed:
            return 0
        configured = self.settings.sources_by_id
        foreign = [s.id for s in claimed if s.id not in configured]
        if foreign:
            # Another worker's config lists them and this one's does not: leave them to it
            # (held by nobody for a lease, so this worker does not claim them again at once).
            log.warning("worker %s: not in this config: %s", self.options.name, foreign)
            self._drop_quietly(foreign, hold_until=now + self._lease)
        mine = [s for s in claimed if s.id in configured]
        claim = Claim(now=now, started=time.monotonic())
        self._in_flight.update((s.id, (s, claim)) for s in mine)
        fetcher.submit(fetch_requests(mine))
        return len(claimed)

    def _store(self, group: list[ReadyToStore]) -> None:
        """Parse and clean a group of fetched sources, and store those with nothing but
        their state to write (a 304, a kept body, a failure: `split_states_only`), ending
        their leases; the rest wait for the writer lock (`_store_awaiting`).

        Those quiet sources need no lock: the lock makes each match see every item
        committed before it, and they match and store no item, so no other writer's match
        can depend on them, nor they on theirs. Their rows are their own: each source's
        state is written only while this worker's lease on it holds
        (`Store.release_sources`), as under the lock."""
        sources = [f.source for f in group]
        outcomes = [f.outcome for f in group]
        # The latest claim's time: a source's next due time never comes sooner than
        # its interval after the claim that fetched it.
        now = max(f.claim.now for f in group)
        started = min(f.claim.started for f in group)
        fetched_at = time.monotonic()
        specs = self.settings.sources_by_id

        def gather() -> tuple[Gathered, Committed]:
            reads = read_outcomes(sources, specs, outcomes)
            gathered = gather_read(self.settings, self.store, sources, reads, now=now)
            quiet, rest = split_states_only(gathered)
            if not quiet.sources:
                return rest, Committed(stored=True)
            stored = commit_states(self.settings, quiet, now=now, save_sources=self._release)
            return rest, stored

        done = self._guarded([s.id for s in sources], now, gather)
        if done is None:
            return
        rest, quiet = done
        waiting = AwaitingLock(rest, quiet, now, started, fetched_at, time.monotonic())
        if has_writes(rest):
            self._awaiting.append(waiting)
        else:
            self._stored(waiting, quiet, lock_wait=0.0, lock_hold=0.0)

    def _store_awaiting(self, stop: threading.Event, *, block: bool) -> None:
        """Match and store the groups awaiting the writer lock, oldest first, in one
        turn of it: if the lock is free now, or with `block`, once it is, waiting as
        long as it takes (`writer_lock`; while another writer holds it, such as a long
        `aggregator run`, the heartbeat keeps the leases, and giving the groups up would
        have their sources fetched again before their interval)."""
        if not self._awaiting:
            return
        asked = time.monotonic()
        try:
            if block:
                with writer_lock(self._writer, stop):
                    self._commit_awaiting(time.monotonic() - asked)
            elif self._writer_lock_free():
                try:
                    self._commit_awaiting(time.monotonic() - asked)
                finally:
                    self._writer.release()
        except AggregatorError as exc:
            # The database went away, or the writer lock stayed busy once asked to stop:
            # the leases are given up, so the sources are due again for whoever claims next.
            awaiting, self._awaiting = self._awaiting, []
            log.warning("worker %s: batch given up: %s", self.options.name, exc)
            self._drop_quietly([sid for group in awaiting for sid in group.source_ids])

    def _writer_lock_free(self) -> bool:
        """Whether the writer lock was free, and is now this worker's."""
        try:
            self._writer.acquire(timeout=0)
        except WriterBusy:
            return False
        return True

    def _commit_awaiting(self, lock_wait: float) -> None:
        """Under the writer lock: each group awaiting it matched and stored in turn, so
        the second is matched against the first as stored."""
        awaiting, self._awaiting = self._awaiting, []
        for group in awaiting:
            taken = time.monotonic()
            committed = self._guarded(group.source_ids, group.now, partial(self._commit, group))
            # How long the cluster's one serial step took: the sum over all workers must
            # stay under a second per second (README, "How throughput extrapolates").
            held = time.monotonic() - taken
            self.counts.lock_seconds += held
            if committed is not None:
                self._stored(group, combined([group.quiet, committed]), lock_wait, held)
            lock_wait = 0.0  # the turn's wait is counted once, on its first group

    def _commit(self, group: AwaitingLock) -> Committed:
        return commit(
            self.settings, self.store, group.rest, now=group.now, save_sources=self._release
        )

    def _guarded(self, source_ids: list[str], now: datetime, step: Callable[[], _T]) -> _T | None:
        """`step()`, or None once it failed and the leases of `source_ids` are given up."""
        try:
            return step()
        except AggregatorError as exc:
            # The database went away mid-batch: the leases are given up, so the sources
            # are due again for whoever claims next.
            log.warning("worker %s: batch given up: %s", self.options.name, exc)
            self._drop_quietly(source_ids)
        except Exception:
            # A bug tripped by this batch must not stop the worker (nor every worker that
            # claims these sources next): the log has the traceback, and the sources rest
            # for a lease before anyone tries them again.
            log.exception("worker %s: batch failed unexpectedly", self.options.name)
            self._drop_quietly(source_ids, hold_until=now + self._lease)
        return None

    def _stored(
        self, group: AwaitingLock, committed: Committed, lock_wait: float, lock_hold: float
    ) -> None:
        self.counts.batches += 1
        self.counts.feeds += len(committed.results)
        self.counts.items += committed.counts.get("new", 0) + committed.counts.get("updated", 0)
        log.info(
            "worker=%s batch=%d sources=%d new=%d updated=%d fetch_ms=%d clean_ms=%d "
            "lock_wait_ms=%d store_ms=%d",
            self.options.name,
            self.counts.batches,
            len(committed.results),
            committed.counts.get("new", 0),
            committed.counts.get("updated", 0),
            round((group.fetched - group.started) * 1000),
            round((group.gathered - group.fetched) * 1000),
            round(lock_wait * 1000),
            round(lock_hold * 1000),
        )

    def _release(self, states: Sequence[SourceState]) -> None:
        lost = self.store.release_sources(self.id, states)
        if lost:
            self.counts.lost += len(lost)
            log.warning(
                "worker %s: leases taken over before storing (stalled longer than --lease): %s",
                self.options.name,
                ", ".join(lost),
            )

    def _idle_wait(self) -> float:
        """Seconds to wait before claiming again: until the next source falls due, and
        at most IDLE_POLL_SECONDS, since nothing announces a source added, a lease
        expired or a due time moved. Polling alone woke a worker up to a poll late for
        every source falling due while it idled: the lag of a steady state."""
        if self.options.until_idle:
            return UNTIL_IDLE_POLL_SECONDS
        now = now_utc()
        try:
            due = self.store.next_due(now)
        except StorageError as exc:
            log.warning("worker %s: %s", self.options.name, exc)
            return IDLE_POLL_SECONDS
        if due is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, (due - now).total_seconds()))

    def _idle(self) -> bool:
        try:
            lag = self.store.lag(now_utc(), min_interval=self.settings.fetch.min_interval)
        except StorageError as exc:
            log.warning("worker %s: %s", self.options.name, exc)
            return False
        return lag.due == 0 and lag.leased == 0

    def _drop_quietly(
        self, source_ids: Sequence[str] | None = None, *, hold_until: datetime | None = None
    ) -> None:
        try:
            self.store.drop_leases(self.id, source_ids, hold_until=hold_until)
        except StorageError as exc:
            log.warning("worker %s: leases left to expire: %s", self.options.name, exc)

    def _leave(self) -> None:
        self._drop_quietly()
        try:
            self.store.stop_worker(
                self.id, now=now_utc(), feeds_done=self.counts.feeds, items_done=self.counts.items
            )
        except StorageError as exc:
            log.warning("worker %s: %s", self.options.name, exc)

    # -- the heartbeat (`LeaseRenewal`'s thread and connection) ----------------------

    def _beat(self, store: Store, now: datetime) -> None:
        """The worker's row, after its leases are renewed: alive, and what it has done."""
        store.beat_worker(
            self.id, now=now, feeds_done=self.counts.feeds, items_done=self.counts.items
        )


@contextmanager
def writer_lock(lock: WriterLock, stop: threading.Event) -> Iterator[None]:
    """A turn of the writer lock, waited for as long as it takes (a worker has nothing
    better to do), each `lock_timeout` logged; given up (WriterBusy) only once asked to
    stop. `lock` is the worker's for its life (`WriterLock(keep_session=True)`)."""
    while True:
        try:
            lock.__enter__()
        except WriterBusy as exc:
            if stop.is_set():
                raise
            log.warning("worker: still waiting: %s", exc)
            continue
        try:
            yield
        finally:
            lock.__exit__(None, None, None)
        return


def apply_config(settings: Settings, store: Store) -> None:
    """The config's remote sources as the rows workers claim from: new ones added,
    removed ones disabled, and a reconfigured one started afresh (its backoff cleared,
    as `policy.due_sources` does for a run). Run under the writer lock."""
    store.sync_sources(settings.sources)
    states = {s.id: s for s in store.sources()}
    changed = reconfigured(settings, recorded_configs(states.values()))
    if changed:
        sources = settings.sources_by_id
        stale = [states[sid] for sid in changed if sid in states]
        store.write_states([fresh for s in stale if (fresh := afresh(s, sources[s.id])) != s])
    # Recorded now, so that the batches this worker stores have none left to record:
    # their sources' states need no writer lock (`pipeline.split_states_only`).
    store.record_config_keys(keys_to_record(settings.sources, states, settings.fetch))


__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_LEASE",
    "Worker",
    "WorkerCounts",
    "WorkerOptions",
    "apply_config",
    "default_name",
    "lease_problem",
    "writer_lock",
]
