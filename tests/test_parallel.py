"""Cleaning in worker processes gives exactly what cleaning in-process gives."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.runtime import parallel
from aggregator.store import open_store

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev" / "seeds"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def pid_of(_: int) -> int:
    return os.getpid()


def test_parallel_map_uses_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    pids = parallel.parallel_map(pid_of, list(range(8)), weight=10, min_weight=1)
    assert os.getpid() not in pids
    assert parallel.parallel_map(pid_of, [1, 2], weight=1, min_weight=10) == [os.getpid()] * 2


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared dev corpus not present")
def test_parallel_run_publishes_the_same_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    outputs = []
    for name, threshold in (("serial", 10**9), ("parallel", 1)):
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ENTRIES", threshold)
        work = tmp_path / name
        shutil.copytree(CORPUS, work / "seeds")
        settings = Settings(seeds=work / "seeds", out=work / "feeds", db=str(work / "db.sqlite"))
        store = open_store(settings.db)
        report = pipeline.run_once(settings, store, now=NOW)
        store.close()
        assert report.entries > 200
        outputs.append((work / "feeds" / "index.atom").read_bytes())
    assert outputs[0] == outputs[1]
