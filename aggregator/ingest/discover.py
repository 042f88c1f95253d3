"""Finding the feed behind a URL, for `aggregator sources add`.

    check_feed(settings, url, discover=True)
      ├─ fetch url (the fetcher of every run: address guard, size caps, total deadline)
      ├─ a feed?                    → that URL, with the feed's title
      └─ a page (unless discover=False):
           ├─ its <link rel="alternate"> to RSS / Atom / JSON Feed, in page order
           └─ then the usual paths of feed software (/feed, /rss.xml, …)
              → the first that is a feed

`feed_links` is pure (bytes in, URLs out); the rest fetches through `ingest.http`, the one
module that talks to httpx.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lxml.html
from lxml import etree

from aggregator.config import Settings
from aggregator.exceptions import FetchError, ParseError
from aggregator.parse import parse_feed
from aggregator.runtime import eventloop
from aggregator.urlparts import is_http_url, join_url

__all__ = ["USUAL_PATHS", "Checked", "check_feed", "feed_links", "same_document"]

# The media types of <link rel="alternate" type=…> that announce a feed (RSS, Atom,
# JSON Feed; RSS 1.0 as RDF; bare JSON is what many JSON Feed sites declare).
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/rdf+xml",
    }
)
# Where WordPress, Ghost, Hugo, Jekyll, Blogger and most hand-made sites put their feed,
# tried in this order when a page links to none. Relative to the site's root.
USUAL_PATHS = (
    "/feed",
    "/rss",
    "/feed.xml",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.json",
    "/feeds/posts/default",
)
_SOURCE_ID = "new-source"  # the parser wants a source id for its messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A URL that answered with a feed."""

    url: str  # the feed's URL, as given or as linked (a later run follows redirects)
    final_url: str  # where the last redirect led
    title: str | None  # the feed's own title
    found: str | None  # None: `url` was given; else how it was found (for the user)
    digest: str  # of the body, to compare two URLs that may serve one document


def feed_links(page: bytes, base_url: str) -> list[str]:
    """The feeds an HTML page announces with <link rel="alternate" type=…>, absolute,
    in page order, each once."""
    try:
        root = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError):  # empty, or nothing HTML-like
        return []
    found: dict[str, None] = {}
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rels or kind not in FEED_TYPES or not href:
            continue
        url = join_url(base_url, href)
        if url is not None and is_http_url(url):
            found[url] = None
    return list(found)


def _candidates(page: bytes, page_url: str) -> list[tuple[str, str]]:
    linked = [(url, "linked from the page") for url in feed_links(page, page_url)]
    usual = [(join_url(page_url, path), "at a usual feed path") for path in USUAL_PATHS]
    seen = {page_url}
    result = []
    for url, how in [*linked, *usual]:
        if url is not None and url not in seen:
            seen.add(url)
            result.append((url, how))
    return result


def check_feed(settings: Settings, url: str, *, discover: bool = True) -> Checked:
    """The feed at `url`, or (with `discover`) the feed its page leads to.

    Raises FetchError when `url` itself cannot be fetched, ParseError when it is not a
    feed and no feed was found from it (the message says what was tried).
    """
    from aggregator.ingest.http import Fetcher, FetchRequest

    async def run() -> Checked:
        async with Fetcher(settings.fetch) as fetcher:
            outcome = await fetcher.fetch(FetchRequest(source_id=_SOURCE_ID, url=url))
            body = outcome.body or b""
            try:
                return _checked(url, outcome.final_url, body, outcome.headers, found=None)
            except ParseError as not_feed:
                if not discover:
                    raise ParseError(
                        f"{not_feed.message}; without --no-discover the feed it links to "
                        "would be looked for",
                        source_id=_SOURCE_ID,
                        url=url,
                    ) from None
                reason = not_feed.message
            tried = _candidates(body, outcome.final_url)
            for candidate, how in tried:
                try:
                    found = await fetcher.fetch(FetchRequest(source_id=_SOURCE_ID, url=candidate))
                    return _checked(
                        candidate, found.final_url, found.body or b"", found.headers, found=how
                    )
                except (FetchError, ParseError):
                    continue
            raise ParseError(
                f"{reason}, and no feed was found from it: {_tried(tried)}",
                source_id=_SOURCE_ID,
                url=url,
            )

    return eventloop.run(run())


def _checked(
    url: str, final_url: str, body: bytes, headers: Mapping[str, str], *, found: str | None
) -> Checked:
    parsed = parse_feed(body, url=final_url, source_id=_SOURCE_ID, headers=headers)
    return Checked(
        url=url,
        final_url=final_url,
        title=parsed.meta.title or None,
        found=found,
        digest=hashlib.sha256(body).hexdigest(),
    )


def _tried(tried: Sequence[tuple[str, str]]) -> str:
    linked = sum(1 for _, how in tried if how == "linked from the page")
    links = f"{linked} linked feeds did not answer with a feed" if linked else "no feed link"
    return f"{links}, none at {', '.join(USUAL_PATHS)}"


def same_document(settings: Settings, first: Checked, second_url: str) -> bool:
    """Whether `second_url` serves what `first` was found to serve: it redirects to the
    same place, or answers with the same bytes. A failed fetch says no."""
    from aggregator.ingest.http import Fetcher, FetchRequest

    async def run() -> bool:
        async with Fetcher(settings.fetch) as fetcher:
            try:
                outcome = await fetcher.fetch(FetchRequest(source_id=_SOURCE_ID, url=second_url))
            except FetchError:
                return False
        body = outcome.body or b""
        return (
            outcome.final_url == first.final_url or hashlib.sha256(body).hexdigest() == first.digest
        )

    return eventloop.run(run())
