"""A run: stages with values between them, and this module only sequences them.

    gather   sources ─► read seeds / fetch due remote ─► parse        (collect)
                     ─► normalise + filter ─► full text ─► signatures  (CPU in workers)
             -> `Gathered`: frozen, nothing stored but source bookkeeping rows
    commit   a read-only snapshot of the store (`dedupe.plan.load_view`)
             ─► match: the dedupe plan, a pure function of items and snapshot (`plan_items`)
             ─► store items, moves, shared links, what was read, each source's state
                with its next-due time (`policy.state_after`)
             -> `Committed`
    publish  the stored entries to the output folder                   (output)

`run_once` is gather → commit → publish. Each stage can run on its own for a batch of
sources (`gather(..., only=...)`); `gather` is safe in several processes at once,
`commit` is short and is what a worker runs under a lock. The decisions (what matches,
when a source is next due, which organisations are known) take values, never a store:
they are tested without one. The stages see the store through the Protocols of
`aggregator.store.protocol`.

Errors are values here: one bad source becomes a failed `SourceResult` and the run goes
on. Only `AggregatorError`s are caught; anything else is a bug and propagates.

The stages' heavy modules (cleaning, matching, full text, publishing) are imported in the
functions that use them: a worker's batch of feeds that all answered 304 needs none of
them, and they were a third of its start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aggregator.config import Settings
from aggregator.exceptions import FetchError, ParseError
from aggregator.ingest.collect import SourceRead, fetch_remote, read_seeds
from aggregator.ingest.policy import (
    Fetched,
    due_sources,
    keys_to_record,
    recorded_configs,
    state_after,
    with_feed,
)
from aggregator.model import (
    SEED_TEXT_SOURCE,
    Attribution,
    Item,
    RawEntry,
    SourceKind,
    SourceResult,
    SourceSpec,
    SourceUpdated,
)
from aggregator.normalise.filters import ItemFilter, compile_filters, filter_reason
from aggregator.normalise.organisations import (
    KNOWN_ORGANISATIONS,
    Organisations,
    carries_others,
    organisations_in,
)
from aggregator.runtime.memory import release_free_memory
from aggregator.runtime.renewal import LeaseRenewal
from aggregator.store import SourceState, Store, attribution_for
from aggregator.store.protocol import CommitStore, GatherStore, MetaStore
from aggregator.store.readstate import (
    FORGOTTEN_FOLDER,
    SeedFileRecord,
    SeedFolder,
    SourceEntries,
    clean_fingerprint,
    entries_to_clean,
    entry_digest,
)

if TYPE_CHECKING:
    from aggregator.dedupe import Signature
    from aggregator.normalise.entry import NormaliseOptions
    from aggregator.publish import PublishReport

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (phase, done, total) for progress bars


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    all_sources: bool = False  # fetch every remote source now, due or not
    only: tuple[str, ...] = ()  # restrict the run to these source ids
    dry_run: bool = False  # decide everything, write nothing
    publish_unchanged: bool = False  # re-render even when nothing changed since last publish
    # Read and clean these sources whole, what did not change since last time included
    # (aggregator.store.readstate): a caller that knows more than the files and digests say.
    reread: tuple[str, ...] = ()


@dataclass(slots=True)
class RunReport:
    results: list[SourceResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)  # (action, source, title)
    entries: int = 0
    published: PublishReport | None = None
    not_due: int = 0  # enabled remote sources left for a later run
    next_due: datetime | None = None  # when the first of those is due
    stopped: str | None = None  # asked to stop: how far the run got (STOPPED_…)

    @property
    def failures(self) -> list[SourceResult]:
        return [r for r in self.results if isinstance(r.value, Exception)]

    @property
    def changed(self) -> bool:
        return bool(self.counts["new"] or self.counts["updated"])


STOPPED_BEFORE_STORING = "before storing anything"
STOPPED_BEFORE_PUBLISHING = "after storing the items, before publishing"


# -- the values between the stages ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cleaned:
    """One source after gathering: what reading it said and its items, cleaned."""

    read: SourceRead  # its raw entries dropped once cleaned (memory); its feed's data kept
    state: SourceState  # as stored before this run (a reconfigured source's afresh)
    items: tuple[Item, ...] = ()
    unchanged: int = 0  # entries not cleaned again: unchanged files and raw entries
    skipped: int = 0  # entries filtered out, or that cleaning could not handle
    entries: SourceEntries | None = None  # the feed's raw entries, remembered once stored


@dataclass(frozen=True, slots=True, kw_only=True)
class Gathered:
    """The gather stage's result: every source read, parsed and cleaned, nothing stored."""

    sources: tuple[Cleaned, ...] = ()
    # Of the items new or changed when gathered, by key (`dedupe.plan.signatures_for`).
    signatures: Mapping[str, Signature] = field(default_factory=dict)
    seed_files: tuple[SeedFileRecord, ...] = ()  # files read: remembered once stored
    gone: tuple[str, ...] = ()  # remembered seeds-folder paths no longer there
    seed_folder: SeedFolder | None = None  # the folder as a whole, remembered once stored
    organisations: Organisations = field(default_factory=Organisations)
    # The config key of each configured source of this run that its row does not hold
    # yet (`policy.keys_to_record`): recorded by `commit`.
    config_keys: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    not_due: int = 0  # enabled remote sources left for a later run
    next_due: datetime | None = None  # when the first of those is due
    stopped: bool = False  # asked to stop after fetching: nothing cleaned

    @property
    def items(self) -> list[Item]:
        return [item for cleaned in self.sources for item in cleaned.items]


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed:
    """The commit stage's result: what was decided and (unless a dry run) stored."""

    results: tuple[SourceResult, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)  # new, updated, … split, pruned
    decisions: tuple[tuple[str, str, str], ...] = ()  # (action, source, title)
    stored: bool = False  # False: a dry run, or asked to stop before storing


