"""Fetching feeds over HTTP. With `guard` (the address check) and `decode` (the bounded
body), the only modules that talk to httpx.

    Fetcher.fetch_all(requests)
      └─ per host (per_host slots, Retry-After hold-back) └─ global (concurrency slots)
           └─ fetch(request)            total deadline around everything below
                ├─ hop: GET, follow_redirects=False, conditional headers
                │    ├─ _ShardedTransport: each origin to one of several small pools
                │    └─ GuardedBackend.connect_tcp: resolve once, refuse non-public
                │       addresses (unless allowed), connect to the address checked
                ├─ redirects: ≤ max_redirects, loop detection, credentials same-origin only
                ├─ body (decode.read_body): aiter_raw() → bounded decoder → ≤ max_bytes
                └─ decode.release: a short unread body (304, redirect) is drained, so the
                   connection goes back to its pool

Why by hand rather than httpx's defaults (see TRAPS 4, 5, 6): httpx decompresses without
an output bound and accepts stacked codings, its timeouts apply per operation (a server
dripping a byte a second never times out), and it does no address filtering. Every
failure becomes a FetchError whose message is a sentence a person understands; URLs in
messages never carry userinfo (`redact`).
"""

from __future__ import annotations

import asyncio
import errno
import http.cookiejar
import logging
import ssl
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType

import brotli  # type: ignore[import-untyped]  # no stubs; brotli-stubs lacks the 1.2 API
import httpx

from aggregator.config import FetchConfig
from aggregator.exceptions import FetchError
from aggregator.ingest.decode import BodyError, read_body, release
from aggregator.ingest.guard import (
    AllowList,
    GuardedBackend,
    GuardedTransport,
    NetworkRefusal,
    Resolver,
)
from aggregator.ingest.policy import retry_after as parse_retry_after
from aggregator.urlparts import redact

