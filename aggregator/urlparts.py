"""Taking URLs apart without exceptions, and keeping their credentials out of messages.

`urllib.parse.urlsplit` raises ValueError on some malformed URLs (an unclosed IPv6
bracket: `http://[oops/`), and the URLs it is handed come from feeds, config files and
OPML files: user input, which must give a clear message or be dropped, never a traceback.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urljoin, urlsplit

__all__ = ["hostname", "is_http_url", "join_url", "redact", "split_url"]

# The user information of a URL anywhere in a text: greedy up to the last "@" of the
# authority (an unencoded "@" in a password is common), which ends at the first "/", "?",
# "#", space or quote, so an "@" in a path, a query or another URL is left alone.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s\"'<>]*@")
# A password given as a query parameter (libpq reads password= and sslpassword=).
_SECRET_PARAM = re.compile(r"(?i)([?&](?:password|sslpassword)=)[^&#\s\"'<>]*")


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


def redact(text: str) -> str:
    """`text` (a URL, or a message that quotes URLs) fit for messages and logs.

    The one credential redactor: the user information of every URL in it becomes `***`
    and so does the value of a `password` or `sslpassword` query parameter. Libraries
    quote URLs back in the middle of their messages, so the whole text is searched."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
