"""Merge the copies of one story that arrive from several places.

One press release travels: the organisation posts it, republishers copy it with their own
headline, a caption and a footer (sometimes their own first paragraph, a dropped or
swapped paragraph, a dropped ending), digests post a teaser, a seed document holds another
copy. Readers must see the story once. Two different releases of one organisation, on the
other hand, share a lot of text (the same "About us" paragraph, template sentences, the
same people and places in a follow-up) and must stay apart.

How a new item finds its story, strongest evidence first (`Match.reason` says which):

1. **same link**: the canonical link of a known item;
2. **read-more link**: a teaser's "Read more" link is a known item's link (or the other
   way round, when the teaser came first);
3. **same fingerprint**: the same folded text, long enough to mean something;
4. **near-duplicate**: Jaccard of word 5-shingles >= `NEAR_DUPLICATE_JACCARD`;
5. **contained**: nearly every shingle of the shorter text is in the longer one (a
   teaser, or a copy that kept only part of the release), or the whole shorter text is
   an unbroken passage of the longer one, at least `MIN_RUN_WORDS` long (a truncated
   teaser too short for the share to mean much);
6. **shared sentences**: several whole sentences in common that no *other* story in the
   index has; sentences that occur in two stories are boilerplate or template text
   (document frequency counted per story, not per item, so copies do not inflate it).

Rules 4 to 6 also refuse a pair when a sentence of the shorter text is found only in part
in the longer one: the same template with another number, person or place is the mark of
a different release, while copies move and drop whole sentences. Rule 6 also wants every
sentence after the shorter text's head (first paragraph and caption) found in the other.

Candidates come from an inverted index of "anchors": the shingles whose hash is 0 modulo
`ANCHOR_MODULUS` plus the first shingle of each paragraph. Hash sampling is consistent, so
any two texts sharing a passage of a dozen words share anchors, whatever their Jaccard.
MinHash LSH was not used: banded for Jaccard >= 0.5 it finds a pair at Jaccard 0.2 with
probability 1 - (1 - 0.2**4)**16 = 2.5 %, and partial copies (0.2) and teasers (0.1) are
exactly the pairs the naive rule misses.

A teaser (cut short with "…", or with a "Read more" link) is never a near-duplicate: two
teasers of releases that open alike are near-identical, so its Jaccard only counts as
containment. Headlines never take part in the evidence; they only break a tie between two
stories that a teaser fits equally well; failing that, the date does, when exactly one of
them has an item published within `COPY_DAYS` of the teaser (copies follow their release
within days, a follow-up comes later). In the face of remaining ambiguity the item starts
a new story.

Everything here is pure: `signature_of` turns an `Item` into a compact, serialisable
`Signature` (so later runs recompute nothing), and `StoryIndex` holds the signatures of
the stored items within the window and answers `match`.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregator.identity import fold
from aggregator.model import Item
from aggregator.normalise.text import decode_entities, repair_mojibake

# Bump when folding or hashing changes. Version 2 added `truncated` and `dated`; a stored
# version-1 signature still loads, as an untruncated text with an untrusted date.
SIGNATURE_VERSION = 2

SHINGLE_SIZE = 5  # words per shingle: long enough that template phrases rarely collide
MIN_SENTENCE_TOKENS = 6  # shorter sentences ("Photo: NATO") say nothing about identity

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

# Ambiguity: when a teaser fits several stories, a copy is published within this many days
# of its release, while a follow-up usually comes later. A story with a trusted date this
# close to the teaser's, when it is the only one, is the teaser's.
COPY_DAYS = 3.0
# Publication dates these rules trust: given by the source or written in the text, not a
# file's modification time or the time we first saw it.
TRUSTED_DATE_RULES = frozenset({"published", "updated", "front-matter", "text"})

# Candidate generation: shingles whose hash is 0 modulo ANCHOR_MODULUS, plus the first
# shingle of every paragraph (a teaser starts where a paragraph starts), are indexed.
# Sampling by hash is consistent, so two texts sharing a passage share its anchors.
ANCHOR_MODULUS = 4
# An anchor found in more stories than this is template or boilerplate text: it finds no
# useful candidate and would make each look-up slow.
MAX_ANCHOR_STORIES = 32
# A copy shares a passage, hence several anchors; one shared anchor is a shared phrase.
MIN_ANCHOR_HITS = 2
# Candidates verified per look-up, most shared anchors first: a story rarely has more
# copies than this in one window, and it bounds the cost of a look-up.
MAX_CANDIDATES = 16

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\r\n\s*\r\n")
_TRUNCATED = re.compile(r"(…|\.\.\.|\[…\]|\[\.\.\.\])\s*$")
_READ_MORE_TAIL = re.compile(
    r"(\s*(read more|continue reading|read the full (story|release)|full story)\W*)+$",
    re.IGNORECASE,
)
# Tail patterns ($-anchored) are matched on the last characters only: searched over a whole
# long text they cost more than everything else signature_of does.
_TAIL_CHARS = 160


def _strip_read_more(text: str) -> str:
    head, tail = text[:-_TAIL_CHARS], text[-_TAIL_CHARS:]
    return head + _READ_MORE_TAIL.sub("", tail)


# ---------------------------------------------------------------------------------------
# Folding: the text every comparison sees


def repair(text: str) -> str:
    """Undo escaped entities and mojibake that survived upstream cleaning, the way
    cleaning itself does (`aggregator.normalise.text`)."""
    return repair_mojibake(decode_entities(text))[0]


def paragraphs(text: str, *, repaired: bool = False) -> list[str]:
    """Paragraphs of plain text; a trailing "Read more" and a truncation mark removed."""
    parts = [
        " ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text if repaired else repair(text))
    ]
    parts = [p for p in parts if p]
    if parts:
        last = _strip_read_more(parts[-1]).strip()
        parts[-1:] = [last] if last else []
    return parts


def sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if s]


_NON_WORD = re.compile(r"[\W_]+")
# Combining marks left by NFKD: dropping them folds "Núñez" and "Nunez" together.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold_words(text: str) -> list[str]:
    """Case-, accent- and punctuation-insensitive words; like identity.fold, but fast on
    the ASCII text that most of a feed is."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return _NON_WORD.sub(" ", text.casefold()).split()


