"""Full text for teaser-only sources (issue 18): a loopback site of article pages (cookie
banner, navigation, share buttons, related links, comments, footer around the release)
and teaser feeds pointing at them, through the real CLI."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_cli_remote import recent
from test_cli_run import ATOM, aggregator, entries

from feedserver import FeedServer, Reply, Request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from article_pages import article_page, read_release, teaser_rss
from factories import make_item

from aggregator.config import FetchConfig, settings_from_mapping
from aggregator.exceptions import ConfigError, FetchError
from aggregator.fulltext.detect import cut_reason, fetch_reason
from aggregator.fulltext.extract import Extracted, extract_article
from aggregator.fulltext.pages import Deferred, PageJob, Robots, fetch_pages
from aggregator.ingest.http import FetchOutcome
from aggregator.model import Item
from aggregator.normalise.html import html_to_text

DATA = Path(__file__).parent / "data" / "fulltext"
RELEASES = [read_release(p) for p in sorted(DATA.glob("*.txt"))]
BOILERPLATE = ("cookies", "Share on", "Related news", "comments", "All rights reserved",
               "Leave a reply", "Careers", "Subscribe")  # fmt: skip
HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(n: int) -> bytes:
    related = [r.title for r in RELEASES if r is not RELEASES[n]]
    return article_page(RELEASES[n], related=related, layout=n, slug=str(n)).encode()


def site(server: FeedServer, *, robots: str | None = None, count: int = 3) -> None:
    """Article pages /news/<n> (with validators), a teaser digest at /digest."""
    for n in range(count):
        server.feed(f"/news/{n}", page(n), etag=f'"p{n}"', content_type=HTML["Content-Type"])
    if robots is not None:
        server.route("/robots.txt", Reply(body=robots.encode()))
    digest(server, count)


def digest(
    server: FeedServer, count: int = 3, teaser: str | None = None, etag: str | None = None
) -> None:
    items = [(server.url(f"/news/{n}"), RELEASES[n], recent(n)) for n in range(count)]
    server.feed("/digest", teaser_rss("Digest", server.base_url, items, teaser=teaser), etag=etag)


def configure(
    workdir: Path, server: FeedServer, *extra: str, source: str = "", timeout: float = 5
) -> None:
    lines = ['seeds = "seeds"', "[fetch]", 'allow = ["127.0.0.1/32"]', f"timeout = {timeout}",
             *extra, "[[sources]]", f'url = "{server.url("/digest")}"', 'name = "digest"',
             source]  # fmt: skip
    (workdir / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def published(workdir: Path) -> dict[str, dict[str, str]]:
    """Each entry of index.atom by title: its text, summary and link."""
    found = {}
    for entry in entries((workdir / "feeds" / "index.atom").read_bytes()):
        content = entry.findtext(f"{ATOM}content") or ""
        link = next(
            (
                el
                for el in entry.findall(f"{ATOM}link")
                if el.get("rel", "alternate") == "alternate"
            ),
            None,
        )
        found[entry.findtext(f"{ATOM}title") or ""] = {
            "text": html_to_text(content),
            "summary": entry.findtext(f"{ATOM}summary") or "",
            "link": link.get("href", "") if link is not None else "",
        }
    return found


def explain(workdir: Path, title: str) -> str:
    return aggregator("explain", title, cwd=workdir).stdout


def page_hits(server: FeedServer) -> list[Request]:
    return [r for r in server.requests if r.path.startswith("/news/")]


@pytest.fixture
def server() -> FeedServer:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    return tmp_path


# -- end to end ---------------------------------------------------------------------------


def test_teasers_get_the_article_once_with_provenance(server: FeedServer, workdir: Path) -> None:
    site(server, robots="User-agent: *\nDisallow: /private/\n")
    configure(workdir, server)
    aggregator("run", cwd=workdir)
    feed = published(workdir)
    assert len(feed) == 3
    for n, release in enumerate(RELEASES[:3]):
        entry = feed[release.title]
        # The whole release, word for word, and none of the page around it.
        assert all(p in entry["text"] for p in release.paragraphs), entry["text"]
        assert not [b for b in BOILERPLATE if b in entry["text"]]
        assert entry["link"] == server.url(f"/news/{n}")
        assert entry["summary"].startswith(release.first_sentence.rstrip("."))
        assert len(entry["summary"].split()) < len(release.text.split()) / 2
    note = explain(workdir, RELEASES[0].title)
    assert f"full text fetched from the article page {server.url('/news/0')}" in note
    assert "the feed's teaser kept as the summary" in note
    first = page_hits(server)
    assert len(first) == 3
    assert all(r.headers["user-agent"].startswith("aggregator/") for r in server.requests)
    assert all("text/html" in r.headers["accept"] for r in first)
    assert len(server.hits("/robots.txt")) == 1

    # A second run: the teasers did not change, so no page (nor robots.txt) is asked
    # for again, and nothing is updated.
    again = aggregator("run", "--all", cwd=workdir)
    assert "0 new, 0 updated" in again.stdout
    assert page_hits(server) == first
    assert len(server.hits("/robots.txt")) == 1


def test_a_changed_teaser_refetches_with_validators(server: FeedServer, workdir: Path) -> None:
    site(server, count=1)
    configure(workdir, server)
    aggregator("run", cwd=workdir)
    digest(server, 1, teaser="A new teaser for the same release …")
    aggregator("run", "--all", cwd=workdir)
    second = page_hits(server)[-1]
    assert len(page_hits(server)) == 2
    assert second.headers["if-none-match"] == '"p0"'  # answered 304: the cached article
    assert all(p in published(workdir)[RELEASES[0].title]["text"] for p in RELEASES[0].paragraphs)


def test_never_keeps_teasers_and_always_fetches_whole_items(
    server: FeedServer, workdir: Path
) -> None:
    site(server)
    configure(workdir, server, source='full_text = "never"')
    aggregator("run", cwd=workdir)
    assert page_hits(server) == []
    assert len(published(workdir)[RELEASES[0].title]["text"].split()) < 40

    # An item that looks whole (long, ends with a full stop, no read-more link): "auto"
    # leaves it, "always" fetches its page.
    items = [(server.url("/news/0"), RELEASES[0], recent(0))]
    whole = " ".join(RELEASES[0].paragraphs[:5])
    body = teaser_rss("Digest", server.base_url, items, teaser=whole, read_more=False)
    server.feed("/digest", body)
    for mode, hits in (("auto", 0), ("always", 1)):
        shutil.rmtree(workdir / "data", ignore_errors=True)
        configure(workdir, server, source=f'full_text = "{mode}"')
        aggregator("run", cwd=workdir)
        assert len(page_hits(server)) == hits, mode


def test_robots_disallow_keeps_the_teaser(server: FeedServer, workdir: Path) -> None:
    site(server, robots="User-agent: aggregator\nDisallow: /news/\n")
    configure(workdir, server)
    result = aggregator("run", cwd=workdir)
    assert "3 new" in result.stdout
    assert page_hits(server) == []
    assert len(published(workdir)[RELEASES[0].title]["text"].split()) < 40
    assert "robots.txt disallows it; the feed's teaser kept" in explain(workdir, RELEASES[0].title)


def test_unreadable_robots_fetches_nothing_from_the_site(server: FeedServer, workdir: Path) -> None:
    site(server, count=1)
    server.route("/robots.txt", Reply(status=500))
    digest(server, 1, etag='"d1"')
    configure(workdir, server)
    aggregator("run", cwd=workdir)
    assert page_hits(server) == []
    note = explain(workdir, RELEASES[0].title)
    assert f"robots.txt of {server.base_url} could not be read (HTTP 500 Internal" in note
    # A failure, retried later: the feed is still asked for with its validators (304).
    aggregator("run", "--all", cwd=workdir)
    assert server.hits("/digest")[-1].headers.get("if-none-match") == '"d1"'


def test_a_dry_run_fetches_no_page(server: FeedServer, workdir: Path) -> None:
    site(server, count=1)
    configure(workdir, server)
    assert "1 new" in aggregator("run", "--dry-run", cwd=workdir).stdout
    assert page_hits(server) == []
    assert server.hits("/robots.txt") == []


@pytest.mark.parametrize(
    ("reply", "extra", "why"),
    [
        (Reply(status=404), (), "HTTP 404 Not Found"),
        (Reply(body=b"x" * 60_000, headers=HTML), ("max_bytes = 50000",), "larger than"),
        (Reply(body=b"<html>" + b" " * 40, headers=HTML, drip=0.3), (), "timed out after 2 s"),
        (Reply(body=b"<html><body><p>Nothing here.</p></body></html>", headers=HTML), (),
         "not longer than the teaser"),
        (Reply(body=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}), (),
         "not an HTML page (application/pdf)"),
    ],
)  # fmt: skip
def test_failures_keep_the_teaser_and_say_why(
    server: FeedServer, workdir: Path, reply: Reply, extra: tuple[str, ...], why: str
) -> None:
    site(server, count=2)
    server.route("/news/1", reply)
    configure(workdir, server, *extra, timeout=2)  # the dripping page: a 2 s deadline
    result = aggregator("run", cwd=workdir)
    assert "2 new" in result.stdout  # the run goes on; the other page is fetched
    feed = published(workdir)
    assert all(p in feed[RELEASES[0].title]["text"] for p in RELEASES[0].paragraphs)
    assert len(feed[RELEASES[1].title]["text"].split()) < 40
    note = explain(workdir, RELEASES[1].title)
    assert f"full text not used from {server.url('/news/1')}" in note
    assert why in note


def test_redirect_to_a_private_address_is_refused(server: FeedServer, workdir: Path) -> None:
    site(server, count=1)
    server.redirect("/news/0", server.url("/news/0").replace("127.0.0.1", "127.0.0.2"))
    configure(workdir, server)
    aggregator("run", cwd=workdir)
    assert "refused: 127.0.0.2 is a loopback address" in explain(workdir, RELEASES[0].title)


def test_the_budget_leaves_the_rest_for_the_next_run(server: FeedServer, workdir: Path) -> None:
    site(server, count=3)
    digest(server, 3, etag='"d1"')
    configure(workdir, server, "[full_text]", "pages_per_run = 2")
    aggregator("run", cwd=workdir)
    assert len(page_hits(server)) == 2
    notes = [explain(workdir, r.title) for r in RELEASES[:3]]
    assert sum("left for a later run: this run's page budget is spent" in n for n in notes) == 1
    # The page left waiting is tried with the next fetch of its feed, which did not
    # change: it is asked for with its validators (a 304), not read and cleaned again.
    second = aggregator("run", "--all", cwd=workdir)
    assert server.hits("/digest")[-1].headers.get("if-none-match") == '"d1"'
    assert "1 updated" in second.stdout
    assert len(page_hits(server)) == 3
    assert all(
        all(p in published(workdir)[r.title]["text"] for p in r.paragraphs) for r in RELEASES[:3]
    )
    assert "left for a later run" not in explain(workdir, RELEASES[2].title)
    # Nothing is left: the next run fetches no page and finds nothing changed.
    third = aggregator("run", "--all", cwd=workdir)
    assert len(page_hits(server)) == 3
    assert "0 new, 0 updated" in third.stdout


def _retry_now(workdir: Path) -> None:
    """The failures' retry time come (6 hours later, without waiting them)."""
    with sqlite3.connect(workdir / "data" / "aggregator.sqlite") as db:
        db.execute("UPDATE article_cache SET retry_at = '2000-01-01T00:00:00.000000Z'")


