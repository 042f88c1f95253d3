"""End to end: `aggregator serve` as a subprocess, fed by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock
from test_cli_remote import rss
from test_cli_run import CORPUS, SHIPPED_SEEDS

from atomcheck import validate_atom
from feedserver import FeedServer, Reply, Request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def write_config(workdir: Path, urls: dict[str, str]) -> None:
    lines = [
        'seeds = "seeds"',
        "lock_timeout = 1",
        "[fetch]",
        'allow = ["127.0.0.0/8"]',
        "timeout = 5",
        "min_interval_minutes = 0.01",
    ]
    for name, url in urls.items():
        lines += ["[[sources]]", f'url = "{url}"', f'name = "{name}"', "interval_minutes = 0.02"]
    (workdir / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Upstream:
    """A feed whose content the test changes while the daemon polls it."""

    def __init__(self, host: str, title: str) -> None:
        self.body = rss(host, title, count=2, ttl=None)

    def __call__(self, request: Request) -> Reply:
        return Reply(body=self.body, headers={"Content-Type": "application/rss+xml"})


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def daemon(
    tmp_path: Path, server: FeedServer
) -> Iterator[tuple[subprocess.Popen[str], str, Upstream]]:
    (tmp_path / "seeds").mkdir()
    upstream = Upstream("org.example", "Org")
    server.route("/org", upstream)
    write_config(tmp_path, {"org": server.url("/org")})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "--log-level",
            "info",
            "serve",
            "--port",
            str(port),
            "--tick",
            "0.3",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        yield process, base, upstream
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def served(base: str) -> str:
    try:
        response = httpx.get(base + "/index.atom", timeout=2)
    except httpx.HTTPError:
        return ""
    return response.text if response.status_code == 200 else ""


def test_daemon_follows_upstream_and_seeds_and_stops_cleanly(
    daemon: tuple[subprocess.Popen[str], str, Upstream], tmp_path: Path
) -> None:
    process, base, upstream = daemon
    wait_for(lambda: "Story 1 from Org" in served(base), what="the first publish")
    assert httpx.get(base + "/healthz", timeout=2).text == "ok"

    upstream.body = rss("org.example", "Org", count=3, ttl=None)
    wait_for(lambda: "Story 2 from Org" in served(base), what="the upstream change")

    (tmp_path / "seeds" / "new.txt").write_text(
        "Harbour Board Approves Dredging Plan\n\nHarbour Board\n\n"
        "The Harbour Board approved a plan to dredge the western channel before winter.\n",
        encoding="utf-8",
    )
    wait_for(
        lambda: "Harbour Board Approves Dredging Plan" in served(base), what="the new seed file"
    )

    status = httpx.get(base + "/status", timeout=2).json()
    assert {row["id"] for row in status["sources"]} >= {"org", "seeds"}
    assert "aggregator_cycles_total" in httpx.get(base + "/metrics", timeout=2).text

    # A cron run next to the daemon either waits for the lock or says why it gave up.
    cron = subprocess.run(
        [sys.executable, "-m", "aggregator", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cron.returncode == 0 or "another aggregator process" in cron.stderr, cron.stderr

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    out, err = process.communicate(timeout=10)
    # One line says where to point a feed reader; at info (the systemd unit's level) the
    # scheduler's two lines per tick (here every 0.3 s) stay out of the log.
    assert out.splitlines()[0].startswith(f"Serving {base}/ from ")
    assert "1 remote source and the seeds folder" in out
    # (A warning of APScheduler's, such as a tick missed on a loaded machine, may show.)
    assert "Running job" not in err and "executed successfully" not in err
    assert "published" in err  # our own info lines still come through
    feed = (tmp_path / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    with sqlite3.connect(tmp_path / "data" / "aggregator.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sighup_reloads_sources(
    daemon: tuple[subprocess.Popen[str], str, Upstream], tmp_path: Path, server: FeedServer
) -> None:
    process, base, _ = daemon
    wait_for(lambda: "Story 1 from Org" in served(base), what="the first publish")
    server.route("/second", Reply(body=rss("second.example", "Second", count=1, ttl=None)))
    write_config(tmp_path, {"org": server.url("/org"), "second": server.url("/second")})
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: bool(server.hits("/second")), what="the source added by SIGHUP")
    wait_for(
        lambda: (
            "second" in {r["id"] for r in httpx.get(base + "/status", timeout=2).json()["sources"]}
        ),
        what="the new source in /status",
    )
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_run_gives_up_with_a_message_when_the_lock_is_held(tmp_path: Path) -> None:
    shutil_seeds = Path(__file__).resolve().parent.parent / "seeds"
    (tmp_path / "seeds").mkdir()
    for seed in shutil_seeds.glob("*.txt"):
        (tmp_path / "seeds" / seed.name).write_bytes(seed.read_bytes())
    (tmp_path / "aggregator.toml").write_text("lock_timeout = 0.5\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    with FileLock(str(tmp_path / "data" / "aggregator.sqlite.lock")):
        result = subprocess.run(
            [sys.executable, "-m", "aggregator", "run"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "another aggregator process is writing" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared dev corpus not present")
def test_kill_9_at_any_moment_leaves_the_published_feed_intact(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    for seed in SHIPPED_SEEDS.glob("*.txt"):
        (tmp_path / "seeds" / seed.name).write_bytes(seed.read_bytes())
    (tmp_path / "aggregator.toml").write_text("[feed]\nentries = 1000\n", encoding="utf-8")
    run = [sys.executable, "-m", "aggregator", "run"]
    subprocess.run(run, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    feed = tmp_path / "feeds" / "index.atom"
    for delay in (0.4, 0.9, 1.5, 2.2, 3.0):
        # A big run over the corpus, killed part-way: storing or publishing.
        process = subprocess.Popen(
            [*run, "--seeds", str(CORPUS / "seeds")],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert validate_atom(feed.read_bytes()) == []
        with sqlite3.connect(tmp_path / "data" / "aggregator.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = subprocess.run(
        [*run, "--seeds", str(CORPUS / "seeds")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert validate_atom(feed.read_bytes()) == []
    # 300 corpus stories, and the shipped seed that stays published after leaving its source
    assert feed.read_bytes().count(b"<entry>") == 301


def test_sigterm_during_a_slow_fetch_exits_0_within_10_s(
    daemon: tuple[subprocess.Popen[str], str, Upstream], server: FeedServer, tmp_path: Path
) -> None:
    process, base, _ = daemon
    wait_for(lambda: "Story 1 from Org" in served(base), what="the first publish")
    before = (tmp_path / "feeds" / "index.atom").read_bytes()
    # The next poll of the source hangs for 4 s: stop the daemon in the middle of it.
    hits = len(server.hits("/org"))
    server.route("/org", Reply(body=rss("org.example", "Org", count=3, ttl=None), delay=4.0))
    wait_for(lambda: len(server.hits("/org")) > hits, what="the slow poll to start")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    after = (tmp_path / "feeds" / "index.atom").read_bytes()
    assert validate_atom(after) == []
    assert after == before or b"Story 2 from Org" in after


@pytest.mark.parametrize("schedule", [(), ("--no-schedule",)])
def test_serve_on_a_busy_port_exits_1_with_a_message(
    tmp_path: Path, schedule: tuple[str, ...]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "aggregator", "serve", *schedule, "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    # The message alone: no cancelled first cycle's traceback, no uvicorn line before it.
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use: "
        "is another server using that port? (--port chooses another)"
    ]
    assert result.stdout == ""


def test_scheduler_lines_come_back_at_debug_given_after_the_command(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "schedule", "--tick", "0.2", "--log-level", "debug"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (tmp_path / "feeds" / "index.atom").is_file(), what="a first cycle")
        time.sleep(1.0)  # a few more ticks
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out.startswith("Publishing to feeds: 0 remote sources and the seeds folder seeds")
    assert "apscheduler" in err and "DEBUG" in err
    assert "WARNING aggregator.runtime.daemon: [feed] base_url is not set" in err  # a log line


def test_a_cycle_that_hits_a_bug_is_reported_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (no such bug is known): the daemon keeps its schedule, and
    /status says what went wrong."""
    from aggregator.config import Settings
    from aggregator.runtime import daemon as daemon_module

    shutil.copytree(SHIPPED_SEEDS, tmp_path / "seeds")
    settings = Settings(seeds=tmp_path / "seeds", out=tmp_path / "feeds", db=str(tmp_path / "db"))
    real = daemon_module.run_once
    calls: list[str] = []

    def buggy_once(*args: Any, **kwargs: Any) -> Any:
        calls.append("run")
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(daemon_module, "run_once", buggy_once)
    daemon = daemon_module.Daemon(lambda: settings)
    try:
        daemon.cycle()
        state = daemon.status()["daemon"]
        assert isinstance(state, dict)
        assert state["last_error"] == "unexpected error: RuntimeError: a bug"
        daemon.cycle()
    finally:
        daemon.close()
    assert calls == ["run", "run"]
    assert validate_atom((tmp_path / "feeds" / "index.atom").read_bytes()) == []


