"""End to end: `aggregator run` against feeds served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from test_cli_run import aggregator, entries

from atomcheck import validate_atom
from feedserver import FeedServer, Reply

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>https://{host}/</link>
<description>News</description>{ttl}
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><link>https://{host}/news/{n}</link><guid>https://{host}/news/{n}</guid>
<pubDate>{date}</pubDate>
<description>&lt;p&gt;{body}&lt;/p&gt;</description></item>"""

BODIES = [
    "The Coastal Research Institute opened a laboratory for tidal energy in the north bay.",
    "The harbour authority agreed a new schedule for dredging the western channel in spring.",
    "A panel of judges announced the winners of the school science fair in the town hall.",
]


def recent(n: int) -> str:
    """An RFC 822 date a day before now, n minutes apart: news inside every window
    (dedup, filters' max age), whatever day the tests run."""
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1, minutes=-n)
    return format_datetime(when, usegmt=True)


def rss(host: str, title: str, count: int = 3, *, ttl: int | None = 60) -> bytes:
    items = "\n".join(
        ITEM.format(
            title=f"Story {n} from {title}",
            host=host,
            n=n,
            body=BODIES[n % len(BODIES)],
            date=recent(n),
        )
        for n in range(count)
    )
    ttl_element = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return RSS.format(title=title, host=host, items=items, ttl=ttl_element).encode()


