"""An entry's link is its rel="alternate" (or rel-less) link, else none: never a licence,
an enclosure, `self` or `related` (both parse paths)."""

from __future__ import annotations

import pytest

from aggregator.parse import read_feed


def atom(links: str) -> bytes:
    return (
        "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:t</id>"
        "<updated>2026-01-01T00:00:00Z</updated><entry><title>A</title><id>urn:a</id>"
        f"<updated>2026-01-01T00:00:00Z</updated>{links}<content>x</content></entry></feed>"
    ).encode()


RSS_ENCLOSURE_ONLY = (
    b"<rss version='2.0'><channel><title>T</title><item><title>A</title>"
    b"<enclosure url='https://e.example/a.mp3' type='audio/mpeg' length='1'/>"
    b"<description>x</description></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("body", "link"),
    [
        (atom("<link rel='license' href='https://cc.example/by'/>"), None),
        (atom("<link rel='enclosure' href='https://e.example/a.mp3'/>"), None),
        (
            atom(
                "<link rel='self' href='https://e.example/self'/>"
                "<link rel='related' href='https://e.example/rel'/>"
            ),
            None,
        ),
        (
            atom(
                "<link rel='related' href='https://e.example/rel'/>"
                "<link href='https://e.example/page'/>"
            ),
            "https://e.example/page",
        ),
        (
            atom(
                "<link rel='enclosure' href='https://e.example/a.mp3'/>"
                "<link rel='alternate' type='text/html' href='https://e.example/page'/>"
            ),
            "https://e.example/page",
        ),
        (RSS_ENCLOSURE_ONLY, None),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_entry_link_is_the_alternate_link_or_none(
    body: bytes, link: str | None, fast: bool
) -> None:
    reading = read_feed(body, url="https://e.example/f", source_id="t", allow_fast=fast)
    # urn:a is feedparser's stand-in (the id); it is no http(s) page and cleaning drops it.
    assert reading.feed.entries[0].link in ({link, "urn:a"} if link is None else {link})
