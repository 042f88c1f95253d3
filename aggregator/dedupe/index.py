"""Matching a new item against the stories of the window (`StoryIndex`), the rules' thresholds,
and assigning entries to a batch of new items."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from aggregator.dedupe.signature import (
    SHINGLE_SIZE,
    Sentence,
    Signature,
    pairs,
    unpack,
    unpack_sentences,
)

# Bump when folding or hashing changes. Version 2 added `truncated` and `dated`; version 3
# `unit` and `figures`. Older stored signatures still load: an untruncated text with an
# untrusted date, its source as its unit, and figures unknown (never a conflict).

# Near-duplicate: the naive rule's threshold. Different releases of one organisation
# reach 0.35 on the dev corpus (shared boilerplate and template sentences), copies of one
# release with a new headline and footer stay above 0.6.
NEAR_DUPLICATE_JACCARD = 0.5

# Contained: share of the shorter text's shingles found in the longer one. A teaser cut
# mid-sentence loses one or two shingles; a teaser of another release with the same
# opening template but other people or places keeps at most ~0.65.
CONTAINED = 0.85
# A contained text this short (in shingles) is too generic to decide on: "Statement by the
# Minister on the budget" could start many releases.
MIN_CONTAINED_SHINGLES = 10
# Run: the whole folded text of the shorter item, word for word and in order, is a passage
# of the longer one (a digest's teaser is the opening of the release's first paragraph).
# In order and unbroken, this many words (a role, two names and a place, or an
# organisation and a topic) are specific enough even below MIN_CONTAINED_SHINGLES; like
# containment, it is refused when two stories fit and neither headline nor date decides.
# On the generated corpora 8 and 12 score within 0.5 % of 10, all without a wrong merge.
MIN_RUN_WORDS = 10

# Shared sentences: copies that dropped paragraphs or wrote their own opening still share
# whole sentences with the release, at least two and a good part of the shorter text.
# Follow-up releases repeat one opening sentence at most, once boilerplate is discounted.
MIN_SHARED_SENTENCES = 2
MIN_SHARED_SENTENCE_SHARE = 0.4
# The head of a copy that a republisher may write itself: its first paragraph and a
# caption under the picture.
HEAD_PARAGRAPHS = 2
# A sentence that this many other stories also contain is no evidence for a story.
SENTENCE_OTHER_STORIES = 2

# A sentence with at least this share of its shingles in the other text, but not all, is
# the same template with other words: a sign of two releases, not two copies.
CONFLICT_COVERAGE = 0.5
# Below this containment and the near-duplicate Jaccard, no rule can match: skip the
# sentence-level comparison (the shared-sentence rule needs more: the
# tail of the shorter text, and the head often too).
MIN_PROMISING_CONTAINMENT = 0.3
# Tolerated conflicts: one per this many whole sentences in common (an unrepaired encoding
# accident in a long copy), none for short texts.
CONFLICTS_PER_MATCH = 4

# Figures (numbers, amounts, dates, times) that differ inside sentences otherwise alike:
# copies of one release carry its figures, while the same template with other figures is
# another week's report or another site's notice. Only sentences found in part count (a
# copy that dropped the contact block lost its phone number, which is no conflict), and
# two figures are needed (one may be a republisher's edit of a date).
MIN_MISSING_FIGURES = 2

# A close call: the runner-up story's evidence is as strong and scores within this much of
# the best one. Neither is clearly the story, so the item stays apart (a duplicate is a
# nuisance, a story merged into the wrong one is lost).
CLOSE_CALL_MARGIN = 0.05

# Ambiguity: when a teaser fits several stories, a copy is published within this many days
# of its release, while a follow-up usually comes later. A story with a trusted date this
# close to the teaser's, when it is the only one, is the teaser's.
COPY_DAYS = 3.0

# An anchor found in more stories than this is template or boilerplate text: it finds no
# useful candidate and would make each look-up slow.
MAX_ANCHOR_STORIES = 32
# A copy shares a passage, hence several anchors; one shared anchor is a shared phrase.
MIN_ANCHOR_HITS = 2
# Candidates verified per look-up, most shared anchors first: a story rarely has more
# copies than this in one window, and it bounds the cost of a look-up.
MAX_CANDIDATES = 16
# The publisher's own other items most like a new one, named in `explain` as refused.
OWN_PUBLISHER_EXPLAINED = 2


# ---------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True, slots=True)
class Candidate:
    """A story an item was compared with, and what came of it (for `explain`)."""

    entry_id: str
    key: str  # the stored item it was compared with
    verdict: str  # the evidence found, or "refused: why"
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "key": self.key,
            "verdict": self.verdict,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class Match:
    """The story an item joins, and why. `entry_id` None: a new story."""

    entry_id: str | None
    reason: str
    score: float | None = None
    matched_key: str | None = None
    candidates: tuple[Candidate, ...] = ()  # the stories weighed, best first


NEW_STORY = Match(None, "new story")
JOINED_BY_OPERATOR = "joined by the operator"
# Candidates kept per decision for `explain`: the winner and the runners-up that mattered.
MAX_EXPLAINED = 5


@dataclass(frozen=True, slots=True)
class Constraints:
    """The operator's repairs, as matching must respect them: items kept out of stories
    (`split`, `never_merge`) and items put into one (`join`, `always_merge`)."""

    apart: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> entry ids
    together: Mapping[str, str] = field(default_factory=dict)  # key -> entry id


@dataclass(frozen=True, slots=True)
class LinkUse:
    """One item's use of a link, for telling specific links from shared ones."""

    publisher: str
    link: str
    key: str
    text: str  # anything that differs when the texts differ (a fingerprint, a hash)


