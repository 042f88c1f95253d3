"""Validity checks for the Atom documents we publish, for any test to import.

`validate_atom(doc)` returns the problems found, an empty list for a valid document:

* RELAX NG validation against RFC 4287's own schema (tests/data/atom.rng, the XML-syntax
  translation of Appendix B, source kept in tests/data/publish/atom.rnc);
* the two Schematron rules of that schema, which RELAX NG cannot check (an author for
  every entry, an alternate link or content in every entry);
* what neither can express: unique entry ids, absolute IRIs for ids and links, RFC 3339
  dates, a complete atom:source (id, title, updated, link) in every entry, at most one
  alternate link per type and hreflang, and a feed `updated` equal to its newest entry's.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path

from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
NS = {"a": ATOM}
SCHEMA = Path(__file__).parent / "data" / "atom.rng"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_IRI_FORBIDDEN = re.compile(r"[\s<>\"{}|\\^`\x00-\x1f\x7f]")

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA)))


def _where(element: etree._Element) -> str:
    return f"line {element.sourceline}"


def _is_absolute_iri(value: str | None) -> bool:
    return (
        bool(value) and bool(_SCHEME.match(value or "")) and not _IRI_FORBIDDEN.search(value or "")
    )


def _date(element: etree._Element, problems: list[str]) -> datetime | None:
    text = (element.text or "").strip()
    name = etree.QName(element).localname
    if not _RFC3339.match(text):
        problems.append(f"{_where(element)}: {name} {text!r} is not an RFC 3339 date-time")
        return None
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"{_where(element)}: {name} {text!r} is not a real date")
        return None


def _check_schema(root: etree._Element) -> list[str]:
    schema = _schema()
    if schema.validate(root):
        return []
    return [f"line {e.line}: RELAX NG: {e.message}" for e in schema.error_log]


def _check_schematron(root: etree._Element) -> list[str]:
    problems = []
    feed_has_author = root.find("a:author", NS) is not None
    for entry in root.iterfind("a:entry", NS) if root.tag == f"{{{ATOM}}}feed" else [root]:
        has_alternate = entry.xpath(
            "a:link[@rel='alternate' or not(@rel)] or a:content", namespaces=NS
        )
        if not has_alternate:
            problems.append(f"{_where(entry)}: entry has neither an alternate link nor content")
        has_author = entry.xpath("a:author or a:source/a:author", namespaces=NS)
        if not (has_author or feed_has_author):
            problems.append(f"{_where(entry)}: entry has no author and neither has its feed")
    return problems


def _check_iris(root: etree._Element) -> list[str]:
    problems = []
    for element in root.iter(f"{{{ATOM}}}id"):
        if not _is_absolute_iri((element.text or "").strip()):
            problems.append(f"{_where(element)}: id {element.text!r} is not an absolute IRI")
    for element in root.iter(f"{{{ATOM}}}link"):
        href = element.get("href")
        if not _is_absolute_iri(href):
            problems.append(f"{_where(element)}: link href {href!r} is not an absolute IRI")
    return problems


def _check_dates(root: etree._Element) -> list[str]:
    problems: list[str] = []
    for name in ("updated", "published"):
        for element in root.iter(f"{{{ATOM}}}{name}"):
            _date(element, problems)
    return problems


def _check_entries(root: etree._Element) -> list[str]:
    problems = []
    seen: set[str] = set()
    for entry in root.iterfind("a:entry", NS):
        entry_id = entry.findtext("a:id", default="", namespaces=NS).strip()
        if entry_id in seen:
            problems.append(f"{_where(entry)}: duplicate entry id {entry_id!r}")
        seen.add(entry_id)
        problems.extend(_check_source(entry))
        problems.extend(_check_alternates(entry))
    return problems


def _check_source(entry: etree._Element) -> list[str]:
    source = entry.find("a:source", NS)
    if source is None:
        return [f"{_where(entry)}: entry has no atom:source"]
    return [
        f"{_where(source)}: atom:source has no {name}"
        for name in ("id", "title", "updated", "link")
        if source.find(f"a:{name}", NS) is None
    ]


def _check_alternates(parent: etree._Element) -> list[str]:
    seen: set[tuple[str | None, str | None]] = set()
    problems = []
    for link in parent.xpath("a:link[@rel='alternate' or not(@rel)]", namespaces=NS):
        key = (link.get("type"), link.get("hreflang"))
        if key in seen:
            problems.append(f"{_where(link)}: second alternate link with type/hreflang {key}")
        seen.add(key)
    return problems


def _check_feed_updated(root: etree._Element) -> list[str]:
    ignored: list[str] = []
    feed_updated = root.find("a:updated", NS)
    entry_dates = [_date(e, ignored) for e in root.iterfind("a:entry/a:updated", NS)]
    known = [d for d in entry_dates if d is not None]
    if feed_updated is None or not known:
        return []
    value = _date(feed_updated, ignored)
    if value is not None and value != max(known):
        return [f"{_where(feed_updated)}: feed updated {value} is not its newest entry's"]
    return []


def validate_atom(doc: bytes) -> list[str]:
    """Every problem found in the Atom document `doc`; empty when it is valid."""
    try:
        root = etree.fromstring(doc, _PARSER)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    problems = _check_schema(root)
    problems += _check_schematron(root)
    problems += _check_iris(root)
    problems += _check_dates(root)
    if root.tag == f"{{{ATOM}}}feed":
        problems += _check_entries(root)
        problems += _check_alternates(root)
        problems += _check_feed_updated(root)
    return problems
