"""End to end: a real feed-reader library subscribes to what `aggregator serve` serves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import markupsafe
import pytest
from reader import make_reader
from test_cli_run import CORPUS, SHIPPED_SEEDS, aggregator
from test_daemon import free_port, wait_for


@pytest.fixture
def served_corpus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    seeds = tmp_path / "seeds"
    shutil.copytree(SHIPPED_SEEDS, seeds)
    if CORPUS.is_dir():
        for name in ("org-00.rss.xml", "rep-miragenews.rss.xml"):
            shutil.copy(CORPUS / "seeds" / name, seeds / name)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    (tmp_path / "aggregator.toml").write_text(
        f'[feed]\nbase_url = "{base}"\nentries = 500\n', encoding="utf-8"
    )
    aggregator("run", cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--no-schedule", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def up() -> bool:
        try:
            return httpx.get(base + "healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, what="the server")
        yield base, tmp_path
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_reader_library_sees_every_entry_with_attribution(served_corpus: tuple[str, Path]) -> None:
    base, workdir = served_corpus
    exported = [json.loads(line) for line in aggregator("export", cwd=workdir).stdout.splitlines()]
    entry_ids = {r["entry_id"] for r in exported}

    feed_reader = make_reader(str(workdir / "reader.sqlite"))
    feed_reader.add_feed(base + "index.atom")
    feed_reader.update_feeds()
    seen = list(feed_reader.get_entries())
    assert {e.id for e in seen} == entry_ids
    for entry in seen:
        assert entry.title
        assert entry.authors_str, entry.id
        assert entry.source is not None and entry.source.title, entry.id
    nato = next(e for e in seen if e.title == "NATO Chief, Macron Talk Defense, Ukraine")
    assert nato.authors_str == "NATO"
    links = [e.link for e in seen]
    # An entry without a web address of its own (a seed document) links to our page of it.
    ours = [link for link in links if link and link.startswith(base + "entries/")]
    bad = [link for link in links if not link or not link.startswith(("https://", base))]
    assert ours and not bad, bad[:5]
    for link in ours:  # which is served, and shows the entry
        page = httpx.get(link)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        title = next(e.title for e in seen if e.link == link)
        assert f"<h1>{markupsafe.escape(title)}</h1>" in page.text
    feed_reader.close()


def test_second_poll_with_validators_gets_304(served_corpus: tuple[str, Path]) -> None:
    base, _ = served_corpus
    first = httpx.get(base + "index.atom")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/atom+xml; charset=utf-8"
    etag = first.headers["etag"]
    second = httpx.get(base + "index.atom", headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    since = httpx.get(
        base + "index.atom", headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert since.status_code == 304


def test_html_page_and_json_feed_are_served(served_corpus: tuple[str, Path]) -> None:
    base, _ = served_corpus
    page = httpx.get(base)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'rel="alternate"' in page.text and "index.atom" in page.text
    feed = httpx.get(base + "index.json")
    assert feed.headers["content-type"].startswith("application/feed+json")
    assert feed.json()["version"] == "https://jsonfeed.org/version/1.1"
    assert httpx.get(base + "../../etc/passwd").status_code == 404
