"""Benchmark of scaling out: `aggregator worker` processes sharing one PostgreSQL, each
pinned to one core, on the loopback farm of bench/fetch.py.

    python bench/scale.py [--feeds 2000] [--runs 3] [--rounds 5] [--workers 1,2] [--changed 10]
                          [--concurrency 32] [--per-host 2] [--phases cold,steady,…]
                          [--compare-reader 1000] [--reader-workers 32,128,256]
                          [--recent] [--cores-seconds 30] [--postgres URL] [--aggregator PATH]

The farm is bench/fetch.py's (rich content: 50 items a feed, 20–100 KB, 20–200 ms of
latency, ETag and gzip, a few 404/500), in its own process; every source has
`full_text = "never"`, as in bench/fetch.py (reader fetches no article pages). Its items
are dated May 2024, outside the dedupe window, so matching finds no stored item to read
and no lookup key is written; `--recent` dates them within the last week, as on a real
cold start of live feeds, where both are paid for. For each
worker count W (each run in a fresh database `bench_scale_thr_W`, created on `--postgres`
and dropped after), W processes `taskset -c K aggregator worker --until-idle`, K = 0…W-1:

  - cold:   empty database, every feed due at once;
  - steady: every feed due again (its interval elapsed: the due and last-fetch times are
            moved back a day in the database), `--changed` % of the feeds with one new
            item (a new ETag), the others answering 304;
  - warm:   the same with no feed changed: every feed answers 304.

Cold is measured from the first worker's start to the last one's exit (`--until-idle`):
a cold start of a large OPML pays for starting the workers. Steady and warm are what
running workers do, as they run in production: W workers started once and left idle,
then every feed falls due at one moment, and the phase is timed from that moment until
the last feed's fetch is stored (the CPU is the workers' over the same span, from
/proc). One steady round before them is not measured: the first changed feeds a worker
sees load and compile the cleaning code, once in its life. Each run measures `--rounds`
rounds of each with the same running workers, and the worker counts take turns: every
count's workers run at once (each set idle on its own database while another's round
runs), and each round of W workers follows one of 1 by a few seconds, on the same
change of the farm. The CPU the same round of work takes on this machine moved by half
from one minute to the next: one round per run, with the 2-worker phases a minute or two
after the 1-worker ones, left the ratio to that drift. `steady+start` and
`warm+start` are the same phases done the way cold is, W fresh processes from start to
exit: the fixed cost of starting a worker (imports, three connections, the config, the
first answers; ~0.6 s) is in them, and in a phase of a few seconds it weighs on the
ratio.

Per phase: feeds per second, items stored per second, CPU (user+sys of the workers,
PostgreSQL's own left out) per item and per feed, the largest worker's peak RSS, and the
lag: every feed is due at the start, so the oldest due time not yet fetched is the start
itself until the last feed is fetched (`drain`); `half` is when half the feeds were.
Medians of `--runs` (times `--rounds` for steady and warm); then the ratio of the largest
W to 1 (the goal: 2 workers >= 1.8x the throughput of 1).

The machine's cores are shared with the farm and PostgreSQL: with one worker they have a
core to themselves, with two they compete with the workers, which the ratio pays for.
Each phase reports the farm's CPU and, when the server runs on this machine, PostgreSQL's
(every `postgres` process, with the backends that exited meanwhile): what the workers'
writes cost the server, counted against reader's CPU, which stores in its own process.
`busy` is the cores in use on average over a phase (workers, farm and PostgreSQL), and
each ratio line gives the best ratio the machine allows: the one-worker phase's wall
time against the W-worker phase's CPU (workers, farm and PostgreSQL) spread over W cores.
That W-worker CPU is larger than one worker's for the same work, and not all of it is
ours: bench/cores.py, run before and after the workers (`--cores-seconds` each), measures
how much more CPU the same CPU-bound work takes on one core of this machine while the
other works (0-14 % on this virtual machine, from one half hour to the next), and the
ceiling that leaves for W CPU-bound processes of any program.

`--concurrency` and `--per-host` are each worker's limits (the product's defaults, 32 and
2): reader has no per-host limit, and the farm is 16 addresses where the web has one
host per few feeds, so at the defaults the farm's per-host limit binds at 32 requests in
flight per worker against reader's 128 threads. Raising them compares like with like.

`--compare-reader N`: on the first N feeds, the largest W cold then warm, next to lemon24's
reader (bench/fetch.py's driver, each phase at its best worker count of
`--reader-workers`, timed around update_feeds, then at the count best in the same run as
a whole process from start to exit: start-up, imports and opening the database
included), with the ratios of wall time and CPU against each: running workers' warm
against update_feeds, warm+start against the whole process. Run by run, ours then
reader's: each run of reader follows one of ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg

from aggregator.runtime.worker import DEFAULT_BATCH
from aggregator.store import dump_date

sys.path.insert(0, str(Path(__file__).parent))
import cores  # what the machine's cores allow
import fetch  # the farm, the [[sources]] config and reader's driver

DATABASE = "bench_scale_thr"  # …with the worker count after it: one database per count
PHASES = ("cold", "steady", "warm", "steady+start", "warm+start")
RUNNING = ("steady", "warm")  # the phases done by workers already running
SAMPLE_SECONDS = 0.25  # how often the lag is read while processes start and exit
# While running workers drain a phase, the lag is read this often once the last
# DRAIN_TAIL of the feeds is pending: the phase ends at the first reading with nothing
# pending, so this is the precision of its end. Before, it is read every
# DRAIN_BULK_SECONDS (the precision of the half-drained time): each reading is a COUNT
# over the sources, PostgreSQL CPU taken from the cores the workers use.
DRAIN_SAMPLE_SECONDS = 0.02
DRAIN_BULK_SECONDS = 0.1
DRAIN_TAIL = 0.2
# How far ahead of "now" the feeds are made due for running workers: an idle worker asks
# for the next due time at least once a second, so each one is waiting for that moment.
DUE_AHEAD_SECONDS = 1.5
_TICKS = os.sysconf("SC_CLK_TCK")
FARM_PID = 0  # the farm's process, whose CPU each phase reports (set by main)
_PENDING = (
    "SELECT COUNT(*) FROM sources WHERE kind = 'remote' AND enabled = 1 "
    "AND (last_fetch_at IS NULL OR last_fetch_at < %s)"
)
# Counted rather than the pending ones while the phase runs: in a cold database the
# workers create the sources' rows first, and an empty table is not "all fetched".
_FETCHED = "SELECT COUNT(*) FROM sources WHERE last_fetch_at >= %s"
# No proxy for the farm's loopback addresses, whatever the environment says.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(slots=True)
class Phase:
    """One phase of one run with W workers."""

    wall: float
    cpu: float  # user+sys of the workers (and their children)
    farm_cpu: float  # …and of the farm meanwhile: the servers' share of the cores
    db_cpu: float  # …and of PostgreSQL, if it runs here (0 otherwise)
    rss: float  # the largest worker's peak, MB
    feeds: int
    items: int  # items stored by the phase (new ones)
    half: float  # seconds until half the feeds due at the start were fetched
    drain: float  # …until all were: the lag of the oldest due feed
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, pending)


# -- the database ------------------------------------------------------------------------


def database_url(admin: str, name: str) -> str:
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


def database_name(workers: int) -> str:
    return f"{DATABASE}_{workers}"


def recreate_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def count(url: str, sql: str, *params: object, empty: int = 0) -> int:
    """A count; `empty` before the workers have created the tables (cold)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return _count(conn, sql, params, empty)


