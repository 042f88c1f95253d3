"""What a stored item is compared by: its folded text, shingles, sentences and figures,
packed into a `Signature` that later runs load instead of recomputing."""

from __future__ import annotations

import base64
import json
import re
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.model import SEED_TEXT_SOURCE, Item
from aggregator.normalise.identity import fold_words
from aggregator.normalise.text import decode_entities, repair_mojibake

# Bump when folding or hashing changes. Version 2 added `truncated` and `dated`; version 3
# `unit` and `figures`. Older stored signatures still load: an untruncated text with an
# untrusted date, its source as its unit, and figures unknown (never a conflict).
SIGNATURE_VERSION = 3

SHINGLE_SIZE = 5  # words per shingle: long enough that template phrases rarely collide
MIN_SENTENCE_TOKENS = 6  # shorter sentences ("Photo: NATO") say nothing about identity

# Publication dates these rules trust: given by the source or written in the text, not a
# file's modification time or the time we first saw it.
TRUSTED_DATE_RULES = frozenset({"published", "updated", "front-matter", "text"})

# Candidate generation: shingles whose hash is 0 modulo ANCHOR_MODULUS, plus the first
# shingle of every paragraph (a teaser starts where a paragraph starts), are indexed.
# Sampling by hash is consistent, so two texts sharing a passage share its anchors.
ANCHOR_MODULUS = 4

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\r\n\s*\r\n")
TRUNCATED = re.compile(r"(…|\.\.\.|\[…\]|\[\.\.\.\])\s*$")
READ_MORE_TAIL = re.compile(
    r"(\s*(read more|continue reading|read the full (story|release)|full story)\W*)+$",
    re.IGNORECASE,
)
# Tail patterns ($-anchored) are matched on the last characters only: searched over a whole
# long text they cost more than everything else signature_of does.
TAIL_CHARS = 160


def _may_read_more(tail: str) -> bool:
    """False when READ_MORE_TAIL cannot match: an ASCII tail (where IGNORECASE means
    what str.lower does) naming neither "read" nor "full story". Most tails, settled
    without the pattern, which tries every position of the tail."""
    if not tail.isascii():
        return True
    lowered = tail.lower()
    return "read" in lowered or "full story" in lowered


def _strip_read_more(text: str) -> str:
    head, tail = text[:-TAIL_CHARS], text[-TAIL_CHARS:]
    if not _may_read_more(tail):
        return text
    return head + READ_MORE_TAIL.sub("", tail)


# ---------------------------------------------------------------------------------------
# Folding: the text every comparison sees


def repaired_text(text: str) -> str:
    """Undo escaped entities and mojibake that survived upstream cleaning, the way
    cleaning itself does (`aggregator.normalise.text`)."""
    return repair_mojibake(decode_entities(text))[0]


def paragraphs(text: str, *, repaired: bool = False) -> list[str]:
    """Paragraphs of plain text; a trailing "Read more" and a truncation mark removed."""
    parts = [
        " ".join(p.split())
        for p in _PARAGRAPH_BREAK.split(text if repaired else repaired_text(text))
    ]
    parts = [p for p in parts if p]
    if parts:
        last = _strip_read_more(parts[-1]).strip()
        parts[-1:] = [last] if last else []
    return parts


def sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if s]


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
    truncated = bool(TRUNCATED.search(paragraph))
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
    text = repaired_text(text)
    parts = paragraphs(text, repaired=True)
    tail = text.rstrip()[-TAIL_CHARS:]
    truncated = bool(parts) and (
        bool(TRUNCATED.search(parts[-1][-TAIL_CHARS:]))
        or (_may_read_more(tail) and READ_MORE_TAIL.search(tail) is not None)
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
    # Its JSON once made (`to_json`); not part of what it says, and never copied by
    # `dataclasses.replace` (which makes another signature).
    _json: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def publisher(self) -> str:
        return self.unit or self.source_id

    def to_json(self) -> str:
        """Made once per signature: the gather stage makes it with no lock held
        (`pipeline`), so that storing, under the writer lock, only reads it."""
        text = self._json
        if text is None:
            text = self._dumps()
            object.__setattr__(self, "_json", text)
        return text

    def _dumps(self) -> str:
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


def _packpairs(pairs: Iterable[tuple[int, int]]) -> bytes:
    return array("I", [value for pair in pairs for value in pair]).tobytes()


def pairs(blob: bytes) -> list[tuple[int, int]]:
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
        figures=_packpairs(folded.figures),
        shapes=_packpairs(folded.shapes),
    )


# ---------------------------------------------------------------------------------------
# Lookup keys: what finds a stored item among many without reading them all


def anchor_token(anchor: int) -> str:
    return f"a{anchor}"


def sentence_token(sentence_hash: int) -> str:
    return f"s{sentence_hash}"


def link_token(link: str) -> str:
    return f"l{link}"


def readmore_token(link: str) -> str:
    return f"r{link}"


def fingerprint_token(fingerprint: str) -> str:
    return f"f{fingerprint}"


def lookup_tokens(sig: Signature) -> list[str]:
    """Every value by which matching can find this item (`StoryIndex`): its anchors,
    sentence hashes, link, read-more link and fingerprint, each a distinct token."""
    tokens = [anchor_token(a) for a in unpack(sig.anchors)]
    tokens += dict.fromkeys(sentence_token(s.hash) for s in unpack_sentences(sig.sentences))
    if sig.link:
        tokens.append(link_token(sig.link))
    if sig.readmore:
        tokens.append(readmore_token(sig.readmore))
    tokens.append(fingerprint_token(sig.fingerprint))
    return tokens
