"""The dedupe plan of a run: which stored story each item joins, as a pure function of
the run's items and a frozen snapshot of the store (`StoredView`, loaded by `load_view`
before deciding), in the manner of lemon24/reader's `Decider` without its I/O.

    items of the run ─► new, updated, unchanged or gone (against `StoredView.known`)
      ─► signatures of the new ones ─► each matched against the window's stories and the
         run's other new items (`StoryIndex`, the operator's constraints, links shared)
      ─► `Plan`: item writes, moves of updated items alone in their story, links learnt,
         and per source what became of its items

Only `load_view` touches a store (through `MatchStore`); the plan is tested without one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from aggregator import dedupe
from aggregator.config import Settings
from aggregator.dedupe import repair
from aggregator.dedupe.lookup import load_window_for
from aggregator.dedupe.signature import lookup_tokens
from aggregator.model import Item, SourceUpdated
from aggregator.normalise import identity
from aggregator.runtime.parallel import parallel_map
from aggregator.store import ItemWrite, KnownItem, LinkUseRow
from aggregator.store.protocol import MatchStore

__all__ = [
    "PARALLEL_MIN_ITEMS",
    "Plan",
    "StoredView",
    "load_view",
    "plan_items",
    "signatures_for",
]

# Below this many new items, signatures are computed in-process (workers cost ~0.1 s to
# fork); the pipeline passes its own threshold, the same as cleaning's.
PARALLEL_MIN_ITEMS = 2000


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
    store: MatchStore,
    settings: Settings,
    items: Sequence[Item],
    *,
    now: datetime,
    signatures: Mapping[str, dedupe.Signature] | None = None,
) -> StoredView:
    """The snapshot `plan_items` decides from. The window and the links are read only
    when some item is new, or updated alone in its story (a run of unchanged items does
    not read the window), and of the window only what can matter to those items
    (`dedupe.lookup`; `signatures`: theirs, as `plan_items` is given them)."""
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
    matched: dict[str, Item] = {}
    for item in (*fresh, *alone):  # the first of a key is the one matched
        matched.setdefault(item.key, item)
    window = load_window_for(
        store,
        settings,
        now,
        _signed(list(matched.values()), signatures or {}, PARALLEL_MIN_ITEMS),
        leaving={i.key for i in alone},
    )
    return StoredView(known, gone, sizes, window, tuple(store.link_uses(links)) if links else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What storing a run's items means: writes, moves, links learnt, and per source what
    became of its items."""

    writes: tuple[ItemWrite, ...] = ()
    unchanged: tuple[str, ...] = ()  # keys of stored items seen again as they are
    learned_links: Mapping[str, str] = field(default_factory=dict)  # link -> its source
    moves: tuple[tuple[str, str, str], ...] = ()  # (key, entry, why)
    tallies: Mapping[str, SourceUpdated] = field(default_factory=dict)  # by source id
    decisions: tuple[tuple[str, str, str], ...] = ()  # (action, source, title)


def plan_items(
    sources: Sequence[tuple[str, Sequence[Item]]],
    view: StoredView,
    *,
    now: datetime,
    never_merge: Collection[str] = (),
    signatures: Mapping[str, dedupe.Signature] | None = None,
    parallel_from: int = PARALLEL_MIN_ITEMS,
) -> Plan:
    """New, updated or unchanged, then the story of each new item (pure: the store is
    only seen through `view`). `sources` are (source id, its items) in run order;
    `never_merge` names items kept out of every story (`[dedupe] never_merge`).

    `signatures` are those computed ahead (`signatures_for`, by the gather stage, so the
    plan itself stays cheap); those missing are computed here, in worker processes from
    `parallel_from` new items on."""
    given = signatures or {}
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
                write, signature = _updated(item, old, now, given.get(item.key))
                if view.entry_sizes.get(old.entry_id) == 1:
                    alone[item.key] = (write.item, signature, old.entry_id)
                writes.append(write)
    new_items = [item for _, item in fresh]
    assigned = _assign_new(
        new_items,
        _signed(new_items, given, parallel_from),
        view,
        now=now,
        never_merge=never_merge,
        alone=alone,
    )
    for source_id, item in fresh:
        tallies[source_id]["new"] += 1
        decisions.append(("new", source_id, item.title))
    return Plan(
        writes=(*writes, *assigned.writes),
        unchanged=tuple(unchanged),
        learned_links=assigned.learned_links,
        moves=assigned.moves,
        tallies={
            sid: SourceUpdated(
                new=c["new"], updated=c["updated"], unchanged=c["unchanged"], skipped=c["skipped"]
            )
            for sid, c in tallies.items()
        },
        decisions=tuple(decisions),
    )


