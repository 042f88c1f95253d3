"""Load test of `aggregator.serve`: conditional and full GETs of a 100-entry index.atom.

    python bench/serve_load.py [--runs 3] [--duration 5] [--connections 16] [--database]

Writes a realistic ~150 KB Atom document into a temporary output folder, starts the
server (`python -m aggregator.serve`, uvicorn, one process) on a free loopback port and
loads it with `wrk` when installed (it tries `apt-get install -y wrk` once when running
as root), otherwise with a keep-alive asyncio load generator in a separate process.

Scenarios: conditional GET with If-None-Match (→ 304), full GET (identity, 200) and full
GET with Accept-Encoding: gzip. Prints, per scenario, the median over the runs of
requests/s and of p99 latency, and the server's peak RSS (VmHWM) at the end. With
`--database`, the same document is also kept in a SQLite store (`[output]
store_documents`) and served by `aggregator serve --from-database`, and the ratio of its
requests/s to the folder server's is printed per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
GOALS = {"conditional (304)": (2000.0, 50.0), "full identity (200)": (500.0, 50.0)}


# -- the document ----------------------------------------------------------------------


def atom_document(entries: int = 100) -> bytes:
    """An Atom feed shaped like the publisher's: attributed entries with HTML content."""
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def sub(
        parent: etree._Element, tag: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        element = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        element.text = text
        return element

    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    sub(feed, "id", "urn:aggregator:index")
    sub(feed, "title", "All sources")
    sub(feed, "updated", start.isoformat())
    sub(feed, "link", href="http://127.0.0.1/index.atom", rel="self")
    # Seeded varied prose: one repeated paragraph would gzip 40:1, this gzips ~8:1.
    rng = random.Random(2026)
    words = [
        "council",
        "harbour",
        "upgrade",
        "review",
        "environmental",
        "assessment",
        "work",
        "spring",
        "months",
        "minister",
        "funding",
        "research",
        "university",
        "students",
        "hospital",
        "patients",
        "water",
        "energy",
        "transport",
        "community",
        "program",
        "announced",
        "today",
        "report",
        "survey",
        "results",
        "regional",
        "national",
        "public",
        "health",
        "safety",
        "school",
        "teachers",
        "data",
        "climate",
        "river",
        "bridge",
        "road",
    ]

    def paragraph() -> str:
        sentences = (
            " ".join(rng.choice(words) for _ in range(rng.randint(12, 24))).capitalize() + "."
            for _ in range(3)
        )
        return "<p>" + " ".join(sentences) + "</p>"

    for i in range(entries):
        updated = (start - timedelta(hours=i)).isoformat()
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:aggregator:item:{i:08x}")
        sub(entry, "title", f"Harbour upgrade approved after review, part {i}")
        sub(entry, "updated", updated)
        sub(entry, "published", updated)
        sub(entry, "link", href=f"https://news.example/releases/{i}", rel="alternate")
        author = sub(entry, "author")
        sub(author, "name", "Regional Council Communications")
        sub(entry, "summary", "The harbour upgrade will go ahead after an environmental review.")
        sub(entry, "content", "".join(paragraph() for _ in range(2)), type="html")
        source = sub(entry, "source")
        sub(source, "id", f"urn:source:{i % 7}")
        sub(source, "title", f"Source number {i % 7}")
        sub(source, "updated", updated)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


# -- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(out_dir: Path, port: int, db: Path | None = None) -> subprocess.Popen[bytes]:
    """The folder server, or with `db` `aggregator serve --from-database` on it."""
    command = [sys.executable, "-m", "aggregator.serve", str(out_dir), "--port", str(port)]
    if db is not None:
        command = [sys.executable, "-m", "aggregator", "serve", "--from-database"]
        command += ["--db", str(db), "--port", str(port)]
    process = subprocess.Popen(command, cwd=out_dir.parent)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            status, _, _ = http_get(port, "/healthz", {})
            if status == 200:
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("server did not start")


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One blocking HTTP/1.1 GET with Connection: close; small and dependency-free."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), parsed, body


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# -- load generators -------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return shutil.which("wrk")


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, headers: dict[str, str], args: argparse.Namespace) -> Run:
    command = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        print(f"    wrk: socket errors {socket_errors.group(1)}")
    return Run(
        rps=rps,
        p99_ms=float(p99.group(1)) * _WRK_UNITS[p99.group(2)] if p99 else float("nan"),
        errors=int(errors.group(1)) if errors else 0,
    )


