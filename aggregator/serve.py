"""Serve the published output folder over HTTP: the feeds, plus health, status and metrics.

    GET /                 → index.html
    GET /<path>           → a file of the output folder (ETag, Last-Modified, 304, gzip)
    GET /healthz          → 200 "ok"
    GET /status           → JSON (the daemon's status callable, or the folder's files)
    GET /metrics          → Prometheus text exposition format

Feed readers poll, so the hot path is a conditional GET answered 304. Files are served by
a plain ASGI callable mounted under Starlette's router: one `lstat` per path segment,
a dict lookup keyed on (inode, mtime_ns, size), and pre-built header lists. Bytes, the
strong ETag and the gzip variant are computed once per version of a file; the publisher
replaces files with `os.replace`, which gives the new version a new inode, so a changed
file is never answered from a stale cache entry.

No business logic lives here: the daemon passes in callables for `/status` and extra
`/metrics` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import json
import logging
import math
import os
import re
import socket
import stat
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.exceptions import AggregatorError
from aggregator.runtime import eventloop
from aggregator.store.documents import Document, content_type_for, etag_for

__all__ = [
    "DocumentSource",
    "build_server",
    "create_app",
    "create_database_app",
    "run_server",
    "serve_forever",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_CACHE_CONTROL = "public, max-age=300"
# Enough for every feed of a large installation; archive pages beyond it are still
# served, just read from disk each time.
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
# Below this, gzip framing costs more than it saves.
_MIN_GZIP_SIZE = 256
_ETAG_RE = re.compile(r'(?:W/)?"([^"]*)"')
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# -- metrics ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Counters:
    by_class: dict[str, int] = field(
        default_factory=lambda: {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    )
    not_modified: int = 0
    body_bytes: int = 0
    cache_misses: int = 0

    def count_status(self, status: int) -> None:
        key = f"{status // 100}xx"
        self.by_class[key] = self.by_class.get(key, 0) + 1
        if status == 304:
            self.not_modified += 1

    def exposition(self) -> str:
        lines = [
            "# HELP aggregator_http_requests_total HTTP responses sent, by status class.",
            "# TYPE aggregator_http_requests_total counter",
        ]
        lines += [
            f'aggregator_http_requests_total{{code="{code}"}} {count}'
            for code, count in sorted(self.by_class.items())
        ]
        lines += [
            "# HELP aggregator_http_not_modified_total Conditional requests answered 304.",
            "# TYPE aggregator_http_not_modified_total counter",
            f"aggregator_http_not_modified_total {self.not_modified}",
            "# HELP aggregator_http_response_body_bytes_total Response body bytes sent.",
            "# TYPE aggregator_http_response_body_bytes_total counter",
            f"aggregator_http_response_body_bytes_total {self.body_bytes}",
            "# HELP aggregator_http_file_cache_misses_total File versions read from disk.",
            "# TYPE aggregator_http_file_cache_misses_total counter",
            f"aggregator_http_file_cache_misses_total {self.cache_misses}",
        ]
        return "\n".join(lines) + "\n"


class _CountingMiddleware:
    """Counts every response (files and endpoints alike) on its way out."""

    def __init__(self, app: ASGIApp, counters: _Counters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counters = self.counters

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                counters.count_status(message["status"])
            elif message["type"] == "http.response.body":
                counters.body_bytes += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting_send)


# -- the file cache --------------------------------------------------------------------

_Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class _Variant:
    """One encoding of one file version, with its response headers ready to send."""

    body: bytes
    etag: str
    ok_headers: _Headers  # for 200
    not_modified_headers: _Headers  # for 304: no Content-Length/Type, per RFC 9110 §15.4.5


@dataclass(slots=True)
class _FileVersion:
    key: Hashable  # files: (st_ino, st_mtime_ns, st_size); documents: the ETag
    mtime: int  # whole seconds, what Last-Modified can express
    content_type: str
    identity: _Variant
    compressible: bool
    gzip: _Variant | None = None

    @property
    def cost(self) -> int:
        return len(self.identity.body) + (len(self.gzip.body) if self.gzip else 0)


def _variant(
    body: bytes, etag: str, common: _Headers, content_type: str, encoded: bool
) -> _Variant:
    ok = [
        *common,
        (b"etag", etag.encode()),
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if encoded:
        ok.append((b"content-encoding", b"gzip"))
    return _Variant(body, etag, ok, [*common, (b"etag", etag.encode())])


def _load_version(path: str, cache_control: str) -> _FileVersion:
    """Read one file and build its identity variant.

    The cache key comes from `fstat` of the open descriptor, not from the earlier
    `lstat`: if the publisher replaced the file in between, key and bytes still agree.
    """
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        body = fh.read()
    return _build_version(
        body,
        key=(st.st_ino, st.st_mtime_ns, st.st_size),
        mtime=int(st.st_mtime),
        content_type=content_type_for(path),
        etag=etag_for(body),
        cache_control=cache_control,
    )


def _document_version(document: Document, cache_control: str) -> _FileVersion:
    """A stored document as the file server would answer for the file it came from."""
    return _build_version(
        document.body,
        key=document.etag,
        mtime=int(document.modified.timestamp()),
        content_type=document.content_type,
        etag=document.etag,
        cache_control=cache_control,
    )


def _build_version(
    body: bytes, *, key: Hashable, mtime: int, content_type: str, etag: str, cache_control: str
) -> _FileVersion:
    compressible = content_type.startswith("text/") or any(
        word in content_type for word in ("xml", "json")
    )
    common: _Headers = [
        (b"last-modified", formatdate(mtime, usegmt=True).encode()),
        (b"cache-control", cache_control.encode()),
    ]
    if compressible:
        # Caches must keep the gzip and the identity variant apart.
        common.append((b"vary", b"Accept-Encoding"))
    return _FileVersion(
        key=key,
        mtime=mtime,
        content_type=content_type,
        identity=_variant(body, etag, common, content_type, encoded=False),
        compressible=compressible and len(body) >= _MIN_GZIP_SIZE,
    )


def _add_gzip(version: _FileVersion) -> None:
    # mtime=0 makes the compressed bytes, and so the "-gz" ETag, reproducible.
    body = gzip.compress(version.identity.body, compresslevel=6, mtime=0)
    common = version.identity.not_modified_headers[:-1]  # everything but the ETag
    etag = _gzip_etag(version.identity.etag)
    version.gzip = _variant(body, etag, common, version.content_type, encoded=True)


def _gzip_etag(identity_etag: str) -> str:
    return identity_etag[:-1] + '-gz"'


class _FileCache:
    """File versions by relative path, least recently used dropped past a byte budget."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._entries: OrderedDict[str, _FileVersion] = OrderedDict()

    def get(self, rel: str, key: Hashable | None = None) -> _FileVersion | None:
        """The version of `rel` held, if its key is `key` (any key when None)."""
        version = self._entries.get(rel)
        if version is None or (key is not None and version.key != key):
            return None
        self._entries.move_to_end(rel)
        return version

    def drop(self, rel: str) -> None:
        old = self._entries.pop(rel, None)
        if old is not None:
            self._used -= old.cost

    def put(self, rel: str, version: _FileVersion) -> None:
        old = self._entries.pop(rel, None)
        if old is not None:
            self._used -= old.cost
        if version.cost > self._budget:
            return
        self._entries[rel] = version
        self._used += version.cost
        while self._used > self._budget:
            _, dropped = self._entries.popitem(last=False)
            self._used -= dropped.cost