def test_a_failed_page_is_retried_when_due_without_reading_the_feed_again(
    server: FeedServer, workdir: Path
) -> None:
    site(server, count=2)
    digest(server, 2, etag='"d1"')
    server.route("/news/1", Reply(status=503))
    configure(workdir, server)
    aggregator("run", cwd=workdir)
    assert "HTTP 503" in explain(workdir, RELEASES[1].title)
    server.feed("/news/1", page(1), content_type=HTML["Content-Type"])  # the site is back
    aggregator("run", "--all", cwd=workdir)
    assert len(server.hits("/news/1")) == 1  # not before its retry time
    _retry_now(workdir)
    result = aggregator("run", "--all", cwd=workdir)
    assert "1 updated" in result.stdout
    assert len(server.hits("/news/1")) == 2
    assert len(server.hits("/news/0")) == 1  # the cached article: no request
    assert all(p in published(workdir)[RELEASES[1].title]["text"] for p in RELEASES[1].paragraphs)
    note = explain(workdir, RELEASES[1].title)
    assert "full text fetched from the article page" in note
    assert "HTTP 503" not in note  # the last try's note is gone with it
    # Every fetch of the feed sent its validators: it was never read whole again.
    validators = [h.headers.get("if-none-match") for h in server.hits("/digest")]
    assert validators == [None, '"d1"', '"d1"']


