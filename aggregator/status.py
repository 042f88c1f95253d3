"""What the operator sees: per-source state and the last publish, as plain data.

Used by `aggregator status`, `aggregator sources list` and the daemon's `/status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregator.config import Settings
from aggregator.store import SourceState, Store


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRow:
    id: str
    url: str
    kind: str
    enabled: bool
    tags: tuple[str, ...]
    last_fetch: datetime | None
    status: int | None
    failures: int
    last_error: str | None
    next_due: datetime | None
    new: int
    updated: int
    items: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "kind": self.kind,
            "enabled": self.enabled,
            "tags": list(self.tags),
            "last_fetch": self.last_fetch.isoformat() if self.last_fetch else None,
            "status": self.status,
            "failures": self.failures,
            "last_error": self.last_error,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "new": self.new,
            "updated": self.updated,
            "items": self.items,
        }


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
        rows.append(_row(state, enabled=enabled, items=counts.get(source.id, 0)))
    for state in states.values():
        if state.id not in configured and state.kind != "remote":
            rows.append(_row(state, enabled=state.enabled, items=counts.get(state.id, 0)))
    return rows


def _row(state: SourceState, *, enabled: bool, items: int) -> SourceRow:
    return SourceRow(
        id=state.id,
        url=state.url,
        kind=state.kind,
        enabled=enabled,
        tags=state.tags,
        last_fetch=state.last_fetch_at,
        status=state.last_status,
        failures=state.error_count,
        last_error=state.disabled_reason or state.last_error,
        next_due=state.next_check_at,
        new=state.last_new,
        updated=state.last_updated,
        items=items,
    )


def status_dict(settings: Settings, store: Store) -> dict[str, Any]:
    return {
        "sources": [r.as_dict() for r in source_rows(settings, store)],
        "items": store.item_count(),
        "last_publish": store.get_meta("last_publish"),
        "output": str(settings.out),
    }
