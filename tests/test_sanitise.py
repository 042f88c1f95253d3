"""The sanitiser: nothing executable survives, only allowed tags and attributes remain."""

from __future__ import annotations

import html
import re
import unicodedata

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.normalise.html import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    GENERIC_ATTRIBUTES,
    html_to_text,
    is_safe_url,
    parse_fragment,
    rewrite_links,
    sanitise,
    serialise_children,
)
from aggregator.normalise.rules import default_rules
from aggregator.publish.clean import xml_text

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<IMG SRC=JaVaScRiPt:alert(1)>",
    "<img src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JAVASCRIPT:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)">x</a>',  # noqa: E501
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="java&#x0A;script:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="&#1;javascript:alert(1)">x</a>',
    '<a href="jav\x00ascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="&amp;#106;avascript:alert(1)">x</a>',
    "<svg><script>alert(1)</script></svg>",
    "<svg onload=alert(1)>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<svg><animate attributeName="href" values="javascript:alert(1)"/></svg>',
    '<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    "<math><mtext><script>alert(1)</script></mtext></math>",
    '<iframe src="https://evil.example/"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="https://evil.example/"><input type="password" name="p"></form>',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background-image:url(javascript:alert(1))">x</p>',
    '<div style="width: expression(alert(1));">x</div>',
    '<p onclick="alert(1)" ONMOUSEOVER="alert(1)">x</p>',
    '<a href="https://ok.example/" target="_blank">x</a>',
    '<body onload="alert(1)">x</body>',
    '<details open ontoggle="alert(1)">x</details>',
    '<video><source onerror="alert(1)"></video>',
    '<img src="x" srcset="javascript:alert(1) 1x">',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<p>unclosed <a href="javascript:alert(1)">x',
    "<<script>script>alert(1)<</script>/script>",
    "<!--<script>alert(1)</script>-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    '<a href="http://ok.example/" onmouseover="alert(1)">x</a>',
    '<blockquote cite="javascript:alert(1)">x</blockquote>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<button formaction="javascript:alert(1)">x</button>',
    "<textarea><script>alert(1)</script></textarea>",
    '<a href="javas&#99;ript:alert(1)">x</a>',
    '<a href="%6A%61%76%61%73%63%72%69%70%74:alert(1)">x</a>',
    '<xss:script xmlns:xss="http://www.w3.org/1999/xhtml">alert(1)</xss:script>',
]

_EXECUTABLE = re.compile(
    r"<\s*(script|iframe|object|embed|form|input|base|meta|link|style|svg|math|button|textarea)"
    r"|\son\w+\s*=|javascript:|vbscript:|data:|srcdoc|expression\(|xlink:",
    re.IGNORECASE,
)


def _full_clean(markup: str) -> str:
    # The way normalise_entry runs it: the lxml link pass first, then the sanitiser.
    root = parse_fragment(markup)
    rewrite_links(root, "https://site.example/post/", default_rules().tracking)
    return sanitise(serialise_children(root))


def _tags_and_attributes(markup: str) -> list[tuple[str, set[str]]]:
    root = lxml.html.fragment_fromstring(markup or "<p></p>", create_parent="div")
    return [(el.tag, set(el.attrib)) for el in root.iterdescendants() if isinstance(el.tag, str)]


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_nothing_executable_survives_the_sanitiser(vector: str) -> None:
    cleaned = sanitise(vector)
    assert not _EXECUTABLE.search(cleaned), cleaned


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_nothing_executable_survives_the_whole_html_pass(vector: str) -> None:
    cleaned = _full_clean(vector)
    assert not _EXECUTABLE.search(cleaned), cleaned


def test_links_get_noopener_and_lose_target() -> None:
    cleaned = sanitise('<a href="https://ok.example/" target="_blank">x</a>')
    assert cleaned == '<a href="https://ok.example/" rel="noopener noreferrer">x</a>'