def _count(conn: psycopg.Connection[Any], sql: str, params: Any, empty: int) -> int:
    try:
        row = conn.execute(sql, params).fetchone()
    except psycopg.errors.UndefinedTable:
        return empty
    return int(row[0]) if row else 0


def make_all_due(url: str, at: datetime | None = None) -> None:
    """Every feed's interval elapsed: due now (or `at`), last fetched a day ago (so the
    minimum interval between two fetches does not hold it back)."""
    past = datetime.now(UTC) - timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE sources SET next_check_at = %s, last_fetch_at = %s "
            "WHERE kind = 'remote' AND enabled = 1",
            (dump_date(at or past), dump_date(past)),
        )
        # The update above left a dead version of every source's row, made by the bench,
        # not the workers: cleared as autovacuum would between two rounds of polls
        # (minutes apart in production), so the workers' claims and the lag samples do
        # not walk through them.
        conn.execute("VACUUM (ANALYZE) sources")


# -- the workers -------------------------------------------------------------------------


def run_workers(
    aggregator: str, workers: int, config: Path, url: str, *, batch: int, feeds: int
) -> Phase:
    """`workers` processes, worker K pinned to core K, until all are idle and exit. In an
    empty database (cold) all `feeds` are due."""
    cpus = sorted(os.sched_getaffinity(0))
    started = datetime.now(UTC)
    since = dump_date(started)
    due = count(url, _PENDING, since, empty=feeds)
    items_before = count(url, "SELECT COUNT(*) FROM items")
    with ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(workers)]
        start, farm_before, db_before = time.perf_counter(), farm_cpu(), database_cpu()
        processes = [
            start_worker(aggregator, cpus[k % len(cpus)], log, config, url, batch=batch,
                         name=f"bench-{k}", until_idle=True)
            for k, log in enumerate(logs)
        ]  # fmt: skip
        usage, timeline, last_exit = _wait_sampling(processes, url, (since,), start, due)
        wall, farm, db = last_exit - start, farm_cpu() - farm_before, database_cpu() - db_before
        for process, log in zip(processes, logs, strict=True):
            if process.returncode != 0:
                raise worker_failed(process, log)
    pending = count(url, _PENDING, since)
    return Phase(
        wall=wall,
        cpu=sum(u.ru_utime + u.ru_stime for u in usage.values()),
        farm_cpu=farm,
        db_cpu=db,
        rss=max(u.ru_maxrss for u in usage.values()) / 1024,
        feeds=due - pending,
        items=count(url, "SELECT COUNT(*) FROM items") - items_before,
        half=_when(timeline, due, due / 2),
        drain=_when(timeline, due, 0) if pending == 0 else wall,
        timeline=timeline,
    )


