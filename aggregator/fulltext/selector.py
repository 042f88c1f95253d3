"""The per-site override: a CSS selector for the article on a source's pages (lxml's
cssselect support; the only module that uses it)."""

from __future__ import annotations

import lxml.html
from cssselect import SelectorError
from lxml.cssselect import CSSSelector
from lxml.etree import ParserError, tostring


def selector_problem(selector: str) -> str | None:
    """Why `selector` is not a CSS selector we can use, or None."""
    try:
        CSSSelector(selector)
    except SelectorError as exc:
        return f"not a CSS selector ({exc})"
    return None


def select(page: bytes, selector: str) -> str | None:
    """The HTML of the elements `selector` finds in `page`, in page order, or None."""
    try:
        root = lxml.html.document_fromstring(page)
    except (ParserError, ValueError):
        return None
    found = CSSSelector(selector)(root)
    parts = [tostring(el, encoding="unicode", method="html") for el in found]
    return "\n".join(parts) or None
