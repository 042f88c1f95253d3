"""Done when (issue 13): publish a corpus of local and remote sources, long and odd names
included, then walk every output file. Every self, alternate and atom:source link and id
under our base URL names a file that was written; every entry's atom:source id is the id
of a source feed holding that entry; each source's feed holds every story the source
carried; every Atom file, empty ones too, is valid RFC 4287 with a plausible updated."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from test_cli_run import SEED_MTIME, SHIPPED_SEEDS, aggregator

from aggregator.model import Attribution, Entry, Item
from aggregator.publish import FeedInfo, SourceInfo, publish_all
from aggregator.sources.feeds import source_feed_path

from atomcheck import validate_atom
from feedserver import FeedServer

A = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8080/"

ORG = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour Authority</title>
<id>tag:harbour.example,2026:news</id><updated>2026-11-20T00:00:00Z</updated>
<author><name>Harbour Authority</name></author>
<link href="https://harbour.example/news/"/>
<entry><title>Harbour Authority agrees dredging schedule</title><id>tag:harbour.example,2026:1</id>
<link href="https://harbour.example/news/dredging"/><updated>2026-11-19T09:00:00Z</updated>
<content type="html">&lt;p&gt;The Harbour Authority agreed a new schedule for dredging the western
channel, starting in March and running for eleven weeks.&lt;/p&gt;</content></entry>
<entry><title>Harbour Authority opens visitor centre</title><id>tag:harbour.example,2026:2</id>
<link href="https://harbour.example/news/visitors"/><updated>2026-11-18T09:00:00Z</updated>
<content type="html">&lt;p&gt;A visitor centre opened at the north quay with models of
the port and its history since 1850.&lt;/p&gt;</content></entry>
</feed>"""

# A republisher: carries the authority's dredging story (same link) and one of its own.
WIRE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>Coastal Wire — Regional Press Releases &amp; Notices (Ünïcode edition)</title>
<link>https://wire.example/</link><description>d</description>
<item><title>Harbour Authority agrees dredging schedule</title>
<link>https://harbour.example/news/dredging</link><guid>wire-1</guid>
<pubDate>Thu, 19 Nov 2026 11:00:00 GMT</pubDate>
<description>The Harbour Authority agreed a new schedule for dredging the western channel,
starting in March and running for eleven weeks.</description></item>
<item><title>School science fair winners named</title><link>https://wire.example/fair</link>
<guid>wire-2</guid><pubDate>Wed, 18 Nov 2026 11:00:00 GMT</pubDate>
<description>A panel of judges named the winners of the school science fair.</description></item>
</channel></rss>"""

EMPTY = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Quiet Council</title><link>https://quiet.example/</link>
<description>Nothing yet</description></channel></rss>"""

