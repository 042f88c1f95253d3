"""`aggregator worker` end to end: real worker processes, a loopback farm of feeds that
counts the requests each feed gets, and a real database (SQLite on one machine; the
real PostgreSQL for several workers, skipped with the reason when none is given)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from aggregator.store import now_utc, open_store

from feedserver import FeedServer, Reply, Request

PUBLISHED = "Mon, 16 Nov 2026 09:00:00 GMT"


def rss(title: str, items: Sequence[tuple[str, str, str]]) -> bytes:
    """A feed of (guid, title, text) items, each with its own link."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{t}</title>"
        f"<link>https://news.example/{guid}</link><description>{text}</description>"
        f"<pubDate>{PUBLISHED}</pubDate></item>"
        for guid, t, text in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{title}</title><link>https://news.example/</link>{body}</channel></rss>"
    ).encode()


def story_text(n: int) -> str:
    """A text long enough for matching to recognise its copies, distinct per `n`."""
    words = " ".join(f"word{n}x{i}" for i in range(60))
    return f"Story {n} reports that the council approved plan {n} on Monday. {words}"


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}


def start_worker(cwd: Path, db: str, *args: str, name: str | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "aggregator", "worker", "--config", "agg.toml", "--db", db]
    if name is not None:
        command += ["--name", name]
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def run_worker(cwd: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "worker", *args],
        cwd=cwd,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Farm:
    """Feeds on a loopback server, each answering 304 to its ETag, counting requests."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.paths: list[str] = []

    def add(self, path: str, body: bytes, *, hold: threading.Barrier | None = None) -> None:
        etag = f'"{len(self.paths)}"'

        def answer(request: Request) -> Reply:
            if request.headers.get("if-none-match") == etag:
                return Reply(status=304, headers={"ETag": etag})
            if hold is not None:
                # Copies of one story: answered together, so workers store them at once.
                with contextlib.suppress(threading.BrokenBarrierError):
                    hold.wait(timeout=5)
            return Reply(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

        self.server.route(path, answer)
        self.paths.append(path)

    def requests(self) -> Counter[str]:
        return Counter(r.path for r in self.server.requests)

    def config(self, cwd: Path, *, interval_minutes: float = 60, timeout: float = 5) -> None:
        lines = [
            "[fetch]",
            'allow = ["127.0.0.1"]',
            f"timeout = {timeout}",
            f"min_interval_minutes = {interval_minutes}",
            "",
        ]
        for path in self.paths:
            lines += [
                "[[sources]]",
                f'url = "{self.server.url(path)}"',
                f'name = "{path.strip("/")}"',
                f"interval_minutes = {interval_minutes}",
                "",
            ]
        (cwd / "agg.toml").write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def farm() -> Iterator[Farm]:
    with FeedServer() as server:
        yield Farm(server)


def exported(cwd: Path, db: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "export", "--db", db, "--config", "agg.toml"],
        cwd=cwd,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# -- one machine, SQLite ---------------------------------------------------------------------


def test_a_worker_on_sqlite_fetches_each_due_feed_once_and_exits_when_idle(
    farm: Farm, tmp_path: Path
) -> None:
    for n in range(5):
        farm.add(f"/f{n}", rss(f"Feed {n}", [(f"g{n}", f"Story {n}", story_text(n))]))
    farm.config(tmp_path)
    db = str(tmp_path / "agg.sqlite")
    first = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle")
    assert first.returncode == 0, first.stderr
    assert farm.requests() == Counter({p: 1 for p in farm.paths})
    assert "5 feeds fetched, 5 items stored" in first.stderr
    again = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--until-idle")
    assert again.returncode == 0, again.stderr
    assert farm.requests() == Counter({p: 1 for p in farm.paths})  # none due again yet
    store = open_store(db)
    try:
        assert store.item_count() == 5
        assert store.lease_holders(now_utc()) == {}  # every lease given back
        assert [w.stopped is not None for w in store.workers()] == [True, True]
    finally:
        store.close()


# -- bad input -------------------------------------------------------------------------------


def test_a_bad_database_url_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_worker(tmp_path, "", "--db", "mysql://u:secret@db.example/agg", "--until-idle")
    assert result.returncode == 2
    assert "mysql://" in result.stderr and "unknown database URL" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_postgresql_exits_2_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://agg:hunter22@127.0.0.1:1/agg?connect_timeout=2"
    result = run_worker(tmp_path, url, "--db", url, "--until-idle")
    assert result.returncode == 2
    assert "cannot open PostgreSQL database" in result.stderr
    assert "hunter22" not in result.stderr and "Traceback" not in result.stderr


def test_a_bad_config_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "agg.toml").write_text("[fetch]\nconcurrency = 'many'\n", encoding="utf-8")
    result = run_worker(tmp_path, "", "--config", "agg.toml", "--until-idle")
    assert result.returncode == 2
    assert "fetch.concurrency" in result.stderr and "agg.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_lease_shorter_than_a_fetch_exits_2_saying_why(tmp_path: Path) -> None:
    (tmp_path / "agg.toml").write_text("[fetch]\ntimeout = 30\n", encoding="utf-8")
    db = str(tmp_path / "agg.sqlite")
    result = run_worker(tmp_path, db, "--config", "agg.toml", "--db", db, "--lease", "10")
    assert result.returncode == 2
    assert "--lease 10" in result.stderr and "[fetch] timeout 30" in result.stderr
    assert not (tmp_path / "agg.sqlite").exists()  # refused before touching anything


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    for args in (["--batch", "0"], ["--concurrency", "-1"], ["--lease", "nan"], ["--name", " "]):
        result = run_worker(tmp_path, "", *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
