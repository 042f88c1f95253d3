"""The address check (SSRF): a fetch connects only to public addresses, unless `[fetch] allow`
re-opens a host or network. Resolved once and connected to the address checked, so a
DNS answer cannot change between the check and the connection."""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpcore
import httpx

from aggregator.exceptions import ConfigError
from aggregator.ingest.allowlist import IPNetwork, host_name, parse_allow
from aggregator.ingest.pool import ExclusivePool

# Embedded IPv4 in IPv6 forms that a gateway would turn into a connection to that IPv4.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        try:
            return cls(*parse_allow(entries))
        except ValueError as exc:
            raise ConfigError(str(exc), key="allow") from None

    def allows_host(self, host: str) -> bool:
        return host_name(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(
            candidate in network
            for candidate in _embedded(address)
            for network in self.networks
            if candidate.version == network.version
        )


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.append(address.teredo[1])
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: IPAddress) -> str | None:
    """Why connecting to `address` is refused by default, or None for a public address."""
    candidates = _embedded(address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A socket given ::ffff:a.b.c.d talks IPv4 to a.b.c.d; only that address counts.
        candidates = [address.ipv4_mapped]
    # An embedded IPv4 is what a gateway would connect to, so it is judged first.
    for candidate in reversed(candidates):
        reason = _reason(candidate)
        if reason is not None:
            shown = str(address) if candidate == address else f"{address} ({candidate})"
            return f"{shown} is {reason}"
    return None


def _reason(address: IPAddress) -> str | None:
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


class NetworkRefusal(Exception):
    """Raised inside the transport; not an httpcore error, so httpx lets it through."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks every address, and connects to an address it checked.

    Checking at connection time, inside the pool, covers every redirect hop and
    DNS rebinding (the name is not resolved a second time by someone else). TLS still
    uses the host name: httpcore calls start_tls with the origin's host for SNI.
    """

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self._allow = allow
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolver.resolve(host, port, timeout)
        if not self._allow.allows_host(host):
            for address in addresses:
                reason = refusal(address)
                if reason is not None and not self._allow.allows_address(address):
                    # Name the setting that lifts the refusal: a feed on the operator's own
                    # network is a normal thing to want.
                    raise NetworkRefusal(
                        f'refused: {reason} (to fetch it anyway, add "{host_name(host)}" '
                        "to [fetch] allow in the config)"
                    )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
                return PolledStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next address of a multi-homed host
        assert failure is not None  # a lookup never gives an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NetworkRefusal("refused: unix sockets are never used for feeds")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PolledStream(httpcore.AsyncNetworkStream):
    """A connection that answers httpcore's "is_readable" with one poll(2) of its socket.

    Before each request and after each response, httpcore asks every idle connection of
    the pool whether the server has sent anything (its close, say: the connection is then
    dropped, not reused). Through anyio each answer rebuilt the socket's attribute table
    and a poll object; on a warm run (every feed a 304) that was a tenth of a worker's CPU.
    The poll object is made once, for the TCP socket that TLS, if any, runs over."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, poll: Any = None) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")
        self._poll = poll
        if poll is None and self._socket is not None:
            self._poll = select.poll()
            self._poll.register(self._socket, select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        secured = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return PolledStream(secured, self._poll)

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        if self._poll is None or self._socket is None or self._socket.fileno() < 0:
            return True  # no socket to ask, or closed: not reusable
        return bool(self._poll.poll(0))


# A lookup blocks a thread (the C library's getaddrinfo). On asyncio's default executor
# (the CPU count + 4 threads, 6 on two cores, shared with everything else), a few hosts
# whose name servers never answer held every thread for the resolver's own timeout, and
# the lookups of healthy hosts queued behind them until their fetches timed out: failures
# of working feeds. A fetcher has threads of its own, as many as it may have requests in
# flight, up to this; they are started only when lookups wait for one.
MAX_LOOKUP_THREADS = 64


class Resolver:
    """A fetcher's name lookups, on threads of its own: one lookup per host and port at a
    time, shared by every connection that waits for it."""

    def __init__(self, threads: int) -> None:
        self._threads = ThreadPoolExecutor(
            max_workers=max(1, min(threads, MAX_LOOKUP_THREADS)), thread_name_prefix="lookup"
        )
        self._pending: dict[tuple[str, int], asyncio.Future[list[IPAddress]]] = {}

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        """The addresses of `host`, within `timeout` s; NetworkRefusal when it has none."""
        key = (host, port)
        lookup = self._pending.get(key)
        if lookup is None:
            loop = asyncio.get_running_loop()
            lookup = loop.run_in_executor(self._threads, _addresses, host, port)
            self._pending[key] = lookup
            lookup.add_done_callback(partial(self._ended, key))
        try:
            async with asyncio.timeout(timeout):
                # Shielded: one waiter giving up does not cancel the lookup for the others.
                return await asyncio.shield(lookup)
        except TimeoutError:
            raise NetworkRefusal(f"could not resolve {host} within {timeout:g} s") from None

    def _ended(self, key: tuple[str, int], lookup: asyncio.Future[list[IPAddress]]) -> None:
        if self._pending.get(key) is lookup:
            del self._pending[key]
        if not lookup.cancelled():
            lookup.exception()  # seen: a failure nobody waits for any more is not logged

    def close(self) -> None:
        """Lookups not started are dropped; those under way end on their own (the C
        library's call cannot be interrupted), and nothing waits for them."""
        self._threads.shutdown(wait=False, cancel_futures=True)


def _addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host`, each once (blocks: run on a lookup thread)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise NetworkRefusal(f"could not resolve host {host}") from None
    addresses: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # sockaddr[0] of an IPv6 link-local address may carry a "%scope" suffix.
        addresses[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    if not addresses:
        raise NetworkRefusal(f"could not resolve host {host}")
    return list(addresses)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool that connects through `GuardedBackend`.

    httpx 0.28 takes no network backend, so the pool it built is replaced by one that
    uses ours (and hands out connections one request at a time: `ExclusivePool`); the
    SSRF tests against a real server fail if this ever stops working.
    """

    def __init__(
        self, backend: GuardedBackend, *, limits: httpx.Limits, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = ExclusivePool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
