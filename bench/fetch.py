"""Benchmark of fetching: our Fetcher and `aggregator run` next to lemon24's reader.

    python bench/fetch.py [--feeds 1000] [--runs 3] [--hosts 16] [--content rich|plain]
                          [--full-text never|auto] [--recent]

Starts a loopback feed farm in its own process (asyncio, keep-alive): N feeds of 50
items, 20–100 KB, RSS and Atom alternating, 20–200 ms of latency each, ETag and
Last-Modified with 304 answers, gzip for half of them, and a few fast failures (404/500),
spread over `--hosts` addresses 127.0.1.x so that per-host limits apply as on the web.
Item bodies are `rich` (paragraphs with links, emphasis, inline styles, an image, lists:
the markup that makes sanitising cost what the issue measured, ~70 ms a feed for reader)
or `plain` (one paragraph of nine words over and over: the cheapest case for reader's
sanitiser, and the hardest for our story merging, since every text looks alike).

Scenario 1, cold then warm (every feed answers 304), each measured in a fresh child
process, median of `--runs`:
  - fetcher:  Fetcher.fetch_all (fetch only; concurrency 32, per_host 2)
  - run:      `aggregator run --all` on a [[sources]] config (fetch, parse, normalise,
              dedupe, store, publish), every source with `full_text = "never"` unless
              `--full-text auto`: the farm's items look like teasers, and reader fetches
              no article pages, so only "never" compares like with like (with "auto" the
              run spends up to [full_text] seconds_per_run on the pages of site<N>.example,
              which do not resolve); then warm over half the sources (the difference
              is the CPU per unchanged feed), a run with nothing due (the fixed cost) and
              a run that adds one item (a new seed) to the whole history
  - reader:   reader.update_feeds(workers=W) (fetch, parse, store), for each W of
              --reader-workers; each phase is compared with reader's best W for it
              (fewer workers are faster cold, more are faster warm); timed around
              update_feeds, so its start-up is left out
  - reader-process: the same, at those best W, timed from process start to exit as
              `aggregator run` is (start-up, imports, opening the database included)
Printed: wall seconds, CPU seconds (user+sys of the child), peak RSS, and the ratios.

Scenario 2, hanging and dripping feeds: 200 good feeds plus 16 feeds that never answer
or drip one byte a second, each on its own address; with a 3 s total deadline the run
must end within 3 s + 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import gzip
import html
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HANG_DEADLINE = 3.0  # total_timeout in scenario 2
# Our client's limits (the product defaults; raise with --concurrency / --per-host: the
# whole farm is one machine, so per-host limits bind harder than on the web).
LIMITS = {"concurrency": 32, "per_host": 2, "reader_workers": 32}
FULL_TEXT = {"mode": "never"}  # each source's full_text in `aggregator run` (--full-text)


# -- the farm (runs in its own process) -------------------------------------------------


PLAIN_WORDS = ["press", "release", "council", "minister", "funding", "project", "community"]
PLAIN_WORDS += ["report", "health"]
# A few hundred made-up words: text with a vocabulary, not nine words over and over.
_SYLLABLES = ["ka", "lo", "mi", "ter", "san", "vo", "del", "ri", "po", "nu", "gra", "fen"]
RICH_WORDS = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "s", "ed")})


def plain_body(rng: random.Random, size: int, index: int, number: int) -> str:
    """One paragraph of nine words repeated: markup-free, the cheapest to sanitise."""
    return "<p>" + " ".join(rng.choice(PLAIN_WORDS) for _ in range(size // 7)) + "</p>"


def rich_body(rng: random.Random, size: int, index: int, number: int) -> str:
    """Markup as press releases carry it: paragraphs with links and emphasis, an image,
    a list, a quote; what makes feedparser's sanitiser (and ours) work."""
    parts: list[str] = []
    length = 0
    longest = max(8, min(70, size // 12))  # words a paragraph: short items, short ones
    while length < size * 0.8:  # escaping the markup for the feed adds about a fifth
        words = [rng.choice(RICH_WORDS) for _ in range(rng.randint(longest // 2, longest))]
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(words))
            tag = rng.choice(["strong", "em", "a"])
            if tag == "a":
                href = f"https://site{index}.example/{rng.choice(RICH_WORDS)}?utm_source=feed"
                words[at] = f'<a href="{href}" target="_blank">{words[at]}</a>'
            else:
                words[at] = f"<{tag}>{words[at]}</{tag}>"
        block = f'<p class="body" style="margin:0">{" ".join(words).capitalize()}.</p>'
        if not parts:
            block += (
                f'<figure><img src="https://site{index}.example/img/{number}.jpg" '
                f'alt="{rng.choice(RICH_WORDS)}" width="600"><figcaption>'
                f"{rng.choice(RICH_WORDS)}</figcaption></figure>"
            )
        elif rng.random() < 0.2:
            items = "".join(f"<li>{rng.choice(RICH_WORDS)}</li>" for _ in range(3))
            block += f"<ul>{items}</ul>"
        elif rng.random() < 0.1:
            block += f"<blockquote>{' '.join(rng.choices(RICH_WORDS, k=12))}</blockquote>"
        parts.append(block)
        length += len(block)
    return "".join(parts)


BODIES = {"plain": plain_body, "rich": rich_body}


def feed_item(index: int, number: int, *, atom: bool, body: str, date: datetime) -> str:
    """One item of feed `index`, RSS or Atom, its body escaped as the feed carries it."""
    text = html.escape(body, quote=False)
    link = f"https://site{index}.example/posts/{number}"
    if atom:
        return (
            f"<entry><id>{link}</id><title>Post {number} of feed {index}</title>"
            f'<link href="{link}"/><updated>{date:%Y-%m-%dT%H:%M:%SZ}</updated>'
            f'<content type="html">{text}</content></entry>'
        )
    return (
        f"<item><guid>{link}</guid><title>Post {number} of feed {index}</title>"
        f"<link>{link}</link><pubDate>{email.utils.format_datetime(date, usegmt=True)}</pubDate>"
        f"<description>{text}</description></item>"
    )


# Items are dated in May 2024 unless the farm is `--recent`: then within the last week,
# inside the dedupe window, as on a real cold start of live feeds (matching reads the
# stored items that share a key with each new one, and every item's lookup keys are
# written). RECENT["since"] is the farm's start, so that every feed's dates stay put.
RECENT: dict[str, datetime | None] = {"since": None}


def _item_date(number: int, *, added: bool, atom: bool) -> datetime:
    since = RECENT["since"]
    if since is None:
        if not atom:  # every RSS item of the farm has always said 1 May
            return datetime(2024, 5, 1, 10, tzinfo=UTC)
        return datetime(2024, 6 if added else 5, 1 + number % 28, 10, tzinfo=UTC)
    return since - timedelta(days=0 if added else 1 + number % 6, hours=number % 24)


def feed_document(index: int, content: str = "rich", version: int = 1) -> bytes:
    """Feed `index` of the farm: 50 items; each `version` past the first adds one more
    on top (a feed that changed: one new item, the others as they were)."""
    rng = random.Random(index)
    body_of = BODIES[content]
    target = rng.randint(20_000, 100_000)
    per_item = max(200, target // 50 - 300)
    atom = index % 2 == 1
    items = []
    for number in range(50):
        body = body_of(rng, per_item, index, number)
        date = _item_date(number, added=False, atom=atom)
        items.append(feed_item(index, number, atom=atom, body=body, date=date))
    for number in range(50, 49 + version):
        extra = random.Random(f"{index}/{number}")
        body = body_of(extra, per_item, index, number)
        date = _item_date(number, added=True, atom=atom)
        items.insert(0, feed_item(index, number, atom=atom, body=body, date=date))
    if atom:
        head = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>https://site{index}.example/</id><title>Feed {index}</title>"
            "<updated>2024-05-28T10:00:00Z</updated>"
        )
        return (head + "".join(items) + "</feed>").encode()
    head = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {index}</title><link>https://site{index}.example/</link>"
    )
    return (head + "".join(items) + "</channel></rss>").encode()


class Farm:
    """The feeds' documents and how each request is answered. The farm stands in for
    servers on the web, whose CPU is not this machine's: it spends as little of the
    shared cores as it can (its 304s are kept as bytes until their feed changes)."""

    def __init__(self, feeds: int, content: str) -> None:
        self.content = content
        self.bodies = {i: feed_document(i, content) for i in range(feeds)}
        self.gzipped = {i: gzip.compress(b, 6) for i, b in self.bodies.items() if i % 2 == 0}
        self.versions = dict.fromkeys(self.bodies, 1)
        self.latency = {i: random.Random(i).uniform(0.02, 0.2) for i in self.bodies}
        self.bumps = 0
        self._unchanged: dict[int, bytes] = {}  # each feed's 304 answer

    def bump(self, percent: int) -> int:
        """One new item in `percent` % of the feeds (a new ETag), a different share each
        time; the others stay as they are (304). How many changed."""
        self.bumps += 1
        step = max(1, round(100 / percent)) if percent else 0
        changed = [i for i in self.bodies if step and (i + self.bumps) % step == 0]
        for i in changed:
            self.versions[i] += 1
            self._set_body(i, feed_document(i, self.content, self.versions[i]))
        return len(changed)

    def reset(self) -> int:
        """Every feed as it was first served (version 1); how many had changed."""
        changed = [i for i, version in self.versions.items() if version > 1]
        for i in changed:
            self.versions[i] = 1
            self._set_body(i, feed_document(i, self.content))
        return len(changed)

    def _set_body(self, index: int, body: bytes) -> None:
        self.bodies[index] = body
        if index in self.gzipped:
            self.gzipped[index] = gzip.compress(body, 6)
        self._unchanged.pop(index, None)

    def answer(self, head: bytes) -> tuple[float, bytes | None]:
        """The delay and the bytes of the answer to one request's head (None: never
        answered, `hang`; b"": `drip`)."""
        lines = head.decode("latin-1").split("\r\n")
        kind, _, number = lines[0].split(" ")[1].strip("/").partition("/")
        if kind == "hang":
            return 0.0, None
        if kind == "drip":
            return 0.0, b""
        if kind == "bump":  # bench/scale.py's steady state: some feeds change
            return 0.0, _response(200, [], str(self.bump(int(number))).encode())
        if kind == "reset":  # …and each of its cold runs starts from the same feeds
            return 0.0, _response(200, [], str(self.reset()).encode())
        index = int(number)
        if index % 97 == 5:
            return 0.0, _response(404, [], b"not found")
        if index % 89 == 7:
            return 0.0, _response(500, [], b"oops")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        etag = f'"feed-{index}-v{self.versions[index]}"'
        base = [f"ETag: {etag}", "Last-Modified: Wed, 29 May 2024 10:00:00 GMT"]
        if headers.get("if-none-match") == etag:
            if index not in self._unchanged:
                self._unchanged[index] = _response(304, base, b"")
            return self.latency[index], self._unchanged[index]
        zipped = index in self.gzipped and "gzip" in headers.get("accept-encoding", "")
        return self.latency[index], self._changed(index, base, zipped=zipped)

    def _changed(self, index: int, base: list[str], *, zipped: bool) -> bytes:
        content_type = "application/atom+xml" if index % 2 else "application/rss+xml"
        base.append(f"Content-Type: {content_type}; charset=utf-8")
        if zipped:
            return _response(200, [*base, "Content-Encoding: gzip"], self.gzipped[index])
        return _response(200, base, self.bodies[index])


def _response(status: int, headers: list[str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FarmConnection(asyncio.Protocol):
    """One keep-alive connection: each request answered after its feed's latency, one
    at a time (a pipelined request waits for the answer before it)."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.buffer = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _next(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if self.busy or end < 0 or self.transport is None:
            return
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        try:
            delay, answer = self.farm.answer(head)
        except (IndexError, ValueError, KeyError):
            self.transport.close()
            return
        self.busy = True
        if answer is None:
            return  # hangs until the client gives up
        if answer == b"":
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            self._drip()
            return
        asyncio.get_running_loop().call_later(delay, self._send, answer)

    def _send(self, answer: bytes) -> None:
        if self.transport is None:
            return
        self.transport.write(answer)
        self.busy = False
        self._next()

    def _drip(self) -> None:
        if self.transport is not None:
            self.transport.write(b"<")
            asyncio.get_running_loop().call_later(1.0, self._drip)


async def serve_farm(feeds: int, hosts: int, hangers: int, content: str) -> None:
    farm = Farm(feeds, content)
    loop = asyncio.get_running_loop()
    ports: dict[str, int] = {}
    addresses = [f"127.0.1.{h + 1}" for h in range(hosts)]
    addresses += [f"127.0.2.{h + 1}" for h in range(hangers)]
    for address in addresses:
        server = await loop.create_server(lambda: FarmConnection(farm), address, 0, backlog=1024)
        ports[address] = server.sockets[0].getsockname()[1]
    urls = [
        f"http://127.0.1.{i % hosts + 1}:{ports[f'127.0.1.{i % hosts + 1}']}/feed/{i}"
        for i in range(feeds)
    ]
    stalls = [
        f"http://127.0.2.{h + 1}:{ports[f'127.0.2.{h + 1}']}/{'hang' if h % 2 else 'drip'}/{h}"
        for h in range(hangers)
    ]
    print(json.dumps({"urls": urls, "stalls": stalls}), flush=True)
    await asyncio.Event().wait()


# -- the clients (each in a fresh child process) --------------------------------------------


def client_fetcher(urls: list[str], total_timeout: float) -> dict[str, Any]:
    from aggregator.config import FetchConfig
    from aggregator.ingest.http import Fetcher, FetchOutcome, FetchRequest, Validators
    from aggregator.runtime import eventloop

    settings = FetchConfig(
        allow=("127.0.0.0/8",),
        timeout=total_timeout,
        concurrency=LIMITS["concurrency"],
        per_host=LIMITS["per_host"],
    )
    phases: dict[str, Any] = {}

    async def run() -> None:
        validators: dict[str, Validators] = {}
        for phase in ("cold", "warm"):
            requests = [
                FetchRequest(source_id=str(i), url=u, validators=validators.get(u, Validators()))
                for i, u in enumerate(urls)
            ]
            wall, cpu = time.perf_counter(), time.process_time()
            async with Fetcher(settings) as fetcher:
                results = await fetcher.fetch_all(requests)
            phases[phase] = {
                "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,
                "ok": sum(isinstance(r, FetchOutcome) and not r.not_modified for r in results),
                "304": sum(isinstance(r, FetchOutcome) and r.not_modified for r in results),
                "errors": sum(not isinstance(r, FetchOutcome) for r in results),
            }
            for u, r in zip(urls, results, strict=True):
                if isinstance(r, FetchOutcome):
                    validators[u] = r.validators

    eventloop.run(run())  # the loop `aggregator run` uses (uvloop where installed)
    return phases


def client_reader(urls: list[str], workers: int) -> dict[str, Any]:
    import reader

    phases: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        r = reader.make_reader(str(Path(tmp) / "reader.sqlite"))
        for url in urls:
            r.add_feed(url)
        for phase, scheduled in (("cold", True), ("warm", False)):
            wall, cpu = time.perf_counter(), time.process_time()
            r.update_feeds(workers=workers, scheduled=scheduled)
            phases[phase] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        phases["errors"] = sum(1 for f in r.get_feeds() if f.last_exception)
        r.close()
    return phases


def reader_process(urls: list[str], workers: int, db: str, phase: str) -> None:
    """One phase of reader as a whole process, as `aggregator run` is measured: start,
    import, open the database (cold: add the feeds), update_feeds, exit."""
    import reader

    r = reader.make_reader(db)
    if phase == "cold":
        for url in urls:
            r.add_feed(url)
    r.update_feeds(workers=workers, scheduled=phase == "cold")
    r.close()


def child_main(kind: str, urls_file: str, total_timeout: float) -> None:
    urls = json.loads(Path(urls_file).read_text())
    if kind == "fetcher":
        phases = client_fetcher(urls, total_timeout)
    else:
        phases = client_reader(urls, LIMITS["reader_workers"])
    phases["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(phases))


# -- orchestration -----------------------------------------------------------------------


def run_child(args: list[str]) -> tuple[str, float, float, float]:
    """Run a child; its stdout, wall seconds, CPU seconds (user+sys) and peak RSS in MB."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read().decode()
    err = process.stderr.read().decode()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):  # `aggregator run` exits 1 when some sources failed
        raise RuntimeError(f"{args[:3]} failed ({process.returncode}): {err[-2000:]}")
    return out, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure_inprocess(kind: str, urls_file: Path, runs: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    rss = []
    for _ in range(runs):
        out, _wall, _cpu, peak = run_child(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--urls-file",
                str(urls_file),
                "--concurrency",
                str(LIMITS["concurrency"]),
                "--per-host",
                str(LIMITS["per_host"]),
                "--reader-workers",
                str(LIMITS["reader_workers"]),
            ]
        )
        phases = json.loads(out)
        for phase in samples:
            samples[phase].append(phases[phase])
        rss.append(peak)
        print(f"  {kind}: {json.dumps(phases)}", file=sys.stderr)
    return {
        phase: {
            "wall": statistics.median(s["wall"] for s in values),
            "cpu": statistics.median(s["cpu"] for s in values),
            "rss": statistics.median(rss),
        }
        for phase, values in samples.items()
    }


def measure_reader(urls_file: Path, runs: int, workers: list[int]) -> dict[str, dict[str, float]]:
    """reader at each worker count; per phase, the count with the lowest median wall time."""
    by_count = {}
    for count in workers:
        LIMITS["reader_workers"] = count
        by_count[count] = [measure_inprocess("reader", urls_file, runs)]
    best = best_reader(by_count)
    for phase, m in best.items():
        print(f"  reader {phase}: best with workers={m['workers']:.0f}", file=sys.stderr)
    return best


def best_reader(
    runs_by_count: dict[int, list[dict[str, dict[str, float]]]],
) -> dict[str, dict[str, float]]:
    """Per phase, reader at the thread count with the lowest median wall time over its
    runs (each `measure_inprocess`'s figures): its medians (wall, cpu, rss) and the count
    (`workers`)."""
    best: dict[str, dict[str, float]] = {}
    for count, runs in runs_by_count.items():
        for phase in ("cold", "warm"):
            medians = {
                k: statistics.median(r[phase][k] for r in runs) for k in ("wall", "cpu", "rss")
            }
            if phase not in best or medians["wall"] < best[phase]["wall"]:
                best[phase] = {**medians, "workers": count}
    return best


def measure_reader_process(
    urls_file: Path, runs: int, best: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """reader timed from process start to exit, like `aggregator run`, at the worker count
    that was best for each phase in process."""
    samples: dict[str, list[tuple[float, float, float]]] = {"cold": [], "warm": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "reader.sqlite")
            for phase, values in samples.items():
                workers = str(int(best[phase]["workers"]))
                _out, wall, cpu, peak = run_child(
                    [sys.executable, __file__, "--child", "reader-process", "--urls-file",
                     str(urls_file), "--db", db, "--phase", phase, "--reader-workers", workers]
                )  # fmt: skip
                values.append((wall, cpu, peak))
                message = f"  reader process {phase}: wall {wall:.2f} s cpu {cpu:.2f} s"
                print(message, file=sys.stderr)
    return {
        phase: {
            "wall": statistics.median(v[0] for v in values),
            "cpu": statistics.median(v[1] for v in values),
            "rss": statistics.median(v[2] for v in values),
        }
        for phase, values in samples.items()
    }


ONE_SEED = """Council Opens New Library in Riverside

Riverside Borough Council

The council opened a new public library in Riverside on Tuesday, with twenty thousand
books, a children's reading room and free internet access for residents.
"""


def sources_config(urls: list[str], *, full_text: str) -> str:
    """A config of one [[sources]] entry per farm URL, with our client's limits."""
    lines = [
        "[fetch]",
        'allow = ["127.0.0.0/8"]',
        f"concurrency = {LIMITS['concurrency']}",
        f"per_host = {LIMITS['per_host']}",
        "",
    ]
    for i, url in enumerate(urls):
        lines += ["[[sources]]", f'id = "feed-{i}"', f'url = "{url}"']
        lines += [f'full_text = "{full_text}"', ""]
    return "\n".join(lines)


def measure_run(urls: list[str], runs: int) -> dict[str, dict[str, float]]:
    """`aggregator run --all` cold then warm; then once more without --all, when no source
    is due: what a run costs before it fetches anything (start, config, store, checks)."""
    phases = ("cold", "warm", "half", "idle", "one")
    samples: dict[str, list[tuple[float, float, float]]] = {phase: [] for phase in phases}
    aggregator = str(Path(sys.executable).with_name("aggregator"))
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "seeds").mkdir()
            config = base / "aggregator.toml"
            config.write_text(sources_config(urls, full_text=FULL_TEXT["mode"]))
            command = [
                aggregator, "run", "--config", str(config), "--db", str(base / "db.sqlite"),
                "--seeds", str(base / "seeds"), "--out", str(base / "out"), "--all", "--json",
            ]  # fmt: skip
            # half: warm again, but only the first half of the sources (--only), so that
            # warm minus half is what the other half's unchanged feeds cost, start-up and
            # one-time imports left out.
            half = [arg for i in range(len(urls) // 2) for arg in ("--only", f"feed-{i}")]
            commands = {"cold": command, "warm": command, "half": command + half}
            commands["idle"] = command[:-2]  # no --all: nothing is due
            # one: nothing due either, but a new seed: one item added to the whole history
            # (what a run or daemon tick with a change pays to republish).
            commands["one"] = commands["idle"]
            for phase in phases:
                if phase == "one":
                    (base / "seeds" / "one.txt").write_text(ONE_SEED)
                _out, wall, cpu, peak = run_child(commands[phase])
                samples[phase].append((wall, cpu, peak))
                print(
                    f"  run {phase}: wall {wall:.2f} s cpu {cpu:.2f} s rss {peak:.0f} MB",
                    file=sys.stderr,
                )
    return {
        phase: {
            "wall": statistics.median(s[0] for s in values),
            "cpu": statistics.median(s[1] for s in values),
            "rss": statistics.median(s[2] for s in values),
            "feeds": len(urls),
        }
        for phase, values in samples.items()
    }


def report(results: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"\n{'client':<16}{'phase':<6}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}")
    for name, phases in results.items():
        for phase, m in phases.items():
            print(f"{name:<16}{phase:<6}{m['wall']:>9.2f}{m['cpu']:>9.2f}{m['rss']:>9.0f}")
    peers = [n for n in results if n.startswith("reader")]
    for name in (n for n in results if not n.startswith("reader")):
        for peer in peers:
            for phase in ("cold", "warm"):
                ours, theirs = results[name][phase], results[peer][phase]
                print(
                    f"{name}/{peer} {phase}: wall ×{ours['wall'] / theirs['wall']:.2f}, "
                    f"cpu ×{ours['cpu'] / theirs['cpu']:.2f}, "
                    f"peak memory ×{ours['rss'] / theirs['rss']:.2f}"
                )
    run = results.get("run", {})
    if "half" in run:
        feeds = run["half"]["feeds"] - run["half"]["feeds"] // 2
        per_feed = (run["warm"]["cpu"] - run["half"]["cpu"]) / feeds * 1000
        print(
            f"run: {per_feed:.2f} ms of CPU per unchanged feed (warm minus warm over half the "
            f"sources, {feeds:.0f} feeds apart); fixed cost of a run with nothing due: "
            f"{run['idle']['cpu']:.2f} s; a run adding one item to the history: "
            f"{run['one']['wall']:.2f} s, {run['one']['cpu']:.2f} s of CPU"
        )


def stall_scenario(farm: dict[str, list[str]], urls_file: Path) -> None:
    urls = farm["urls"][:200] + farm["stalls"]
    urls_file.write_text(json.dumps(urls))
    out, _wall, _cpu, _peak = run_child(
        [sys.executable, __file__, "--child", "fetcher", "--urls-file", str(urls_file),
         "--total-timeout", str(HANG_DEADLINE)]
    )  # fmt: skip
    cold = json.loads(out)["cold"]
    verdict = "OK" if cold["wall"] <= HANG_DEADLINE + 1 else "TOO SLOW"
    print(
        f"\nstalls: {len(farm['stalls'])} hanging/dripping + 200 good feeds, deadline "
        f"{HANG_DEADLINE:g} s: fetch_all took {cold['wall']:.2f} s ({verdict}); "
        f"{cold['ok']} fetched, {cold['errors']} errors"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=32, help="our global limit")
    parser.add_argument("--per-host", type=int, default=2, help="our per-host limit")
    parser.add_argument(
        "--reader-workers",
        default="32,128",
        help="reader's worker counts to try, comma-separated (each phase takes the best)",
    )
    parser.add_argument(
        "--run-feeds", type=int, default=200, help="feeds for `aggregator run` (0: skip it)"
    )
    parser.add_argument(
        "--content",
        choices=sorted(BODIES),
        default="rich",
        help="item bodies: rich markup (links, images, lists) or one plain paragraph",
    )
    parser.add_argument(
        "--full-text",
        choices=["never", "auto"],
        default="never",
        help="full_text of every source in `aggregator run` (reader fetches no pages)",
    )
    parser.add_argument("--farm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--recent",
        action="store_true",
        help="date the items within the last week, inside the dedupe window (else May 2024)",
    )
    parser.add_argument(
        "--child", choices=["fetcher", "reader", "reader-process"], help=argparse.SUPPRESS
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["cold", "warm"], help=argparse.SUPPRESS)
    parser.add_argument("--urls-file", help=argparse.SUPPRESS)
    parser.add_argument("--total-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.farm:
        if args.recent:
            RECENT["since"] = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        asyncio.run(serve_farm(args.feeds, args.hosts, 16, args.content))
        return
    LIMITS.update(concurrency=args.concurrency, per_host=args.per_host)
    FULL_TEXT["mode"] = args.full_text
    reader_workers = [int(w) for w in str(args.reader_workers).split(",")]
    if args.child == "reader-process":
        urls = json.loads(Path(args.urls_file).read_text())
        reader_process(urls, reader_workers[0], args.db, args.phase)
        return
    if args.child:
        LIMITS["reader_workers"] = reader_workers[0]
        child_main(args.child, args.urls_file, args.total_timeout)
        return

    farm_process = subprocess.Popen(
        [sys.executable, __file__, "--farm", "--feeds", str(args.feeds),
         "--hosts", str(args.hosts), "--content", args.content,
         *(["--recent"] if args.recent else [])],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-fetch-"))
    try:
        assert farm_process.stdout is not None
        farm = json.loads(farm_process.stdout.readline())
        urls_file = tmp / "urls.json"
        urls_file.write_text(json.dumps(farm["urls"]))
        print(f"farm: {len(farm['urls'])} feeds on {args.hosts} addresses", file=sys.stderr)
        results = {"fetcher": measure_inprocess("fetcher", urls_file, args.runs)}
        results["reader"] = measure_reader(urls_file, args.runs, reader_workers)
        print(f"\n{len(farm['urls'])} feeds, fetch only (ours) vs reader (fetch+parse+store):")
        report(results)
        if args.run_feeds:
            # The whole pipeline is much slower than fetching, so it runs on fewer feeds,
            # next to reader on the very same feeds.
            subset = farm["urls"][: args.run_feeds]
            subset_file = tmp / "subset.json"
            subset_file.write_text(json.dumps(subset))
            best = measure_reader(subset_file, args.runs, reader_workers)
            pipeline = {
                "run": measure_run(subset, args.runs),
                # reader's update_feeds alone leaves out its start-up, which our figures
                # include; as a whole process it is measured the way `aggregator run` is.
                "reader": best,
                "reader-process": measure_reader_process(subset_file, args.runs, best),
            }
            print(
                f"\n{len(subset)} feeds, `aggregator run --all` (full_text = "
                f'"{args.full_text}") vs reader:'
            )
            report(pipeline)
        stall_scenario(farm, urls_file)
    finally:
        farm_process.kill()  # the farm process we started
        farm_process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