def test_a_farm_whose_pages_cannot_be_fetched_is_not_read_again(
    server: FeedServer, workdir: Path
) -> None:
    """Several teaser feeds whose article pages all hang past the run's time budget: the
    pages wait for a later run, and the feeds (unchanged: 304) are not downloaded and
    cleaned again for them on every run (as they were, which made warm runs ~20x slower)."""
    feeds = 4
    for f in range(feeds):
        items = [(server.url(f"/news/{f}-{n}"), RELEASES[n], recent(n)) for n in range(3)]
        server.feed(f"/digest/{f}", teaser_rss(f"Digest {f}", server.base_url, items), etag='"v1"')
        for n in range(3):
            server.route(f"/news/{f}-{n}", Reply(body=page(n), headers=HTML, delay=3))
    lines = ['seeds = "seeds"', "[fetch]", 'allow = ["127.0.0.1/32"]', "timeout = 5",
             "[full_text]", "seconds_per_run = 1"]  # fmt: skip
    for f in range(feeds):
        lines += ["[[sources]]", f'url = "{server.url(f"/digest/{f}")}"', f'name = "d{f}"']
    (workdir / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    aggregator("run", cwd=workdir)
    assert "left for a later run" in explain(workdir, RELEASES[0].title)
    tried = len(page_hits(server))
    for _ in range(2):
        aggregator("run", "--all", cwd=workdir)
    assert len(page_hits(server)) > tried  # the pages are tried again…
    for f in range(feeds):
        validators = [h.headers.get("if-none-match") for h in server.hits(f"/digest/{f}")]
        assert validators == [None, '"v1"', '"v1"']  # …the feeds answer 304


def test_a_css_selector_override_picks_the_article(server: FeedServer, workdir: Path) -> None:
    site(server, count=1)
    configure(workdir, server, source='full_text_selector = "div.entry-content"')
    aggregator("run", cwd=workdir)
    assert "(CSS selector 'div.entry-content')" in explain(workdir, RELEASES[0].title)


def test_merging_uses_the_article(server: FeedServer, workdir: Path) -> None:
    """A digest's own one-line teaser shares no passage with the release; only its article
    does. Without full text the two copies stay two entries."""
    release = RELEASES[0]
    own = teaser_rss("Org", server.base_url, [])  # an empty channel to fill below
    item = (
        f"<item><title>{release.title}</title><link>{server.url('/org/release')}</link>"
        f"<guid>{server.url('/org/release')}</guid><pubDate>{recent(5)}</pubDate>"
        f"<description>{''.join(f'&lt;p&gt;{p}&lt;/p&gt;' for p in release.paragraphs)}"
        "</description></item>"
    )
    server.feed("/org", own.replace(b"</channel>", item.encode() + b"</channel>"))
    server.feed("/news/0", page(0), content_type=HTML["Content-Type"])
    digest(server, 1, teaser="Health officials name their new goals …")
    for mode, expected in (("never", 2), ("auto", 1)):
        shutil.rmtree(workdir / "data", ignore_errors=True)
        shutil.rmtree(workdir / "feeds", ignore_errors=True)
        configure(workdir, server, source=f'full_text = "{mode}"\n[[sources]]\n'
                  f'url = "{server.url("/org")}"\nname = "org"')  # fmt: skip
        aggregator("run", "--all", cwd=workdir)
        assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == expected, mode


# -- in process: politeness ----------------------------------------------------------------


def test_crawl_delay_spaces_requests_to_one_site(server: FeedServer) -> None:
    starts: list[float] = []

    def timed(request: Request) -> Reply:
        starts.append(time.monotonic())
        return Reply(body=page(0), headers=HTML)

    server.route("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 0.5\n"))
    for n in range(3):
        server.route(f"/news/{n}", timed)
    results = asyncio.run(
        fetch_pages(
            [PageJob(url=server.url(f"/news/{n}")) for n in range(3)],
            settings=FetchConfig(allow=("127.0.0.1/32",)),
            robots=Robots(),
            pages=10,
            seconds=30,
            now=datetime.now(UTC),
        )
    )
    assert all(isinstance(r, FetchOutcome) for r in results.values())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 2 and min(gaps) >= 0.45, gaps


