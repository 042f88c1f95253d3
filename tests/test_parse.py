"""parse_feed over fixture files (tests/data/parse/), hostile inputs and the dev corpus."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from aggregator.exceptions import ParseError
from aggregator.model import FeedMeta, ParsedFeed, RawEntry
from aggregator.parse import parse_feed

DATA = Path(__file__).parent / "data" / "parse"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
BASE = "https://feeds.example/"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


def parse_fixture(name: str, **headers: str) -> ParsedFeed:
    return parse_feed((DATA / name).read_bytes(), url=BASE + name, source_id="t", headers=headers)


EXPECTED: dict[str, ParsedFeed] = {
    "rss20.xml": ParsedFeed(
        meta=FeedMeta(
            title="Lowmere Council News",
            link="https://lowmere.example/news/",
            subtitle="Releases from the City of Lowmere",
            updated=utc(2026, 11, 21, 12, 25),
            author="Press Office",
            ttl_minutes=90,
        ),
        entries=(
            RawEntry(
                id="urn:uuid:7ad97ffe-3c8c-f3ac-7f35-abe18313ee8f",
                title="Library opening hours extended",
                link="https://lowmere.example/news/library-hours",
                summary="Short teaser about library hours.",
                # content:encoded wins over description; relative links are left as given.
                content=(
                    "<p>The library will open <b>until 21:00</b>. "
                    '<a href="/news/hours">Details</a></p>'
                ),
                content_type="text/html",
                # dc:creator twice plus <author> "email (Name)", each name once.
                authors=("Mateo Brennan", "Anna Moreau"),
                categories=("Libraries", "Culture"),
                published=utc(2026, 9, 30, 8, 48),
                base=BASE + "rss20.xml",
            ),
            RawEntry(
                id="https://lowmere.example/news/tram",
                title="Tram extension consultation",
                link="https://lowmere.example/news/tram",
                summary="<p>Residents can comment on the tram extension.</p>",
                content="<p>Residents can comment on the tram extension.</p>",
                content_type="text/html",
                base=BASE + "rss20.xml",
                notes=("published date unparseable: 'the second Tuesday of October'",),
            ),
        ),
    ),
    "atom-base.atom": ParsedFeed(
        meta=FeedMeta(
            title="European Space Agency",
            link="https://esa.example/",
            id="tag:esa.example,2026:feed",
            subtitle="News from ESA",
            updated=utc(2026, 11, 20, 8, 0),
            author="European Space Agency",
        ),
        entries=(
            RawEntry(
                id="tag:esa.example,2026:debris",
                title="Debris <em>tracking</em> plan",
                # rel=alternate chosen over the enclosure, resolved against xml:base.
                link="https://esa.example/news/2026/debris",
                summary="ESA agrees next steps on debris tracking.",
                content='<p><img src="debris.png"> Agreed today.</p>',
                content_type="text/html",
                # No entry author: the feed's author is inherited (RFC 4287 §4.2.1).
                authors=("European Space Agency",),
                categories=("space-debris",),
                published=utc(2026, 10, 1, 14, 14),
                updated=utc(2026, 10, 2, 6, 0),
                # The content's own xml:base, for resolving the relative <img src>.
                base="https://cdn.esa.example/img/",
            ),
            RawEntry(
                id="tag:esa.example,2026:gateway",
                title="Lunar gateway update",
                link="https://esa.example/news/2026/gateway",
                summary="Plain text body & more.",
                content="Plain text body & more.",
                content_type="text/plain",
                authors=("Søren Haddad",),
                updated=utc(2026, 11, 5, 10, 0),
                base="https://esa.example/news/",
            ),
        ),
    ),
    "jsonfeed-1.1.json": ParsedFeed(
        meta=FeedMeta(
            title="Reserve Bank",
            link="https://rba.example/",
            id="https://rba.example/feed.json",
            subtitle="Media releases",
            author="Reserve Bank",
        ),
        entries=(
            RawEntry(
                id="https://rba.example/media/2026-11-03",
                title="Cash rate decision",
                link="https://rba.example/media/2026-11-03",
                summary="The board left the cash rate unchanged.",
                content="<p>The board left the cash rate <em>unchanged</em>.</p>",
                content_type="text/html",
                authors=("Governor Sofia Ivanova",),
                categories=("monetary policy", "rates"),
                published=utc(2026, 11, 3, 3, 30),
                updated=utc(2026, 11, 3, 15, 0),
                base=BASE + "jsonfeed-1.1.json",
            ),
            RawEntry(
                id="42",
                link="https://elsewhere.example/labour",
                content="Labour market statement.",
                content_type="text/plain",
                base=BASE + "jsonfeed-1.1.json",
                notes=("published date unparseable: 'last Tuesday'",),
            ),
        ),
    ),
    "jsonfeed-1.0.json": ParsedFeed(
        meta=FeedMeta(
            title="Federal Police", link="https://police.example/", author="Federal Police Media"
        ),
        entries=(
            RawEntry(
                id="fp-2026-10-29",
                title="Record drug seizure",
                link="https://police.example/news/seizure",
                content="Officers seized 40 kg.",
                content_type="text/plain",
                authors=("Detective Ana Silva",),
                published=utc(2026, 10, 29, 6, 11),
                base=BASE + "jsonfeed-1.0.json",
            ),
        ),
    ),
    "no-dates.rss": ParsedFeed(
        meta=FeedMeta(title="Undated", link="https://undated.example/", subtitle="x"),
        entries=tuple(
            RawEntry(
                title=title,
                link=f"https://undated.example/{n}",
                summary=text,
                content=text,
                content_type="text/html",
                base=BASE + "no-dates.rss",
            )
            for n, title, text in [(1, "First", "One"), (2, "Second", "Two")]
        ),
    ),
    "duplicate-guid.rss": ParsedFeed(
        meta=FeedMeta(title="Dupes", link="https://dupes.example/", subtitle="x"),
        entries=tuple(
            RawEntry(
                id=guid,
                title=title,
                summary=text,
                content=text,
                content_type="text/html",
                published=published,
                base=BASE + "duplicate-guid.rss",
            )
            for guid, title, text, published in [
                ("same-id", "Original", "first copy", utc(2026, 11, 2, 10)),
                ("same-id", "Corrected", "second copy", utc(2026, 11, 3, 10)),
                ("other-id", "Other", "third", None),
            ]
        ),
        # Both copies are kept: which one wins is the dedupe stage's decision.
        warning="entries share an id: same-id",
    ),
    "sy-update.rdf": ParsedFeed(
        meta=FeedMeta(
            title="University of Tarnow",
            link="https://tarnow.example/",
            subtitle="News",
            ttl_minutes=6 * 60,  # daily, four times
        ),
        entries=(
            RawEntry(
                id="https://tarnow.example/quantum",
                title="Quantum sensors lab opens",
                link="https://tarnow.example/quantum",
                summary="A new lab.",
                content="A new lab.",
                content_type="text/html",
                authors=("Rahul Rossi",),
                updated=utc(2026, 11, 12, 10, 18),  # dc:date
                base=BASE + "sy-update.rdf",
            ),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_expected_records(name: str) -> None:
    assert parse_fixture(name) == EXPECTED[name]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.xml", "empty response"),
        ("html-page.html", "not a feed (got an HTML page)"),
        ("not-a-feed.xml", "not a feed"),
    ],
)
def test_fixture_is_refused_with_a_clear_message(name: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_fixture(name)
    assert info.value.message == message
    assert info.value.source_id == "t"
    assert info.value.url == BASE + name


def test_whitespace_only_body_is_an_empty_response() -> None:
    with pytest.raises(ParseError, match="empty response"):
        parse_feed(b" \r\n\t", url="u", source_id="s")


def test_text_is_not_a_feed_and_says_why() -> None:
    with pytest.raises(ParseError, match=r"^s \(u\): not a feed \(XML error: "):
        parse_feed(b"just some words", url="u", source_id="s")


def test_html_served_as_html_without_doctype_is_refused() -> None:
    with pytest.raises(ParseError, match=r"got an HTML page"):
        parse_feed(b"<p>hello</p>", url="u", source_id="s", headers={"Content-Type": "text/html"})


def test_broken_xml_is_read_leniently_with_a_warning() -> None:
    parsed = parse_fixture("broken.xml")
    assert parsed.meta.title == "Smith & Sons news"
    assert [e.title for e in parsed.entries] == ["Opening day", "Second item"]
    assert parsed.entries[0].summary == "We open & celebrate."
    assert parsed.warning is not None
    assert "not well-formed" in parsed.warning
    assert "line 2" in parsed.warning


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("charref-surrogate.rss", "&#xD800;"),
        ("charref-beyond-unicode.rss", "&#x110000;"),
        ("charref-overflow.rss", "&#xFFFFFFFF;"),
    ],
)
def test_impossible_character_reference_is_recovered(name: str, reference: str) -> None:
    # feedparser itself raises UnicodeEncodeError / ValueError / OverflowError here.
    parsed = parse_fixture(name)
    assert [e.title for e in parsed.entries] == ["before \ufffd after"]
    assert parsed.warning == f"replaced impossible character references: {reference}"


def test_decimal_surrogate_reference_is_recovered() -> None:
    body = b"<rss version='2.0'><channel><title>a&#55296;b</title></channel></rss>"
    assert parse_feed(body, url="u", source_id="s").meta.title == "a\ufffdb"


def test_backslash_in_doctype_entity_is_recovered() -> None:
    # feedparser itself raises re.error ("bad escape \q") on this document.
    parsed = parse_fixture("doctype-backslash.rss")
    assert [e.title for e in parsed.entries] == ["Entry"]
    assert parsed.meta.title == "Backslash Smith\\q Sons"  # plain text: expanded by us
    assert parsed.warning is not None
    assert "entity declarations" in parsed.warning


def entity_bomb(prolog: bytes = b'<!DOCTYPE rss [\n<!ENTITY e "{value}">\n]>\n') -> bytes:
    value = b"A" * 1024
    references = b"&e;" * 33_000  # ~100 KB of input, ~34 MB once expanded
    return (
        b'<?xml version="1.0"?>\n'
        + prolog.replace(b"{value}", value)
        + b'<rss version="2.0"><channel><title>'
        + references
        + b"</title><item><title>x</title></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("label", "body"),
    [
        ("internal subset", entity_bomb()),
        ("entity outside the subset", entity_bomb(b'<!DOCTYPE rss>\n<!ENTITY e "{value}">\n')),
        (
            "subset with an unbalanced quote",
            entity_bomb(b'<!DOCTYPE rss [\n<!-- it\'s -->\n<!ENTITY e "{value}">\n]>\n'),
        ),
        ("utf-16", entity_bomb().decode("ascii").encode("utf-16")),
    ],
)
def test_entity_amplification_is_not_expanded(label: str, body: bytes) -> None:
    assert 95_000 < len(body) < 220_000
    parsed = parse_feed(body, url="u", source_id="s")
    assert parsed.meta.title is not None
    # Unexpanded, the title is the ~100 KB of references, not tens of megabytes.
    assert len(parsed.meta.title) < 200_000, label
    assert "A" * 2000 not in parsed.meta.title
    assert [e.title for e in parsed.entries] == ["x"]
    assert parsed.warning is not None
    assert "entity declarations" in parsed.warning


def test_doctype_without_subset_is_kept_harmless() -> None:
    body = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
        b'<rss version="0.91"><channel><title>Old &amp; fine</title>'
        b"<item><title>One</title><link>https://old.example/1</link></item></channel></rss>"
    )
    parsed = parse_feed(body, url="u", source_id="s")
    assert parsed.meta.title == "Old & fine"
    assert parsed.warning is None


def test_any_feedparser_exception_becomes_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(feedparser, "parse", explode)
    # RSS 1.0: a document the fast path leaves to feedparser.
    with pytest.raises(ParseError, match="malformed in a way the feed parser cannot read"):
        parse_fixture("sy-update.rdf")


NON_ASCII_RSS = (
    '<?xml version="1.0" encoding="{decl}"?><rss version="2.0"><channel>'
    "<title>Müller “quoted” café</title>"
    "<item><title>Zoë Núñez</title></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("encoding", "declared", "content_type"),
    [
        ("utf-8", "utf-8", "application/rss+xml; charset=iso-8859-1"),
        ("utf-8", "utf-8", "text/xml; charset=windows-1252"),
        ("utf-8", "utf-8", "application/xml; charset=utf-16"),
        ("utf-8", "utf-8", "application/xml; charset=no-such-charset"),
        ("cp1252", "windows-1252", "application/rss+xml; charset=utf-8"),
        ("cp1252", "utf-8", "application/rss+xml; charset=utf-8"),
        ("cp1252", "windows-1252", "application/rss+xml; charset=utf-16"),
        ("utf-8", "utf-8", "text/xml"),
        ("latin-1", "iso-8859-1", "application/rss+xml; charset=iso-8859-1"),
        ("utf-16", "utf-16", "application/rss+xml; charset=utf-16"),
        ("utf-16", "utf-16", "application/rss+xml; charset=iso-8859-1"),
        ("utf-8", "iso-8859-1", "application/rss+xml"),
        ("cp1252", "utf-8", ""),
    ],
)
def test_wrong_declared_charset_still_gives_readable_text(
    encoding: str, declared: str, content_type: str
) -> None:
    text = NON_ASCII_RSS.format(decl=declared)
    if encoding == "latin-1":
        text = text.replace("“", '"').replace("”", '"')
    body = text.encode(encoding)
    headers = {"Content-Type": content_type} if content_type else {}
    parsed = parse_feed(body, url="u", source_id="s", headers=headers)
    expected_title = "Müller “quoted” café" if encoding != "latin-1" else 'Müller "quoted" café'
    assert parsed.meta.title == expected_title
    assert [e.title for e in parsed.entries] == ["Zoë Núñez"]


def test_declared_charset_that_cannot_fit_is_reported() -> None:
    body = NON_ASCII_RSS.format(decl="utf-8").encode()
    parsed = parse_feed(
        body, url="u", source_id="s", headers={"content-type": "text/xml; charset=utf-16"}
    )
    assert parsed.warning is not None
    assert "declared charset 'utf-16' does not match the bytes; ignored" in parsed.warning


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
        (b'{"title": "no version", "items": []}', "JSON without a JSON Feed version"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {}}', "without an items list"),
    ],
)
def test_json_that_is_not_a_json_feed_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, url="u", source_id="s", headers={"content-type": "application/feed+json"})


def test_json_feed_skips_items_that_are_not_objects() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": ["junk", {"id": "1", "content_text": "x"}],
        }
    ).encode()
    parsed = parse_feed(body, url="u", source_id="s")
    assert [e.id for e in parsed.entries] == ["1"]
    assert parsed.warning == "skipped 1 items that are not JSON objects"


def test_json_feed_naive_date_is_taken_as_utc() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [{"id": "1", "content_text": "x", "date_published": "2026-11-03T10:00:00"}],
        }
    ).encode()
    assert parse_feed(body, url="u", source_id="s").entries[0].published == utc(2026, 11, 3, 10)


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_json_feed_date_outside_the_calendar_in_utc_is_unparseable_not_fatal(date: str) -> None:
    # In UTC these fall before year 1 or after 9999: astimezone raised OverflowError.
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [{"id": "1", "content_text": "x", "date_published": date}],
        }
    ).encode()
    (entry,) = parse_feed(body, url="u", source_id="s").entries
    assert entry.published is None
    assert any("unparseable" in note for note in entry.notes)


def test_whatever_goes_wrong_reading_a_feed_is_that_feed_s_parse_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fault injection: a surprise from the parsing libraries (TRAPS 2) or a bug of ours.
    from aggregator import parse

    def surprise(*args: object, **kwargs: object) -> None:
        raise RuntimeError("surprise")

    monkeypatch.setattr(parse.fast, "read", surprise)
    with pytest.raises(ParseError, match=r"could not be read \(RuntimeError: surprise\)"):
        parse_feed(
            b"<rss version='2.0'><channel><title>t</title></channel></rss>", url="u", source_id="s"
        )


def test_rss_author_email_with_long_tld_keeps_the_name() -> None:
    # feedparser alone turns "press@lowmere.example (Press Office)" into name "ple (Press Office".
    body = (
        b"<rss version='2.0'><channel><title>t</title><item><title>i</title>"
        b"<author>jo@news.example (Jo Park)</author></item>"
        b"<item><title>j</title><author>only@news.example</author></item></channel></rss>"
    )
    entries = parse_feed(body, url="u", source_id="s").entries
    # An address alone names no one: the author is then decided like a missing one.
    assert [e.authors for e in entries] == [("Jo Park",), ()]


def test_ttl_wins_over_sy_update_period_and_bad_ttl_is_ignored() -> None:
    template = (
        "<rss version='2.0' xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'><channel>"
        "<title>t</title>{ttl}<sy:updatePeriod>hourly</sy:updatePeriod></channel></rss>"
    )
    with_ttl = template.format(ttl="<ttl>30</ttl>").encode()
    bad_ttl = template.format(ttl="<ttl>soon</ttl>").encode()
    assert parse_feed(with_ttl, url="u", source_id="s").meta.ttl_minutes == 30
    assert parse_feed(bad_ttl, url="u", source_id="s").meta.ttl_minutes == 60


def test_relative_xml_base_is_resolved_against_the_document_url() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>'
        b'<entry><id>urn:e</id><title>e</title><content type="html" xml:base="/media/">'
        b"&lt;img src='a.png'&gt;</content></entry></feed>"
    )
    entry = parse_feed(body, url="https://site.example/feeds/all.atom", source_id="s").entries[0]
    assert entry.base == "https://site.example/media/"


def plain_values(value: object) -> bool:
    """True when nothing of feedparser's types (FeedParserDict, struct_time) is inside."""
    if value is None or type(value) in (str, int, bool, datetime):
        return True
    if type(value) is tuple:
        return all(plain_values(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(plain_values(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_library_objects_escape(name: str) -> None:
    assert plain_values(parse_fixture(name))


# ---------------------------------------------------------------------------------------------
# The dev corpus: 15 feed files dropped in seeds/


def corpus_feed_ids() -> dict[str, set[str]]:
    labels = json.loads((CORPUS / "labels.json").read_text())
    ids: dict[str, set[str]] = defaultdict(set)
    for item in labels["items"]:
        if item["kind"] != "seed-text":
            ids[item["file"]].add(item["key"])
    return ids


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared dev corpus is not present")
def test_corpus_feeds_parse_with_the_labelled_entries() -> None:
    expected = corpus_feed_ids()
    assert len(expected) == 15
    for relpath, ids in sorted(expected.items()):
        parsed = parse_feed((CORPUS / relpath).read_bytes(), url=relpath, source_id=relpath)
        assert parsed.warning is None, relpath
        assert parsed.meta.title, relpath
        assert {e.id for e in parsed.entries} == ids, relpath
        for entry in parsed.entries:
            assert entry.title, relpath
            assert entry.link is not None
            assert entry.link.startswith("https://"), relpath
            assert entry.content_type == "text/html"
            assert entry.content, relpath
            assert entry.published is not None
            assert entry.published.tzinfo is UTC
            assert entry.notes == ()


BAD_BASES = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://[bad/"><id>urn:b</id>
<title>Base Org</title><updated>2024-05-01T10:00:00Z</updated>
<entry xml:base="http://[worse/"><id>urn:b1</id><title>One</title>
<updated>2024-05-01T10:00:00Z</updated><link href="rel/1"/>
<content type="html" xml:base="http://[content/">&lt;p&gt;Text.&lt;/p&gt;</content></entry>
<entry><id>urn:b2</id><title>Two</title><updated>2024-05-01T10:00:00Z</updated>
<link href="https://b.example/2"/><content type="html">&lt;p&gt;Fine.&lt;/p&gt;</content></entry>
</feed>"""


@pytest.mark.parametrize("allow_fast", [True, False])
def test_an_xml_base_urllib_cannot_join_is_ignored_not_fatal(allow_fast: bool) -> None:
    # urljoin raises on "http://[bad/": it used to turn the whole feed into an error.
    from aggregator.parse import read_feed

    feed = read_feed(BAD_BASES, url="https://b.example/feed", source_id="b", allow_fast=allow_fast)
    one, two = feed.feed.entries
    assert (one.title, two.title) == ("One", "Two")
    assert one.base == "https://b.example/feed"
    # (URLs resolved against the bad base are lost: feedparser's own join gives "" there.)
