"""The orchestrator: one run of the whole flow.

    sources ─► read seeds / fetch remote ─► parse        (collect)
            ─► normalise + filter ─► classify ─► dedupe  (here; cleaning in workers)
            ─► store items ─► save each source's state and validators
            ─► publish                                   (output)

Errors are values here: one bad source becomes a failed `SourceResult` and the run goes
on. Only `AggregatorError`s are caught; anything else is a bug and propagates.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aggregator import dedupe
from aggregator.config import Settings
from aggregator.dedupe import repair
from aggregator.exceptions import FetchError, ParseError, SourceError
from aggregator.fulltext import complete_items, reread_next_time
from aggregator.ingest.collect import (
    SOURCE_CONFIGS_META,
    Batch,
    afresh,
    config_keys,
    due_at,
    fetch_remote,
    is_due,
    read_seeds,
    reconfigured,
)
from aggregator.ingest.policy import next_check_at, refresh_hint
from aggregator.model import (
    SEED_TEXT_SOURCE,
    Attribution,
    FeedMeta,
    Item,
    ParsedFeed,
    RawEntry,
    SourceKind,
    SourceResult,
    SourceSpec,
    SourceUpdated,
)
from aggregator.normalise import NormaliseOptions, identity, links_shared, normalise_entry
from aggregator.normalise.filters import ItemFilter, compile_filters, filter_reason
from aggregator.publish import PublishReport
from aggregator.publish.output import notify_hub, publish
from aggregator.runtime.memory import release_free_memory
from aggregator.runtime.parallel import parallel_map
from aggregator.store import ItemWrite, SourceState, Store, attribution_for
from aggregator.store.readstate import (
    SourceEntries,
    clean_fingerprint,
    entries_to_clean,
    entry_digest,
)

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


# -- deciding -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Context:
    settings: Settings
    store: Store
    now: datetime
    filters: dict[str, ItemFilter]
    options: dict[str, NormaliseOptions]
    known_organisations: tuple[str, ...] = ()


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


def _clean_batches(
    batches: Sequence[Batch],
    states: dict[str, SourceState],
    ctx: _Context,
    warnings: list[str],
    reread: Collection[str] = (),
) -> tuple[list[tuple[Batch, list[Item]]], list[SourceEntries]]:
    """The items of each batch, cleaned; and what to remember of the feeds' entries. Of
    a feed, only the entries whose raw content changed since it was last cleaned under
    the same fingerprint are cleaned (`aggregator.store.readstate`); the others count as
    unchanged. Text seeds are told apart by file instead (`collect.read_seeds`)."""
    ready = [b for b in batches if b.parsed is not None and b.error is None]
    feeds = [b.spec.id for b in ready if b.spec.kind is not SourceKind.SEED_TEXT]
    previous = ctx.store.source_entries(feeds) if feeds else {}
    jobs = []
    digests: list[_EntryDigests | None] = []
    for batch in ready:
        assert batch.parsed is not None
        state = _state_from_feed(states[batch.spec.id], batch, ctx)
        job = _CleanJob(
            spec=batch.spec,
            attribution=attribution_for(state, feed_id_base=ctx.settings.feed.base_url),
            entries=batch.parsed.entries,
            options=ctx.options.get(batch.spec.id)
            or NormaliseOptions(known_organisations=ctx.known_organisations),
            item_filter=ctx.filters.get(batch.spec.id),
            now=ctx.now,
        )
        job = replace(job, shared_links=links_shared(job.entries, job.options))
        known = None
        if batch.spec.kind is not SourceKind.SEED_TEXT:
            known = _entry_digests(job, previous.get(batch.spec.id), reread=batch.spec.id in reread)
            batch.counts["unchanged"] += len(job.entries) - len(known.fresh)
            job = replace(job, entries=tuple(job.entries[i] for i in known.fresh))
        jobs.append(job)
        digests.append(known)
    weight = sum(len(job.entries) for job in jobs)
    results = parallel_map(clean_entries, jobs, weight=weight, min_weight=PARALLEL_MIN_ENTRIES)
    cleaned = []
    remembered = []
    for batch, result, known in zip(ready, results, digests, strict=True):
        assert batch.parsed is not None
        # The raw entries are done with; only the feed's own data is still needed.
        batch.parsed = replace(batch.parsed, entries=())
        batch.counts["skipped"] += len(result.filtered) + len(result.failed)
        for line in result.filtered:
            log.info("%s: filtered out %s", batch.spec.id, line)
        warnings.extend(f"{batch.spec.id}: {line}" for line in result.failed)
        cleaned.append((batch, result.items))
        if known is not None:
            remembered.append(known.remembered(batch.spec.id, result.failed_at))
    return cleaned, remembered


def _state_from_feed(state: SourceState, batch: Batch, ctx: _Context) -> SourceState:
    if batch.parsed is None and batch.spec.kind is not SourceKind.REMOTE:
        return state  # a feed file not read again: what it said is still what it says
    meta = batch.parsed.meta if batch.parsed else FeedMeta()
    # A local source is read whole every run: what it says now is all it says (a link
    # stored by an older version pointed at a per-source feed path that could 404;
    # `aggregator.sources.feeds` links a source without a page of its own to its feed).
    local = batch.spec.kind is not SourceKind.REMOTE
    return replace(
        state,
        feed_title=meta.title or state.feed_title,
        feed_id=meta.id or state.feed_id,
        site_link=meta.link if local else (meta.link or state.site_link),
        feed_updated=meta.updated or state.feed_updated,
    )


@dataclass(slots=True)
class _Plan:
    writes: list[ItemWrite] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    learned_links: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[str, str, str]] = field(default_factory=list)  # (key, entry, why)


def _classify(
    items_by_source: list[tuple[Batch, list[Item]]], ctx: _Context, report: RunReport
) -> _Plan:
    """New, updated or unchanged, then near-duplicate assignment of the new ones."""
    plan = _Plan()
    all_keys = [i.key for _, items in items_by_source for i in items]
    known = ctx.store.known_items(all_keys)
    gone = ctx.store.tombstoned(all_keys)
    fresh: list[tuple[Batch, Item]] = []
    # Updated items alone in their story: (item, its signature, its entry).
    alone: dict[str, tuple[Item, dedupe.Signature, str]] = {}
    seen: set[str] = set()
    for batch, items in items_by_source:
        for item in items:
            if item.key in seen or item.key in gone:
                batch.counts["skipped"] += 1
                continue
            seen.add(item.key)
            old = known.get(item.key)
            if old is None:
                fresh.append((batch, item))
            elif old.content_hash == item.content_hash:
                batch.counts["unchanged"] += 1
                plan.unchanged.append(item.key)
            else:
                batch.counts["updated"] += 1
                report.decisions.append(("updated", batch.spec.id, item.title))
                # The content changed, so the entry's `updated` must move even if the
                # source did not say so.
                updated = item.updated if item.updated > old.updated else ctx.now
                changed = replace(item, updated=max(updated, item.published))
                signature = dedupe.signature_of(changed)
                if ctx.store.entry_size(old.entry_id) == 1:
                    alone[item.key] = (changed, signature, old.entry_id)
                plan.writes.append(
                    ItemWrite(
                        item=changed,
                        entry_id=old.entry_id,
                        first_seen=old.first_seen,
                        seen_at=ctx.now,
                        signature=signature.to_json(),
                    )
                )
    _assign_new(fresh, ctx, plan, report, alone=alone)
    return plan


def _matches(
    fresh: Sequence[Item],
    signatures: list[dedupe.Signature],
    ctx: _Context,
    stays: Mapping[str, str],
) -> _Matched:
    """The story of each new item, against the stored ones of the window and each other.
    Items in `stays` (updated items alone in their story) are matched again on their new
    text, without their old version, and keep their entry when nothing else fits.
    The index lives only here: for 50k new items it is the largest thing a run builds."""
    index = repair.window_index(ctx.store, ctx.settings, ctx.now, leaving=stays.keys())
    remembered = set(index.shared)
    index.shared |= _shared_with_stored(fresh, ctx.store)
    matches = dedupe.assign_entries(
        signatures, index, lambda sig: stays.get(sig.key) or identity.entry_id(sig.key)
    )
    sources = {item.link: item.source.source_id for item in fresh if item.link}
    learned = {link: sources.get(link, "") for link in index.shared - remembered}
    return _Matched(matches, learned)


@dataclass(frozen=True, slots=True)
class _Matched:
    matches: dict[str, dedupe.Match]
    learned_links: dict[str, str]  # links found to identify no item -> the source


def _shared_with_stored(fresh: Sequence[Item], store: Store) -> set[str]:
    """Links that new items share with stored items of their publisher, however old."""
    links = {item.link for item in fresh if item.link}
    if not links:
        return set()
    uses = [
        dedupe.LinkUse(
            dedupe.publisher_of(row.key, row.source_id), row.link, row.key, row.content_hash
        )
        for row in store.link_uses(links)
    ]
    uses += [
        dedupe.LinkUse(
            dedupe.publisher_of(i.key, i.source.source_id), i.link, i.key, i.content_hash
        )
        for i in fresh
        if i.link
    ]
    return dedupe.shared_links(uses)


def _assign_new(
    fresh: list[tuple[Batch, Item]],
    ctx: _Context,
    plan: _Plan,
    report: RunReport,
    *,
    alone: Mapping[str, tuple[Item, dedupe.Signature, str]],
) -> None:
    """The story of each new item; and of each updated item alone in its story, which
    may now fit another (a teaser whose full text came): it moves there after writing."""
    if not fresh and not alone:
        return
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
    standalone = {item.key for _, item in fresh if _never_merge(item, ctx.settings)}
    stays = {key: entry_id for key, (_, _, entry_id) in alone.items()}
    matched = _matches(
        items, [sig for key, sig in signatures.items() if key not in standalone], ctx, stays
    )
    plan.learned_links = matched.learned_links
    matches = matched.matches
    for key, entry_id in stays.items():
        found = matches.get(key)
        if found is not None and found.entry_id not in (None, entry_id):
            reason = f"its text changed, then {found.reason}"
            plan.moves.append((key, str(found.entry_id), reason))
    for key in standalone:
        matches[key] = dedupe.Match(
            entry_id=repair.split_entry_id(key), reason=repair.NEVER_MERGE_REASON
        )
    for batch, item in fresh:
        match = matches[item.key]
        batch.counts["new"] += 1
        report.decisions.append(("new", batch.spec.id, item.title))
        merged = match.matched_key is not None or item.key in standalone
        plan.writes.append(
            ItemWrite(
                item=item,
                entry_id=match.entry_id or identity.entry_id(item.key),
                first_seen=ctx.now,
                seen_at=ctx.now,
                merge_reason=match.reason if merged else None,
                merge_score=match.score if merged else None,
                signature=signatures[item.key].to_json(),
                merge_detail=_detail(match),
            )
        )


def _detail(match: dedupe.Match) -> str | None:
    """What `explain` shows of a decision: the rule and the stories weighed."""
    if not match.candidates and match.reason == dedupe.NEW_STORY.reason:
        return None
    return json.dumps(
        {"rule": match.reason, "candidates": [c.to_dict() for c in match.candidates]},
        sort_keys=True,
    )


def _never_merge(item: Item, settings: Settings) -> bool:
    rules = settings.dedupe.never_merge
    return bool(rules) and (item.key in rules or item.origin_id in rules or item.link in rules)


# -- saving source state --------------------------------------------------------------------


def _jitter(source_id: str, now: datetime) -> float:
    # Deterministic per source and run, so tests and repeated runs agree.
    return random.Random(f"{source_id}@{now.isoformat()}").random()


def _remote_state_after(batch: Batch, state: SourceState, ctx: _Context) -> SourceState:
    f = ctx.settings.fetch
    interval = batch.spec.interval
    if batch.error is not None:
        return _failed_state(batch.error, state, ctx, interval=batch.spec.interval)
    outcome = batch.outcome
    assert outcome is not None
    ttl = batch.parsed.meta.ttl_minutes if batch.parsed else None
    hint = refresh_hint(outcome.headers, ttl_minutes=ttl, now=ctx.now)
    url = state.url
    if outcome.permanent_url and outcome.permanent_url != state.url:
        log.warning(
            "%s: moved permanently to %s; stored URL updated", state.id, outcome.permanent_url
        )
        url = outcome.permanent_url
    new_state = replace(
        _state_from_feed(state, batch, ctx),
        url=url,
        etag=outcome.validators.etag,
        last_modified=outcome.validators.last_modified,
        body_hash=batch.body_hash or state.body_hash,
        last_fetch_at=ctx.now,
        last_status=outcome.status,
        error_count=0,
        last_error=None,
        last_new=batch.counts["new"],
        last_updated=batch.counts["updated"],
    )
    due = next_check_at(
        ctx.now,
        interval=interval,
        error_count=0,
        hint=hint,
        min_interval=f.min_interval,
        max_interval=f.max_interval,
        backoff_cap=f.backoff_cap,
        jitter=_jitter(state.id, ctx.now),
    )
    return replace(new_state, next_check_at=due)


def _failed_state(
    error: SourceError, state: SourceState, ctx: _Context, *, interval: timedelta
) -> SourceState:
    f = ctx.settings.fetch
    status = error.status if isinstance(error, FetchError) else state.last_status
    retry_after = error.retry_after if isinstance(error, FetchError) else None
    failed = replace(
        state,
        last_fetch_at=ctx.now,
        last_status=status,
        error_count=state.error_count + 1,
        last_error=error.message,
        last_new=0,
        last_updated=0,
    )
    if status == 410:
        return replace(failed, enabled=False, disabled_reason=error.message, next_check_at=None)
    due = next_check_at(
        ctx.now,
        interval=interval,
        error_count=failed.error_count,
        retry_after=retry_after,
        min_interval=f.min_interval,
        max_interval=f.max_interval,
        backoff_cap=f.backoff_cap,
        jitter=_jitter(state.id, ctx.now),
    )
    return replace(failed, next_check_at=due)


def _local_state_after(batch: Batch, state: SourceState, ctx: _Context) -> SourceState:
    if batch.error is not None:
        return _failed_state(batch.error, state, ctx, interval=batch.spec.interval)
    return replace(
        _state_from_feed(state, batch, ctx),
        last_fetch_at=ctx.now,
        error_count=0,
        last_error=None,
        last_new=batch.counts["new"],
        last_updated=batch.counts["updated"],
    )


# -- the run --------------------------------------------------------------------------------


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


def known_organisations(batches: Sequence[Batch], store: Store) -> tuple[str, ...]:
    """Organisations seen speaking for themselves: seed organisation lines, and feeds that
    name themselves in most of their entries. Remembered in the store, so a republished
    copy arriving alone later is still credited. Republishers named in footers are not
    organisations."""
    names = set(json.loads(store.get_meta(KNOWN_ORGANISATIONS) or "[]"))
    republishers: set[str] = set()
    for batch in batches:
        if batch.parsed is None:
            continue
        republishers.update(raw.via for raw in batch.parsed.entries if raw.via)
        if batch.spec.kind is SourceKind.SEED_TEXT:
            names.update(raw.authors[0] for raw in batch.parsed.entries if raw.authors)
            continue
        title = batch.parsed.meta.title
        if title and _mentions(batch.parsed, title) * 2 >= len(batch.parsed.entries):
            names.add(title)
    return tuple(sorted(names - republishers))


def normalise_options(
    settings: Settings, batches: Sequence[Batch], known: tuple[str, ...]
) -> dict[str, NormaliseOptions]:
    """Cleaning options per source of this run; local sources have no [[sources]] entry
    and take the top-level settings."""
    configured = {s.id: s for s in settings.sources}
    options = {}
    for b in batches:
        own = configured.get(b.spec.id)
        options[b.spec.id] = NormaliseOptions(
            future_dates="keep" if own and own.future_dates == "keep" else "first-seen",
            date_order=(own.date_order if own else None) or settings.date_order,
            organisation=own.organisation if own else None,
            known_organisations=known,
            carries_others=b.parsed is not None and carries_others(b.parsed),
        )
    return options


def run_once(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Ingest what is due, store it and publish. Never raises for one bad source.

    `should_stop` is checked between phases, so a daemon asked to stop finishes the
    write in progress and skips the rest.
    """
    ctx = _Context(settings, store, now, compile_filters_of(settings), {})
    report = RunReport()

    def wanted(source_id: str) -> bool:
        return not options.only or source_id in options.only

    reading = read_seeds(settings, report.warnings, known=store.seed_files(), reread=options.reread)
    seeds = reading.batches
    named = {b.spec.id for b in seeds} | {s.id for s in settings.sources}
    for unknown in sorted(set(options.only) - named):  # a typo would silently do nothing
        report.warnings.append(f"--only {unknown}: no such source (see `aggregator sources list`)")
    batches = [b for b in seeds if wanted(b.spec.id)]
    specs = {s.id: s for s in settings.sources if wanted(s.id)}
    states = store.ensure_sources(list(specs.values()), write=not options.dry_run)
    due = _due(settings, store, states, options, now, report)
    if progress:
        progress("fetch", 0, len(due))
    batches.extend(fetch_remote(settings, store, due, specs))
    if progress:
        progress("fetch", len(due), len(due))
    if should_stop():
        report.stopped = STOPPED_BEFORE_STORING
        return report

    local = [b.spec for b in batches if b.spec.id not in states]
    states.update(store.ensure_sources(local, write=not options.dry_run))

    ctx.known_organisations = known_organisations(batches, store)
    ctx.options = normalise_options(settings, batches, ctx.known_organisations)
    if progress:
        progress("clean", 0, len(batches))
    items_by_source, cleaned_entries = _clean_batches(
        batches, states, ctx, report.warnings, options.reread
    )
    release_free_memory()  # the raw entries are gone: the dedupe index comes next
    if progress:
        progress("clean", len(batches), len(batches))

    # Teasers get their article before merging, so stories match on the article (issue 18).
    full = complete_items(
        settings, store, [i for _, its in items_by_source for i in its], now=now,
        fetch=not options.dry_run,
    )  # fmt: skip
    items_by_source = [(b, [full.items.get(i.key, i) for i in its]) for b, its in items_by_source]
    for batch in (b for b, _ in items_by_source if b.spec.id in full.unfinished):
        reread_next_time(batch)
    # Its entries too: the items whose pages wait come back through cleaning next time.
    cleaned_entries = [e for e in cleaned_entries if e.source_id not in full.unfinished]
    plan = _classify(items_by_source, ctx, report)
    for batch in batches:
        report.results.append(_result(batch))
        report.counts.update(batch.counts)
        _log_result(batch)
    if options.dry_run:
        return report
    if should_stop():
        report.stopped = STOPPED_BEFORE_STORING
        return report

    # Items first, validators last (TRAPS 8): a crash in between costs a refetch only.
    store.write_items(plan.writes)
    for key, entry_id, reason in plan.moves:
        store.reassign(key, entry_id, reason, now)
    store.add_shared_links(plan.learned_links, now)
    known = json.dumps(list(ctx.known_organisations))
    if store.get_meta(KNOWN_ORGANISATIONS) != known:
        store.set_meta(KNOWN_ORGANISATIONS, known)
    report.counts["split"] = repair.apply_config_rules(settings, store, now)
    store.touch_items(plan.unchanged, now)
    # What was read is remembered once its items are stored (TRAPS 8).
    ran = {b.spec.id for b in batches}
    store.save_reads(
        [f for f in reading.read if f.source_id in ran],
        cleaned_entries,
        gone=reading.gone,
        unfinished=sorted(full.unfinished),
    )
    # Publishing reads everything back from the store: let this run's copies go first.
    del plan, items_by_source
    release_free_memory()
    store.save_sources(
        [
            _remote_state_after(b, states[b.spec.id], ctx)
            if b.spec.kind is SourceKind.REMOTE
            else _local_state_after(b, states[b.spec.id], ctx)
            for b in batches
        ]
    )

    _record_configs(settings, store, specs)
    if settings.retention_days is not None:
        report.counts["pruned"] = store.prune(now - timedelta(days=settings.retention_days), now)
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


