"""Decisions of the pipeline and the entry builder, on plain values and a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import make_attribution, make_item

from aggregator.ingest.collect import SourceRead
from aggregator.ingest.policy import is_due
from aggregator.model import (
    FeedMeta,
    Item,
    ParsedFeed,
    RawEntry,
    SourceKind,
    SourceSpec,
)
from aggregator.normalise.organisations import carries_others, organisations_in
from aggregator.publish.entries import build_entry
from aggregator.store import SourceState, open_store

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def feed(title: str, texts: list[str]) -> ParsedFeed:
    return ParsedFeed(
        FeedMeta(title=title),
        tuple(RawEntry(title=f"t{i}", content=t) for i, t in enumerate(texts)),
    )


def test_a_feed_that_names_itself_speaks_for_itself() -> None:
    org = feed("Bureau of Meteorology", ["The Bureau of Meteorology said rain."] * 3 + ["Other."])
    digest = feed(
        "Daily Digest", ["The Reserve Bank said rates.", "NATO met.", "A council met.", "x"]
    )
    assert not carries_others(org)
    assert carries_others(digest)
    assert not carries_others(feed("Empty", []))


def test_known_organisations_come_from_seeds_and_self_naming_feeds() -> None:
    seeds = SourceRead(
        spec=SourceSpec(id="seeds", url="seeds", kind=SourceKind.SEED_TEXT),
        parsed=ParsedFeed(
            FeedMeta(),
            (
                RawEntry(title="a", authors=("NATO",), via="Mirage.News"),
                RawEntry(title="b", authors=("City of Lowmere",)),
            ),
        ),
    )
    org = SourceRead(
        spec=SourceSpec(id="org", url="org.xml", kind=SourceKind.SEED_FEED),
        parsed=feed("Reserve Bank", ["The Reserve Bank raised rates."] * 2),
    )
    digest = SourceRead(
        spec=SourceSpec(id="digest", url="d.xml", kind=SourceKind.SEED_FEED),
        parsed=feed("Daily Digest", ["NATO met.", "Rates rose."]),
    )
    feeds = [(r.spec.kind, r.parsed) for r in (seeds, org, digest) if r.parsed]
    assert organisations_in(feeds).known([]) == (
        "City of Lowmere",
        "NATO",
        "Reserve Bank",
    )
    # Learnt by an earlier run and kept; a republisher is never one, even if learnt.
    assert "Federal Police" in organisations_in([]).known(["Federal Police"])
    assert "Mirage.News" not in organisations_in(feeds[:1]).known(["Mirage.News"])


def test_due_rules() -> None:
    state = SourceState(id="s", url="u", kind="remote", last_fetch_at=NOW - timedelta(minutes=10))
    assert not is_due(state, now=NOW, min_interval=timedelta(minutes=30), force=False)
    assert is_due(state, now=NOW, min_interval=timedelta(minutes=5), force=False)
    assert is_due(state, now=NOW, min_interval=timedelta(minutes=30), force=True)
    later = SourceState(id="s", url="u", kind="remote", next_check_at=NOW + timedelta(hours=1))
    assert not is_due(later, now=NOW, min_interval=timedelta(0), force=False)
    disabled = SourceState(id="s", url="u", kind="remote", enabled=False)
    assert not is_due(disabled, now=NOW, min_interval=timedelta(0), force=True)


def item(
    key: str, *, source: str, authors: tuple[str, ...], text: str, via: str | None = None
) -> Item:
    return make_item(
        key,
        text=text,
        source=make_attribution(source, feed_id="urn:s", title=source),
        when=NOW,
        content_hash=key,
        summary=text,
        authors=authors,
        via=via,
    )


def test_entry_shows_one_copy_whole_and_credits_every_other() -> None:
    own = item("a", source="Reserve Bank", authors=("Reserve Bank",), text="Short release.")
    wire = item(
        "b",
        source="Wire",
        authors=("Reserve Bank",),
        text="Short release. With more words added.",
        via="Wire",
    )
    teaser = item("c", source="Digest", authors=(), text="Short")
    entry = build_entry("urn:e", [teaser, wire, own])
    # Title, link, summary and content all come from the organisation's own copy: a
    # wrong merge must never publish one release's headline over another's text.
    shown = entry.item
    assert (shown.title, shown.link, shown.summary, shown.content_html) == (
        own.title, own.link, own.summary, own.content_html,
    )  # fmt: skip
    assert [v.href for v in entry.vias] == [wire.link, teaser.link]


def test_a_whole_copy_represents_the_story_before_an_earlier_teaser() -> None:
    from dataclasses import replace

    teaser = replace(
        item("c", source="Digest", authors=(), text="The council adopted its budget…"),
        published=NOW - timedelta(hours=5),
    )
    wire = item("b", source="Wire", authors=("Council",), text="The council adopted it.", via="W")
    assert build_entry("urn:e", [teaser, wire]).item.key == "b"
    # Publishing reads items without their plain text: the HTML tells a teaser as well.
    assert build_entry("urn:e", [replace(teaser, text=""), replace(wire, text="")]).item.key == "b"


def test_entry_without_author_takes_the_organisation_another_copy_names() -> None:
    from dataclasses import replace

    # The digest's copy came first, so it represents the story, but it names nobody.
    teaser = replace(
        item("c", source="Digest", authors=(), text="Short digest text"),
        published=NOW - timedelta(hours=1),
    )
    wire = item("b", source="Wire", authors=("Reserve Bank",), text="Short", via="Wire")
    entry = build_entry("urn:e", [teaser, wire])
    assert entry.item.link == teaser.link
    assert entry.item.authors == ("Reserve Bank",)


def test_an_entry_that_trips_cleaning_is_left_out_and_the_rest_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (no such bug is known): an exception cleaning one entry costs that
    entry, with a warning naming its source, not the run; later runs are not stuck."""
    from aggregator import pipeline
    from aggregator.config import Settings
    from aggregator.normalise import entry

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, title in (("a.txt", "Harbour Reopens After Storm"), ("b.txt", "Exploding Headline")):
        (seeds / name).write_text(
            f"{title}\n\nPort Authority of Lowmere\n\nThe port authority said on Monday that "
            f"the story of {title.lower()} is told in full here, with dates and names.\n"
        )
    real = entry.normalise_entry

    def tripping(raw: RawEntry, **kwargs: Any) -> Item:
        if raw.title and "Exploding" in raw.title:
            raise ValueError("a bug")
        return real(raw, **kwargs)

    monkeypatch.setattr(entry, "normalise_entry", tripping)
    settings = Settings(seeds=seeds, out=tmp_path / "feeds", db=str(tmp_path / "db.sqlite"))
    store = open_store(settings.db)
    try:
        report = pipeline.run_once(settings, store, now=NOW)
    finally:
        store.close()
    assert report.entries == 1
    assert any(w.startswith("seeds: entry") and "ValueError: a bug" in w for w in report.warnings)
    assert b"Harbour Reopens After Storm" in (tmp_path / "feeds" / "index.atom").read_bytes()


