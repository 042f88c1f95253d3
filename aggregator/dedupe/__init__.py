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

The package: `signature` (what an item is compared by), `index` (the story index, its rules
and thresholds, assigning entries), `representative` (the copy an entry shows), `repair`
(the operator's split, join and undo).
"""

from aggregator.dedupe.index import (
    CLOSE_CALL_MARGIN,
    COPY_DAYS,
    JOINED_BY_OPERATOR,
    MIN_CONTAINED_SHINGLES,
    MIN_RUN_WORDS,
    NEW_STORY,
    Candidate,
    Constraints,
    LinkUse,
    Match,
    StoryIndex,
    assign_entries,
    link_uses,
    processing_order,
    shared_links,
)
from aggregator.dedupe.representative import choose_representative, is_own_item, is_teaser
from aggregator.dedupe.signature import (
    SHINGLE_SIZE,
    SIGNATURE_VERSION,
    Signature,
    fold_text,
    publisher_of,
    signature_of,
)

__all__ = [
    "CLOSE_CALL_MARGIN",
    "COPY_DAYS",
    "JOINED_BY_OPERATOR",
    "MIN_CONTAINED_SHINGLES",
    "MIN_RUN_WORDS",
    "NEW_STORY",
    "SHINGLE_SIZE",
    "SIGNATURE_VERSION",
    "Candidate",
    "Constraints",
    "LinkUse",
    "Match",
    "Signature",
    "StoryIndex",
    "assign_entries",
    "choose_representative",
    "fold_text",
    "is_own_item",
    "is_teaser",
    "link_uses",
    "processing_order",
    "publisher_of",
    "shared_links",
    "signature_of",
]
