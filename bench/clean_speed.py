"""Clean 100,000 generated items in the corpus style; print the median time and peak memory.

    python bench/clean_speed.py [--items 100000] [--runs 3] [--workers 2]
    python bench/clean_speed.py --hostile    # how one huge item scales (must be linear)

Items are the dev corpus entries (feeds and seed texts) varied per copy: a number in the
title, a tracking parameter on the link, mojibake, a share line or a read-more link in
some of them, so every cleaning step runs. Work is split over `--workers` processes (the
cleaning is pure CPU under the GIL); peak memory is the largest resident size of the
parent and of any worker (getrusage ru_maxrss).

`--hostile` cleans single items of 10,000 to 100,000 units of one hostile shape (depth,
siblings, attributes, character references, comments, CDATA, unclosed tags, long words,
links, images, table cells, nested lists and tables, svg and math content) and prints
the time per unit at each size: a per-unit time that grows with the size is quadratic
work (100,000 nested <div>s once took minutes inside nh3). Items past the budget of
`aggregator.normalise.budget` are cut (marked *), which is what keeps them linear. The
exit status is 1 unless every shape stays flat within ×1.3 and every item under 1 s.
"""

from __future__ import annotations

import argparse
import calendar
import functools
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile import HOSTILE

from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import Attribution, RawEntry, SourceSpec
from aggregator.normalise.entry import normalise_entry

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev" / "seeds"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
SOURCE = SourceSpec(id="bench", url="https://bench.example/feed", title="Wire Digest")
ATTRIBUTION = Attribution(
    source_id="bench", feed_url=SOURCE.url, feed_id=SOURCE.url, title="Wire Digest"
)


def _utc(value: Any) -> datetime | None:
    return datetime.fromtimestamp(calendar.timegm(value), UTC) if value else None


@functools.cache
def corpus_entries() -> list[RawEntry]:
    entries: list[RawEntry] = []
    for path in sorted(CORPUS.glob("*.xml")):
        for e in feedparser.parse(path.read_bytes()).entries:
            entries.append(
                RawEntry(
                    id=e.get("id"),
                    title=e.get("title"),
                    link=e.get("link"),
                    summary=e.get("summary"),
                    authors=tuple(a.get("name", "") for a in e.get("authors", [])),
                    published=_utc(e.get("published_parsed")),
                )
            )
    for path in sorted(CORPUS.glob("*.txt")):
        entries.append(
            parse_seed_document(decode_text(path.read_bytes()), relpath=path.name, mtime=NOW)
        )
    return entries


def vary(entry: RawEntry, n: int) -> RawEntry:
    body = entry.content or entry.summary or ""
    if n % 5 == 0:
        body = body.replace("é", "Ã©").replace("ë", "Ã«")  # mojibake
    if n % 7 == 0:
        body += "<p>Share this: Twitter Facebook</p>"
    if n % 11 == 0:
        body += f'<p><a href="https://org.example/n/{n}?utm_source=digest">Read more</a></p>'
    link = entry.link or "https://bench.example/x"
    link += f"{'&' if '?' in link else '?'}fbclid={n}"
    return RawEntry(
        id=f"{entry.id or 'seed'}-{n}",
        title=f"{entry.title} ({n})",
        link=link,
        summary=body if entry.content is None else entry.summary,
        content=entry.content and body,
        content_type=entry.content_type,
        authors=entry.authors,
        published=entry.published,
        via=entry.via,
        public_release=entry.public_release,
    )


def _clean_chunk(bounds: tuple[int, int]) -> tuple[int, int]:
    base = corpus_entries()
    for n in range(*bounds):
        normalise_entry(
            vary(base[n % len(base)], n), source=SOURCE, attribution=ATTRIBUTION, first_seen=NOW
        )
    return bounds[1] - bounds[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(items: int, workers: int) -> tuple[float, int]:
    step = -(-items // (workers * 8))
    chunks = [(i, min(i + step, items)) for i in range(0, items, step)]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_clean_chunk, chunks))
    elapsed = time.perf_counter() - start
    assert sum(r[0] for r in results) == items
    return elapsed, max(r[1] for r in results)


SIZES = (10_000, 20_000, 50_000, 100_000)
WORST_ITEM_SECONDS = 1.0
FLAT_WITHIN = 1.3


def _clean_once(entry: RawEntry) -> tuple[float, bool]:
    # CPU time of this process: the cost of the item, whatever else shares the machine.
    start = time.process_time()
    item = normalise_entry(entry, source=SOURCE, attribution=ATTRIBUTION, first_seen=NOW)
    elapsed = time.process_time() - start
    return elapsed, any(note.startswith("markup over budget") for note in item.notes)


def hostile_scaling(runs: int) -> bool:
    """Per unit time of one huge item at growing sizes, per shape: flat when linear.

    Prints one row per shape; True when every shape keeps its time per unit within
    FLAT_WITHIN from the smallest size to the largest and no item takes over a second.
    """
    print(f"{'shape':<26}" + "".join(f"{n:>16,}" for n in SIZES) + "   ratio  worst item")
    ok = True
    for name, make in HOSTILE.items():
        medians: list[float] = []
        cells: list[str] = []
        for count in SIZES:
            entry = RawEntry(
                id="hostile", title="Hostile", link="https://x.example/", content=make(count)
            )
            timed = [_clean_once(entry) for _ in range(runs)]
            medians.append(statistics.median(t for t, _ in timed))
            cut = "*" if timed[0][1] else " "
            cells.append(f"{medians[-1] / count * 1e6:>13.2f}µs{cut}")
        ratio = (medians[-1] / SIZES[-1]) / (medians[0] / SIZES[0])
        worst = max(medians)
        ok = ok and ratio <= FLAT_WITHIN and worst <= WORST_ITEM_SECONDS
        print(f"{name:<26}" + "".join(cells) + f"   ×{ratio:.2f}  {worst:.2f} s")
    print(
        "CPU µs per unit at each size (median of runs); * = the item was over budget and cut;\n"
        f"ratio = µs per unit at {SIZES[-1]:,} / at {SIZES[0]:,} (flat: at most ×{FLAT_WITHIN})"
    )
    print("all flat and every item under a second" if ok else "NOT all flat / under a second")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hostile", action="store_true", help="only the huge-item scaling")
    args = parser.parse_args()
    if args.hostile:
        raise SystemExit(0 if hostile_scaling(args.runs) else 1)
    times: list[float] = []
    peak = 0
    for _ in range(args.runs):
        elapsed, rss = run(args.items, args.workers)
        times.append(elapsed)
        peak = max(peak, rss)
    median = statistics.median(times)
    print(
        f"{args.items} items, {args.workers} workers, runs {[round(t, 1) for t in times]}: "
        f"median {median:.1f} s ({args.items / median:,.0f} items/s), "
        f"peak RSS per process {peak / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