# -- gather: read, parse, normalise ----------------------------------------------------------


def gather(
    settings: Settings,
    store: GatherStore,
    *,
    now: datetime,
    only: Collection[str] | None = None,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Gathered:
    """Read the seeds folder and fetch the due remote sources (or exactly those in `only`,
    due or not), parse and clean what changed, and complete teasers with their articles.

    Writes no item: only the rows of sources seen for the first time (or reconfigured),
    the full-text caches and leases on the due remote sources it fetches (`_leased`;
    `run_once` ends them), so several processes may gather at once. `should_stop` is
    asked once the sources are fetched; a stopped gather cleans nothing.
    """
    filters = compile_filters_of(settings)  # a bad pattern stops before any work
    warnings: list[str] = []

    def wanted(source_id: str) -> bool:
        return only is None or source_id in only

    reading = read_seeds(
        settings,
        warnings,
        known=store.seed_files,
        known_at=store.seed_files_at,
        folder=store.seed_folder(),
        reread=options.reread,
    )
    named = {r.spec.id for r in reading.reads} | {s.id for s in settings.sources}
    for unknown in sorted(set(only or ()) - named):  # a typo would silently do nothing
        warnings.append(f"--only {unknown}: no such source (see `aggregator sources list`)")
    reads = [r for r in reading.reads if wanted(r.spec.id)]
    records, gone, folder = reading.records, reading.gone, reading.folder
    if folder is not None and len(reads) < len(reading.reads):
        folder = FORGOTTEN_FOLDER  # files of sources left out are not remembered this run
    del reading  # the raw entries are let go once cleaned (below)
    specs = {s.id: s for s in settings.sources if wanted(s.id)}
    states = store.ensure_sources(list(specs.values()), write=not options.dry_run)
    forced = options.all_sources or only is not None
    due = due_sources(
        settings,
        states,
        recorded_configs(states.values()),
        now=now,
        force=forced,
    )
    states.update((s.id, s) for s in due.states)
    fetching = due.due if options.dry_run else _leased(store, due.due, now=now, forced=forced)
    if progress:
        progress("fetch", 0, len(fetching))
    reads.extend(fetch_remote(settings, fetching, specs))
    if progress:
        progress("fetch", len(fetching), len(fetching))
    if should_stop():
        return Gathered(
            warnings=tuple(warnings), not_due=due.not_due, next_due=due.next_due, stopped=True
        )

    local = [r.spec for r in reads if r.spec.id not in states]
    states.update(store.ensure_sources(local, write=not options.dry_run))
    return _gathered(
        settings,
        store,
        reads,
        states,
        now=now,
        options=options,
        filters=filters,
        warnings=warnings,
        progress=progress,
        seed_files=records,
        gone=gone,
        seed_folder=folder,
        config_keys=keys_to_record(specs.values(), states, settings.fetch),
        not_due=due.not_due,
        next_due=due.next_due,
    )


# How long a run's leases on the sources it fetches last (`_leased`) unless renewed: a
# run renews them every quarter of it (`LeaseRenewal`) until its states are stored, so
# this only bounds how long a killed run keeps workers off them.
RUN_LEASE = timedelta(minutes=2)


def run_lease_owner() -> str:
    """The name of this process's run in the sources' lease columns (and `status`)."""
    return f"run:{socket.gethostname()}:{os.getpid()}"


def _leased(
    store: GatherStore, due: Sequence[SourceState], *, now: datetime, forced: bool
) -> Sequence[SourceState]:
    """Of the due remote sources, those this run now leases: a worker (`aggregator worker`)
    fetching one of them right now keeps it, and no worker claims the others until the
    run has stored them (`run_once` ends the leases). Unless `forced` (`--all`, `--only`:
    fetched now whatever their schedule), neither does the run lease a source fetched
    since it read the sources (a worker stored it in between: it is not due any more). So
    a source is not fetched twice within its interval when runs and workers share a
    database."""
    if not due:
        return due
    as_read = None if forced else {s.id: s.last_fetch_at for s in due}
    ours = store.lease_these(
        run_lease_owner(), [s.id for s in due], now=now, until=now + RUN_LEASE, as_read=as_read
    )
    if len(ours) < len(due):
        busy = [s.id for s in due if s.id not in ours]
        log.info("leased by a worker or another run, or fetched since, left: %s", ", ".join(busy))
    return [s for s in due if s.id in ours]


def gather_claimed(
    settings: Settings,
    store: GatherStore,
    claimed: Sequence[SourceState],
    *,
    now: datetime,
) -> Gathered:
    """`gather` for the remote sources a worker has leased (`aggregator.runtime.worker`):
    each fetched now, whatever its schedule (the claim chose them as due), then parsed and
    cleaned by the same code as a run's. No seeds folder: a worker fetches feeds only."""
    specs = settings.sources_by_id
    claimed = [s for s in claimed if s.id in specs]
    return gather_read(settings, store, claimed, fetch_remote(settings, claimed, specs), now=now)


def gather_read(
    settings: Settings,
    store: GatherStore,
    claimed: Sequence[SourceState],
    reads: list[SourceRead],
    *,
    now: datetime,
) -> Gathered:
    """`gather_claimed` once the claimed sources are fetched (`reads`, in their order):
    for a worker that fetches a batch while it cleans and stores the one before."""
    states = {s.id: s for s in claimed}
    specs = _specs_of(settings, claimed)
    return _gathered(
        settings,
        store,
        reads,
        states,
        now=now,
        filters=compile_filters_of(settings, specs),
        warnings=[],
        config_keys=keys_to_record(specs, states, settings.fetch),
    )


def _specs_of(settings: Settings, states: Iterable[SourceState]) -> list[SourceSpec]:
    """The config's entries of these sources (those it lists)."""
    configured = settings.sources_by_id
    return [configured[s.id] for s in states if s.id in configured]


def _gathered(
    settings: Settings,
    store: GatherStore,
    reads: list[SourceRead],
    states: dict[str, SourceState],
    *,
    now: datetime,
    filters: Mapping[str, ItemFilter],
    warnings: list[str],
    config_keys: Mapping[str, str],
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    seed_files: Sequence[SeedFileRecord] = (),
    gone: tuple[str, ...] = (),
    seed_folder: SeedFolder | None = None,
    not_due: int = 0,
    next_due: datetime | None = None,
) -> Gathered:
    """What every gather shares once its sources are read: clean the items of what
    changed, complete teasers with their articles, compute the signatures. Empties
    `reads` once cleaned, so the raw entries are let go (memory) before what follows."""
    organisations = organisations_in((r.spec.kind, r.parsed) for r in reads if r.parsed)
    # A worker's group of 304s and failures (most groups, in a steady state) cleans
    # nothing: it reads no known organisations, nor gives memory back that it never took.
    cleaning = any(_to_clean(r) for r in reads)
    known = organisations.known(stored_organisations(store)) if cleaning else ()
    if progress:
        progress("clean", 0, len(reads))
    cleaned = _clean(
        reads,
        states,
        store,
        settings=settings,
        filters=filters,
        known=known,
        now=now,
        warnings=warnings,
        reread=options.reread,
    )
    reads.clear()
    if cleaning:
        release_free_memory()  # the raw entries are gone: the dedupe index comes next
    if progress:
        progress("clean", len(cleaned), len(cleaned))

    # Teasers get their article before merging, so stories match on the article (issue 18).
    cleaned = _with_awaiting(settings, store, cleaned, now)
    if any(c.items for c in cleaned):
        cleaned, signatures = _completed(settings, store, cleaned, now=now, options=options)
    else:
        signatures = {}  # every feed unchanged (a warm worker's batch): nothing to load
    ran = {c.read.spec.id for c in cleaned}
    return Gathered(
        sources=tuple(cleaned),
        signatures=signatures,
        seed_files=tuple(f for f in seed_files if f.source_id in ran),
        gone=gone,
        seed_folder=seed_folder,
        organisations=organisations,
        config_keys=config_keys,
        warnings=tuple(warnings),
        not_due=not_due,
        next_due=next_due,
    )


def _completed(
    settings: Settings,
    store: GatherStore,
    cleaned: list[Cleaned],
    *,
    now: datetime,
    options: RunOptions,
) -> tuple[list[Cleaned], dict[str, Signature]]:
    """The cleaned sources with their teasers completed from their articles, and the
    signatures of their items."""
    from aggregator.dedupe.plan import signatures_for
    from aggregator.fulltext import complete_items

    items = [i for c in cleaned for i in c.items]
    full = complete_items(settings, store, items, now=now, fetch=not options.dry_run)
    cleaned = [replace(c, items=tuple(full.items.get(i.key, i) for i in c.items)) for c in cleaned]
    # Signatures here, in parallel and with no lock held, so that commit stays cheap.
    items = [i for c in cleaned for i in c.items]
    signatures = signatures_for(
        items, store.known_items(i.key for i in items), parallel_from=PARALLEL_MIN_ENTRIES
    )
    # Serialised here too: under the writer lock it was a tenth of a cold worker's hold.
    for signature in signatures.values():
        signature.to_json()
    return cleaned, signatures


def _with_awaiting(
    settings: Settings, store: GatherStore, cleaned: list[Cleaned], now: datetime
) -> list[Cleaned]:
    """Each source read without error, with its stored items whose article page is due
    a retry (`aggregator.fulltext`) added to this run's: the page is tried again with
    the source's next fetch, though the feed did not change (a 304, or entries cleaned
    before), and the feed is not read or cleaned again for it."""
    configured = settings.sources_by_id
    read = [c.read.spec.id for c in cleaned if c.read.error is None]
    ids = [
        source_id
        for source_id in read
        if (spec := configured.get(source_id)) is not None and spec.full_text != "never"
    ]
    if not ids:
        return cleaned
    from aggregator.fulltext import awaiting

    found = store.items_awaiting_pages(ids, now, feed_id_base=settings.feed.base_url)
    by_source: dict[str, list[Item]] = {}
    for item in found:
        by_source.setdefault(item.source.source_id, []).append(awaiting(item))
    return [_adding(c, by_source.get(c.read.spec.id, ())) for c in cleaned]


def _adding(cleaned: Cleaned, stored: Sequence[Item]) -> Cleaned:
    # An item cleaned in this run is the newer copy: the stored one only stands in.
    fresh = {i.key for i in cleaned.items}
    more = tuple(i for i in stored if i.key not in fresh)
    return replace(cleaned, items=cleaned.items + more) if more else cleaned


def _to_clean(read: SourceRead) -> bool:
    """Whether a source's read has entries to clean (its feed was read and parsed)."""
    return read.parsed is not None and read.error is None


def _clean(
    reads: Sequence[SourceRead],
    states: Mapping[str, SourceState],
    store: GatherStore,
    *,
    settings: Settings,
    filters: Mapping[str, ItemFilter],
    known: tuple[str, ...],
    now: datetime,
    warnings: list[str],
    reread: Collection[str] = (),
) -> list[Cleaned]:
    """The items of each source, cleaned; and what to remember of the feeds' entries. Of
    a feed, only the entries whose raw content changed since it was last cleaned under
    the same fingerprint are cleaned (`aggregator.store.readstate`); the others count as
    unchanged. Text seeds are told apart by file instead (`collect.read_seeds`)."""
    ready = [(at, r) for at, r in enumerate(reads) if _to_clean(r)]
    if not ready:  # every feed unchanged or failed: nothing to clean, nor to load for it
        return [_not_cleaned(r, states) for r in reads]
    from aggregator.normalise.entry import links_shared
    from aggregator.runtime.parallel import parallel_map

    options = normalise_options(settings, [r for _, r in ready], known)
    feeds = [r.spec.id for _, r in ready if r.spec.kind is not SourceKind.SEED_TEXT]
    previous = store.source_entries(feeds) if feeds else {}
    jobs = []
    digests: list[_EntryDigests | None] = []
    for _, read in ready:
        assert read.parsed is not None
        state = with_feed(states[read.spec.id], read.spec.kind, read.parsed.meta)
        cleaning = options[read.spec.id]
        job = _CleanJob(
            spec=read.spec,
            attribution=attribution_for(state, feed_id_base=settings.feed.base_url),
            entries=read.parsed.entries,
            options=cleaning,
            item_filter=filters.get(read.spec.id),
            now=now,
            shared_links=links_shared(read.parsed.entries, cleaning),
        )
        known_entries = None
        if read.spec.kind is not SourceKind.SEED_TEXT:
            known_entries = _entry_digests(
                job, previous.get(read.spec.id), reread=read.spec.id in reread
            )
            job = replace(job, entries=tuple(job.entries[i] for i in known_entries.fresh))
        jobs.append(job)
        digests.append(known_entries)
    weight = sum(len(job.entries) for job in jobs)
    results = parallel_map(clean_entries, jobs, weight=weight, min_weight=PARALLEL_MIN_ENTRIES)
    done: dict[int, Cleaned] = {}
    for (at, read), result, known_entries in zip(ready, results, digests, strict=True):
        assert read.parsed is not None
        for line in result.filtered:
            log.info("%s: filtered out %s", read.spec.id, line)
        warnings.extend(f"{read.spec.id}: {line}" for line in result.failed)
        not_cleaned = 0
        if known_entries is not None:
            not_cleaned = len(known_entries.digests) - len(known_entries.fresh)
        done[at] = Cleaned(
            # The raw entries are done with; only the feed's own data is still needed.
            read=replace(read, parsed=replace(read.parsed, entries=())),
            state=states[read.spec.id],
            items=tuple(result.items),
            unchanged=read.unchanged + not_cleaned,
            skipped=len(result.filtered) + len(result.failed),
            entries=(
                known_entries.remembered(read.spec.id, result.failed_at)
                if known_entries is not None
                else None
            ),
        )
    return [done.get(at) or _not_cleaned(r, states) for at, r in enumerate(reads)]


def _not_cleaned(read: SourceRead, states: Mapping[str, SourceState]) -> Cleaned:
    """A source with nothing cleaned this run: unchanged (a 304, the same body) or failed."""
    return Cleaned(read=read, state=states[read.spec.id], unchanged=read.unchanged)


@dataclass(frozen=True, slots=True)
class _CleanJob:
    """Everything cleaning one source's entries needs: plain values, so it can run in a
    worker process."""

    spec: SourceSpec
    attribution: Attribution
    entries: tuple[RawEntry, ...]
    options: NormaliseOptions
    item_filter: ItemFilter | None
    now: datetime
    shared_links: frozenset[str] = frozenset()  # see `normalise.links_shared`


@dataclass(slots=True)
class _Cleaned:
    items: list[Item] = field(default_factory=list)
    filtered: list[str] = field(default_factory=list)  # why each was filtered out
    failed: list[str] = field(default_factory=list)  # entries cleaning could not handle
    failed_at: list[int] = field(default_factory=list)  # their indexes in the job


def clean_entries(job: _CleanJob) -> _Cleaned:
    """Each entry of one source cleaned, then kept or filtered out."""
    from aggregator.normalise.entry import normalise_entry

    cleaned = _Cleaned()
    for index, raw in enumerate(job.entries):
        try:
            item = normalise_entry(
                raw,
                source=job.spec,
                attribution=job.attribution,
                first_seen=job.now,
                options=job.options,
                shared_links=job.shared_links,
            )
        except Exception as exc:
            # A bug tripped by one entry costs that entry, not the source or the run
            # (the next runs would trip on it again); the traceback goes to the log.
            name = raw.id or raw.link or repr(raw.title)
            log.exception("%s: cleaning entry %s failed", job.spec.id, name)
            cleaned.failed.append(f"entry {name} left out: {type(exc).__name__}: {exc}")
            cleaned.failed_at.append(index)
            continue
        reason = filter_reason(item, job.item_filter, now=job.now) if job.item_filter else None
        if reason is None:
            cleaned.items.append(item)
        else:
            cleaned.filtered.append(f"{item.title!r}: {reason}")
    return cleaned


# Below this many entries in a run, cleaning stays in-process (workers cost ~0.1 s to fork).
PARALLEL_MIN_ENTRIES = 2000


@dataclass(frozen=True, slots=True)
class _EntryDigests:
    """A feed's raw entries by digest, and which of them are cleaned in this run."""

    fingerprint: str
    digests: list[str]
    fresh: list[int]  # indexes of the entries to clean

    def remembered(self, source_id: str, failed_at: Sequence[int]) -> SourceEntries:
        # An entry cleaning failed on is tried again next run (with the next version).
        failed = {self.digests[self.fresh[i]] for i in failed_at}
        return SourceEntries(
            source_id=source_id,
            fingerprint=self.fingerprint,
            digests=frozenset(self.digests) - failed,
        )


def _entry_digests(
    job: _CleanJob, previous: SourceEntries | None, *, reread: bool
) -> _EntryDigests:
    fingerprint = clean_fingerprint(job.attribution, job.options, job.item_filter)
    digests = [entry_digest(raw) for raw in job.entries]
    fresh = entries_to_clean(digests, None if reread else previous, fingerprint)
    return _EntryDigests(fingerprint, digests, fresh)


def compile_filters_of(
    settings: Settings, sources: Iterable[SourceSpec] | None = None
) -> dict[str, ItemFilter]:
    """Validate per-source filters up front, so a bad pattern stops before any work: of
    every configured source, or of `sources` (a worker's batch)."""
    return {
        source.id: compile_filters(source.filters, source_id=source.id)
        for source in (settings.sources if sources is None else sources)
        if source.filters
    }


def stored_organisations(store: MetaStore) -> list[str]:
    """The organisations learnt by earlier runs."""
    return _organisation_names(store.get_meta(KNOWN_ORGANISATIONS))


def _organisation_names(stored: str | None) -> list[str]:
    names: list[str] = json.loads(stored or "[]")
    return names


def normalise_options(
    settings: Settings, reads: Sequence[SourceRead], known: tuple[str, ...]
) -> dict[str, NormaliseOptions]:
    """Cleaning options per source of this run; local sources have no [[sources]] entry
    and take the top-level settings."""
    from aggregator.normalise.entry import NormaliseOptions

    configured = settings.sources_by_id
    options = {}
    for r in reads:
        own = configured.get(r.spec.id)
        options[r.spec.id] = NormaliseOptions(
            future_dates="keep" if own and own.future_dates == "keep" else "first-seen",
            date_order=(own.date_order if own else None) or settings.date_order,
            organisation=own.organisation if own else None,
            known_organisations=known,
            carries_others=r.parsed is not None and carries_others(r.parsed),
        )
    return options


# -- commit: match, then store ---------------------------------------------------------------


def commit(
    settings: Settings,
    store: CommitStore,
    gathered: Gathered,
    *,
    now: datetime,
    options: RunOptions = RunOptions(),
    should_stop: Callable[[], bool] = lambda: False,
    save_sources: Callable[[Sequence[SourceState]], None] | None = None,
) -> Committed:
    """Match the gathered items against a snapshot of the store, then store them: items
    first, then moves, links learnt, what was read, and each source's state with its
    next-due time last (TRAPS 8: a crash in between costs a refetch only). A dry run,
    or `should_stop` true once the plan is made, stores nothing.

    Short and cheap (the items come cleaned; signatures of stored items are stored): a
    worker runs it under the writer lock, and stores the sources' states with its own
    `save_sources` (which also ends its leases on them)."""
    from aggregator.dedupe import repair
    from aggregator.dedupe.plan import load_view, plan_items

    if gathered.items and not options.dry_run:  # the window is found by key (dedupe.lookup)
        store.cover_lookup(now - timedelta(days=settings.dedupe.window_days))
    view = load_view(store, settings, gathered.items, now=now, signatures=gathered.signatures)
    plan = plan_items(
        [(c.read.spec.id, c.items) for c in gathered.sources if c.items],
        view,
        now=now,
        never_merge=settings.dedupe.never_merge,
        signatures=gathered.signatures,
        parallel_from=PARALLEL_MIN_ENTRIES,
    )
    del view
    tallies, counts, results = _tallied(gathered, plan.tallies)
    decided = Committed(results=results, counts=dict(counts), decisions=plan.decisions)
    if options.dry_run or should_stop():
        return decided

    store.write_items(plan.writes)
    for key, entry_id, reason in plan.moves:
        store.reassign(key, entry_id, reason, now)
    store.add_shared_links(dict(plan.learned_links), now)
    # Read once: this runs under the writer lock, where each round trip holds it longer.
    stored = store.get_meta(KNOWN_ORGANISATIONS)
    known = json.dumps(list(gathered.organisations.known(_organisation_names(stored))))
    if stored != known:
        store.set_meta(KNOWN_ORGANISATIONS, known)
    counts["split"] = repair.apply_config_rules(settings, store, now)
    store.touch_items(plan.unchanged, now)
    # What was read is remembered once its items are stored (TRAPS 8).
    store.save_reads(
        gathered.seed_files,
        [c.entries for c in gathered.sources if c.entries is not None],
        gone=gathered.gone,
        folder=gathered.seed_folder,
    )
    del plan
    release_free_memory()
    (save_sources or store.save_sources)(_states_after(settings, gathered, tallies, now))
    store.record_config_keys(gathered.config_keys)
    if settings.retention_days is not None:
        counts["pruned"] = store.prune(now - timedelta(days=settings.retention_days), now)
    return replace(decided, counts=dict(counts), stored=True)


def split_states_only(gathered: Gathered) -> tuple[Gathered, Gathered]:
    """`gathered` as two batches: its sources with nothing but a state to write, for
    `commit_states` (no writer lock), and the rest, for `commit`. When one feed of a
    batch of 64 has a new item, the lock is held for that feed's items and state, not
    for 64 states: the lock is the one step all workers take in turn. While the config
    a source runs under is not recorded yet, the whole batch is the rest (`commit`
    records it)."""
    if gathered.config_keys:
        return Gathered(), gathered
    quiet = tuple(c for c in gathered.sources if not _needs_writer(c))
    rest = tuple(c for c in gathered.sources if _needs_writer(c))
    return Gathered(sources=quiet), replace(gathered, sources=rest)


def has_writes(gathered: Gathered) -> bool:
    """Whether `commit` of `gathered` would store anything (sources, or seed files)."""
    return bool(
        gathered.sources or gathered.seed_files or gathered.gone or gathered.seed_folder is not None
    )


def _needs_writer(cleaned: Cleaned) -> bool:
    """Whether storing this source's read matches or stores more than its state: items,
    the entries it lists, or a parsed feed to remember."""
    return bool(cleaned.items) or cleaned.entries is not None or cleaned.read.parsed is not None


def combined(parts: Sequence[Committed]) -> Committed:
    """The commits of the parts of one batch (`split_states_only`) as one."""
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part.counts)
    return Committed(
        results=tuple(r for part in parts for r in part.results),
        counts=dict(counts),
        decisions=tuple(d for part in parts for d in part.decisions),
        stored=all(part.stored for part in parts),
    )


