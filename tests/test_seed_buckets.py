"""A changed seeds folder reads the records of the files that may have changed, not of
every file (`aggregator.store.readstate.bucket_of`, `collect.read_seeds`).

In process against a real folder of a few hundred documents, on SQLite and the real
PostgreSQL; what was read is seen through the store's own calls, wrapped to count them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.store import Store, open_store
from aggregator.store.readstate import (
    SeedBucket,
    SeedFileRecord,
    SeedFolder,
    SeedStamp,
    bucket_of,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MTIME = 1_795_000_000  # 2026-11-18
LATER = (MTIME + 86_400) * 10**9  # a day later: newer than every other document
DOCUMENTS = 300  # ~300 of the 1,024 buckets hold a file: most hold one


def _document(n: int, detail: str = "") -> str:
    return (
        f"Release {n}: grant {n} awarded to the harbour works\nOrganisation {n % 7}\n\n"
        f"The grant numbered {n} funds the works of the year {detail}.\n"
    )


def _write(path: Path, text: str, mtime_ns: int = MTIME * 10**9) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _rss() -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Org feed</title>'
        "<link>https://org.example/</link><description>d</description>"
        "<item><title>Wind farm approved</title><guid>https://org.example/1</guid>"
        "<link>https://org.example/1</link><pubDate>Mon, 16 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>The wind farm was approved by the region.</description></item>"
        "</channel></rss>"
    )


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    seeds = tmp_path / "seeds"
    for n in range(DOCUMENTS):
        _write(seeds / f"{n % 3}" / f"{n:04d}.txt", _document(n))
    _write(seeds / "org.xml", _rss())
    return Settings(seeds=seeds, out=tmp_path / "feeds", db=db_url)


@dataclass
class Reads:
    """What one run asked the store about seed files."""

    whole: int = 0  # reads of every record
    asked: list[str] = field(default_factory=list)  # paths asked for by key


def _spy(store: Store, reads: Reads) -> None:
    every: Callable[[], Mapping[str, SeedStamp]] = store.seed_files
    some: Callable[[Sequence[str]], Mapping[str, SeedStamp]] = store.seed_files_at

    def seed_files() -> Mapping[str, SeedStamp]:
        reads.whole += 1
        return every()

    def seed_files_at(paths: Sequence[str]) -> Mapping[str, SeedStamp]:
        reads.asked.extend(paths)
        return some(paths)

    store.seed_files = seed_files  # type: ignore[method-assign]
    store.seed_files_at = seed_files_at  # type: ignore[method-assign]


def _run(settings: Settings) -> tuple[pipeline.RunReport, Reads]:
    reads = Reads()
    with closing(open_store(settings.db)) as store:
        _spy(store, reads)
        report = pipeline.run_once(settings, store, now=NOW)
    return report, reads


def _counts(report: pipeline.RunReport) -> tuple[int, int, int]:
    return report.counts["new"], report.counts["updated"], report.counts["unchanged"]


def _recorded(settings: Settings) -> set[str]:
    with closing(open_store(settings.db)) as store:
        return set(store.seed_files())


def _index(settings: Settings) -> str:
    return (settings.out / "index.atom").read_text(encoding="utf-8")


@pytest.fixture
def ingested(settings: Settings) -> Settings:
    report, reads = _run(settings)
    assert _counts(report) == (DOCUMENTS + 1, 0, 0)
    assert reads.whole == 1  # nothing remembered yet: every record (none) compared
    return settings


def _same_bucket(path: str, taken: set[str]) -> str:
    """Another path of `path`'s bucket."""
    n = 0
    while (name := f"new/{n}.txt") in taken or bucket_of(name) != bucket_of(path):
        n += 1
    return name


def test_a_new_file_reads_the_records_of_its_bucket_only(ingested: Settings) -> None:
    settings = ingested
    _write(settings.seeds / "new.txt", _document(1000), LATER)
    report, reads = _run(settings)
    assert _counts(report) == (1, 0, DOCUMENTS + 1)
    assert reads.whole == 0
    assert "new.txt" in reads.asked
    mates = {p for p in _recorded(settings) if bucket_of(p) == bucket_of("new.txt")}
    assert set(reads.asked) == mates  # the new file and its bucket's others, no more
    assert len(reads.asked) < 5
    assert "Release 1000" in _index(settings)
    # Remembered: the next run reads no record at all.
    report, reads = _run(settings)
    assert _counts(report) == (0, 0, DOCUMENTS + 2)
    assert (reads.whole, reads.asked) == (0, [])