def test_relative_links_are_resolved_against_the_item_link() -> None:
    cleaned = _full_clean('<p><a href="/a?utm_source=x&amp;id=3">a</a><img src="img/1.jpg"></p>')
    assert 'href="https://site.example/a?id=3"' in cleaned
    assert 'src="https://site.example/post/img/1.jpg"' in cleaned


@pytest.mark.parametrize(
    "markup",
    [
        '<p>Text<img src="https://example.org/p.gif" width="1" height="1"></p>',
        '<p>Text<img src="https://feeds.feedburner.com/~r/x/~4/abc"></p>',
        '<p>Text<img src="https://pixel.wp.com/g.gif?blog=1"></p>',
        '<p>Text<img src="https://www.facebook.com/tr?id=1"></p>',
    ],
)
def test_tracking_images_are_removed(markup: str) -> None:
    assert _full_clean(markup) == "<p>Text</p>"


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("https://example.org/a?b=1&amp;c=2", True),
        ("mailto:press@example.org", True),
        ("HTTPS://EXAMPLE.ORG/", True),  # a scheme in capitals is read, not matched
        ("https://example.org/\u200bjavascript:alert(1)", True),  # a path, not a scheme
        ("/relative/page", True),
        ("ht\u200btps://example.org/", True),
        ("java\u200bscript:alert(1)", False),
        ("&#104;ttps:javascript:alert(1)", True),
        ("&#106;avascript:alert(1)", False),
        ("data:text/html,x", False),
        (" \tjavascript:alert(1)", False),
    ],
)
def test_a_url_is_judged_as_the_most_lenient_reader_takes_it(value: str, safe: bool) -> None:
    assert is_safe_url(value) is safe


@pytest.mark.parametrize(
    "src",
    [
        "https://www.facebook.com/trips/photo.jpg",  # a tracker's path is a prefix of it
        "https://pixel.wp.com.cdn.example/g.jpg",  # a tracker's host is a prefix of it
        "https://notpixel.wp.com/g.jpg",
        "https://t.co/images/card.jpg",  # only t.co/i is a tracker
    ],
)
def test_images_that_only_resemble_a_tracker_stay(src: str) -> None:
    markup = f'<p>Text<img src="{src}" alt="A"></p>'
    assert _full_clean(markup) == markup


def test_real_images_stay() -> None:
    cleaned = _full_clean('<p><img src="https://cdn.example/p.jpg" width="600" alt="A"></p>')
    assert cleaned == '<p><img src="https://cdn.example/p.jpg" width="600" alt="A"></p>'


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a</p><p></p><p> </p><p><br></p>", "<p>a</p>"),
        ("<p><script>x</script></p><p>b</p>", "<p>b</p>"),
        ("<p>&nbsp;</p><p>c</p>", "<p>c</p>"),
    ],
)
def test_empty_paragraphs_are_dropped(markup: str, expected: str) -> None:
    assert sanitise(markup) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>One <b>two</b></p><p>Three</p>", "One two\n\nThree"),
        ("<p>A&amp;B &lt;tag&gt;</p>", "A&B <tag>"),
        ("<figure><img src=x><figcaption>Cap</figcaption></figure><p>Body</p>", "Cap\n\nBody"),
        ("Loose text<br>more", "Loose text more"),
        ("<ul><li>a</li><li>b</li></ul>", "a\n\nb"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected


def test_html_to_text_can_leave_captions_out() -> None:
    markup = "<p>Body</p><figure><img src=x><figcaption>Cap</figcaption></figure>"
    assert html_to_text(markup, skip_captions=True) == "Body"


_html_soup = st.lists(
    st.sampled_from(
        [
            "<p>", "</p>", "<a href='javascript:x'>", "<a href='https://a.example/'>", "</a>",
            "<script>", "</script>", "<svg>", "<img src=x onerror=y>", "<b>", "</b>", "<div>",
            "<iframe>", "<style>", "<table><tr><td>", "<form>", "<input>", "<em>", "&amp;",
            "&#106;", "<!--", "-->", "text", " ", "<br>", "<figure>", "<figcaption>", "\x00",
            "<base href=x>", "<meta>", "<math>", "<template>", "<object>", "<p onclick=x>",
        ]
    ),
    max_size=30,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_html_soup, st.text(max_size=200)))