def commit_states(
    settings: Settings,
    gathered: Gathered,
    *,
    now: datetime,
    save_sources: Callable[[Sequence[SourceState]], None],
) -> Committed:
    """`commit` for the sources `split_states_only` finds quiet: each source's state and
    next due time saved with `save_sources`, its result logged, as `commit` would.
    Nothing is matched (there is no item), so nothing another writer stores can change
    the outcome, and no writer lock is needed. Retention is left to the next batch with
    items."""
    tallies, counts, results = _tallied(gathered, {})
    save_sources(_states_after(settings, gathered, tallies, now))
    return Committed(results=results, counts=dict(counts), stored=True)


def _tallied(
    gathered: Gathered, planned: Mapping[str, SourceUpdated]
) -> tuple[list[SourceUpdated], Counter[str], tuple[SourceResult, ...]]:
    """Each gathered source's tally under the plan (logged), the run's counts, and each
    source's result."""
    tallies = [_tally(c, planned) for c in gathered.sources]
    counts: Counter[str] = Counter()
    for cleaned, t in zip(gathered.sources, tallies, strict=True):
        counts.update(new=t.new, updated=t.updated, unchanged=t.unchanged, skipped=t.skipped)
        _log_result(cleaned.read, t)
    results = tuple(_result(c.read, t) for c, t in zip(gathered.sources, tallies, strict=True))
    return tallies, counts, results


