"""Refresh and backoff policy: table tests of when a source is checked next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.ingest.policy import next_check_at, refresh_hint, retry_after

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + 2 * M),
        (" 0 ", NOW),
        ("Wed, 01 May 2024 14:00:00 GMT", NOW + 2 * H),
        ("Wed, 01 May 2024 11:00:00 GMT", NOW),  # in the past: may retry now
        ("Thu, 01 May 2025 12:00:00 GMT", NOW + 24 * H),  # a year away: capped
        ("999999999999999999999999", NOW + 24 * H),  # absurd seconds: capped, no overflow
        ("-5", NOW + H),  # garbage: default delay
        ("soon", NOW + H),
        ("", NOW + H),
        (None, NOW + H),
    ],
)
def test_retry_after(value: str | None, expected: datetime) -> None:
    assert retry_after(value, now=NOW) == expected


def test_retry_after_custom_default_and_cap() -> None:
    assert retry_after(None, now=NOW, default=10 * M) == NOW + 10 * M
    assert retry_after("7200", now=NOW, cap=H) == NOW + H


@pytest.mark.parametrize(
    ("headers", "ttl", "expected"),
    [
        ({}, None, None),
        ({"Cache-Control": "public, max-age=3600"}, None, H),
        ({"cache-control": "max-age=0"}, None, None),
        ({"Cache-Control": "no-store, max-age=600"}, None, None),
        # max-age wins over Expires
        ({"Cache-Control": "max-age=60", "Expires": "Wed, 01 May 2024 18:00:00 GMT"}, None, M),
        ({"Expires": "Wed, 01 May 2024 14:00:00 GMT"}, None, 2 * H),
        # Expires measured from the server's Date: a skewed clock does not matter
        (
            {"Expires": "Wed, 01 May 2024 09:30:00 GMT", "Date": "Wed, 01 May 2024 09:00:00 GMT"},
            None,
            30 * M,
        ),
        ({"Expires": "0"}, None, None),
        ({"Expires": "Wed, 01 May 2024 11:00:00 GMT"}, None, None),  # already stale
        ({}, 90, 90 * M),
        ({}, 0, None),
        ({"Cache-Control": "max-age=600"}, 60, H),  # the longer of the two
        ({"Cache-Control": "max-age=7200"}, 60, 2 * H),
        # Numbers of any length: a year at most, never an OverflowError
        ({"Cache-Control": "max-age=99999999999999999999"}, None, timedelta(days=366)),
        ({}, 99999999999999999999, timedelta(days=366)),
    ],
)
def test_refresh_hint(headers: dict[str, str], ttl: int | None, expected: timedelta | None) -> None:
    assert refresh_hint(headers, ttl_minutes=ttl, now=NOW) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected_delay"),
    [
        # success: the configured interval
        ({"interval": H, "error_count": 0}, H),
        # jitter adds up to 20 % of the delay
        ({"interval": H, "error_count": 0, "jitter": 0.5}, H + 6 * M),
        # a hint only lengthens the interval ...
        ({"interval": H, "error_count": 0, "hint": 3 * H}, 3 * H),
        ({"interval": H, "error_count": 0, "hint": 10 * M}, H),
        # ... and is clamped into [min_interval, max_interval]
        ({"interval": H, "error_count": 0, "hint": 30 * 24 * H}, 24 * H),
        ({"interval": M, "error_count": 0, "hint": timedelta(seconds=10)}, 30 * M),
        # never earlier than now + min_interval, even with a tiny configured interval
        ({"interval": timedelta(seconds=1), "error_count": 0}, 30 * M),
        ({"interval": timedelta(seconds=1), "error_count": 0, "min_interval": 5 * M}, 5 * M),
        # consecutive failures: first keeps the interval, then doubles
        ({"interval": H, "error_count": 1}, H),
        ({"interval": H, "error_count": 2}, 2 * H),
        ({"interval": H, "error_count": 3}, 4 * H),
        ({"interval": H, "error_count": 5}, 16 * H),
        # capped, and a huge count does not overflow
        ({"interval": H, "error_count": 6}, 24 * H),
        ({"interval": H, "error_count": 10_000}, 24 * H),
        ({"interval": H, "error_count": 6, "jitter": 0.9}, 24 * H),
        ({"interval": H, "error_count": 3, "backoff_cap": 3 * H}, 3 * H),
        # jitter on a backed-off delay
        ({"interval": H, "error_count": 2, "jitter": 0.5}, 2 * H + 12 * M),
        # an operator interval longer than the cap is kept while failing
        ({"interval": 48 * H, "error_count": 4}, 48 * H),
        # Retry-After is honoured ...
        ({"interval": H, "error_count": 1, "retry_after": NOW + 5 * H}, 5 * H),
        # ... but only pushes later, and is capped
        ({"interval": H, "error_count": 1, "retry_after": NOW + 10 * M}, H),
        ({"interval": H, "error_count": 1, "retry_after": NOW + 90 * 24 * H}, 24 * H),
        ({"interval": H, "error_count": 0, "retry_after": NOW - H}, H),
    ],
)
def test_next_check_at(kwargs: dict[str, object], expected_delay: timedelta) -> None:
    assert next_check_at(NOW, **kwargs) - NOW == expected_delay  # type: ignore[arg-type]


@pytest.mark.parametrize("count", range(0, 12))
def test_backoff_never_shrinks_as_failures_accumulate(count: int) -> None:
    earlier = next_check_at(NOW, interval=H, error_count=count)
    later = next_check_at(NOW, interval=H, error_count=count + 1)
    assert later >= earlier


@pytest.mark.parametrize(
    "kwargs",
    [{"error_count": -1}, {"error_count": 0, "jitter": 1.0}, {"error_count": 0, "jitter": -0.1}],
)
def test_next_check_at_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        next_check_at(NOW, interval=H, **kwargs)  # type: ignore[arg-type]