def shared_links(uses: Iterable[LinkUse]) -> set[str]:
    """Links that identify no single item: one publisher gives them to two or more items
    with different keys and different texts (a news index page, a home page, a digest's
    day page). A repost (same text, new guid) does not make a link shared."""
    texts: dict[tuple[str, str], dict[str, str]] = {}
    found: set[str] = set()
    for use in uses:
        by_key = texts.setdefault((use.publisher, use.link), {})
        by_key[use.key] = use.text
        if len(by_key) > 1 and len(set(by_key.values())) > 1:
            found.add(use.link)
    return found


def link_uses(signatures: Iterable[Signature]) -> list[LinkUse]:
    return [LinkUse(s.publisher, s.link, s.key, s.fingerprint) for s in signatures if s.link]


# Strength of each kind of evidence: a stronger one wins over a higher score.
_LINK, _READMORE, _FINGERPRINT, _NEAR, _CONTAINED, _SENTENCES = 6, 5, 4, 3, 2, 1


@dataclass(frozen=True, slots=True)
class _Evidence:
    strength: int
    score: float
    reason: str
    entry_id: str
    key: str

    def candidate(self) -> Candidate:
        return Candidate(self.entry_id, self.key, self.reason, round(self.score, 4))


class _Hit(NamedTuple):
    """Exact evidence found for an item: a link, a read-more link, a fingerprint."""

    position: int
    reason: str
    score: float | None = None
    repost: bool = False  # the same text: allowed from the same source
    check_text: bool = False  # a link: refused when the two texts have nothing in common


# The position in a crowded anchor's stand-in posting list: never read (the list is full).
_NOWHERE = -1


@dataclass(slots=True)
class _Known:
    sig: Signature
    entry_id: str


