"""The one publisher (`aggregator publisher`) and the documents kept in the database.

    python bench/publisher.py [--runs 5] [--files 1500] [--postgres URL]

Needs PostgreSQL for the first two parts (`--postgres`, default `AGGREGATOR_TEST_POSTGRES`:
a role that may create databases; a database of its own is created and dropped):

* **take-over**: two publishers on one database; the holder is killed (SIGKILL) and the
  time until the standby says it took the lock is measured (`--runs` times);
* **wake-up**: a new item committed by `aggregator run` (publishing to another folder), and
  the time from the end of that run until the holder's `index.atom` carries the item,
  with `--debounce 0` and with the default 1 s (the timer is an hour: only NOTIFY wakes it);
* **documents**: `sync_documents` (SQLite, in process) over the published dev corpus and
  over a folder of `--files` documents of 20 KB: storing every file, a publish that
  changed nothing, a publish that changed one file.

Prints medians. Every process is a real `aggregator` command.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEV_SEEDS = Path("/work/shared/corpus/dev/seeds")
FALLBACK_SEEDS = ROOT / "tests/data/realistic/seeds"


class Proc:
    """An `aggregator` child whose merged output is collected by a thread."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--log-level", "info", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout or ():
            self.lines.append((time.monotonic(), line))

    def said(self, text: str) -> list[float]:
        return [t for t, line in self.lines if text in line]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)


def aggregator(*args: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    subprocess.run(
        [sys.executable, "-m", "aggregator", *args], cwd=cwd, env=env, check=True,
        capture_output=True, timeout=600,
    )  # fmt: skip


def wait(check: Callable[[], bool], timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit("timed out")


_NUMBERS = itertools.count(1)


def add_seed(seeds: Path, n: int) -> str:
    title = f"Bench release {n} {uuid.uuid4().hex[:8]}"
    words = " ".join(f"w{n}x{i}" for i in range(80))
    (seeds / f"bench-{n:04}.txt").write_text(
        f"{title}\n\nBench Organisation {n}\n\nThe release {n}. {words}.\n", encoding="utf-8"
    )
    return title


def create_database(admin: str) -> tuple[str, Callable[[], None]]:
    import psycopg
    from psycopg import sql

    name = "bench_pubr_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
            sql.Identifier(name)))  # fmt: skip

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip

    return urlsplit(admin)._replace(path="/" + name).geturl(), drop


def takeover(work: Path, url: str, runs: int) -> list[float]:
    times = []
    for run in range(runs):
        procs = [
            Proc("publisher", "--db", url, "--out", f"t{run}-{i}", "--interval", "3600", cwd=work)
            for i in (0, 1)
        ]
        try:
            wait(lambda procs=procs: any(p.said("standing by") for p in procs))
            holder, standby = procs if procs[1].said("standing by") else procs[::-1]
            wait(lambda p=holder: bool(p.said("took the publisher lock")))
            killed = time.monotonic()
            holder.popen.kill()
            took = wait(lambda p=standby: bool(p.said("took the publisher lock")))
            times.append(took - killed)
        finally:
            for p in procs:
                p.stop()
    return times


def wakeups(work: Path, url: str, runs: int, debounce: str) -> list[float]:
    """Commit in this process (gather + commit, the stages a worker runs; no publish), so
    the clock starts when the transaction commits."""
    from datetime import UTC, datetime

    from aggregator.config import Settings
    from aggregator.pipeline import commit, gather
    from aggregator.store import open_store

    out = work / f"wake-{debounce}"
    proc = Proc("publisher", "--db", url, "--out", out.name, "--interval", "3600",
                "--debounce", debounce, cwd=work)  # fmt: skip
    settings = Settings(db=url, seeds=work / "seeds", out=work / "run-out")
    store = open_store(url)
    times = []
    try:
        wait(lambda: (out / "index.atom").is_file())
        for _ in range(runs):
            title = add_seed(work / "seeds", next(_NUMBERS))
            now = datetime.now(UTC)
            commit(settings, store, gather(settings, store, now=now), now=now)
            committed = time.monotonic()
            seen = wait(lambda t=title: t in (out / "index.atom").read_text(encoding="utf-8"))
            times.append(seen - committed)
    finally:
        store.close()
        proc.stop()
    return times


def synthetic_folder(out: Path, files: int) -> None:
    """`files` documents of ~20 KB in a few folders, like a large publish's pages."""
    rng = random.Random(17)
    for i in range(files):
        path = out / ("sources", "archive", "entries", "tags")[i % 4] / f"doc-{i}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(10_000).hex().encode())


def sync_costs(out: Path, db_path: Path) -> dict[str, float]:
    from aggregator.publish.documents import sync_documents
    from aggregator.store import open_store

    db = open_store(str(db_path))
    found = {}
    try:
        start = time.perf_counter()
        sync_documents(db, out)
        found["store all"] = time.perf_counter() - start
        start = time.perf_counter()
        sync_documents(db, out)
        found["nothing changed"] = time.perf_counter() - start
        first = next(p for p in sorted(out.rglob("*")) if p.is_file() and p.name[0] != ".")
        first.write_bytes(first.read_bytes() + b"\n")
        start = time.perf_counter()
        sync_documents(db, out)
        found["one changed"] = time.perf_counter() - start
    finally:
        db.close()
    return found


def documents(work: Path, runs: int, files: int) -> dict[str, list[float]]:
    from datetime import UTC, datetime

    from aggregator.config import Settings
    from aggregator.pipeline import run_once
    from aggregator.store import open_store

    seeds = work / "doc-seeds"
    shutil.copytree(DEV_SEEDS if DEV_SEEDS.is_dir() else FALLBACK_SEEDS, seeds)
    settings = Settings(db=str(work / "docs.sqlite"), seeds=seeds, out=work / "doc-feeds")
    store = open_store(settings.db)
    try:
        run_once(settings, store, now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    finally:
        store.close()
    synthetic = work / "synthetic"
    synthetic_folder(synthetic, files)
    found: dict[str, list[float]] = {}
    for name, out in (("dev corpus", settings.out), (f"{files} files", synthetic)):
        count = sum(1 for p in out.rglob("*") if p.is_file() and p.name[0] != ".")
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"documents, {name}: {count} files, {size / 2**20:.1f} MiB")
        for run in range(runs):
            for what, seconds in sync_costs(out, work / f"docs-{name}-{run}.sqlite").items():
                found.setdefault(f"{name}: {what}", []).append(seconds)
    return found


def show(name: str, values: list[float]) -> None:
    each = ", ".join(f"{v * 1000:.0f}" for v in values)
    print(f"{name:34} median {statistics.median(values) * 1000:7.0f} ms  (runs: {each})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=1500, help="synthetic folder size")
    parser.add_argument("--postgres", default=os.environ.get("AGGREGATOR_TEST_POSTGRES"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, values in documents(work, args.runs, args.files).items():
            show(f"documents sync, {name}", values)
        if not args.postgres:
            print("PostgreSQL parts skipped: pass --postgres URL or set AGGREGATOR_TEST_POSTGRES")
            return
        url, drop = create_database(args.postgres)
        try:
            (work / "seeds").mkdir()
            add_seed(work / "seeds", 0)
            aggregator("run", "--db", url, "--out", "run-out", cwd=work)
            show("take-over after kill -9", takeover(work, url, args.runs))
            show("commit to file, --debounce 0", wakeups(work, url, args.runs, "0"))
            show("commit to file, --debounce 1", wakeups(work, url, args.runs, "1"))
        finally:
            drop()


if __name__ == "__main__":
    main()