def _hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _pack(values: Iterable[int]) -> bytes:
    return array("I", sorted(set(values))).tobytes()


def unpack(blob: bytes) -> array[int]:
    values = array("I")
    values.frombytes(blob)
    return values


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a folded text: its hash, the shingles inside it, where it sits."""

    hash: int
    start: int  # index of its first shingle in the text's shingle sequence
    end: int  # one past its last shingle
    last_paragraph: bool  # boilerplate ("About us", "Notes to editors") sits at the end
    paragraph: int  # 0 for the first paragraph (capped at _MAX_PARAGRAPH)


@dataclass(frozen=True, slots=True)
class _Folded:
    tokens: list[str]
    shingles: list[int]  # in text order, one per window of SHINGLE_SIZE tokens
    starts: list[int]  # the first shingle of each paragraph
    sentences: list[Sentence]
    truncated: bool = False  # the text ends in a truncation mark or a "Read more"


def _shingles(tokens: Sequence[str]) -> list[int]:
    """crc32 of each window of SHINGLE_SIZE words joined by spaces, in text order."""
    if len(tokens) < SHINGLE_SIZE:
        return [_hash(" ".join(tokens))] if tokens else []
    # Slices of one encoded buffer hash the same bytes as joining each window, at a
    # fraction of the cost (this is the hot loop of signature_of).
    joined = " ".join(tokens)
    buffer = joined.encode("utf-8")
    ascii_only = joined.isascii()
    offsets = [0]
    for token in tokens:
        offsets.append(offsets[-1] + (len(token) if ascii_only else len(token.encode())) + 1)
    crc32 = zlib.crc32
    return [
        crc32(buffer[offsets[i] : offsets[i + SHINGLE_SIZE] - 1])
        for i in range(len(tokens) - SHINGLE_SIZE + 1)
    ]


def _fold_paragraph(
    paragraph: str, offset: int, number: int, last: bool
) -> tuple[list[str], list[Sentence]]:
    """Words of a paragraph, and its sentences long enough to identify a story, located
    in the text's word stream (`offset` is where the paragraph starts)."""
    words: list[str] = []
    found: list[Sentence] = []
    truncated = bool(_TRUNCATED.search(paragraph))
    parts = sentences(paragraph)
    for i, sentence in enumerate(parts):
        sentence_words = fold_words(sentence)
        start = offset + len(words)
        words.extend(sentence_words)
        cut = truncated and i == len(parts) - 1
        if len(sentence_words) >= MIN_SENTENCE_TOKENS and not cut:
            end = start + len(sentence_words) - SHINGLE_SIZE + 1
            sentence_hash = _hash(" ".join(sentence_words))
            found.append(Sentence(sentence_hash, start, end, last, min(number, _MAX_PARAGRAPH)))
    # A teaser cut mid-word ("… the Lowm…"): the cut word is not a word of the release.
    if truncated and words:
        words.pop()
    return words, found