class StoryIndex:
    """The stored items of the window, by what can find them."""

    def __init__(
        self,
        known: Iterable[tuple[Signature, str]] = (),
        *,
        shared: Iterable[str] = (),
        constraints: Constraints | None = None,
        crowded: Iterable[int] = (),
        sentence_stories: Mapping[int, tuple[str, ...]] | None = None,
    ) -> None:
        """`known`: the stored items, in key order. When they are only the part of the
        window that can matter to the items to match (`aggregator.dedupe.lookup`), the
        window as a whole comes as `crowded`, its anchors found in more than
        MAX_ANCHOR_STORIES stories, and `sentence_stories`, the stories each sentence of
        those items occurs in: the index then decides as over the whole window."""
        self._items: list[_Known] = []
        self._by_link: dict[str, int] = {}
        self._by_readmore: dict[str, list[int]] = {}
        self._by_fingerprint: dict[str, int] = {}
        # Anchor → positions of the items that have it. Most anchors belong to one item
        # only, and an index of 50k items holds about two million of them: a lone position
        # is kept as a bare int, not a one-element list (half the memory).
        self._by_anchor: dict[int, int | list[int]] = {}
        # Sentence hash → the stories it occurs in (a few: more tells nothing new); a
        # lone story as a bare string, like the anchors.
        self._sentence_stories: dict[int, str | tuple[str, ...]] = {}
        self._titles: dict[str, set[str]] = {}
        # Trusted publication dates of each story's items: a tie-breaker for teasers.
        self._dates: dict[str, list[datetime]] = {}
        # Who published each story's copies: a story holds one copy per publisher.
        self._publishers: dict[str, dict[str, str]] = {}  # entry id -> publisher -> key
        self.shared: set[str] = set(shared)
        self.constraints = constraints or Constraints()
        for anchor in crowded:  # as full as a posting list grows: never used
            self._by_anchor[anchor] = [_NOWHERE] * (MAX_ANCHOR_STORIES + 1)
        for sentence, stories in (sentence_stories or {}).items():
            self._sentence_stories[sentence] = stories[0] if len(stories) == 1 else stories
        for sig, entry_id in known:
            self.add(sig, entry_id)

    def __len__(self) -> int:
        return len(self._items)

    def signatures(self) -> Iterable[Signature]:
        return (known.sig for known in self._items)

    def has_entry(self, entry_id: str) -> bool:
        return entry_id in self._publishers

    def add(self, sig: Signature, entry_id: str) -> None:
        position = len(self._items)
        self._items.append(_Known(sig, entry_id))
        self._publishers.setdefault(entry_id, {}).setdefault(sig.publisher, sig.key)
        if sig.link:
            self._by_link.setdefault(sig.link, position)
        if sig.readmore:
            self._by_readmore.setdefault(sig.readmore, []).append(position)
        self._by_fingerprint.setdefault(sig.fingerprint, position)
        self._titles.setdefault(entry_id, set()).add(sig.title)
        if sig.dated:
            self._dates.setdefault(entry_id, []).append(sig.published)
        by_anchor = self._by_anchor
        for anchor in unpack(sig.anchors):
            postings = by_anchor.get(anchor)
            if postings is None:
                by_anchor[anchor] = position
            elif isinstance(postings, int):
                by_anchor[anchor] = [postings, position]
            elif len(postings) <= MAX_ANCHOR_STORIES:
                postings.append(position)
        for sentence in unpack_sentences(sig.sentences):
            stories = self._stories_of(sentence.hash)
            if not stories:
                self._sentence_stories[sentence.hash] = entry_id
            elif entry_id not in stories and len(stories) <= SENTENCE_OTHER_STORIES:
                self._sentence_stories[sentence.hash] = (*stories, entry_id)

    def _stories_of(self, sentence_hash: int) -> tuple[str, ...]:
        stories = self._sentence_stories.get(sentence_hash, ())
        return (stories,) if isinstance(stories, str) else stories

    def match(self, sig: Signature) -> Match:
        pinned = self.constraints.together.get(sig.key)
        if pinned is not None and self.has_entry(pinned):
            return Match(pinned, JOINED_BY_OPERATOR)
        refused: list[Candidate] = []
        exact = self._exact(sig, refused)
        if exact is not None:
            return exact
        return self._fuzzy(sig, refused)

    # -- what rules a story out, whatever the evidence

    def _refusal(self, sig: Signature, known: _Known, *, repost: bool = False) -> str | None:
        if known.entry_id in self.constraints.apart.get(sig.key, ()):
            return "refused: kept apart by the operator"
        other = self._publishers.get(known.entry_id, {}).get(sig.publisher)
        if other is not None and other != sig.key and not repost:
            # Two items of one source with different ids are two releases, however
            # alike (a weekly report, a "Media statement"); a repost has the same text.
            return f"refused: the story already has {other} from the same source"
        return None

    def _specific(self, link: str | None) -> bool:
        return link is not None and link not in self.shared

    # -- exact evidence

    def _exact_hits(self, sig: Signature) -> Iterable[_Hit]:
        if self._specific(sig.link):
            assert sig.link is not None
            hit = self._by_link.get(sig.link)
            if hit is not None:
                yield _Hit(hit, "same link", check_text=True)
            for position in self._by_readmore.get(sig.link, ()):
                yield _Hit(position, "read-more link of a teaser")
        if self._specific(sig.readmore):
            assert sig.readmore is not None
            hit = self._by_link.get(sig.readmore)
            if hit is not None:
                yield _Hit(hit, f"read-more link to {sig.readmore}")
        hit = self._by_fingerprint.get(sig.fingerprint)
        if hit is not None and sig.length >= MIN_CONTAINED_SHINGLES + SHINGLE_SIZE:
            yield _Hit(hit, "same fingerprint", 1.0, repost=True)

    def _exact(self, sig: Signature, refused: list[Candidate]) -> Match | None:
        for hit in self._exact_hits(sig):
            known = self._items[hit.position]
            refusal = self._refusal(sig, known, repost=hit.repost)
            if refusal is None and hit.check_text and _texts_disagree(sig, known.sig):
                refusal = "refused: same link, but the texts have nothing in common"
            if refusal is not None:
                refused.append(Candidate(known.entry_id, known.sig.key, refusal))
                continue
            winner = Candidate(known.entry_id, known.sig.key, hit.reason, hit.score)
            candidates = (winner, *refused)[:MAX_EXPLAINED]
            return Match(known.entry_id, hit.reason, hit.score, known.sig.key, candidates)
        return None

    # -- fuzzy evidence

    def _candidates(self, sig: Signature) -> tuple[list[int], list[int]]:
        """Known items sharing the most anchors with `sig`, best first; and apart, the
        best few of its own publisher's other items, which can never be its story (a
        repost is found by its fingerprint) and must not take real candidates' places."""
        hits: Counter[int] = Counter()
        anchors = unpack(sig.anchors)
        for anchor in anchors:
            postings = self._by_anchor.get(anchor)
            if isinstance(postings, int):
                hits[postings] += 1
            elif postings and len(postings) <= MAX_ANCHOR_STORIES:
                hits.update(postings)
        needed = min(MIN_ANCHOR_HITS, len(anchors))
        ranked = sorted(
            (-n, position)
            for position, n in hits.items()
            if n >= needed and n >= self._promising_hits(len(anchors), position)
        )
        items = self._items
        own = [p for _, p in ranked if items[p].sig.publisher == sig.publisher]
        others = [p for _, p in ranked if items[p].sig.publisher != sig.publisher]
        return others[:MAX_CANDIDATES], own[:OWN_PUBLISHER_EXPLAINED]

    def _promising_hits(self, anchors: int, position: int) -> float:
        """Shared anchors below which the shorter text cannot be contained enough for any
        rule (anchors are a sample of the shingles, so allow for sampling noise)."""
        theirs = len(self._items[position].sig.anchors) // 4
        return MIN_PROMISING_CONTAINMENT / 2 * min(anchors, theirs)

    def _fuzzy(self, sig: Signature, refused: list[Candidate]) -> Match:
        text = _Text.of(sig)
        best: dict[str, _Evidence] = {}
        ruled_out: set[str] = set()  # stories refused whatever their items' texts say
        candidates, own = self._candidates(sig)
        for position in own:
            known = self._items[position]
            refusal = self._refusal(sig, known)
            if refusal is not None:
                refused.append(Candidate(known.entry_id, known.sig.key, refusal))
        for position in candidates:
            known = self._items[position]
            if known.entry_id in ruled_out:
                continue
            refusal = self._refusal(sig, known)
            if refusal is not None:
                ruled_out.add(known.entry_id)
                refused.append(Candidate(known.entry_id, known.sig.key, refusal))
                continue
            outcome = self._compare(text, _Text.of(known.sig), known.entry_id)
            if isinstance(outcome, str):
                refused.append(Candidate(known.entry_id, known.sig.key, outcome))
            elif outcome is not None:
                current = best.get(known.entry_id)
                if current is None or _rank(outcome) > _rank(current):
                    best[known.entry_id] = outcome
        found = [e for e in best.values() if e.entry_id not in ruled_out]
        return _decide(sig, found, refused, self._titles, self._dates)

    def _compare(self, new: _Text, known: _Text, entry_id: str) -> _Evidence | str | None:
        """The evidence that `new` is a copy of `known`'s story, the reason it is not
        (once the texts were close enough to ask), or None when they are unrelated."""
        common = len(new.set & known.set)
        smaller, larger = (new, known) if len(new.set) <= len(known.set) else (known, new)
        if not common or not smaller.set:
            return None
        jaccard = common / (len(new.set) + len(known.set) - common)
        containment = common / len(smaller.set)
        if jaccard < NEAR_DUPLICATE_JACCARD and containment < MIN_PROMISING_CONTAINMENT:
            return None
        # A sentence found almost but not quite (another number, person or place in the
        # same template) marks a different release; copies move and drop whole sentences.
        # Seen from the shorter text only: a teaser cut mid-sentence covers a prefix of
        # the release's first sentence, which is no conflict.
        sentences_of_smaller = unpack_sentences(smaller.sig.sentences)
        matched, partial = _align(smaller.shingles, sentences_of_smaller, larger.set)
        missing = _missing_figures(partial, smaller.sig, larger.sig)
        if missing >= MIN_MISSING_FIGURES:
            return f"refused: {missing} figures differ (jaccard={jaccard:.2f})"
        conflicts = len(partial)
        if conflicts > len(matched) // CONFLICTS_PER_MATCH:
            return f"refused: {conflicts} sentences only partly alike (jaccard={jaccard:.2f})"
        key = known.sig.key
        which = "teaser" if smaller is new else "item"
        # A teaser is near-identical to another teaser of a release that opens the same
        # way (a follow-up): that is containment, which two stories may share.
        if jaccard >= NEAR_DUPLICATE_JACCARD and not smaller.sig.truncated:
            reason = f"near-duplicate jaccard={jaccard:.2f}"
            return _Evidence(_NEAR, jaccard, reason, entry_id, key)
        if containment >= CONTAINED and len(smaller.set) >= MIN_CONTAINED_SHINGLES:
            reason = f"{which} contained {containment:.2f} in {larger.sig.key}"
            return _Evidence(_CONTAINED, containment, reason, entry_id, key)
        if smaller.sig.length >= MIN_RUN_WORDS and _is_run(smaller.shingles, larger.shingles):
            reason = f"{which} is a passage of {larger.sig.key} ({smaller.sig.length} words)"
            return _Evidence(_CONTAINED, 1.0, reason, entry_id, key)
        if jaccard >= NEAR_DUPLICATE_JACCARD:  # truncated, and not contained: no evidence
            return None
        if _orgs_differ(new.sig, known.sig):
            return None
        # A copy that dropped paragraphs or wrote its own opening still has every sentence
        # after its head in the release; a follow-up release has sentences of its own.
        head = [s for s in sentences_of_smaller if s.paragraph < HEAD_PARAGRAPHS]
        if len(matched) + len(head) < len(sentences_of_smaller) or not sentences_of_smaller:
            return None
        shared = self._evidence_sentences(matched, larger, entry_id)
        share = shared / len(sentences_of_smaller)
        if shared >= MIN_SHARED_SENTENCES and share >= MIN_SHARED_SENTENCE_SHARE:
            reason = f"{shared} sentences shared ({share:.2f}) with {key}"
            return _Evidence(_SENTENCES, share, reason, entry_id, key)
        return None

    def _evidence_sentences(self, matched: list[Sentence], larger: _Text, entry_id: str) -> int:
        """Matched sentences that say something about this story in particular."""
        last_of_larger = {
            s.hash for s in unpack_sentences(larger.sig.sentences) if s.last_paragraph
        }
        count = 0
        for sentence in matched:
            # The closing paragraph of both is the organisation's "About us".
            if sentence.last_paragraph and sentence.hash in last_of_larger:
                continue
            # A sentence other stories have too is boilerplate or a template that got
            # the same words: no evidence for this story.
            others = [e for e in self._stories_of(sentence.hash) if e != entry_id]
            if len(others) < SENTENCE_OTHER_STORIES:
                count += 1
        return count


