"""Reading a response body within bounds: the raw bytes and the decoded ones (gzip, deflate,
brotli) are each capped, stacked codings refused, and a short unread body drained so its
connection goes back to the pool (TRAPS 4, 6)."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from typing import Protocol

import brotli  # type: ignore[import-untyped]  # no stubs; brotli-stubs lacks the 1.2 API
import httpx

_MIB = 1024 * 1024
_BROTLI_BOUNDED = hasattr(brotli.Decompressor, "can_accept_more_data")
_ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI_BOUNDED else "gzip, deflate"


class BodyError(Exception):
    """The body cannot be accepted; the message is for the user."""


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...
    def finish(self, limit: int) -> bytes: ...


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(f"response larger than {_size(max_bytes)}")
    decoder = _decoder_for(response.headers.get("content-encoding", ""))
    received = 0
    body = bytearray()
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > max_bytes:
            raise BodyError(f"response larger than {_size(max_bytes)}")
        # Ask for one byte more than still fits: getting it proves the body is too large.
        body += decoder.feed(chunk, max_bytes - len(body) + 1)
        _check_decoded(body, max_bytes)
    body += decoder.finish(max_bytes - len(body) + 1)
    _check_decoded(body, max_bytes)
    return bytes(body)


# A body no larger than this that was not read (a 304, a redirect, an error page) is read
# and dropped before the response is closed: httpcore closes a connection whose response
# was not read to the end, so without this every 304 of a warm run opened a new one. A
# server that is slow to send it loses its connection instead of holding up the result.
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 0.5


async def release(response: httpx.Response) -> None:
    try:
        declared = response.headers.get("content-length", "0")
        short = declared.isdigit() and int(declared) <= _DRAIN_BYTES
        if short and not response.is_stream_consumed:
            with contextlib.suppress(TimeoutError, httpx.HTTPError):
                async with asyncio.timeout(_DRAIN_SECONDS):
                    await _drain(response)
    finally:
        await response.aclose()


async def _drain(response: httpx.Response) -> None:
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > _DRAIN_BYTES:
            return


def _check_decoded(body: bytearray, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise BodyError(f"decompressed body larger than {_size(max_bytes)}")


def _decoder_for(header: str) -> _Decoder:
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1:
        raise BodyError(f"stacked content encodings ({', '.join(codings)}) are not accepted")
    coding = codings[0] if codings else "identity"
    if coding in ("gzip", "x-gzip"):
        return _ZlibDecoder("gzip", zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _DeflateDecoder()
    if coding == "br" and _BROTLI_BOUNDED:
        return _BrotliDecoder()
    if coding == "identity":
        return _Identity()
    raise BodyError(f"unsupported content encoding {coding!r}")


class _Identity:
    def feed(self, data: bytes, limit: int) -> bytes:
        return data

    def finish(self, limit: int) -> bytes:
        return b""


class _ZlibDecoder:
    def __init__(self, name: str, wbits: int) -> None:
        self._name = name
        self._zlib = zlib.decompressobj(wbits)

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error as exc:
            raise BodyError(f"could not decompress the {self._name} body ({exc})") from None
        if self._zlib.unconsumed_tail:
            # Output hit the limit with input left over: the body is too large.
            return out + b"\0"
        return out

    def finish(self, limit: int) -> bytes:
        if not self._zlib.eof:
            raise BodyError(f"the {self._name} body is truncated")
        return self._zlib.flush(limit)


class _DeflateDecoder:
    """HTTP "deflate" is meant to be zlib-wrapped, but many servers send raw deflate."""

    def __init__(self) -> None:
        self._head = b""
        self._inner: _ZlibDecoder | None = None

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._inner is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            zlib_wrapped = self._head[0] & 0x0F == 8 and int.from_bytes(self._head[:2]) % 31 == 0
            self._inner = _ZlibDecoder(
                "deflate", zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS
            )
            data, self._head = self._head, b""
        return self._inner.feed(data, limit)

    def finish(self, limit: int) -> bytes:
        if self._inner is None:
            raise BodyError("the deflate body is truncated")
        return self._inner.finish(limit)


class _BrotliDecoder:
    def __init__(self) -> None:
        self._brotli = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out: bytes = self._brotli.process(data, output_buffer_limit=limit)
        except brotli.error as exc:
            raise BodyError(f"could not decompress the br body ({exc})") from None
        if not self._brotli.can_accept_more_data():
            # Output hit the limit with more still pending: the body is too large.
            return out + b"\0"
        return out

    def finish(self, limit: int) -> bytes:
        if not self._brotli.is_finished():
            raise BodyError("the br body is truncated")
        return b""


def _size(count: int) -> str:
    if count % _MIB == 0:
        return f"{count // _MIB} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"