def run_python_client(
    port: int, path: str, headers: dict[str, str], args: argparse.Namespace
) -> Run:
    command = [
        sys.executable,
        __file__,
        "--client",
        json.dumps({"port": port, "path": path, "headers": headers}),
        "--duration",
        str(args.duration),
        "--connections",
        str(args.connections),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(output)
    return Run(rps=result["rps"], p99_ms=result["p99_ms"], errors=result["errors"])


async def _client_connection(
    port: int, request: bytes, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.perf_counter() < until:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if head[9:10] not in (b"2", b"3"):
            errors.append(1)
    writer.close()


def client_main(spec: str, args: argparse.Namespace) -> None:
    """Fallback load generator: keep-alive connections in one asyncio loop."""
    params = json.loads(spec)
    lines = [f"GET {params['path']} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in params["headers"].items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[int] = []

    async def load() -> None:
        until = time.perf_counter() + args.duration
        await asyncio.gather(
            *(
                _client_connection(params["port"], request, until, latencies, errors)
                for _ in range(args.connections)
            )
        )

    started = time.perf_counter()
    asyncio.run(load())
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    print(json.dumps({"rps": len(latencies) / elapsed, "p99_ms": p99, "errors": len(errors)}))


# -- the benchmark ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--python-client", action="store_true", help="skip wrk")
    parser.add_argument(
        "--database",
        action="store_true",
        help="also serve the same document from the database (serve --from-database)",
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args)
        return

    wrk = None if args.python_client else ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp, "feeds")
        out_dir.mkdir()
        document = atom_document()
        (out_dir / "index.atom").write_bytes(document)
        db = None
        if args.database:
            db = Path(tmp, "documents.sqlite")
            store_documents(out_dir, db)
        folder = measure(out_dir, None, document, wrk, args)
        if db is not None:
            print("the same from the database (aggregator serve --from-database, SQLite):")
            database = measure(out_dir, db, document, wrk, args)
            for name, rps in database.items():
                print(f"{name:22} database / folder: x{rps / folder[name]:.2f}")


def store_documents(out_dir: Path, db: Path) -> None:
    from aggregator.publish.documents import sync_documents
    from aggregator.store import open_store

    store = open_store(str(db))
    try:
        sync_documents(store, out_dir)
    finally:
        store.close()


def measure(
    out_dir: Path, db: Path | None, document: bytes, wrk: str | None, args: argparse.Namespace
) -> dict[str, float]:
    """Median requests/s per scenario against one server."""
    port = free_port()
    server = start_server(out_dir, port, db)
    medians = {}
    try:
        _, headers, _ = http_get(port, "/index.atom", {"Accept-Encoding": "identity"})
        _, gz_headers, gz_body = http_get(port, "/index.atom", {"Accept-Encoding": "gzip"})
        scenarios = {
            "conditional (304)": {
                "If-None-Match": headers["etag"],
                "Accept-Encoding": "identity",
            },
            "full identity (200)": {"Accept-Encoding": "identity"},
            "full gzip (200)": {"Accept-Encoding": "gzip"},
        }
        print(
            f"index.atom: {len(document)} bytes, gzip {len(gz_body)} bytes; "
            f"load generator: {'wrk -t1' if wrk else 'python asyncio'}, "
            f"{args.connections} connections, {args.runs} x {args.duration}s; "
            f"{os.cpu_count()} CPUs"
        )
        for name, request_headers in scenarios.items():
            runs = []
            for _ in range(args.runs):
                if wrk:
                    run = run_wrk(wrk, f"http://127.0.0.1:{port}/index.atom", request_headers, args)
                else:
                    run = run_python_client(port, "/index.atom", request_headers, args)
                runs.append(run)
            report(name, runs)
            medians[name] = statistics.median(run.rps for run in runs)
        print(f"server peak RSS: {peak_rss_kib(server.pid) / 1024:.1f} MiB")
        assert gz_headers["content-encoding"] == "gzip"
    finally:
        server.terminate()
        server.wait(timeout=10)
    return medians


def report(name: str, runs: list[Run]) -> None:
    rps = statistics.median(run.rps for run in runs)
    p99 = statistics.median(run.p99_ms for run in runs)
    errors = sum(run.errors for run in runs)
    verdict = ""
    if name in GOALS:
        goal_rps, goal_p99 = GOALS[name]
        met = rps >= goal_rps and p99 < goal_p99
        verdict = f"  goal ≥{goal_rps:.0f}/s, p99 <{goal_p99:.0f} ms: {'met' if met else 'NOT MET'}"
    per_run = ", ".join(f"{run.rps:.0f}" for run in runs)
    print(
        f"{name:22} median {rps:8.0f} req/s  p99 {p99:6.2f} ms  errors {errors}"
        f"  (runs: {per_run}){verdict}"
    )


if __name__ == "__main__":
    main()