def test_a_group_of_304s_reads_nothing_for_cleaning_and_a_changed_feed_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker gathers every group it stores, and in a steady state most are feeds that
    answered 304: nothing to clean, so the known organisations (a read of the store per
    group) are not asked for. A group with a changed feed asks for them once."""
    from aggregator import pipeline
    from aggregator.config import Settings

    spec = SourceSpec(id="org", url="https://org.example/feed.xml")
    settings = Settings(db=str(tmp_path / "db.sqlite"), sources=(spec,))
    store = open_store(settings.db)
    asked: list[str] = []
    read_meta = store.get_meta

    def counting(name: str) -> str | None:
        asked.append(name)
        return read_meta(name)

    monkeypatch.setattr(store, "get_meta", counting)
    try:
        state = store.ensure_source(spec)
        unchanged = pipeline.gather_read(settings, store, [state], [SourceRead(spec)], now=NOW)
        assert [c.read.spec.id for c in unchanged.sources] == ["org"]
        assert pipeline.KNOWN_ORGANISATIONS not in asked
        changed = SourceRead(spec, parsed=feed("Org", ["The Org said it opened a library."]))
        gathered = pipeline.gather_read(settings, store, [state], [changed], now=NOW)
        assert [len(c.items) for c in gathered.sources] == [1]
        assert asked.count(pipeline.KNOWN_ORGANISATIONS) == 1
    finally:
        store.close()