def fold_text(text: str) -> _Folded:
    """Words, shingle hashes, paragraph-start shingles and sentences of a text."""
    tokens: list[str] = []
    starts: list[int] = []
    found: list[Sentence] = []
    text = repair(text)
    parts = paragraphs(text, repaired=True)
    truncated = bool(parts) and (
        bool(_TRUNCATED.search(parts[-1][-_TAIL_CHARS:]))
        or bool(_READ_MORE_TAIL.search(text.rstrip()[-_TAIL_CHARS:]))
    )
    for number, paragraph in enumerate(parts):
        words, in_paragraph = _fold_paragraph(
            paragraph, len(tokens), number, number == len(parts) - 1
        )
        if not words:
            continue
        starts.append(_hash(" ".join(words[:SHINGLE_SIZE])))
        found.extend(in_paragraph)
        tokens.extend(words)
    return _Folded(tokens, _shingles(tokens), starts, found, truncated)


# Sentences pack as (hash, start, end | paragraph << 24 | last << 31): texts of more
# than 16 million words do not occur in a feed.
_MAX_PARAGRAPH = 127
_END_MASK = (1 << 24) - 1


def _pack_sentences(found: Sequence[Sentence]) -> bytes:
    values = array("I")
    for s in found:
        values.extend((s.hash, s.start, s.end | s.paragraph << 24 | s.last_paragraph << 31))
    return values.tobytes()


def unpack_sentences(blob: bytes) -> list[Sentence]:
    values = unpack(blob)
    out = []
    for i in range(0, len(values), 3):
        end = values[i + 2]
        paragraph = (end >> 24) & _MAX_PARAGRAPH
        out.append(Sentence(values[i], values[i + 1], end & _END_MASK, bool(end >> 31), paragraph))
    return out


# ---------------------------------------------------------------------------------------
# Signature: what is stored per item


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    """Everything dedupe needs to know about one stored item, compact and serialisable.

    `shingles` are the 32-bit hashes of the word 5-shingles in text order, `anchors` the
    sorted distinct hashes that find candidates, `sentences` (hash, first shingle, end)
    triples; all packed as native 32-bit unsigned arrays (`unpack`, `unpack_sentences`)."""

    key: str
    source_id: str
    link: str | None  # canonical
    readmore: str | None  # canonical link of the full version, for a teaser
    fingerprint: str  # hash of the folded text
    length: int  # tokens of the folded text
    published: datetime
    org: str | None  # folded originating organisation, when the item names one
    title: str  # folded headline, only ever a tie-breaker
    shingles: bytes
    anchors: bytes
    sentences: bytes
    truncated: bool = False  # a teaser: cut short ("…") or pointing at its full version
    dated: bool = False  # `published` is trusted (TRUSTED_DATE_RULES)
    version: int = SIGNATURE_VERSION

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.version,
                "key": self.key,
                "source_id": self.source_id,
                "link": self.link,
                "readmore": self.readmore,
                "fingerprint": self.fingerprint,
                "length": self.length,
                "published": self.published.isoformat(),
                "org": self.org,
                "title": self.title,
                "shingles": _b64(self.shingles),
                "anchors": _b64(self.anchors),
                "sentences": _b64(self.sentences),
                "truncated": self.truncated,
                "dated": self.dated,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Signature:
        data: dict[str, Any] = json.loads(text)
        return cls(
            version=int(data["v"]),
            key=data["key"],
            source_id=data["source_id"],
            link=data["link"],
            readmore=data["readmore"],
            fingerprint=data["fingerprint"],
            length=int(data["length"]),
            published=datetime.fromisoformat(data["published"]),
            org=data["org"],
            title=data["title"],
            shingles=base64.b64decode(data["shingles"]),
            anchors=base64.b64decode(data["anchors"]),
            sentences=base64.b64decode(data["sentences"]),
            truncated=bool(data.get("truncated", False)),
            dated=bool(data.get("dated", False)),
        )


