"""Where a source's own feed is published and how it is named: the one derivation every
stage uses (cleaning's atom:source, the store's attribution, publishing's per-source
feeds, sources.opml). Pure.

    source id ──► slug ──► path  sources/<slug>.atom
                           url   base URL + path: where that feed is served
                  feed id ──► id   the source's own atom:id (a remote Atom feed's <id>),
                                   else the url: the id of our feed of it AND the
                                   atom:source/atom:id of every entry it carried
                  site    ──► link the source's web page, else its feed URL, else our url

So a local source's atom:source id and link name a file that is written, and a source's
per-source feed has the id its entries' atom:source names.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from aggregator.urlparts import is_http_url

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 60
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Characters no IRI holds (RFC 3987), and those XML cannot carry.
_NOT_IN_IRI = re.compile('[\\s<>"{}|\\\\^`\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]')


def slugify(value: str) -> str:
    """A file-name-safe form of a source id or tag: ASCII letters, digits and dashes.

    Values with nothing ASCII left (e.g. a tag in another script) get a short hash, so
    they still have a stable file of their own; so do long values, after their first
    words.
    """
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = _SLUG_JUNK.sub("-", folded.lower()).strip("-")
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    if len(slug) > _SLUG_MAX:
        # Cut short, two long names sharing their first words would share a file: the
        # digest of the whole name keeps them apart.
        return slug[: _SLUG_MAX - 9].strip("-") + "-" + digest[:8]
    return slug or "x-" + digest[:12]


def is_absolute_iri(value: str) -> bool:
    """An IRI with a scheme and no characters that cannot appear in one."""
    return bool(_SCHEME.match(value)) and not _NOT_IN_IRI.search(value)


def source_feed_path(source_id: str) -> str:
    return f"sources/{slugify(source_id)}.atom"


def tag_feed_path(tag: str) -> str:
    return f"tags/{slugify(tag)}.atom"


def output_url(base_url: str, path: str) -> str:
    """The public URL of an output file, `path` relative to the output folder."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True, slots=True)
class SourceFeed:
    slug: str
    path: str  # relative to the output folder
    url: str  # where our feed of the source is served
    id: str  # that feed's atom:id, and atom:source/atom:id of the source's entries
    link: str  # atom:source's link: the source's page, else its feed URL, else `url`


def source_feed(
    source_id: str,
    *,
    base_url: str,
    feed_id: str | None = None,
    site_link: str | None = None,
    feed_url: str | None = None,
) -> SourceFeed:
    """Everything about the source `source_id` that names a feed; see the module docstring.

    `feed_id` is the id the source's feed gave itself (None for RSS and local sources);
    `site_link` its web page; `feed_url` where it is fetched from (a path for seeds).
    """
    path = source_feed_path(source_id)
    url = output_url(base_url, path)
    own_id = feed_id.strip() if feed_id else None
    link = next((u for u in (site_link, feed_url) if u and _plain_http(u)), url)
    return SourceFeed(
        slug=slugify(source_id),
        path=path,
        url=url,
        id=own_id if own_id and is_absolute_iri(own_id) else url,
        link=link,
    )


def _plain_http(value: str) -> bool:
    return value == value.strip() and not _NOT_IN_IRI.search(value) and is_http_url(value)