# A feed file in seeds/ with a long, odd name and no link of its own.
SEED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Long-named seed feed</title><description>d</description>
<item><title>Library extends opening hours</title><guid isPermaLink="false">lib-1</guid>
<pubDate>Tue, 17 Nov 2026 08:00:00 GMT</pubDate>
<description>The library will open until nine on weekdays from December.</description></item>
</channel></rss>"""
LONG_NAME = (
    "Press Releases — Ministry of Very Long Names & Odd Characters (Ünïcode) "
    "by someone the seeds.rss"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    shutil.copytree(SHIPPED_SEEDS, seeds)
    (seeds / LONG_NAME).write_text(SEED_FEED, encoding="utf-8")
    (seeds / "notice.md").write_text(
        "---\ntitle: Road closure on Hill Street\nsource: Shire of Lakeside\n"
        "published: 2026-11-16T09:00:00+10:00\n---\nHill Street closes for resurfacing.\n",
        encoding="utf-8",
    )
    for seed in seeds.iterdir():
        os.utime(seed, (SEED_MTIME, SEED_MTIME))
    return tmp_path


def feeds_of(folder: Path) -> dict[str, etree._Element]:
    return {
        path.relative_to(folder).as_posix(): etree.parse(path).getroot()
        for path in folder.rglob("*.atom")
        if not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }


def test_every_published_link_and_id_names_a_written_file(corpus: Path) -> None:
    started = datetime.now(UTC)
    with FeedServer() as server:
        server.feed("/org", ORG.encode())
        server.feed("/wire", WIRE.encode())
        server.feed("/quiet", EMPTY.encode())
        config = ['seeds = "seeds"', "[fetch]", 'allow = ["127.0.0.0/8"]', "timeout = 5"]
        for path, name, tags in [
            ("/org", "Harbour Authority", '["ports"]'),
            (
                "/wire",
                "Coastal Wire — Regional Press Releases & Notices (Ünïcode edition)",
                '["ports", "régional news"]',
            ),
            ("/quiet", "Quiet Council", '["quiet"]'),
        ]:
            config += [
                "[[sources]]",
                f'url = "{server.url(path)}"',
                f'name = "{name}"',
                f"tags = {tags}",
            ]
        (corpus / "aggregator.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
        aggregator("run", cwd=corpus)
    out = corpus / "feeds"
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    feeds = feeds_of(out)
    assert {"index.atom", "sources/seeds.atom"} <= set(feeds)

    # Every Atom file is valid and dated plausibly (empty ones too: never 1970).
    for path, root in feeds.items():
        assert validate_atom(etree.tostring(root)) == [], path
        updated = datetime.fromisoformat(root.findtext(f"{A}updated") or "")
        assert (
            datetime(2026, 1, 1, tzinfo=UTC) < updated <= datetime.now(UTC) + timedelta(days=1)
        ), path
    quiet = feeds[source_feed_path("quiet-council")]
    assert quiet.find(f"{A}entry") is None
    assert datetime.fromisoformat(quiet.findtext(f"{A}updated") or "") >= started - timedelta(
        seconds=5
    )

    # Every link and id under our base URL names a file that was written.
    named: list[str] = []
    for root in feeds.values():
        named += [link.get("href", "") for link in root.iterfind(f"{A}link")]
        named += [link.get("href", "") for link in root.iterfind(f"{A}entry/{A}source/{A}link")]
        named += [root.findtext(f"{A}id") or ""]
        named += [i.text or "" for i in root.iterfind(f"{A}entry/{A}source/{A}id")]
    ours = {url for url in named if url.startswith(BASE)}
    assert ours, "no link points at our base URL"
    for url in sorted(ours):
        assert url.removeprefix(BASE) in written, url

    # Every entry's atom:source id is the id of a source feed that holds the entry.
    source_feeds = {path: root for path, root in feeds.items() if path.startswith("sources/")}
    by_id = {root.findtext(f"{A}id"): root for root in source_feeds.values()}
    assert len(by_id) == len(source_feeds)
    for entry in feeds["index.atom"].iterfind(f"{A}entry"):
        source_id = entry.findtext(f"{A}source/{A}id")
        assert source_id in by_id, source_id
        held = {e.findtext(f"{A}id") for e in by_id[source_id].iterfind(f"{A}entry")}
        assert entry.findtext(f"{A}id") in held

    # Each source's feed holds every story the source carried: the republisher's holds
    # the authority's dredging story it carried, the same entry with the same id.
    records = [json.loads(line) for line in aggregator("export", cwd=corpus).stdout.splitlines()]
    carried: dict[str, set[str]] = defaultdict(set)
    for record in records:
        carried[str(record["source_id"])].add(str(record["entry_id"]))
    index_ids = {e.findtext(f"{A}id"): e for e in feeds["index.atom"].iterfind(f"{A}entry")}
    for source_id, entry_ids in carried.items():
        feed = feeds[source_feed_path(source_id)]
        held = {e.findtext(f"{A}id") for e in feed.iterfind(f"{A}entry")}
        published = {i for i in held if i in index_ids}
        assert len(published) == len(entry_ids) <= len(held), source_id
    wire_id = next(s for s in carried if s.startswith("coastal-wire"))
    org_id = next(s for s in carried if s.startswith("harbour"))
    assert carried[wire_id] & carried[org_id], "the dredging story merged across both"
    for tag_feed in ("tags/ports.atom", "tags/regional-news.atom"):
        titles = [e.findtext(f"{A}title") for e in feeds[tag_feed].iterfind(f"{A}entry")]
        assert titles.count("Harbour Authority agrees dredging schedule") == 1, tag_feed


def _entry(source: str, n: int) -> Entry:
    when = datetime(2026, 11, 10 + n, tzinfo=UTC)
    item = Item(
        key=f"k{n}",
        origin_id=f"o{n}",
        content_hash="h",
        title=f"T{n}",
        link=f"https://x.example/{n}",
        summary=None,
        content_html="<p>x</p>",
        text="x",
        authors=("A",),
        categories=(),
        published=when,
        updated=when,
        source=Attribution(source_id=source, feed_url="https://x.example/f", feed_id="urn:x"),
    )
    return Entry(id=f"urn:e:{n}", item=item, carried_by=(source, "wire"))


def test_an_empty_feed_keeps_the_time_of_its_last_change(tmp_path: Path) -> None:
    info = FeedInfo(id=BASE + "index.atom", title="t", base_url=BASE, author="a")
    sources = [
        SourceInfo("org", "https://x.example/f"),
        SourceInfo("quiet", "https://q.example/f"),
        SourceInfo("wire", "https://w.example/f"),
    ]
    entries = [_entry("org", 1)]
    first_time = datetime(2026, 11, 20, tzinfo=UTC)
    first = publish_all(tmp_path, info, entries, sources, now=first_time)
    quiet = tmp_path / "sources" / "quiet.atom"
    before = quiet.read_bytes()
    assert f"<updated>{first_time.isoformat()}</updated>" in before.decode()
    # Rendered again (as a forced publish does), a day later: nothing about it changed.
    publish_all(
        tmp_path, info, entries, sources, now=first_time + timedelta(days=1), stamps=first.stamps
    )
    assert quiet.read_bytes() == before
    # The wire carried the entry too: its feed holds it, though it is not the representative.
    wire = etree.parse(tmp_path / "sources" / "wire.atom").getroot()
    assert [e.findtext(f"{A}id") for e in wire.iterfind(f"{A}entry")] == ["urn:e:1"]


EXPLAINED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lakeside News</title><link>https://lakeside.example/</link>
<description>d</description>
<item><title>Podcast: the new pool</title><guid isPermaLink="false">pod-1</guid>
<author>Example author (me@example.com)</author>
<enclosure url="https://lakeside.example/pool.mp3" type="audio/mpeg" length="1"/>
<pubDate>Tue, 17 Nov 2026 08:00:00 PST</pubDate>
<description>Lakeside News talks about the new pool.</description></item>
</channel></rss>"""


