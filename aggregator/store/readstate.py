"""What a run can leave unread: reading costs what changed, not what is stored (pure).

Two records, kept in the store and written after the items they stand for (TRAPS 8: a
crash in between costs a re-read, never an item):

* `SeedFileRecord`: a file of the seeds folder as it was last read (size, modification
  time, and a fingerprint of what reading it depended on). A file whose three are the
  same is not opened, parsed or cleaned again; its entries count as unchanged.
* `SourceEntries`: a digest of each raw entry of a feed (a feed file in the seeds folder
  or a remote feed) when it was last cleaned, under a fingerprint of what cleaning
  depended on. A changed feed is parsed again, but only its entries whose raw content
  changed are cleaned again.

Cleaning also reads the organisations learnt so far (`NormaliseOptions.known_organisations`);
they are left out of the fingerprints on purpose: every new seed document can teach one,
and re-reading the whole history for it would put the cost back on the history. An
unchanged feed answering 304 is not cleaned again either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator import __version__
from aggregator.model import Attribution, RawEntry

if TYPE_CHECKING:  # the store imports the records: no cleaning code loaded for them
    from aggregator.normalise import NormaliseOptions
    from aggregator.normalise.filters import ItemFilter


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedFileRecord:
    """A seeds-folder file as it was last read."""

    path: str  # relative to the seeds folder
    source_id: str
    size: int
    mtime: datetime  # aware UTC
    fingerprint: str  # `seed_fingerprint` of the run that read it
    entries: int  # the entries it gave


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceEntries:
    """The raw entries of one feed as they were last cleaned."""

    source_id: str
    fingerprint: str  # `clean_fingerprint` they were cleaned under
    digests: frozenset[str]


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def seed_fingerprint(root: str, date_order: str | None, max_bytes: int) -> str:
    """What reading a seed file depends on besides its bytes: the folder it is read from
    (another folder's `a.txt` is another file), how its dates are read, the size limit,
    and the aggregator's version (a new version may read files otherwise)."""
    return _digest(__version__, root, date_order, max_bytes)


def unchanged_file(
    record: SeedFileRecord | None, *, size: int, mtime: datetime, fingerprint: str
) -> bool:
    return (
        record is not None
        and record.size == size
        and record.mtime == mtime
        and record.fingerprint == fingerprint
    )


def entry_digest(raw: RawEntry) -> str:
    """Changes whenever anything the source said about the entry does."""
    return _digest(raw)


def clean_fingerprint(
    attribution: Attribution, options: NormaliseOptions, item_filter: ItemFilter | None
) -> str:
    """What cleaning a feed's entries depends on besides the entries: the source as
    attributed (its `updated` aside: it moves with every change of the feed and no item
    shows it), the cleaning options (the organisations learnt aside, see above), the
    source's filter and the aggregator's version."""
    return _digest(
        __version__,
        attribution.source_id,
        attribution.feed_url,
        attribution.feed_id,
        attribution.title,
        attribution.site_link,
        options.future_dates,
        options.future_tolerance,
        options.date_order,
        options.carries_others,
        options.organisation,
        item_filter,
    )


def entries_to_clean(
    digests: Sequence[str], previous: SourceEntries | None, fingerprint: str
) -> list[int]:
    """Indexes of the entries (by their `entry_digest`) that cleaning has not seen as they
    are now, under this fingerprint."""
    known = previous.digests if previous and previous.fingerprint == fingerprint else frozenset()
    return [i for i, digest in enumerate(digests) if digest not in known]
