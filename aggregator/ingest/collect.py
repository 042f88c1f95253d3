"""Collecting what the sources say: local seed documents read, remote feeds fetched,
both parsed into one `SourceRead` per source. Nothing is decided here, nothing stored."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.config import Settings, slugify
from aggregator.exceptions import FetchError, ParseError, SourceError
from aggregator.ingest import seeds as seed_files
from aggregator.model import (
    SEED_TEXT_SOURCE,
    FeedMeta,
    ParsedFeed,
    RawEntry,
    Retrieved,
    SourceKind,
    SourceSpec,
)
from aggregator.store import SourceState
from aggregator.store.readstate import (
    BUCKETS,
    FORGOTTEN_FOLDER,
    SeedBucket,
    SeedFileRecord,
    SeedFolder,
    SeedStamp,
    digest_of,
    seed_fingerprint,
    unchanged_file,
    upgraded,
)

if TYPE_CHECKING:
    from aggregator.ingest.http import FetchOutcome, FetchRequest


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What one source gave in this run (read or fetched, then parsed), and what fetching
    it taught us."""

    spec: SourceSpec
    parsed: ParsedFeed | None = None  # None: not read again, not modified, or failed
    outcome: FetchOutcome | None = None  # its body dropped once parsed (memory)
    body_hash: str | None = None
    size: int = 0
    error: SourceError | None = None
    unchanged: int = 0  # entries of files left unread because they did not change


# -- reading local seeds --------------------------------------------------------------------


def seed_feed_source_id(relpath: str) -> str:
    stem = relpath.rsplit(".", 1)[0]
    return "seed-" + slugify(stem)


@dataclass(frozen=True, slots=True)
class SeedReading:
    """The seeds folder in this run: a `SourceRead` per source, holding only the files
    that changed since they were last read (`aggregator.store.readstate`), and what to
    remember."""

    reads: tuple[SourceRead, ...] = ()
    records: tuple[SeedFileRecord, ...] = ()  # remember once stored
    gone: tuple[str, ...] = ()  # remembered paths no longer there
    folder: SeedFolder | None = None  # remember once stored (None: as it is)


def read_seeds(
    settings: Settings,
    warnings: list[str],
    *,
    known: Callable[[], Mapping[str, SeedStamp]] = dict,
    known_at: Callable[[Sequence[str]], Mapping[str, SeedStamp]] | None = None,
    folder: SeedFolder | None = None,
    reread: Collection[str] = (),
) -> SeedReading:
    """Every document of the seeds folder: text seeds form one source, feed files one each.

    A folder whose listing is the one `folder` remembers is read no further: every file
    counts as unchanged, and the records of the files (`known`) are not loaded. Otherwise
    the same holds per bucket of paths (`readstate.bucket_of`): the files of a bucket
    listed as remembered are not compared; the others are compared with their records
    (`known_at` these paths), and a file known as it is now is not read; its entries count
    as unchanged. Every record (`known`) is loaded only when a remembered file may be gone
    or nothing is remembered by bucket. The sources in `reread` are read whole whatever is
    known."""
    root = settings.seeds
    try:
        files, refused = seed_files.discover_seeds(root, max_bytes=settings.seed_max_bytes)
    except SourceError as exc:
        warnings.append(f"seeds folder {root}: {exc.message}")
        return SeedReading()
    warnings.extend(refused)
    fingerprint = seed_fingerprint(
        str(root.resolve()), settings.date_order, settings.seed_max_bytes
    )
    listing = _Listing.of(files, fingerprint)
    if not reread and folder is not None and folder.digest == listing.digest:
        return SeedReading(_unchanged_folder(root, folder))
    remembered = folder if folder is not None and not reread else FORGOTTEN_FOLDER
    kept = listing.kept(remembered)
    records: Mapping[str, SeedStamp] | None = None
    compared = [f.relpath for f, n in listing.pairs() if n not in kept]
    # Most of the folder compared (a new version, another folder): one read of every
    # record is cheaper than asking for each.
    if remembered.buckets and known_at is not None and len(compared) * 2 <= len(files):
        records = known_at(compared)
        if listing.may_have_lost(remembered, kept, records):
            records = None  # a remembered file is gone: which one, every record tells
    if records is None:
        records = known()
        gone = _gone(records, files)
    else:
        gone = ()
    return _read_changed(settings, warnings, listing, remembered, kept, records, gone, reread)