def test_explain_says_where_date_author_and_link_came_from(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "pool.rss").write_text(EXPLAINED_FEED, encoding="utf-8")
    (seeds / "notice.md").write_text(
        "---\ntitle: Road closure on Hill Street\nsource: Shire of Lakeside\n"
        "published: 04/05/2026\nlink: https://lakeside.example/roads?utm_source=x\n---\n"
        "Hill Street closes for resurfacing.\n",
        encoding="utf-8",
    )
    aggregator("run", cwd=tmp_path)
    pod = aggregator("explain", "Podcast: the new pool", cwd=tmp_path).stdout
    assert "      date: 2026-11-17T16:00:00+00:00 (from the entry's published date)" in pod
    assert "    author: Example author (from the entry's author field)" in pod
    assert "      link: (none) (from the entry, which has no alternate" in pod
    notice = aggregator("explain", "Road closure on Hill Street", cwd=tmp_path).stdout
    assert "      date: 2026-05-04T00:00:00+00:00 (from the seed's front matter)" in notice
    assert "read day first as 4 May 2026 (no date_order set for this source)" in notice
    assert "    author: Shire of Lakeside (from the entry's author field)" in notice
    assert "      link: https://lakeside.example/roads (from the entry's alternate" in notice
    assert "tracking parameters removed from link: utm_source" in notice
    [record] = json.loads(
        aggregator("explain", "--json", "Road closure on Hill Street", cwd=tmp_path).stdout
    )
    origins = {o["fact"]: o for o in record["origins"]}
    assert origins["date"]["origin"] == "the seed's front matter"
    assert origins["author"]["value"] == "Shire of Lakeside"
    assert origins["link"]["value"] == "https://lakeside.example/roads"


def test_long_source_names_that_begin_alike_get_files_of_their_own() -> None:
    first = "seed-press-releases-ministry-of-very-long-names-and-odd-characters-a"
    second = first[:-1] + "b"
    paths = {source_feed_path(first), source_feed_path(second)}
    assert len(paths) == 2
    assert all(len(p) <= len("sources/.atom") + 60 for p in paths)
    assert source_feed_path(first) == source_feed_path(first)  # stable
