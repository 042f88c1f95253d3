"""Dates: always aware UTC, never in the future beyond a tolerance, updated ≥ published.

`read_date` is the one reader of dates written as text (seed front matter, feed dates
the feed parser could not read, free text). The forms it accepts, each read to the
instant it names:

* ISO 8601 / RFC 3339: `T` or a space between date and time, `Z`, `UTC`, offsets
  (`+10:00`, `+1000`, `+10`), fractions (`.5`, `,5`), quoted or not;
* RFC 822 / 1123 with numeric offsets or zone names (`GMT`, `EST`, `PDT`…);
* day, month and year in numbers (`04/05/2026`, `4.5.2026`): when both could be the
  month, the source's `date_order` decides, else day first; either way a note says
  which reading was taken, so no ambiguous date is read silently;
* anything else dateutil reads ("1 October 2026"), day first unless `date_order` says
  otherwise.
"""

from __future__ import annotations

import email.utils
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import dateutil.parser

from aggregator.model import DateOrder

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


@dataclass(frozen=True, slots=True)
class DateReading:
    moment: datetime  # aware UTC
    form: str  # "ISO 8601", "RFC 822", "numeric" or "free text": how it was read
    naive: bool = False  # no time zone was written; taken as UTC
    note: str | None = None  # which reading an ambiguous date was given


_QUOTES = "\"'"
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:(?:[Tt]|\s+)(?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)"
    r"\s*(?P<zone>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?"
)
_NUMERIC = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})"
    r"(?P<rest>(?:[Tt]|,?\s+)\d{1,2}:\d{2}.*)?"
)
_MONTHS = "January February March April May June July August September October November December"
_MONTH_NAMES = _MONTHS.split()


def _unquoted(value: str) -> str:
    """`value` without surrounding quotes; a closing quote may be followed by a comment."""
    value = value.strip()
    if value[:1] in _QUOTES:
        end = value.find(value[0], 1)
        return value[1:end].strip() if end > 0 else value[1:].strip()
    return value


def _iso_zone(zone: str | None) -> str:
    if zone is None:
        return ""
    if zone in ("Z", "z", "UTC", "GMT"):
        return "+00:00"
    digits = zone[1:].replace(":", "")
    return f"{zone[0]}{digits[:2]}:{digits[2:4] or '00'}"


def _read_iso(value: str) -> DateReading | None:
    match = _ISO.fullmatch(value)
    if match is None:
        return None
    time_part = (match["time"] or "00:00").replace(",", ".")
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{time_part}{_iso_zone(match['zone'])}")
        utc, naive = to_utc(moment)
    except (ValueError, OverflowError):
        return None
    # A date alone names a day, not an instant in some zone: midnight UTC is no guess.
    return DateReading(utc, "ISO 8601", naive=naive and match["time"] is not None)


def _read_rfc822(value: str) -> DateReading | None:
    try:
        moment = email.utils.parsedate_to_datetime(value)
        utc, naive = to_utc(moment)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    return DateReading(utc, "RFC 822", naive=naive)


def _day_name(day: int, month: int, year: int) -> str:
    return f"{day} {_MONTH_NAMES[month - 1]} {year}"


def _read_numeric(value: str, order: DateOrder | None) -> DateReading | None:
    match = _NUMERIC.fullmatch(value)
    if match is None:
        return None
    first, second, year = int(match["a"]), int(match["b"]), int(match["y"])
    ambiguous = first != second and first <= 12 and second <= 12
    day_first = order != "month-first" if ambiguous else first > 12 or second <= 12
    day, month = (first, second) if day_first else (second, first)
    try:
        moment = datetime(year, month, day)
        if match["rest"]:
            clock = _dateutil(match["rest"].lstrip(" ,Tt"), default=moment)
            moment = datetime.combine(moment.date(), clock.timetz())
    except (ValueError, OverflowError):
        return None
    utc, naive = to_utc(moment)
    note = None
    if ambiguous:
        reading = "day first" if day_first else "month first"
        why = f"date_order = {order}" if order else "no date_order set for this source"
        named = _day_name(day, month, year)
        note = f"date {value!r} is ambiguous; read {reading} as {named} ({why})"
    return DateReading(utc, "numeric", naive=naive and bool(match["rest"]), note=note)


# The zone names RFC 822 defines (§5.1), which dateutil does not know by itself.
_ZONE_HOURS = {"UT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5}
_ZONE_HOURS |= {"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
_ZONES = {name: hours * 3600 for name, hours in _ZONE_HOURS.items()}


def _dateutil(value: str, *, dayfirst: bool = True, default: datetime | None = None) -> datetime:
    with warnings.catch_warnings():
        # An unknown zone name leaves the date naive (taken as UTC, with a note), which
        # dateutil also says with a warning.
        warnings.simplefilter("ignore", dateutil.parser.UnknownTimezoneWarning)
        return dateutil.parser.parse(value, dayfirst=dayfirst, default=default, tzinfos=_ZONES)


_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")


def _read_free_text(value: str, order: DateOrder | None) -> DateReading | None:
    if not _YEAR.search(value):
        # dateutil fills what is missing from today ("Tuesday" → this week's): a date
        # that depends on when it is read is no date.
        return None
    try:
        parsed = _dateutil(value, dayfirst=order != "month-first")
        utc, naive = to_utc(parsed)
    except (ValueError, OverflowError):
        return None
    # "1 October 2026" names a day: only a time of day without a zone is a guess.
    return DateReading(utc, "free text", naive=naive and parsed.time() != datetime.min.time())


def read_date(value: str, *, date_order: DateOrder | None = None) -> DateReading | None:
    """The instant a date written as text names, how it was read, or None; see the module
    docstring for the forms."""
    text = _unquoted(value)
    if not text:
        return None
    return (
        _read_iso(text)
        or _read_rfc822(text)
        or _read_numeric(text, date_order)
        or _read_free_text(text, date_order)
    )


def parse_date(value: str, *, date_order: DateOrder | None = None) -> datetime | None:
    """A date from text (see `read_date`), aware UTC, or None."""
    reading = read_date(value, date_order=date_order)
    return reading.moment if reading is not None else None


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_or_none(
    value: datetime | str | None, name: str, notes: list[str], order: DateOrder | None
) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        reading = read_date(value, date_order=order)
        if reading is None:
            notes.append(f"{name} date {value!r} unreadable; ignored")
            return None
        notes.append(f"{name} date {value!r} read as {reading.form}")
        if reading.note:
            notes.append(f"{name} {reading.note}")
        if reading.naive:
            notes.append(f"{name} date had no time zone; taken as UTC")
        return reading.moment
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
    date_order: DateOrder | None = None,
) -> DateDecision:
    """Pick published/updated by the fallback chain published ← updated ← first seen.

    A string is a date the source wrote that no earlier stage could read; `date_order`
    is the source's reading of ambiguous numeric dates."""
    notes: list[str] = []
    seen = to_utc(first_seen)[0]
    pub = _utc_or_none(published, "published", notes, date_order)
    upd = _utc_or_none(updated, "updated", notes, date_order)
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
