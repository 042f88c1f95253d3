"""Golden ids: every id a subscriber or the store keeps, pinned as literal strings.

Item keys, entry ids, content hashes, source ids and the ids, paths and links of our
per-source feeds are derived from fixed inputs here and compared with the strings they
have today. A change to `identity._digest`, to the fold or to any derivation fails this
file: ids must not move under subscribers (feed readers mark a moved id unread again),
and a deliberate change bumps `IDENTITY_VERSION` and updates these strings with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.config import default_source_id
from aggregator.ingest.collect import seed_feed_source_id
from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import RawEntry, SourceSpec
from aggregator.normalise import identity
from aggregator.normalise.entry import normalise_entry
from aggregator.parse import parse_feed
from aggregator.publish.clean import derived_id, entry_page_path
from aggregator.sources.feeds import SourceFeed, slugify, source_feed
from aggregator.store import SourceState, attribution_for

REALISTIC = Path(__file__).resolve().parent / "data" / "realistic" / "seeds"
NOW = datetime(2026, 12, 4, tzinfo=UTC)
BASE_URL = "https://news.example/feeds/"


def test_identity_version() -> None:
    assert identity.IDENTITY_VERSION == 1


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            identity.seed_key(
                "Council approves new library",
                "Shire of Lakeside",
                lead="The council voted on Tuesday",
            ),
            "seed:9de1dab68e08a9538a304f88dd277d3b",
        ),
        (
            identity.seed_key("Council approves new library", None),
            "seed:f6ebc091a285fe1edce10cb278da19b8",
        ),
        (
            identity.item_key(
                "wire",
                entry_id="tag:wire.example,2026:1",
                link="https://wire.example/a",
                title="T",
                text="x",
            ),
            "wire:703f38cf0d40928be17bbfbcceb03d4c",
        ),
        (
            identity.item_key(
                "wire", entry_id=None, link="https://wire.example/a", title="T", text="x"
            ),
            "wire:7c5598121b9af544517cef164ad5d2df",
        ),
        (
            identity.item_key(
                "wire", entry_id=None, link=None, title="Núñez wins", text="The text."
            ),
            "wire:49281dde9113571ca52199fbe7516f74",
        ),
        (identity.content_hash("Title", None, "<p>x</p>"), "330e9fda3166f0dd0fd77ca8508b2783"),
        (identity.entry_id("wire:0123"), "urn:aggregator:entry:259a63c9bf280b5e896aed77bb9772ce"),
        (
            identity.entry_id("wire:0123", base="https://news.example/entries/"),
            "https://news.example/entries/259a63c9bf280b5e896aed77bb9772ce",
        ),
    ],
)
def test_keys_and_entry_ids(key: str, expected: str) -> None:
    assert key == expected


def _normalised(source_id: str, url: str, raw: RawEntry) -> tuple[str, str, str]:
    kind = "seeds" if url == "seeds" else "remote"
    state = SourceState(id=source_id, url=url, kind=kind)
    item = normalise_entry(
        raw,
        source=SourceSpec(id=source_id, url=url),
        attribution=attribution_for(state, feed_id_base=BASE_URL),
        first_seen=NOW,
    )
    return item.key, item.content_hash, identity.entry_id(item.key)


def test_ids_of_a_seed_document() -> None:
    text = decode_text((REALISTIC / "boil-water-eastfield.txt").read_bytes())
    raw = parse_seed_document(text, relpath="boil-water-eastfield.txt", mtime=NOW)
    assert _normalised("seeds", "seeds", raw) == (
        "seeds:3a0c4e3f40e9d9602e029945fca598ef",
        "085036aaf3192800bd2b66f95c0195cc",
        "urn:aggregator:entry:99034aec726edc6fb4397ab17b10e529",
    )


def test_ids_of_a_feed_entry() -> None:
    body = (REALISTIC / "riverside-water.atom").read_bytes()
    feed = parse_feed(body, url="https://riverside.example/feed.atom", source_id="s")
    source_id = seed_feed_source_id("riverside-water.atom")
    assert source_id == "seed-riverside-water"
    assert _normalised(source_id, "riverside-water.atom", feed.entries[0]) == (
        "seed-riverside-water:daedaa4f9880520e0c0c51a8b27acca9",
        "c73f12e5834423b275c1a9b3e08cef66",
        "urn:aggregator:entry:22ce4940dd1df578f7ee0a156c85635e",
    )


@pytest.mark.parametrize(
    ("derived", "expected"),
    [
        (
            default_source_id("https://www.example.org/news/feed.xml", None),
            "www-example-org-news-feed-xml",
        ),
        (
            default_source_id("https://x.example/f", "Riverside Water Authority"),
            "riverside-water-authority",
        ),
        (seed_feed_source_id("rep/wiredigest.rss.xml"), "seed-rep-wiredigest-rss"),
        (slugify("Ministère de l'Intérieur"), "ministere-de-l-interieur"),
        (slugify("東京都"), "x-ce76fe655d41"),
        (
            slugify("a" * 30 + " by someone with a very long name indeed and more words"),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-by-someone-with-a-ve-ace8d7e5",
        ),
        (entry_page_path("urn:aggregator:entry:abc"), "entries/605815c53a40a4b1afbe.html"),
        (
            derived_id("https://news.example/feeds/index.atom", "sources/wire.atom"),
            "https://news.example/feeds/index.atom/sources/wire.atom",
        ),
        (derived_id("urn:x:feed", "tags/a.atom"), "urn:x:feed:tags/a.atom"),
    ],
)
def test_source_ids_slugs_and_paths(derived: str, expected: str) -> None:
    assert derived == expected


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        (
            source_feed("seeds", base_url=BASE_URL, feed_url="seeds"),
            SourceFeed(
                slug="seeds",
                path="sources/seeds.atom",
                url="https://news.example/feeds/sources/seeds.atom",
                id="https://news.example/feeds/sources/seeds.atom",
                link="https://news.example/feeds/sources/seeds.atom",
            ),
        ),
        (
            source_feed(
                "wire",
                base_url=BASE_URL,
                feed_id="tag:wire.example,2026:feed",
                site_link="https://wire.example/",
                feed_url="https://wire.example/feed",
            ),
            SourceFeed(
                slug="wire",
                path="sources/wire.atom",
                url="https://news.example/feeds/sources/wire.atom",
                id="tag:wire.example,2026:feed",
                link="https://wire.example/",
            ),
        ),
        (
            source_feed("rss-only", base_url=BASE_URL, feed_url="https://rss.example/feed.xml"),
            SourceFeed(
                slug="rss-only",
                path="sources/rss-only.atom",
                url="https://news.example/feeds/sources/rss-only.atom",
                id="https://news.example/feeds/sources/rss-only.atom",
                link="https://rss.example/feed.xml",
            ),
        ),
    ],
)
def test_source_feed_ids_and_links(feed: SourceFeed, expected: SourceFeed) -> None:
    assert feed == expected
