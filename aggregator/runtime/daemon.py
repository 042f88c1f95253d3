"""The long-running process: schedule cycles, serve the output folder, obey signals.

    SIGTERM / SIGINT  finish the write in progress, close the store, exit 0 (within 10 s)
    SIGHUP            re-read the config: new and removed sources apply at the next cycle

A cycle runs in a worker thread (the store and the pipeline are blocking code) and does
work only when something is due: a remote source whose next-due time has come, or a
change in the seeds folder. It re-publishes only when the store changed. Killing the
process at any moment is safe: SQLite transactions are atomic, every output file is
replaced atomically, and the writer lock is released by the OS.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, StorageError
from aggregator.ingest.policy import afresh, is_due, reconfigured, recorded_configs
from aggregator.pipeline import RunOptions, run_once
from aggregator.runtime.locking import WriterLock
from aggregator.runtime.status import WorkersMetrics, status_dict
from aggregator.store import Store, now_utc, open_store

log = logging.getLogger(__name__)

# How long a stop waits for a cycle in progress before leaving anyway (the bound is
# 10 s; the rest is for closing the server).
STOP_GRACE_SECONDS = 7.0


def seeds_fingerprint(root: Path) -> str:
    """Changes when a file in the seeds folder is added, removed or modified."""
    digest = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            digest.update(
                f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


@dataclass(slots=True)
class CycleStats:
    cycles: int = 0
    runs: int = 0
    publishes: int = 0
    failures: int = 0
    items_new: int = 0
    items_updated: int = 0
    last_duration: float = 0.0
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def exposition(self) -> str:
        lines = [
            "# TYPE aggregator_cycles_total counter",
            f"aggregator_cycles_total {self.cycles}",
            "# TYPE aggregator_runs_total counter",
            f"aggregator_runs_total {self.runs}",
            "# TYPE aggregator_publishes_total counter",
            f"aggregator_publishes_total {self.publishes}",
            "# TYPE aggregator_source_failures_total counter",
            f"aggregator_source_failures_total {self.failures}",
            "# TYPE aggregator_items_new_total counter",
            f"aggregator_items_new_total {self.items_new}",
            "# TYPE aggregator_items_updated_total counter",
            f"aggregator_items_updated_total {self.items_updated}",
            "# TYPE aggregator_last_cycle_seconds gauge",
            f"aggregator_last_cycle_seconds {self.last_duration:.6f}",
        ]
        return "\n".join(lines) + "\n"


class Daemon:
    """Owns the settings (reloadable), the stop flag and the cycle."""

    def __init__(self, load: Callable[[], Settings], *, tick_seconds: float = 5.0) -> None:
        self._load = load
        self.settings = load()
        self.tick_seconds = tick_seconds
        self.stats = CycleStats()
        self.stopping = threading.Event()
        self._seeds_seen: str | None = None
        self._published_once = False
        self._reload_requested = False
        self._status_cache: Mapping[str, object] = {}
        self._store: Store | None = None
        self._store_for: str | None = None
        # The workers' lines of /metrics (`aggregator worker`), read by the server's thread.
        self.workers_metrics = WorkersMetrics(lambda: self.settings, open_store)

    # -- cycle (worker thread) ------------------------------------------------------

    def _due_work(self, store: Store) -> tuple[bool, str]:
        now = now_utc()
        fingerprint = seeds_fingerprint(self.settings.seeds)
        seeds_changed = fingerprint != self._seeds_seen
        states = {s.id: s for s in store.sources()}
        # A source the operator reconfigured (SIGHUP) starts afresh: see policy.due_sources.
        changed = reconfigured(self.settings, recorded_configs(states.values()))
        due = []
        for source in self.settings.sources:
            state = states.get(source.id)
            if state is None:
                if source.enabled:
                    due.append(source.id)
                continue
            if source.id in changed and afresh(state, source) is not state:
                due.append(source.id)
                continue
            spec_enabled = source.enabled and state.disabled_reason is None
            if spec_enabled and is_due(
                state, now=now, min_interval=self.settings.fetch.min_interval, force=False
            ):
                due.append(source.id)
        return bool(seeds_changed or due or not self._published_once), fingerprint

    def _open_store(self) -> Store:
        # One connection for the daemon's life (reopened when a reload changes the
        # database): opening and migrating on every tick would be most of an idle tick.
        if self._store is None or self._store_for != self.settings.db:
            if self._store is not None:
                self._store.close()
            self._store = open_store(self.settings.db)
            self._store_for = self.settings.db
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.workers_metrics.close()

    def metrics(self) -> str:
        """The extra lines of `/metrics`: this daemon's cycles, then the workers'."""
        return self.stats.exposition() + self.workers_metrics.exposition()

    def cycle(self) -> None:
        """One tick: do what is due, publish when something changed.

        The due check reads the store without the writer lock, so an idle tick costs a
        folder scan and one query; the lock is taken only when there is work.
        """
        if self.stopping.is_set():
            return
        self.stats.cycles += 1
        if self._reload_requested:
            self._reload()
        started = time.monotonic()
        try:
            store = self._open_store()
            needed, fingerprint = self._due_work(store)
            if not needed or self.stopping.is_set():
                return
            with WriterLock(self.settings, timeout=1.0):
                options = RunOptions(publish_unchanged=not self._published_once)
                report = run_once(
                    self.settings,
                    store,
                    now=now_utc(),
                    options=options,
                    should_stop=self.stopping.is_set,
                )
            self._seeds_seen = fingerprint
            self._published_once = self._published_once or report.published is not None
            self.stats.runs += 1
            self.stats.publishes += int(report.published is not None)
            self.stats.failures += len(report.failures)
            self.stats.items_new += report.counts["new"]
            self.stats.items_updated += report.counts["updated"]
            self._status_cache = status_dict(self.settings, store)
        except StorageError as exc:
            # Most often a cron `aggregator run` holding the lock: try again next tick.
            self.stats.last_error = str(exc)
            log.warning("cycle skipped: %s", exc)
        except AggregatorError as exc:
            self.stats.last_error = str(exc)
            log.error("cycle failed: %s", exc)
        except Exception as exc:
            # A bug must not stop the background service: /status shows it, the log has
            # the traceback, and the next tick tries again.
            self.stats.last_error = f"unexpected error: {type(exc).__name__}: {exc}"
            log.exception("cycle failed unexpectedly")
        finally:
            self.stats.last_duration = time.monotonic() - started

    def request_reload(self) -> None:
        self._reload_requested = True

    def _reload(self) -> None:
        self._reload_requested = False
        try:
            self.settings = self._load()
        except AggregatorError as exc:
            log.error("config reload refused, keeping the running config: %s", exc)
            return
        log.warning("config reloaded: %d remote sources", len(self.settings.sources))

    def status(self) -> Mapping[str, object]:
        data = dict(self._status_cache)
        data["daemon"] = {
            "cycles": self.stats.cycles,
            "runs": self.stats.runs,
            "publishes": self.stats.publishes,
            "last_cycle_seconds": round(self.stats.last_duration, 6),
            "last_error": self.stats.last_error,
        }
        return data

    # -- the event loop side --------------------------------------------------------

    async def run(self, *, schedule: bool, listen: socket.socket | None = None) -> None:
        """Tick on a schedule and serve the output folder on `listen` (already bound, so
        a port in use is found before anything starts), until SIGTERM or SIGINT."""
        from aggregator.runtime.schedule import start_scheduler

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        cycle_lock = asyncio.Lock()
        current: list[asyncio.Future[None]] = []

        async def tick() -> None:
            if cycle_lock.locked() or stop.is_set():
                return
            async with cycle_lock:
                future = asyncio.ensure_future(asyncio.to_thread(self.cycle))
                current[:] = [future]
                await future

        scheduler = start_scheduler(tick, every_seconds=self.tick_seconds) if schedule else None
        server_task = None
        if listen is not None:
            server_task = asyncio.create_task(self._serve(listen, stop))
            server_task.add_done_callback(lambda t: stop.set())
        try:
            await stop.wait()
        finally:
            log.warning("stopping")
            self.stopping.set()
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if current and not current[0].done():
                # Let the write in progress finish; the pipeline checks `stopping`
                # between phases, so this is short.
                await asyncio.wait(current, timeout=STOP_GRACE_SECONDS)
            if server_task is not None:
                await _finish(server_task)
            if not current or current[0].done():
                self.close()

    async def _serve(self, listen: socket.socket, stop: asyncio.Event) -> None:
        from aggregator.serve import create_app, serve_forever

        app = create_app(self.settings.out, status=self.status, metrics=self.metrics)
        host, port = listen.getsockname()[:2]
        await serve_forever(
            app, host=host, port=port, stop=stop, sockets=[listen], log_level="warning"
        )


async def _finish(task: asyncio.Task[None]) -> None:
    """Let the server close its connections; an OSError (the port could not be bound)
    propagates so the command exits with a message."""
    try:
        await asyncio.wait_for(task, timeout=2.0)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()


__all__ = ["CycleStats", "Daemon", "seeds_fingerprint"]
