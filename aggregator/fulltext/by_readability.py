"""The fallback extractor, readability-lxml (Mozilla Readability's scoring): the only
module that imports it. Used when trafilatura finds nothing, or less than the teaser."""

from __future__ import annotations

import logging

from readability import Document
from readability.readability import Unparseable

# readability logs every candidate it scores at INFO level.
logging.getLogger("readability.readability").setLevel(logging.WARNING)


def extract(page: bytes, url: str) -> str | None:
    """The article of `page` as an HTML fragment, or None when none is found."""
    try:
        found = Document(page, url=url).summary(html_partial=True)
    except (Unparseable, ValueError, TypeError):
        return None
    return str(found) or None
