"""Canonical links: the form used for identity, dedupe and output.

`canonical_url()` resolves a link against its base, keeps only http(s), lower-cases the
scheme and host, drops the default port, and removes tracking parameters (the list is
data: `aggregator/rules/tracking.toml`). Remaining parameters keep their order and their
original encoding, so two spellings of one link only meet when they really are the same
resource.

The fragment stays: a digest whose items link to `page#desal` and `page#library` names
two different items, and dropping it made them one link (and, for items without an id,
one key, so one overwrote the other). Only fragments that name no item are dropped:
tracking (`#xtor=RSS-1`, `#utm_source=…`, AddThis's `#.V1a2b3`) and the anchors blog
engines add to every link (`#more-123`, `#comments`).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from aggregator.normalise.rules import TrackingRules, default_rules

SAFE_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Browsers drop ASCII tab/newline anywhere in a URL and C0 controls/space at its ends
# (WHATWG URL standard), which is how "java\tscript:" becomes "javascript:".
_INNER_JUNK = re.compile(r"[\t\n\r]")
_EDGE_JUNK = "".join(map(chr, range(0x21)))  # C0 controls and space
_INNER_CONTROL = re.compile("[\x00-\x1f\x7f]")
# What an entry's link cannot hold to be written as an IRI (publish/clean drops such a
# link from an old stored row): spaces, C1 controls and what XML cannot carry. Browsers
# send them percent-encoded as UTF-8, and so does the canonical form.
_NOT_IN_IRI = re.compile("[\\s\x80-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_url_text(url: str) -> str:
    """The URL a browser would see: inner tabs/newlines and edge controls removed, other
    controls left inside percent-encoded (as browsers do; a NUL can be neither stored in
    PostgreSQL nor written in XML)."""
    text = _INNER_JUNK.sub("", url).strip(_EDGE_JUNK)
    return _INNER_CONTROL.sub(_percent_encode, text)


def _percent_encode(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def is_tracking_param(name: str, tracking: TrackingRules) -> bool:
    lowered = unquote(name).lower()
    return lowered in tracking.params or lowered.startswith(tracking.prefixes)


def strip_tracking(query: str, tracking: TrackingRules) -> tuple[str, tuple[str, ...]]:
    """The query without tracking parameters, and the names that were removed."""
    kept: list[str] = []
    removed: list[str] = []
    for piece in query.split("&"):
        if not piece:
            continue
        name = piece.split("=", 1)[0]
        if is_tracking_param(name, tracking):
            removed.append(unquote(name))
        else:
            kept.append(piece)
    return "&".join(kept), tuple(removed)


# Anchors that point at a part of every page, never at one item of it.
_NAVIGATION_FRAGMENTS = frozenset(
    {"", "top", "main", "content", "main-content", "comments", "respond", "disqus_thread",
     "more", "page", "article", "!"}
)  # fmt: skip
_MORE_ANCHOR = re.compile(r"more-\d+")


def _kept_fragment(fragment: str, tracking: TrackingRules) -> str:
    if fragment.lower() in _NAVIGATION_FRAGMENTS or _MORE_ANCHOR.fullmatch(fragment):
        return ""
    if fragment.startswith("."):  # AddThis / ShareThis click tracking
        return ""
    name, equals, _ = fragment.partition("=")
    if equals and is_tracking_param(name, tracking):
        return ""
    return fragment


def _netloc(scheme: str, netloc: str) -> str | None:
    userinfo, _, hostport = netloc.rpartition("@")
    if hostport.startswith("["):  # IPv6 literal: the port follows the closing bracket
        host, _, port = hostport.partition("]")
        host += "]"
        port = port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    host = host.lower().rstrip(".")
    if not host:
        return None
    if port and (not port.isdigit() or int(port) == _DEFAULT_PORTS[scheme]):
        if not port.isdigit():
            return None
        port = ""
    result = f"{host}:{port}" if port else host
    return f"{userinfo}@{result}" if userinfo else result


def canonicalise(
    url: str, base: str | None, tracking: TrackingRules
) -> tuple[str | None, tuple[str, ...]]:
    """`canonical_url` that also says which tracking parameters it removed."""
    text = _NOT_IN_IRI.sub(_percent_encode, clean_url_text(url))
    if not text:
        return None, ()
    try:
        if base:
            text = urljoin(clean_url_text(base), text)
        parts = urlsplit(text)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None, ()
    scheme = parts.scheme.lower()
    if scheme not in SAFE_SCHEMES:
        return None, ()
    netloc = _netloc(scheme, parts.netloc)
    if netloc is None:
        return None, ()
    query, removed = strip_tracking(parts.query, tracking)
    fragment = _kept_fragment(parts.fragment, tracking)
    return urlunsplit((scheme, netloc, parts.path or "/", query, fragment)), removed


@functools.lru_cache(maxsize=8192)
def canonical_url(url: str, base: str | None = None) -> str | None:
    """Canonical http(s) form of `url` resolved against `base`; None if not http(s).

    >>> canonical_url("HTTPS://Example.COM:443/a?utm_source=x&id=2#top")
    'https://example.com/a?id=2'
    >>> canonical_url("https://example.com/2026-12-02#desal")
    'https://example.com/2026-12-02#desal'
    """
    return canonicalise(url, base, default_rules().tracking)[0]


def is_tracker(url: str, tracking: TrackingRules) -> bool:
    """True if `url` (absolute) is served by a known tracker host."""
    parts = urlsplit(url)
    return tracking.tracks((parts.hostname or "") + parts.path)