def _states_after(
    settings: Settings, gathered: Gathered, tallies: Sequence[SourceUpdated], now: datetime
) -> list[SourceState]:
    """Each gathered source's state once stored, with its next due time."""
    return [
        state_after(
            _fetched(c.read, t),
            c.state,
            interval=c.read.spec.interval,
            fetch=settings.fetch,
            now=now,
        )
        for c, t in zip(gathered.sources, tallies, strict=True)
    ]


def _tally(cleaned: Cleaned, planned: Mapping[str, SourceUpdated]) -> SourceUpdated:
    gathered = SourceUpdated(unchanged=cleaned.unchanged, skipped=cleaned.skipped)
    if not cleaned.items:
        return gathered
    return gathered + planned[cleaned.read.spec.id]


def _fetched(read: SourceRead, tally: SourceUpdated) -> Fetched:
    return Fetched(
        kind=read.spec.kind,
        meta=read.parsed.meta if read.parsed is not None else None,
        outcome=read.outcome,
        body_hash=read.body_hash,
        error=read.error,
        new=tally.new,
        updated=tally.updated,
    )


def _log_result(read: SourceRead, c: SourceUpdated) -> None:
    """One canonical line per source and run."""
    outcome = read.outcome
    status = outcome.status if outcome else None
    if read.error is not None:
        # Say what failed; a status only when the server answered (never "status=None").
        stage = "parse" if isinstance(read.error, ParseError) else "fetch"
        if status is None and isinstance(read.error, FetchError):
            status = read.error.status
        answered = f"status={status} " if status is not None else ""
        log.warning(
            "source=%s %sfailed=%s error=%r", read.spec.id, answered, stage, read.error.message
        )
        return
    log.info(
        "source=%s status=%s new=%d updated=%d unchanged=%d skipped=%d bytes=%d duration_ms=%d",
        read.spec.id,
        status if status is not None else "local",
        c.new,
        c.updated,
        c.unchanged,
        c.skipped,
        read.size,
        round(outcome.elapsed * 1000) if outcome else 0,
    )


