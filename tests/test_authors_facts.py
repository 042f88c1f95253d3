"""Authors as published facts: a name, never an address; a role at the start of a headline
is no organisation; an organisation's own feed is no republisher; the operator's
`organisation` setting wins over every guess, from the config, `sources add` and OPML."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import make_attribution
from lxml import etree
from test_cli_run import ATOM, aggregator

from aggregator.model import RawEntry, SourceSpec
from aggregator.normalise.entry import NormaliseOptions, normalise_entry
from aggregator.parse import read_feed
from aggregator.sources.opml import listed_source, read_opml, write_opml

from feedserver import FeedServer

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rss_author(author: str) -> bytes:
    return (
        "<rss version='2.0'><channel><title>Lakeside News</title><link>https://l.example/</link>"
        f"<item><title>A</title><link>https://l.example/a</link><author>{author}</author>"
        "</item></channel></rss>"
    ).encode()


ATOM_WITH_EMAIL = b"""<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:t</id>
<updated>2026-01-01T00:00:00Z</updated><entry><title>A</title><id>urn:a</id>
<updated>2026-01-01T00:00:00Z</updated>
<author><name>Jane Doe</name><email>jane@example.com</email></author>
<author><name>Bo Lund</name><email>bo@example.com</email></author></entry></feed>"""


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (rss_author("Example author (me@example.com)"), ("Example author",)),
        (rss_author("noreply@blogger.com (John)"), ("John",)),
        (rss_author("press@lowmere.example (Press Office)"), ("Press Office",)),
        (rss_author("Jo Smith &lt;jo@x.org&gt;"), ("Jo Smith",)),
        (rss_author("me@example.com"), ()),
        (ATOM_WITH_EMAIL, ("Jane Doe", "Bo Lund")),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_an_author_is_a_name_never_an_address(
    body: bytes, names: tuple[str, ...], fast: bool
) -> None:
    reading = read_feed(body, url="https://l.example/f", source_id="t", allow_fast=fast)
    assert reading.feed.entries[0].authors == names


def item_of(
    raw: RawEntry, *, feed: str, **options: object
) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    spec = SourceSpec(id="s", url="https://s.example/feed", title=feed)
    attribution = make_attribution("s", title=feed, site_link="https://s.example/")
    item = normalise_entry(
        raw,
        source=spec,
        attribution=attribution,
        first_seen=NOW,
        options=NormaliseOptions(**options),  # type: ignore[arg-type]
    )
    return item.authors, item.via, item.notes


def test_an_author_given_with_an_address_is_credited_not_the_feed() -> None:
    [raw] = read_feed(
        rss_author("Example author (me@example.com)"), url="https://l.example/f", source_id="t"
    ).feed.entries
    authors, _, _ = item_of(raw, feed="Lakeside News")
    assert authors == ("Example author",)


@pytest.mark.parametrize(
    "title",
    [
        "Mayor welcomes new citizens at ceremony",
        "Minister for Water announces dam upgrade",
        "Council launches new bin service",
    ],
)
def test_a_role_or_common_noun_opening_a_headline_is_no_organisation(title: str) -> None:
    raw = RawEntry(title=title, link="https://s.example/a", content="<p>Residents gathered.</p>")
    authors, _, notes = item_of(raw, feed="Shire of Lakeside", carries_others=True)
    first = title.split()[0]
    assert first not in " ".join(authors)
    assert any(note.startswith(f"not an organisation: '{first}") for note in notes)


def test_a_name_after_a_role_word_list_is_still_found() -> None:
    raw = RawEntry(
        title="Coastal Research Institute unveils tidal lab",
        link="https://s.example/a",
        content="<p>A lab.</p>",
    )
    authors, _, notes = item_of(raw, feed="Wire Digest", carries_others=True)
    assert authors == ("Coastal Research Institute",)
    assert "author taken from the item: Coastal Research Institute (rule title-subject)" in notes


def test_an_organisations_own_feed_is_not_the_republisher() -> None:
    # Its items seldom name it, so the feed is guessed to carry others' stories; its own
    # author field naming itself says otherwise.
    raw = RawEntry(
        title="Water main renewal on Hill Street",
        link="https://s.example/a",
        content="<p>Crews will replace 300 metres of pipe.</p>",
        authors=("Riverside Water Authority",),
    )
    authors, via, notes = item_of(raw, feed="Riverside Water Authority", carries_others=True)
    assert (authors, via) == (("Riverside Water Authority",), None)
    assert not any("republisher" in note or note == "author unknown" for note in notes)


def test_a_republisher_tag_still_moves_the_feeds_own_name_to_via() -> None:
    raw = RawEntry(
        title="Water main renewal",
        link="https://s.example/a",
        content="<p>Pipes.</p>",
        authors=("Wire Digest",),
        public_release=True,
    )
    authors, via, _ = item_of(raw, feed="Wire Digest")
    assert (authors, via) == ((), "Wire Digest")


def test_the_organisation_setting_wins_over_every_guess() -> None:
    raw = RawEntry(
        title="Mayor welcomes new citizens",
        link="https://s.example/a",
        content="<p>Photo: Lakeside Camera Club</p>",
        authors=("Jo Web Editor",),
    )
    authors, _, notes = item_of(
        raw, feed="Lakeside News", carries_others=True, organisation="Shire of Lakeside"
    )
    assert authors == ("Shire of Lakeside",)
    assert "author Shire of Lakeside: the source's organisation setting" in notes


def test_opml_carries_the_organisation_both_ways() -> None:
    listed = [
        listed_source(
            url="https://w.example/feed", title="W", organisation="Riverside Water Authority"
        )
    ]
    assert read_opml(write_opml(listed, title="t"), name="x.opml") == listed


RIVERSIDE = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Riverside Water Authority</title>
<id>urn:riverside</id><updated>2026-11-20T00:00:00Z</updated>
<author><name>Riverside Water Authority</name></author>
<link href="https://riverside.example/"/>
{entries}</feed>"""
RIVERSIDE_ENTRY = """<entry><title>Works notice {n}</title><id>urn:riverside:{n}</id>
<link href="https://riverside.example/news/{n}"/><updated>2026-11-1{n}T00:00:00Z</updated>
<content type="html">&lt;p&gt;Crews will replace pipe number {n} on Hill Street
over {n} days.&lt;/p&gt;</content>
</entry>"""
WIRE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire Digest</title><link>https://wire.example/</link>
<description>d</description>
<item><title>Mayor welcomes new citizens at ceremony</title><link>https://wire.example/1</link>
<pubDate>Thu, 19 Nov 2026 10:00:00 GMT</pubDate>
<description>Forty people became citizens.</description></item>
</channel></rss>"""


def test_end_to_end_organisations_from_cli_opml_and_own_feeds(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    entries = "".join(RIVERSIDE_ENTRY.format(n=n) for n in range(1, 5))
    with FeedServer() as server:
        server.feed("/riverside", RIVERSIDE.format(entries=entries).encode())
        server.feed("/wire", WIRE.encode())
        (tmp_path / "aggregator.toml").write_text(
            'seeds = "seeds"\n[fetch]\nallow = ["127.0.0.0/8"]\ntimeout = 5\n', encoding="utf-8"
        )
        aggregator(
            "sources",
            "add",
            server.url("/riverside"),
            "--name",
            "Riverside Water Authority",
            cwd=tmp_path,
        )
        opml = write_opml(
            [listed_source(server.url("/wire"), "Wire", organisation="Shire of Lakeside")],
            title="t",
        )
        (tmp_path / "list.opml").write_bytes(opml)
        aggregator("sources", "import", "list.opml", cwd=tmp_path)
        bad = aggregator(
            "sources",
            "add",
            "https://x.example/f",
            "--organisation",
            " ",
            cwd=tmp_path,
            check=False,
        )
        assert (
            bad.returncode != 0 and "organisation" in bad.stderr and "Traceback" not in bad.stderr
        )
        config = tomllib.loads((tmp_path / "aggregator.toml").read_text(encoding="utf-8"))
        assert [s.get("organisation") for s in config["sources"]] == [None, "Shire of Lakeside"]
        exported = aggregator("sources", "export", cwd=tmp_path).stdout
        assert 'organisation="Shire of Lakeside"' in exported
        aggregator("run", cwd=tmp_path)
    feed = etree.parse(tmp_path / "feeds" / "index.atom").getroot()
    authors = {
        e.findtext(f"{ATOM}title"): [a.findtext(f"{ATOM}name") for a in e.findall(f"{ATOM}author")]
        for e in feed.findall(f"{ATOM}entry")
    }
    assert authors["Mayor welcomes new citizens at ceremony"] == ["Shire of Lakeside"]
    assert authors["Works notice 1"] == ["Riverside Water Authority"]
