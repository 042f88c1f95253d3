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
    """A source's stored state as the operator sees it: whether it will be fetched
    (config and store together) and how many items it holds."""

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
    }
