"""Idle cost of the daemon: N sources that all answer 304, for a while.

    python bench/daemon_idle.py [--sources 100] [--duration 300] [--tick 0.3] [--interval 30]

Starts a loopback farm (its own process) serving N small RSS feeds with ETags, then
`aggregator serve` (a subprocess) with N `[[sources]]` polled every `--interval` seconds
and a scheduler tick of `--tick` seconds. After the first (cold) fetch of every source it
samples the daemon's CPU time and resident memory from /proc for `--duration` seconds,
then prints: average CPU use (percent of one core), fetches answered 304, scheduler cycles,
and the memory at the start, the end and its peak (flat memory: end ≈ start).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Process
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>
<link>https://feed{n}.example/</link><description>d</description>
<item><title>Release {n}</title><link>https://feed{n}.example/r/{n}</link>
<guid>https://feed{n}.example/r/{n}</guid><pubDate>Mon, 16 Nov 2026 10:00:00 GMT</pubDate>
<description>Organisation {n} announced programme {n} for the region, with partners.</description>
</item></channel></rss>"""


class FarmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        n = self.path.strip("/").removeprefix("feed")
        etag = f'"feed-{n}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = FEED.format(n=n).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_farm(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), FarmHandler).serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def status(base: str) -> dict[str, object]:
    with urllib.request.urlopen(base + "/status", timeout=5) as response:
        return dict(json.loads(response.read()))


def write_config(work: Path, farm_port: int, sources: int, interval: float) -> None:
    lines = [
        "[fetch]",
        'allow = ["127.0.0.0/8"]',
        f"min_interval_minutes = {interval / 60 / 2}",
    ]
    for n in range(sources):
        lines += [
            "[[sources]]",
            f'url = "http://127.0.0.1:{farm_port}/feed{n}"',
            f'name = "feed {n}"',
            f"interval_minutes = {interval / 60}",
        ]
    (work / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "seeds").mkdir()


def wait_until(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("timed out waiting for the daemon")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--tick", type=float, default=0.3)
    parser.add_argument(
        "--interval", type=float, default=30.0, help="seconds between polls of a source"
    )
    args = parser.parse_args()

    farm_port, port = free_port(), free_port()
    farm = Process(target=serve_farm, args=(farm_port,), daemon=True)
    farm.start()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_config(work, farm_port, args.sources, args.interval)
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aggregator",
                "serve",
                "--port",
                str(port),
                "--tick",
                str(args.tick),
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def all_fetched() -> bool:
                rows = status(base).get("sources", [])
                return len(rows) == args.sources and all(r["last_fetch"] for r in rows)  # type: ignore[index,union-attr]

            wait_until(all_fetched, 120)
            time.sleep(2)
            cpu0, wall0 = cpu_seconds(daemon.pid), time.monotonic()
            cycles0 = metric(base, "aggregator_cycles_total")
            rss_start = rss_peak = rss_mib(daemon.pid)
            samples = []
            while time.monotonic() - wall0 < args.duration:
                time.sleep(min(5.0, args.duration))
                rss = rss_mib(daemon.pid)
                rss_peak = max(rss_peak, rss)
                samples.append(rss)
            cpu = cpu_seconds(daemon.pid) - cpu0
            wall = time.monotonic() - wall0
            cycles = metric(base, "aggregator_cycles_total") - cycles0
            rows = status(base)["sources"]
            statuses = [r["status"] for r in rows]  # type: ignore[union-attr,index]
        finally:
            daemon.terminate()
            daemon.wait(timeout=15)
            farm.terminate()
    print(
        f"daemon idle over {wall:.0f} s with {args.sources} sources "
        f"polled every {args.interval:g} s:"
    )
    print(f"  CPU: {100 * cpu / wall:.2f} % of one core on average ({cpu:.2f} s of CPU)")
    print(f"  scheduler cycles: {cycles:.0f}  (tick {args.tick:g} s)")
    print(f"  last status of each source: {sorted(set(statuses))}")
    print(
        f"  memory (RSS): start {rss_start:.1f} MiB, end {samples[-1]:.1f} MiB, "
        f"peak {rss_peak:.1f} MiB"
    )
    # Flat means the growth stops: the second half should add (almost) nothing.
    step = max(1, len(samples) // 8)
    print("  memory over time (MiB):", " ".join(f"{m:.1f}" for m in samples[::step]))


if __name__ == "__main__":
    main()