__all__ = [
    "EachDone",
    "FetchOutcome",
    "FetchRequest",
    "Fetcher",
    "PostAnswer",
    "Validators",
    "post_forms",
]

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})
_RETRY_STATUSES = frozenset({429, 503})
# brotli >= 1.2 can bound the output of one call; older versions cannot, so a tiny br body
# could expand to gigabytes in one step (TRAPS 4) and we do not ask for br at all then.
_BROTLI_BOUNDED = hasattr(brotli.Decompressor, "can_accept_more_data")
_ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI_BOUNDED else "gzip, deflate"
_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class Validators:
    """Cache validators, stored and sent back verbatim (TRAPS 10)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchRequest:
    source_id: str
    url: str
    validators: Validators = field(default_factory=Validators)
    accept: str | None = None  # an Accept header other than the feeds' (article pages)


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOutcome:
    source_id: str
    url: str  # as requested
    final_url: str  # after redirects
    status: int
    not_modified: bool  # a 304: body is None, keep what is stored
    body: bytes | None  # decoded (Content-Encoding removed); charset left to the parser
    headers: Mapping[str, str]  # lower-case names; Content-Encoding/-Length dropped
    validators: Validators  # to store, after the entries (TRAPS 8)
    permanent_url: str | None  # set when every hop was a 301/308: the URL to store
    fetched_at: datetime
    elapsed: float = 0.0  # seconds from sending the request to the last body byte


# Told of each request of a `Fetcher.fetch_all` call as it ends: its index in the call.
EachDone = Callable[[int, "FetchOutcome | FetchError"], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Fetcher:
    """Fetches feeds with one connection pool; use as `async with Fetcher(settings) as f`."""

    def __init__(self, settings: FetchConfig, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._settings = settings
        self._clock = clock
        self._allow = AllowList.parse(settings.allow)
        self._client: httpx.AsyncClient | None = None
        self._resolver: Resolver | None = None
        # The fetcher's, not one `fetch_all` call's: a worker has two batches in flight
        # at once, and together they must keep within `concurrency` and `per_host`.
        # Made on entering, in the loop that will wait on them.
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(self._host_slots)

    async def __aenter__(self) -> Fetcher:
        self._overall = asyncio.Semaphore(self._settings.concurrency)
        self._per_host.clear()
        # A lookup for each request in flight at most: none ever waits for a thread.
        self._resolver = Resolver(threads=self._settings.concurrency)
        self._client = _make_client(self._settings, self._allow, self._resolver)
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        resolver, self._resolver = self._resolver, None
        try:
            if client is not None:
                await client.__aexit__(exc_type, exc, tb)
        finally:
            if resolver is not None:
                resolver.close()

    def _host_slots(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self._settings.per_host)

    async def fetch(self, req: FetchRequest) -> FetchOutcome:
        """Fetch one feed; raises FetchError with a readable message on any failure."""
        return await self._fetch_parsed(req, _parse_url(req))

    async def _fetch_parsed(self, req: FetchRequest, url: httpx.URL) -> FetchOutcome:
        """`fetch`, `req.url` parsed already (httpx parses a URL in Python: a 304 cost
        three parses of its URL when each step parsed its own)."""
        if self._client is None:
            raise RuntimeError("use the Fetcher inside 'async with'")
        total = self._settings.timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(total):
                outcome = await self._fetch(self._client, req, url)
            return replace(outcome, elapsed=time.monotonic() - started)
        except TimeoutError:
            raise _error(req, f"timed out after {total:g} s") from None
        except FetchError:
            raise
        except Exception as exc:
            # A surprise from a library (or a bug of ours) costs this source, not the
            # run; the traceback goes to the log for a bug report.
            logger.exception("unexpected error fetching %s", redact(req.url))
            raise _error(req, f"unexpected error: {type(exc).__name__}: {exc}") from None

    async def fetch_all(
        self, reqs: Sequence[FetchRequest], *, each_done: EachDone | None = None
    ) -> list[FetchOutcome | FetchError]:
        """Fetch many feeds, politely; results (or errors) in the order of `reqs`.

        At most `concurrency` requests run at once, at most `per_host` per host, counting
        those of other calls in flight on this fetcher. When a host answers 429 or 503,
        its other requests in this call are not sent: they fail at once with the same
        `retry_after`. `each_done(index, outcome)` is called as each request ends, before
        the others of the call have (`runtime.fetching` hands each answer on at once).
        """
        overall, per_host = self._overall, self._per_host
        held: dict[str, FetchError] = {}

        async def one(index: int, req: FetchRequest) -> FetchOutcome | FetchError:
            outcome = await one_politely(req)
            if each_done is not None:
                each_done(index, outcome)
            return outcome

        async def one_politely(req: FetchRequest) -> FetchOutcome | FetchError:
            try:
                url = _parse_url(req)
            except FetchError as error:
                return error
            host = url.host
            async with per_host[host]:
                if host in held:
                    return _held_back(req, host, held[host])
                async with overall:
                    try:
                        return await self._fetch_parsed(req, url)
                    except FetchError as error:
                        if error.retry_after is not None:
                            held.setdefault(host, error)
                        return error

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(i, req)) for i, req in enumerate(reqs)]
        return [task.result() for task in tasks]

    async def _fetch(
        self, client: httpx.AsyncClient, req: FetchRequest, url: httpx.URL
    ) -> FetchOutcome:
        origin = _origin(url)
        credentials = url.userinfo
        seen: set[str] = set()  # filled at the first redirect: most fetches have none
        # This fetch's own cookies: what one hop sets, the next is sent (a consent or
        # bot check that redirects back to the feed); no other fetch ever sees them.
        cookies = httpx.Cookies()
        permanent = True
        for hop in range(self._settings.max_redirects + 1):
            response = await self._send(client, req, url, hop, cookies)
            try:
                if response.status_code not in _REDIRECTS:
                    return await self._finish(req, url, response, permanent and hop > 0)
                if not seen:
                    seen.add(_loop_key(url, cookies))
                cookies.extract_cookies(response)
                url = _next_hop(req, url, response, origin, credentials)
            finally:
                await release(response)
            visit = _loop_key(url, cookies)
            if visit in seen:
                raise _error(req, f"redirect loop at {redact(str(url))}")
            seen.add(visit)
            permanent = permanent and response.status_code in _PERMANENT_REDIRECTS
        raise _error(req, f"too many redirects (more than {self._settings.max_redirects})")

    async def _send(
        self,
        client: httpx.AsyncClient,
        req: FetchRequest,
        url: httpx.URL,
        hop: int,
        cookies: httpx.Cookies,
    ) -> httpx.Response:
        if url.scheme not in ("http", "https"):
            what = "redirect to" if hop else "URL with"
            raise _error(req, f"{what} unsupported scheme {url.scheme!r}: only http and https")
        headers = _conditional_headers(req.validators)
        if req.accept is not None:
            headers[b"Accept"] = req.accept.encode("ascii")
        try:
            request = client.build_request("GET", url, headers=headers, cookies=cookies or None)
            return await client.send(request, stream=True)
        except NetworkRefusal as refusal:
            raise _error(req, str(refusal)) from None
        except httpx.TransportError as exc:
            raise _error(req, _network_message(exc, self._settings)) from None
        except httpx.InvalidURL as exc:
            # httpx builds the next request of every redirect, followed or not, and
            # raises here when the Location cannot make a URL.
            raise _error(req, f"redirect to an invalid URL ({exc})") from None

    async def _finish(
        self, req: FetchRequest, url: httpx.URL, response: httpx.Response, permanent: bool
    ) -> FetchOutcome:
        status = response.status_code
        if status == 304:
            return self._outcome(req, url, response, None, permanent)
        if not 200 <= status < 300:
            raise self._status_error(req, response)
        try:
            body = await read_body(response, self._settings.max_bytes)
        except BodyError as problem:
            raise _error(req, str(problem), status=status) from None
        except httpx.TransportError as exc:
            raise _error(req, _network_message(exc, self._settings), status=status) from None
        if not body:
            raise _error(req, "empty response", status=status)
        return self._outcome(req, url, response, body, permanent)

    def _outcome(
        self,
        req: FetchRequest,
        url: httpx.URL,
        response: httpx.Response,
        body: bytes | None,
        permanent: bool,
    ) -> FetchOutcome:
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-encoding", "content-length")  # describe the wire form
        }
        received = Validators(
            _raw_header(response, b"etag"), _raw_header(response, b"last-modified")
        )
        if body is None:  # a 304 may repeat only some validators; keep the others
            received = Validators(
                received.etag or req.validators.etag,
                received.last_modified or req.validators.last_modified,
            )
        return FetchOutcome(
            source_id=req.source_id,
            url=req.url,
            final_url=str(url),
            status=response.status_code,
            not_modified=body is None,
            body=body,
            headers=headers,
            validators=received,
            permanent_url=str(url) if permanent else None,
            fetched_at=self._clock(),
        )

    def _status_error(self, req: FetchRequest, response: httpx.Response) -> FetchError:
        status = response.status_code
        if status == 410:
            return _error(req, "gone (410): the feed was removed", status=status)
        message = f"HTTP {status} {_phrase(response)}".rstrip()
        if status not in _RETRY_STATUSES:
            return _error(req, message, status=status)
        when = parse_retry_after(response.headers.get("retry-after"), now=self._clock())
        return FetchError(
            f"{message}; retry after {when:%Y-%m-%d %H:%M:%S} UTC",
            source_id=req.source_id,
            url=redact(req.url),
            status=status,
            retry_after=when,
        )


# -- requests and redirects -------------------------------------------------------------


def _error(req: FetchRequest, message: str, *, status: int | None = None) -> FetchError:
    return FetchError(message, source_id=req.source_id, url=redact(req.url), status=status)


def _held_back(req: FetchRequest, host: str, cause: FetchError) -> FetchError:
    when = cause.retry_after
    assert when is not None  # only errors with retry_after hold a host back
    return FetchError(
        f"not fetched: {host} asked to wait until {when:%Y-%m-%d %H:%M:%S} UTC",
        source_id=req.source_id,
        url=redact(req.url),
        retry_after=when,
    )


def _parse_url(req: FetchRequest) -> httpx.URL:
    try:
        url = httpx.URL(req.url)
    except httpx.InvalidURL as exc:
        raise _error(req, f"not a valid URL ({exc})") from None
    if not url.host:
        raise _error(req, "not a valid URL (no host)")
    return url


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _loop_key(url: httpx.URL, cookies: httpx.Cookies) -> str:
    """What a redirect loop comes back to: the URL with the same cookies. A URL visited
    again with a cookie set on the way is a new request (a consent check's return)."""
    jar = sorted(f"{c.domain} {c.path} {c.name}={c.value}" for c in cookies.jar)
    return "\n".join([str(url.copy_with(userinfo=b"", fragment=None)), *jar])


def _next_hop(
    req: FetchRequest,
    url: httpx.URL,
    response: httpx.Response,
    origin: tuple[str, str, int | None],
    credentials: bytes,
) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise _error(
            req,
            f"redirect ({response.status_code}) without a Location header",
            status=response.status_code,
        )
    try:
        target = url.join(location).copy_with(fragment=None)
    except httpx.InvalidURL as exc:
        raise _error(req, f"redirect to an invalid URL ({exc})") from None
    # Credentials go only back to the origin they were given for; userinfo that a
    # redirect itself carries is never used.
    return target.copy_with(userinfo=credentials if _origin(target) == origin else b"")


def _raw_header(response: httpx.Response, name: bytes) -> str | None:
    """A header's bytes as a str that gives them back unchanged (latin-1 maps each byte
    to one character): validators are opaque and must return verbatim, even when a server
    puts non-ASCII bytes in them."""
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _conditional_headers(validators: Validators) -> dict[bytes, bytes]:
    headers = {}
    if validators.etag:
        headers[b"If-None-Match"] = _header_bytes(validators.etag)
    if validators.last_modified:
        headers[b"If-Modified-Since"] = _header_bytes(validators.last_modified)
    return headers


def _header_bytes(value: str) -> bytes:
    # Sent as bytes: httpx encodes str header values as ASCII and raises on anything else.
    # Older versions stored what httpx had decoded as UTF-8; those go back as UTF-8.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _phrase(response: httpx.Response) -> str:
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return response.reason_phrase


def _network_message(exc: httpx.TransportError, settings: FetchConfig) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"could not connect within {settings.connect_timeout:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data from the server for {settings.read_timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke off the response ({exc})"
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed: {cause.reason or cause}"
    if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(cause, OSError) and cause.errno in (errno.ECONNRESET, errno.EPIPE):
        return "connection reset by the server"
    return f"network error: {exc or type(exc).__name__}"


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _make_client(settings: FetchConfig, allow: AllowList, resolver: Resolver) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=_POOL_FACTOR * settings.concurrency,
        max_keepalive_connections=_POOL_FACTOR * settings.concurrency,
        keepalive_expiry=5,
    )
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.timeout,
    )
    backend = GuardedBackend(allow, resolver)
    ssl_context = httpx.create_ssl_context(trust_env=False)  # loads the CA bundle once
    shards = [
        GuardedTransport(backend, limits=limits, ssl_context=ssl_context)
        for _ in range(_shard_count(settings.concurrency))
    ]
    return httpx.AsyncClient(
        transport=shards[0] if len(shards) == 1 else _ShardedTransport(shards),
        # The client keeps no cookie: a jar shared by every feed for a worker's life
        # grew with each site that sets one (most CDNs do), and httpx copies the whole
        # jar into every request (41 ms a request with 5,000 cookies). `_fetch` carries
        # a fetch's own cookies across its redirects.
        cookies=http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=())),
        timeout=timeout,
        follow_redirects=False,  # we follow them, re-checking every hop
        trust_env=False,  # no proxy from the environment can bypass the address check
        headers={
            "User-Agent": settings.user_agent,
            "Accept": _ACCEPT,
            "Accept-Encoding": _ACCEPT_ENCODING,
        },
    )


