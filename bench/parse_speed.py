"""Parse speed: the lxml fast path against feedparser, on bench/fetch.py's feed documents.

    python bench/parse_speed.py [--feeds 100] [--runs 5]

Generates the documents (RSS and Atom alternately, 20–100 KB, 50 items each), checks
that both paths give equal records, then times each path in its own child process
(so each one's peak RSS is its own) and prints the median over runs of the mean ms per
feed, the ms per 60 KB, and peak memory: the child's max RSS and the tracemalloc peak
of Python allocations while parsing one feed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fetch import feed_document

from aggregator.parse import read_feed


def documents(count: int) -> list[bytes]:
    return [feed_document(index) for index in range(count)]


def measure(path: str, count: int, runs: int) -> dict[str, float]:
    bodies = documents(count)
    allow_fast = path == "fast"
    for body in bodies:  # warm-up, and the path really is the one named
        reading = read_feed(body, url="https://b.example/", source_id="b", allow_fast=allow_fast)
        assert reading.path == ("fast" if allow_fast else "feedparser"), reading.declined
    per_run = []
    for _ in range(runs):
        start = time.perf_counter()
        for body in bodies:
            read_feed(body, url="https://b.example/", source_id="b", allow_fast=allow_fast)
        per_run.append((time.perf_counter() - start) / len(bodies) * 1000)
    tracemalloc.start()
    read_feed(bodies[0], url="https://b.example/", source_id="b", allow_fast=allow_fast)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mean_kb = statistics.mean(len(b) for b in bodies) / 1024
    median = statistics.median(per_run)
    return {
        "ms_per_feed": median,
        "ms_per_60kb": median * 60 / mean_kb,
        "mean_kb": mean_kb,
        "runs": float(runs),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_kb": traced_peak / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=["fast", "feedparser"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.feeds, args.runs)))
        return
    bodies = documents(args.feeds)
    unequal = [
        i
        for i, body in enumerate(bodies)
        if read_feed(body, url="u", source_id="b").feed
        != read_feed(body, url="u", source_id="b", allow_fast=False).feed
    ]
    print(f"{len(bodies)} feeds, records equal on both paths: {not unequal} {unequal or ''}")
    results = {}
    for path in ("feedparser", "fast"):
        command = [sys.executable, __file__, "--child", path]
        command += ["--feeds", str(args.feeds), "--runs", str(args.runs)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[path] = json.loads(output)
    print(f"mean document size {results['fast']['mean_kb']:.1f} KB, median of {args.runs} runs")
    print(f"{'path':<11} {'ms/feed':>8} {'ms/60KB':>8} {'max RSS MB':>11} {'traced peak KB':>15}")
    for path, figures in results.items():
        print(
            f"{path:<11} {figures['ms_per_feed']:>8.2f} {figures['ms_per_60kb']:>8.2f}"
            f" {figures['max_rss_mb']:>11.1f} {figures['traced_peak_kb']:>15.0f}"
        )
    speedup = results["feedparser"]["ms_per_feed"] / results["fast"]["ms_per_feed"]
    print(f"fast path: {speedup:.1f}x faster")


if __name__ == "__main__":
    main()
