"""A real HTTP/1.1 server on a loopback address, scripted per path, for tests.

    with FeedServer() as server:                      # or the `feed_server` fixture below
        server.route("/feed", Reply(body=b"<rss/>", headers={"ETag": '"v1"'}))
        server.route("/flaky", Reply(status=503), Reply(body=b"ok"))  # in turn, last repeats
        server.feed("/cond", RSS, etag='"x"', gzip=True)  # answers 304 to its validators
        server.redirect("/old", "/feed", status=301)
        server.route("/slow", Reply(body=b"abc", drip=1.0))  # one byte a second
        server.route("/dyn", lambda request: Reply(body=request.path.encode()))
        fetch(server.url("/feed")); server.hits("/feed")[0].headers["user-agent"]

Runs in a daemon thread (ThreadingHTTPServer: one thread per connection, keep-alive),
binds port 0 on the given address (any 127.x.y.z, or "::1"), and records every request.
Unknown paths get a 404. Stopping wakes every delayed or dripping reply at once.
"""

from __future__ import annotations

import gzip as gzip_module
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import pytest

__all__ = ["FeedServer", "Reply", "Request", "feed_server_fixture"]


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    delay: float = 0.0  # seconds before the status line
    drip: float | None = None  # seconds between body bytes (a slow or hostile server)
    gzip: bool = False  # gzip the body and say so in Content-Encoding
    length: bool = True  # send Content-Length; False: end the body by closing


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]
    client: str  # the peer address
    client_port: int  # the same port twice means the connection was kept alive


Handler = Callable[[Request], Reply]


@dataclass
class _Route:
    replies: list[Reply | Handler]
    served: int = 0

    def next(self) -> Reply | Handler:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


@dataclass
class FeedServer:
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    _routes: dict[str, _Route] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------

    def route(self, path: str, *replies: Reply | Handler) -> None:
        """Serve `replies` to successive requests for `path`; the last one repeats."""
        if not replies:
            raise ValueError("route() needs at least one reply")
        with self._lock:
            self._routes[path] = _Route(list(replies))

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        self.route(path, Reply(status=status, headers={"Location": location}))

    def feed(
        self,
        path: str,
        body: bytes,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        content_type: str = "application/rss+xml; charset=utf-8",
        delay: float = 0.0,
    ) -> None:
        """A well-behaved feed: 200 with validators, 304 when the client sends them back."""
        headers = {"Content-Type": content_type}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = last_modified

        def answer(request: Request) -> Reply:
            fresh = (etag and request.headers.get("if-none-match") == etag) or (
                not etag
                and last_modified
                and request.headers.get("if-modified-since") == last_modified
            )
            if fresh:
                return Reply(status=304, headers=headers, delay=delay)
            return Reply(body=body, headers=headers, gzip=gzip, delay=delay)

        self.route(path, answer)

    # -- inspecting ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        port = self._server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def hits(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- running -----------------------------------------------------------------------

    def start(self) -> FeedServer:
        server_class = _IPv6Server if ":" in self.host else _Server
        self._server = server_class((self.host, 0), _handler_class(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------

    def _record(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get(request.path)
            reply = route.next() if route else None
        if reply is None or isinstance(reply, Reply):
            return reply
        return reply(request)

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is time to give up."""
        return self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # dripping handlers must not hold up stop()
    # socketserver's default backlog is 5: a client opening more connections at once had
    # the rest of its SYNs dropped and resent a second later, as no real server does.
    request_queue_size = 128


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler_class(owner: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real feed servers do
        timeout = 10  # idle keep-alive connections do not pin threads forever

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without this, Nagle's algorithm
            # and the client's delayed ACK add 40 ms to every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            request = Request(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                client=self.client_address[0],
                client_port=self.client_address[1],
            )
            reply = owner._record(request)
            if reply is None:
                reply = Reply(status=404, body=b"not found")
            self._send(reply)

        do_HEAD = do_GET
        do_POST = do_GET

        def _send(self, reply: Reply) -> None:
            if reply.delay and owner._pause(reply.delay):
                return
            body = gzip_module.compress(reply.body, mtime=0) if reply.gzip else reply.body
            self.send_response(reply.status)
            headers = reply.headers.items() if isinstance(reply.headers, Mapping) else reply.headers
            for name, value in headers:
                self.send_header(name, value)
            if reply.gzip:
                self.send_header("Content-Encoding", "gzip")
            if reply.length:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command == "HEAD" or reply.status in (204, 304):
                return
            try:
                self._write_body(body, reply.drip)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up, as it should

        def _write_body(self, body: bytes, drip: float | None) -> None:
            if drip is None:
                self.wfile.write(body)
                return
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                if owner._pause(drip):
                    self.close_connection = True
                    return

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; requests are recorded instead

    return Handler


@pytest.fixture(name="feed_server")
def feed_server_fixture() -> Iterator[FeedServer]:
    """A started FeedServer on 127.0.0.1, stopped after the test.

    Use it with `from feedserver import feed_server_fixture  # noqa: F401` and a
    `feed_server` argument (the fixture's name differs from the function's, so ruff's
    redefinition check stays quiet).
    """
    with FeedServer() as server:
        yield server
