"""The fetcher, against real HTTP servers on 127.0.0.x started by the tests."""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import httpcore
import httpx
import pytest
import trustme

from aggregator.config import FetchConfig
from aggregator.exceptions import ConfigError, FetchError
from aggregator.ingest import http as http_module
from aggregator.ingest.guard import refusal
from aggregator.ingest.http import (
    Fetcher,
    FetchOutcome,
    FetchRequest,
    Validators,
)
from aggregator.ingest.pool import SWEEP_SECONDS, ExclusivePool
from aggregator.runtime import eventloop

from feedserver import FeedServer, Reply, Request, feed_server_fixture  # noqa: F401

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RSS = (
    b'<?xml version="1.0" encoding="iso-8859-1"?>'
    b'<rss version="2.0"><channel><title>caf\xe9</title></channel></rss>'
)
LOOPBACK = ("127.0.0.0/8",)


def settings(**overrides: object) -> FetchConfig:
    values: dict[str, object] = {"allow": LOOPBACK}
    values.update(overrides)
    return FetchConfig(**values)  # type: ignore[arg-type]


def fetch(url: str, validators: Validators | None = None, /, **overrides: object) -> FetchOutcome:
    async def run() -> FetchOutcome:
        async with Fetcher(settings(**overrides), clock=lambda: NOW) as fetcher:
            return await fetcher.fetch(
                FetchRequest(source_id="src", url=url, validators=validators or Validators())
            )

    return eventloop.run(run())


def fetch_error(url: str, **overrides: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **overrides)
    assert info.value.source_id == "src"
    return info.value


@pytest.fixture
def other_server() -> Iterator[FeedServer]:
    """A second server on another loopback address: another origin, another host."""
    with FeedServer(host="127.0.0.2") as server:
        yield server


# -- plain fetching --------------------------------------------------------------------


def test_fetch_returns_bytes_headers_and_validators(feed_server: FeedServer) -> None:
    feed_server.route(
        "/feed",
        Reply(
            body=RSS,
            headers={
                "Content-Type": "application/rss+xml; charset=iso-8859-1",
                "ETag": 'W/"v1"',
                "Last-Modified": "Wed, 01 May 2024 10:00:00 GMT",
            },
        ),
    )
    outcome = fetch(feed_server.url("/feed"))
    assert outcome.status == 200
    assert not outcome.not_modified
    assert outcome.body == RSS  # bytes untouched: the parser handles the declared charset
    assert outcome.headers["content-type"] == "application/rss+xml; charset=iso-8859-1"
    assert outcome.validators == Validators('W/"v1"', "Wed, 01 May 2024 10:00:00 GMT")
    assert outcome.final_url == feed_server.url("/feed")
    assert outcome.permanent_url is None
    assert outcome.fetched_at == NOW
    [request] = feed_server.hits("/feed")
    assert request.headers["user-agent"].startswith("aggregator/")
    assert request.headers["accept-encoding"] in ("gzip, deflate", "gzip, deflate, br")
    assert "if-none-match" not in request.headers


def test_connections_are_kept_alive(feed_server: FeedServer) -> None:
    feed_server.route("/a", Reply(body=b"a"))
    feed_server.route("/b", Reply(body=b"b"))

    async def run() -> None:
        async with Fetcher(settings()) as fetcher:
            await fetcher.fetch(FetchRequest(source_id="a", url=feed_server.url("/a")))
            await fetcher.fetch(FetchRequest(source_id="b", url=feed_server.url("/b")))

    eventloop.run(run())
    assert feed_server.hits("/a")[0].client_port == feed_server.hits("/b")[0].client_port


def test_304s_redirects_and_error_pages_keep_the_connection(feed_server: FeedServer) -> None:
    # httpcore closes a connection whose response was not read to its end; a warm run
    # (every feed a 304) must not reconnect for each feed.
    feed_server.feed("/cond", RSS, etag='"v1"')
    feed_server.redirect("/moved", "/cond", status=302)
    feed_server.route("/gone", Reply(status=404, body=b"no such feed"))
    validators = Validators(etag='"v1"')

    async def run() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings(), clock=lambda: NOW) as fetcher:
            results: list[FetchOutcome | FetchError] = []
            for path in ("/cond", "/moved", "/gone", "/cond"):
                request = FetchRequest(
                    source_id="s", url=feed_server.url(path), validators=validators
                )
                try:
                    results.append(await fetcher.fetch(request))
                except FetchError as error:
                    results.append(error)
            return results

    first, moved, gone, last = eventloop.run(run())
    assert isinstance(first, FetchOutcome) and first.not_modified
    assert isinstance(moved, FetchOutcome) and moved.not_modified
    assert isinstance(gone, FetchError) and gone.status == 404
    assert isinstance(last, FetchOutcome) and last.not_modified
    assert len({request.client_port for request in feed_server.requests}) == 1


def test_a_large_unread_body_is_not_read_to_keep_the_connection(feed_server: FeedServer) -> None:
    big = b"x" * (1024 * 1024)
    feed_server.route("/gone", Reply(status=404, body=big, drip=None))
    error = fetch_error(feed_server.url("/gone"))
    assert error.status == 404
    assert error.message == "HTTP 404 Not Found"


