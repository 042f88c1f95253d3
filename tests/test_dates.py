"""Dates as published facts: every form the product accepts reads back to the instant
written (a property, through the real readers: seed front matter, RSS and Atom on both
parse paths, JSON Feed), and an ambiguous date is never read silently."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import make_attribution
from hypothesis import given
from hypothesis import strategies as st

from aggregator.config import settings_from_mapping
from aggregator.exceptions import ConfigError
from aggregator.ingest.collect import SourceRead
from aggregator.ingest.seedtext import parse_seed_document
from aggregator.model import RawEntry, SourceSpec
from aggregator.normalise.dates import read_date
from aggregator.normalise.entry import NormaliseOptions, normalise_entry
from aggregator.parse import parse_feed, read_feed
from aggregator.pipeline import normalise_options

MTIME = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 20, tzinfo=UTC)
SOURCE = SourceSpec(id="council", url="https://council.example/feed", title="Council")
ATTRIBUTION = make_attribution("council", title="Council")


def seed_date(value: str, **kwargs: object) -> RawEntry:
    text = f"---\ntitle: Notice\nsource: Council\npublished: {value}\n---\nThe text.\n"
    return parse_seed_document(text, relpath="notice.md", mtime=MTIME, markdown=True, **kwargs)  # type: ignore[arg-type]


# -- the seedtext bug: the T form went to a day-first parser ------------------------------


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2026-12-04T09:00:00+10:00", datetime(2026, 12, 3, 23, 0, tzinfo=UTC)),
        ('"2026-05-06T08:30:00Z"', datetime(2026, 5, 6, 8, 30, tzinfo=UTC)),
        ("'2026-05-06T08:30:00Z'  # Hugo", datetime(2026, 5, 6, 8, 30, tzinfo=UTC)),
        ("2026-05-06 08:30:00 +02:00", datetime(2026, 5, 6, 6, 30, tzinfo=UTC)),
    ],
)
def test_seed_front_matter_iso_dates_keep_day_and_month(written: str, instant: datetime) -> None:
    entry = seed_date(written)
    assert (entry.published, entry.date_rule) == (instant, "front-matter")


def test_an_iso_date_with_a_time_in_seed_text_counts_as_a_date() -> None:
    body = "Notice\nCouncil\n\nUpdated 2026-11-12T10:00 after the meeting.\n"
    entry = parse_seed_document(body, relpath="n.txt", mtime=MTIME)
    assert (entry.published, entry.date_rule) == (datetime(2026, 11, 12, tzinfo=UTC), "text")


# -- the property: every accepted form reads back to the instant written -------------------

ZONE_NAMES = {
    "GMT": 0,
    "UT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda q: timedelta(minutes=15 * q))


def _offset_text(offset: timedelta, colon: bool) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{rest:02d}"


@st.composite
def iso_forms(draw: st.DrawFn) -> tuple[datetime, str]:
    instant = draw(instants)
    fraction = draw(st.booleans())
    if not fraction:
        instant = instant.replace(microsecond=0)
    offset = draw(offsets)
    local = instant.astimezone(timezone(offset))
    clock = local.strftime("%H:%M:%S") + (f".{local.microsecond:06d}" if fraction else "")
    zone = draw(
        st.sampled_from(["Z", _offset_text(offset, True), _offset_text(offset, False)])
        if offset == timedelta(0)
        else st.sampled_from([_offset_text(offset, True), _offset_text(offset, False)])
    )
    separator = draw(st.sampled_from(["T", " "]))
    text = f"{local:%Y-%m-%d}{separator}{clock}{zone}"
    return instant, draw(st.sampled_from([text, f'"{text}"', f"'{text}'"]))


@st.composite
def rfc822_forms(draw: st.DrawFn) -> tuple[datetime, str]:
    instant = draw(instants).replace(microsecond=0)
    name = draw(st.sampled_from([None, *ZONE_NAMES]))
    offset = draw(offsets) if name is None else timedelta(hours=ZONE_NAMES[name])
    local = instant.astimezone(timezone(offset))
    zone = name or _offset_text(offset, False)
    return instant, f"{local:%a, %d %b %Y %H:%M:%S} {zone}"


def rss(date: str) -> bytes:
    return (
        "<rss version='2.0'><channel><title>T</title><link>https://e.example/</link>"
        f"<item><title>A</title><link>https://e.example/a</link><pubDate>{date}</pubDate>"
        "</item></channel></rss>"
    ).encode()


def atom(date: str) -> bytes:
    return (
        "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:t</id>"
        f"<updated>{date}</updated><entry><title>A</title><id>urn:a</id>"
        f"<link href='https://e.example/a'/><published>{date}</published>"
        f"<updated>{date}</updated></entry></feed>"
    ).encode()


def both_paths(body: bytes) -> list[RawEntry]:
    """The entry as the fast path and as feedparser read it."""
    return [
        read_feed(body, url="https://e.example/f", source_id="t", allow_fast=fast).feed.entries[0]
        for fast in (True, False)
    ]


@given(iso_forms())
def test_iso_8601_forms_read_back_to_the_instant(case: tuple[datetime, str]) -> None:
    instant, text = case
    reading = read_date(text)
    assert reading is not None
    assert reading.moment == instant
    assert seed_date(text).published == instant


@given(iso_forms())
def test_atom_and_json_feed_dates_read_back_to_the_instant(case: tuple[datetime, str]) -> None:
    instant, text = case
    bare = text.strip("\"'").replace(" ", "T", 1)  # RFC 3339 as feeds write it
    for entry in both_paths(atom(bare)):
        assert (entry.published, entry.updated) == (instant, instant)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T",
        "items": [{"id": "1", "url": "https://e.example/1", "date_published": bare}],
    }
    feed = parse_feed(json.dumps(document).encode(), url="https://e.example/f", source_id="t")
    assert feed.entries[0].published == instant


@given(rfc822_forms())
def test_rfc_822_forms_read_back_to_the_instant(case: tuple[datetime, str]) -> None:
    instant, text = case
    reading = read_date(text)
    assert reading is not None
    assert reading.moment == instant
    for entry in both_paths(rss(text)):
        assert entry.published == instant


# -- ambiguous dates are never read silently -----------------------------------------------


def test_an_ambiguous_date_is_read_day_first_and_says_so() -> None:
    entry = seed_date("04/05/2026")
    assert entry.published == datetime(2026, 5, 4, tzinfo=UTC)
    assert (
        "front-matter date '04/05/2026' is ambiguous; read day first as 4 May 2026 "
        "(no date_order set for this source)"
    ) in entry.notes


def test_date_order_decides_an_ambiguous_date() -> None:
    entry = seed_date("04/05/2026", date_order="month-first")
    assert entry.published == datetime(2026, 4, 5, tzinfo=UTC)
    assert any(
        "read month first as 5 April 2026 (date_order = month-first)" in n for n in entry.notes
    )


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("13/05/2026 10:00 PDT", datetime(2026, 5, 13, 17, 0, tzinfo=UTC)),
        ("13.05.2026, 10:00 +02:00", datetime(2026, 5, 13, 8, 0, tzinfo=UTC)),
        ("May 13, 2026 10:00 EST", datetime(2026, 5, 13, 15, 0, tzinfo=UTC)),
        ("13 May 2026", datetime(2026, 5, 13, tzinfo=UTC)),
    ],
)
def test_numeric_and_written_dates_with_zone_names(written: str, instant: datetime) -> None:
    reading = read_date(written)
    assert reading is not None
    assert (reading.moment, reading.naive) == (instant, False)


def test_a_date_without_a_year_is_no_date() -> None:
    # dateutil would fill the year (and a weekday's date) from today.
    assert read_date("Tuesday 10:00") is None
    assert read_date("12 November") is None


def test_an_unambiguous_numeric_date_needs_no_setting() -> None:
    entry = seed_date("13/05/2026")
    assert entry.published == datetime(2026, 5, 13, tzinfo=UTC)
    assert not any("ambiguous" in note for note in entry.notes)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, datetime(2026, 5, 4, 10, 0, tzinfo=UTC)),
        ("month-first", datetime(2026, 4, 5, 10, 0, tzinfo=UTC)),
    ],
)
def test_a_feeds_ambiguous_date_is_read_with_the_sources_date_order(
    order: str | None, expected: datetime
) -> None:
    [raw, _] = both_paths(rss("04/05/2026 10:00 GMT"))
    assert raw.published == "04/05/2026 10:00 GMT"  # left for the source's setting
    item = normalise_entry(
        raw,
        source=SOURCE,
        attribution=ATTRIBUTION,
        first_seen=NOW,
        options=NormaliseOptions(date_order=order),  # type: ignore[arg-type]
    )
    assert item.published == expected
    reading = "month first as 5 April" if order else "day first as 4 May"
    assert any(f"ambiguous; read {reading} 2026" in note for note in item.notes)


def test_date_order_in_the_config_per_source_and_for_the_rest(tmp_path: Path) -> None:
    settings = settings_from_mapping(
        {
            "date_order": "month-first",
            "sources": [
                {"url": "https://a.example/feed", "id": "a", "date_order": "day-first"},
                {"url": "https://b.example/feed", "id": "b"},
            ],
        },
        base_dir=tmp_path,
    )
    assert settings.date_order == "month-first"  # seeds and sources without their own
    assert [s.date_order for s in settings.sources] == ["day-first", None]
    reads = [SourceRead(spec=SourceSpec(id=i, url=f"https://{i}.example/feed")) for i in "ab"]
    options = normalise_options(settings, reads, ())
    assert {i: o.date_order for i, o in options.items()} == {"a": "day-first", "b": "month-first"}


def test_a_wrong_date_order_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[1\]\.date_order.*day-first, month-first"):
        settings_from_mapping(
            {"sources": [{"url": "https://a.example/feed", "date_order": "dmy"}]},
            base_dir=tmp_path,
        )
