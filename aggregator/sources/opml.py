"""Import and export subscription lists as OPML.

Reading walks the outline tree with lxml rather than listparser (0.20, checked): it
silently merges a feed listed twice (we must report duplicates so the caller can refuse
them), drops the common `type="rss" url="…"` dialect, keeps no attribute of its own
(`organisation` is lost), and reports a document that is no OPML at all (an RSS file) as
an empty, unbroken list. The tests still read what we write with listparser.

Tags of a source are the names of the folders it sits in (outermost first) followed by
the path elements of its `category` attribute ("/News/Local,Tech" → News, Local, Tech),
without repeats. A tag never contains "/" or ",", so every list read can be written back.

Writing is deterministic (no dates): each source goes in the folder of its first tag,
and all its tags are listed in `category`, so `read_opml(write_opml(x)) == x` and feed
readers that only understand folders still get one.

A listed feed is a `SourceSpec`, the record of a source as configured: its url, title
(the config's `name`), tags and organisation come from the outline, its id is the one
the config would derive from them (`config.default_source_id`), the rest are defaults.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlunsplit

from lxml import etree

from aggregator.config import TAG_SEPARATORS, default_source_id, tag_problem
from aggregator.exceptions import ConfigError
from aggregator.model import SourceSpec
from aggregator.urlparts import split_url

__all__ = ["find_duplicates", "listed_source", "read_opml", "write_opml"]

_FEED_TYPES = frozenset({"rss", "atom", "feed", "rdf", "json", "jsonfeed"})
_RAW_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z_][\w.-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")


def listed_source(
    url: str,
    title: str | None = None,
    tags: tuple[str, ...] = (),
    *,
    organisation: str | None = None,
) -> SourceSpec:
    """The source an outline lists, with the id the config would give it."""
    return SourceSpec(
        id=default_source_id(url, title), url=url, title=title, tags=tags, organisation=organisation
    )


def read_opml(data: bytes, *, name: str) -> list[SourceSpec]:
    """Every feed outline of an OPML document, in document order, duplicates included.

    `name` (the file name or URL) is used in error messages only.
    Raises ConfigError when `data` is not an OPML document.
    """
    body = _opml_body(data, name=name)
    return list(_walk(body, folders=()))


def find_duplicates(sources: Sequence[SourceSpec]) -> tuple[str, ...]:
    """URLs listed more than once (scheme and host compared case-insensitively)."""
    counts = Counter(_url_key(source.url) for source in sources)
    seen: set[str] = set()
    duplicates: list[str] = []
    for source in sources:
        key = _url_key(source.url)
        if counts[key] > 1 and key not in seen:
            seen.add(key)
            duplicates.append(source.url)
    return tuple(duplicates)


def write_opml(sources: Iterable[SourceSpec], *, title: str) -> bytes:
    """An OPML 2.0 document listing `sources`, byte-for-byte the same for the same input."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for source in sources:
        _check_tags(source)
        parent = body
        if source.tags:
            first = source.tags[0]
            if first not in folders:
                folders[first] = etree.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        etree.SubElement(parent, "outline", _outline_attributes(source))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _opml_body(data: bytes, *, name: str) -> etree._Element:
    try:
        root = _parse(data)
    except etree.XMLSyntaxError as strict_error:
        # Hand-written and older exports often carry a raw "&" in a URL; escape those
        # and try once more rather than refuse the whole list.
        try:
            root = _parse(_RAW_AMPERSAND.sub(b"&amp;", data))
        except etree.XMLSyntaxError:
            raise ConfigError(f"{name}: not an OPML document ({strict_error})") from None
    if root is None or _local(root.tag) != "opml":
        found = "nothing" if root is None else f"<{_local(root.tag)}>"
        raise ConfigError(f"{name}: not an OPML document (found {found} instead of <opml>)")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # OPML has no use for entities; declaring some is how entity-expansion bombs start.
        raise ConfigError(f"{name}: OPML documents that declare entities are not accepted")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ConfigError(f"{name}: OPML document has no <body>")
    return body


def _parse(data: bytes) -> etree._Element | None:
    # No DTD loading, no entity expansion, no network: an OPML file is data, not a program.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    return etree.fromstring(data, parser)


def _walk(element: etree._Element, *, folders: tuple[str, ...]) -> Iterator[SourceSpec]:
    for child in element:
        if not isinstance(child.tag, str) or _local(child.tag) != "outline":
            continue
        url = _feed_url(child)
        if url is not None:
            title = _title(child)
            # Exporters (and write_opml) put the URL in `text` when a feed has no title.
            title = None if title == url else title
            organisation = _attributes(child).get("organisation") or None
            tags = _tags(child, folders)
            yield listed_source(url, title, tags, organisation=organisation)
        elif len(child):
            yield from _walk(child, folders=folders + _split_tags(_title(child) or ""))


def _feed_url(outline: etree._Element) -> str | None:
    attributes = _attributes(outline)
    url = attributes.get("xmlurl")
    if not url and attributes.get("type", "").lower() in _FEED_TYPES:
        url = attributes.get("url")  # an older dialect: type="rss" url="…"
    return url or None


def _title(outline: etree._Element) -> str | None:
    attributes = _attributes(outline)
    return attributes.get("text") or attributes.get("title") or None


def _tags(outline: etree._Element, folders: tuple[str, ...]) -> tuple[str, ...]:
    tags = folders + _split_tags(_attributes(outline).get("category", ""))
    return tuple(dict.fromkeys(tags))


def _attributes(outline: etree._Element) -> dict[str, str]:
    # OPML writers disagree on case (xmlUrl, xmlurl, XMLURL); values are trimmed.
    return {_text(key).lower(): _text(value).strip() for key, value in outline.attrib.items()}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _split_tags(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in TAG_SEPARATORS.split(text) if part.strip())


def _outline_attributes(source: SourceSpec) -> dict[str, str]:
    attributes = {"type": "rss", "text": source.title or source.url}
    if source.title:
        attributes["title"] = source.title
    attributes["xmlUrl"] = source.url
    if source.tags:
        attributes["category"] = ",".join(f"/{tag}" for tag in source.tags)
    if source.organisation:
        attributes["organisation"] = source.organisation
    return attributes


def _check_tags(source: SourceSpec) -> None:
    for tag in source.tags:
        if (problem := tag_problem(tag)) is not None:
            raise ValueError(f"{source.url}: {problem}")


def _url_key(url: str) -> str:
    parts = split_url(url.strip())
    if parts is None:  # not a URL urllib can take apart: compared as written
        return url.strip()
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def _local(tag: object) -> str:
    # Namespaced OPML exists in the wild; compare local names only.
    return etree.QName(tag).localname if isinstance(tag, str) else ""
