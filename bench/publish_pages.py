"""What the pages for people cost when publishing, against the Atom feeds of the same run.

    python bench/publish_pages.py                    # 10,000 entries, 200 sources, 3 runs
    python bench/publish_pages.py --entries 50000 --linkless 0.1 --runs 3

Publishes generated entries (press-release sized: 30 paragraphs; a share of them without
a link of their own, which get a page each) with `publish_all` into a fresh folder: a
cold publish, a publish with nothing changed, and one that adds an entry, each given the
keys of the publish before it, as `aggregator run` does. Rendering runs in this process
(no worker processes), so the time spent rendering each kind of file can be told apart:
the Atom documents (the peer: same entries, same run) against the HTML pages, per entry
rendered. Prints medians and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.model import Attribution, Entry, Item
from aggregator.publish import FeedInfo, SourceInfo, publish_all, site

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BODY = "".join(
    f"<p>Paragraph {k} of the release, on the programme, its partners and its budget.</p>"
    for k in range(30)
)
INFO = FeedInfo(id="urn:bench", title="Bench", base_url="http://127.0.0.1:8080/", author="A")


def entry(n: int, sources: int, linkless_every: int) -> Entry:
    source = f"src{n % sources}"
    when = T0 + timedelta(minutes=37 * n)
    linkless = linkless_every > 0 and n % linkless_every == 0
    item = Item(
        key=f"{source}:{n}",
        origin_id=f"o{n}",
        content_hash=f"h{n}",
        title=f"Story {n}",
        link=None if linkless else f"https://{source}.example/news/{n}",
        summary=f"Summary of story {n}.",
        content_html=BODY,
        text="",
        authors=("Org",),
        categories=(),
        published=when,
        updated=when,
        source=Attribution(
            source_id=source,
            feed_url=f"https://{source}.example/feed",
            feed_id=f"https://{source}.example/feed",
            title=f"Source {n % sources}",
            site_link=f"https://{source}.example/",
            updated=T0,
        ),
    )
    return Entry(id=f"urn:bench:entry:{n:08d}", item=item, vias=(), updated=None)


class Clock:
    """Seconds spent in, and entries rendered by, the Atom and the HTML renderers."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.entries: dict[str, int] = defaultdict(int)

    def wrap(self, kind: str, render: Callable[..., Any], count: Callable[[Any], int]) -> Any:
        def timed(info: FeedInfo, thing: Any) -> Any:
            start = time.perf_counter()
            result = render(info, thing)
            self.seconds[kind] += time.perf_counter() - start
            self.entries[kind] += count(thing)
            return result

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--linkless", type=float, default=0.1, help="share without a link")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    every = round(1 / args.linkless) if args.linkless > 0 else 0
    entries = [entry(n, args.sources, every) for n in range(args.entries)]
    added = [*entries, entry(args.entries, args.sources, every)]
    sources = [
        SourceInfo(f"src{i}", f"https://src{i}.example/feed", f"Source {i}", None, (f"t{i % 7}",))
        for i in range(args.sources)
    ]
    site.PARALLEL_MIN_ENTRIES = sys.maxsize  # in this process: the clock sees every render
    clock = Clock()
    site.atom_bytes = clock.wrap("atom", site.atom_bytes, lambda doc: len(doc.entries))
    site.render_river = clock.wrap("html", site.render_river, lambda page: len(page.entries))
    site.render_entry = clock.wrap("html", site.render_entry, lambda _: 1)
    phases: dict[str, list[float]] = defaultdict(list)
    files = 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            start = time.perf_counter()
            cold = publish_all(folder, INFO, entries, sources)
            phases["cold"].append(time.perf_counter() - start)
            start = time.perf_counter()
            same = publish_all(folder, INFO, entries, sources, previous=cold.keys)
            phases["unchanged"].append(time.perf_counter() - start)
            start = time.perf_counter()
            publish_all(folder, INFO, added, sources, previous=same.keys)
            phases["add one"].append(time.perf_counter() - start)
            files = len(cold.keys)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.entries} entries, {args.sources} sources, {files} files, {args.runs} runs")
    for name, times in phases.items():
        print(f"  {name:10} {statistics.median(times):6.2f} s (median)")
    per_entry = {k: clock.seconds[k] / max(1, clock.entries[k]) * 1e6 for k in ("atom", "html")}
    for kind in ("atom", "html"):
        print(
            f"  rendering {kind}: {clock.seconds[kind] / args.runs:6.2f} s a run, "
            f"{clock.entries[kind] // args.runs} entries, {per_entry[kind]:.0f} µs an entry"
        )
    print(f"  html / atom per entry rendered: ×{per_entry['html'] / per_entry['atom']:.2f}")
    print(f"  peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
