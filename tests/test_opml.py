"""OPML import and export."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.exceptions import ConfigError
from aggregator.sources.opml import OpmlSource, find_duplicates, read_opml, write_opml

DATA = Path(__file__).parent / "data" / "opml"


def read(name: str) -> list[OpmlSource]:
    return read_opml((DATA / name).read_bytes(), name=name)


def test_nested_folders_become_tags() -> None:
    assert read("nested.opml") == [
        OpmlSource("https://news.example.org/feed.xml", "Example Daily", ("News",)),
        OpmlSource(
            "https://town.example.net/rss?lang=en&format=rss2", "Town Hall", ("News", "Local")
        ),
        OpmlSource(
            "https://blog.python.example/atom.xml",
            "Python Insider",
            ("Tech", "Programming", "Python", "Releases"),
        ),
        # type="rss" with url= instead of xmlUrl; the type="link" outline is not a feed
        OpmlSource("https://old.example.com/index.rss", "Old dialect", ("Tech",)),
        # the URL repeated as text is no title
        OpmlSource("https://untitled.example.com/feed", None, ()),
    ]


def test_a_feed_listed_twice_is_kept_and_reported() -> None:
    sources = read("duplicates.opml")
    assert [s.title for s in sources] == ["Status", "Status again", "Recipes"]
    assert find_duplicates(sources) == ("https://status.example.com/feed",)


def test_no_duplicates() -> None:
    assert find_duplicates(read("nested.opml")) == ()


def test_raw_ampersand_in_url_is_repaired() -> None:
    assert read("raw-ampersand.opml") == [
        OpmlSource("https://search.example.com/rss?q=news&sort=date", "Search", ())
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ((DATA / "not-opml.rss").read_bytes(), "found <rss> instead of <opml>"),
        (b"", "not an OPML document"),
        (b"just some text", "not an OPML document"),
        (b"<html><body><p>hi</p></body></html>", "instead of <opml>"),
        (b'<opml version="2.0"><head/></opml>', "has no <body>"),
        (b"\xff\xfe\x00garbage", "not an OPML document"),
    ],
)
def test_not_opml_names_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(ConfigError, match=r"^subs\.opml: ") as info:
        read_opml(data, name="subs.opml")
    assert reason in str(info.value)


def test_entity_declarations_are_refused() -> None:
    # A billion-laughs style document must neither expand nor hang.
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="2.0"><head/><body><outline text="&b;" xmlUrl="https://x.example/&b;"/></body></opml>"""
    with pytest.raises(ConfigError, match=r"^bomb\.opml: .*declare entities"):
        read_opml(bomb, name="bomb.opml")


def test_write_is_deterministic_and_readable() -> None:
    sources = [
        OpmlSource("https://a.example/feed", "A & B", ("News", "Local")),
        OpmlSource("https://b.example/feed", None, ()),
        OpmlSource("https://c.example/rss?x=1&y=2", "C", ("News",)),
        OpmlSource("https://d.example/atom", "D", ("Tech",)),
    ]
    first = write_opml(sources, title="Sources")
    assert first == write_opml(sources, title="Sources")
    assert first.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<opml version=\"2.0\">")
    assert b"<title>Sources</title>" in first
    # grouped by the folder of the first tag, in the order folders first appear
    assert read_opml(first, name="out.opml") == [sources[0], sources[2], sources[1], sources[3]]


def test_write_groups_by_first_tag_into_folders() -> None:
    out = write_opml(
        [
            OpmlSource("https://a.example/feed", "A", ("News",)),
            OpmlSource("https://b.example/feed", "B", ("News",)),
        ],
        title="t",
    )
    assert out.count(b'<outline text="News" title="News">') == 1


def test_write_refuses_tags_that_cannot_round_trip() -> None:
    with pytest.raises(ValueError, match="contains '/' or ','"):
        write_opml([OpmlSource("https://a.example/", "A", ("a/b",))], title="t")


_tag = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/,"),
    min_size=1,
    max_size=12,
).filter(lambda t: t == t.strip() and t != "")
_source = st.builds(
    OpmlSource,
    url=st.from_regex(
        r"https://[a-z]{1,10}\.example/[a-z0-9]{0,8}(\?q=[a-z&]{0,5})?", fullmatch=True
    ),
    title=st.one_of(
        st.none(),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).filter(
            lambda t: t.strip() == t and t != ""
        ),
    ),
    tags=st.lists(_tag, max_size=3, unique=True).map(tuple),
)


@given(st.lists(_source, max_size=6))
def test_round_trip(sources: list[OpmlSource]) -> None:
    # Folders group sources by first tag, so compare in the order the file lists them.
    out = read_opml(write_opml(sources, title="t"), name="t.opml")
    assert sorted(out, key=repr) == sorted(sources, key=repr)


def test_duplicates_among_urls_urllib_cannot_take_apart() -> None:
    broken = "http://[unclosed/feed"  # urllib raises on it; the config check refuses it later
    sources = [OpmlSource(url=broken, title="a"), OpmlSource(url=broken, title="b")]
    assert find_duplicates(sources) == (broken,)
