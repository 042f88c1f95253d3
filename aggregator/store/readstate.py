"""What a run can leave unread: reading costs what changed, not what is stored (pure).

Two records, kept in the store and written after the items they stand for (TRAPS 8: a
crash in between costs a re-read, never an item):

* `SeedFileRecord`: a file of the seeds folder as it was last read (size, modification
  time to the nanosecond, and a fingerprint of what reading it depended on). A file whose
  three are the same is not opened, parsed or cleaned again; its entries count as
  unchanged. The store reads them back as plain rows (`SeedStamp`): every run compares
  the whole folder, and a record object per file would cost more than listing it.
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
import json
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aggregator import __version__
from aggregator.model import Attribution, RawEntry

if TYPE_CHECKING:  # the store imports the records: no cleaning code loaded for them
    from aggregator.normalise.entry import NormaliseOptions
    from aggregator.normalise.filters import ItemFilter


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedFileRecord:
    """A seeds-folder file as it was last read."""

    path: str  # relative to the seeds folder
    source_id: str
    size: int
    mtime: datetime  # aware UTC
    mtime_ns: int  # st_mtime_ns: what is compared
    fingerprint: str  # `seed_fingerprint` of the run that read it
    entries: int  # the entries it gave


# A `SeedFileRecord` as stored: (path, source_id, size, mtime_ns, mtime, fingerprint,
# entries); mtime_ns is None in records written before nanoseconds were kept, and mtime
# is then compared as it was written ("2026-11-18T00:00:00.123456Z").
SeedStamp = tuple[str, str, int, int | None, str, str, int]


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
    record: SeedStamp | None, *, size: int, mtime_ns: int, stamp: float, fingerprint: str
) -> bool:
    """The file is as it was when read: same size, same modification time (to the
    nanosecond: a file rewritten within the second it was read differs only there), same
    fingerprint. `stamp` is its st_mtime, for records written before nanoseconds were."""
    if record is None or record[2] != size or record[5] != fingerprint:
        return False
    if record[3] is not None:
        return record[3] == mtime_ns
    return record[4] == legacy_mtime(stamp)


def legacy_mtime(stamp: float) -> str:
    """A modification time as records before `mtime_ns` kept it (the store's date text)."""
    when = datetime.fromtimestamp(stamp, tz=UTC).replace(tzinfo=None)
    return when.isoformat(timespec="microseconds") + "Z"


def upgraded(record: SeedStamp, mtime_ns: int, mtime: datetime) -> SeedFileRecord | None:
    """A record from before nanoseconds were kept, with them (None: it has them)."""
    path, source_id, size, known_ns, _, fingerprint, entries = record
    if known_ns is not None:
        return None
    return SeedFileRecord(
        path=path,
        source_id=source_id,
        size=size,
        mtime=mtime,
        mtime_ns=mtime_ns,
        fingerprint=fingerprint,
        entries=entries,
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


@dataclass(frozen=True, slots=True)
class SeedBucket:
    """The files of one bucket of paths (`bucket_of`) when the folder was last read in
    full: a digest of their listing, how many there were (each has a record), and the
    entries of the text documents among them."""

    digest: str  # `listing_digest` of its files alone
    files: int
    text_entries: int


@dataclass(frozen=True, slots=True)
class SeedFolder:
    """The seeds folder as a whole when it was last read in full: a digest of its
    listing (every file's path, size and modification time, and the fingerprint), and
    the entries its files gave. A run whose listing has this digest reads no file and
    no record of one (`collect.read_seeds`): the usual run of a cron job or a daemon.

    The same per bucket of paths (`buckets`): a run whose listing differs reads the
    records of the files in the buckets that differ only, so one new document in a
    folder of 100,000 reads about a hundred records, not every one."""

    digest: str  # `listing_digest`; "" when nothing is known (never matches)
    text_entries: int = 0  # of the text and Markdown documents, one source
    feeds: Mapping[str, int] = field(default_factory=dict)  # feed file -> its entries
    buckets: Mapping[int, SeedBucket] = field(default_factory=dict)  # by `bucket_of`

    def to_json(self) -> str:
        buckets = {str(n): [b.digest, b.files, b.text_entries] for n, b in self.buckets.items()}
        return json.dumps(
            {
                "digest": self.digest,
                "text": self.text_entries,
                "feeds": dict(self.feeds),
                "buckets": buckets,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SeedFolder:
        try:
            data = json.loads(text)
            buckets = {
                int(n): SeedBucket(str(d), int(f), int(t))
                for n, (d, f, t) in data.get("buckets", {}).items()
            }
            return cls(str(data["digest"]), int(data["text"]), dict(data["feeds"]), buckets)
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls("")  # unreadable: as if never recorded (the files are compared)


FORGOTTEN_FOLDER = SeedFolder("")


def listing_digest(fingerprint: str, files: Iterable[tuple[str, int, int]]) -> str:
    """Of (path, size, st_mtime_ns) of every file listed, in order, and the fingerprint:
    `digest_of` the lines `seeds.listing_lines` makes of them."""
    return digest_of(
        fingerprint, b"\n".join(b"%s\0%d\0%d" % (os.fsencode(p), s, m) for p, s, m in files)
    )


def digest_of(fingerprint: str, listing: bytes) -> str:
    """Of a listing's lines (`seeds.listing_lines`) and the fingerprint.

    The path in a line is the file name's bytes (`os.fsencode`): a name that is not
    UTF-8 is told from another, where encoding it with "replace" made both "?"."""
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=16)
    digest.update(listing)
    return digest.hexdigest()


# Buckets of paths a changed listing is compared by. Fixed, so a bucket's digest stays
# comparable as the folder grows: ~100 files a bucket at 100,000 (a hundred records read
# for one new document), and at most 1,024 small digests kept (~60 KB of meta).
BUCKETS = 1024


def bucket_of(path: str) -> int:
    """A path's bucket: by a hash of the path, not its folder, so a flat folder of
    100,000 documents is split as well as one sorted into subfolders."""
    return zlib.crc32(os.fsencode(path)) % BUCKETS