def test_many_hosts_at_high_concurrency_keep_one_pool_per_origin() -> None:
    # Above 8 concurrent requests the origins are spread over several connection pools;
    # each origin must still reuse its connections, and the limits still hold.
    counter = InFlight()
    servers = [FeedServer(host=f"127.0.0.{n}").start() for n in range(2, 14)]
    try:
        requests = []
        for index in range(96):
            server = servers[index % len(servers)]
            server.route(f"/f{index}", counter.handler(f"feed {index}".encode()))  # type: ignore[arg-type]
            requests.append(FetchRequest(source_id=f"s{index}", url=server.url(f"/f{index}")))

        async def run() -> list[FetchOutcome | FetchError]:
            async with Fetcher(settings(concurrency=40, per_host=2)) as fetcher:
                return await fetcher.fetch_all(requests)

        results = eventloop.run(run())
    finally:
        for server in servers:
            server.stop()
    assert [r.body for r in results if isinstance(r, FetchOutcome)] == [
        f"feed {index}".encode() for index in range(96)
    ]
    for server in servers:
        assert len({request.client_port for request in server.requests}) <= 2
        assert counter.peak[server.host] <= 2
    assert counter.peak["*"] <= 40


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_kept_alive_connection_the_server_closed_is_not_reused(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server closing an idle keep-alive connection (its keep-alive timeout) says so only
    by the close itself: the next request must go over a new connection, not fail on the
    dead one. Over TLS too: the check looks at the TCP socket under the TLS layer."""
    server_context: ssl.SSLContext | None = None
    if scheme == "https":
        authority = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("localhost").configure_cert(server_context)
        trusting = ssl.create_default_context()
        authority.configure_trust(trusting)
        # The fetcher trusts the public CAs only: here, the test's own CA instead.
        monkeypatch.setattr(http_module.httpx, "create_ssl_context", lambda **_: trusting)
    peers: list[int] = []

    def serve(listener: socket.socket) -> None:
        for _ in range(2):
            raw, (_, port) = listener.accept()
            conn = raw if server_context is None else server_context.wrap_socket(raw, True)
            with conn:
                peers.append(port)
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfeed")
                time.sleep(0.05)  # then closed while idle, without "Connection: close"

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        server = threading.Thread(target=serve, args=(listener,), daemon=True)
        server.start()

        async def run() -> list[bytes]:
            bodies = []
            async with Fetcher(settings(allow=("localhost", *LOOPBACK))) as fetcher:
                for n in range(2):
                    url = f"{scheme}://localhost:{port}/f{n}"
                    bodies.append((await fetcher.fetch(FetchRequest(source_id="s", url=url))).body)
                    await asyncio.sleep(0.3)
            return bodies

        assert eventloop.run(run()) == [b"feed", b"feed"]
        server.join(timeout=10)
    assert len(set(peers)) == 2


def test_a_burst_to_one_host_opens_only_per_host_connections_and_sends_each_request_once(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore's own pool handed one idle connection to every request arriving before the
    first one started on it; the others failed on it and went round the pool again, and
    opened connections they did not need (`ExclusivePool`)."""
    for n in range(96):
        feed_server.route(f"/f{n}", Reply(body=b"feed", delay=0.02 * (n % 2)))
    attempts = 0
    send_on_connection = httpcore.AsyncHTTPConnection.handle_async_request

    async def counted(self: httpcore.AsyncHTTPConnection, request: httpcore.Request) -> object:
        nonlocal attempts
        attempts += 1
        return await send_on_connection(self, request)

    monkeypatch.setattr(httpcore.AsyncHTTPConnection, "handle_async_request", counted)

    async def run() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings(concurrency=32, per_host=6)) as fetcher:
            return await fetcher.fetch_all(
                [FetchRequest(source_id=str(n), url=feed_server.url(f"/f{n}")) for n in range(96)]
            )

    outcomes = eventloop.run(run())
    assert all(isinstance(o, FetchOutcome) and o.body == b"feed" for o in outcomes)
    assert attempts == 96
    assert len({request.client_port for request in feed_server.requests}) <= 6


def test_an_idle_connection_its_server_closed_is_closed_while_other_hosts_are_fetched(
    feed_server: FeedServer,
) -> None:
    """The pool asks only the connection it hands out whether it is still good, and the
    others every `SWEEP_SECONDS`: one whose server closed it while idle, to a host not
    asked again, is still closed soon (not held, with its socket, until that host's next
    request) while the pool serves other hosts."""
    feed_server.route("/b", Reply(body=b"b"))
    closed_by_server = threading.Event()

    def serve_once(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
            time.sleep(0.05)
        closed_by_server.set()  # idle, then closed, without "Connection: close"

    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=serve_once, args=(listener,), daemon=True)
        server.start()
        other = f"http://127.0.0.1:{listener.getsockname()[1]}/a"

        async def run() -> tuple[int, int]:
            async with ExclusivePool(max_connections=8) as pool:
                await pool.request("GET", other)
                held_at_first = len(pool.connections)
                deadline = time.monotonic() + SWEEP_SECONDS * 2.5
                while time.monotonic() < deadline:
                    await pool.request("GET", feed_server.url("/b"))
                    await asyncio.sleep(0.05)
                return held_at_first, len(pool.connections)

        held_at_first, held_at_last = eventloop.run(run())
        server.join(timeout=10)
    assert closed_by_server.is_set()
    assert held_at_first == 1
    assert held_at_last == 1  # the feed server's connection only: the closed one is gone


