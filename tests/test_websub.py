"""WebSub publish pings against a tiny real hub on 127.0.0.1 that records what it gets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from aggregator.publish.websub import ping_hub

TOPICS = ["http://feeds.example/index.atom", "http://feeds.example/tags/science.atom"]


@dataclass
class Hub:
    url: str
    status: int = 204
    posts: list[dict[str, list[str]]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)


@pytest.fixture
def hub() -> Iterator[Hub]:
    recorded = Hub(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length).decode()
            recorded.posts.append(parse_qs(body))
            recorded.content_types.append(self.headers["Content-Type"])
            recorded.user_agents.append(self.headers["User-Agent"])
            answer = b"" if recorded.status == 204 else b"topic not allowed"
            self.send_response(recorded.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}/hub"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield recorded
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_one_form_post_per_topic(hub: Hub) -> None:
    warnings = asyncio.run(ping_hub(hub.url, [*TOPICS, TOPICS[0]]))
    assert warnings == []
    assert sorted(post["hub.url"][0] for post in hub.posts) == sorted(TOPICS)
    assert all(post["hub.mode"] == ["publish"] for post in hub.posts)
    assert all(len(post["hub.url"]) == 1 for post in hub.posts)
    assert all(ct == "application/x-www-form-urlencoded" for ct in hub.content_types)


def test_ping_names_the_product(hub: Hub) -> None:
    assert asyncio.run(ping_hub(hub.url, TOPICS[:1])) == []
    assert hub.user_agents[0].startswith("aggregator/")


def test_refusal_is_a_warning_naming_hub_and_topic(hub: Hub) -> None:
    hub.status = 403
    warnings = asyncio.run(ping_hub(hub.url, TOPICS[:1]))
    assert len(warnings) == 1
    assert hub.url in warnings[0]
    assert "403" in warnings[0]
    assert TOPICS[0] in warnings[0]
    assert "topic not allowed" in warnings[0]


def test_unreachable_hub_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    hub_url = f"http://127.0.0.1:{closed_port}/hub"
    warnings = asyncio.run(ping_hub(hub_url, TOPICS))
    assert len(warnings) == 2
    assert all(hub_url in warning for warning in warnings)
    assert hub_url in caplog.text


def test_silent_hub_times_out_into_a_warning() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepts the connection, never answers
        hub_url = f"http://127.0.0.1:{sock.getsockname()[1]}/hub"
        warnings = asyncio.run(ping_hub(hub_url, TOPICS[:1], timeout=0.2))
    assert len(warnings) == 1
    assert "no answer within 0.2 s" in warnings[0]


def test_dripping_hub_is_cut_off_at_the_timeout() -> None:
    """A hub that answers one byte at a time never trips a per-read timeout; the ping
    still ends at its timeout, counted for the whole request."""
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\n")
            while not stop.wait(0.05):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        hub_url = f"http://127.0.0.1:{sock.getsockname()[1]}/hub"
        accept = threading.Thread(target=lambda: drip(sock.accept()[0]))
        accept.start()
        started = time.monotonic()
        try:
            warnings = asyncio.run(ping_hub(hub_url, TOPICS[:1], timeout=0.5))
        finally:
            stop.set()
            accept.join()
    assert time.monotonic() - started < 3
    assert warnings == [f"WebSub hub {hub_url}: no answer within 0.5 s for {TOPICS[0]}"]


def test_credentials_in_the_hub_url_stay_out_of_warnings(hub: Hub) -> None:
    hub.status = 403
    secret_url = hub.url.replace("http://", "http://user:s3cret@")
    warnings = asyncio.run(ping_hub(secret_url, TOPICS[:1]))
    assert len(warnings) == 1
    assert "s3cret" not in warnings[0]
    assert "403" in warnings[0]


def test_invalid_hub_url_is_a_warning() -> None:
    warnings = asyncio.run(ping_hub("ftp://hub.example/", TOPICS[:1]))
    assert len(warnings) == 1
    assert "ftp://hub.example/" in warnings[0]


def test_no_topics_sends_nothing(hub: Hub) -> None:
    assert asyncio.run(ping_hub(hub.url, [])) == []
    assert hub.posts == []