def _due(
    settings: Settings,
    store: Store,
    states: dict[str, SourceState],
    options: RunOptions,
    now: datetime,
    report: RunReport,
) -> list[SourceState]:
    """The remote sources to fetch now; counts the others in `report`.

    Named with `--only`, a source is fetched now whatever its schedule. A source whose
    config (or `[fetch]`) changed since the last run starts afresh: a refusal, failure or
    410 under the old config says nothing about the new one.
    """
    last = json.loads(store.get_meta(SOURCE_CONFIGS_META) or "{}")
    sources = {s.id: s for s in settings.sources}
    restarted = set()
    for source_id in reconfigured(settings, last) & states.keys():
        state = states[source_id]
        states[source_id] = afresh(state, sources[source_id])
        if states[source_id] is not state:
            restarted.add(source_id)
    forced = options.all_sources or bool(options.only)
    min_interval = settings.fetch.min_interval
    due = []
    for state in states.values():
        if is_due(state, now=now, min_interval=min_interval, force=forced or state.id in restarted):
            due.append(state)
        elif state.enabled:
            report.not_due += 1
            at = due_at(state, min_interval=min_interval)
            if at is not None and (report.next_due is None or at < report.next_due):
                report.next_due = at
    return due


def _record_configs(settings: Settings, store: Store, ran: Iterable[str]) -> None:
    """Remember the config each remote source of this run ran under (see `_due`)."""
    last: dict[str, str] = json.loads(store.get_meta(SOURCE_CONFIGS_META) or "{}")
    now_configured = config_keys(settings)
    keys = {sid: key for sid, key in last.items() if sid in now_configured}
    keys.update({sid: now_configured[sid] for sid in ran})
    if keys != last:
        store.set_meta(SOURCE_CONFIGS_META, json.dumps(keys, sort_keys=True))