def test_a_full_pool_queues_requests_and_makes_room_for_another_host(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    feed_server.route("/a", Reply(body=b"a", delay=0.02))
    other_server.route("/b", Reply(body=b"b"))

    async def run() -> tuple[list[bytes], bytes, int]:
        async with ExclusivePool(max_connections=2) as pool:

            async def get(url: str) -> bytes:
                return (await pool.request("GET", url)).content

            burst = await asyncio.gather(*(get(feed_server.url("/a")) for _ in range(6)))
            other = await get(other_server.url("/b"))
            return burst, other, len(pool.connections)

    burst, other, held = eventloop.run(run())
    assert burst == [b"a"] * 6 and other == b"b"
    assert len({request.client_port for request in feed_server.requests}) == 2
    assert held == 2  # an idle connection to the first host was closed for the second


def test_new_origins_are_spread_evenly_over_the_pools() -> None:
    pools = [httpx.AsyncHTTPTransport() for _ in range(4)]
    sharded = http_module._ShardedTransport(pools)
    urls = [httpx.URL(f"http://127.0.1.{n}:8080/feed") for n in range(16)]
    chosen = [sharded.pool_for(url) for url in urls]
    assert [chosen.count(pool) for pool in pools] == [4, 4, 4, 4]
    again = [sharded.pool_for(httpx.URL(f"{url}?page=2")) for url in urls]
    assert again == chosen  # an origin keeps its pool (and its kept-alive connections)


def test_the_background_fetcher_hands_on_each_answer_as_it_ends(
    feed_server: FeedServer,
) -> None:
    """A worker stores what has answered and tops up its fetches by the count of those
    that have not: a call still waiting for one slow feed must hand on its quick ones'
    answers at once, and count as one request outstanding, not as the whole call."""
    from aggregator.runtime.fetching import BackgroundFetcher

    feed_server.route("/slow", Reply(body=b"slow", delay=2.0))
    for n in range(3):
        feed_server.route(f"/quick{n}", Reply(body=b"quick"))
    paths = ["/slow", "/quick0", "/quick1", "/quick2"]
    requests = [FetchRequest(source_id=p, url=feed_server.url(p)) for p in paths]
    with BackgroundFetcher(settings()) as fetcher:
        assert (fetcher.unanswered, fetcher.answers()) == (0, [])
        fetcher.submit(requests)
        assert fetcher.unanswered == 4
        quick = []
        deadline = time.monotonic() + 1.5
        while len(quick) < 3 and time.monotonic() < deadline:
            quick += fetcher.answers(timeout=0.1)
        assert fetcher.unanswered == 1
        assert sorted(a.request.source_id for a in quick) == ["/quick0", "/quick1", "/quick2"]
        assert {a.outcome.body for a in quick if isinstance(a.outcome, FetchOutcome)} == {b"quick"}
        (slow,) = fetcher.answers(timeout=30)
        assert fetcher.unanswered == 0
    assert slow.request.source_id == "/slow"
    assert isinstance(slow.outcome, FetchOutcome) and slow.outcome.body == b"slow"
    assert slow.ended - max(a.ended for a in quick) > 0.5


def test_a_fetch_that_never_ends_normally_is_still_answered(feed_server: FeedServer) -> None:
    """Requests whose call ends without an outcome (here cancelled as the fetcher closes)
    are answered with the exception: a worker waiting for them must not wait forever."""
    import asyncio

    from aggregator.runtime.fetching import BackgroundFetcher

    feed_server.route("/slow", Reply(body=b"slow", delay=5.0))
    feed_server.route("/quick", Reply(body=b"quick"))
    paths = ["/slow", "/quick"]
    with BackgroundFetcher(settings()) as fetcher:
        fetcher.submit([FetchRequest(source_id=p, url=feed_server.url(p)) for p in paths])
        (quick,) = fetcher.answers(timeout=3)
        started = time.monotonic()
    assert time.monotonic() - started < 3  # closing did not wait for the slow feed
    (slow,) = fetcher.answers()
    assert (quick.request.source_id, slow.request.source_id) == ("/quick", "/slow")
    assert isinstance(slow.outcome, asyncio.CancelledError)
    assert fetcher.unanswered == 0


def test_fetcher_must_be_entered() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        eventloop.run(Fetcher(settings()).fetch(FetchRequest(source_id="a", url="http://x/")))


# -- conditional GET -------------------------------------------------------------------


def test_validators_are_sent_verbatim_and_304_is_not_modified(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS, etag='"abc"', last_modified="Wed, 01 May 2024 10:00:00 GMT")
    first = fetch(feed_server.url("/feed"))
    second = fetch(feed_server.url("/feed"), first.validators)
    assert second.status == 304
    assert second.not_modified
    assert second.body is None
    assert second.validators == first.validators
    request = feed_server.hits("/feed")[1]
    assert request.headers["if-none-match"] == '"abc"'
    assert request.headers["if-modified-since"] == "Wed, 01 May 2024 10:00:00 GMT"


@pytest.mark.parametrize(
    "etag",
    [
        '"caf\u00c3\u00a9"',  # UTF-8 bytes of "café"
        '"caf\u00e9\u00ff"',  # bytes that are not UTF-8
    ],
)
def test_non_ascii_validators_go_back_byte_for_byte(feed_server: FeedServer, etag: str) -> None:
    """Validators are opaque: a server may put any byte above 0x7F in them. They used to
    come back as text that httpx refused to send (UnicodeEncodeError), which stopped
    every later run. (The test server reads and writes header bytes as latin-1.)"""
    last_modified = "\u00ff\u00fe not a date \u0080"
    feed_server.feed("/feed", RSS, etag=etag, last_modified=last_modified)
    first = fetch(feed_server.url("/feed"))
    second = fetch(feed_server.url("/feed"), first.validators)
    assert second.status == 304
    request = feed_server.hits("/feed")[1]
    assert request.headers["if-none-match"] == etag
    assert request.headers["if-modified-since"] == last_modified


def test_validators_stored_as_decoded_utf8_by_older_versions_still_go_back() -> None:
    assert http_module._header_bytes('"caf\u00e9"') == b'"caf\xe9"'
    assert http_module._header_bytes('"\u20ac"') == '"\u20ac"'.encode()


def test_an_unexpected_error_costs_one_source_not_the_run(feed_server: FeedServer) -> None:
    feed_server.feed("/good", RSS)
    feed_server.feed("/odd", RSS)
    unsendable = Validators(etag='"\ud800"')  # a lone surrogate: no encoding can send it

    async def scenario() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings()) as fetcher:
            return await fetcher.fetch_all(
                [
                    FetchRequest(
                        source_id="odd", url=feed_server.url("/odd"), validators=unsendable
                    ),
                    FetchRequest(source_id="good", url=feed_server.url("/good")),
                ]
            )

    odd, good = eventloop.run(scenario())
    assert isinstance(odd, FetchError) and "unexpected error" in odd.message
    assert isinstance(good, FetchOutcome) and good.body == RSS


