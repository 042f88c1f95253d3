"""What the operator sees: per-source state and the last publish, and the workers
sharing the sources (issue 17), as plain data.

Used by `aggregator status`, `aggregator sources list` and the daemon's `/status` and
`/metrics`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregator.config import Settings
from aggregator.exceptions import StorageError
from aggregator.store import SourceState, Store, now_utc


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRow:
    """A source's stored state as the operator sees it: whether it will be fetched
    (config and store together) and how many items it holds. A view over one
    `SourceState`, not a copy of its fields."""

    state: SourceState
    enabled: bool
    items: int

    @property
    def last_error(self) -> str | None:
        # Why it was disabled (a 410, say) says more than the error before it.
        return self.state.disabled_reason or self.state.last_error

    def as_dict(self) -> dict[str, Any]:
        state = self.state
        return {
            "id": state.id,
            "url": state.url,
            "kind": state.kind,
            "enabled": self.enabled,
            "tags": list(state.tags),
            "last_fetch": _iso(state.last_fetch_at),
            "status": state.last_status,
            "failures": state.error_count,
            "last_error": self.last_error,
            "next_due": _iso(state.next_check_at),
            "new": state.last_new,
            "updated": state.last_updated,
            "items": self.items,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def source_rows(settings: Settings, store: Store) -> list[SourceRow]:
    """Configured sources (fetched or not yet) plus every source the store knows."""
    states = {s.id: s for s in store.sources()}
    counts = store.item_counts()
    rows: list[SourceRow] = []
    configured = set()
    for source in settings.sources:
        configured.add(source.id)
        state = states.get(source.id) or SourceState(
            id=source.id, url=source.url, kind="remote", enabled=source.enabled, tags=source.tags
        )
        enabled = source.enabled and state.disabled_reason is None
        rows.append(SourceRow(state=state, enabled=enabled, items=counts.get(source.id, 0)))
    for state in states.values():
        if state.id not in configured and state.kind != "remote":
            rows.append(
                SourceRow(state=state, enabled=state.enabled, items=counts.get(state.id, 0))
            )
    return rows


def status_dict(settings: Settings, store: Store) -> dict[str, Any]:
    return {
        "sources": [r.as_dict() for r in source_rows(settings, store)],
        "items": store.item_count(),
        "last_publish": store.get_meta("last_publish"),
        "output": str(settings.out),
        **workers_dict(settings, store, now=now_utc()),
    }


def workers_dict(settings: Settings, store: Store, *, now: datetime) -> dict[str, Any]:
    """The workers (`aggregator worker`) and how far behind they are: each worker's
    heartbeat and leases, the leases held, the due sources nobody holds (the lag), and
    the items stored per second by the live workers (each since it started)."""
    holders = store.lease_holders(now)
    lag = store.lag(now, min_interval=settings.fetch.min_interval)
    workers = []
    rate = 0.0
    for w in store.workers():
        alive = w.alive(now)
        if alive:
            rate += w.items_done / max((w.last_beat - w.started).total_seconds(), 1.0)
        workers.append(
            {
                "name": w.name,
                "host": w.host,
                "pid": w.pid,
                "state": "alive" if alive else ("stopped" if w.stopped else "dead"),
                "started": _iso(w.started),
                "last_beat": _iso(w.last_beat),
                "beat_age_seconds": round((now - w.last_beat).total_seconds(), 3),
                "leases": holders.get(w.id, 0),
                "feeds": w.feeds_done,
                "items": w.items_done,
            }
        )
    return {
        "workers": workers,
        "leases": lag.leased,
        "lag": {
            "due": lag.due,
            "never_fetched": lag.never_fetched,
            "oldest_due": _iso(lag.oldest_due),
            "seconds": round((now - lag.oldest_due).total_seconds(), 3) if lag.oldest_due else 0.0,
        },
        "items_per_second": round(rate, 3),
    }


def workers_exposition(data: dict[str, Any]) -> str:
    """`workers_dict` as Prometheus gauges, for `/metrics`."""
    states = {"alive": 0, "stopped": 0, "dead": 0}
    per_worker = []
    for w in data["workers"]:
        states[w["state"]] += 1
        if w["state"] == "alive":
            label = f'name="{_label(w["name"])}",host="{_label(w["host"])}",pid="{w["pid"]}"'
            per_worker += [
                f"aggregator_worker_beat_age_seconds{{{label}}} {w['beat_age_seconds']}",
                f"aggregator_worker_leases{{{label}}} {w['leases']}",
                f"aggregator_worker_feeds{{{label}}} {w['feeds']}",
                f"aggregator_worker_items{{{label}}} {w['items']}",
            ]
    lines = ["# HELP aggregator_workers Worker processes by state (dead: no beat for a lease).",
             "# TYPE aggregator_workers gauge"]  # fmt: skip
    lines += [f'aggregator_workers{{state="{k}"}} {v}' for k, v in states.items()]
    lines += [
        "# HELP aggregator_worker_beat_age_seconds Seconds since a live worker's heartbeat.",
        "# TYPE aggregator_worker_beat_age_seconds gauge",
        "# TYPE aggregator_worker_leases gauge",
        "# TYPE aggregator_worker_feeds gauge",
        "# TYPE aggregator_worker_items gauge",
        *per_worker,
        "# HELP aggregator_leases Sources leased to a worker now.",
        "# TYPE aggregator_leases gauge",
        f"aggregator_leases {data['leases']}",
        "# HELP aggregator_due_sources Due sources no worker holds yet (the lag).",
        "# TYPE aggregator_due_sources gauge",
        f"aggregator_due_sources {data['lag']['due']}",
        "# HELP aggregator_lag_seconds How long the longest-waiting due source has waited.",
        "# TYPE aggregator_lag_seconds gauge",
        f"aggregator_lag_seconds {data['lag']['seconds']}",
        "# HELP aggregator_items_per_second Items stored per second by the live workers.",
        "# TYPE aggregator_items_per_second gauge",
        f"aggregator_items_per_second {data['items_per_second']}",
    ]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class WorkersMetrics:
    """`/metrics` lines about the workers, read through a connection of their own (the
    server's thread must not share the cycle's), at most once per `ttl` seconds."""

    def __init__(
        self, settings: Callable[[], Settings], open_store: Callable[[str], Store], ttl: float = 5.0
    ) -> None:
        self._settings = settings
        self._open_store = open_store
        self._ttl = ttl
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._text = ""
        self._read_at = -ttl

    def exposition(self) -> str:
        with self._lock:
            if time.monotonic() - self._read_at < self._ttl:
                return self._text
            settings = self._settings()
            try:
                if self._store is None:
                    self._store = self._open_store(settings.db)
                data = workers_dict(settings, self._store, now=now_utc())
                self._text = workers_exposition(data)
            except StorageError:
                self._text = ""  # the database is down: /status and the log say so
            self._read_at = time.monotonic()
            return self._text

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