def start_worker(
    aggregator: str,
    core: int,
    log: IO[bytes],
    config: Path,
    url: str,
    *,
    batch: int,
    name: str,
    until_idle: bool,
) -> subprocess.Popen[bytes]:
    """`aggregator worker` pinned to `core`, its stderr into `log`."""
    command = [*cores.pinned(core), aggregator, "worker", "--config", str(config), "--db", url,
               "--name", name, "--batch", str(batch)]  # fmt: skip
    if until_idle:
        command.append("--until-idle")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)


def worker_failed(process: subprocess.Popen[bytes], log: IO[bytes]) -> RuntimeError:
    """The error for a worker that exited badly, with the end of what it logged."""
    log.seek(0)
    failure = log.read()[-2000:].decode(errors="replace")
    return RuntimeError(f"worker failed ({process.returncode}): {failure}")


class RunningWorkers:
    """W `aggregator worker` processes left running (no --until-idle), worker K pinned
    to core K; stopped with SIGTERM, as an operator stops one."""

    def __init__(self, aggregator: str, workers: int, config: Path, url: str, *, batch: int):
        cpus = sorted(os.sched_getaffinity(0))
        self.url = url
        # The workers' stderr, for as long as they run: closed by stop().
        self.logs = [tempfile.TemporaryFile() for _ in range(workers)]  # noqa: SIM115
        self.processes = [
            start_worker(aggregator, cpus[k % len(cpus)], log, config, url, batch=batch,
                         name=f"bench-run-{k}", until_idle=False)
            for k, log in enumerate(self.logs)
        ]  # fmt: skip
        deadline = time.monotonic() + 60
        while count(url, "SELECT COUNT(*) FROM workers WHERE stopped IS NULL") < workers:
            self._check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the running workers did not register within a minute")
            time.sleep(0.1)
        time.sleep(1.0)  # past the config, into the idle loop

    def _check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise worker_failed(process, log)

    def cpu(self) -> float:
        """User+sys seconds of the workers so far."""
        return sum(process_cpu(process.pid) for process in self.processes)

    def peak_rss(self) -> float:
        """The largest worker's peak RSS so far, MB."""
        peaks = []
        for process in self.processes:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def due_phase(self) -> Phase:
        """Every feed falls due at one moment, DUE_AHEAD_SECONDS from now; timed from
        that moment until the last one's fetch is stored."""
        url = self.url
        at = datetime.now(UTC) + timedelta(seconds=DUE_AHEAD_SECONDS)
        make_all_due(url, at)
        since = dump_date(at)
        feeds = count(url, _PENDING, since)
        items_before = count(url, "SELECT COUNT(*) FROM items")
        with psycopg.connect(url, autocommit=True) as conn:
            time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
            start, cpu_before = time.perf_counter(), self.cpu()
            farm_before, db_before = farm_cpu(), database_cpu()
            timeline: list[tuple[float, int]] = []
            deadline = start + 600
            while True:
                pending = feeds - _count(conn, _FETCHED, (since,), 0)
                timeline.append((time.perf_counter() - start, pending))
                if pending <= 0:
                    break
                self._check_alive()
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{pending} feeds still pending after 10 minutes")
                bulk = pending > feeds * DRAIN_TAIL
                time.sleep(DRAIN_BULK_SECONDS if bulk else DRAIN_SAMPLE_SECONDS)
            wall, cpu = timeline[-1][0], self.cpu() - cpu_before
            farm, db = farm_cpu() - farm_before, database_cpu() - db_before
        return Phase(
            wall=wall,
            cpu=cpu,
            farm_cpu=farm,
            db_cpu=db,
            rss=self.peak_rss(),
            feeds=feeds,
            items=count(url, "SELECT COUNT(*) FROM items") - items_before,
            half=_when(timeline, feeds, feeds / 2),
            drain=wall,
            timeline=timeline,
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()


def _stat_fields(stat: str) -> list[str]:
    """The fields of a /proc/PID/stat line after the command name (which may hold
    spaces and parentheses): index 0 is the state, 11 utime, 12 stime."""
    return stat.rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """User+sys seconds of a running process so far."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat").read_text())
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def farm_cpu() -> float:
    return process_cpu(FARM_PID) if FARM_PID else 0.0


def database_cpu() -> float:
    """User+sys seconds of the PostgreSQL processes of this machine so far, with their
    reaped children (a backend that exited is counted in its postmaster): 0 when the
    server runs elsewhere."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        if "(postgres)" in stat:
            fields = _stat_fields(stat)
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / _TICKS


def _wait_sampling(
    processes: list[subprocess.Popen[bytes]], url: str, since: Any, start: float, due: int
) -> tuple[dict[int, Any], list[tuple[float, int]], float]:
    """Wait for every process, reading the feeds still pending every SAMPLE_SECONDS;
    each one's resource usage (its children's included) by pid, the samples, and when
    the last one exited. A thread per process waits for it, so that the end is timed to
    its exit, not to the next sample (a quarter of a second is a tenth of a warm phase)."""
    usage: dict[int, Any] = {}
    exits: list[float] = []
    lock = threading.Lock()
    all_done = threading.Event()

    def reap(process: subprocess.Popen[bytes]) -> None:
        pid, status, rusage = os.wait4(process.pid, 0)
        ended = time.perf_counter()
        with lock:
            usage[pid] = rusage
            process.returncode = os.waitstatus_to_exitcode(status)
            exits.append(ended)
            if len(exits) == len(processes):
                all_done.set()

    reapers = [threading.Thread(target=reap, args=(p,), daemon=True) for p in processes]
    for reaper in reapers:
        reaper.start()
    timeline: list[tuple[float, int]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        while not all_done.is_set():
            pending = due - _count(conn, _FETCHED, since, 0)
            timeline.append((time.perf_counter() - start, pending))
            all_done.wait(SAMPLE_SECONDS)
        pending = due - _count(conn, _FETCHED, since, 0)  # as the last one left it
        timeline.append((max(exits) - start, pending))
    for reaper in reapers:
        reaper.join()
    return usage, timeline, max(exits)


def _when(timeline: list[tuple[float, int]], due: int, left: float) -> float:
    """The first sample at which at most `left` of the `due` feeds were still pending."""
    return next((t for t, pending in timeline if pending <= left), timeline[-1][0])


def ask_farm(farm_url: str, what: str) -> int:
    """`bump/P`: one new item in P % of the farm's feeds; `reset/0`: all as at first."""
    base = farm_url.rsplit("/feed/", 1)[0]
    with _LOCAL.open(f"{base}/{what}", timeout=120) as reply:
        return int(reply.read())


def write_config(path: Path, urls: list[str]) -> None:
    path.write_text(fetch.sources_config(urls, full_text="never"))


def measure_workers(
    args: argparse.Namespace,
    urls: list[str],
    counts: list[int],
    phases: tuple[str, ...],
    *,
    first_run: int = 0,
) -> dict[int, dict[str, list[Phase]]]:
    """Each phase with each worker count, `--runs` times. The worker counts take turns
    phase by phase, and round by round for running workers: each count in a database of
    its own, the running workers of every count started together and idle while another
    count's round runs. The machine's speed drifts by half within minutes, and a ratio
    of phases minutes apart measured the drift as much as the workers."""
    found: dict[int, dict[str, list[Phase]]] = {w: {p: [] for p in phases} for w in counts}
    urls_of = {w: database_url(args.postgres, database_name(w)) for w in counts}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "aggregator.toml"
        write_config(config, urls)
        for run in range(first_run, first_run + args.runs):
            running: dict[int, RunningWorkers] = {}
            try:
                for workers in counts:
                    recreate_database(args.postgres, database_name(workers))
                for phase in phases:
                    percent = args.changed if phase.startswith("steady") else 0
                    if phase in RUNNING:
                        if not running:
                            running = _start_running(args, urls, counts, config, urls_of)
                        for _ in range(args.rounds):
                            ask_farm(urls[0], f"bump/{percent}")  # the same change for each
                            for workers in counts:
                                _record(found, run, workers, phase, running[workers].due_phase())
                        continue
                    _stop_running(running)
                    if phase != "cold":
                        ask_farm(urls[0], f"bump/{percent}")  # the same change for each
                    for workers in counts:
                        if phase == "cold":
                            ask_farm(urls[0], "reset/0")  # each count from the same feeds
                        else:
                            make_all_due(urls_of[workers])
                        fresh = run_workers(
                            args.aggregator, workers, config, urls_of[workers],
                            batch=args.batch, feeds=len(urls),
                        )  # fmt: skip
                        _record(found, run, workers, phase, fresh)
            finally:
                _stop_running(running)
                for workers in counts:
                    drop_database(args.postgres, database_name(workers))
    return found


def _start_running(
    args: argparse.Namespace,
    urls: list[str],
    counts: list[int],
    config: Path,
    urls_of: dict[int, str],
) -> dict[int, RunningWorkers]:
    """The running workers of every count, each set on its own database, past the
    round that is not measured: a worker's first changed feeds load and compile the
    cleaning code, once in its life."""
    running = {}
    for workers in counts:
        running[workers] = RunningWorkers(
            args.aggregator, workers, config, urls_of[workers], batch=args.batch
        )
    ask_farm(urls[0], f"bump/{args.changed}")
    for workers in counts:
        running[workers].due_phase()
    return running


def _stop_running(running: dict[int, RunningWorkers]) -> None:
    for workers in list(running):
        running.pop(workers).stop()


def _record(
    found: dict[int, dict[str, list[Phase]]], run: int, workers: int, phase: str, result: Phase
) -> None:
    found[workers][phase].append(result)
    print(
        f"  run {run + 1} workers {workers} {phase}: wall {result.wall:.1f} s, cpu "
        f"{result.cpu:.1f} s, {result.feeds} feeds, {result.items} items, half "
        f"{result.half:.1f} s, drain {result.drain:.1f} s, peak {result.rss:.0f} MB",
        file=sys.stderr,
    )


# -- the report --------------------------------------------------------------------------


def median(phases: list[Phase], name: str) -> float:
    return float(statistics.median(getattr(p, name) for p in phases))


def rates(phases: list[Phase]) -> dict[str, float]:
    wall = median(phases, "wall")
    items = median(phases, "items")
    cpu = median(phases, "cpu")
    feeds = median(phases, "feeds")
    return {
        "wall": wall,
        "feeds/s": statistics.median(p.feeds / p.wall for p in phases),
        "items/s": statistics.median(p.items / p.wall for p in phases),
        "cpu": cpu,
        "farm cpu": median(phases, "farm_cpu"),
        "pg cpu": median(phases, "db_cpu"),
        "cpu ms/item": cpu / items * 1000 if items else float("nan"),
        "cpu ms/feed": cpu / feeds * 1000 if feeds else float("nan"),
        "half": median(phases, "half"),
        "drain": median(phases, "drain"),
        "rss": median(phases, "rss"),
        # The machine's cores in use on average: the workers', the farm's and PostgreSQL's.
        "busy": statistics.median((p.cpu + p.farm_cpu + p.db_cpu) / p.wall for p in phases),
        "items": items,
        "feeds": feeds,
    }


def report(
    found: dict[int, dict[str, list[Phase]]], feeds: int, machine: list[cores.Scaling]
) -> None:
    print(f"\n{feeds} feeds, `aggregator worker` x W (each on one core), medians:")
    header = ("W", "phase", "wall s", "feeds/s", "items/s", "cpu s", "ms/item", "ms/feed",
              "half s", "drain s", "peak MB", "farm cpu", "pg cpu", "busy")  # fmt: skip
    print("".join(f"{h:>13}" if h == "phase" else f"{h:>9}" for h in header))
    table = {w: {p: rates(runs) for p, runs in phases.items()} for w, phases in found.items()}
    for workers, phases in table.items():
        for phase, r in phases.items():
            names = ("wall", "feeds/s", "items/s", "cpu", "cpu ms/item", "cpu ms/feed", "half",
                     "drain", "rss", "farm cpu", "pg cpu", "busy")  # fmt: skip
            cells = [workers, phase, *(r[name] for name in names)]
            print(
                "".join(
                    f"{c:>9.2f}"
                    if isinstance(c, float)
                    else f"{c:>13}"
                    if isinstance(c, str)
                    else f"{c:>9}"
                    for c in cells
                )
            )
    most = max(table)
    if most > 1 and 1 in table:
        usable = min(most, len(os.sched_getaffinity(0)))
        for phase in table[1]:
            one, many = table[1][phase], table[most][phase]
            # The W-worker phase cannot end sooner than its CPU (the workers', the farm's,
            # PostgreSQL's) spread over the cores: the best ratio this machine allows.
            spent = many["cpu"] + many["farm cpu"] + many["pg cpu"]
            print(
                f"{most} workers / 1, {phase}: throughput x{many['feeds/s'] / one['feeds/s']:.2f}"
                f" (feeds/s), x{_ratio(many['items/s'], one['items/s'])} (items/s); "
                f"cpu x{many['cpu'] / one['cpu']:.2f}; at most x{one['wall'] * usable / spent:.2f}"
                f" with {usable} cores busy all along"
            )
    # The same work takes more CPU on a core while the other one works, whatever the
    # program: the part of the workers' extra CPU (`cpu x`) that is the machine's.
    for when, scaling in zip(("before", "after"), machine, strict=False):
        print(f"bench/cores.py {when}: {cores.describe(scaling)}")


def measure_cores(args: argparse.Namespace) -> cores.Scaling | None:
    """bench/cores.py for `--cores-seconds` (None when 0)."""
    return cores.measure(args.cores_seconds, cores.FEEDS) if args.cores_seconds else None


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "-"


READER_PHASES = ("cold", "warm", "warm+start")  # ours, next to reader's


def compare_reader(args: argparse.Namespace, urls: list[str], workers: int) -> None:
    """The first `--compare-reader` feeds: `workers` workers cold and warm, and reader,
    timed around update_feeds and as a whole process (as the workers are timed). Run by
    run, ours then reader's, so that both sides of a ratio are minutes apart at most, not
    a quarter of an hour (the machine's speed drifts)."""
    subset = urls[: args.compare_reader]
    one_run = argparse.Namespace(**{**vars(args), "runs": 1})
    reader_workers = [int(w) for w in str(args.reader_workers).split(",")]
    ours: dict[str, list[Phase]] = {p: [] for p in READER_PHASES}
    inprocess: dict[int, list[dict[str, dict[str, float]]]] = {n: [] for n in reader_workers}
    processes: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        urls_file = Path(tmp) / "urls.json"
        urls_file.write_text(json.dumps(subset))
        for run in range(args.runs):
            found = measure_workers(one_run, subset, [workers], READER_PHASES, first_run=run)
            for phase, phases in found[workers].items():
                ours[phase].extend(phases)
            for count in reader_workers:
                fetch.LIMITS["reader_workers"] = count
                inprocess[count].append(fetch.measure_inprocess("reader", urls_file, 1))
            # As a whole process at the thread count that was its best in this run.
            best_now = fetch.best_reader({n: runs[-1:] for n, runs in inprocess.items()})
            processes.append(fetch.measure_reader_process(urls_file, 1, best_now))
    theirs = fetch.best_reader(inprocess)
    process = {
        phase: {
            k: statistics.median(run[phase][k] for run in processes) for k in ("wall", "cpu", "rss")
        }
        for phase in ("cold", "warm")
    }
    print(f"\n{len(subset)} feeds: {workers} aggregator workers vs reader (best worker count):")
    # Like with like: running workers against update_feeds, fresh ones against a process.
    pairs = {
        "cold": (("cold", "update_feeds", theirs["cold"]), ("cold", "process", process["cold"])),
        "warm": (("warm", "update_feeds", theirs["warm"]),
                 ("warm+start", "process", process["warm"])),
    }  # fmt: skip
    for phase, against in pairs.items():
        for ours_phase, how, reader in against:
            mine = rates(ours[ours_phase])
            with_db = mine["cpu"] + mine["pg cpu"]
            print(
                f"{ours_phase}: workers {mine['wall']:.2f} s wall, {mine['cpu']:.2f} s cpu "
                f"({with_db:.2f} s with PostgreSQL's), {mine['rss']:.0f} MB"
            )
            print(
                f"  reader {how} (workers={theirs[phase]['workers']:.0f}) "
                f"{reader['wall']:.2f} s wall, {reader['cpu']:.2f} s cpu, "
                f"{reader['rss']:.0f} MB: reader/ours wall x{reader['wall'] / mine['wall']:.2f}, "
                f"ours/reader cpu x{mine['cpu'] / reader['cpu']:.2f} "
                f"(x{with_db / reader['cpu']:.2f} with PostgreSQL's)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of steady and warm per run (running workers)"
    )
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--changed", type=int, default=10, help="%% of feeds changed (steady)")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help="which, comma-separated (cold always runs)"
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="each worker's --batch")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="each worker's [fetch] concurrency"
    )
    parser.add_argument("--per-host", type=int, default=2, help="each worker's [fetch] per_host")
    parser.add_argument(
        "--compare-reader", type=int, default=1000, help="feeds for the reader comparison (0: none)"
    )
    parser.add_argument("--reader-workers", default="32,128,256")
    parser.add_argument(
        "--cores-seconds",
        type=float,
        default=30.0,
        help="bench/cores.py before and after the workers, this long each (0: not run)",
    )
    parser.add_argument(
        "--recent",
        action="store_true",
        help="items dated within the last week: matching and lookup keys do their work "
        "(by default they are from 2024, outside the dedupe window)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("AGGREGATOR_TEST_POSTGRES"),
        help="a server's admin URL (default: $AGGREGATOR_TEST_POSTGRES)",
    )
    parser.add_argument(
        "--aggregator",
        default=str(Path(sys.executable).with_name("aggregator")),
        help="the aggregator command the workers run",
    )
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL (or AGGREGATOR_TEST_POSTGRES) is needed")
    if shutil.which("taskset") is None:
        parser.error("taskset (util-linux) is needed to pin the workers")
    counts = [int(w) for w in str(args.workers).split(",")]
    fetch.LIMITS.update(concurrency=args.concurrency, per_host=args.per_host)
    farm_process = subprocess.Popen(
        [sys.executable, fetch.__file__, "--farm", "--feeds", str(args.feeds),
         "--hosts", str(args.hosts), "--content", "rich",
         *(["--recent"] if args.recent else [])],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    global FARM_PID
    FARM_PID = farm_process.pid
    try:
        assert farm_process.stdout is not None
        urls: list[str] = json.loads(farm_process.stdout.readline())["urls"]
        print(
            f"farm: {len(urls)} feeds on {args.hosts} addresses; each worker: concurrency "
            f"{args.concurrency}, per_host {args.per_host}",
            file=sys.stderr,
        )
        chosen = {"cold", *str(args.phases).split(",")}
        unknown = chosen - set(PHASES)
        if unknown:
            parser.error(f"--phases: unknown {', '.join(sorted(unknown))}")
        phases = tuple(p for p in PHASES if p in chosen)
        before = measure_cores(args)
        found = measure_workers(args, urls, counts, phases)
        after = measure_cores(args)
        report(found, len(urls), [s for s in (before, after) if s is not None])
        if args.compare_reader:
            compare_reader(args, urls, max(counts))
    finally:
        farm_process.kill()  # the farm process we started
        farm_process.wait()


if __name__ == "__main__":
    main()
