"""The operator's repairs of merging: split, join, undo, and the config's rules.

A repair is a decision kept in the store (`Store.record_decision`), not only a move of
rows: matching reads the active decisions as `dedupe.Constraints`, so a split item never
goes back into the story it left and a joined item stays with its story when it comes
again, run after run. Every decision lists what it moved, so `undo` puts it back.

`[dedupe] never_merge` and `always_merge` in the config are the same repairs written by
hand; they are applied to the stored items on every run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aggregator import dedupe
from aggregator.config import Settings
from aggregator.exceptions import RepairError
from aggregator.normalise import identity
from aggregator.store import Decision, Store, StoredItem
from aggregator.store.protocol import MatchStore, RulesStore

NEVER_MERGE_REASON = "kept apart by the operator (dedupe.never_merge)"
ALWAYS_MERGE_REASON = "joined by the operator (dedupe.always_merge)"


def split_entry_id(key: str) -> str:
    """The entry of an item split off its story: stable, and never its old entry."""
    return identity.entry_id("split:" + key)


def constraints_from(decisions: Iterable[Decision]) -> dedupe.Constraints:
    """What the active decisions ask of matching, later decisions winning (pure)."""
    apart: dict[str, set[str]] = {}
    together: dict[str, str] = {}
    for decision in sorted(decisions, key=lambda d: d.id):
        if decision.undone is not None:
            continue
        if decision.kind == "split":
            apart.setdefault(decision.subject, set()).add(decision.target)
            if together.get(decision.subject) == decision.target:
                del together[decision.subject]
            continue
        for key, _before, after in decision.moved:
            together[key] = after
            apart.get(key, set()).discard(after)
    return dedupe.Constraints({k: frozenset(v) for k, v in apart.items() if v}, together)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a repair did, for the command line."""

    decision: int
    moved: tuple[tuple[str, str, str], ...]
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "moved": [{"key": k, "from": a, "to": b} for k, a, b in self.moved],
        }


def _named(store: Store, ident: str, settings: Settings) -> list[StoredItem]:
    found = store.find_items(ident, feed_id_base=settings.feed.base_url)
    if not found:
        raise RepairError(f"no stored item matches {ident!r} (see `aggregator export`)")
    return found


@dataclass(frozen=True, slots=True)
class Window:
    """The stories of the window an item may join, as stored: their signatures, the
    shared links learned so far and the active decisions. A read-only snapshot: matching
    decides from it without the store."""

    signatures: tuple[tuple[dedupe.Signature, str], ...] = ()  # (signature, entry id)
    shared: frozenset[str] = frozenset()
    constraints: dedupe.Constraints = field(default_factory=dedupe.Constraints)
    # When `signatures` are only the part of the window that can matter to some items
    # (`aggregator.dedupe.lookup`), what the index needs to know of the rest.
    crowded: frozenset[int] = frozenset()
    sentence_stories: Mapping[int, tuple[str, ...]] | None = None

    def index(self, *, leaving: Collection[str] = ()) -> dedupe.StoryIndex:
        """A fresh index of the window without the items `leaving` (matched again)."""
        known = [(sig, entry_id) for sig, entry_id in self.signatures if sig.key not in leaving]
        return dedupe.StoryIndex(
            known,
            shared=self.shared,
            constraints=self.constraints,
            crowded=self.crowded,
            sentence_stories=self.sentence_stories,
        )


def load_window(store: MatchStore, settings: Settings, now: datetime) -> Window:
    since = now - timedelta(days=settings.dedupe.window_days)
    return Window(
        signatures=tuple(
            (dedupe.Signature.from_json(text), entry_id)
            for text, entry_id in store.signatures(since)
        ),
        shared=frozenset(store.shared_links()),
        constraints=constraints_from(store.decisions(active_only=True)),
    )


def window_index(
    store: MatchStore, settings: Settings, now: datetime, *, leaving: Collection[str] = ()
) -> dedupe.StoryIndex:
    """The window's story index as stored, without the items `leaving`."""
    return load_window(store, settings, now).index(leaving=leaving)


