"""The published pages in a real browser: headless Chromium (Debian's `chromium` package,
installed by .ci/run) loads what `aggregator run` wrote, served over HTTP on 127.0.0.1,
and the tests check what it renders.

The input is the project's shipped seed (a press release with no link of its own) and,
where it is present, the shared dev corpus; without the corpus, a small feed written here.

The README's screenshots come from the same run: with AGGREGATOR_SCREENSHOTS=docs

    AGGREGATOR_SCREENSHOTS=docs pytest tests/test_browser.py

the desktop and phone views of index.html are saved there as index-desktop.png and
index-phone.png.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from browser import Chromium, chromium_path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "dev" / "seeds"
# Half an hour off UTC: a time shown in it cannot be the UTC time by accident.
TIMEZONE = "Asia/Kolkata"
PER_PAGE = 20  # [feed] entries: small, so that the index has older pages
SCREENSHOTS = os.environ.get("AGGREGATOR_SCREENSHOTS")

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed: `apt-get install chromium` (.ci/run installs it)",
)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _small_feed(folder: Path) -> None:
    """A feed of a few items over two months, for a machine without the dev corpus. They
    end days before today: an item dated in the future is dated when first seen (all at
    one moment), which is not what the day grouping is tested on."""
    today = datetime.now(ZoneInfo("UTC")).replace(minute=30, second=0, microsecond=0)
    start = today - timedelta(days=70)
    items = "".join(
        f"<item><title>Release {n}</title><link>https://org.example/news/{n}</link>"
        f"<guid>https://org.example/news/{n}</guid>"
        f"<pubDate>{format_datetime(start + timedelta(days=2 * n, hours=n))}</pubDate>"
        f"<description>&lt;p&gt;Release {n} begins here.&lt;/p&gt;&lt;p&gt;It goes on "
        f"for a while, as releases do.&lt;/p&gt;</description></item>"
        for n in range(30)
    )
    (folder / "org.rss").write_text(
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Example Org</title>"
        f"<link>https://org.example/</link><description>News</description>{items}"
        "</channel></rss>",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, output folder) of a publish by the real CLI, served on 127.0.0.1."""
    work = tmp_path_factory.mktemp("site")
    seeds = work / "seeds"
    if CORPUS.is_dir():
        shutil.copytree(CORPUS, seeds)
    else:
        seeds.mkdir()
        _small_feed(seeds)
    for shipped in (ROOT / "seeds").iterdir():
        shutil.copy2(shipped, seeds / shipped.name)
    out = work / "feeds"
    out.mkdir()
    handler = functools.partial(_Quiet, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    (work / "aggregator.toml").write_text(
        f'seeds = "seeds"\nout = "feeds"\ndb = "data.sqlite"\n\n'
        f'[feed]\nbase_url = "{base}"\nentries = {PER_PAGE}\n',
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "aggregator", "run", "--config", str(work / "aggregator.toml")],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, out
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium.start(tmp_path_factory.mktemp("profile"), timezone=TIMEZONE) as chromium:
        yield chromium


@pytest.fixture
def desktop(browser: Chromium) -> Chromium:
    browser.call("Emulation.setScriptExecutionDisabled", value=False)
    browser.call("Emulation.setEmulatedMedia", features=[])
    browser.viewport(1100, 1400)
    return browser


def _index_items(out: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((out / "index.json").read_text("utf-8"))["items"]
    return items


DAYS = """[...document.querySelectorAll('main section')].map(s => ({
  day: s.dataset.day,
  heading: s.querySelector('h2').innerText,
  entries: [...s.querySelectorAll('article')].map(a => ({
    title: a.querySelector('h3').innerText,
    at: a.querySelector('.meta time').dateTime,
    shown: a.querySelector('.meta time').innerText}))}))"""


def test_the_index_shows_every_entry_grouped_by_the_readers_day(
    site: tuple[str, Path], desktop: Chromium
) -> None:
    base, out = site
    desktop.open(base + "index.html")
    shown = desktop.evaluate(DAYS)
    items = _index_items(out)
    assert [e["title"] for day in shown for e in day["entries"]] == [i["title"] for i in items]
    zone = ZoneInfo(TIMEZONE)
    for day in shown:  # under the day each falls on in the reader's time zone
        local = {datetime.fromisoformat(e["at"]).astimezone(zone) for e in day["entries"]}
        assert {f"{t:%Y-%m-%d}" for t in local} == {day["day"]}
        assert f"{min(local):%A}" in day["heading"]
        for entry, when in zip(day["entries"], sorted(local, reverse=True), strict=True):
            # The time alone: the day is in the heading.
            assert entry["shown"].startswith(f"{when:%H:%M}")
            assert "UTC" not in entry["shown"]
    assert [d["day"] for d in shown] == sorted({d["day"] for d in shown}, reverse=True)


def test_without_javascript_days_and_times_read_in_utc(
    site: tuple[str, Path], browser: Chromium
) -> None:
    base, _ = site
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.open(base + "index.html")
        shown = browser.evaluate(DAYS)
        # The full text still unfolds: <details> needs no script.
        opened = browser.evaluate(
            "(() => { const d = document.querySelector('article details');"
            " d.querySelector('summary').click(); return d.open; })()"
        )
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", value=False)
    for day in shown:
        assert {e["at"][:10] for e in day["entries"]} == {day["day"]}
        for entry in day["entries"]:
            assert entry["shown"] == f"{datetime.fromisoformat(entry['at']):%H:%M} UTC"
    assert opened is True


def test_the_full_text_is_folded_until_asked_for(site: tuple[str, Path], desktop: Chromium) -> None:
    base, out = site
    desktop.open(base + "index.html")
    first = "document.querySelector('article')"
    assert desktop.evaluate(f"{first}.querySelector('.text').checkVisibility()") is False
    desktop.evaluate(f"{first}.querySelector('summary').click()")
    text = desktop.evaluate(f"{first}.querySelector('.text').innerText")
    assert desktop.evaluate(f"{first}.querySelector('.text').checkVisibility()") is True
    words = re.sub(r"<[^>]+>", " ", _index_items(out)[0]["content_html"]).split()
    assert text.split()[:8] == words[:8]


def test_an_entry_without_a_link_is_read_on_our_page(
    site: tuple[str, Path], desktop: Chromium
) -> None:
    base, out = site
    pages = sorted((out / "entries").glob("*.html"))
    assert pages  # the shipped seed has no link of its own
    desktop.open(base + pages[0].relative_to(out).as_posix())
    assert desktop.evaluate("document.querySelectorAll('main article .text p').length") > 1
    assert desktop.evaluate("document.querySelector('main details')") is None
    # Its link in the feeds is this page's address.
    url = desktop.evaluate("location.href")
    assert url in (out / "index.atom").read_text("utf-8") or any(
        url in p.read_text("utf-8") for p in (out / "archive").glob("*.atom")
    )


def test_older_entries_lead_into_the_archive(site: tuple[str, Path], desktop: Chromium) -> None:
    base, _ = site
    desktop.open(base + "index.html")
    newest = desktop.evaluate("document.querySelector('article h3').innerText")
    seen = [newest]
    for _ in range(50):  # bounded: the archive is a few pages
        older = desktop.evaluate("document.querySelector('nav.pages a[rel=next]')?.href ?? null")
        if older is None:
            break
        desktop.open(older)
        assert desktop.evaluate("document.querySelectorAll('main article').length") > 0
        seen.append(desktop.evaluate("document.querySelector('h1').innerText"))
    assert len(seen) > 1
    assert re.fullmatch(r"[A-Z][a-z]+ \d{4}(, page \d+)?", seen[-1])


def test_on_a_phone_nothing_is_wider_than_the_screen(
    site: tuple[str, Path], browser: Chromium
) -> None:
    base, _ = site
    browser.viewport(400, 900, mobile=True)
    try:
        for path in ("index.html", "sources.html", "sources/seeds.html"):
            browser.open(base + path)
            browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert browser.evaluate("document.documentElement.scrollWidth") <= 400, path
        if SCREENSHOTS:
            browser.open(base + "index.html")
            browser.evaluate("document.querySelector('article details').open = true")
            browser.screenshot(Path(SCREENSHOTS) / "index-phone.png")
            browser.viewport(1100, 1400)
            browser.open(base + "index.html")
            browser.screenshot(Path(SCREENSHOTS) / "index-desktop.png")
    finally:
        browser.viewport(1100, 1400)


def test_the_skip_link_is_the_first_stop_and_shows_when_focused(
    site: tuple[str, Path], desktop: Chromium
) -> None:
    base, _ = site
    desktop.open(base + "index.html")
    desktop.press_tab()
    focused = desktop.evaluate(
        "(() => { const a = document.activeElement, r = a.getBoundingClientRect();"
        " return [a.getAttribute('href'), a.innerText, r.left >= 0 && r.width > 0]; })()"
    )
    assert focused == ["#main", "Skip to the entries", True]


# The WCAG 2 contrast ratio of two computed CSS colours, worked out in the page.
CONTRAST = """((el, back) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  const lum = (c) => { const [r, g, b] = rgb(c); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(getComputedStyle(el).color), lum(getComputedStyle(back).backgroundColor)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})(document.querySelector('%s'), document.body)"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_has_enough_contrast(site: tuple[str, Path], desktop: Chromium, scheme: str) -> None:
    base, _ = site
    desktop.call(
        "Emulation.setEmulatedMedia",
        features=[{"name": "prefers-color-scheme", "value": scheme}],
    )
    desktop.open(base + "index.html")
    for selector in ("p.summary", "p.meta", "article h3 a", "h2", "summary", "footer p"):
        ratio = desktop.evaluate(CONTRAST % selector)
        assert ratio >= 4.5, (scheme, selector, ratio)
