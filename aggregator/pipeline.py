"""A run: stages with values between them, and this module only sequences them.

    gather   sources ─► read seeds / fetch due remote ─► parse        (collect)
                     ─► normalise + filter ─► full text                (cleaning in workers)
             -> `Gathered`: frozen, nothing stored but source bookkeeping rows
    commit   a read-only snapshot of the store (`load_view`)
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
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aggregator import dedupe, identity, repair
from aggregator.collect import (
    SOURCE_CONFIGS_META,
    SourceRead,
    afresh,
    config_keys,
    fetch_remote,
    read_seeds,
    reconfigured,
)
from aggregator.config import Settings
from aggregator.exceptions import FetchError, ParseError
from aggregator.filters import ItemFilter, compile_filters, filter_reason
from aggregator.fulltext import complete_items, reread_next_time
from aggregator.memory import release_free_memory
from aggregator.model import (
    SEED_TEXT_SOURCE,
    Attribution,
    Item,
    ParsedFeed,
    RawEntry,
    SourceKind,
    SourceResult,
    SourceSpec,
    SourceUpdated,
)
from aggregator.normalise import NormaliseOptions, normalise_entry
from aggregator.output import notify_hub, publish
from aggregator.parallel import parallel_map
from aggregator.policy import Fetched, due_at, is_due, state_after, with_feed
from aggregator.publish import PublishReport
from aggregator.readstate import (
    SeedFileRecord,
    SourceEntries,
    clean_fingerprint,
    entries_to_clean,
    entry_digest,
)
from aggregator.store import ItemWrite, KnownItem, LinkUseRow, SourceState, Store, attribution_for
from aggregator.store.protocol import CommitStore, GatherStore, MatchStore

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (phase, done, total) for progress bars


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    all_sources: bool = False  # fetch every remote source now, due or not
    only: tuple[str, ...] = ()  # restrict the run to these source ids
    dry_run: bool = False  # decide everything, write nothing
    publish_unchanged: bool = False  # re-render even when nothing changed since last publish
    # Read and clean these sources whole, what did not change since last time included
    # (aggregator.readstate): a caller that knows more than the files and digests say.
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


@dataclass(frozen=True, slots=True)
class Organisations:
    """Who speaks for themselves in this run's sources (see `organisations_in`)."""

    named: frozenset[str] = frozenset()
    republishers: frozenset[str] = frozenset()  # named in footers: never organisations

    def known(self, stored: Iterable[str]) -> tuple[str, ...]:
        """With the organisations learnt by earlier runs."""
        return tuple(sorted((set(stored) | self.named) - self.republishers))