def write_config(
    workdir: Path, server: FeedServer, paths: list[str], *, allow: bool = True
) -> None:
    lines = ['seeds = "seeds"', "[fetch]"]
    lines.append('allow = ["127.0.0.0/8"]' if allow else "allow = []")
    lines.append("timeout = 5")
    for path in paths:
        lines += ["[[sources]]", f'url = "{server.url(path)}"', f'name = "{path.strip("/")}"']
    (workdir / "aggregator.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def status(workdir: Path) -> dict[str, dict[str, object]]:
    data = json.loads(aggregator("status", "--json", cwd=workdir).stdout)
    return {row["id"]: row for row in data["sources"]}


@pytest.fixture
def server() -> FeedServer:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    return tmp_path


def test_fetch_publish_then_conditional_get(server: FeedServer, workdir: Path) -> None:
    server.feed(
        "/org",
        rss("org.example", "Org"),
        etag='"v1"',
        last_modified="Mon, 16 Nov 2026 10:00:00 GMT",
    )
    write_config(workdir, server, ["/org"])
    first = aggregator("run", cwd=workdir)
    assert "3 new" in first.stdout
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    assert len(entries(feed)) == 3
    assert "aggregator/" in server.hits("/org")[0].headers["user-agent"]

    second = aggregator("--log-level", "info", "run", "--all", cwd=workdir)
    assert "0 new" in second.stdout
    # One canonical log line per fetch, and one per publish decision.
    assert "source=org status=304 new=0 updated=0" in second.stderr
    assert "duration_ms=" in second.stderr
    request = server.hits("/org")[-1]
    assert request.headers["if-none-match"] == '"v1"'
    assert request.headers["if-modified-since"] == "Mon, 16 Nov 2026 10:00:00 GMT"
    assert status(workdir)["org"]["status"] == 304


def test_source_not_due_is_not_fetched_again(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"), etag='"v1"')
    write_config(workdir, server, ["/org"])
    aggregator("run", cwd=workdir)
    aggregator("run", cwd=workdir)
    assert len(server.hits("/org")) == 1
    row = status(workdir)["org"]
    assert row["next_due"] is not None and row["next_due"] > row["last_fetch"]


def test_one_failing_source_does_not_spoil_the_run(server: FeedServer, workdir: Path) -> None:
    server.feed("/good", rss("good.example", "Good"))
    server.route("/broken", Reply(status=500))
    server.route(
        "/html",
        Reply(
            body=b"<!doctype html><html><body>Hello</body></html>",
            headers={"Content-Type": "text/html"},
        ),
    )
    write_config(workdir, server, ["/good", "/broken", "/html"])
    result = aggregator("run", cwd=workdir)
    assert "2 failed" in result.stdout
    assert "broken" in result.stderr and "500" in result.stderr
    assert "not a feed" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 3
    rows = status(workdir)
    assert rows["broken"]["failures"] == 1
    assert rows["broken"]["next_due"] > rows["broken"]["last_fetch"]
    assert rows["good"]["failures"] == 0


def test_gone_source_is_disabled(server: FeedServer, workdir: Path) -> None:
    server.route("/gone", Reply(status=410))
    write_config(workdir, server, ["/gone"])
    aggregator("run", cwd=workdir, check=False)
    row = status(workdir)["gone"]
    assert row["enabled"] is False
    assert "410" in str(row["last_error"])
    aggregator("run", "--all", cwd=workdir, check=False)
    assert len(server.hits("/gone")) == 1


@pytest.mark.parametrize(("code", "moves"), [(301, True), (308, True), (302, False), (307, False)])
def test_permanent_redirect_updates_stored_url(
    server: FeedServer, workdir: Path, code: int, moves: bool
) -> None:
    server.feed("/new", rss("org.example", "Org"))
    server.redirect("/old", "/new", status=code)
    write_config(workdir, server, ["/old"])
    aggregator("run", cwd=workdir)
    expected = server.url("/new") if moves else server.url("/old")
    assert status(workdir)["old"]["url"] == expected


def test_private_address_refused_without_allow_list(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"))
    write_config(workdir, server, ["/org"], allow=False)
    result = aggregator("run", cwd=workdir, check=False)
    assert "loopback" in result.stderr or "refused" in result.stderr
    assert server.hits("/org") == []


def test_validators_saved_only_with_items(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"), etag='"v1"')
    write_config(workdir, server, ["/org"])
    aggregator("run", cwd=workdir)
    with sqlite3.connect(workdir / "data" / "aggregator.sqlite") as db:
        etag = db.execute("SELECT etag FROM sources WHERE id = 'org'").fetchone()[0]
        count = db.execute("SELECT COUNT(*) FROM items WHERE source_id = 'org'").fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert etag == '"v1"' and count == 3


def test_sources_commands_edit_the_config(
    server: FeedServer, workdir: Path, tmp_path: Path
) -> None:
    server.feed("/a", rss("a.example", "A"))
    aggregator(
        "sources", "add", server.url("/a"), "--name", "Alpha", "--tag", "science", cwd=workdir
    )
    again = aggregator("sources", "add", server.url("/a"), cwd=workdir, check=False)
    assert again.returncode == 2 and "already listed" in again.stderr
    opml = tmp_path / "subs.opml"
    opml.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>s</title></head><body>
        <outline text="Science"><outline text="Beta" type="rss" xmlUrl="https://beta.example/feed"/>
          <outline text="Nested"><outline text="Gamma" type="rss" xmlUrl="https://gamma.example/rss"/></outline>
        </outline></body></opml>""",
        encoding="utf-8",
    )
    imported = aggregator("sources", "import", str(opml), cwd=workdir)
    assert "2 sources added" in imported.stdout
    broken = tmp_path / "broken.opml"
    broken.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>s</title></head><body>
        <outline text="Old" type="rss" xmlUrl="ftp://old.example/feed"/>
        <outline text="Typo" type="rss" xmlUrl="http://[typo.example/feed"/>
        <outline text="Beta" type="rss" xmlUrl="https://beta.example/feed"/></body></opml>""",
        encoding="utf-8",
    )
    partly = aggregator("sources", "import", str(broken), cwd=workdir)
    assert "0 sources added, 1 already listed, 2 not http(s) URLs" in partly.stdout
    assert "skipped ftp://old.example/feed: not an http(s) URL" in partly.stderr
    assert "Traceback" not in partly.stderr
    listed = json.loads(aggregator("sources", "list", "--json", cwd=workdir).stdout)
    assert {row["id"] for row in listed} == {"alpha", "beta", "gamma"}
    gamma = next(row for row in listed if row["id"] == "gamma")
    assert set(gamma["tags"]) >= {"Science", "Nested"}
    aggregator("sources", "disable", "beta", cwd=workdir)
    aggregator("sources", "remove", "gamma", cwd=workdir)
    exported = aggregator("sources", "export", cwd=workdir).stdout
    assert "https://beta.example/feed" in exported and "gamma" not in exported
    listed = json.loads(aggregator("sources", "list", "--json", cwd=workdir).stdout)
    assert {row["id"]: row["enabled"] for row in listed} == {"alpha": True, "beta": False}
    missing = aggregator("sources", "remove", "nope", cwd=workdir, check=False)
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_bad_filter_pattern_is_a_config_error(server: FeedServer, workdir: Path) -> None:
    write_config(workdir, server, ["/org"])
    with (workdir / "aggregator.toml").open("a", encoding="utf-8") as handle:
        handle.write('filters = { exclude = ["/[unclosed/"] }\n')
    result = aggregator("run", cwd=workdir, check=False)
    assert result.returncode == 2
    assert "org" in result.stderr and "[unclosed" in result.stderr


def test_wrong_declared_charset_still_reads_right(server: FeedServer, workdir: Path) -> None:
    latin = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Café Org</title>'
        "<link>https://cafe.example/</link><description>d</description>"
        "<item><title>Caf\u00e9 opens in Sm\u00f8rum</title><link>https://cafe.example/1</link>"
        "<guid>https://cafe.example/1</guid><description>The caf\u00e9 opens.</description></item>"
        "</channel></rss>"
    ).encode("latin-1")
    server.route(
        "/latin", Reply(body=latin, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    )
    write_config(workdir, server, ["/latin"])
    aggregator("run", cwd=workdir)
    (entry,) = entries((workdir / "feeds" / "index.atom").read_bytes())
    assert entry.findtext("{http://www.w3.org/2005/Atom}title") == "Café opens in Smørum"


def test_filters_drop_items_and_explain_says_why(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"))
    write_config(workdir, server, ["/org"])
    with (workdir / "aggregator.toml").open("a", encoding="utf-8") as handle:
        handle.write('filters = { exclude = ["/^Story 1 /"] }\n')
    result = aggregator("run", cwd=workdir)
    assert "2 new" in result.stdout and "1 skipped" in result.stdout
    titles = [
        e.findtext("{http://www.w3.org/2005/Atom}title")
        for e in entries((workdir / "feeds" / "index.atom").read_bytes())
    ]
    assert "Story 1 from Org" not in titles and len(titles) == 2
    explained = aggregator("explain", "Story 0 from Org", cwd=workdir)
    assert "entry_id" in explained.stdout and "origin_id" in explained.stdout
    missing = aggregator("explain", "no such item", cwd=workdir, check=False)
    assert missing.returncode == 1 and "no stored item" in missing.stderr


def test_a_feed_with_an_absurd_ttl_is_fetched_and_scheduled(
    server: FeedServer, workdir: Path
) -> None:
    # A twenty-digit <ttl> overflowed timedelta: the run, and every run after it, failed.
    server.feed("/org", rss("org.example", "Org", ttl=10**20))
    write_config(workdir, server, ["/org"])
    result = aggregator("run", cwd=workdir)
    assert "Traceback" not in result.stderr
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 3
    (row,) = json.loads(aggregator("sources", "list", "--json", cwd=workdir).stdout)
    due_in = datetime.fromisoformat(row["next_due"]) - datetime.now(UTC)
    assert due_in <= timedelta(hours=24) * 1.25  # the maximum interval (plus jitter)


def test_story_returning_through_a_new_source_joins_its_entry(
    server: FeedServer, workdir: Path
) -> None:
    # First only a republisher's copy, then the organisation's own copy in a later run.
    body = (
        "The Coastal Research Institute opened a laboratory for tidal energy in the north "
        "bay, with twelve researchers and a test basin."
    )
    wire = RSS.format(
        title="Wire",
        host="wire.example",
        ttl="",
        items=ITEM.format(
            title="Institute opens tidal lab", host="wire.example", n=1, body=body, date=recent(1)
        ),
    ).encode()
    org = RSS.format(
        title="Coastal Research Institute",
        host="cri.example",
        ttl="",
        items=ITEM.format(
            title="New laboratory for tidal energy",
            host="cri.example",
            n=1,
            body=body,
            date=recent(2),
        ),
    ).encode()
    server.feed("/wire", wire)
    write_config(workdir, server, ["/wire"])
    aggregator("run", cwd=workdir)
    (first,) = entries((workdir / "feeds" / "index.atom").read_bytes())
    entry_id = first.findtext("{http://www.w3.org/2005/Atom}id")
    server.feed("/org", org)
    write_config(workdir, server, ["/wire", "/org"])
    aggregator("run", cwd=workdir)
    (entry,) = entries((workdir / "feeds" / "index.atom").read_bytes())
    atom = "{http://www.w3.org/2005/Atom}"
    assert entry.findtext(f"{atom}id") == entry_id
    assert entry.findtext(f"{atom}title") == "New laboratory for tidal energy"
    vias = [link.get("href") for link in entry.findall(f"{atom}link") if link.get("rel") == "via"]
    assert vias == ["https://wire.example/news/1"]
    records = [json.loads(line) for line in aggregator("export", cwd=workdir).stdout.splitlines()]
    joined = next(r for r in records if r["source_id"] == "org")
    assert joined["entry_id"] == entry_id and joined["merge_reason"]


def test_websub_hub_is_pinged_after_a_changed_publish(workdir: Path, tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    pings: list[dict[str, list[str]]] = []

    class Hub(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            pings.append(parse_qs(self.rfile.read(length).decode()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        shutil_copy_seed(workdir)
        (workdir / "aggregator.toml").write_text(
            f'[feed]\nbase_url = "https://news.example/feeds/"\nhub = "http://127.0.0.1:{hub.server_port}/"\n',
            encoding="utf-8",
        )
        aggregator("run", cwd=workdir)
        topics = {topic for ping in pings for topic in ping["hub.url"]}
        assert "https://news.example/feeds/index.atom" in topics
        assert all(ping["hub.mode"] == ["publish"] for ping in pings)
        feed = (workdir / "feeds" / "index.atom").read_text(encoding="utf-8")
        hub_links = re.findall(r'<link[^>]*rel="hub"[^>]*>', feed)
        assert hub_links and f"127.0.0.1:{hub.server_port}" in hub_links[0]
        count = len(pings)
        aggregator("run", cwd=workdir)  # nothing changed: no ping
        assert len(pings) == count
    finally:
        hub.shutdown()


def shutil_copy_seed(workdir: Path) -> None:
    import shutil

    from test_cli_run import SHIPPED_SEEDS

    for seed in SHIPPED_SEEDS.glob("*.txt"):
        shutil.copy(seed, workdir / "seeds" / seed.name)


def test_sources_add_gives_a_second_feed_of_a_site_an_id_of_its_own(workdir: Path) -> None:
    aggregator("sources", "add", "https://site.example/feed", cwd=workdir)
    second = aggregator("sources", "add", "https://site.example/feed?lang=fr", cwd=workdir)
    assert "added site-example-feed-2: https://site.example/feed?lang=fr" in second.stdout
    listed = json.loads(aggregator("sources", "list", "--json", cwd=workdir).stdout)
    assert [row["id"] for row in listed] == ["site-example-feed", "site-example-feed-2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sources", "add", "https://a.example/f", "--tag", ""), "--tag: a tag cannot be empty"),
        (("sources", "add", "https://a.example/f", "--tag", "a/b"), "contains '/' or ','"),
        (("schedule", "--tick", "nan"), "expected a finite number, got nan"),
        (("run", "--db", ""), "expected a database path or URL"),
    ],
)
def test_bad_command_line_values_are_messages(
    workdir: Path, args: tuple[str, ...], message: str
) -> None:
    result = aggregator(*args, cwd=workdir, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "aggregator.toml").exists()  # nothing was written


def test_a_refused_source_recovers_once_allowed(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"))
    write_config(workdir, server, ["/org"], allow=False)
    refused = aggregator("run", cwd=workdir)
    # The refusal names the setting that lifts it.
    assert '(to fetch it anyway, add "127.0.0.1" to [fetch] allow in the config)' in (
        refused.stderr
    )
    assert server.hits("/org") == []
    # Adding `allow` changes [fetch]: the source is tried at once, not after its backoff.
    write_config(workdir, server, ["/org"], allow=True)
    recovered = aggregator("run", cwd=workdir)
    assert "3 new" in recovered.stdout
    assert len(server.hits("/org")) == 1
    assert status(workdir)["org"]["failures"] == 0


def test_a_changed_source_config_clears_its_backoff(server: FeedServer, workdir: Path) -> None:
    server.route("/org", Reply(status=500))
    write_config(workdir, server, ["/org"])
    aggregator("run", cwd=workdir)
    aggregator("run", "--only", "org", cwd=workdir)  # a second failure: backing off
    assert status(workdir)["org"]["failures"] == 2
    waiting = aggregator("--log-level", "info", "run", cwd=workdir)
    assert len(server.hits("/org")) == 2
    assert re.search(
        r"^Not due yet: 1 source, the next at \d{4}-\d\d-\d\d \d\d:\d\d UTC", waiting.stdout, re.M
    )
    # The operator fixes the source's config: the next plain run tries it.
    server.feed("/org2", rss("org.example", "Org"))
    config = workdir / "aggregator.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(server.url("/org"), server.url("/org2")),
        encoding="utf-8",
    )
    fixed = aggregator("run", cwd=workdir)
    assert "3 new" in fixed.stdout and "Not due" not in fixed.stdout
    assert len(server.hits("/org2")) == 1
    row = status(workdir)["org"]
    assert row["failures"] == 0 and row["status"] == 200


def test_only_means_this_source_now(server: FeedServer, workdir: Path) -> None:
    server.feed("/org", rss("org.example", "Org"), etag='"v1"')
    write_config(workdir, server, ["/org"])
    aggregator("run", cwd=workdir)
    # Given after the command, a global option works too.
    again = aggregator("run", "--only", "org", "--log-level", "info", cwd=workdir)
    assert "Read 1 source;" in again.stdout
    assert "source=org status=304" in again.stderr
    assert len(server.hits("/org")) == 2


def test_failed_fetch_log_lines_say_what_failed(server: FeedServer, workdir: Path) -> None:
    server.route("/html", Reply(body=b"<html><body>hi</body></html>"))
    write_config(workdir, server, ["/html"])
    lines = workdir / "aggregator.toml"
    lines.write_text(
        lines.read_text(encoding="utf-8")
        + f'[[sources]]\nurl = "http://127.0.0.1:{free_port()}/feed"\nname = "down"\n',
        encoding="utf-8",
    )
    result = aggregator("run", "--log-level", "info", cwd=workdir)
    assert "status=None" not in result.stderr
    assert "source=down failed=fetch error='connection refused'" in result.stderr
    assert "source=html status=200 failed=parse error='not a feed" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _default_signals() -> None:
    # A shell runs a background job (`pytest &`) with SIGINT ignored, and the run would
    # inherit that: Python keeps an ignored SIGINT ignored, as it should. The run under
    # test is one started from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_run(workdir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", "--all"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals,
    )


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 143, "Stopped by SIGTERM before storing anything"),
        (signal.SIGINT, 130, "Interrupted"),
    ],
)
def test_a_run_stopped_by_a_signal_keeps_the_last_feed_and_says_so(
    server: FeedServer, workdir: Path, signum: int, code: int, said: str
) -> None:
    server.feed("/org", rss("org.example", "Org", count=2))
    write_config(workdir, server, ["/org"])
    aggregator("run", cwd=workdir)
    before = (workdir / "feeds" / "index.atom").read_bytes()
    server.route("/org", Reply(body=rss("org.example", "Org", count=3), delay=3.0))
    process = start_run(workdir)
    deadline = time.monotonic() + 60
    while len(server.hits("/org")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert said in err
    assert "Traceback" not in err and "Aborted!" not in err
    assert (workdir / "feeds" / "index.atom").read_bytes() == before
    assert "Story 2" not in json.dumps(status(workdir))  # nothing half-stored either


def allow_loopback(workdir: Path) -> Path:
    config = workdir / "aggregator.toml"
    config.write_text('[fetch]\nallow = ["127.0.0.0/8"]\ntimeout = 5\n', encoding="utf-8")
    return config


PAGE = b"""<!doctype html><html><head><title>Org</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="News" href="/v2/org.rss">
</head><body><h1>Org</h1></body></html>"""
HTML = {"Content-Type": "text/html; charset=utf-8"}


def test_sources_add_finds_the_feed_of_a_page(server: FeedServer, workdir: Path) -> None:
    allow_loopback(workdir)
    server.route("/", Reply(body=PAGE, headers=HTML))
    server.feed("/v2/org.rss", rss("org.example", "Org News"))
    added = aggregator("sources", "add", server.url("/"), cwd=workdir)
    # The feed the page links to, said which, with an id from the feed's title.
    assert added.stdout == (
        f"added org-news: {server.url('/v2/org.rss')} (the feed of {server.url('/')}, "
        "linked from the page); its title: Org News\n"
    )
    refused = aggregator(
        "sources", "add", "--no-discover", server.url("/"), cwd=workdir, check=False
    )
    assert refused.returncode == 1
    assert "not a feed (got an HTML page); without --no-discover" in refused.stderr
    again = aggregator("sources", "add", server.url("/"), cwd=workdir, check=False)
    assert again.returncode == 2
    assert "is already listed as source 'org-news'" in again.stderr
    aggregator("run", cwd=workdir)
    assert status(workdir)["org-news"]["items"] == 3


def test_sources_add_tries_the_usual_paths_then_says_what_it_tried(
    server: FeedServer, workdir: Path
) -> None:
    allow_loopback(workdir)
    server.route("/site/", Reply(body=b"<html><body>No links</body></html>", headers=HTML))
    server.feed("/feed.xml", rss("org.example", "Org"))
    added = aggregator("sources", "add", "--json", server.url("/site/"), cwd=workdir)
    assert json.loads(added.stdout) == {
        "id": "org",
        "url": server.url("/feed.xml"),
        "requested": server.url("/site/"),
        "found": "at a usual feed path",
        "title": "Org",
        "checked": True,
        "warning": None,
    }
    with FeedServer() as bare:
        bare.route("/", Reply(body=b"<html><body>Nothing</body></html>", headers=HTML))
        none = aggregator("sources", "add", bare.url("/"), cwd=workdir, check=False)
    assert none.returncode == 1
    assert "no feed was found from it: no feed link, none at /feed, /rss" in none.stderr
    assert "Traceback" not in none.stderr


def test_sources_add_compares_normalised_urls(server: FeedServer, workdir: Path) -> None:
    allow_loopback(workdir)
    server.feed("/org.rss", rss("org.example", "Org"))
    base = server.url("/org.rss")
    aggregator("sources", "add", base, cwd=workdir)
    for spelling in (base + "?", base + "#latest", base.replace("http://", "HTTP://")):
        again = aggregator("sources", "add", spelling, cwd=workdir, check=False)
        assert again.returncode == 2, spelling
        assert "is already listed as source 'org'" in again.stderr
    # A default port and a host's case, on a host that cannot be fetched here: the check
    # comes before any fetch.
    aggregator("sources", "add", "https://news.example/feed", cwd=workdir)
    twin = aggregator("sources", "add", "https://NEWS.example:443/feed", cwd=workdir, check=False)
    assert twin.returncode == 2 and "already listed" in twin.stderr


def test_a_trailing_slash_counts_where_the_server_agrees(server: FeedServer, workdir: Path) -> None:
    allow_loopback(workdir)
    server.feed("/same", rss("org.example", "Same"))
    server.redirect("/same/", "/same", status=301)
    server.feed("/apart", rss("a.example", "Apart"))
    server.feed("/apart/", rss("b.example", "Apart Two"))
    aggregator("sources", "add", server.url("/same"), cwd=workdir)
    same = aggregator("sources", "add", server.url("/same/"), cwd=workdir, check=False)
    assert same.returncode == 2 and "is already listed as source 'same'" in same.stderr
    body = rss("org.example", "Both")
    server.feed("/both/", body)
    server.feed("/both", body)
    aggregator("sources", "add", server.url("/both/"), cwd=workdir)
    both = aggregator("sources", "add", server.url("/both"), cwd=workdir, check=False)
    assert both.returncode == 2
    assert f"already listed as source 'both' ({server.url('/both/')} serves the same feed)" in (
        both.stderr
    )
    aggregator("sources", "add", server.url("/apart"), cwd=workdir)
    other = aggregator("sources", "add", server.url("/apart/"), cwd=workdir)
    assert other.stdout.startswith("added apart-two: ")


def test_sources_add_keeps_the_config_files_mode_and_layout(
    server: FeedServer, workdir: Path
) -> None:
    config = allow_loopback(workdir)
    text = (
        "# The newsroom's sources\n"
        + config.read_text(encoding="utf-8")
        + "\n# Partners\n[[sources]]\n"
        + f'url = "{server.url("/a")}"  # since 2024\nname = "A"\n\n'
        + f'[[sources]]\nurl = "{server.url("/b")}"\nname = "B"\n'
    )
    config.write_text(text, encoding="utf-8")
    config.chmod(0o644)
    server.feed("/c", rss("c.example", "Gamma"))
    aggregator("sources", "add", server.url("/c"), cwd=workdir)
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    new = config.read_text(encoding="utf-8")
    assert new == text + f'\n[[sources]]\nurl = "{server.url("/c")}"\nid = "gamma"\n'
    imported = tmp_opml(workdir)
    result = aggregator("sources", "import", "--json", str(imported), cwd=workdir)
    assert json.loads(result.stdout) == {
        "added": [{"id": "delta", "url": "https://delta.example/feed"}],
        "skipped": [{"url": server.url("/c"), "reason": "already listed"}],
    }
    assert config.read_text(encoding="utf-8").startswith(new + "\n[[sources]]\n")
    assert stat.S_IMODE(config.stat().st_mode) == 0o644


def tmp_opml(workdir: Path) -> Path:
    listed = json.loads(aggregator("sources", "list", "--json", cwd=workdir).stdout)
    path = workdir / "subs.opml"
    path.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>s</title></head><body>
        <outline text="Delta" type="rss" xmlUrl="https://delta.example/feed"/>
        <outline text="Gamma" type="rss" xmlUrl="{url}"/></body></opml>""".replace(
            "{url}", listed[-1]["url"]
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("command", [("status",), ("sources", "list")])
def test_tables_fit_an_80_column_terminal(
    server: FeedServer, workdir: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    server.feed("/org", rss("org.example", "Org"))
    paths = ["/org", "/a-rather-long-path/of-a-regional-press-office/feed", "/gone"]
    server.route("/gone", Reply(status=410))
    write_config(workdir, server, paths)
    aggregator("run", cwd=workdir, check=False)
    monkeypatch.setenv("COLUMNS", "80")
    shown = aggregator(*command, cwd=workdir).stdout
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80, shown
    long_id = "a-rather-long-path-of-a-regional-press-office-feed"
    assert any(line.startswith(long_id[:16]) for line in lines), shown
    assert "gone: gone (410): the feed was removed" in shown  # errors in full, below
    assert any(line.startswith("org ") and " 200 " in line for line in lines), shown
