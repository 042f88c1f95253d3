"""What one run costs as the history grows: the cost should follow the change.

    python bench/history.py [--sizes 100000 1000000] [--runs 3] [--seeds 10000 100000]
                            [--keep DIR] [--cache DIR]

Two kinds of history, each built once per size in a temporary folder:

* **store** (`--sizes`): N entries written straight through the store's own API
  (`Store.ensure_sources`, `Store.write_items` in batches: fast, no full run), a thousand
  a day over 200 remote sources that are not configured, so no run fetches them; then one
  `aggregator run` publishes them all. Signatures (what matching reads) are computed for
  the items of the last 30 days; older items carry one real signature as stand-in (the
  dedupe window never reaches them). A history over 200,000 entries is published every
  200,000 items as it is written, so no one publish holds a million entries at once.
* **seeds** (`--seeds`): N plain-text seed documents in the seeds folder, dated (by their
  modification times) a thousand a day, ingested by one full `aggregator run`.

With `--cache DIR`, a history is built once into `DIR/store-<size>` or `DIR/seeds-<size>`
(by the code that runs the bench: give each checkout a cache of its own) and reused by
later invocations: each one measures a working copy (the database copied, the published
files and seed documents hard-linked: a publish replaces files, never writes into them, and
the measured runs only add documents of their own), so the cached history stays as built.
Building a million entries takes long; measuring it again should not.

Then the measured runs, each `aggregator run` in a fresh child process (CPU and peak RSS
from `os.wait4` of that child, its worker processes included): `add 1` (one new seed
document), `add 100` (a hundred), `change 1` (the first added document rewritten), and
`nothing` (no change at all). Each is repeated `--runs` times (every repetition adds or
changes other documents); the table shows medians and, in the last column, the ratio of
each size's wall time to the smallest size's.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator import dedupe
from aggregator.model import Attribution, Item, SourceKind, SourceSpec
from aggregator.normalise import identity
from aggregator.store import ItemWrite, attribution_for, open_store

PER_DAY = 1000  # entries a day: a thousand sources' worth of news
SOURCES = 200
WINDOW_SIGNED = timedelta(days=30)  # items this recent get their own signature
BATCH = 5000  # items per write_items transaction
PUBLISH_EVERY = 200_000  # items written between two publishes while a history is built
BASE_URL = "https://news.example.org/feeds/"

_WORDS = [
    "council",
    "budget",
    "harbour",
    "library",
    "grant",
    "research",
    "water",
    "energy",
    "school",
    "transport",
    "health",
    "museum",
    "festival",
    "bridge",
    "housing",
    "climate",
    "forest",
    "river",
    "coast",
    "port",
    "rail",
    "airport",
    "clinic",
    "archive",
    "science",
    "award",
    "trial",
    "vaccine",
    "drought",
    "flood",
    "wind",
    "solar",
    "battery",
    "market",
    "export",
    "farm",
    "wheat",
    "wool",
    "mine",
    "copper",
    "lithium",
    "gallery",
    "theatre",
    "orchestra",
    "stadium",
    "park",
    "trail",
]


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 16))]
    return f"{' '.join(words).capitalize()} {n} {rng.randint(10, 99999)}."


def _text(rng: random.Random, n: int) -> list[str]:
    return [" ".join(_sentence(rng, n) for _ in range(3)) for _ in range(4)]


def _item(n: int, now: datetime, source: Attribution, rng: random.Random) -> Item:
    paragraphs = _text(rng, n)
    text = "\n\n".join(paragraphs)
    origin = f"https://{source.source_id}.example/news/{n}"
    published = now - timedelta(seconds=n * 86400 / PER_DAY + 60)
    return Item(
        key=identity.item_key(source.source_id, entry_id=origin, link=origin, title="", text=""),
        origin_id=origin,
        content_hash=identity.content_hash(text),
        title=f"{paragraphs[0][:60]} ({n})",
        link=origin,
        summary=paragraphs[0][:200],
        content_html="".join(f"<p>{p}</p>" for p in paragraphs),
        text=text,
        authors=(f"Organisation {n % SOURCES}",),
        categories=("news",),
        published=published,
        updated=published,
        source=source,
    )


def build_store_history(folder: Path, size: int) -> None:
    """`size` entries written through the store API, then published by one full run."""
    now = datetime.now(UTC)
    (folder / "seeds").mkdir()
    store = open_store(str(folder / "data.sqlite"))
    try:
        specs = [
            SourceSpec(
                id=f"src-{s:03d}",
                url=f"https://src-{s:03d}.example/feed.rss",
                kind=SourceKind.REMOTE,
                title=f"Source {s}",
                tags=(f"tag-{s % 10}",),
            )
            for s in range(SOURCES)
        ]
        states = store.ensure_sources(specs)
        sources = [attribution_for(states[s.id], feed_id_base=BASE_URL) for s in specs]
        rng = random.Random(size)
        stand_in: str | None = None
        for start in range(0, size, BATCH):
            writes = []
            for n in range(start, min(size, start + BATCH)):
                item = _item(n, now, sources[n % SOURCES], rng)
                recent = now - item.published < WINDOW_SIGNED
                if recent or stand_in is None:
                    signature = dedupe.signature_of(item).to_json()
                    stand_in = stand_in or signature
                else:
                    signature = stand_in
                writes.append(
                    ItemWrite(
                        item=item,
                        entry_id=identity.entry_id(item.key),
                        first_seen=item.published,
                        seen_at=item.published,
                        signature=signature,
                    )
                )
            store.write_items(writes)
            if (start + BATCH) % PUBLISH_EVERY == 0 and start + BATCH < size:
                _run(folder)  # a long history is published as it grows (bounded memory)
    finally:
        store.close()
    _run(folder)  # the first publish of everything, or of the last part


def _seed_document(n: int, rng: random.Random, version: int = 0) -> str:
    body = "\n\n".join(_text(rng, n))
    return (
        f"Release {n}.{version}: {_sentence(rng, n)[:70]}\n"
        f"Organisation {n % 97}\n\n{body}\n\n"
        "/Public Release. This material from the originating organization/author(s) "
        "might be of the point-in-time nature. View in full here.\n"
    )


def build_seed_history(folder: Path, size: int) -> None:
    """`size` seed documents, ingested and published by one full run."""
    seeds = folder / "seeds"
    seeds.mkdir()
    rng = random.Random(size)
    now = time.time()
    for n in range(size):
        sub = seeds / f"{n // 1000:04d}"
        sub.mkdir(exist_ok=True)
        path = sub / f"{n:07d}.txt"
        path.write_text(_seed_document(n, rng), encoding="utf-8")
        # A thousand documents a day, as they would have arrived: a seed's date is its
        # file's modification time, and the dedupe window holds the last days only.
        when = now - 60 - n * 86400 / PER_DAY
        os.utime(path, (when, when))
    _run(folder)


def _write_config(folder: Path) -> Path:
    config = folder / "aggregator.toml"
    config.write_text(
        f'seeds = "seeds"\nout = "feeds"\ndb = "data.sqlite"\n\n[feed]\nbase_url = "{BASE_URL}"\n',
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    cpu: float
    rss_mb: float


def _run(folder: Path) -> Sample:
    """One `aggregator run` in a fresh child process."""
    config = str(folder / "aggregator.toml")
    command = [sys.executable, "-m", "aggregator", "run", "--config", config]
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            output.seek(0)
            raise SystemExit(f"aggregator run failed in {folder}:\n{output.read().decode()}")
    # ru_maxrss is in KiB on Linux.
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class Changes:
    """The documents the measured runs add and change, each run other ones."""

    def __init__(self, folder: Path) -> None:
        self.seeds = folder / "seeds" / "bench"
        self.seeds.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(7)
        self.next = 10_000_000
        self.first: int | None = None
        self.version = 0

    def add(self, count: int) -> None:
        for _ in range(count):
            n = self.next
            self.next += 1
            self.first = n if self.first is None else self.first
            self._write(n)

    def change(self) -> None:
        if self.first is None:
            self.add(1)
        assert self.first is not None
        self.version += 1
        self._write(self.first, self.version)

    def _write(self, n: int, version: int = 0) -> None:
        text = _seed_document(n, self.rng, version)
        (self.seeds / f"{n}.txt").write_text(text, encoding="utf-8")


SCENARIOS: dict[str, Callable[[Changes], None]] = {
    "add 1": lambda c: c.add(1),
    "add 100": lambda c: c.add(100),
    "change 1": lambda c: c.change(),
    "nothing": lambda c: None,
}


def measure(folder: Path, runs: int) -> dict[str, list[Sample]]:
    changes = Changes(folder)
    changes.add(1)
    _run(folder)  # the bench's own folder is known before the first measured run
    results: dict[str, list[Sample]] = {}
    for name, change in SCENARIOS.items():
        samples = []
        for _ in range(runs):
            change(changes)
            samples.append(_run(folder))
        results[name] = samples
    return results


@dataclass(frozen=True, slots=True)
class Row:
    history: str
    size: int
    scenario: str
    wall: float
    cpu: float
    rss_mb: float


def _medians(kind: str, size: int, results: dict[str, list[Sample]]) -> Iterator[Row]:
    for name, samples in results.items():
        yield Row(
            kind,
            size,
            name,
            statistics.median(s.wall for s in samples),
            statistics.median(s.cpu for s in samples),
            statistics.median(s.rss_mb for s in samples),
        )


def _table(rows: list[Row]) -> str:
    lines = [
        f"{'history':8} {'entries':>9} {'run':9} {'wall s':>8} {'cpu s':>8} "
        f"{'peak MB':>8} {'wall ×':>7}"
    ]
    smallest: dict[tuple[str, str], float] = {}
    for row in rows:
        base = smallest.setdefault((row.history, row.scenario), row.wall)
        lines.append(
            f"{row.history:8} {row.size:>9,} {row.scenario:9} {row.wall:>8.2f} "
            f"{row.cpu:>8.2f} {row.rss_mb:>8.0f} {row.wall / base:>7.2f}"
        )
    return "\n".join(lines)


_BUILT = ".built"  # written into a cached history once it is complete


def _build(kind: str, folder: Path, size: int, build: Callable[[Path, int], None]) -> None:
    _write_config(folder)
    started = time.perf_counter()
    build(folder, size)
    print(
        f"built {kind} history of {size:,} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def _cached(cache: Path, kind: str, size: int, build: Callable[[Path, int], None]) -> Path:
    """The `kind` history of `size` in `cache`, built there first if it is not yet."""
    built = cache / f"{kind}-{size}"
    if not (built / _BUILT).is_file():
        shutil.rmtree(built, ignore_errors=True)
        built.mkdir(parents=True)
        _build(kind, built, size, build)
        (built / _BUILT).touch()
    return built


def _working_copy(built: Path, folder: Path) -> None:
    """A copy of a cached history to measure in: published files and seed documents
    hard-linked (publishing replaces a file by renaming a new one over it, and the measured
    runs write new seed documents only), everything else copied."""
    folders = []
    for path in sorted(built.rglob("*")):
        target = folder / path.relative_to(built)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            folders.append((path, target))
        elif _linked(path, built):
            os.link(path, target)
        else:
            shutil.copy2(path, target)
    # As built: a folder whose files changed behind the publisher's back is published whole.
    for path, target in reversed(folders):
        stat = path.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _linked(path: Path, built: Path) -> bool:
    if path.name.startswith("."):
        return False
    return path.is_relative_to(built / "feeds") or path.is_relative_to(built / "seeds")


def bench(
    kind: str,
    size: int,
    runs: int,
    build: Callable[[Path, int], None],
    keep: Path | None,
    cache: Path | None = None,
) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix=f"history-{kind}-{size}-", dir=keep or cache))
    try:
        if cache is not None:
            _working_copy(_cached(cache, kind, size, build), folder)
        else:
            _build(kind, folder, size, build)
        return list(_medians(kind, size, measure(folder, runs)))
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--seeds", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument("--cache", type=Path, help="keep the built histories here and reuse them")
    args = parser.parse_args()
    rows: list[Row] = []
    for size in args.sizes:
        rows += bench("store", size, args.runs, build_store_history, args.keep, args.cache)
        print(_table(rows), file=sys.stderr)
    for size in args.seeds:
        rows += bench("seeds", size, args.runs, build_seed_history, args.keep, args.cache)
        print(_table(rows), file=sys.stderr)
    print(_table(rows))


if __name__ == "__main__":
    main()