def test_304_refreshes_only_the_validators_it_repeats(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(status=304, headers={"ETag": '"new"'}))
    old = Validators('"old"', "Tue, 30 Apr 2024 10:00:00 GMT")
    outcome = fetch(feed_server.url("/feed"), old)
    assert outcome.validators == Validators('"new"', "Tue, 30 Apr 2024 10:00:00 GMT")


def test_200_replaces_validators(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(body=RSS))  # the server stopped sending validators
    outcome = fetch(feed_server.url("/feed"), Validators('"old"', "x"))
    assert outcome.validators == Validators()


# -- bodies and encodings ----------------------------------------------------------------


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(body=RSS * 50, gzip=True))
    outcome = fetch(feed_server.url("/feed"))
    assert outcome.body == RSS * 50
    assert "content-encoding" not in outcome.headers  # the body handed back is decoded


@pytest.mark.parametrize(
    "encoded",
    [zlib.compress(RSS), zlib.compress(RSS)[2:-4]],  # zlib-wrapped, and raw as IIS sends it
    ids=["zlib", "raw"],
)
def test_deflate_both_flavours(feed_server: FeedServer, encoded: bytes) -> None:
    feed_server.route("/feed", Reply(body=encoded, headers={"Content-Encoding": "deflate"}))
    assert fetch(feed_server.url("/feed")).body == RSS


def test_brotli_body_is_decoded(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(body=brotli.compress(RSS), headers={"Content-Encoding": "br"}))
    assert fetch(feed_server.url("/feed")).body == RSS


BOMB_SIZE = 16 * 1024 * 1024  # expands 1000-fold; the cap below is 1 MiB


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", lambda data: gzip.compress(data, 9)),
        ("deflate", lambda data: zlib.compress(data, 9)),
        ("br", lambda data: brotli.compress(data, quality=5)),
    ],
)
def test_decompression_bomb_is_stopped(
    feed_server: FeedServer, coding: str, compress: object
) -> None:
    bomb = compress(b"\0" * BOMB_SIZE)  # type: ignore[operator]
    feed_server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": coding}))
    error = fetch_error(feed_server.url("/bomb"), max_bytes=1024 * 1024)
    assert error.message == "decompressed body larger than 1 MiB"
    assert error.status == 200


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("gzip, gzip", "stacked content encodings (gzip, gzip) are not accepted"),
        ("zstd", "unsupported content encoding 'zstd'"),
    ],
)
def test_stacked_or_unknown_encodings_are_refused(
    feed_server: FeedServer, header: str, message: str
) -> None:
    feed_server.route("/feed", Reply(body=b"whatever", headers={"Content-Encoding": header}))
    assert fetch_error(feed_server.url("/feed")).message == message


def test_corrupt_gzip_is_reported(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    assert fetch_error(feed_server.url("/feed")).message.startswith(
        "could not decompress the gzip body"
    )


def test_truncated_gzip_is_reported(feed_server: FeedServer) -> None:
    body = gzip.compress(RSS * 20)[:-30]
    feed_server.route("/feed", Reply(body=body, headers={"Content-Encoding": "gzip"}))
    assert fetch_error(feed_server.url("/feed")).message == "the gzip body is truncated"


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "streamed"])
def test_body_cap(feed_server: FeedServer, length: bool) -> None:
    feed_server.route("/big", Reply(body=b"x" * 20_000, length=length))
    assert fetch_error(feed_server.url("/big"), max_bytes=10_000).message == (
        "response larger than 10000 bytes"
    )


def test_body_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    feed_server.route("/big", Reply(body=b"x" * 10_240, gzip=True))
    assert fetch(feed_server.url("/big"), max_bytes=10_240).body == b"x" * 10_240


@pytest.mark.parametrize("reply", [Reply(body=b""), Reply(status=204)], ids=["200", "204"])
def test_empty_response(feed_server: FeedServer, reply: Reply) -> None:
    feed_server.route("/feed", reply)
    assert fetch_error(feed_server.url("/feed")).message == "empty response"


# -- deadlines ---------------------------------------------------------------------------


def test_dripping_server_is_cut_at_the_total_deadline(feed_server: FeedServer) -> None:
    # One byte every 0.2 s never trips the read timeout; only the total deadline stops it.
    feed_server.route("/drip", Reply(body=b"x" * 1000, drip=0.2))
    started = time.monotonic()
    error = fetch_error(feed_server.url("/drip"), timeout=1, read_timeout=5)
    elapsed = time.monotonic() - started
    assert error.message == "timed out after 1 s"
    assert error.status is None
    assert elapsed < 3  # the deadline, not the 200 s the drip would take


