"""Feed autodiscovery's pure part: which feeds a page announces."""

from __future__ import annotations

from aggregator.ingest.discover import feed_links
from aggregator.sources.configfile import slash_twins, url_key


def test_feed_links_in_page_order_absolute_each_once() -> None:
    page = b"""<html><head>
    <link rel="stylesheet" href="/s.css" type="text/css">
    <link rel="alternate" type="application/atom+xml" href="atom.xml">
    <link rel="Alternate" type="application/rss+xml; charset=utf-8" href="/v2/org.rss">
    <link rel="alternate" type="application/feed+json" href="https://cdn.example/f.json">
    <link rel="alternate" hreflang="fr" href="/fr/">
    <link rel="alternate" type="application/rss+xml" href="/v2/org.rss">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body></body></html>"""
    assert feed_links(page, "https://org.example/news/") == [
        "https://org.example/news/atom.xml",
        "https://org.example/v2/org.rss",
        "https://cdn.example/f.json",
    ]


def test_feed_links_of_nothing_html_like() -> None:
    assert feed_links(b"", "https://org.example/") == []
    assert feed_links(b"\x00\x01", "https://org.example/") == []


def test_url_keys() -> None:
    key = url_key("https://org.example/org.rss")
    assert url_key("HTTPS://ORG.example:443/org.rss?#top") == key
    assert url_key("https://org.example/org.rss?lang=fr") != key
    assert url_key("http://org.example") == "http://org.example/"
    assert slash_twins(url_key("https://a.example/f/"), url_key("https://a.example/f"))
    assert not slash_twins(url_key("https://a.example/f"), url_key("https://a.example/f"))
    assert not slash_twins(url_key("https://a.example/f/?x=1"), url_key("https://a.example/f"))
