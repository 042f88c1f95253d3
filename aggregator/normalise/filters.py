"""Per-source item filters, from the `filters` table of one `[[sources]]` entry.

    [sources.filters]
    include = ["climate", "/flood(s|ing)?/"]   # keep only items matching one of these
    exclude = ["re:^sponsored\\b", "webinar"]  # drop items matching any of these
    fields = ["title", "content"]              # where to look; default all four
    max_age_days = 30                          # drop items published longer ago

Pattern syntax:

* a plain string is a case-insensitive keyword, matched on word boundaries
  ("rail" matches "Rail strike" but not "trail");
* `/pattern/` or `re:pattern` is a Python regular expression, case-insensitive.

Fields: `title`, `content` (the item's plain text and summary), `categories`, `author`.
`exclude` wins over `include`. Pure: `now` is an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aggregator.config import MAX_DAYS
from aggregator.exceptions import ConfigError
from aggregator.model import Item

__all__ = ["FIELDS", "ItemFilter", "Pattern", "compile_filters", "filter_reason"]

FIELDS: tuple[str, ...] = ("title", "content", "categories", "author")
_KNOWN_KEYS = frozenset({"include", "exclude", "fields", "max_age_days"})


@dataclass(frozen=True, slots=True)
class Pattern:
    source: str  # as written in the config, for messages
    regex: re.Pattern[str]

    def search(self, text: str) -> bool:
        return self.regex.search(text) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemFilter:
    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()
    fields: tuple[str, ...] = FIELDS
    max_age: timedelta | None = None

    @property
    def empty(self) -> bool:
        return not (self.include or self.exclude or self.max_age)


def compile_pattern(text: str, *, key: str) -> Pattern:
    """One pattern of the filter syntax (see the module docstring)."""
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        expression = text[1:-1]
    elif text.startswith("re:"):
        expression = text[3:]
    else:
        keyword = text.strip()
        if not keyword:
            raise ConfigError("an empty keyword matches everything", key=key)
        # \b only works next to word characters; a keyword like "C++" gets lookarounds.
        expression = rf"(?<!\w){re.escape(keyword)}(?!\w)"
    if not expression:
        raise ConfigError(f"empty regular expression {text!r}", key=key)
    try:
        return Pattern(text, re.compile(expression, re.IGNORECASE))
    except re.error as exc:
        raise ConfigError(f"bad regular expression {text!r}: {exc}", key=key) from exc


def _patterns(raw: Mapping[str, object], name: str, prefix: str) -> tuple[Pattern, ...]:
    value = raw.get(name, [])
    key = f"{prefix}.{name}"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError("must be a list of strings", key=key)
    return tuple(compile_pattern(v, key=key) for v in value)


def _fields(raw: Mapping[str, object], prefix: str) -> tuple[str, ...]:
    value = raw.get("fields", list(FIELDS))
    key = f"{prefix}.fields"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"must be a non-empty list of {', '.join(FIELDS)}", key=key)
    unknown = [v for v in value if v not in FIELDS]
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown}; use {', '.join(FIELDS)}", key=key)
    return tuple(dict.fromkeys(str(v) for v in value))


def _max_age(raw: Mapping[str, object], prefix: str) -> timedelta | None:
    value = raw.get("max_age_days")
    if value is None:
        return None
    # nan, inf and very large numbers would overflow timedelta, or "now" minus it.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_DAYS:
        raise ConfigError(
            f"must be a number of days above 0 and at most {MAX_DAYS:,}",
            key=f"{prefix}.max_age_days",
        )
    return timedelta(days=value)


def compile_filters(raw: Mapping[str, object], *, source_id: str) -> ItemFilter:
    """Validate and compile one source's `filters` table; ConfigError names the bad key."""
    prefix = f"sources.{source_id}.filters"
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown}; use {', '.join(sorted(_KNOWN_KEYS))}", key=prefix
        )
    return ItemFilter(
        include=_patterns(raw, "include", prefix),
        exclude=_patterns(raw, "exclude", prefix),
        fields=_fields(raw, prefix),
        max_age=_max_age(raw, prefix),
    )


def _field_texts(item: Item, fields: tuple[str, ...]) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for name in fields:
        if name == "title":
            texts.append((name, item.title))
        elif name == "content":
            texts.append((name, item.text))
            if item.summary:
                texts.append((name, item.summary))
        elif name == "categories":
            texts.extend((name, c) for c in item.categories)
        else:
            texts.extend((name, a) for a in item.authors)
    return texts


def _first_match(patterns: tuple[Pattern, ...], texts: list[tuple[str, str]]) -> str | None:
    for pattern in patterns:
        for name, text in texts:
            if pattern.search(text):
                return f"{pattern.source!r} in {name}"
    return None


def filter_reason(item: Item, f: ItemFilter, *, now: datetime) -> str | None:
    """Why `item` is filtered out (a short sentence), or None to keep it."""
    if f.max_age is not None and item.published < now - f.max_age:
        return f"older than {f.max_age.days} days (max_age_days)"
    if f.empty:
        return None
    texts = _field_texts(item, f.fields)
    excluded = _first_match(f.exclude, texts)
    if excluded is not None:
        return f"exclude matched {excluded}"
    if f.include and _first_match(f.include, texts) is None:
        return "no include pattern matched"
    return None