def test_a_redirect_to_another_site_obeys_that_sites_robots(server: FeedServer) -> None:
    with FeedServer(host="127.0.0.2") as other:
        other.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n"))
        other.route("/private/0", Reply(body=page(0), headers=HTML))
        other.route("/open/1", Reply(body=page(1), headers=HTML))
        server.redirect("/news/0", other.url("/private/0"))
        server.redirect("/news/1", other.url("/open/1"))
        results = asyncio.run(
            fetch_pages(
                [PageJob(url=server.url(f"/news/{n}")) for n in range(2)],
                settings=FetchConfig(allow=("127.0.0.0/8",)),
                robots=Robots(),
                pages=10,
                seconds=30,
                now=datetime.now(UTC),
            )
        )
    refused = results[server.url("/news/0")]
    assert isinstance(refused, FetchError)
    assert refused.message == (
        f"it redirects to {other.url('/private/0')}, which its robots.txt disallows"
    )
    assert isinstance(results[server.url("/news/1")], FetchOutcome)
    assert len(other.hits("/robots.txt")) == 1


def test_time_budget_defers_what_does_not_fit(server: FeedServer) -> None:
    server.route("/news/0", Reply(body=page(0), headers=HTML, delay=1.0))
    server.route("/news/1", Reply(body=page(1), headers=HTML))
    started = time.monotonic()
    results = asyncio.run(
        fetch_pages(
            [PageJob(url=server.url("/news/0")), PageJob(url=server.url("/news/1"))],
            settings=FetchConfig(allow=("127.0.0.1/32",), per_host=1),
            robots=Robots(),
            pages=10,
            seconds=0.5,
            now=datetime.now(UTC),
        )
    )
    assert time.monotonic() - started < 1.0  # the slow page was cut at the budget
    assert all(isinstance(r, Deferred) for r in results.values()), results