# -- request header decisions ----------------------------------------------------------


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def _accepts_gzip(accept_encoding: bytes) -> bool:
    """True when the client takes gzip: named with q>0, or else allowed through `*`."""
    weights: dict[str, bool] = {}
    for part in accept_encoding.decode("latin-1").lower().split(","):
        coding, _, params = part.partition(";")
        weights[coding.strip()] = not _q_is_zero(params)
    if "gzip" in weights:
        return weights["gzip"]
    return weights.get("*", False)


def _q_is_zero(params: str) -> bool:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                return float(value) == 0
            except ValueError:
                return False
    return False


def _etag_matches(if_none_match: bytes, version: _FileVersion) -> str | None:
    """The tag of ours that the client already holds, or None.

    If-None-Match uses the weak comparison (RFC 9110 §13.1.2), so `W/` is ignored. Both
    encodings count as a match: they carry the same content, and a reader that switches
    Accept-Encoding between polls should not download the feed again.
    """
    text = if_none_match.decode("latin-1").strip()
    ours = [version.identity.etag]
    if version.compressible:
        ours.append(_gzip_etag(version.identity.etag))
    if text == "*":
        return ours[0]
    for opaque in _ETAG_RE.findall(text):
        tag = f'"{opaque}"'
        if tag in ours:
            return tag
    return None


def _not_modified_since(if_modified_since: bytes, mtime: int) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False  # an unparseable date is ignored, as RFC 9110 §13.1.3 asks
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return mtime <= since.timestamp()