@dataclass(frozen=True, slots=True)
class _Text:
    """A signature unpacked for comparison."""

    sig: Signature
    shingles: array[int]
    set: set[int]

    @classmethod
    def of(cls, sig: Signature) -> _Text:
        shingles = unpack(sig.shingles)
        return cls(sig, shingles, set(shingles))


def _texts_disagree(a: Signature, b: Signature) -> bool:
    """Two whole texts (no teaser) of some length with almost nothing in common: a link
    they share is a page that holds more than one item."""
    floor = MIN_CONTAINED_SHINGLES + SHINGLE_SIZE
    if a.truncated or b.truncated or a.length < floor or b.length < floor:
        return False
    first, second = set(unpack(a.shingles)), set(unpack(b.shingles))
    smaller = min(len(first), len(second))
    return len(first & second) < MIN_PROMISING_CONTAINMENT * smaller


def _missing_figures(partial: Sequence[Sentence], smaller: Signature, larger: Signature) -> int:
    """Figures the longer text does not state, in the shorter text's sentences that the
    longer one has with other numbers: the same words around other figures (its shape),
    or found only in part. 0 for signatures from before figures were kept."""
    if smaller.version < 3 or larger.version < 3 or not smaller.figures:
        return 0
    larger_shapes = {shape for shape, _ in pairs(larger.shapes)}
    larger_hashes = {s.hash for s in unpack_sentences(larger.sentences)}
    own = {s.start: s.hash for s in unpack_sentences(smaller.sentences)}
    starts = {sentence.start for sentence in partial}
    starts.update(
        at
        for shape, at in pairs(smaller.shapes)
        if shape in larger_shapes and own.get(at) not in larger_hashes
    )
    if not starts:
        return 0
    stated = {figure for figure, _ in pairs(larger.figures)}
    return sum(1 for figure, at in pairs(smaller.figures) if at in starts and figure not in stated)