@dataclass(frozen=True, slots=True)
class _Listing:
    """The files listed, each with its bucket, and each bucket's digest."""

    files: Sequence[seed_files.SeedFile]
    buckets: Sequence[int]  # of each file, in order
    digests: Mapping[int, str]  # by bucket
    counts: Mapping[int, int]  # files by bucket
    digest: str  # of the whole listing
    fingerprint: str

    @classmethod
    def of(cls, files: Sequence[seed_files.SeedFile], fingerprint: str) -> _Listing:
        listing, groups, counts, buckets = seed_files.listing_lines(files, BUCKETS)
        digests = {n: digest_of(fingerprint, group) for n, group in enumerate(groups) if counts[n]}
        by_bucket = {n: count for n, count in enumerate(counts) if count}
        return cls(files, buckets, digests, by_bucket, digest_of(fingerprint, listing), fingerprint)

    def pairs(self) -> Iterator[tuple[seed_files.SeedFile, int]]:
        return zip(self.files, self.buckets, strict=True)

    def kept(self, folder: SeedFolder) -> dict[int, SeedBucket]:
        """The buckets listed as `folder` remembers them: their files are not compared."""
        kept = {n: b for n, b in folder.buckets.items() if self.digests.get(n) == b.digest}
        for seed, n in self.pairs():  # a feed file's entries are remembered by the folder
            if n in kept and seed.kind == "feed" and seed.relpath not in folder.feeds:
                del kept[n]
        return kept

    def may_have_lost(
        self, folder: SeedFolder, kept: Mapping[int, SeedBucket], records: Mapping[str, object]
    ) -> bool:
        """Whether a file `folder` remembers is no longer listed: a bucket had a record for
        each of its files, so one with fewer records among its files listed now lost one."""
        found: dict[int, int] = {}
        for seed, n in self.pairs():
            if seed.relpath in records:
                found[n] = found.get(n, 0) + 1
        return any(
            found.get(n, 0) < bucket.files for n, bucket in folder.buckets.items() if n not in kept
        )


def _unchanged_folder(root: Path, folder: SeedFolder) -> tuple[SourceRead, ...]:
    """The reads of a folder as it was: what reading it file by file would give."""
    reads = [
        SourceRead(spec=_seed_feed_spec(path), unchanged=n) for path, n in folder.feeds.items()
    ]
    if folder.text_entries:
        reads.insert(
            0, SourceRead(spec=_text_spec(root), parsed=_NO_TEXT, unchanged=folder.text_entries)
        )
    return tuple(reads)


def _text_spec(root: Path) -> SourceSpec:
    return SourceSpec(
        id=SEED_TEXT_SOURCE, url=str(root), kind=SourceKind.SEED_TEXT, title="Seed documents"
    )


_NO_TEXT = ParsedFeed(FeedMeta(title="Seed documents"), ())


