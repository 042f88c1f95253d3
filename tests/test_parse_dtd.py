"""Internal DTD subsets: plain-text entities are expanded (within a cap), nothing else is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from factories import make_attribution

from aggregator.model import SourceSpec
from aggregator.normalise.entry import normalise_entry
from aggregator.parse import MAX_ENTITY_EXPANSION, parse_feed

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE feed [
<!ENTITY id "tag:example.com,">
<!ENTITY org 'Smith "and" Sons'>
<!ENTITY site "https://example.com">
<!ENTITY % param "ignored">
<!ENTITY markup "<b>bold</b>">
<!ENTITY nested "&id;&id;">
<!ENTITY ext SYSTEM "file:///etc/passwd">
]>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>&org; news</title>
  <id>&id;2006:/feed</id>
  <updated>2006-05-04T00:00:00Z</updated>
  <link href="&site;/"/>
  <entry>
    <title>From &org;</title>
    <id>&id;2006-05-04:/blog/</id>
    <link href="&site;/blog/1"/>
    <updated>2006-05-04T00:00:00Z</updated>
    <summary>Kept: <![CDATA[&id;]]> and &markup; and &nested;</summary>
  </entry>
</feed>
"""


def test_plain_text_entities_of_the_dtd_are_expanded() -> None:
    parsed = parse_feed(ATOM, url="https://example.com/feed", source_id="s")
    assert parsed.meta.title == 'Smith "and" Sons news'
    assert parsed.meta.id == "tag:example.com,2006:/feed"
    assert parsed.meta.link == "https://example.com/"
    (entry,) = parsed.entries
    assert entry.id == "tag:example.com,2006-05-04:/blog/"
    assert entry.title == 'From Smith "and" Sons'
    assert entry.link == "https://example.com/blog/1"
    assert parsed.warning is not None
    assert "expanded 6 reference(s)" in parsed.warning
    assert "removed 4 other entity declarations" in parsed.warning


def test_entities_with_markup_or_references_and_cdata_are_left_alone() -> None:
    (entry,) = parse_feed(ATOM, url="https://example.com/feed", source_id="s").entries
    summary = entry.summary or ""
    assert "&id;" in summary  # inside CDATA: no reference in XML
    assert "bold" not in summary
    assert "tag:example.com,tag:example.com," not in summary


def _bomb(references: int, value_bytes: int = 1024) -> bytes:
    value = b"A" * value_bytes
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY e "' + value + b'">\n]>\n'
        b'<rss version="2.0"><channel><title>' + b"&e;" * references + b"</title>"
        b"<item><title>x</title><guid>g</guid></item></channel></rss>"
    )


def test_expansion_up_to_the_cap_is_done() -> None:
    fits = MAX_ENTITY_EXPANSION // 1024
    parsed = parse_feed(_bomb(fits), url="u", source_id="s")
    assert parsed.meta.title == "A" * (fits * 1024)


@pytest.mark.parametrize("references", [MAX_ENTITY_EXPANSION // 1024 + 1, 33_000])
def test_expansion_past_the_cap_is_refused_whole(references: int) -> None:
    parsed = parse_feed(_bomb(references), url="u", source_id="s")
    assert parsed.meta.title is not None
    assert "A" * 1024 not in parsed.meta.title  # not one reference expanded
    assert [e.title for e in parsed.entries] == ["x"]
    assert parsed.warning is not None
    assert f"more than {MAX_ENTITY_EXPANSION:,} bytes" in parsed.warning


MALICIOUS_COMMENT = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title><link>https://ex.example/</link>
<item><title>Safe <!-- sa -- nonwhitespace >fe<script>alert(1)</script> --> title</title>
<link>https://ex.example/1</link><description>one</description></item>
<item><title>Escaped &lt;!-- sa -- nonwhitespace &gt;fe&lt;script&gt;alert(2)&lt;/script&gt;
 --&gt; title</title><link>https://ex.example/2</link><description>two</description></item>
</channel></rss>
"""


def test_a_title_built_by_a_malicious_comment_is_clean_text() -> None:
    parsed = parse_feed(MALICIOUS_COMMENT, url="https://ex.example/f", source_id="s")
    source = SourceSpec(id="s", url="https://ex.example/f")
    attribution = make_attribution("s", feed_url=source.url, feed_id=source.url)
    titles = [
        normalise_entry(
            raw, source=source, attribution=attribution, first_seen=datetime(2026, 1, 1, tzinfo=UTC)
        ).title
        for raw in parsed.entries
    ]
    assert titles == ["Safe title", "Escaped title"]