def split(store: Store, settings: Settings, ident: str, now: datetime) -> list[Outcome]:
    """Take each item named by `ident` out of its story and let it find its right story
    again (or stand alone); the rest of the story stays together."""
    outcomes = []
    for stored in _named(store, ident, settings):
        key, left = stored.item.key, stored.entry_id
        if store.entry_size(left) < 2:
            continue
        index = window_index(store, settings, now, leaving={key})
        index.shared |= dedupe.shared_links(dedupe.link_uses(index.signatures()))
        index.constraints = _with_split(index.constraints, key, left)
        found = index.match(dedupe.signature_of(stored.item))
        if found.entry_id is not None and found.entry_id != left:
            target, reason = found.entry_id, f"split by the operator, then {found.reason}"
        else:
            target, reason = split_entry_id(key), "split by the operator; stands alone"
        moved = ((key, left, target),)
        number = store.record_decision("split", key, left, moved, now, reason)
        outcomes.append(Outcome(number, moved, reason))
    if not outcomes:
        raise RepairError(f"{ident!r} is alone in its story: nothing to split")
    return outcomes


def _with_split(constraints: dedupe.Constraints, key: str, left: str) -> dedupe.Constraints:
    """The constraints once `key` is split off `left` (as `constraints_from` would read
    the decision): kept out of it, and no longer held in it by an earlier join."""
    apart = dict(constraints.apart)
    apart[key] = apart.get(key, frozenset()) | {left}
    together = {k: v for k, v in constraints.together.items() if (k, v) != (key, left)}
    return dedupe.Constraints(apart, together)


def join(store: Store, settings: Settings, first: str, second: str, now: datetime) -> Outcome:
    """Merge the story of `second` into the story of `first`."""
    into = _named(store, first, settings)[0]
    joining = _named(store, second, settings)[0]
    if into.entry_id == joining.entry_id:
        raise RepairError(f"{first!r} and {second!r} are already one story")
    moved = tuple(
        (key, joining.entry_id, into.entry_id) for key in store.entry_items(joining.entry_id)
    )
    reason = f"joined by the operator to the story of {into.item.key}"
    number = store.record_decision("join", joining.item.key, into.entry_id, moved, now, reason)
    return Outcome(number, moved, reason)


def undo(store: Store, number: int, now: datetime) -> Outcome:
    """Put back what decision `number` moved (items moved since stay where they are)."""
    decision = next((d for d in store.decisions() if d.id == number), None)
    if decision is None:
        raise RepairError(f"no decision {number} (see `aggregator decisions`)")
    if decision.undone is not None:
        raise RepairError(f"decision {number} was already undone")
    current = _entries_of(store, [key for key, _, _ in decision.moved])
    back = tuple(
        (key, after, before) for key, before, after in decision.moved if current.get(key) == after
    )
    reason = f"decision {number} ({decision.kind}) undone by the operator"
    store.undo_decision(number, back, now, reason)
    return Outcome(number, back, reason)


def _entries_of(store: Store, keys: Sequence[str]) -> dict[str, str]:
    return {key: known.entry_id for key, known in store.known_items(keys).items()}


def apply_config_rules(settings: Settings, store: RulesStore, now: datetime) -> int:
    """`never_merge` and `always_merge` applied to the stored items; items moved."""
    moved = 0
    for ident in settings.dedupe.never_merge:
        for stored in store.find_items(ident, feed_id_base=settings.feed.base_url):
            key = stored.item.key
            if stored.entry_id == split_entry_id(key) or store.entry_size(stored.entry_id) < 2:
                continue
            store.reassign(key, split_entry_id(key), NEVER_MERGE_REASON, now)
            moved += 1
    for group in settings.dedupe.always_merge:
        named = [
            s
            for ident in group
            for s in store.find_items(ident, feed_id_base=settings.feed.base_url)
        ]
        if not named:
            continue
        target = named[0].entry_id
        for entry_id in dict.fromkeys(s.entry_id for s in named):
            if entry_id == target:
                continue
            for key in store.entry_items(entry_id):
                store.reassign(key, target, ALWAYS_MERGE_REASON, now)
                moved += 1
    return moved