def test_a_touched_file_is_read_again_and_same_size_and_time_is_not(ingested: Settings) -> None:
    settings = ingested
    path = settings.seeds / "1" / "0001.txt"
    # Other bytes, same size and the same st_mtime_ns: not read, as for any folder.
    _write(path, _document(1).replace("harbour", "HARBOUR"))
    report, reads = _run(settings)
    assert _counts(report) == (0, 0, DOCUMENTS + 1)
    assert "HARBOUR" not in _index(settings)
    # Later: its bucket is compared, the file read again.
    _write(path, _document(1).replace("harbour", "HARBOUR"), LATER)
    report, reads = _run(settings)
    assert _counts(report) == (0, 1, DOCUMENTS)  # read again: the item updated
    assert "1/0001.txt" in reads.asked and reads.whole == 0
    assert "HARBOUR" in _index(settings)


def test_a_deleted_file_is_noticed(ingested: Settings) -> None:
    settings = ingested
    (settings.seeds / "2" / "0002.txt").unlink()
    report, reads = _run(settings)
    assert _counts(report) == (0, 0, DOCUMENTS)
    assert reads.whole == 1  # which file went, only every record tells
    assert "2/0002.txt" not in _recorded(settings)
    assert len(_recorded(settings)) == DOCUMENTS
    report, reads = _run(settings)
    assert (reads.whole, reads.asked) == (0, [])


def test_a_file_deleted_as_another_arrives_in_its_bucket_is_noticed(ingested: Settings) -> None:
    settings = ingested
    gone = "0/0003.txt"
    arrived = _same_bucket(gone, _recorded(settings))
    (settings.seeds / gone).unlink()
    _write(settings.seeds / arrived, _document(2000))
    report, reads = _run(settings)
    assert _counts(report) == (1, 0, DOCUMENTS)
    assert reads.whole == 1
    recorded = _recorded(settings)
    assert gone not in recorded and arrived in recorded


def test_a_feed_file_in_an_unchanged_bucket_counts_its_entries(ingested: Settings) -> None:
    settings = ingested
    assert bucket_of("late.txt") != bucket_of("org.xml")
    _write(settings.seeds / "late.txt", _document(3000))
    report, reads = _run(settings)
    assert "org.xml" not in reads.asked
    # Its entry counted unchanged, as when its record is compared.
    assert [r.source_id for r in report.results] == ["seeds", "seed-org"]
    assert _counts(report) == (1, 0, DOCUMENTS + 1)


def test_a_folder_remembered_without_buckets_is_compared_whole_once(ingested: Settings) -> None:
    settings = ingested
    with closing(open_store(settings.db)) as store:
        folder = store.seed_folder()
        assert folder is not None and folder.buckets
        # As the version before buckets left it.
        store.save_reads([], [], folder=SeedFolder("", folder.text_entries, folder.feeds))
    _write(settings.seeds / "new.txt", _document(1000), LATER)
    report, reads = _run(settings)
    assert _counts(report) == (1, 0, DOCUMENTS + 1)
    assert reads.whole == 1
    _write(settings.seeds / "newer.txt", _document(1001))
    report, reads = _run(settings)
    assert _counts(report) == (1, 0, DOCUMENTS + 2)
    assert reads.whole == 0 and "newer.txt" in reads.asked


def test_seed_files_at_gives_the_records_of_the_paths_asked(db_url: str) -> None:
    records = [
        SeedFileRecord(
            path=f"d/{n}.txt",
            source_id="seeds",
            size=n,
            mtime=NOW,
            mtime_ns=n * 10,
            fingerprint="f",
            entries=1,
        )
        for n in range(5)
    ]
    with closing(open_store(db_url)) as store:
        store.save_reads(records, [])
        found = store.seed_files_at(["d/1.txt", "d/3.txt", "missing.txt"])
        assert {p: tuple(r) for p, r in found.items()} == {
            p: tuple(store.seed_files()[p]) for p in ("d/1.txt", "d/3.txt")
        }
        assert store.seed_files_at([]) == {}


def test_the_folder_remembers_its_buckets() -> None:
    folder = SeedFolder(
        "d", 3, {"f.xml": 2}, {7: SeedBucket("x", 2, 1), 900: SeedBucket("y", 1, 0)}
    )
    assert SeedFolder.from_json(folder.to_json()) == folder
    older = '{"digest": "d", "text": 3, "feeds": {}}'
    assert SeedFolder.from_json(older) == SeedFolder("d", 3, {})
    assert SeedFolder.from_json('{"digest": "d", "text": 3, "feeds": {}, "buckets": 1}') == (
        SeedFolder("")
    )


def test_buckets_are_stable_and_spread() -> None:
    assert bucket_of("a/b.txt") == bucket_of("a/b.txt")
    spread = {bucket_of(f"{n:07d}.txt") for n in range(10_000)}
    assert len(spread) > 1000  # nearly every one of 1,024 buckets holds some