def _align(
    shingles: array[int], found_in: Sequence[Sentence], other: set[int]
) -> tuple[list[Sentence], list[Sentence]]:
    """Sentences found whole in `other`, and those found only in part."""
    matched: list[Sentence] = []
    partial: list[Sentence] = []
    for sentence in found_in:
        inner = set(shingles[sentence.start : sentence.end])
        found = len(inner & other)
        if inner and found == len(inner):
            matched.append(sentence)
        elif found >= CONFLICT_COVERAGE * len(inner):
            partial.append(sentence)
    return matched, partial


def _is_run(part: array[int], whole: array[int]) -> bool:
    """`part`'s shingles, in order and unbroken, somewhere in `whole`."""
    if not part or len(part) > len(whole):
        return False
    first, size = part[0], len(part)
    start = 0
    while True:
        try:
            at = whole.index(first, start)
        except ValueError:
            return False
        if whole[at : at + size] == part:
            return True
        start = at + 1


def _orgs_differ(a: Signature, b: Signature) -> bool:
    return a.org is not None and b.org is not None and a.org != b.org


def _rank(evidence: _Evidence) -> tuple[int, float]:
    return (evidence.strength, evidence.score)


def _decide(
    sig: Signature,
    found: list[_Evidence],
    refused: list[Candidate],
    titles: dict[str, set[str]],
    dates: dict[str, list[datetime]],
) -> Match:
    """The story the evidence points at, or a new story when no story is clearly the
    best: the runner-up is as strong and scores within CLOSE_CALL_MARGIN (for teasers,
    any second story with containment), and neither headline nor date settles it."""
    found.sort(key=lambda e: (-e.strength, -e.score, e.entry_id))
    explained = tuple([e.candidate() for e in found] + refused)[:MAX_EXPLAINED]
    if not found:
        return Match(None, NEW_STORY.reason, candidates=explained)
    top = found[0]
    margin = CLOSE_CALL_MARGIN if top.strength == _NEAR else 1.0
    rivals = [e for e in found[1:] if e.strength == top.strength and top.score - e.score <= margin]
    if not rivals:
        return Match(top.entry_id, top.reason, round(top.score, 4), top.key, explained)
    # A teaser fits two stories (a follow-up repeats the opening sentence), or a copy is
    # as close to two: the headline may tell them apart, else the date (a copy comes
    # within days of its release, a follow-up later); if neither does, refuse to guess.
    fitting = (top, *rivals)
    same_title = [e for e in fitting if sig.title and sig.title in titles.get(e.entry_id, ())]
    if len(same_title) == 1:
        chosen = same_title[0]
        reason = chosen.reason + ", same headline"
        return Match(chosen.entry_id, reason, chosen.score, chosen.key, explained)
    if sig.dated:
        near = [e for e in fitting if _within_days(sig.published, dates.get(e.entry_id, ()))]
        if len(near) == 1:
            chosen = near[0]
            reason = f"{chosen.reason}, the only one published within {COPY_DAYS:g} days"
            return Match(chosen.entry_id, reason, chosen.score, chosen.key, explained)
    scores = " vs ".join(f"{e.score:.2f}" for e in fitting)
    reason = f"new story (ambiguous, a close call: fits {len(fitting)} stories, {scores})"
    return Match(None, reason, candidates=explained)