def test_a_tick_skipped_during_a_long_cycle_is_not_a_warning() -> None:
    from aggregator.runtime import log

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    skipped = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'
    scheduler = logging.getLogger("apscheduler.scheduler")
    collect = Collect()
    scheduler.addHandler(collect)
    try:
        for level, shown in (("info", False), ("debug", True)):
            log.configure(level)
            collect.messages.clear()
            scheduler.warning(skipped, "tick", 1)
            scheduler.error("a job raised")  # real trouble still shows
            assert any("skipped" in m for m in collect.messages) is shown
            assert "a job raised" in collect.messages
    finally:
        scheduler.removeHandler(collect)
        log.configure("warning")


def test_a_refused_source_is_fetched_after_sighup_adds_it_to_allow(
    tmp_path: Path, server: FeedServer
) -> None:
    """The backoff of a refused source (an hour here) is cleared by the config change."""
    (tmp_path / "seeds").mkdir()
    server.route("/org", Upstream("org.example", "Org"))
    config = tmp_path / "aggregator.toml"
    source = f'[[sources]]\nurl = "{server.url("/org")}"\nname = "org"\ninterval_minutes = 60\n'
    config.write_text(f"[fetch]\nallow = []\ntimeout = 5\n{source}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "schedule", "--tick", "0.3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (tmp_path / "feeds" / "index.atom").is_file(), what="a first cycle")
        time.sleep(1.0)  # a few more ticks: the refused source is not due again
        assert server.hits("/org") == []
        config.write_text(
            f'[fetch]\nallow = ["127.0.0.0/8"]\ntimeout = 5\n{source}', encoding="utf-8"
        )
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: bool(server.hits("/org")), what="the source allowed by SIGHUP")
        wait_for(
            lambda: b"Story 1 from Org" in (tmp_path / "feeds" / "index.atom").read_bytes(),
            what="its items published",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert 'add "127.0.0.1" to [fetch] allow' in err
