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
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from aggregator.identity import fold
from aggregator.model import SEED_TEXT_SOURCE, Item
from aggregator.normalise.text import decode_entities, repair_mojibake

# Bump when folding or hashing changes. Version 2 added `truncated` and `dated`; version 3
# `unit` and `figures`. Older stored signatures still load: an untruncated text with an
# untrusted date, its source as its unit, and figures unknown (never a conflict).
SIGNATURE_VERSION = 3

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
# The publisher's own other items most like a new one, named in `explain` as refused.
OWN_PUBLISHER_EXPLAINED = 2

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


def fold_words(text: str) -> list[str]:
    """Case-, accent- and punctuation-insensitive words (the one fold, identity.fold)."""
    return fold(text).split()


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
    # (hash, first word of its sentence) of each number the text states; _NO_SENTENCE
    # for numbers outside a sentence long enough to be recorded
    figures: list[tuple[int, int]] = field(default_factory=list)
    # (hash of the words with every number masked, first word) of recorded sentences
    # that state numbers: the same shape with another hash is the same sentence with
    # other figures
    shapes: list[tuple[int, int]] = field(default_factory=list)


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


@dataclass(slots=True)
class _Figures:
    stated: list[tuple[int, int]] = field(default_factory=list)
    shapes: list[tuple[int, int]] = field(default_factory=list)


def _shape(words: Sequence[str]) -> int:
    return _hash(" ".join("#" if any(c.isdigit() for c in w) else w for w in words))


def _fold_paragraph(
    paragraph: str, offset: int, number: int, last: bool, numbers: _Figures
) -> tuple[list[str], list[Sentence]]:
    """Words of a paragraph and its sentences long enough to identify a story, located in
    the text's word stream (`offset` is where the paragraph starts); its figures go to
    `numbers`."""
    words: list[str] = []
    found: list[Sentence] = []
    truncated = bool(_TRUNCATED.search(paragraph))
    parts = sentences(paragraph)
    for i, sentence in enumerate(parts):
        sentence_words = fold_words(sentence)
        start = offset + len(words)
        words.extend(sentence_words)
        cut = truncated and i == len(parts) - 1
        recorded = len(sentence_words) >= MIN_SENTENCE_TOKENS and not cut
        if recorded:
            end = start + len(sentence_words) - SHINGLE_SIZE + 1
            sentence_hash = _hash(" ".join(sentence_words))
            found.append(Sentence(sentence_hash, start, end, last, min(number, _MAX_PARAGRAPH)))
        stated = figures(sentence)
        where = start if recorded else _NO_SENTENCE
        numbers.stated.extend((figure, where) for figure in stated)
        if recorded and stated:
            numbers.shapes.append((_shape(sentence_words), start))
    # A teaser cut mid-word ("… the Lowm…"): the cut word is not a word of the release.
    if truncated and words:
        words.pop()
    return words, found


_FIGURE = re.compile(r"\d+(?:[.,:/]\d+)*")
_NO_SENTENCE = 0xFFFFFFFF


def figures(text: str) -> set[int]:
    """The numbers a text states (amounts, percentages, dates, times), as hashes;
    thousands separators dropped so "1,200" and "1200" agree."""
    return {_hash("#" + m.group().replace(",", "")) for m in _FIGURE.finditer(text)}