def test_sanitiser_output_has_only_allowed_tags_and_attributes(markup: str) -> None:
    cleaned = sanitise(markup)
    for tag, attributes in _tags_and_attributes(cleaned):
        assert tag in ALLOWED_TAGS
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        assert attributes <= allowed, (tag, attributes)
    assert not _EXECUTABLE.search(cleaned)


@settings(max_examples=200, deadline=None)
@given(_html_soup)
def test_sanitiser_is_idempotent(markup: str) -> None:
    once = sanitise(markup)
    assert sanitise(once) == once


# -- long texts of character references (html5ever is quadratic in them) -----------------

_TEXTS = ["&amp; word ", "&amp;amp; and ", "plain & words ", "&lt;tag&gt; ", "&#233;t&eacute; "]
_BETWEEN = [
    "<b>", "</b>", '<a href="https://x.example/">', "</a>", "'", '"', "<p>", "</p>", "\n",
    "<!-- c > d & e -->", "<img src='https://x.example/i.png' alt='a > b & c'>",
    '<a title="x > y ', '">', "<br>", "<pre>", "</pre>", "<a title = 'q > r'>", " < ",
    '<!x="a > b">', "<script>", "</script>", "<!---->", "<textarea>", "</textarea>",
]  # fmt: skip
# Runs of text long enough to be cut (thousands of pieces), then something else.
_MARKUP = st.lists(
    st.tuples(st.sampled_from(_TEXTS), st.integers(0, 1500), st.sampled_from(_BETWEEN)),
    min_size=1,
    max_size=5,
).map(lambda parts: "".join(text * count + between for text, count, between in parts))


def _uncut_sanitise(markup: str) -> str:
    """sanitise() as it was before long texts were cut."""
    from aggregator.normalise import html as html_module

    cut = html_module._cut_long_text
    html_module._cut_long_text = lambda text: text
    try:
        return sanitise(markup)
    finally:
        html_module._cut_long_text = cut


def test_a_long_text_of_references_is_cut_and_cleans_the_same() -> None:
    from aggregator.normalise import html as html_module

    markup = "<p>" + "&amp; word " * 20_000 + "</p>"
    assert "<wbr>" in html_module._cut_long_text(markup)  # the cut happens (linear time)
    assert sanitise(markup) == _uncut_sanitise(markup)
    bare = "&amp; word " * 3_000  # text with no tag at all
    assert sanitise(bare) == _uncut_sanitise(bare)


@settings(max_examples=60, deadline=None)
@given(_MARKUP)
def test_cutting_long_texts_never_changes_the_output(markup: str) -> None:
    assert sanitise(markup) == _uncut_sanitise(markup)


# -- the sanitiser as the last word: URLs as any reader could take them -----------------

_READ_AS_JAVASCRIPT = [
    '<a href="java&#x81;script:alert(1)">x</a>',  # C1 control: deleted by XML output once
    '<a href="java\x85script:alert(1)">x</a>',
    '<a href="&#xA0;javascript:alert(1)">x</a>',
    '<a href="&#x2000;javascript:alert(1)">x</a>',
    '<a href="&#x200A;javascript:alert(1)">x</a>',
    '<a href="&#x200B;javascript:alert(1)">x</a>',
    '<a href="&#x2028;javascript:alert(1)">x</a>',
    '<a href="&#x3000;javascript:alert(1)">x</a>',
    '<a href="&#xFEFF;javascript:alert(1)">x</a>',
    '<a href="java&#xFDD0;script:alert(1)">x</a>',
    '<a href="java&#xFFFE;script:alert(1)">x</a>',
    '<a href="java&#x7F;script:alert(1)">x</a>',
    '<a href="java&#x1;script:alert(1)">x</a>',
    '<a href="javascript&amp;colon;alert(1)">x</a>',
    '<img src="java\x9fscript:alert(1)">',  # (&#x9F; is Ÿ to a parser: no control)
    '<a href="&#x202E;javascript:alert(1)">x</a>',
]


