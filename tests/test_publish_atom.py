"""The published Atom feed: valid, attributed, deterministic, and robust to bad items."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import factories
import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aggregator.model import Attribution, Entry, ViaLink
from aggregator.publish import FeedInfo, render_atom
from aggregator.publish.atom import EPOCH
from aggregator.publish.clean import entry_page_path

from atomcheck import validate_atom

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GOLDEN = Path(__file__).parent / "data" / "publish" / "index.atom"

INFO = FeedInfo(
    id="urn:uuid:7f1c3a52-4a1e-4c55-9a51-2d0f3e2b9c10",
    title="Aggregated news",
    subtitle="Press releases, merged and attributed",
    base_url="http://127.0.0.1:8080/",
    author="Aggregator Editors",
    generator=("aggregator", "0.1.0"),
)


def make_attribution(source_id: str = "agency", **changes: Any) -> Attribution:
    agency: dict[str, Any] = {
        "feed_url": f"https://{source_id}.example/feed.xml",
        "feed_id": f"https://{source_id}.example/feed.xml",
        "title": f"{source_id.title()} News",
        "site_link": f"https://{source_id}.example/",
        "updated": T0,
    }
    return factories.make_attribution(source_id, **{**agency, **changes})


def make_entry(n: int = 1, *, source: Attribution | None = None, **changes: Any) -> Entry:
    """Entry n of a regular series: one hour apart, newest has the highest n."""
    story: dict[str, Any] = {
        "origin_id": f"https://agency.example/news/{n}",
        "content_hash": f"hash{n}",
        "title": f"Story number {n}",
        "link": f"https://agency.example/news/{n}",
        "summary": f"Summary of story {n}.",
        "authors": ("Ministry of Examples",),
        "categories": ("health",),
    }
    vias = changes.pop("vias", ())
    entry_updated = changes.pop("entry_updated", None)
    item = factories.make_item(
        f"agency:{n}",
        text=f"Body of story {n}.",
        source=source or make_attribution(),
        when=T0 + timedelta(hours=n),
        **{**story, **changes},
    )
    return factories.make_entry(
        item, entry_id=f"urn:aggregator:entry:{n:04d}", vias=vias, updated=entry_updated
    )


def parse(doc: bytes) -> etree._Element:
    return etree.fromstring(doc)


def attr(element: etree._Element, path: str, name: str) -> str | None:
    found = element.find(path)
    assert found is not None, path
    return found.get(name)


def text(element: etree._Element, path: str) -> str:
    found = element.findtext(path)
    assert found is not None, path
    return found


def entry_elements(doc: bytes) -> list[etree._Element]:
    return parse(doc).findall(f"{ATOM}entry")


def render(entries: list[Entry], info: FeedInfo = INFO) -> tuple[bytes, tuple[str, ...]]:
    doc, warnings = render_atom(info, entries)
    assert validate_atom(doc) == []
    return doc, warnings


def test_feed_is_valid_and_read_back_by_feedparser() -> None:
    via = ViaLink(href="https://wire.example/copy/1", title="Wire Service")
    doc, warnings = render([make_entry(1, vias=(via,)), make_entry(2)])
    assert warnings == ()
    parsed = feedparser.parse(doc)
    assert not parsed.bozo
    assert parsed.feed.title == "Aggregated news"
    assert parsed.feed.id == INFO.id
    newest, older = parsed.entries
    assert newest.title == "Story number 2"
    assert older.link == "https://agency.example/news/1"
    assert older.author == "Ministry of Examples"
    assert older.summary == "Summary of story 1."
    assert older.content[0].value == "<p>Body of story 1.</p>"
    assert [t.term for t in older.tags] == ["health"]
    assert older.source.title == "Agency News"


def test_entry_carries_complete_atom_source() -> None:
    doc, _ = render([make_entry(1)])
    source = entry_elements(doc)[0].find(f"{ATOM}source")
    assert source is not None
    assert source.findtext(f"{ATOM}id") == "https://agency.example/feed.xml"
    assert source.findtext(f"{ATOM}title") == "Agency News"
    assert attr(source, f"{ATOM}link", "href") == "https://agency.example/"
    assert source.findtext(f"{ATOM}updated") == T0.isoformat()


def test_source_link_falls_back_to_feed_url_then_to_our_source_feed() -> None:
    web = make_attribution(site_link=None)
    seed = make_attribution(
        "seeds", feed_url="seeds/000_x.txt", feed_id="urn:aggregator:source:seeds", site_link=None
    )
    doc, _ = render([make_entry(1, source=web), make_entry(2, source=seed)])
    hrefs = [attr(e, f"{ATOM}source/{ATOM}link", "href") for e in entry_elements(doc)]
    assert hrefs == [
        "http://127.0.0.1:8080/sources/seeds.atom",
        "https://agency.example/feed.xml",
    ]


def test_via_links_keep_their_relation_and_title() -> None:
    # feedgen 1.0.0 drops rel and title from entry links; a via must not become an alternate.
    vias = (
        ViaLink(href="https://wire.example/a", title="Wire A"),
        ViaLink(href="https://paper.example/b", title="Paper B"),
    )
    doc, _ = render([make_entry(1, vias=vias)])
    links = entry_elements(doc)[0].findall(f"{ATOM}link")
    via_links = [(x.get("href"), x.get("title")) for x in links if x.get("rel") == "via"]
    assert via_links == [
        ("https://wire.example/a", "Wire A"),
        ("https://paper.example/b", "Paper B"),
    ]
    alternates = [x for x in links if x.get("rel") in (None, "alternate")]
    assert [x.get("href") for x in alternates] == ["https://agency.example/news/1"]


def test_feed_level_links_and_metadata() -> None:
    doc, _ = render([make_entry(1)], replace(INFO, hub="https://hub.example/"))
    root = parse(doc)
    links = {x.get("rel"): x.get("href") for x in root.findall(f"{ATOM}link")}
    assert links == {
        "self": "http://127.0.0.1:8080/index.atom",
        "alternate": "http://127.0.0.1:8080/index.html",
        "hub": "https://hub.example/",
    }
    assert root.findtext(f"{ATOM}subtitle") == INFO.subtitle
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Aggregator Editors"
    assert text(root, f"{ATOM}generator") == "aggregator"
    assert attr(root, f"{ATOM}generator", "version") == "0.1.0"


def test_no_hub_link_without_a_hub() -> None:
    doc, _ = render([make_entry(1)])
    assert b'rel="hub"' not in doc


def test_feed_updated_is_newest_entry_never_now() -> None:
    doc, _ = render([make_entry(1), make_entry(3), make_entry(2)])
    assert parse(doc).findtext(f"{ATOM}updated") == (T0 + timedelta(hours=3)).isoformat()


def test_entry_updated_override_wins_over_item_updated() -> None:
    later = T0 + timedelta(days=2)
    doc, _ = render([make_entry(1, entry_updated=later), make_entry(5)])
    first = entry_elements(doc)[0]
    assert first.findtext(f"{ATOM}id") == "urn:aggregator:entry:0001"
    assert first.findtext(f"{ATOM}updated") == later.isoformat()
    assert parse(doc).findtext(f"{ATOM}updated") == later.isoformat()


def test_empty_feed_is_valid_and_dated_at_the_epoch() -> None:
    doc, warnings = render([])
    assert warnings == ()
    assert parse(doc).findtext(f"{ATOM}updated") == EPOCH.isoformat()
    assert entry_elements(doc) == []


def test_entries_newest_first_ties_by_id_and_limited() -> None:
    same_time = [make_entry(n, published=T0, updated=T0) for n in (3, 1, 2)]
    doc, _ = render([*same_time, make_entry(9)], replace(INFO, entries_per_feed=3))
    ids = [e.findtext(f"{ATOM}id") for e in entry_elements(doc)]
    assert ids == [
        "urn:aggregator:entry:0009",
        "urn:aggregator:entry:0001",
        "urn:aggregator:entry:0002",
    ]


def test_output_is_byte_identical_whatever_the_input_order() -> None:
    entries = [
        make_entry(n, vias=(ViaLink(href=f"https://v.example/{n}", title="V"),)) for n in range(8)
    ]
    first, _ = render_atom(INFO, entries)
    shuffled = entries[:]
    random.Random(4).shuffle(shuffled)
    again, _ = render_atom(INFO, shuffled)
    assert first == again


def test_golden_feed() -> None:
    via = ViaLink(href="https://wire.example/copy/1", title="Wire Service")
    doc, _ = render([make_entry(1, vias=(via,)), make_entry(2, link=None)])
    assert doc == GOLDEN.read_bytes()


def test_duplicate_entry_ids_keep_the_newest() -> None:
    old = make_entry(1)
    new = replace(make_entry(2), id=old.id)
    doc, warnings = render([old, new])
    assert [e.findtext(f"{ATOM}title") for e in entry_elements(doc)] == ["Story number 2"]
    assert any("duplicate id" in w for w in warnings)


# --- one bad item never takes down the feed (TRAPS 7) -------------------------------------


@pytest.mark.parametrize(
    ("field", "dirty", "clean"),
    [
        ("title", "Bad\x00 title\x07", "Bad title"),
        ("title", "Lone \ud800surrogate", "Lone surrogate"),
        ("summary", "Sum\x0bmary\x1f", "Summary"),
        ("content_html", "<p>Bo\x00dy\udfff</p>", "<p>Body</p>"),
    ],
)
def test_invalid_characters_are_stripped_with_a_warning(field: str, dirty: str, clean: str) -> None:
    changes: dict[str, Any] = {field: dirty}
    doc, warnings = render([make_entry(1, **changes), make_entry(2)])
    tag = {"title": "title", "summary": "summary", "content_html": "content"}[field]
    bad = entry_elements(doc)[1]
    assert bad.findtext(f"{ATOM}{tag}") == clean
    assert len(entry_elements(doc)) == 2
    assert any("urn:aggregator:entry:0001" in w and "control" in w for w in warnings)


def test_invalid_characters_in_names_sources_and_vias() -> None:
    entry = make_entry(
        1,
        authors=("Min\x00istry",),
        categories=("he\x1falth",),
        source=make_attribution(title="Agency\x08 News"),
        vias=(ViaLink(href="https://wire.example/a", title="Wi\x00re"),),
    )
    doc, warnings = render([entry])
    element = entry_elements(doc)[0]
    assert element.findtext(f"{ATOM}author/{ATOM}name") == "Ministry"
    assert attr(element, f"{ATOM}category", "term") == "health"
    assert element.findtext(f"{ATOM}source/{ATOM}title") == "Agency News"
    assert attr(element, f"{ATOM}link[@rel='via']", "title") == "Wire"
    assert len(warnings) == 4


@pytest.mark.parametrize("title", ["", "   ", "\x00\x01"])
def test_missing_title_is_taken_from_the_summary(title: str) -> None:
    doc, warnings = render([make_entry(1, title=title)])
    assert entry_elements(doc)[0].findtext(f"{ATOM}title") == "Summary of story 1."
    assert any("missing title" in w for w in warnings)


def test_missing_title_and_summary_fall_back_to_the_link() -> None:
    doc, warnings = render([make_entry(1, title="", summary=None)])
    assert entry_elements(doc)[0].findtext(f"{ATOM}title") == "https://agency.example/news/1"
    assert any("missing title" in w for w in warnings)


def test_long_summary_title_is_shortened_on_a_word() -> None:
    summary = "word " * 40
    doc, _ = render([make_entry(1, title="", summary=summary)])
    title = text(entry_elements(doc)[0], f"{ATOM}title")
    assert title.endswith("word…")
    assert len(title) <= 81


def test_naive_datetimes_are_taken_as_utc_with_a_warning() -> None:
    naive = datetime(2024, 5, 1, 15, 30)  # naive on purpose: the bad input under test
    entry = make_entry(1, published=naive, updated=naive)
    doc, warnings = render([entry])
    element = entry_elements(doc)[0]
    assert element.findtext(f"{ATOM}published") == "2024-05-01T15:30:00+00:00"
    assert element.findtext(f"{ATOM}updated") == "2024-05-01T15:30:00+00:00"
    assert sum("naive datetime" in w for w in warnings) == 2


def test_other_time_zones_are_written_in_utc() -> None:
    from datetime import timezone

    plus2 = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    doc, warnings = render([make_entry(1, published=plus2, updated=plus2)])
    assert entry_elements(doc)[0].findtext(f"{ATOM}updated") == "2024-05-01T12:00:00+00:00"
    assert warnings == ()


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://x.example/",
        "/relative",
        "http://",
        "http://[unclosed/",  # urllib raises on it
    ],
)
def test_non_http_links_are_dropped_and_content_carries_the_entry(link: str) -> None:
    doc, warnings = render([make_entry(1, link=link, content_html=None)])
    element = entry_elements(doc)[0]
    # The entry links to our page of it instead (issue 13: a reader can reach its text).
    assert alternate_of(element) == our_page_of(element)
    assert element.findtext(f"{ATOM}content") == "Summary of story 1."
    assert any("link: dropped" in w for w in warnings)


def alternate_of(element: etree._Element) -> str | None:
    link = element.find(f"{ATOM}link")
    return None if link is None else link.get("href")


def our_page_of(element: etree._Element) -> str:
    """The URL of our page of an entry without a web address of its own."""
    path = entry_page_path(text(element, f"{ATOM}id"))
    assert re.fullmatch(r"entries/[0-9a-f]{20}\.html", path)
    return INFO.url(path)


def test_non_http_via_links_are_dropped() -> None:
    vias = (
        ViaLink(href="javascript:void(0)", title="evil"),
        ViaLink(href="http://[unclosed/", title="broken"),
        ViaLink(href="https://ok.example/", title="ok"),
    )
    doc, warnings = render([make_entry(1, vias=vias)])
    hrefs = [x.get("href") for x in entry_elements(doc)[0].findall(f"{ATOM}link[@rel='via']")]
    assert hrefs == ["https://ok.example/"]
    assert any("via link: dropped" in w for w in warnings)


def test_entry_without_link_content_or_summary_still_publishes() -> None:
    doc, _ = render([make_entry(1, link=None, content_html=None, summary=None)])
    element = entry_elements(doc)[0]
    assert element.findtext(f"{ATOM}content") == "Story number 1"
    assert alternate_of(element) == our_page_of(element)


def test_entry_without_authors_is_credited_to_its_source() -> None:
    doc, _ = render([make_entry(1, authors=())])
    assert entry_elements(doc)[0].findtext(f"{ATOM}author/{ATOM}name") == "Agency News"


def test_bad_ids_are_replaced_by_stable_ones() -> None:
    entry = replace(make_entry(1), id="not an iri")
    entry = replace(entry, item=replace(entry.item, source=make_attribution(feed_id="agency")))
    doc, warnings = render([entry])
    first, _ = render_atom(INFO, [entry])
    assert doc == first
    element = entry_elements(doc)[0]
    assert text(element, f"{ATOM}id").startswith("urn:aggregator:entry:")
    # The id of our feed of the source, which publish_all writes under that id.
    assert element.findtext(f"{ATOM}source/{ATOM}id") == INFO.url("sources/agency.atom")
    assert len(warnings) == 2


def test_every_kind_of_bad_item_at_once_leaves_the_good_ones() -> None:
    naive = datetime(2024, 5, 1)  # naive on purpose: the bad input under test
    bad = [
        make_entry(1, title="\x00"),
        make_entry(2, link="javascript:x", published=naive),
        make_entry(3, summary="\ud800", content_html="\x00"),
        make_entry(4, authors=("\x01",), categories=("",)),
    ]
    doc, warnings = render([*bad, make_entry(5)])
    assert len(entry_elements(doc)) == 5
    assert len(warnings) >= 5


def test_feed_info_with_control_characters() -> None:
    info = replace(INFO, title="Agg\x00regated", subtitle="\x01", hub="javascript:x")
    doc, warnings = render([make_entry(1)], info)
    root = parse(doc)
    assert root.findtext(f"{ATOM}title") == "Aggregated"
    assert root.find(f"{ATOM}subtitle") is None
    assert b'rel="hub"' not in doc
    assert len(warnings) == 3


def test_sub_feed_paths_get_their_own_id_and_self_link() -> None:
    doc, _ = render_atom(INFO, [make_entry(1)], path="sources/agency.atom", title="Agency")
    root = parse(doc)
    assert root.findtext(f"{ATOM}id") == INFO.id + ":sources/agency.atom"
    assert root.findtext(f"{ATOM}title") == "Agency"
    self_link = attr(root, f"{ATOM}link[@rel='self']", "href")
    assert self_link == "http://127.0.0.1:8080/sources/agency.atom"


# --- the checker itself ------------------------------------------------------------------


def test_validator_reports_each_kind_of_problem() -> None:
    doc, _ = render([make_entry(1), make_entry(2)])
    text = doc.decode()
    cases = {
        "duplicate entry id": text.replace("entry:0001", "entry:0002"),
        "not an RFC 3339": text.replace(
            f"<published>{(T0 + timedelta(hours=1)).isoformat()}",
            "<published>2024-05-01 13:00:00+00:00",
            1,
        ),
        "not an absolute IRI": text.replace(
            'href="https://agency.example/news/1"', 'href="/news/1"'
        ),
        "atom:source has no id": text.replace("<id>https://agency.example/feed.xml</id>", "", 1),
        "is not its newest entry's": text.replace(
            f"<updated>{(T0 + timedelta(hours=2)).isoformat()}</updated>",
            f"<updated>{T0.isoformat()}</updated>",
            1,
        ),
        "RELAX NG": text.replace("<title>Aggregated news</title>", "", 1),
        "not well-formed": text[:-20],
    }
    for expected, broken in cases.items():
        problems = validate_atom(broken.encode())
        assert any(expected in p for p in problems), (expected, problems)


def test_validator_checks_the_schemas_schematron_rules() -> None:
    doc = b"""<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>t</title>
    <updated>2024-01-01T00:00:00Z</updated>
    <entry><id>urn:e</id><title>e</title><updated>2024-01-01T00:00:00Z</updated>
    <source><id>urn:s</id><title>s</title><updated>2024-01-01T00:00:00Z</updated>
    <link href="https://s.example/"/></source></entry></feed>"""
    problems = validate_atom(doc)
    assert any("neither an alternate link nor content" in p for p in problems)
    assert any("no author" in p for p in problems)


# --- any text at all ---------------------------------------------------------------------

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=any_text, summary=any_text, content=any_text, author=any_text, link=any_text)
def test_any_text_publishes_a_valid_feed(
    title: str, summary: str, content: str, author: str, link: str
) -> None:
    entry = make_entry(
        1, title=title, summary=summary, content_html=content, authors=(author,), link=link
    )
    doc, _ = render_atom(INFO, [entry, make_entry(2)])
    assert validate_atom(doc) == []
    assert len(entry_elements(doc)) == 2


def test_every_entry_of_a_broken_source_names_its_repairs() -> None:
    from aggregator.publish.clean import prepare_entries

    broken = make_attribution(feed_id="not an iri", title="Bad\x07 Source", site_link="http://[x/")
    entries = [make_entry(n, source=broken) for n in (1, 2)]
    prepared, warnings = prepare_entries(entries, INFO.base_url)
    assert {e.source.feed_id for e in prepared} == {INFO.url("sources/agency.atom")}
    assert {e.source.title for e in prepared} == {"Bad Source"}
    assert {e.source.link for e in prepared} == {"https://agency.example/feed.xml"}
    for entry in entries:
        mine = [w for w in warnings if w.startswith(f"entry {entry.id}:")]
        assert any("is not an absolute IRI" in w for w in mine)
        assert any("source title" in w for w in mine)
