"""The lxml fast path gives exactly feedparser's records, or declines.

Every document is read twice, with the fast path allowed and with feedparser forced
(`read_feed(..., allow_fast=False)`), and the records must be equal whenever the fast
path took the document: fixture files, the dev corpus, bench documents and
hypothesis-generated RSS 2.0 / Atom 1.0 with entities, markup, unicode, relative links,
xml:base, author forms and dates in many shapes.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from feedparser.datetimes import _parse_date
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aggregator.exceptions import ParseError
from aggregator.parse import Reading, read_feed
from aggregator.parse.fast import parse_date

DATA = Path(__file__).parent / "data" / "parse"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev" / "seeds"
BENCH = Path(__file__).parent.parent / "bench"
URL = "https://feeds.example/path/feed.xml"


def both(body: bytes, headers: dict[str, str] | None = None) -> tuple[Reading, Reading]:
    quick = read_feed(body, url=URL, source_id="s", headers=headers)
    reference = read_feed(body, url=URL, source_id="s", headers=headers, allow_fast=False)
    return quick, reference


def assert_same(body: bytes, headers: dict[str, str] | None = None) -> Reading:
    """Both readings agree (records or the ParseError message); returns the quick one."""
    try:
        reference = read_feed(body, url=URL, source_id="s", headers=headers, allow_fast=False)
    except ParseError as error:
        with pytest.raises(ParseError) as quick_error:
            read_feed(body, url=URL, source_id="s", headers=headers)
        assert quick_error.value.message == error.message
        return Reading(feed=None, path="error")  # type: ignore[arg-type]
    quick = read_feed(body, url=URL, source_id="s", headers=headers)
    assert quick.feed == reference.feed, quick.declined
    return quick


def feed_files() -> list[Path]:
    files = sorted(p for p in DATA.iterdir() if p.is_file())
    if SEEDS.is_dir():
        files += sorted(SEEDS.glob("*.xml"))
    return files


@pytest.mark.parametrize("path", feed_files(), ids=lambda p: p.name)
def test_files_read_the_same(path: Path) -> None:
    assert_same(path.read_bytes())


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the shared dev corpus is not present")
@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.xml")), ids=lambda p: p.name)
def test_corpus_feeds_take_the_fast_path(path: Path) -> None:
    quick, _ = both(path.read_bytes())
    assert quick.path == "fast", quick.declined


@pytest.mark.parametrize("name", ["rss20.xml", "atom-base.atom", "no-dates.rss"])
def test_fixtures_take_the_fast_path(name: str) -> None:
    quick, _ = both((DATA / name).read_bytes())
    assert quick.path == "fast", quick.declined


def test_bench_documents_take_the_fast_path_and_read_the_same() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from fetch import feed_document
    finally:
        sys.path.remove(str(BENCH))
    for index in range(6):
        quick = assert_same(feed_document(index))
        assert quick.path == "fast", quick.declined


# ---------------------------------------------------------------------------------------------
# Fallback triggers: each really goes to feedparser, and the result is still the same.

RSS_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
SIMPLE_ITEM = "<item><title>t</title><link>https://a.example/1</link></item>"


def rss(channel_extra: str = "", item: str = SIMPLE_ITEM, *, head: str = RSS_HEAD) -> bytes:
    return (
        f'{head}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:media="http://search.yahoo.com/mrss/"'
        ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        f"<channel><title>Feed</title>{channel_extra}{item}</channel></rss>"
    ).encode()


FALLBACKS: list[tuple[str, bytes, dict[str, str] | None, str]] = [
    ("not well-formed", rss(item="<item><title>a & b</title></item>"), None, "lxml"),
    ("undefined entity", rss(item="<item><title>a&nbsp;b</title></item>"), None, "lxml"),
    (
        "doctype without subset",
        rss(head=RSS_HEAD + '<!DOCTYPE rss SYSTEM "http://x.example/rss.dtd">\n'),
        None,
        "DOCTYPE",
    ),
    (
        "doctype with entities",
        rss(
            head=RSS_HEAD + '<!DOCTYPE rss [<!ENTITY e "boom">]>\n',
            item="<item><title>&e;</title></item>",
        ),
        None,
        "repairs",
    ),
    ("rss 0.91", rss().replace(b'version="2.0"', b'version="0.91"'), None, "RSS version"),
    (
        "rss 1.0",
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        b' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>t</title></channel>'
        b'<item rdf:about="https://a.example/1"><title>i</title></item></rdf:RDF>',
        None,
        "RSS 0.90/1.0",
    ),
    (
        "atom 0.3",
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title>'
        b"<entry><title>e</title><id>urn:x</id></entry></feed>",
        None,
        "root element",
    ),
    (
        "latin-1 declaration",
        rss(head='<?xml version="1.0" encoding="iso-8859-1"?>'),
        None,
        "encoding",
    ),
    ("xml 1.1", rss(head='<?xml version="1.1" encoding="utf-8"?>'), None, "prolog"),
    ("text/html content type", rss(), {"Content-Type": "text/html"}, "not an XML media type"),
    ("headers without content type", rss(), {"ETag": '"x"'}, "without a Content-Type"),
    (
        "charset latin-1",
        rss(),
        {"Content-Type": "application/rss+xml; charset=iso-8859-1"},
        "charset",
    ),
    (
        "text/xml without charset, non-ASCII",
        rss(item="<item><title>café</title></item>"),
        {"Content-Type": "text/xml"},
        "charset",
    ),
    (
        "impossible character reference",
        rss(item="<item><title>&#xD800;</title></item>"),
        None,
        "repairs",
    ),
    (
        "markup in a title",
        rss(item="<item><title>a <b>b</b></title></item>"),
        None,
        "markup inside",
    ),
    ("repeated title", rss(item="<item><title>a</title><title>b</title></item>"), None, "repeated"),
    (
        "unknown namespace",
        rss().replace(b"<channel>", b'<channel xmlns:x="urn:x"><x:thing>1</x:thing>'),
        None,
        "unknown namespace",
    ),
    ("itunes author", rss(item="<item><itunes:author>A</itunes:author></item>"), None, "handler"),
    ("media title", rss(item="<item><media:title>A</media:title></item>"), None, "handler"),
    ("textInput", rss("<textInput><title>x</title></textInput>"), None, "handler"),
    (
        "xhtml content",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:e</id>'
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>'
        b"</entry></feed>",
        None,
        "content of type",
    ),
    (
        "base64 content",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:e</id>'
        b'<content type="image/png">aGVsbG8=</content></entry></feed>',
        None,
        "content of type",
    ),
    (
        "prefix bound to another module",
        rss()
        .replace(b'xmlns:media="http://search.yahoo.com/mrss/"', b'xmlns:dc2="x"')
        .replace(b"xmlns:dc=", b'xmlns:content2="http://purl.org/dc/elements/1.1/" xmlns:dc='),
        None,
        "",
    ),
    (
        "dc prefix bound to the content module",
        rss().replace(
            b'xmlns:dc="http://purl.org/dc/elements/1.1/"',
            b'xmlns:dc="http://purl.org/rss/1.0/modules/content/" xmlns:d="http://purl.org/dc/elements/1.1/"',
        ),
        None,
        "prefix 'dc' bound",
    ),
]


@pytest.mark.parametrize(
    ("label", "body", "headers", "reason"), FALLBACKS, ids=[f[0] for f in FALLBACKS]
)
def test_fallback_trigger_goes_to_feedparser(
    label: str, body: bytes, headers: dict[str, str] | None, reason: str
) -> None:
    try:
        quick = read_feed(body, url=URL, source_id="s", headers=headers)
    except ParseError:
        with pytest.raises(ParseError):
            read_feed(body, url=URL, source_id="s", headers=headers, allow_fast=False)
        return
    if label == "prefix bound to another module":
        # A harmless renaming: the fast path may take it, and must then agree.
        assert_same(body, headers)
        return
    assert quick.path == "feedparser", label
    assert quick.declined is not None
    assert reason in quick.declined
    assert_same(body, headers)


def test_entity_bomb_never_reaches_lxml() -> None:
    value = "A" * 1024
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY e "{value}">\n]>\n'
        '<rss version="2.0"><channel><title>' + "&e;" * 33_000 + "</title>"
        "<item><title>x</title></item></channel></rss>"
    ).encode()
    quick, _ = both(body)
    assert quick.path == "feedparser"
    assert quick.feed.meta.title is not None
    assert "A" * 2000 not in quick.feed.meta.title


def test_doctype_after_repairs_still_declines() -> None:
    # _prepare keeps a DOCTYPE without subset; the fast path must still refuse it.
    body = rss(head='<?xml version="1.0"?>\n<!DOCTYPE rss>\n')
    quick, reference = both(body)
    assert quick.path == "feedparser"
    assert "DOCTYPE" in (quick.declined or "")
    assert quick.feed == reference.feed


# ---------------------------------------------------------------------------------------------
# Dates: the fast computation is feedparser's _parse_date for every string


DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
ZONES = ["GMT", "UT", "UTC", "Z", "EST", "EDT", "CST", "PDT", "+0000", "+0530", "-0745", "+1400"]


@st.composite
def rfc822_dates(draw: st.DrawFn) -> str:
    day = draw(st.integers(0, 32))
    day_text = draw(st.sampled_from([f"{day}", f"{day:02d}"]))
    name = draw(st.sampled_from(["", *[f"{d}, " for d in DAY_NAMES]]))
    month = draw(st.sampled_from(MONTHS))
    year = draw(st.integers(1, 9999))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 61)),
        draw(st.integers(0, 61)),
    )
    zone = draw(st.sampled_from(ZONES))
    return f"{name}{day_text} {month} {year:04d} {hour:02d}:{minute:02d}:{second:02d} {zone}"


@st.composite
def rfc3339_dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(1, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 61)),
        draw(st.integers(0, 61)),
    )
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".999999999"]))
    zone = draw(st.sampled_from(["Z", "+00:00", "+05:30", "-08:00", "+14:00", "-12:45", "z"]))
    separator = draw(st.sampled_from(["T", "T", "t", " "]))
    clock = f"{hour:02d}:{minute:02d}:{second:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{clock}{fraction}{zone}"


any_date = st.one_of(
    rfc822_dates(),
    rfc3339_dates(),
    st.text(max_size=40),
    st.sampled_from(
        ["2026-11-03", "Tuesday", "Sat, 17 Oct 2026 08:10 +0000", "0001-01-01T00:00:00+01:00"]
    ),
)


@settings(max_examples=1500, deadline=None)
@given(any_date)
@example("Sat, 17 Oct 2026 08:10:00 +0000")
@example("2024-05-01T10:00:00Z")
@example("0001-01-01T00:30:00+01:00")
@example("9999-12-31T23:59:59-01:00")
@example("31 Feb 2026 10:00:00 GMT")
def test_fast_dates_equal_feedparser(value: str) -> None:
    assert parse_date(value) == _parse_date(value)


# ---------------------------------------------------------------------------------------------
# Generated documents


def xml_chars(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[str]:
    alphabet = st.one_of(
        st.sampled_from(list("abc XYZ<>&\"'/=;#-_.:()@é\u00c3\u00a9\u0080\u0093\u00a0\t\n")),
        st.characters(
            min_codepoint=0x20,
            max_codepoint=0x2FFFF,
            exclude_categories=["Cs", "Co"],
            exclude_characters="\ufffe\uffff",
        ),
    )
    return st.text(alphabet, min_size=min_size, max_size=max_size)


@st.composite
def text_node(draw: st.DrawFn, *, markup: bool = True) -> str:
    """Text as it may sit in a feed: escaped, as CDATA, as character references, or HTML."""
    value = draw(xml_chars())
    if markup and draw(st.booleans()):
        tag = draw(st.sampled_from(["p", "b", "em", "a", "script", "blink"]))
        value = f"<{tag}>{value}</{tag}>"
    style = draw(st.sampled_from(["escape", "cdata", "charref", "entity"]))
    if style == "cdata" and "]]>" not in value:
        return f"<![CDATA[{value}]]>"
    if style == "charref":
        return "".join(f"&#{ord(c)};" if not c.isalnum() else c for c in value)
    if style == "entity":
        return escape(value).replace("é", "&#xE9;") + draw(
            st.sampled_from(["", "&amp;amp;", "&#8217;"])
        )
    return escape(value)


links = st.sampled_from(
    [
        "https://site.example/a",
        "https://site.example/a?x=1&amp;y=2",
        "/relative/path",
        "relative",
        "../up",
        "https:///three-slashes",
        "  https://site.example/padded  ",
        "javascript:alert(1)",
        "",
    ]
)
bases = st.sampled_from(["", "https://base.example/dir/", "/other/", "sub/", "javascript:x"])
dates = st.one_of(rfc822_dates(), rfc3339_dates(), st.sampled_from(["", "garbage", "2026-11-03"]))
authors = st.sampled_from(
    [
        "Jo Park",
        "jo@news.example (Jo Park)",
        "jo@news.example",
        "Jo Park <jo@ex.com>",
        "",
        "  Ann  ",
        "press@lowmere.example (Press Office)",
    ]
)
categories = st.sampled_from(["Local", "Local", "Culture & Arts", "", " spaced "])


def maybe(draw: st.DrawFn, value: str) -> str:
    return value if draw(st.booleans()) else ""


def xml_base(draw: st.DrawFn) -> str:
    base = draw(bases)
    return f" xml:base={quoteattr(base)}" if base and draw(st.booleans()) else ""


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    parts = [maybe(draw, f"<title>{draw(text_node(markup=False))}</title>")]
    parts.append(maybe(draw, f"<link>{draw(links)}</link>"))
    permalink = draw(
        st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"', ' isPermaLink="True"'])
    )
    parts.append(maybe(draw, f"<guid{permalink}>{draw(links)}</guid>"))
    parts.append(maybe(draw, f"<description>{draw(text_node())}</description>"))
    parts.append(maybe(draw, f"<content:encoded>{draw(text_node())}</content:encoded>"))
    parts.append(maybe(draw, f"<pubDate>{escape(draw(dates))}</pubDate>"))
    parts.append(maybe(draw, f"<dc:date>{escape(draw(dates))}</dc:date>"))
    parts.extend(
        f"<author>{escape(draw(authors))}</author>" for _ in range(draw(st.integers(0, 2)))
    )
    parts.extend(
        f"<dc:creator>{escape(draw(authors))}</dc:creator>" for _ in range(draw(st.integers(0, 2)))
    )
    for _ in range(draw(st.integers(0, 3))):
        domain = maybe(draw, ' domain="tax"')
        parts.append(f"<category{domain}>{escape(draw(categories))}</category>")
    parts.append(
        maybe(draw, f'<enclosure url={quoteattr(draw(links))} length="1" type="audio/mpeg"/>')
    )
    parts.append(maybe(draw, f'<atom:link rel="alternate" href={quoteattr(draw(links))}/>'))
    parts.append(maybe(draw, '<media:content url="https://m.example/x.jpg" medium="image"/>'))
    parts.append(
        maybe(draw, "<comments>https://site.example/c</comments><wfw:commentRss>x</wfw:commentRss>")
    )
    parts.append(maybe(draw, '<source url="https://s.example/feed">Other</source>'))
    parts.append(maybe(draw, "<!-- a comment --><?pi x?>"))
    parts = draw(st.permutations(parts))
    return f"<item{xml_base(draw)}>{''.join(parts)}</item>"


@st.composite
def rss_document(draw: st.DrawFn) -> bytes:
    channel = [f"<title>{draw(text_node(markup=False))}</title>"]
    channel.append(maybe(draw, f"<link>{draw(links)}</link>"))
    channel.append(maybe(draw, f"<description>{draw(text_node())}</description>"))
    channel.append(maybe(draw, f"<lastBuildDate>{escape(draw(dates))}</lastBuildDate>"))
    channel.append(maybe(draw, f"<pubDate>{escape(draw(dates))}</pubDate>"))
    channel.append(maybe(draw, f"<managingEditor>{escape(draw(authors))}</managingEditor>"))
    channel.append(maybe(draw, f"<ttl>{draw(st.sampled_from(['60', '0', 'soon', ' 15 ']))}</ttl>"))
    channel.append(maybe(draw, "<sy:updatePeriod>daily</sy:updatePeriod>"))
    channel.append(
        maybe(draw, f"<sy:updateFrequency>{draw(st.sampled_from(['2', 'x']))}</sy:updateFrequency>")
    )
    channel.append(maybe(draw, f'<atom:link rel="self" href={quoteattr(draw(links))}/>'))
    channel.append(
        maybe(
            draw,
            "<image><url>https://i.example/l.png</url><title>Logo</title><link>/</link></image>",
        )
    )
    channel.append(maybe(draw, "<language>en</language><generator>gen</generator>"))
    channel = draw(st.permutations(channel))
    items = draw(st.lists(rss_item(), max_size=4))
    head = draw(st.sampled_from([RSS_HEAD, "", "\ufeff" + RSS_HEAD, "<?xml version='1.0'?>\n"]))
    return (
        f'{head}<rss version="2.0"{xml_base(draw)} xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"'
        ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
        ' xmlns:wfw="http://wellformedweb.org/CommentAPI/">'
        f"<channel>{''.join(channel)}{''.join(items)}</channel></rss>"
    ).encode()


@st.composite
def atom_text(draw: st.DrawFn, name: str) -> str:
    kind = draw(
        st.sampled_from(["", ' type="text"', ' type="html"', ' type="text/html"', ' type="TEXT"'])
    )
    return f"<{name}{kind}{xml_base(draw)}>{draw(text_node())}</{name}>"


@st.composite
def atom_person(draw: st.DrawFn, name: str = "author") -> str:
    inner = [maybe(draw, f"<name>{escape(draw(authors))}</name>")]
    inner.append(maybe(draw, "<email>jo@news.example</email>"))
    inner.append(maybe(draw, f"<uri>{draw(links)}</uri>"))
    return f"<{name}>{''.join(draw(st.permutations(inner)))}</{name}>"


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    parts = [maybe(draw, draw(atom_text("title")))]
    parts.append(maybe(draw, f"<id>{draw(links)}</id>"))
    for _ in range(draw(st.integers(0, 3))):
        rel = draw(
            st.sampled_from(
                ["", ' rel="alternate"', ' rel="enclosure"', ' rel="related"', ' rel="self"']
            )
        )
        kind = draw(
            st.sampled_from(["", ' type="text/html"', ' type="application/pdf"', ' type="HTML"'])
        )
        parts.append(f"<link{rel}{kind} href={quoteattr(draw(links))}{xml_base(draw)}/>")
    parts.append(maybe(draw, f"<updated>{escape(draw(dates))}</updated>"))
    parts.append(maybe(draw, f"<published>{escape(draw(dates))}</published>"))
    parts.extend(draw(atom_person()) for _ in range(draw(st.integers(0, 2))))
    parts.append(maybe(draw, draw(atom_person("contributor"))))
    for _ in range(draw(st.integers(0, 2))):
        label = maybe(draw, ' label="L"')
        parts.append(f"<category term={quoteattr(draw(categories))}{label}/>")
    parts.append(maybe(draw, draw(atom_text("summary"))))
    parts.append(maybe(draw, draw(atom_text("content"))))
    parts.append(maybe(draw, "<rights>(c)</rights>"))
    parts = draw(st.permutations(parts))
    return f"<entry{xml_base(draw)}>{''.join(parts)}</entry>"


@st.composite
def atom_document(draw: st.DrawFn) -> bytes:
    feed = [draw(atom_text("title")), f"<id>{draw(links)}</id>"]
    feed.append(maybe(draw, draw(atom_text("subtitle"))))
    feed.append(maybe(draw, f"<updated>{escape(draw(dates))}</updated>"))
    feed.append(maybe(draw, f'<link rel="self" href={quoteattr(draw(links))}/>'))
    feed.append(maybe(draw, f"<link href={quoteattr(draw(links))}/>"))
    feed.extend(draw(atom_person()) for _ in range(draw(st.integers(0, 2))))
    feed.append(maybe(draw, "<generator>g</generator><icon>/i.png</icon>"))
    feed = draw(st.permutations(feed))
    entries = draw(st.lists(atom_entry(), max_size=4))
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
        f"{xml_base(draw)}>{''.join(feed)}{''.join(entries)}</feed>"
    ).encode()


headers = st.sampled_from(
    [
        None,
        {"Content-Type": "application/rss+xml"},
        {"Content-Type": "application/atom+xml; charset=utf-8"},
        {"Content-Type": "text/xml"},
        {"Content-Type": "application/xml", "Content-Location": "https://loc.example/feeds/"},
        {"Content-Type": "text/html"},
    ]
)

GENERATED = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@GENERATED
@given(rss_document(), headers)
def test_generated_rss_reads_the_same(body: bytes, given_headers: dict[str, str] | None) -> None:
    assert_same(body, given_headers)


@GENERATED
@given(atom_document(), headers)
def test_generated_atom_reads_the_same(body: bytes, given_headers: dict[str, str] | None) -> None:
    assert_same(body, given_headers)


def test_simple_generated_shapes_are_fast() -> None:
    now = datetime(2026, 11, 3, 10, tzinfo=UTC)
    for offset in range(3):
        stamp = now + timedelta(hours=offset)
        body = rss(
            "<link>https://site.example/</link><ttl>30</ttl>",
            f"<item><title>One &amp; two</title><link>https://site.example/{offset}</link>"
            f"<guid isPermaLink='false'>g{offset}</guid>"
            f"<pubDate>{stamp.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            "<dc:creator>Ann</dc:creator><category>Local</category>"
            "<description><![CDATA[<p>Hi</p>]]></description></item>",
        )
        quick = assert_same(body)
        assert quick.path == "fast", quick.declined
        assert quick.feed.entries[0].published == stamp


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(rss_document(), atom_document()))
def test_generated_documents_take_the_fast_path(body: bytes) -> None:
    # Keeps the differential tests above from passing vacuously: without headers, every
    # generated shape is one the fast path reads.
    quick = read_feed(body, url=URL, source_id="s")
    assert quick.path == "fast", quick.declined
