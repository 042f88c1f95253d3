"""Taking URLs apart without exceptions.

`urllib.parse.urlsplit` raises ValueError on some malformed URLs (an unclosed IPv6
bracket: `http://[oops/`), and the URLs it is handed come from feeds, config files and
OPML files: user input, which must give a clear message or be dropped, never a traceback.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urljoin, urlsplit

__all__ = ["hostname", "is_http_url", "join_url", "split_url"]


def split_url(url: str) -> SplitResult | None:
    """`urlsplit(url)`, or None where urllib cannot take it apart."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def join_url(base: str, url: str) -> str | None:
    """`urljoin(base, url)`, or None where urllib cannot take either apart."""
    try:
        return urljoin(base, url)
    except ValueError:
        return None


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host (any case of scheme)."""
    parts = split_url(url)
    return parts is not None and parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def hostname(url: str) -> str | None:
    """The lower-cased host of `url`; None when it has none or cannot be taken apart."""
    parts = split_url(url)
    return parts.hostname if parts is not None else None