def signatures_for(
    items: Iterable[Item],
    known: Mapping[str, KnownItem],
    *,
    parallel_from: int = PARALLEL_MIN_ITEMS,
) -> dict[str, dedupe.Signature]:
    """The signatures a plan of these items needs: of each key's first item, unless it is
    stored with the same content (pure CPU work, in worker processes from
    `parallel_from` items on)."""
    first: dict[str, Item] = {}
    for item in items:
        first.setdefault(item.key, item)
    todo = [
        item
        for item in first.values()
        if (old := known.get(item.key)) is None or old.content_hash != item.content_hash
    ]
    return dict(zip((i.key for i in todo), _signed(todo, {}, parallel_from), strict=True))


def _signed(
    items: Sequence[Item], given: Mapping[str, dedupe.Signature], parallel_from: int
) -> list[dedupe.Signature]:
    """The signature of each item: given, or computed."""
    missing = [item for item in items if item.key not in given]
    computed = parallel_map(
        dedupe.signature_of,
        missing,
        weight=len(missing),
        min_weight=parallel_from,
        chunksize=256,
    )
    made = {item.key: sig for item, sig in zip(missing, computed, strict=True)}
    return [given.get(item.key) or made[item.key] for item in items]


def _updated(
    item: Item, old: KnownItem, now: datetime, signature: dedupe.Signature | None
) -> tuple[ItemWrite, dedupe.Signature]:
    # The content changed, so the entry's `updated` must move even if the source did not
    # say so.
    updated = item.updated if item.updated > old.updated else now
    changed = replace(item, updated=max(updated, item.published))
    # A signature does not read `updated`: one computed ahead from `item` is `changed`'s.
    signature = signature or dedupe.signature_of(changed)
    write = ItemWrite(
        item=changed,
        entry_id=old.entry_id,
        first_seen=old.first_seen,
        seen_at=now,
        signature=signature.to_json(),
        lookup=tuple(lookup_tokens(signature)),
    )
    return write, signature


@dataclass(frozen=True, slots=True, kw_only=True)
class _Assigned:
    writes: tuple[ItemWrite, ...] = ()
    moves: tuple[tuple[str, str, str], ...] = ()
    learned_links: Mapping[str, str] = field(default_factory=dict)


def _assign_new(
    new_items: Sequence[Item],
    computed: Sequence[dedupe.Signature],
    view: StoredView,
    *,
    now: datetime,
    never_merge: Collection[str],
    alone: Mapping[str, tuple[Item, dedupe.Signature, str]],
) -> _Assigned:
    """The story of each new item (`computed`: their signatures); and of each updated
    item alone in its story, which may now fit another (a teaser whose full text came):
    it moves there after writing."""
    if not new_items and not alone:
        return _Assigned()
    signatures = {item.key: sig for item, sig in zip(new_items, computed, strict=True)}
    signatures.update((key, sig) for key, (_, sig, _) in alone.items())
    items = [*new_items, *(item for item, _, _ in alone.values())]
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
                lookup=tuple(lookup_tokens(signatures[item.key])),
                merge_detail=_detail(match),
                replaces_stored=False,
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