def _result(read: SourceRead, c: SourceUpdated) -> SourceResult:
    if read.error is not None:
        return SourceResult(read.spec.id, read.error)
    if read.parsed is None:
        return SourceResult(read.spec.id, None)  # not modified
    return SourceResult(read.spec.id, c)


# -- the run --------------------------------------------------------------------------------


def run_once(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Ingest what is due, store it and publish: gather → commit → publish. Never raises
    for one bad source.

    `should_stop` is checked between phases, so a daemon asked to stop finishes the
    write in progress and skips the rest.
    """
    report = RunReport()
    renewal = (
        nullcontext()
        if options.dry_run
        else LeaseRenewal(store.reopen, run_lease_owner(), lease=RUN_LEASE, holder="run")
    )
    try:
        with renewal:
            gathered = gather(
                settings,
                store,
                now=now,
                only=options.only or None,
                options=options,
                progress=progress,
                should_stop=should_stop,
            )
            report.warnings.extend(gathered.warnings)
            report.not_due, report.next_due = gathered.not_due, gathered.next_due
            if gathered.stopped:
                report.stopped = STOPPED_BEFORE_STORING
                return report
            committed = commit(
                settings, store, gathered, now=now, options=options, should_stop=should_stop
            )
    finally:
        if not options.dry_run:
            store.drop_leases(run_lease_owner())  # the states, if any, are stored
    # Publishing reads everything back from the store: let this run's copies go first.
    del gathered
    release_free_memory()
    report.results.extend(committed.results)
    report.counts.update(committed.counts)
    report.decisions.extend(committed.decisions)
    if options.dry_run:
        return report
    if not committed.stored:
        report.stopped = STOPPED_BEFORE_STORING
        return report
    if should_stop():
        report.stopped = STOPPED_BEFORE_PUBLISHING
        return report
    report.published, report.entries, warnings = publish_stage(
        settings, store, now=now, force=options.publish_unchanged
    )
    report.warnings.extend(warnings)
    return report


def publish_stage(
    settings: Settings, store: Store, *, now: datetime, force: bool = False
) -> tuple[PublishReport | None, int, list[str]]:
    """Publish what is stored (skipped when nothing changed, unless `force`), keep the
    documents in the store when asked, note the time and tell the WebSub hub: the
    publish of a run, and each of `aggregator publisher`. Returns the report (None:
    skipped), the entry count and the warnings."""
    from aggregator.publish.documents import keep_documents
    from aggregator.publish.output import notify_hub, publish

    published, entries = publish(settings, store, force=force, now=now)
    keep_documents(settings, store)
    if published is None:
        log.info("nothing changed since the last publish; %d entries", entries)
        return None, entries, []
    store.set_meta("last_publish", now.isoformat())
    warnings = notify_hub(settings, published)
    log.info(
        "published %d entries: %d files written, %d unchanged",
        entries,
        len(published.written),
        len(published.unchanged),
    )
    return published, entries, warnings


__all__ = [
    "SEED_TEXT_SOURCE",
    "Cleaned",
    "Committed",
    "Gathered",
    "RunOptions",
    "RunReport",
    "combined",
    "commit",
    "commit_states",
    "gather",
    "gather_claimed",
    "gather_read",
    "has_writes",
    "publish_stage",
    "run_once",
    "split_states_only",
]