def _log_result(batch: Batch) -> None:
    """One canonical line per source and run."""
    c = batch.counts
    outcome = batch.outcome
    status = outcome.status if outcome else None
    size = batch.size
    if batch.error is not None:
        # Say what failed; a status only when the server answered (never "status=None").
        stage = "parse" if isinstance(batch.error, ParseError) else "fetch"
        if status is None and isinstance(batch.error, FetchError):
            status = batch.error.status
        answered = f"status={status} " if status is not None else ""
        log.warning(
            "source=%s %sfailed=%s error=%r", batch.spec.id, answered, stage, batch.error.message
        )
        return
    log.info(
        "source=%s status=%s new=%d updated=%d unchanged=%d skipped=%d bytes=%d duration_ms=%d",
        batch.spec.id,
        status if status is not None else "local",
        c["new"],
        c["updated"],
        c["unchanged"],
        c["skipped"],
        size,
        round(outcome.elapsed * 1000) if outcome else 0,
    )


def _result(batch: Batch) -> SourceResult:
    if batch.error is not None:
        return SourceResult(batch.spec.id, batch.error)
    if batch.parsed is None:
        return SourceResult(batch.spec.id, None)  # not modified
    c = batch.counts
    return SourceResult(
        batch.spec.id,
        SourceUpdated(
            new=c["new"], updated=c["updated"], unchanged=c["unchanged"], skipped=c["skipped"]
        ),
    )


__all__ = [
    "SEED_TEXT_SOURCE",
    "RunOptions",
    "RunReport",
    "is_due",
    "publish",
    "run_once",
]