@pytest.mark.parametrize("vector", _READ_AS_JAVASCRIPT)
def test_urls_are_judged_as_any_reader_could_take_them(vector: str) -> None:
    for cleaned in (sanitise(vector), xml_text(sanitise(vector))):
        assert "href" not in cleaned
        assert "src" not in cleaned


@pytest.mark.parametrize(
    "markup",
    [
        '<a href="https://ok.example/a?b=1&amp;c=2" rel="noopener noreferrer">ok</a>',
        '<a href="mailto:press@ok.example" rel="noopener noreferrer">m</a>',
        '<a href="/relative/page" rel="noopener noreferrer">r</a>',
        '<a href="//ok.example/x" rel="noopener noreferrer">p</a>',
        '<a href="https://ok.example/caf\u00e9 menu" rel="noopener noreferrer">s</a>',
        '<img src="img/a.jpg" alt="a">',
    ],
)
def test_safe_urls_stay(markup: str) -> None:
    assert sanitise(markup) == markup


def _invisible(char: str) -> bool:
    # Independent of the module's own rule: every control, format, separator or
    # surrogate character, and every noncharacter.
    code = ord(char)
    return (
        unicodedata.category(char)[0] in "CZ"
        or char.isspace()
        or 0xFDD0 <= code <= 0xFDEF
        or code % 0x10000 >= 0xFFFE
    )


def _scriptable(url: str) -> bool:
    read = "".join(c for c in html.unescape(url) if not _invisible(c)).lower()
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", read)
    return scheme is not None and scheme.group(1) not in ("http", "https", "mailto")


_URL_NOISE = st.sampled_from(
    [
        "java", "script", ":", "&#x81;", "&#xA0;", "&#x2000;", "&#x200B;", "&#x2028;",
        "\x85", "\x9f", "\x7f", "&#1;", "&#x09;", "&colon;", "&#106;", "&amp;", " ",
        "\u3000", "\ufeff", "&#xFDD0;", "https", "//x.example/", "mailto", "vbscript",
        "data", "%6A", "/", "?", "#", "\u2028", "&#x202E;", "JaVa",
    ]
)  # fmt: skip
_ATTRIBUTE_SOUP = st.lists(
    st.one_of(
        st.builds(
            lambda tag, attr, parts, event: f'<{tag} {attr}="{"".join(parts)}"{event}>x',
            st.sampled_from(["a", "img", "p", "svg", "math", "iframe", "form"]),
            st.sampled_from(["href", "src", "action", "xlink:href", "formaction", "title"]),
            st.lists(_URL_NOISE, max_size=8),
            st.sampled_from(["", " onclick=alert(1)", " onerror='x'", " style=x"]),
        ),
        _html_soup,
        st.text(max_size=20),
    ),
    max_size=6,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_ATTRIBUTE_SOUP)
def test_the_sanitiser_alone_is_safe_and_publishing_changes_nothing(markup: str) -> None:
    cleaned = sanitise(markup)
    assert xml_text(cleaned) == cleaned  # so publishing cannot make a URL of pieces
    root = lxml.html.fragment_fromstring(cleaned or "<p></p>", create_parent="div")
    for el in root.iterdescendants():
        if not isinstance(el.tag, str):
            continue
        assert el.tag in ALLOWED_TAGS, el.tag
        allowed = ALLOWED_ATTRIBUTES.get(el.tag, set()) | GENERIC_ATTRIBUTES
        assert set(el.attrib) <= allowed | ({"rel"} if el.tag == "a" else set()), el.attrib
        for name in ("href", "src"):
            value = el.get(name)
            assert value is None or not _scriptable(value), (name, value)
