"""What a worker's claim costs as the sources grow.

    python bench/claims.py [--sources 2000,20000] [--runs 5] [--postgres URL]

For each backend (SQLite, and PostgreSQL when `--postgres` or $AGGREGATOR_TEST_POSTGRES
gives a server's admin URL) and each number of sources N, it makes N remote sources all
due, then claims them in batches of 64, as `aggregator worker` does, until none is left:
one round. It prints the median time per claim over `--runs` rounds and, as the peer in
the same run, the same rounds with the `sources_claim` index dropped (each claim then
reads and sorts every source, as every claim did before the index), and their ratio.
Last, the peak memory of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from aggregator.model import SourceKind, SourceSpec
from aggregator.store import Store, dump_date, open_store

BATCH = 64  # `aggregator worker`'s default --batch
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DATABASE = "bench_claims"


def fill(store: Store, sources: int) -> None:
    specs = [
        SourceSpec(id=f"feed-{n:06d}", url=f"http://127.0.0.1/{n}", kind=SourceKind.REMOTE)
        for n in range(sources)
    ]
    store.sync_sources(specs)
    # Fetched once, an hour ago, and due since: the steady state's round.
    store._db.execute(
        "UPDATE sources SET last_fetch_at = ?, next_check_at = ?",
        (dump_date(NOW - timedelta(hours=1)), dump_date(NOW - timedelta(minutes=1))),
    )


def one_round(store: Store) -> float:
    """Seconds per claim, claiming every source once. Each batch is released as fetched
    (next due in an hour) before the next claim, as a worker's is; that is not timed."""
    store._db.execute(
        "UPDATE sources SET lease_owner = NULL, lease_until = NULL, next_check_at = ?",
        (dump_date(NOW - timedelta(minutes=1)),),
    )
    claims = 0
    spent = 0.0
    while True:
        start = time.perf_counter()
        claimed = store.claim_sources(
            "bench", now=NOW, lease=timedelta(minutes=10), limit=BATCH, min_interval=timedelta(0)
        )
        spent += time.perf_counter() - start
        if not claimed:
            return spent / max(claims, 1)
        claims += 1
        store._execute_in(
            "UPDATE sources SET lease_owner = NULL, lease_until = NULL, "
            f"next_check_at = '{dump_date(NOW + timedelta(hours=1))}' WHERE id IN ({{}})",
            [source.id for source in claimed],
        )


def median_claim(store: Store, runs: int) -> float:
    one_round(store)  # warm the caches
    return statistics.median(one_round(store) for _ in range(runs))


@contextmanager
def database(backend: str, admin: str | None) -> Iterator[str]:
    if backend == "SQLite":
        with tempfile.TemporaryDirectory() as folder:
            yield str(Path(folder) / "claims.sqlite")
        return
    assert admin is not None
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    try:
        yield f"{admin.rpartition('/')[0]}/{DATABASE}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def measure(backend: str, admin: str | None, sources: int, runs: int) -> tuple[float, float]:
    """Median seconds per claim with the index, and without it."""
    with database(backend, admin) as url:
        store = open_store(url)
        try:
            fill(store, sources)
            indexed = median_claim(store, runs)
            store._db.execute("DROP INDEX sources_claim")
            unindexed = median_claim(store, runs)
        finally:
            store.close()
    return indexed, unindexed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default="2000,20000", help="comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("AGGREGATOR_TEST_POSTGRES"),
        help="a server's admin URL (default: $AGGREGATOR_TEST_POSTGRES; none: SQLite only)",
    )
    args = parser.parse_args()
    backends = ["SQLite"] + (["PostgreSQL"] if args.postgres else [])
    print(f"{'backend':<11} {'sources':>8} {'ms/claim':>9} {'no index':>9} {'ratio':>6}")
    for backend in backends:
        for sources in (int(n) for n in str(args.sources).split(",")):
            indexed, unindexed = measure(backend, args.postgres, sources, args.runs)
            print(
                f"{backend:<11} {sources:>8} {indexed * 1000:>9.2f} {unindexed * 1000:>9.2f} "
                f"{unindexed / indexed:>5.1f}x",
                flush=True,
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