def test_silent_server_hits_the_read_timeout(feed_server: FeedServer) -> None:
    feed_server.route("/slow", Reply(body=b"late", delay=5))
    error = fetch_error(feed_server.url("/slow"), read_timeout=0.3)
    assert error.message == "no data from the server for 0.3 s"


# -- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "HTTP 404 Not Found"),
        (410, "gone (410): the feed was removed"),
        (500, "HTTP 500 Internal Server Error"),
        (403, "HTTP 403 Forbidden"),
        (599, "HTTP 599"),
    ],
)
def test_http_errors(feed_server: FeedServer, status: int, message: str) -> None:
    feed_server.route("/feed", Reply(status=status, body=b"error page"))
    error = fetch_error(feed_server.url("/feed"))
    assert (error.message, error.status, error.retry_after) == (message, status, None)


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "120", NOW + timedelta(minutes=2)),
        (503, "Wed, 01 May 2024 15:00:00 GMT", NOW + timedelta(hours=3)),
        (503, "in a while", NOW + timedelta(hours=1)),  # garbage: default delay
        (429, "99999999", NOW + timedelta(hours=24)),  # capped
        (503, None, NOW + timedelta(hours=1)),
    ],
)
def test_retry_after(
    feed_server: FeedServer, status: int, header: str | None, expected: datetime
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    feed_server.route("/feed", Reply(status=status, headers=headers))
    error = fetch_error(feed_server.url("/feed"))
    assert error.status == status
    assert error.retry_after == expected
    assert f"retry after {expected:%Y-%m-%d %H:%M:%S} UTC" in error.message


def test_connection_refused(feed_server: FeedServer) -> None:
    feed_server.stop()
    error = fetch_error(feed_server.url("/feed"))
    assert (error.message, error.status) == ("connection refused", None)


def test_unresolvable_host() -> None:
    assert fetch_error("http://no-such-host.invalid/feed").message == (
        "could not resolve host no-such-host.invalid"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "URL with unsupported scheme 'ftp': only http and https"),
        ("file:///etc/passwd", "not a valid URL (no host)"),
        ("http://[::1/feed", "not a valid URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    assert fetch_error(url).message.startswith(message)


# -- redirects ---------------------------------------------------------------------------


def test_permanent_redirect_chain_gives_the_url_to_store(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/older-still", status=301)
    feed_server.redirect("/older-still", "/feed", status=308)
    feed_server.route("/feed", Reply(body=RSS))
    outcome = fetch(feed_server.url("/old"))
    assert outcome.body == RSS
    assert outcome.url == feed_server.url("/old")
    assert outcome.final_url == feed_server.url("/feed")
    assert outcome.permanent_url == feed_server.url("/feed")


@pytest.mark.parametrize("temporary", [302, 303, 307])
def test_any_temporary_hop_means_no_permanent_url(feed_server: FeedServer, temporary: int) -> None:
    feed_server.redirect("/old", "/tmp", status=301)
    feed_server.redirect("/tmp", "/feed", status=temporary)
    feed_server.route("/feed", Reply(body=RSS))
    outcome = fetch(feed_server.url("/old"))
    assert outcome.final_url == feed_server.url("/feed")
    assert outcome.permanent_url is None


def test_validators_follow_redirects(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/feed", status=301)
    feed_server.feed("/feed", RSS, etag='"e"')
    outcome = fetch(feed_server.url("/old"), Validators('"e"'))
    assert outcome.not_modified
    assert outcome.permanent_url == feed_server.url("/feed")


def test_too_many_redirects(feed_server: FeedServer) -> None:
    for hop in range(7):
        feed_server.redirect(f"/r{hop}", f"/r{hop + 1}")
    error = fetch_error(feed_server.url("/r0"), max_redirects=5)
    assert error.message == "too many redirects (more than 5)"
    assert len(feed_server.requests) == 6  # the first request and five hops


def test_redirect_loop(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a#fragment")
    error = fetch_error(feed_server.url("/a"))
    assert error.message == f"redirect loop at {feed_server.url('/a')}"


def test_a_cookie_set_by_a_redirect_is_sent_on_the_next_hop(feed_server: FeedServer) -> None:
    # A consent or bot check: the feed sends a visitor without its cookie to a page that
    # sets it and sends them back.
    def feed(request: Request) -> Reply:
        if "consent=yes" in request.headers.get("cookie", ""):
            return Reply(body=RSS)
        return Reply(status=302, headers={"Location": "/consent"})

    feed_server.route("/feed", feed)
    feed_server.route(
        "/consent",
        Reply(status=302, headers=[("Location", "/feed"), ("Set-Cookie", "consent=yes; Path=/")]),
    )
    assert fetch(feed_server.url("/feed")).body == RSS
    assert [r.path for r in feed_server.requests] == ["/feed", "/consent", "/feed"]


def test_a_consent_check_that_never_lets_go_is_a_loop(feed_server: FeedServer) -> None:
    feed_server.redirect("/feed", "/consent")
    feed_server.route(
        "/consent",
        Reply(status=302, headers=[("Location", "/feed"), ("Set-Cookie", "consent=yes; Path=/")]),
    )
    error = fetch_error(feed_server.url("/feed"))
    assert error.message == f"redirect loop at {feed_server.url('/feed')}"
    assert len(feed_server.requests) == 4  # each URL without the cookie, then with it


def test_no_cookie_outlives_its_fetch(feed_server: FeedServer) -> None:
    # One jar for every feed of a long-running worker grew with each site that set a
    # cookie, and every request paid for copying it.
    feed_server.route("/a", Reply(body=RSS, headers={"Set-Cookie": "visitor=1; Path=/"}))
    feed_server.route(
        "/hop", Reply(status=302, headers=[("Location", "/a"), ("Set-Cookie", "hop=1; Path=/")])
    )
    feed_server.route("/b", Reply(body=RSS))
    settings_ = settings()

    async def run() -> None:
        async with Fetcher(settings_) as fetcher:
            for path in ("/a", "/hop", "/b", "/a"):
                await fetcher.fetch(FetchRequest(source_id="s", url=feed_server.url(path)))

    eventloop.run(run())
    sent = [(r.path, r.headers.get("cookie")) for r in feed_server.requests]
    assert sent == [("/a", None), ("/hop", None), ("/a", "hop=1"), ("/b", None), ("/a", None)]


def test_redirect_without_location(feed_server: FeedServer) -> None:
    feed_server.route("/a", Reply(status=302))
    assert fetch_error(feed_server.url("/a")).message == "redirect (302) without a Location header"


def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer) -> None:
    feed_server.redirect("/a", "file:///etc/passwd")
    error = fetch_error(feed_server.url("/a"))
    assert error.message == "redirect to unsupported scheme 'file': only http and https"


def test_redirect_to_a_url_httpx_cannot_build_is_a_readable_error(
    feed_server: FeedServer,
) -> None:
    feed_server.redirect("/a", "javascript:alert(1)")
    error = fetch_error(feed_server.url("/a"))
    assert error.message.startswith("redirect to an invalid URL (")


# -- credentials ---------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_stay_with_their_origin(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    feed_server.redirect("/start", "/same-origin")
    feed_server.redirect("/same-origin", other_server.url("/elsewhere"))
    other_server.route("/elsewhere", Reply(body=RSS))
    url = feed_server.url("/start").replace("http://", "http://alice:s3cret@")
    outcome = fetch(url)
    assert outcome.body == RSS
    assert feed_server.hits("/start")[0].headers["authorization"] == basic("alice", "s3cret")
    assert feed_server.hits("/same-origin")[0].headers["authorization"] == basic("alice", "s3cret")
    assert "authorization" not in other_server.hits("/elsewhere")[0].headers


def test_userinfo_offered_by_a_redirect_is_not_used(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    target = other_server.url("/x").replace("http://", "http://mallory:pw@")
    feed_server.redirect("/start", target)
    other_server.route("/x", Reply(body=RSS))
    fetch(feed_server.url("/start"))
    assert "authorization" not in other_server.hits("/x")[0].headers


def test_userinfo_never_appears_in_errors(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(status=404))
    url = feed_server.url("/feed").replace("http://", "http://alice:s3cret@")
    error = fetch_error(url)
    assert "s3cret" not in str(error)
    assert "alice" not in str(error)
    assert error.url == url.replace("alice:s3cret@", "***@")


# -- SSRF ----------------------------------------------------------------------------------


def assert_refused(error: FetchError) -> None:
    assert error.message.startswith("refused: "), error.message
    assert error.status is None


@pytest.fixture(params=["uvloop", "asyncio"])
def each_event_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs the test on uvloop (the product's loop where installed) and on asyncio's own
    (its fallback): their resolvers differ, and the address checks must hold on both."""
    if request.param == "asyncio":
        monkeypatch.setattr(eventloop, "_loop_factory", lambda: None)
    elif importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed")


@pytest.mark.usefixtures("each_event_loop")
def test_loopback_is_refused_by_default(feed_server: FeedServer) -> None:
    feed_server.route("/feed", Reply(body=RSS))
    error = fetch_error(feed_server.url("/feed"), allow=())
    # The refusal names the setting that lifts it.
    assert error.message == (
        'refused: 127.0.0.1 is a loopback address (to fetch it anyway, add "127.0.0.1" '
        "to [fetch] allow in the config)"
    )
    assert feed_server.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal
        "0x7f.1",  # hex, short form
        "127.1",  # short form
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "localhost",  # a name resolving to 127.0.0.1
        "LOCALHOST",
    ],
)
@pytest.mark.usefixtures("each_event_loop")
def test_obfuscated_loopback_is_refused(feed_server: FeedServer, host: str) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.route("/feed", Reply(body=RSS))
    error = fetch_error(f"http://{host}:{port}/feed", allow=())
    assert_refused(error)
    assert "127.0.0.1" in error.message
    assert feed_server.requests == []


@pytest.mark.parametrize(
    "host",
    ["0177.0.0.1", "localhost."],  # httpx refuses the first; the resolver may refuse the second
)
@pytest.mark.usefixtures("each_event_loop")
def test_other_obfuscations_never_reach_the_server(feed_server: FeedServer, host: str) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.route("/feed", Reply(body=RSS))
    fetch_error(f"http://{host}:{port}/feed", allow=())
    assert feed_server.requests == []


@pytest.mark.usefixtures("each_event_loop")
def test_redirect_to_a_disallowed_address_is_refused(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    feed_server.redirect("/start", other_server.url("/feed"))
    other_server.route("/feed", Reply(body=RSS))
    error = fetch_error(feed_server.url("/start"), allow=("127.0.0.1/32",))
    assert error.message.startswith("refused: 127.0.0.2 is a loopback address (")
    assert len(feed_server.hits("/start")) == 1
    assert other_server.requests == []


def test_redirect_to_a_name_resolving_to_a_disallowed_address(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    other_server.redirect("/start", f"http://localhost:{port}/feed")
    feed_server.route("/feed", Reply(body=RSS))
    error = fetch_error(other_server.url("/start"), allow=("127.0.0.2/32",))
    # The refusal names the setting that lifts it.
    assert error.message == (
        'refused: 127.0.0.1 is a loopback address (to fetch it anyway, add "localhost" '
        "to [fetch] allow in the config)"
    )
    assert len(other_server.hits("/start")) == 1
    assert feed_server.requests == []


@pytest.mark.usefixtures("each_event_loop")
def test_redirect_from_an_allowed_name_to_its_address_is_refused(feed_server: FeedServer) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.redirect("/start", f"http://127.0.0.1:{port}/feed")
    feed_server.route("/feed", Reply(body=RSS))
    error = fetch_error(f"http://localhost:{port}/start", allow=("localhost",))
    # The refusal names the setting that lifts it.
    assert error.message == (
        'refused: 127.0.0.1 is a loopback address (to fetch it anyway, add "127.0.0.1" '
        "to [fetch] allow in the config)"
    )
    assert [r.path for r in feed_server.requests] == ["/start"]


def stand_in_dns(monkeypatch: pytest.MonkeyPatch, answer: Callable[[str], str]) -> list[str]:
    """Name lookups (the internet's DNS cannot run here) answered by `answer`: the name to
    resolve for real in place of each made-up one (it may wait, or raise as a resolver
    would). Every name looked up is recorded in the list returned."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        return real(answer(host), port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def test_connects_to_the_address_it_checked(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name is resolved once, by the guard; the connection goes to that very address
    # (no second lookup that a rebinding DNS server could answer differently), while the
    # Host header still carries the name.
    lookups = stand_in_dns(monkeypatch, lambda host: "127.0.0.1")
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.route("/feed", Reply(body=RSS))
    assert fetch(f"http://feeds.rebind.example:{port}/feed").body == RSS
    assert lookups == ["feeds.rebind.example"]
    assert feed_server.hits("/feed")[0].headers["host"] == f"feeds.rebind.example:{port}"
    assert_refused(fetch_error(f"http://feeds.rebind.example:{port}/feed", allow=()))


def test_allow_list_by_host_name(feed_server: FeedServer) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    feed_server.route("/feed", Reply(body=RSS))
    assert fetch(f"http://localhost:{port}/feed", allow=("localhost",)).body == RSS
    assert_refused(fetch_error(f"http://127.0.0.1:{port}/feed", allow=("localhost",)))


def test_proxy_from_the_environment_is_ignored(
    feed_server: FeedServer, other_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", other_server.url())
    monkeypatch.setenv("ALL_PROXY", other_server.url())
    feed_server.route("/feed", Reply(body=RSS))
    assert fetch(feed_server.url("/feed")).body == RSS
    assert other_server.requests == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address"),
        ("172.16.5.4", "172.16.5.4 is a private address"),
        ("192.168.1.1", "192.168.1.1 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),  # cloud metadata
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("240.0.0.1", "240.0.0.1 is a private address"),
        ("100.64.0.1", "100.64.0.1 is not a public address"),  # carrier-grade NAT
        ("::1", "::1 is a loopback address"),
        ("::", ":: is an unspecified address"),
        ("fe80::1", "fe80::1 is a link-local address"),
        ("fc00::1", "fc00::1 is a private address"),
        ("ff02::1", "ff02::1 is a multicast address"),
        ("::ffff:10.1.2.3", "::ffff:a01:203 (10.1.2.3) is a private address"),
        ("::ffff:8.8.8.8", None),
        ("2002:7f00:1::", "2002:7f00:1:: (127.0.0.1) is a loopback address"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe (169.254.169.254) is a link-local address"),
    ],
)
def test_refusal_table(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/33"])
def test_bad_allow_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="allow"):
        FetchConfig(allow=(entry,))


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="per_host"):
        FetchConfig(per_host=0)


# -- many feeds ------------------------------------------------------------------------------


class InFlight:
    """Counts requests the servers are handling at once, overall and per host."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def handler(self, body: bytes) -> object:
        def answer(request: Request) -> Reply:
            host = request.headers["host"].rsplit(":", 1)[0]
            self._change(host, +1)
            time.sleep(0.05)  # hold the slot so that overlapping requests show up
            self._change(host, -1)
            return Reply(body=body)

        return answer

    def _change(self, host: str, step: int) -> None:
        with self.lock:
            for key in (host, "*"):
                self.now[key] = self.now.get(key, 0) + step
                self.peak[key] = max(self.peak.get(key, 0), self.now[key])


def test_fetch_all_keeps_order_and_limits(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    counter = InFlight()
    with FeedServer(host="127.0.0.3") as third:
        servers = [feed_server, other_server, third]
        requests = []
        for index in range(18):
            server = servers[index % 3]
            server.route(f"/f{index}", counter.handler(f"feed {index}".encode()))  # type: ignore[arg-type]
            requests.append(FetchRequest(source_id=f"s{index}", url=server.url(f"/f{index}")))
        requests.insert(5, FetchRequest(source_id="invalid", url="http://[::1/feed"))
        requests.append(FetchRequest(source_id="bad", url=feed_server.url("/missing")))

        async def run() -> list[FetchOutcome | FetchError]:
            async with Fetcher(settings(concurrency=4, per_host=2)) as fetcher:
                return await fetcher.fetch_all(requests)

        results = eventloop.run(run())
    invalid = results.pop(5)
    assert isinstance(invalid, FetchError) and invalid.source_id == "invalid"
    assert invalid.message.startswith("not a valid URL")
    bodies = [r.body for r in results[:-1] if isinstance(r, FetchOutcome)]
    assert bodies == [f"feed {index}".encode() for index in range(18)]
    assert isinstance(results[-1], FetchError)
    assert results[-1].message == "HTTP 404 Not Found"
    assert counter.peak["*"] <= 4
    assert all(counter.peak[host] <= 2 for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"))
    assert counter.peak["*"] > 2  # several hosts really were fetched at once


def test_calls_in_flight_together_share_the_limits(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    # A worker fetches its next batch while the current one is still in flight: the two
    # calls together keep within `concurrency` and `per_host`, as one call would.
    counter = InFlight()
    servers = [feed_server, other_server]
    batches: list[list[FetchRequest]] = [[], []]
    for index in range(16):
        server = servers[index % 2]
        server.route(f"/g{index}", counter.handler(f"feed {index}".encode()))  # type: ignore[arg-type]
        batches[index // 8].append(
            FetchRequest(source_id=f"s{index}", url=server.url(f"/g{index}"))
        )

    async def run() -> list[list[FetchOutcome | FetchError]]:
        async with Fetcher(settings(concurrency=3, per_host=2)) as fetcher:
            return list(await asyncio.gather(*(fetcher.fetch_all(b) for b in batches)))

    first, second = eventloop.run(run())
    bodies = [r.body for r in first + second if isinstance(r, FetchOutcome)]
    assert bodies == [f"feed {index}".encode() for index in range(16)]
    assert counter.peak["*"] == 3
    assert counter.peak["127.0.0.1"] <= 2 and counter.peak["127.0.0.2"] <= 2


def test_retry_after_holds_back_the_rest_of_the_host(
    feed_server: FeedServer, other_server: FeedServer
) -> None:
    feed_server.route("/a", Reply(status=429, headers={"Retry-After": "600"}))
    feed_server.route("/b", Reply(body=b"b"))
    feed_server.route("/c", Reply(body=b"c"))
    other_server.route("/d", Reply(body=b"d"))
    requests = [
        FetchRequest(source_id="a", url=feed_server.url("/a")),
        FetchRequest(source_id="b", url=feed_server.url("/b")),
        FetchRequest(source_id="d", url=other_server.url("/d")),
        FetchRequest(source_id="c", url=feed_server.url("/c")),
    ]

    async def run() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings(per_host=1), clock=lambda: NOW) as fetcher:
            return await fetcher.fetch_all(requests)

    a, b, d, c = eventloop.run(run())
    assert isinstance(a, FetchError) and a.status == 429
    for held in (b, c):
        assert isinstance(held, FetchError)
        assert held.retry_after == NOW + timedelta(minutes=10)
        assert held.message.startswith("not fetched: 127.0.0.1 asked to wait until")
    assert isinstance(d, FetchOutcome) and d.body == b"d"
    assert [r.path for r in feed_server.requests] == ["/a"]


def test_a_slow_error_page_is_not_waited_for(feed_server: FeedServer) -> None:
    # A short unread body is read so the connection can be reused, but a server dripping
    # it must not turn a 404 into a timeout nor hold the result up.
    feed_server.route("/gone", Reply(status=404, body=b"x" * 30, drip=0.2))
    started = time.monotonic()
    error = fetch_error(feed_server.url("/gone"), timeout=10.0)
    assert error.message == "HTTP 404 Not Found"
    assert time.monotonic() - started < 3.0


def test_only_the_fetching_modules_import_httpx() -> None:
    """The fetching modules own HTTP: its limits, deadlines and address checks cannot be
    skipped by another module opening its own client."""
    package = Path(http_module.__file__).parents[1]
    importers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(?:import|from)\s+httpx\b", path.read_text(), re.MULTILINE)
    }
    assert importers == {"ingest/http.py", "ingest/guard.py", "ingest/decode.py"}


def test_names_that_resolve_slowly_do_not_hold_up_the_other_hosts(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose name servers never answer keeps the C library's lookup waiting for
    the resolver's own timeout (seconds), on a thread. A few such hosts in a large OPML
    must not take every lookup thread, leaving the healthy hosts' lookups queued behind
    them until their fetches time out as failures of working feeds. (The internet's DNS
    cannot run here: the lookups of the made-up names are answered by a stand-in.)"""

    def answer(host: str) -> str:
        if host.startswith("slow-"):
            time.sleep(3)  # a name server that never answers
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return "127.0.0.1"

    looked_up = stand_in_dns(monkeypatch, answer)
    for copy in range(2):
        feed_server.route(f"/feed{copy}", Reply(body=RSS))
    port = httpx.URL(feed_server.url("/")).port
    names = [f"slow-{n}.example" for n in range(12)] + [f"fast-{n}.example" for n in range(12)]
    requests = [
        FetchRequest(source_id=name, url=f"http://{name}:{port}/feed{copy}")
        for name in names
        for copy in range(2)  # two feeds of one host: one lookup for both
    ]

    async def run() -> list[FetchOutcome | FetchError]:
        async with Fetcher(settings(concurrency=64, per_host=2, connect_timeout=2)) as fetcher:
            return await fetcher.fetch_all(requests)

    results = eventloop.run(run())
    fast = [r for r in results if isinstance(r, FetchOutcome)]
    assert [r.body for r in fast] == [RSS] * 24
    slow = [r for r in results if isinstance(r, FetchError)]
    assert len(slow) == 24
    assert all(e.message.startswith("could not resolve") for e in slow)
    assert sorted(set(looked_up)) == sorted(names)
    assert len(looked_up) == len(names)
