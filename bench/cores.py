"""What this machine's cores allow: how much more CPU the same work takes on one core
while the other cores are busy than while they are idle.

    python bench/cores.py [--seconds 60] [--feeds 40]

A probe on the first core reads bench/fetch.py's rich feed documents (a worker's own
kind of work: the parser, 50 items a document) one after the other without end, and
notes the CPU each reading took. Each of the other cores runs the same work for half a
second, then sleeps half a second, over and over (the halves shifted from core to core
by nothing: they all switch at once). A reading counts as `idle` when it fell wholly in
a moment when every other core slept, `busy` when wholly in one when they all worked.
Neither does I/O nor shares anything, so on a machine whose cores do not slow each
other both take the same CPU. On a virtual machine two vCPUs may be one physical core's
two hyperthreads, or share its caches and memory bandwidth with each other and with
other guests: then a reading takes more CPU while the other cores work.

`inflation` is the median busy reading's CPU over the median idle one's, and `ceiling`
is the cores / inflation: the best ratio of throughput that N CPU-bound processes can
reach here against one, before the servers they talk to take their share. The two
conditions alternate every half second for the whole run, so the machine's drift (its
speed moves by half within minutes) falls on both alike. Peak RSS of the probe.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

HALF_PERIOD = 0.5  # seconds of work, then of sleep, on the other cores
MARGIN = 0.02  # a reading this close to a switch is left out (the switch is not instant)
FEEDS = 40  # documents read in turn


@dataclass(frozen=True, slots=True)
class Scaling:
    idle: float  # median CPU ms of a reading while the other cores sleep
    busy: float  # …while they work
    readings: tuple[int, int]  # how many of each
    cores: int  # the probe's core and the others
    inflation: float  # busy / idle
    ceiling: float  # cores / inflation (at most the cores)
    rss: float  # the probe's peak RSS, MB


def pinned(core: int) -> list[str]:
    """The command prefix that runs a process on `core` alone."""
    return ["taskset", "-c", str(core)]


def _reader(feeds: int) -> Callable[[int], object]:
    """A function reading the document of a given turn (the `feeds` documents in turn)."""
    from fetch import feed_document

    from aggregator.parse import read_feed

    bodies = [feed_document(index) for index in range(feeds)]
    return lambda turn: read_feed(
        bodies[turn % len(bodies)], url="https://b.example/", source_id="b"
    )


def probe(feeds: int, until: float) -> None:
    """Read documents until the monotonic clock reaches `until`; print each reading's
    (start, end, cpu) and the peak RSS."""
    read = _reader(feeds)
    readings = []
    index = 0
    while (start := time.monotonic()) < until:
        cpu = time.thread_time()
        read(index)
        readings.append((start, time.monotonic(), time.thread_time() - cpu))
        index += 1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"readings": readings, "rss": rss}))


def load(feeds: int, origin: float, until: float) -> None:
    """Work during the even half periods after `origin`, sleep during the odd ones."""
    read = _reader(feeds)
    index = 0
    while (now := time.monotonic()) < until:
        phase = int((now - origin) / HALF_PERIOD)
        if phase % 2 == 0:
            read(index)
            index += 1
        else:
            time.sleep(origin + (phase + 1) * HALF_PERIOD - now)


def _busy_at(moment: float, origin: float) -> bool | None:
    """Whether the other cores work at `moment`; None near a switch."""
    offset = (moment - origin) / HALF_PERIOD
    if offset < 0 or abs(offset - round(offset)) * HALF_PERIOD < MARGIN:
        return None
    return int(offset) % 2 == 0


def measure(seconds: float, feeds: int) -> Scaling:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise RuntimeError("two cores or more are needed to measure how they scale")
    origin = time.monotonic() + 3.0  # every child has read its documents by then
    until = origin + seconds
    command = [sys.executable, __file__, "--feeds", str(feeds), "--until", repr(until)]
    loads = [
        subprocess.Popen([*pinned(core), *command, "--load", repr(origin)]) for core in cores[1:]
    ]
    prober = subprocess.Popen(
        [*pinned(cores[0]), *command, "--probe"], stdout=subprocess.PIPE, text=True
    )
    out, _ = prober.communicate()
    for process in loads:
        process.wait()
    if prober.returncode != 0 or any(p.returncode != 0 for p in loads):
        raise RuntimeError("a job of the cores benchmark failed")
    result = json.loads(out)
    idle: list[float] = []
    busy: list[float] = []
    for start, end, cpu in result["readings"]:
        at_start, at_end = _busy_at(start, origin), _busy_at(end, origin)
        if at_start is None or at_start != at_end or end - start > HALF_PERIOD / 2:
            continue  # across a switch: neither condition alone
        (busy if at_start else idle).append(cpu * 1000)
    inflation = statistics.median(busy) / statistics.median(idle)
    return Scaling(
        idle=statistics.median(idle),
        busy=statistics.median(busy),
        readings=(len(idle), len(busy)),
        cores=len(cores),
        inflation=inflation,
        # Below ×1 is noise (a short run): no machine does more than a core's work per core.
        ceiling=len(cores) / max(inflation, 1.0),
        rss=result["rss"],
    )


def describe(scaling: Scaling) -> str:
    return (
        f"reading a feed takes {scaling.idle:.2f} ms of CPU while the other cores sleep, "
        f"{scaling.busy:.2f} ms while they work (medians of {scaling.readings[0]} and "
        f"{scaling.readings[1]} readings): x{scaling.inflation:.3f}, so {scaling.cores} CPU-bound "
        f"processes do at most x{scaling.ceiling:.2f} the work of one on this machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--feeds", type=int, default=FEEDS, help="documents read in turn")
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        parser.error("taskset (util-linux) is needed to pin the probe and the load")
    if args.probe:
        probe(args.feeds, args.until)
    elif args.load is not None:
        load(args.feeds, args.load, args.until)
    else:
        scaling = measure(args.seconds, args.feeds)
        print(describe(scaling))
        print(f"peak RSS of the probe: {scaling.rss:.0f} MB")


if __name__ == "__main__":
    main()
