"""Time the dedup step (signature + assign) on generated corpora in the dev corpus's style.

    python bench/dedup_speed.py                      # 10k, 30k, 100k items, 3 runs each
    python bench/dedup_speed.py --sizes 10000 --runs 5

The corpora are written as raw feed XML and seed text and read through the real
parse / seedtext / normalise path (bench/corpus_tools.py); building them is not timed, but
the items it holds count in the peak memory. Each size runs in a fresh child process so
peak memory (ru_maxrss) is that size's alone.
Prints the median wall time of signature_of over all items, of assign_entries, and the
child's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus_tools as ct

from aggregator import dedupe
from aggregator.normalise import identity


def corpus_of(items: int, seed: int = 7) -> list[ct.Labelled]:
    """About `items` items: a story has 2.6 copies on average."""
    stories = max(1, int(items / 2.6))
    out = ct.generated_corpus(stories, seed=seed, orgs=max(12, stories // 25))
    return out[:items]


def child(items: int, runs: int) -> dict[str, float]:
    corpus = [x.item for x in corpus_of(items)]
    signing, assigning = [], []
    for _ in range(runs):
        start = time.perf_counter()
        sigs = [dedupe.signature_of(item) for item in corpus]
        middle = time.perf_counter()
        dedupe.assign_entries(sigs, dedupe.StoryIndex(), lambda s: identity.entry_id(s.key))
        signing.append(middle - start)
        assigning.append(time.perf_counter() - middle)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "items": len(corpus),
        "signature_s": statistics.median(signing),
        "assign_s": statistics.median(assigning),
        "peak_mib": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.runs)))
        return
    header = ("items", "signature s", "assign s", "total s", "µs/item", "peak MiB")
    print(
        " ".join(
            f"{name:>{width}}" for name, width in zip(header, (8, 12, 9, 8, 8, 9), strict=True)
        )
    )
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--runs", str(args.runs)]
        result = json.loads(
            subprocess.run(command, check=True, capture_output=True, text=True).stdout
        )
        total = result["signature_s"] + result["assign_s"]
        print(
            f"{result['items']:>8} {result['signature_s']:>12.2f} {result['assign_s']:>9.2f} "
            f"{total:>8.2f} {total / result['items'] * 1e6:>8.0f} {result['peak_mib']:>9.0f}"
        )


if __name__ == "__main__":
    main()
