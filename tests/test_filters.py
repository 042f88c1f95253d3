# ruff: noqa: E501  -- the rule tables keep one case per line, however long

"""Per-source filters: syntax, validation messages, and which rule dropped an item."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.exceptions import ConfigError
from aggregator.model import Attribution, Item
from aggregator.normalise.filters import compile_filters, filter_reason

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def make_item(**fields: object) -> Item:
    values: dict[str, object] = {
        "key": "k",
        "origin_id": "o",
        "content_hash": "h",
        "title": "Rail strike called off",
        "link": None,
        "summary": "Unions and operators agree.",
        "content_html": None,
        "text": "Unions and operators agree on pay.",
        "authors": ("Ministry of Transport",),
        "categories": ("Transport",),
        "published": NOW - timedelta(days=2),
        "updated": NOW - timedelta(days=2),
        "source": Attribution(source_id="s", feed_url="u", feed_id="urn:s"),
    }
    values.update(fields)
    return Item(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, None),
        ({"include": ["rail"]}, None),
        ({"include": ["trail"]}, "no include pattern matched"),
        ({"include": ["RAIL STRIKE"]}, None),
        ({"exclude": ["strike"]}, "exclude matched 'strike' in title"),
        ({"exclude": ["/pay$/"]}, None),
        ({"exclude": ["/pay\\.$/"]}, "exclude matched '/pay\\\\.$/' in content"),
        ({"exclude": ["re:^rail"]}, "exclude matched 're:^rail' in title"),
        ({"exclude": ["transport"], "fields": ["title", "content"]}, None),
        ({"exclude": ["transport"], "fields": ["categories"]}, "exclude matched 'transport' in categories"),
        ({"exclude": ["ministry"], "fields": ["author"]}, "exclude matched 'ministry' in author"),
        ({"include": ["rail"], "exclude": ["unions"]}, "exclude matched 'unions' in content"),
        ({"max_age_days": 1}, "older than 1 days (max_age_days)"),
        ({"max_age_days": 3}, None),
        ({"include": "rail"}, None),
    ],
)  # fmt: skip
def test_filter_reason(config: dict[str, object], expected: str | None) -> None:
    f = compile_filters(config, source_id="transport")
    assert filter_reason(make_item(), f, now=NOW) == expected


def test_keyword_with_symbols_matches_as_a_word() -> None:
    f = compile_filters({"include": ["C++"]}, source_id="s")
    assert filter_reason(make_item(title="Why C++ matters"), f, now=NOW) is None
    assert filter_reason(make_item(title="Why ABC++ matters", text=""), f, now=NOW) is not None


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"exclude": ["/(unclosed/"]}, "sources.news.filters.exclude", "'/(unclosed/'"),
        ({"include": ["re:[z-a]"]}, "sources.news.filters.include", "'re:[z-a]'"),
        ({"include": [""]}, "sources.news.filters.include", "empty keyword"),
        ({"include": [3]}, "sources.news.filters.include", "list of strings"),
        ({"fields": ["body"]}, "sources.news.filters.fields", "unknown field"),
        ({"max_age_days": 0}, "sources.news.filters.max_age_days", "above 0"),
        ({"max_age_days": True}, "sources.news.filters.max_age_days", "above 0"),
        ({"max_age_days": float("nan")}, "sources.news.filters.max_age_days", "above 0"),
        ({"max_age_days": 1e300}, "sources.news.filters.max_age_days", "at most 100,000"),
        ({"exlude": ["x"]}, "sources.news.filters", "unknown key"),
    ],
)
def test_bad_filters_name_the_source_and_key(
    config: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        compile_filters(config, source_id="news")
    assert info.value.key == key