def _read_changed(
    settings: Settings,
    warnings: list[str],
    listing: _Listing,
    remembered: SeedFolder,
    kept: Mapping[int, SeedBucket],
    known: Mapping[str, SeedStamp],
    gone: tuple[str, ...],
    reread: Collection[str],
) -> SeedReading:
    """The files of a changed folder: those of the `kept` buckets counted as they were,
    the others each compared with its record (`known`)."""
    root = settings.seeds
    fingerprint = listing.fingerprint
    complete = True  # every file listed is known as it is now, or was read now
    feeds: dict[str, int] = {}
    reads: list[SourceRead] = []
    records: list[SeedFileRecord] = []
    text_entries: list[RawEntry] = []
    text_unchanged = sum(bucket.text_entries for bucket in kept.values())
    text_in: dict[int, int] = {}  # text entries by bucket compared now
    for seed, n in listing.pairs():
        if n in kept:
            if seed.kind == "feed":
                entries = remembered.feeds[seed.relpath]
                reads.append(SourceRead(spec=_seed_feed_spec(seed.relpath), unchanged=entries))
                feeds[seed.relpath] = entries
            continue
        source_id = SEED_TEXT_SOURCE if seed.kind != "feed" else seed_feed_source_id(seed.relpath)
        record = known.get(seed.relpath)
        if source_id not in reread and unchanged_file(
            record,
            size=seed.size,
            mtime_ns=seed.mtime_ns,
            stamp=seed.stamp,
            fingerprint=fingerprint,
        ):
            assert record is not None
            if (again := upgraded(record, seed.mtime_ns, seed.mtime)) is not None:
                records.append(again)  # kept before nanoseconds were: keep them now
            if seed.kind == "feed":
                reads.append(SourceRead(spec=_seed_feed_spec(seed.relpath), unchanged=record[6]))
                feeds[seed.relpath] = record[6]
            else:
                text_unchanged += record[6]
                text_in[n] = text_in.get(n, 0) + record[6]
            continue
        try:
            retrieved = seed_files.read_seed(seed, root, max_bytes=settings.seed_max_bytes)
        except SourceError as exc:
            warnings.append(f"{seed.relpath}: skipped: {exc.message}")
            complete = False
            continue
        mtime = retrieved.mtime or seed.mtime
        stamp = _stamp(seed, source_id, retrieved, mtime, fingerprint)
        # Rewritten between listing and reading: the listing no longer tells this file.
        complete = complete and (stamp.size, stamp.mtime_ns) == (seed.size, seed.mtime_ns)
        if seed.kind == "feed":
            read = _read_seed_feed(seed.relpath, retrieved.body, seed.path.as_uri(), warnings)
            reads.append(read)
            if read.parsed is not None:
                records.append(replace(stamp, entries=len(read.parsed.entries)))
                feeds[seed.relpath] = len(read.parsed.entries)
            else:
                complete = False
            continue
        raw = _read_text_seed(seed, retrieved.body, mtime, settings, warnings)
        if raw is not None:
            text_entries.append(raw)
            text_in[n] = text_in.get(n, 0) + 1
            records.append(stamp)
        else:
            complete = False
    if text_entries or text_unchanged:
        parsed = ParsedFeed(_NO_TEXT.meta, tuple(text_entries))
        reads.insert(0, SourceRead(spec=_text_spec(root), parsed=parsed, unchanged=text_unchanged))
    folder = FORGOTTEN_FOLDER
    if complete:
        buckets = {
            n: kept.get(n) or SeedBucket(digest, listing.counts[n], text_in.get(n, 0))
            for n, digest in listing.digests.items()
        }
        total = len(text_entries) + text_unchanged
        folder = SeedFolder(listing.digest, total, feeds, buckets)
    return SeedReading(tuple(reads), tuple(records), gone, folder)


def _gone(known: Mapping[str, SeedStamp], files: Sequence[seed_files.SeedFile]) -> tuple[str, ...]:
    """Remembered paths no longer listed (deleted, renamed, or now refused)."""
    if len(known) == len(files) and all(seed.relpath in known for seed in files):
        return ()  # the usual run: every file still there, and no other
    present = {seed.relpath for seed in files}
    return tuple(sorted(path for path in known if path not in present))


def _stamp(
    seed: seed_files.SeedFile,
    source_id: str,
    retrieved: Retrieved,
    mtime: datetime,
    fingerprint: str,
) -> SeedFileRecord:
    """The record of a file as read now (its size and time from the read, not the listing:
    a file rewritten in between is read again next time)."""
    return SeedFileRecord(
        path=seed.relpath,
        source_id=source_id,
        size=len(retrieved.body),
        mtime=mtime,
        mtime_ns=retrieved.mtime_ns if retrieved.mtime_ns is not None else seed.mtime_ns,
        fingerprint=fingerprint,
        entries=1,
    )