# -- pure parts ----------------------------------------------------------------------------


def item(
    text: str, *, readmore: str | None = None, link: str | None = "https://o.example/a"
) -> Item:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    return make_item(
        text=text, when=when, title="T", link=link, content_html=None, readmore=readmore
    )


WHOLE = " ".join(["The council approved the plan for the new library today."] * 8)


@pytest.mark.parametrize(
    ("text", "readmore", "reason"),
    [
        (WHOLE, None, None),
        (WHOLE, "https://o.example/a", "it ends in a read-more link"),
        (WHOLE[:-1] + " …", None, "it ends in an ellipsis"),
        (WHOLE + " Read more", None, "it ends in a read-more phrase"),
        (WHOLE[:-12], None, "it stops in the middle of a sentence"),
        ("The council approved the plan.", None, "it is short (5 words)"),
    ],
)
def test_cut_teasers_are_detected(text: str, readmore: str | None, reason: str | None) -> None:
    assert cut_reason(item(text, readmore=readmore)) == reason


def test_modes() -> None:
    assert fetch_reason("always", item(WHOLE)) == "full_text = always"
    assert fetch_reason("auto", item(WHOLE)) is None
    assert fetch_reason("never", item("Short …")) is None
    assert fetch_reason("always", item(WHOLE, link=None)) is None


@pytest.mark.parametrize("n", range(len(RELEASES)))
def test_extraction_finds_the_release_in_every_layout(n: int) -> None:
    found = extract_article(page(n), "https://o.example/a", selector=None, teaser_words=20)
    assert isinstance(found, Extracted)
    text = html_to_text(found.html)
    assert all(p in text for p in RELEASES[n].paragraphs)
    assert not [b for b in BOILERPLATE if b in text]


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ({"full_text": "sometimes"}, "sources[1].full_text"),
        ({"full_text_selector": "div[["}, "sources[1].full_text_selector"),
    ],
)
def test_bad_settings_name_their_key(source: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"sources": [{"url": "https://o.example/f", **source}]},
                              base_dir=Path())  # fmt: skip
    assert caught.value.key == key


def test_budget_settings() -> None:
    settings = settings_from_mapping(
        {"full_text": {"pages_per_run": 7, "seconds_per_run": 2.5}}, base_dir=Path()
    )
    assert (settings.full_text.pages_per_run, settings.full_text.seconds_per_run) == (7, 2.5)
    with pytest.raises(ConfigError, match=r"full_text\.pages_per_run"):
        settings_from_mapping({"full_text": {"pages_per_run": 0}}, base_dir=Path())


def test_cache_table_is_a_migration_of_its_own(tmp_path: Path) -> None:
    from aggregator.store import open_store

    open_store(str(tmp_path / "a.sqlite")).close()
    with sqlite3.connect(tmp_path / "a.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"article_cache", "robots_cache"} <= tables


def test_article_and_robots_cache_round_trip(db_url: str) -> None:
    from aggregator.store import open_store
    from aggregator.store.articles import CachedArticle, CachedRobots

    now = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
    ok = CachedArticle(url="https://o.example/a", teaser_hash="t", fetched_at=now,
                       final_url="https://o.example/a/", etag='"é1"', html="<p>Été</p>",
                       method="trafilatura")  # fmt: skip
    failed = CachedArticle(url="https://o.example/b", teaser_hash="u", fetched_at=now,
                           reason="HTTP 404 Not Found", retry_at=now)  # fmt: skip
    store = open_store(db_url)
    try:
        store.save_articles([ok, failed])
        store.save_articles([ok])  # an upsert, not a second row
        assert store.cached_articles(["https://o.example/a", "https://o.example/b", "x"]) == {
            ok.url: ok,
            failed.url: failed,
        }
        robots = CachedRobots(origin="https://o.example:443", body=None, fetched_at=now)
        store.save_robots(robots)
        assert store.cached_robots("https://o.example:443") == robots
        assert store.cached_robots("https://p.example:443") is None
    finally:
        store.close()