def _anchors(folded: _Folded) -> list[int]:
    sampled = [h for h in folded.shingles if h % ANCHOR_MODULUS == 0]
    return sampled + folded.starts


def signature_of(item: Item) -> Signature:
    folded = fold_text(item.text)
    return Signature(
        key=item.key,
        source_id=item.source.source_id,
        link=item.link,
        readmore=item.readmore,
        fingerprint=f"{zlib.crc32(' '.join(folded.tokens).encode()):08x}-{len(folded.tokens)}",
        length=len(folded.tokens),
        published=item.published,
        org=(" ".join(fold_words(item.authors[0])) or None) if item.authors else None,
        title=" ".join(fold_words(item.title)),
        shingles=array("I", folded.shingles).tobytes(),
        anchors=_pack(_anchors(folded)),
        sentences=_pack_sentences(folded.sentences),
        truncated=folded.truncated or item.readmore is not None,
        dated=(item.date_rule or "published") in TRUSTED_DATE_RULES,
    )


# ---------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True, slots=True)
class Match:
    """The story an item joins, and why. `entry_id` None: a new story."""

    entry_id: str | None
    reason: str
    score: float | None = None
    matched_key: str | None = None


NEW_STORY = Match(None, "new story")

# Strength of each kind of evidence: a stronger one wins over a higher score.
_LINK, _READMORE, _FINGERPRINT, _NEAR, _CONTAINED, _SENTENCES = 6, 5, 4, 3, 2, 1


@dataclass(frozen=True, slots=True)
class _Evidence:
    strength: int
    score: float
    reason: str
    entry_id: str
    key: str


@dataclass(slots=True)
class _Known:
    sig: Signature
    entry_id: str


class StoryIndex:
    """The stored items of the window, by what can find them."""

    def __init__(self, known: Iterable[tuple[Signature, str]] = ()) -> None:
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
        for sig, entry_id in known:
            self.add(sig, entry_id)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, sig: Signature, entry_id: str) -> None:
        position = len(self._items)
        self._items.append(_Known(sig, entry_id))
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
        exact = self._exact(sig)
        if exact is not None:
            return exact
        return self._fuzzy(sig)

    # -- exact evidence

    def _exact(self, sig: Signature) -> Match | None:
        hit = self._by_link.get(sig.link) if sig.link else None
        if hit is not None:
            return self._match_of(hit, "same link", None)
        hit = self._by_link.get(sig.readmore) if sig.readmore else None
        if hit is not None:
            return self._match_of(hit, f"read-more link to {sig.readmore}", None)
        for position in self._by_readmore.get(sig.link or "", ()):
            return self._match_of(position, "read-more link of a teaser", None)
        hit = self._by_fingerprint.get(sig.fingerprint)
        if hit is not None and sig.length >= MIN_CONTAINED_SHINGLES + SHINGLE_SIZE:
            return self._match_of(hit, "same fingerprint", 1.0)
        return None

    def _match_of(self, position: int, reason: str, score: float | None) -> Match:
        known = self._items[position]
        return Match(known.entry_id, reason, score, known.sig.key)

    # -- fuzzy evidence

    def _candidates(self, sig: Signature) -> list[int]:
        """Known items sharing the most anchors with `sig`, best first."""
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
        return [position for _, position in ranked[:MAX_CANDIDATES]]

    def _promising_hits(self, anchors: int, position: int) -> float:
        """Shared anchors below which the shorter text cannot be contained enough for any
        rule (anchors are a sample of the shingles, so allow for sampling noise)."""
        theirs = len(self._items[position].sig.anchors) // 4
        return MIN_PROMISING_CONTAINMENT / 2 * min(anchors, theirs)

    def _fuzzy(self, sig: Signature) -> Match:
        text = _Text.of(sig)
        best: dict[str, _Evidence] = {}
        for position in self._candidates(sig):
            known = self._items[position]
            evidence = self._compare(text, _Text.of(known.sig), known.entry_id)
            if evidence is None:
                continue
            current = best.get(known.entry_id)
            if current is None or _rank(evidence) > _rank(current):
                best[known.entry_id] = evidence
        return _decide(sig, list(best.values()), self._titles, self._dates)

    def _compare(self, new: _Text, known: _Text, entry_id: str) -> _Evidence | None:
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
        matched, conflicts = _align(smaller.shingles, sentences_of_smaller, larger.set)
        if conflicts > len(matched) // CONFLICTS_PER_MATCH:
            return None
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