# -- form posts (the WebSub hub ping) ------------------------------------------------------

# What a hub says back is only logged, so only its start is read.
_ANSWER_BYTES = 4096


@dataclass(frozen=True, slots=True)
class PostAnswer:
    status: int
    text: str  # the start of the body (at most _ANSWER_BYTES), for the log


async def post_forms(
    url: str, forms: Sequence[Mapping[str, str]], *, timeout: float, user_agent: str
) -> list[PostAnswer | str]:
    """POST each form to `url` (urlencoded), all at once on one client.

    For each form, in order: the answer, or a sentence saying why there is none (refused
    connection, invalid URL, no complete answer within `timeout` seconds, counted for the
    whole request since a server dripping bytes never trips a per-read timeout). The URL
    is the operator's own (a hub), so the address check of feeds does not apply.
    """
    headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
        return list(await asyncio.gather(*(_post_form(client, url, f, timeout) for f in forms)))


async def _post_form(
    client: httpx.AsyncClient, url: str, form: Mapping[str, str], timeout: float
) -> PostAnswer | str:
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("POST", url, data=dict(form)) as response:
                start = bytearray()
                async for chunk in response.aiter_raw():
                    start += chunk
                    if len(start) >= _ANSWER_BYTES:
                        break
                text = start[:_ANSWER_BYTES].decode("utf-8", errors="replace")
                return PostAnswer(response.status_code, text)
    except (TimeoutError, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"{type(exc).__name__}: {redact(str(exc)) or 'request failed'}"


# httpcore's pool spends CPU on every request in proportion to the connections it holds
# (TRAPS 11: ~10 ms a request at 100 connections, ~1 ms at 50 or fewer), so a run spreads
# its origins over several pools, one for about this many concurrent requests.
_CONNECTIONS_PER_POOL = 8
# Each pool may hold this many times the run's concurrency in connections, idle ones
# included: with fewer, a run over more hosts than `concurrency / per_host` closed idle
# keep-alive connections to make room and reconnected for nearly every request.
_POOL_FACTOR = 2


def _shard_count(concurrency: int) -> int:
    return max(1, -(-concurrency // _CONNECTIONS_PER_POOL))


class _ShardedTransport(httpx.AsyncBaseTransport):
    """One transport for the client, made of several pools; an origin always goes to the
    same pool, so keep-alive and the per-host limits work as with one pool.

    A new origin goes to the pool with the fewest origins so far: hashing put two of 16
    hosts in one pool and none in another, and a request's cost grows with the
    connections its pool holds (TRAPS 11). Each pool may open more connections than the
    whole run's concurrency (the fetcher's semaphores do the limiting), so a busy origin
    never makes a request wait in a pool.
    """

    def __init__(self, shards: Sequence[httpx.AsyncBaseTransport]) -> None:
        self._shards = tuple(shards)
        self._origins_in = [0] * len(self._shards)  # origins given to each pool so far
        self._pool_of: dict[tuple[str, str, int | None], httpx.AsyncBaseTransport] = {}

    def pool_for(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        origin = (url.scheme, url.host, url.port)
        pool = self._pool_of.get(origin)
        if pool is None:
            emptiest = min(range(len(self._shards)), key=self._origins_in.__getitem__)
            self._origins_in[emptiest] += 1
            pool = self._pool_of[origin] = self._shards[emptiest]
        return pool

    async def __aenter__(self) -> _ShardedTransport:
        for shard in self._shards:
            await shard.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        for shard in self._shards:
            await shard.__aexit__(exc_type, exc, tb)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.pool_for(request.url).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
