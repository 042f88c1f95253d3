"""Dates: always aware UTC, never in the future beyond a tolerance, updated ≥ published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import dateutil.parser

FuturePolicy = Literal["first-seen", "keep"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DateDecision:
    published: datetime
    updated: datetime
    date_rule: str
    notes: tuple[str, ...] = ()


def to_utc(value: datetime) -> tuple[datetime, bool]:
    """`value` in UTC, and whether it was naive (then it is taken as UTC already)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC), True
    return value.astimezone(UTC), False


def parse_date(value: str) -> datetime | None:
    """A date from free text (RFC 822, ISO 8601, "1 October 2026"…), aware UTC, or None."""
    try:
        parsed = dateutil.parser.parse(value)
    except (ValueError, OverflowError):
        return None
    return to_utc(parsed)[0]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_or_none(value: datetime | str | None, name: str, notes: list[str]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_date(value)
        if parsed is None:
            notes.append(f"{name} date {value!r} unreadable; ignored")
        return parsed
    utc, naive = to_utc(value)
    if naive:
        notes.append(f"{name} date had no time zone; taken as UTC")
    return utc


def resolve_dates(
    published: datetime | str | None,
    updated: datetime | str | None,
    *,
    first_seen: datetime,
    date_rule: str | None = None,
    future: FuturePolicy = "first-seen",
    tolerance: timedelta = timedelta(days=1),
) -> DateDecision:
    """Pick published/updated by the fallback chain published ← updated ← first seen."""
    notes: list[str] = []
    seen = to_utc(first_seen)[0]
    pub = _utc_or_none(published, "published", notes)
    upd = _utc_or_none(updated, "updated", notes)
    rule = date_rule or "published"
    if pub is None and upd is not None:
        pub, rule = upd, "updated"
        notes.append("published missing; updated date used")
    if pub is None:
        pub, rule = seen, "first-seen"
        notes.append("published missing; first-seen time used")
    elif future == "first-seen" and pub > seen + tolerance:
        notes.append(f"published {_iso(pub)} is in the future; first-seen time used")
        pub, rule = seen, "first-seen"
    if upd is not None and future == "first-seen" and upd > seen + tolerance:
        notes.append(f"updated {_iso(upd)} is in the future; ignored")
        upd = None
    if upd is None:
        upd = pub
    elif upd < pub:
        notes.append("updated was before published; set to published")
        upd = pub
    return DateDecision(published=pub, updated=upd, date_rule=rule, notes=tuple(notes))