def _align(
    shingles: array[int], found_in: Sequence[Sentence], other: set[int]
) -> tuple[list[Sentence], int]:
    """Sentences found whole in `other`, and how many were found only in part."""
    matched: list[Sentence] = []
    conflicts = 0
    for sentence in found_in:
        inner = set(shingles[sentence.start : sentence.end])
        found = len(inner & other)
        if inner and found == len(inner):
            matched.append(sentence)
        elif found >= CONFLICT_COVERAGE * len(inner):
            conflicts += 1
    return matched, conflicts


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
    titles: dict[str, set[str]],
    dates: dict[str, list[datetime]],
) -> Match:
    """The story a fuzzy match points at, or a new story when two stories fit as well."""
    if not found:
        return NEW_STORY
    found.sort(key=lambda e: (-e.strength, -e.score, e.entry_id))
    top = found[0]
    rivals = [e for e in found[1:] if e.strength == top.strength]
    if top.strength == _NEAR or not rivals:
        return Match(top.entry_id, top.reason, round(top.score, 4), top.key)
    # A teaser fits two stories (a follow-up repeats the opening sentence): the headline
    # may tell them apart, else the date (a copy comes within days of its release, a
    # follow-up later); if neither does, refuse to guess.
    fitting = (top, *rivals)
    same_title = [e for e in fitting if sig.title and sig.title in titles.get(e.entry_id, ())]
    if len(same_title) == 1:
        chosen = same_title[0]
        return Match(chosen.entry_id, chosen.reason + ", same headline", chosen.score, chosen.key)
    if sig.dated:
        near = [e for e in fitting if _within_days(sig.published, dates.get(e.entry_id, ()))]
        if len(near) == 1:
            chosen = near[0]
            reason = f"{chosen.reason}, the only one published within {COPY_DAYS:g} days"
            return Match(chosen.entry_id, reason, chosen.score, chosen.key)
    return Match(None, f"new story (ambiguous: fits {len(fitting)} stories)")


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

    Items are processed in `processing_order` and added to `index` as they go, so copies
    within one batch find each other. A new story gets `new_entry_id(sig)` and the reason
    "new story"."""
    decisions: dict[str, Match] = {}
    for sig in processing_order(new):
        found = index.match(sig)
        entry_id = found.entry_id if found.entry_id is not None else new_entry_id(sig)
        if found.entry_id is None:
            found = Match(entry_id, found.reason, found.score, None)
        index.add(sig, entry_id)
        decisions[sig.key] = found
    return decisions


# ---------------------------------------------------------------------------------------
# The representative of a story


def is_own_item(item: Item) -> bool:
    """The originating organisation's own copy: its own feed, not carried by anyone."""
    if item.via or not item.authors:
        return False
    org = fold(item.authors[0])
    feed_names = (item.source.title, item.source.source_id)
    return bool(org) and any(name and fold(name) == org for name in feed_names)


def choose_representative(items: Sequence[Item]) -> Item:
    """The organisation's own item when present, else the earliest published; ties by key."""
    if not items:
        raise ValueError("a story has at least one item")
    return min(items, key=lambda i: (not is_own_item(i), i.published, i.key))