@dataclass(frozen=True, slots=True, kw_only=True)
class Gathered:
    """The gather stage's result: every source read, parsed and cleaned, nothing stored."""

    sources: tuple[Cleaned, ...] = ()
    seed_files: tuple[SeedFileRecord, ...] = ()  # files read: remembered once stored
    gone: tuple[str, ...] = ()  # remembered seeds-folder paths no longer there
    unfinished: frozenset[str] = frozenset()  # sources with full-text pages left
    organisations: Organisations = Organisations()
    configured: tuple[str, ...] = ()  # the configured sources of this run
    warnings: tuple[str, ...] = ()
    not_due: int = 0  # enabled remote sources left for a later run
    next_due: datetime | None = None  # when the first of those is due
    stopped: bool = False  # asked to stop after fetching: nothing cleaned

    @property
    def items(self) -> list[Item]:
        return [item for cleaned in self.sources for item in cleaned.items]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """What became of one source's entries in this run."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            new=self.new + other.new,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            skipped=self.skipped + other.skipped,
        )


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

    Writes no item: only the rows of sources seen for the first time (or reconfigured)
    and the full-text caches, so several processes may gather at once. `should_stop` is
    asked once the sources are fetched; a stopped gather cleans nothing.
    """
    warnings: list[str] = []

    def wanted(source_id: str) -> bool:
        return only is None or source_id in only

    reading = read_seeds(settings, warnings, known=store.seed_files(), reread=options.reread)
    named = {r.spec.id for r in reading.reads} | {s.id for s in settings.sources}
    for unknown in sorted(set(only or ()) - named):  # a typo would silently do nothing
        warnings.append(f"--only {unknown}: no such source (see `aggregator sources list`)")
    reads = [r for r in reading.reads if wanted(r.spec.id)]
    specs = {s.id: s for s in settings.sources if wanted(s.id)}
    states = store.ensure_sources(list(specs.values()), write=not options.dry_run)
    last = json.loads(store.get_meta(SOURCE_CONFIGS_META) or "{}")
    due = due_sources(
        settings, states, last, now=now, force=options.all_sources or only is not None
    )
    states.update((s.id, s) for s in due.states)
    if progress:
        progress("fetch", 0, len(due.due))
    reads.extend(fetch_remote(settings, due.due, specs))
    if progress:
        progress("fetch", len(due.due), len(due.due))
    if should_stop():
        return Gathered(
            warnings=tuple(warnings), not_due=due.not_due, next_due=due.next_due, stopped=True
        )

    local = [r.spec for r in reads if r.spec.id not in states]
    states.update(store.ensure_sources(local, write=not options.dry_run))

    organisations = organisations_in(reads)
    known = organisations.known(stored_organisations(store))
    if progress:
        progress("clean", 0, len(reads))
    cleaned = _clean(
        reads,
        states,
        store,
        settings=settings,
        options=normalise_options(settings, reads, known),
        known=known,
        now=now,
        warnings=warnings,
        reread=options.reread,
    )
    release_free_memory()  # the raw entries are gone: the dedupe index comes next
    if progress:
        progress("clean", len(reads), len(reads))

    # Teasers get their article before merging, so stories match on the article (issue 18).
    items = [i for c in cleaned for i in c.items]
    full = complete_items(settings, store, items, now=now, fetch=not options.dry_run)
    cleaned = [_completed(c, full.items, full.unfinished) for c in cleaned]
    ran = {c.read.spec.id for c in cleaned}
    return Gathered(
        sources=tuple(cleaned),
        seed_files=tuple(f for f in reading.records if f.source_id in ran),
        gone=reading.gone,
        unfinished=full.unfinished,
        organisations=organisations,
        configured=tuple(specs),
        warnings=tuple(warnings),
        not_due=due.not_due,
        next_due=due.next_due,
    )


def _completed(cleaned: Cleaned, full: Mapping[str, Item], unfinished: Collection[str]) -> Cleaned:
    items = tuple(full.get(i.key, i) for i in cleaned.items)
    if cleaned.read.spec.id not in unfinished:
        return replace(cleaned, items=items)
    # The items whose pages wait come back through cleaning next time: their feed is
    # read again, and its entries are not remembered.
    return replace(cleaned, items=items, read=reread_next_time(cleaned.read), entries=None)


@dataclass(frozen=True, slots=True)
class Due:
    """The remote sources to fetch now, and when the others are."""

    due: tuple[SourceState, ...]
    states: tuple[SourceState, ...]  # those reconfigured, started afresh
    not_due: int
    next_due: datetime | None


def due_sources(
    settings: Settings,
    states: Mapping[str, SourceState],
    last_configs: Mapping[str, str],
    *,
    now: datetime,
    force: bool,
) -> Due:
    """The remote sources to fetch now (pure). `force` (named with `--only`, or `--all`):
    each enabled source now, whatever its schedule. A source whose config (or `[fetch]`)
    changed since the last run (`last_configs`) starts afresh: a refusal, failure or 410
    under the old config says nothing about the new one."""
    sources = {s.id: s for s in settings.sources}
    restarted = {}
    for source_id in reconfigured(settings, last_configs) & states.keys():
        state = states[source_id]
        fresh = afresh(state, sources[source_id])
        if fresh is not state:
            restarted[source_id] = fresh
    min_interval = settings.fetch.min_interval
    due = []
    not_due = 0
    next_due: datetime | None = None
    for state in (restarted.get(sid, s) for sid, s in states.items()):
        if is_due(state, now=now, min_interval=min_interval, force=force or state.id in restarted):
            due.append(state)
        elif state.enabled:
            not_due += 1
            at = due_at(state, min_interval=min_interval)
            if at is not None and (next_due is None or at < next_due):
                next_due = at
    return Due(tuple(due), tuple(restarted.values()), not_due, next_due)