def _read_text_seed(
    seed: seed_files.SeedFile, body: bytes, mtime: datetime, settings: Settings, warnings: list[str]
) -> RawEntry | None:
    # Imported when a file is read: a run over an unchanged folder reads none, and
    # starts sooner without the readers (feedparser alone is ~0.1 s).
    from aggregator.ingest.seedtext import decode_text, parse_seed_document

    try:
        text = decode_text(body)
    except ValueError as exc:
        warnings.append(f"skipped: {seed.relpath}: {exc}")
        return None
    try:
        raw = parse_seed_document(
            text,
            relpath=seed.relpath,
            mtime=mtime,
            markdown=seed.kind == "markdown",
            date_order=settings.date_order,
        )
    except ValueError as exc:
        warnings.append(f"skipped: {exc}")  # the message names the file
        return None
    # The id a seed "gave" its item is its path; identity itself comes from content.
    return replace(raw, id=seed.relpath)


def _seed_feed_spec(relpath: str) -> SourceSpec:
    return SourceSpec(id=seed_feed_source_id(relpath), url=relpath, kind=SourceKind.SEED_FEED)


def _read_seed_feed(relpath: str, body: bytes, uri: str, warnings: list[str]) -> SourceRead:
    spec = _seed_feed_spec(relpath)
    try:
        from aggregator.parse import parse_feed  # see `_read_text_seed`

        parsed = parse_feed(body, url=uri, source_id=spec.id)
    except ParseError as exc:
        return SourceRead(spec=spec, error=exc)
    if parsed.warning:
        warnings.append(f"{relpath}: {parsed.warning}")
    return SourceRead(spec=spec, parsed=parsed)


# -- fetching remote feeds ------------------------------------------------------------------


def fetch_remote(
    settings: Settings, due: Sequence[SourceState], specs: Mapping[str, SourceSpec]
) -> list[SourceRead]:
    """Each due source fetched (conditionally, with its validators) and parsed when its
    body changed."""
    if not due:
        return []
    # httpx and the fetcher are imported only when a source is due: the main job (seeds
    # only) and a run with nothing due start ~0.13 s sooner without them.
    from aggregator.ingest.http import Fetcher
    from aggregator.runtime import eventloop

    requests = fetch_requests(due)

    async def fetch_all() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings.fetch) as fetcher:
            return await fetcher.fetch_all(requests)

    return read_outcomes(due, specs, eventloop.run(fetch_all()))


def fetch_requests(due: Sequence[SourceState]) -> list[FetchRequest]:
    """The conditional request of each due source, with its validators."""
    from aggregator.ingest.http import FetchRequest, Validators

    return [
        FetchRequest(
            source_id=s.id,
            url=s.url,
            validators=Validators(etag=s.etag, last_modified=s.last_modified),
        )
        for s in due
    ]


def read_outcomes(
    due: Sequence[SourceState],
    specs: Mapping[str, SourceSpec],
    outcomes: Sequence[FetchOutcome | FetchError],
) -> list[SourceRead]:
    """What each due source's fetch said (in the order of `due`), parsed when its body
    changed."""
    return [
        _fetched(specs[state.id], state, outcome)
        for state, outcome in zip(due, outcomes, strict=True)
    ]


def _fetched(
    spec: SourceSpec, state: SourceState, outcome: FetchOutcome | FetchError
) -> SourceRead:
    if isinstance(outcome, FetchError):
        return SourceRead(spec=spec, error=outcome)
    # A body identical to the last one is unchanged even without validators.
    body = outcome.body
    body_hash = _body_hash(body) if body is not None else None
    read = SourceRead(
        spec=spec,
        outcome=replace(outcome, body=None),
        body_hash=body_hash,
        size=len(body) if body is not None else 0,
    )
    if outcome.not_modified or body is None or body_hash == state.body_hash:
        return read
    try:
        from aggregator.parse import parse_feed  # see `_read_text_seed`

        parsed = parse_feed(body, url=outcome.final_url, source_id=spec.id, headers=outcome.headers)
    except ParseError as exc:
        return replace(read, error=exc)
    return replace(read, parsed=parsed)


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