def _within_days(when: datetime, dates: Iterable[datetime]) -> bool:
    return any(abs((when - d).total_seconds()) <= COPY_DAYS * 86400 for d in dates)


# ---------------------------------------------------------------------------------------
# Batches


def processing_order(new: Sequence[Signature]) -> list[Signature]:
    """Longest first, so a teaser meets its full item, then earliest, then by key."""
    return sorted(new, key=lambda s: (-s.length, s.published, s.key))


def assign_entries(
    new: Sequence[Signature],
    index: StoryIndex,
    new_entry_id: Callable[[Signature], str],
) -> dict[str, Match]:
    """The entry every new item joins, keyed by item key.

    Links shared by several items of one publisher (in the batch or the index) are
    learned first, so no item of the batch matches on them. Items are then processed in
    `processing_order` and added to `index` as they go, so copies within one batch find
    each other. A new story gets `new_entry_id(sig)` and the reason "new story"."""
    index.shared |= shared_links(link_uses([*index.signatures(), *new]))
    decisions: dict[str, Match] = {}
    for sig in processing_order(new):
        found = index.match(sig)
        entry_id = found.entry_id if found.entry_id is not None else new_entry_id(sig)
        if found.entry_id is None:
            found = replace(found, entry_id=entry_id, matched_key=None)
        index.add(sig, entry_id)
        decisions[sig.key] = found
    return decisions