def fold_text(text: str) -> _Folded:
    """Words, shingle hashes, paragraph-start shingles and sentences of a text."""
    tokens: list[str] = []
    starts: list[int] = []
    found: list[Sentence] = []
    numbers = _Figures()
    text = repair(text)
    parts = paragraphs(text, repaired=True)
    truncated = bool(parts) and (
        bool(_TRUNCATED.search(parts[-1][-_TAIL_CHARS:]))
        or bool(_READ_MORE_TAIL.search(text.rstrip()[-_TAIL_CHARS:]))
    )
    for number, paragraph in enumerate(parts):
        words, in_paragraph = _fold_paragraph(
            paragraph, len(tokens), number, number == len(parts) - 1, numbers
        )
        if not words:
            continue
        starts.append(_hash(" ".join(words[:SHINGLE_SIZE])))
        found.extend(in_paragraph)
        tokens.extend(words)
    return _Folded(
        tokens, _shingles(tokens), starts, found, truncated, numbers.stated, numbers.shapes
    )


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
    # Who published this copy, for "one copy per source": the source, or for a seed
    # document (a folder of documents from anywhere) the document itself.
    unit: str = ""
    figures: bytes = b""  # (hash, sentence start) pairs of the numbers it states
    shapes: bytes = b""  # (masked hash, sentence start) of sentences stating numbers
    version: int = SIGNATURE_VERSION

    @property
    def publisher(self) -> str:
        return self.unit or self.source_id

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
                "unit": self.unit,
                "figures": _b64(self.figures),
                "shapes": _b64(self.shapes),
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
            unit=str(data.get("unit") or publisher_of(data["key"], data["source_id"])),
            figures=base64.b64decode(data.get("figures", "")),
            shapes=base64.b64decode(data.get("shapes", "")),
        )


def _anchors(folded: _Folded) -> list[int]:
    sampled = [h for h in folded.shingles if h % ANCHOR_MODULUS == 0]
    return sampled + folded.starts


def _pack_pairs(pairs: Iterable[tuple[int, int]]) -> bytes:
    return array("I", [value for pair in pairs for value in pair]).tobytes()


def _pairs(blob: bytes) -> list[tuple[int, int]]:
    values = unpack(blob)
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def publisher_of(key: str, source_id: str) -> str:
    """Who published an item, for "one copy per source": its source, or for a seed
    document (the seeds folder gathers documents from anywhere) the document itself."""
    return key if source_id == SEED_TEXT_SOURCE else source_id


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
        unit=publisher_of(item.key, item.source.source_id),
        figures=_pack_pairs(folded.figures),
        shapes=_pack_pairs(folded.shapes),
    )


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
    ) -> None:
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
    larger_shapes = {shape for shape, _ in _pairs(larger.shapes)}
    larger_hashes = {s.hash for s in unpack_sentences(larger.sentences)}
    own = {s.start: s.hash for s in unpack_sentences(smaller.sentences)}
    starts = {sentence.start for sentence in partial}
    starts.update(
        at
        for shape, at in _pairs(smaller.shapes)
        if shape in larger_shapes and own.get(at) not in larger_hashes
    )
    if not starts:
        return 0
    stated = {figure for figure, _ in _pairs(larger.figures)}
    return sum(1 for figure, at in _pairs(smaller.figures) if at in starts and figure not in stated)


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


# ---------------------------------------------------------------------------------------
# The representative of a story


def is_own_item(item: Item) -> bool:
    """The originating organisation's own copy: its own feed, not carried by anyone."""
    if item.via or not item.authors:
        return False
    org = fold(item.authors[0])
    feed_names = (item.source.title, item.source.source_id)
    return bool(org) and any(name and fold(name) == org for name in feed_names)


def is_teaser(item: Item) -> bool:
    """A copy that is not the whole release: it points at its full version, or ends cut
    short or in a "Read more"."""
    if item.readmore is not None:
        return True
    # Publishing reads items without their plain text: the end of the HTML tells as well.
    body = item.text or _TAG.sub(" ", (item.content_html or item.summary or "")[-_TAIL_CHARS * 2 :])
    tail = body.rstrip()[-_TAIL_CHARS:]
    return bool(_TRUNCATED.search(tail) or _READ_MORE_TAIL.search(tail))


_TAG = re.compile(r"<[^>]*>|^[^<]*>")


def choose_representative(items: Sequence[Item]) -> Item:
    """The copy an entry shows whole: the organisation's own item when present, else the
    earliest published whole copy, else the earliest teaser; ties by key."""
    if not items:
        raise ValueError("a story has at least one item")
    return min(items, key=lambda i: (not is_own_item(i), is_teaser(i), i.published, i.key))