def _clean(
    reads: Sequence[SourceRead],
    states: Mapping[str, SourceState],
    store: GatherStore,
    *,
    settings: Settings,
    options: Mapping[str, NormaliseOptions],
    known: tuple[str, ...],
    now: datetime,
    warnings: list[str],
    reread: Collection[str] = (),
) -> list[Cleaned]:
    """The items of each source, cleaned; and what to remember of the feeds' entries. Of
    a feed, only the entries whose raw content changed since it was last cleaned under
    the same fingerprint are cleaned (`aggregator.readstate`); the others count as
    unchanged. Text seeds are told apart by file instead (`collect.read_seeds`)."""
    filters = compile_filters_of(settings)
    ready = [(at, r) for at, r in enumerate(reads) if r.parsed is not None and r.error is None]
    feeds = [r.spec.id for _, r in ready if r.spec.kind is not SourceKind.SEED_TEXT]
    previous = store.source_entries(feeds) if feeds else {}
    jobs = []
    digests: list[_EntryDigests | None] = []
    for _, read in ready:
        assert read.parsed is not None
        state = with_feed(states[read.spec.id], read.spec.kind, read.parsed.meta)
        job = _CleanJob(
            spec=read.spec,
            attribution=attribution_for(state, feed_id_base=settings.feed.base_url),
            entries=read.parsed.entries,
            options=options.get(read.spec.id) or NormaliseOptions(known_organisations=known),
            item_filter=filters.get(read.spec.id),
            now=now,
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
    return [
        done.get(at) or Cleaned(read=r, state=states[r.spec.id], unchanged=r.unchanged)
        for at, r in enumerate(reads)
    ]


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


@dataclass(slots=True)
class _Cleaned:
    items: list[Item] = field(default_factory=list)
    filtered: list[str] = field(default_factory=list)  # why each was filtered out
    failed: list[str] = field(default_factory=list)  # entries cleaning could not handle
    failed_at: list[int] = field(default_factory=list)  # their indexes in the job


def clean_entries(job: _CleanJob) -> _Cleaned:
    """Each entry of one source cleaned, then kept or filtered out."""
    cleaned = _Cleaned()
    for index, raw in enumerate(job.entries):
        try:
            item = normalise_entry(
                raw,
                source=job.spec,
                attribution=job.attribution,
                first_seen=job.now,
                options=job.options,
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


def compile_filters_of(settings: Settings) -> dict[str, ItemFilter]:
    """Validate per-source filters up front, so a bad pattern stops before any work."""
    return {
        source.id: compile_filters(source.filters, source_id=source.id)
        for source in settings.sources
        if source.filters
    }


def carries_others(parsed: ParsedFeed) -> bool:
    """A feed that rarely names itself carries other organisations' stories.

    An organisation names itself in most of its releases ("The Bureau of Meteorology
    said…"); a digest or a wire almost never does. Below one entry in four, the feed's
    own name is not taken as the author of its items.
    """
    title = parsed.meta.title
    if not title or not parsed.entries:
        return False
    return _mentions(parsed, title) * 4 < len(parsed.entries)


def _mentions(parsed: ParsedFeed, name: str) -> int:
    return sum(
        1 for e in parsed.entries if name in f"{e.title or ''} {e.summary or ''} {e.content or ''}"
    )


KNOWN_ORGANISATIONS = "known_organisations"


def organisations_in(reads: Sequence[SourceRead]) -> Organisations:
    """Organisations seen speaking for themselves: seed organisation lines, and feeds that
    name themselves in most of their entries. Republishers named in footers are not
    organisations."""
    names: set[str] = set()
    republishers: set[str] = set()
    for read in reads:
        if read.parsed is None:
            continue
        republishers.update(raw.via for raw in read.parsed.entries if raw.via)
        if read.spec.kind is SourceKind.SEED_TEXT:
            names.update(raw.authors[0] for raw in read.parsed.entries if raw.authors)
            continue
        title = read.parsed.meta.title
        if title and _mentions(read.parsed, title) * 2 >= len(read.parsed.entries):
            names.add(title)
    return Organisations(frozenset(names), frozenset(republishers))


def known_organisations(reads: Sequence[SourceRead], stored: Iterable[str]) -> tuple[str, ...]:
    """The organisations known once this run's sources are read: those learnt by earlier
    runs (`stored`, remembered so a republished copy arriving alone later is still
    credited) and those of `organisations_in` the sources."""
    return organisations_in(reads).known(stored)


def stored_organisations(store: GatherStore | CommitStore) -> list[str]:
    names: list[str] = json.loads(store.get_meta(KNOWN_ORGANISATIONS) or "[]")
    return names


def normalise_options(
    settings: Settings, reads: Sequence[SourceRead], known: tuple[str, ...]
) -> dict[str, NormaliseOptions]:
    """Cleaning options per source of this run; local sources have no [[sources]] entry
    and take the top-level settings."""
    configured = {s.id: s for s in settings.sources}
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


# -- match: the dedupe plan ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredView:
    """What matching reads of the store, loaded before deciding (`load_view`): a frozen
    snapshot, so the plan is a pure function of it and the run's items."""

    known: Mapping[str, KnownItem] = field(default_factory=dict)  # the run's stored items
    gone: frozenset[str] = frozenset()  # the run's keys pruned for good (tombstones)
    entry_sizes: Mapping[str, int] = field(default_factory=dict)  # entries of changed items
    window: repair.Window = field(
        default_factory=repair.Window
    )  # empty when nothing is to be matched
    link_uses: tuple[LinkUseRow, ...] = ()  # stored items sharing a link with new ones


def load_view(
    store: MatchStore, settings: Settings, items: Sequence[Item], *, now: datetime
) -> StoredView:
    """The snapshot `plan_items` decides from. The window and the links are read only
    when some item is new, or updated alone in its story (a run of unchanged items does
    not read the window)."""
    keys = [i.key for i in items]
    known = store.known_items(keys)
    gone = frozenset(store.tombstoned(keys))
    changed = [
        old.entry_id
        for i in items
        if i.key not in gone
        and (old := known.get(i.key)) is not None
        and old.content_hash != i.content_hash
    ]
    sizes = {entry_id: store.entry_size(entry_id) for entry_id in dict.fromkeys(changed)}
    fresh = [i for i in items if i.key not in gone and i.key not in known]
    alone = [
        i
        for i in items
        if i.key in known and sizes.get(known[i.key].entry_id) == 1 and i.key not in gone
    ]
    if not fresh and not alone:
        return StoredView(known, gone, sizes)
    links = {i.link for i in (*fresh, *alone) if i.link}
    return StoredView(
        known,
        gone,
        sizes,
        repair.load_window(store, settings, now),
        tuple(store.link_uses(links)) if links else (),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What storing a run's items means: writes, moves, links learnt, and per source what
    became of its items."""

    writes: tuple[ItemWrite, ...] = ()
    unchanged: tuple[str, ...] = ()  # keys of stored items seen again as they are
    learned_links: Mapping[str, str] = field(default_factory=dict)  # link -> its source
    moves: tuple[tuple[str, str, str], ...] = ()  # (key, entry, why)
    tallies: Mapping[str, Tally] = field(default_factory=dict)  # by source id
    decisions: tuple[tuple[str, str, str], ...] = ()  # (action, source, title)


def plan_items(
    sources: Sequence[tuple[str, Sequence[Item]]],
    view: StoredView,
    *,
    now: datetime,
    never_merge: Collection[str] = (),
) -> Plan:
    """New, updated or unchanged, then the story of each new item (pure: the store is
    only seen through `view`). `sources` are (source id, its items) in run order."""
    tallies: dict[str, Counter[str]] = {}
    decisions: list[tuple[str, str, str]] = []
    writes: list[ItemWrite] = []
    unchanged: list[str] = []
    fresh: list[tuple[str, Item]] = []
    # Updated items alone in their story: (item, its signature, its entry).
    alone: dict[str, tuple[Item, dedupe.Signature, str]] = {}
    seen: set[str] = set()
    for source_id, items in sources:
        tally = tallies.setdefault(source_id, Counter())
        for item in items:
            if item.key in seen or item.key in view.gone:
                tally["skipped"] += 1
                continue
            seen.add(item.key)
            old = view.known.get(item.key)
            if old is None:
                fresh.append((source_id, item))
            elif old.content_hash == item.content_hash:
                tally["unchanged"] += 1
                unchanged.append(item.key)
            else:
                tally["updated"] += 1
                decisions.append(("updated", source_id, item.title))
                write, signature = _updated(item, old, now)
                if view.entry_sizes.get(old.entry_id) == 1:
                    alone[item.key] = (write.item, signature, old.entry_id)
                writes.append(write)
    assigned = _assign_new(fresh, view, now=now, never_merge=never_merge, alone=alone)
    for source_id, item in fresh:
        tallies[source_id]["new"] += 1
        decisions.append(("new", source_id, item.title))
    return Plan(
        writes=(*writes, *assigned.writes),
        unchanged=tuple(unchanged),
        learned_links=assigned.learned_links,
        moves=assigned.moves,
        tallies={
            sid: Tally(
                new=c["new"], updated=c["updated"], unchanged=c["unchanged"], skipped=c["skipped"]
            )
            for sid, c in tallies.items()
        },
        decisions=tuple(decisions),
    )


def _updated(item: Item, old: KnownItem, now: datetime) -> tuple[ItemWrite, dedupe.Signature]:
    # The content changed, so the entry's `updated` must move even if the source did not
    # say so.
    updated = item.updated if item.updated > old.updated else now
    changed = replace(item, updated=max(updated, item.published))
    signature = dedupe.signature_of(changed)
    write = ItemWrite(
        item=changed,
        entry_id=old.entry_id,
        first_seen=old.first_seen,
        seen_at=now,
        signature=signature.to_json(),
    )
    return write, signature


@dataclass(frozen=True, slots=True, kw_only=True)
class _Assigned:
    writes: tuple[ItemWrite, ...] = ()
    moves: tuple[tuple[str, str, str], ...] = ()
    learned_links: Mapping[str, str] = field(default_factory=dict)


def _assign_new(
    fresh: Sequence[tuple[str, Item]],
    view: StoredView,
    *,
    now: datetime,
    never_merge: Collection[str],
    alone: Mapping[str, tuple[Item, dedupe.Signature, str]],
) -> _Assigned:
    """The story of each new item; and of each updated item alone in its story, which
    may now fit another (a teaser whose full text came): it moves there after writing."""
    if not fresh and not alone:
        return _Assigned()
    new_items = [item for _, item in fresh]
    computed = parallel_map(
        dedupe.signature_of,
        new_items,
        weight=len(new_items),
        min_weight=PARALLEL_MIN_ENTRIES,
        chunksize=256,
    )
    signatures = {item.key: sig for item, sig in zip(new_items, computed, strict=True)}
    signatures.update((key, sig) for key, (_, sig, _) in alone.items())
    items = new_items + [item for item, _, _ in alone.values()]
    standalone = {item.key for item in new_items if _never_merge(item, never_merge)}
    stays = {key: entry_id for key, (_, _, entry_id) in alone.items()}
    matched = _matches(
        items, [sig for key, sig in signatures.items() if key not in standalone], view, stays
    )
    matches = matched.matches
    moves = []
    for key, entry_id in stays.items():
        found = matches.get(key)
        if found is not None and found.entry_id not in (None, entry_id):
            reason = f"its text changed, then {found.reason}"
            moves.append((key, str(found.entry_id), reason))
    for key in standalone:
        matches[key] = dedupe.Match(
            entry_id=repair.split_entry_id(key), reason=repair.NEVER_MERGE_REASON
        )
    writes = []
    for item in new_items:
        match = matches[item.key]
        merged = match.matched_key is not None or item.key in standalone
        writes.append(
            ItemWrite(
                item=item,
                entry_id=match.entry_id or identity.entry_id(item.key),
                first_seen=now,
                seen_at=now,
                merge_reason=match.reason if merged else None,
                merge_score=match.score if merged else None,
                signature=signatures[item.key].to_json(),
                merge_detail=_detail(match),
            )
        )
    return _Assigned(writes=tuple(writes), moves=tuple(moves), learned_links=matched.learned_links)


@dataclass(frozen=True, slots=True)
class _Matched:
    matches: dict[str, dedupe.Match]
    learned_links: dict[str, str]  # links found to identify no item -> the source


def _matches(
    fresh: Sequence[Item],
    signatures: list[dedupe.Signature],
    view: StoredView,
    stays: Mapping[str, str],
) -> _Matched:
    """The story of each new item, against the stored ones of the window and each other.
    Items in `stays` (updated items alone in their story) are matched again on their new
    text, without their old version, and keep their entry when nothing else fits.
    The index lives only here: for 50k new items it is the largest thing a run builds."""
    index = view.window.index(leaving=stays.keys())
    remembered = set(index.shared)
    index.shared |= _shared_with_stored(fresh, view.link_uses)
    matches = dedupe.assign_entries(
        signatures, index, lambda sig: stays.get(sig.key) or identity.entry_id(sig.key)
    )
    sources = {item.link: item.source.source_id for item in fresh if item.link}
    learned = {link: sources.get(link, "") for link in index.shared - remembered}
    return _Matched(matches, learned)


def _shared_with_stored(fresh: Sequence[Item], stored: Iterable[LinkUseRow]) -> set[str]:
    """Links that new items share with stored items of their publisher, however old."""
    links = {item.link for item in fresh if item.link}
    if not links:
        return set()
    uses = [
        dedupe.LinkUse(
            dedupe.publisher_of(row.key, row.source_id), row.link, row.key, row.content_hash
        )
        for row in stored
        if row.link in links
    ]
    uses += [
        dedupe.LinkUse(
            dedupe.publisher_of(i.key, i.source.source_id), i.link, i.key, i.content_hash
        )
        for i in fresh
        if i.link
    ]
    return dedupe.shared_links(uses)


def _detail(match: dedupe.Match) -> str | None:
    """What `explain` shows of a decision: the rule and the stories weighed."""
    if not match.candidates and match.reason == dedupe.NEW_STORY.reason:
        return None
    return json.dumps(
        {"rule": match.reason, "candidates": [c.to_dict() for c in match.candidates]},
        sort_keys=True,
    )


def _never_merge(item: Item, rules: Collection[str]) -> bool:
    return bool(rules) and (item.key in rules or item.origin_id in rules or item.link in rules)


# -- commit: match, then store ---------------------------------------------------------------


def commit(
    settings: Settings,
    store: CommitStore,
    gathered: Gathered,
    *,
    now: datetime,
    options: RunOptions = RunOptions(),
    should_stop: Callable[[], bool] = lambda: False,
) -> Committed:
    """Match the gathered items against a snapshot of the store, then store them: items
    first, then moves, links learnt, what was read, and each source's state with its
    next-due time last (TRAPS 8: a crash in between costs a refetch only). A dry run,
    or `should_stop` true once the plan is made, stores nothing.

    Short and cheap (the items come cleaned; signatures of stored items are stored): a
    worker runs it under a lock."""
    view = load_view(store, settings, gathered.items, now=now)
    plan = plan_items(
        [(c.read.spec.id, c.items) for c in gathered.sources if c.items],
        view,
        now=now,
        never_merge=settings.dedupe.never_merge,
    )
    del view
    tallies = [_tally(c, plan.tallies) for c in gathered.sources]
    counts: Counter[str] = Counter()
    for cleaned, tally in zip(gathered.sources, tallies, strict=True):
        counts.update(new=tally.new, updated=tally.updated, unchanged=tally.unchanged)
        counts.update(skipped=tally.skipped)
        _log_result(cleaned.read, tally)
    results = tuple(_result(c.read, t) for c, t in zip(gathered.sources, tallies, strict=True))
    decided = Committed(results=results, counts=dict(counts), decisions=plan.decisions)
    if options.dry_run or should_stop():
        return decided

    store.write_items(plan.writes)
    for key, entry_id, reason in plan.moves:
        store.reassign(key, entry_id, reason, now)
    store.add_shared_links(dict(plan.learned_links), now)
    known = json.dumps(list(gathered.organisations.known(stored_organisations(store))))
    if store.get_meta(KNOWN_ORGANISATIONS) != known:
        store.set_meta(KNOWN_ORGANISATIONS, known)
    counts["split"] = repair.apply_config_rules(settings, store, now)
    store.touch_items(plan.unchanged, now)
    # What was read is remembered once its items are stored (TRAPS 8).
    store.save_reads(
        gathered.seed_files,
        [c.entries for c in gathered.sources if c.entries is not None],
        gone=gathered.gone,
        unfinished=sorted(gathered.unfinished),
    )
    del plan
    release_free_memory()
    store.save_sources(
        [
            state_after(
                _fetched(c.read, t),
                c.state,
                interval=c.read.spec.interval,
                fetch=settings.fetch,
                now=now,
            )
            for c, t in zip(gathered.sources, tallies, strict=True)
        ]
    )
    _record_configs(settings, store, gathered.configured)
    if settings.retention_days is not None:
        counts["pruned"] = store.prune(now - timedelta(days=settings.retention_days), now)
    return replace(decided, counts=dict(counts), stored=True)


def _tally(cleaned: Cleaned, planned: Mapping[str, Tally]) -> Tally:
    gathered = Tally(unchanged=cleaned.unchanged, skipped=cleaned.skipped)
    if not cleaned.items:
        return gathered
    return gathered + planned[cleaned.read.spec.id]


def _fetched(read: SourceRead, tally: Tally) -> Fetched:
    return Fetched(
        kind=read.spec.kind,
        meta=read.parsed.meta if read.parsed is not None else None,
        outcome=read.outcome,
        body_hash=read.body_hash,
        error=read.error,
        new=tally.new,
        updated=tally.updated,
    )


def _record_configs(settings: Settings, store: CommitStore, ran: Iterable[str]) -> None:
    """Remember the config each remote source of this run ran under (see `due_sources`)."""
    last: dict[str, str] = json.loads(store.get_meta(SOURCE_CONFIGS_META) or "{}")
    now_configured = config_keys(settings)
    keys = {sid: key for sid, key in last.items() if sid in now_configured}
    keys.update({sid: now_configured[sid] for sid in ran})
    if keys != last:
        store.set_meta(SOURCE_CONFIGS_META, json.dumps(keys, sort_keys=True))


def _log_result(read: SourceRead, c: Tally) -> None:
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


def _result(read: SourceRead, c: Tally) -> SourceResult:
    if read.error is not None:
        return SourceResult(read.spec.id, read.error)
    if read.parsed is None:
        return SourceResult(read.spec.id, None)  # not modified
    return SourceResult(
        read.spec.id,
        SourceUpdated(new=c.new, updated=c.updated, unchanged=c.unchanged, skipped=c.skipped),
    )


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
    committed = commit(settings, store, gathered, now=now, options=options, should_stop=should_stop)
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
    report.published, report.entries = publish(
        settings, store, force=options.publish_unchanged, now=now
    )
    if report.published is None:
        log.info("nothing changed since the last publish; %d entries", report.entries)
        return report
    store.set_meta("last_publish", now.isoformat())
    report.warnings.extend(notify_hub(settings, report.published))
    log.info(
        "published %d entries: %d files written, %d unchanged",
        report.entries,
        len(report.published.written),
        len(report.published.unchanged),
    )
    return report


__all__ = [
    "SEED_TEXT_SOURCE",
    "Cleaned",
    "Committed",
    "Gathered",
    "Plan",
    "RunOptions",
    "RunReport",
    "StoredView",
    "commit",
    "gather",
    "is_due",
    "load_view",
    "plan_items",
    "publish",
    "run_once",
]