# -- the file server -------------------------------------------------------------------


def _route_path(scope: Scope) -> str:
    """The request path below the app's mount point (uvicorn prefixes `root_path`)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


def _segments(route_path: str) -> list[str] | None:
    """The path segments to look up, or None for a path we refuse outright.

    The path arrives percent-decoded, so `%2e%2e` is `..` here already. Dot-segments and
    hidden names (the publisher's temp files, `.git`, …) are refused as not found.
    """
    rel = route_path.lstrip("/")
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    parts = rel.split("/")
    for part in parts:
        if not part or part.startswith(".") or "\\" in part or "\x00" in part:
            return None
    return parts


class _Server(ABC):
    """Answers GET and HEAD for the published files; subclasses say where a path's
    current version comes from (`_find`)."""

    def __init__(self, cache_control: str, cache_bytes: int) -> None:
        self._cache_control = cache_control
        self._cache = _FileCache(cache_bytes)
        self.counters = _Counters()

    @abstractmethod
    async def _find(self, parts: list[str], gz: bool) -> _FileVersion | None:
        """The current version of the path, or None (404); `_Unavailable` for a 503."""

    async def _with_gzip(self, rel: str, version: _FileVersion, gz: bool) -> _FileVersion:
        if gz and version.compressible and version.gzip is None:
            await asyncio.to_thread(_add_gzip, version)
            self._cache.put(rel, version)
        return version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await _plain(send, 405, b"method not allowed\n", [(b"allow", b"GET, HEAD")])
            return
        parts = _segments(_route_path(scope))
        accept = _header(scope, b"accept-encoding")
        gz = accept is not None and _accepts_gzip(accept)
        try:
            version = await self._find(parts, gz) if parts is not None else None
        except _Unavailable:
            await _plain(send, 503, b"database unavailable\n", [(b"retry-after", b"5")])
            return
        if version is None:
            await _plain(send, 404, b"not found\n")
            return
        variant = version.gzip if gz and version.gzip is not None else version.identity
        if _is_not_modified(scope, version):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": variant.not_modified_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": variant.ok_headers})
        await send({"type": "http.response.body", "body": variant.body if method == "GET" else b""})


class _Unavailable(Exception):
    """The database cannot be read and nothing of this path is cached: 503."""


class _FileServer(_Server):
    def __init__(self, out_dir: Path, cache_control: str, cache_bytes: int) -> None:
        super().__init__(cache_control, cache_bytes)
        self.root = out_dir.resolve()
        self._root_str = str(self.root)

    def _locate(self, parts: list[str]) -> tuple[str, os.stat_result] | None:
        """Walk the segments with `lstat`; follow a symlink only if it stays inside.

        Without symlinks, segments free of `..` cannot leave the root, so the full
        `resolve()` (and its containment check) is paid only where a link is met.
        """
        path = self._root_str
        st: os.stat_result | None = None
        try:
            for part in parts:
                path = path + "/" + part
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    if not Path(path).resolve().is_relative_to(self.root):
                        return None
                    st = os.stat(path)
        except (OSError, RuntimeError):
            # Missing, not a directory, a symlink loop (ELOOP from stat, RuntimeError
            # from resolve) or unreadable: to a client, all of them are "not here".
            return None
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        return path, st

    async def _find(self, parts: list[str], gz: bool) -> _FileVersion | None:
        found = self._locate(parts)
        if found is None:
            return None
        path, st = found
        rel = "/".join(parts)
        version = self._cache.get(rel, (st.st_ino, st.st_mtime_ns, st.st_size))
        try:
            if version is None:
                self.counters.cache_misses += 1
                # Reading and hashing a large archive page must not stall other clients.
                version = await asyncio.to_thread(_load_version, path, self._cache_control)
                self._cache.put(rel, version)
            return await self._with_gzip(rel, version, gz)
        except OSError as exc:
            # Usually removed between lstat and open; anything else is worth a log line.
            if not isinstance(exc, FileNotFoundError):
                logger.warning("cannot read %s: %s", path, exc)
            return None


class DocumentSource(Protocol):
    """Where `create_database_app` reads the published documents (`Store` is one)."""

    location: str

    def documents_version(self) -> str: ...

    def document(self, path: str, *, unless_etag: str | None = None) -> Document | None: ...


# Paths (found or not) checked against the current documents version: forgotten past this
# many, so requests for made-up paths cannot grow the table without bound.
_MAX_CHECKED = 100_000


class _DocumentServer(_Server):
    """Serves the documents kept in the database, cached in memory.

    A busy node must not read the database per request: the documents version (one
    small row, changed by every publish) is read at most once per `revalidate` seconds,
    and a path is read again only when that version has moved since it was last
    checked; even then its body is read only when its ETag changed. The database is
    used from one thread (a `Store` is never shared between threads). When it cannot
    be read, what is cached is still served; a path never seen gets 503.
    """

    def __init__(
        self, source: DocumentSource, cache_control: str, cache_bytes: int, revalidate: float
    ) -> None:
        super().__init__(cache_control, cache_bytes)
        self._source = source
        self._revalidate = revalidate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")
        self._version = ""
        self._version_at = -math.inf
        self._version_lock = asyncio.Lock()
        self._checked: dict[str, tuple[str, bool]] = {}  # path -> (version, found)

    async def _run(self, call: Callable[[], _T]) -> _T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except AggregatorError as exc:
            logger.warning("cannot read the published documents: %s", exc)
            raise _Unavailable from None

    async def current_version(self) -> str:
        if time.monotonic() - self._version_at < self._revalidate:
            return self._version
        async with self._version_lock:
            if time.monotonic() - self._version_at >= self._revalidate:
                try:
                    version = await self._run(self._source.documents_version)
                except _Unavailable:
                    version = self._version  # serve what is cached; ask again later
                if version != self._version:
                    self._checked.clear()
                self._version, self._version_at = version, time.monotonic()
        return self._version

    async def _find(self, parts: list[str], gz: bool) -> _FileVersion | None:
        rel = "/".join(parts)
        current = await self.current_version()
        version = self._cache.get(rel)
        checked = self._checked.get(rel)
        if checked == (current, False):
            return None
        if checked != (current, True) or version is None:
            version = await self._refresh(rel, version)
            if len(self._checked) >= _MAX_CHECKED:
                self._checked.clear()
            self._checked[rel] = (current, version is not None)
        return await self._with_gzip(rel, version, gz) if version is not None else None

    async def _refresh(self, rel: str, held: _FileVersion | None) -> _FileVersion | None:
        etag = held.identity.etag if held is not None else None
        try:
            document = await self._run(lambda: self._source.document(rel, unless_etag=etag))
        except _Unavailable:
            if held is not None:
                return held
            raise
        if document is None:
            self._cache.drop(rel)
            return None
        if held is not None and document.etag == etag:
            return held
        self.counters.cache_misses += 1
        version = _document_version(document, self._cache_control)
        self._cache.put(rel, version)
        return version


def _is_not_modified(scope: Scope, version: _FileVersion) -> bool:
    if_none_match = _header(scope, b"if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, version) is not None
    if_modified_since = _header(scope, b"if-modified-since")
    return if_modified_since is not None and _not_modified_since(if_modified_since, version.mtime)


async def _plain(send: Send, status: int, body: bytes, extra: _Headers | None = None) -> None:
    headers: _Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- endpoints -------------------------------------------------------------------------


def _folder_listing(root: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks may point anywhere; list only what the publisher wrote
            files.append(
                {
                    "path": path.relative_to(root).as_posix(),
                    "size": st.st_size,
                    "mtime": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
                }
            )
    return files


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class _StatusResponse(JSONResponse):
    """JSON that also renders datetimes, enums and paths the status callable may hold."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_json_default, indent=2, sort_keys=True).encode()


def create_app(
    out_dir: Path,
    *,
    status: Callable[[], Mapping[str, object]] | None = None,
    metrics: Callable[[], str] | None = None,
    cache_control: str = DEFAULT_CACHE_CONTROL,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> Starlette:
    """The ASGI app serving `out_dir`.

    `status` returns what `/status` shows (sources, their state, last publish); without
    it, `/status` lists the output folder's files. `metrics` returns extra Prometheus
    exposition lines (the daemon's fetch counters), appended to the HTTP counters.
    """
    files = _FileServer(out_dir, cache_control, cache_bytes)
    root = files.root

    async def listing() -> Mapping[str, object]:
        found = await asyncio.to_thread(_folder_listing, root)
        return {"out_dir": str(root), "files": found}

    return _app(files, status or listing, metrics)


def create_database_app(
    source: DocumentSource,
    *,
    metrics: Callable[[], str] | None = None,
    cache_control: str = DEFAULT_CACHE_CONTROL,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    revalidate: float = 1.0,
) -> Starlette:
    """The ASGI app serving the documents a publisher keeps in the database: the same
    answers, header for header, as `create_app` gives for the folder they came from.
    `revalidate`: at most one check per this many seconds for a newer publish."""
    documents = _DocumentServer(source, cache_control, cache_bytes, revalidate)

    async def status() -> Mapping[str, object]:
        return {"database": source.location, "documents_version": await documents.current_version()}

    return _app(documents, status, metrics)


def _app(
    server: _Server,
    status: Callable[[], Mapping[str, object]] | Callable[[], Awaitable[Mapping[str, object]]],
    metrics: Callable[[], str] | None,
) -> Starlette:
    counters = server.counters

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def status_endpoint(request: Request) -> Response:
        shown = status()
        if inspect.isawaitable(shown):
            shown = await shown
        return _StatusResponse(dict(shown))

    async def metrics_endpoint(request: Request) -> Response:
        text = counters.exposition()
        if metrics is not None:
            extra = metrics()
            text += extra if extra.endswith("\n") or not extra else extra + "\n"
        return PlainTextResponse(text, media_type=_METRICS_CONTENT_TYPE)

    return _FeedApp(
        counters,
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/status", status_endpoint, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Mount("/", app=server),
        ],
    )


class _FeedApp(Starlette):
    """Starlette with the response counter outside its error middleware, so the 500s
    that `ServerErrorMiddleware` sends are counted too."""

    def __init__(self, counters: _Counters, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counters = counters

    def build_middleware_stack(self) -> ASGIApp:
        return _CountingMiddleware(super().build_middleware_stack(), self.counters)


# -- running it ------------------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its caller."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    access_log: bool = False,
    install_signal_handlers: bool = True,
) -> uvicorn.Server:
    """A uvicorn server for `app`; set its `should_exit` to stop it gracefully.

    Access logs are off by default: `/metrics` counts requests, and a log line per poll
    costs more than answering the poll.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
    )
    server_class = uvicorn.Server if install_signal_handlers else _QuietServer
    return server_class(config)


async def serve_forever(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    install_signal_handlers: bool = False,
    stop: asyncio.Event | None = None,
    sockets: list[socket.socket] | None = None,
    log_level: str = "info",
    access_log: bool = False,
    server: uvicorn.Server | None = None,
) -> None:
    """Serve on the running loop until `stop` is set, the task is cancelled or a signal
    arrives (when `install_signal_handlers`), then shut down gracefully.

    Pass `server` (from `build_server`) to keep a handle on it; pass `sockets` to serve
    on already-bound sockets, created with `proto=socket.IPPROTO_TCP`: asyncio sets
    TCP_NODELAY only on sockets that declare TCP, and without it each keep-alive
    response waits ~40 ms for a delayed ACK. Raises OSError when the address cannot
    be bound.
    """
    if server is None:
        server = build_server(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            install_signal_handlers=install_signal_handlers,
        )
    watcher = asyncio.create_task(_exit_when_set(server, stop)) if stop is not None else None
    serving = asyncio.create_task(_serve(server, sockets, f"{host}:{port}"))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        # Cancelling the caller's task means "stop": close listeners and finish
        # in-flight responses instead of dropping them.
        server.should_exit = True
        await serving
        raise
    finally:
        if watcher is not None:
            watcher.cancel()


async def _serve(server: uvicorn.Server, sockets: list[socket.socket] | None, where: str) -> None:
    try:
        await server.serve(sockets=sockets)
    except SystemExit as exc:
        # uvicorn exits the process when it cannot bind; a daemon sharing the loop with
        # its scheduler needs an exception it can report instead. Caught here, inside
        # the task, because asyncio lets a SystemExit escape a task and stop the loop.
        raise OSError(f"could not serve on {where}") from exc


async def _exit_when_set(server: uvicorn.Server, stop: asyncio.Event) -> None:
    await stop.wait()
    server.should_exit = True


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, for `serve_forever(sockets=[...])`.

    Binding before anything else starts (the scheduler, a first cycle) lets a port in use
    end the command with one message, not a cancelled cycle's traceback. Declared TCP
    (see `serve_forever`); asyncio's server calls listen() on it.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot listen on {host}:{port}: unknown address ({exc})") from None
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def run_server(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    eventloop.run(
        serve_forever(
            app,
            host=host,
            port=port,
            install_signal_handlers=True,
            log_level=log_level,
            access_log=access_log,
        )
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m aggregator.serve OUT_DIR [--host H] [--port P]`, for benchmarks and
    quick looks; the product's entry point is `aggregator serve`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m aggregator.serve")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    try:
        run_server(
            create_app(args.out_dir), host=args.host, port=args.port, log_level=args.log_level
        )
    except OSError as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
