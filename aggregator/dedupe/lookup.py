"""The part of the dedupe window that can matter to a run's items, found by key.

Matching a new item reads the stories of the window (`repair.Window`): reading it whole
costs what the window holds (~1 s at 14k signatures) however few items a run brings.
An item can only be found by what `StoryIndex` looks up: a link, a read-more link, a
fingerprint, an anchor. The store keeps every windowed item under these
(`dedupe.signature.lookup_tokens`, the `lookup_keys` table), so the window is read as:

    the run's tokens ─► the items found under them (an anchor found in more than
    MAX_ANCHOR_STORIES stories is only counted: the index never uses it)
      ─► and the other items of their stories (who published each story, its headlines
         and dates decide between candidates)
      ─► the stories each of their sentences occurs in (a sentence common to several
         stories is no evidence), and the shared links among their links

An index of that part decides every item as one of the whole window would: the same
candidates in the same order (keys sort both), the same evidence, the same refusals.
`tests/test_lookup.py` holds the two against each other on generated items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from aggregator.config import Settings
from aggregator.dedupe.index import MAX_ANCHOR_STORIES, SENTENCE_OTHER_STORIES
from aggregator.dedupe.repair import Window, constraints_from, load_window
from aggregator.dedupe.signature import (
    Signature,
    anchor_token,
    fingerprint_token,
    link_token,
    readmore_token,
    sentence_token,
    unpack,
    unpack_sentences,
)
from aggregator.store.protocol import MatchStore

__all__ = ["load_window_for", "query_tokens"]


def query_tokens(sig: Signature) -> set[str]:
    """The tokens of the stored items `sig` can be matched with (`StoryIndex._exact_hits`
    and `_candidates`): the same link (and the links of shared-link detection), a teaser
    pointing at its link, its read-more link, its fingerprint, its anchors."""
    tokens = {fingerprint_token(sig.fingerprint)}
    tokens.update(anchor_token(a) for a in unpack(sig.anchors))
    if sig.link:
        tokens.update((link_token(sig.link), readmore_token(sig.link)))
    if sig.readmore:
        tokens.add(link_token(sig.readmore))
    return tokens


def load_window_for(
    store: MatchStore,
    settings: Settings,
    now: datetime,
    new: Sequence[Signature],
    *,
    leaving: Collection[str] = (),
) -> Window:
    """The window as far as matching `new` can tell (the items `leaving` left out, as
    `Window.index` leaves them): read whole while the store's lookup keys do not cover
    it (a dry run before the first run of this version)."""
    since = now - timedelta(days=settings.dedupe.window_days)
    if not store.lookup_covers(since):
        return load_window(store, settings, now)
    constraints = constraints_from(store.decisions(active_only=True))
    found: dict[str, set[str]] = defaultdict(set)  # token -> keys
    for token, key in store.keys_under(set().union(*map(query_tokens, new)), since):
        if key not in leaving:
            found[token].add(key)
    # An anchor of more stories than this is never used (`StoryIndex._candidates`): its
    # items are not read for it, the index is only told it is crowded.
    crowded = {
        token
        for token, keys in found.items()
        if token.startswith("a") and len(keys) > MAX_ANCHOR_STORIES
    }
    keys = {key for token, ks in found.items() if token not in crowded for key in ks}
    first = store.window_signatures(since, keys=keys)
    pinned = (constraints.together.get(sig.key) for sig in new)
    entries = {entry_id for _, _, entry_id in first} | {e for e in pinned if e is not None}
    rows = [r for r in store.window_signatures(since, entries=entries) if r[0] not in leaving]
    rows = sorted({r[0]: r for r in (*first, *rows)}.values())
    signatures = tuple((Signature.from_json(text), entry_id) for _, text, entry_id in rows)
    every = [*new, *(sig for sig, _ in signatures)]
    return Window(
        signatures=signatures,
        shared=frozenset(store.shared_links(_links(every))),
        constraints=constraints,
        crowded=frozenset(int(token[1:]) for token in crowded),
        sentence_stories=_sentence_stories(store, every, since, leaving),
    )


def _links(signatures: Iterable[Signature]) -> set[str]:
    return {link for sig in signatures for link in (sig.link, sig.readmore) if link}


def _sentence_stories(
    store: MatchStore, signatures: Iterable[Signature], since: datetime, leaving: Collection[str]
) -> dict[int, tuple[str, ...]]:
    """The stories of the window each sentence of these items occurs in: enough of them
    to tell whether other stories than one have it (SENTENCE_OTHER_STORIES)."""
    tokens = {sentence_token(s.hash) for sig in signatures for s in unpack_sentences(sig.sentences)}
    stories: dict[int, set[str]] = defaultdict(set)
    for token, key, entry_id in store.lookup(tokens, since):
        if key not in leaving:
            stories[int(token[1:])].add(entry_id)
    return {h: tuple(sorted(e))[: SENTENCE_OTHER_STORIES + 1] for h, e in stories.items()}
