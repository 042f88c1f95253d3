"""Article extraction with trafilatura: the only module that imports it.

`favor_precision` keeps page boilerplate (navigation, related links, cookie banners,
comments) out at the cost of an occasional lost paragraph; TRAPS 13: trafilatura needs
lxml_html_clean installed beside a current lxml.
"""

from __future__ import annotations

import lxml.html
import trafilatura
from lxml.etree import ParserError, tostring

# Page components that trafilatura keeps when they sit next to the body inside the
# article element: contact blocks ("Media contact", "Contact us") and newsletter sign-ups
# (on a labelled set of press-release pages, the contact block was all that leaked).
_PRUNE = [
    "//*[contains(@class, 'contact') or contains(@id, 'contact')]",
    "//*[contains(@class, 'newsletter') or contains(@id, 'newsletter')]",
]


def extract(page: bytes, url: str) -> str | None:
    """The article of `page` as an HTML fragment, or None when none is found."""
    found = trafilatura.extract(
        page,
        url=url,
        output_format="html",
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=True,
        with_metadata=False,
        deduplicate=False,
        prune_xpath=_PRUNE,
    )
    if not found:
        return None
    return _body_of(str(found))


def _body_of(document: str) -> str | None:
    """trafilatura wraps its HTML output in <html><body>: the fragment inside."""
    try:
        root = lxml.html.document_fromstring(document)
    except (ParserError, ValueError):
        return None
    body = root.find("body")
    container = body if body is not None else root
    parts = [tostring(child, encoding="unicode", method="html") for child in container]
    return "".join(parts) or None
