"""End to end: a hundred different hostile feeds at once, half in the seeds folder and half
on a server on 127.0.0.1. The run finishes and publishes every good item, clean."""

from __future__ import annotations

import codecs
import json
import re
from html import escape
from pathlib import Path

from hostile import HOSTILE
from lxml import etree
from test_cli_remote import recent
from test_cli_run import ATOM, aggregator

from feedserver import FeedServer, Reply

GOOD = "<p>Good story {n}: the harbour authority agreed a new schedule for dredging.</p>"


def _item(title: str, n: int, html: str, *, slug: str) -> str:
    return (
        f"<item><title>{title}</title><link>https://h{n}.example/{slug}</link>"
        f"<guid>https://h{n}.example/{slug}</guid><pubDate>{recent(n)}</pubDate>"
        f"<description>{escape(html, quote=False)}</description></item>"
    )


def _rss(n: int, hostile_items: str, *, prolog: str = "") -> bytes:
    good = _item(f"Good story {n}", n, GOOD.format(n=n), slug="good")
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel>'
        f"<title>Feed {n}</title><link>https://h{n}.example/</link>"
        f"{good}{hostile_items}</channel></rss>"
    ).encode()


def _markup_feeds(start: int) -> dict[int, bytes]:
    """One feed per hostile shape and size: a good item and a hostile one."""
    feeds: dict[int, bytes] = {}
    n = start
    for units in (500, 1_000, 2_000, 5_000, 10_000, 100_000):
        for shape in HOSTILE.values():
            if units == 100_000 and len(shape(10)) > 200:  # long shapes: 10k is enough
                continue
            feeds[n] = _rss(n, _item(f"Hostile {n}", n, shape(units), slug="hostile"))
            n += 1
    return feeds


def _other_feeds(start: int) -> tuple[dict[int, bytes], set[int]]:
    """Hostile documents rather than items; and which of them have no good item."""
    bomb_value = "A" * 1024
    bomb_refs = "&e;" * 30_000
    js = "javascript:alert(1)"
    specials = [
        _rss(0, "", prolog=f'<!DOCTYPE rss [<!ENTITY e "{bomb_value}">]>\n').replace(
            b"<title>Feed 0</title>", f"<title>{bomb_refs}</title>".encode()
        ),
        _rss(
            0,
            f"<item><title>{bomb_refs}</title><guid>b</guid></item>",
            prolog=(f'<!DOCTYPE rss>\n<!ENTITY e "{bomb_value}">\n'),
        ),
        _rss(
            0,
            "<item><title>&t; &#xD800; &#x110000;</title><guid>t</guid></item>",
            prolog=('<!DOCTYPE rss [<!ENTITY t "Entity title">]>\n'),
        ),
        _rss(
            0,
            "<item><title>Safe <!-- sa -- nonwhitespace >fe<script>alert(1)</script> -->"
            "</title><guid>c</guid></item>",
        ),
        _rss(
            0,
            _item(
                "Links",
                0,
                f'<a href="java&#x81;script:alert(1)">a</a>'
                f'<a href="&#x2028;{js}">b</a><a href="&#xA0;{js}">c</a>',
                slug="js",
            ),
        ),
        _rss(0, _item("Many", 0, "<p>" + "x" * 3_000_000 + "</p>", slug="big")),
        _rss(0, "<item><title>unclosed"),  # not well-formed: read leniently
        _rss(0, "<item><title>\x01\x02 controls \x0b</title><guid>ctl</guid></item>"),
        _rss(0, _item("Styles", 0, "<style>" + "p{}" * 50_000 + "</style><p>x</p>", slug="s")),
        _rss(0, _item("Svg", 0, "<svg><![CDATA[" + "<div>" * 50_000 + "]]></svg>", slug="v")),
    ]
    feeds = {start + i: body.replace(b"Feed 0", f"Feed {start + i}".encode()).replace(
        b"Good story 0", f"Good story {start + i}".encode()).replace(
        b"h0.example", f"h{start + i}.example".encode())
        for i, body in enumerate(specials)}  # fmt: skip
    n = start + len(specials)
    bomb = _rss(n, f"<item><title>{bomb_refs}</title><guid>w</guid></item>", prolog=(
        f'<!DOCTYPE rss [<!ENTITY e "{bomb_value}">]>\n'
    ))  # fmt: skip
    feeds[n] = codecs.BOM_UTF16_LE + bomb.decode().encode("utf-16-le")
    broken = {n + 1, n + 2, n + 3}
    feeds[n + 1] = b"<html><body>not a feed</body></html>"
    feeds[n + 2] = b""
    feeds[n + 3] = b"\x00\xff" * 1000
    items = [
        {"id": "good", "title": f"Good story {n + 4}", "content_html": GOOD.format(n=n + 4),
         "url": f"https://h{n + 4}.example/good"},
        {"id": "bad", "title": "Hostile json", "content_html": HOSTILE["depth (<div>)"](50_000),
         "url": f"https://h{n + 4}.example/bad"},
    ]  # fmt: skip
    feeds[n + 4] = json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": f"Feed {n + 4}", "items": items}
    ).encode()
    return feeds, broken


def test_a_hundred_hostile_feeds_at_once(tmp_path: Path) -> None:
    feeds = _markup_feeds(0)
    others, broken = _other_feeds(len(feeds))
    feeds |= others
    assert len(feeds) >= 100
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    lines = ['seeds = "seeds"', "[feed]", "entries = 1000", "[fetch]", 'allow = ["127.0.0.0/8"]']
    with FeedServer() as server:
        for n, body in feeds.items():
            if n % 2:
                ext = "json" if body.startswith(b"{") else "xml"
                (seeds / f"feed{n:03}.{ext}").write_bytes(body)
            else:
                server.route(f"/f{n}", Reply(body=body, headers={"Content-Type": "text/xml"}))
                lines += ["[[sources]]", f'url = "{server.url(f"/f{n}")}"', f'name = "f{n}"']
        (tmp_path / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        aggregator("run", "--all", cwd=tmp_path, check=False)  # broken feeds: exit 1

    index = (tmp_path / "feeds" / "index.atom").read_bytes()
    titles = {e.findtext(f"{ATOM}title") for e in etree.fromstring(index).iter(f"{ATOM}entry")}
    good = {f"Good story {n}" for n in feeds if n not in broken}
    assert good <= titles, sorted(good - titles)
    assert not re.search(rb"<script|javascript:|&lt;script", index, re.IGNORECASE)
    exported = aggregator("export", "--format", "jsonl", cwd=tmp_path).stdout.splitlines()
    stored = {json.loads(line)["title"] for line in exported}  # merged copies too
    assert {"Hostile 0", "Hostile 20", "Entity title \ufffd \ufffd", "Safe"} <= stored
    assert not any("script" in title for title in stored)
    explained = aggregator("explain", "Hostile 0", cwd=tmp_path).stdout  # 2,000 <div>s
    assert "markup over budget" in explained
