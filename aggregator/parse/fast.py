"""The fast path: well-formed RSS 2.0 and Atom 1.0 read with lxml, as feedparser would.

feedparser runs a Python handler for every SAX event, about 22 ms for a 60 KB feed. This
module parses the same bytes with lxml (in C) and reproduces, for a closed set of
documents, the FeedParserDict values that `aggregator.parse` maps into records: the
same keys, built by the same rules, with feedparser's own small helpers for URL joining
and date parsing, so the records come out identical.

Anything outside that set makes `read` return a `Declined` with the reason, and the
caller uses feedparser:

* bytes feedparser would not decode as UTF-8 without complaint (RFC 3023 rules: a
  non-XML Content-Type, text/xml without charset on non-ASCII bytes, any other charset);
* a prolog with anything but an XML 1.0 declaration, comments and processing
  instructions: no DOCTYPE ever takes this path (TRAPS 1), so no entity is declared;
* anything lxml does not parse cleanly (not well-formed, an undefined entity reference,
  a namespace error), with entity resolution, network access and DTD loading off and the
  huge-tree limits on;
* any root but `<rss version="2.x">` or an Atom 1.0 `<feed>`; RSS 0.9x/1.0/RDF, Atom 0.3;
* an element feedparser gives a handler that this module does not reproduce, an element
  in a namespace feedparser does not know, markup inside a text element (feedparser's
  inline XHTML handling), base64 or XHTML content, a repeated title, id, date, summary
  or description, and the other cases listed at the `_Decline` raises below.

Dates in the common RFC 822 and RFC 3339 forms are computed here, by feedparser's
arithmetic; any other date string goes to feedparser's own date parser, unchanged.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from feedparser.datetimes import _parse_date as _feedparser_parse_date
from feedparser.encodings import RE_XML_PI_ENCODING, parse_content_type
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

__all__ = ["Declined", "FastFeed", "read"]


@dataclass(frozen=True, slots=True)
class FastFeed:
    """feedparser's `feed`, `entries` and `version`, as plain dicts and lists."""

    feed: dict[str, Any]
    entries: list[dict[str, Any]]
    version: str


@dataclass(frozen=True, slots=True)
class Declined:
    reason: str


class _Decline(Exception):
    pass


def read(body: bytes, headers: Mapping[str, str]) -> FastFeed | Declined:
    """Read a prepared body (see `aggregator.parse`) or say why feedparser must."""
    try:
        return _read(body, headers)
    except _Decline as declined:
        return Declined(str(declined))


# ---------------------------------------------------------------------------------------------
# Bytes, prolog and charset

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_ATOM_NS = "http://www.w3.org/2005/Atom"
_BOM = b"\xef\xbb\xbf"
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_S = rb"[ \t\r\n]"
_PROLOG = re.compile(
    rb"(?:<\?xml" + _S + rb"+version" + _S + rb"*=" + _S + rb"*(?P<q1>[\"'])1\.0(?P=q1)"
    rb"(?:" + _S + rb"+encoding" + _S + rb"*=" + _S + rb"*(?P<q2>[\"'])"
    rb"(?P<encoding>[A-Za-z][A-Za-z0-9._-]*)(?P=q2))?"
    rb"(?:" + _S + rb"+standalone" + _S + rb"*=" + _S + rb"*(?P<q3>[\"'])(?:yes|no)(?P=q3))?"
    rb"" + _S + rb"*\?>)?"
    rb"(?:" + _S + rb"+|<!--(?:[^-]|-(?!-))*-->|<\?(?![xX][mM][lL][ \t\r\n?])[A-Za-z_][^?]*"
    rb"(?:\?(?!>)[^?]*)*\?>)*"
    rb"(?=<[A-Za-z_])"
)
_XML_APPLICATION_TYPES = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)
_XML_TEXT_TYPES = ("text/xml", "text/xml-external-parsed-entity")
_NAMESPACE_DECLARATION = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(["'])(.*?)\2""", re.S)


def _check_bytes(body: bytes, headers: Mapping[str, str]) -> None:
    data = body.removeprefix(_BOM)
    prolog = _PROLOG.match(data)
    if prolog is None:
        raise _Decline("prolog with a DOCTYPE or other declaration, or no element")
    declared = prolog.group("encoding")
    if declared is not None and declared.decode("ascii").lower() not in _UTF8_NAMES:
        raise _Decline(f"declared encoding {declared.decode('ascii')!r}")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Decline("bytes are not UTF-8") from None
    # The charset feedparser settles on (encodings.convert_to_utf8), without a complaint.
    xml_encoding = _feedparser_xml_encoding(data)
    if xml_encoding and xml_encoding not in _UTF8_NAMES:
        raise _Decline(f"feedparser reads the declared encoding as {xml_encoding!r}")
    if not headers:
        return
    if "content-type" not in headers:
        raise _Decline("headers without a Content-Type")
    mime, charset = parse_content_type(headers.get("content-type") or "")
    application = mime.startswith("application/") and mime.endswith("+xml")
    if mime in _XML_APPLICATION_TYPES or application:
        encoding = charset or xml_encoding or "utf-8"
    elif mime in _XML_TEXT_TYPES or (mime.startswith("text/") and mime.endswith("+xml")):
        encoding = charset or "us-ascii"
    else:
        raise _Decline(f"Content-Type {mime!r} is not an XML media type")
    encoding = encoding.lower()
    if encoding not in _UTF8_NAMES and not (encoding in ("us-ascii", "ascii") and data.isascii()):
        raise _Decline(f"charset {encoding!r}")


def _feedparser_xml_encoding(data: bytes) -> str:
    """feedparser's RE_XML_PI_ENCODING result, lowercased ('' when it does not match).

    The pattern is greedy over the first line, which is often the whole document; when
    `encoding=` occurs at most once on that line the answer is known without running it.
    """
    if not data.startswith(b"<?"):
        return ""
    newline = data.find(b"\n")
    first_line = data if newline < 0 else data[:newline]
    occurrences = first_line.count(b"encoding=")
    if occurrences == 0:
        return ""
    if occurrences == 1:
        match = re.match(rb"""<\?[^\n]*?encoding=['"]([^'"\n]*)['"][^\n]*\?>""", first_line)
    else:
        match = RE_XML_PI_ENCODING.match(data)
    return match.group(1).decode("utf-8", "replace").lower() if match else ""


def _check_namespace_declarations(body: bytes) -> None:
    for prefix_bytes, _, uri_bytes in _NAMESPACE_DECLARATION.findall(body):
        uri = _namespace_key(uri_bytes.decode("utf-8", "replace"))
        if uri in _VERSION_NAMESPACES:
            raise _Decline(f"namespace {uri} (RSS 0.90/1.0)")
        standard = _NAMESPACES.get(uri)
        prefix = prefix_bytes.decode("utf-8", "replace")
        if standard is not None and prefix and prefix != standard and prefix in _PREFIXES:
            # feedparser maps prefixes by name: `xmlns:dc="<content module>"` would turn
            # real dc: elements into content: ones.
            raise _Decline(f"prefix {prefix!r} bound to the namespace of {standard!r}")


# ---------------------------------------------------------------------------------------------
# lxml


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _PARSERS.parser = parser
    return parser


def _read(body: bytes, headers: Mapping[str, str]) -> FastFeed:
    _check_bytes(body, headers)
    _check_namespace_declarations(body)
    parser = _parser()
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise _Decline(f"lxml: {exc}") from None
    if len(parser.error_log):
        raise _Decline(f"lxml reported: {parser.error_log[0].message}")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.xml_version != "1.0":
        raise _Decline("DOCTYPE or XML version other than 1.0")
    reader = _Reader(headers.get("content-location", ""))
    version = reader.document(root)
    return FastFeed(feed=reader.feed, entries=reader.entries, version=version)


# ---------------------------------------------------------------------------------------------
# Names, as feedparser forms them (parsers/strict.py startElementNS, mixin.unknown_starttag)

_NAMESPACES: dict[str, str] = {
    uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()
}
_PREFIXES = frozenset(prefix for prefix in _NAMESPACES.values() if prefix)
_VERSION_NAMESPACES = frozenset(
    {"http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/rss/1.0/"}
)
_HANDLED = frozenset(
    name.removeprefix("_start_").removeprefix("_end_")
    for name in dir(_FeedParserMixin)
    if name.startswith(("_start_", "_end_"))
)
_KEYMAP: dict[str, str | list[str]] = FeedParserDict.keymap
# Keys the record mapping reads, or that steer feedparser's own state.
_PROTECTED = frozenset(
    {
        "id",
        "title",
        "link",
        "links",
        "summary",
        "summary_detail",
        "subtitle",
        "content",
        "author",
        "authors",
        "author_detail",
        "tags",
        "published",
        "published_parsed",
        "updated",
        "updated_parsed",
        "ttl",
        "sy_updateperiod",
        "sy_updatefrequency",
        "image",
        "textinput",
    }
)
_CAN_BE_RELATIVE = frozenset(_FeedParserMixin.can_be_relative_uri)
_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_MEDIA_CATEGORY_SCHEME = "http://search.yahoo.com/mrss/category_schema"


def _namespace_key(uri: str) -> str:
    lower = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in lower else lower


@lru_cache(maxsize=2048)
def _name(tag: str) -> str:
    """`prefix_local` as feedparser names handlers and unknown keys; Atom and RSS: `local`."""
    if not tag.startswith("{"):
        return tag.lower()
    uri, _, local = tag[1:].partition("}")
    prefix = _NAMESPACES.get(_namespace_key(uri))
    if prefix is None:
        raise _Decline(f"element in an unknown namespace: {tag}")
    return f"{prefix}_{local.lower()}" if prefix else local.lower()


def _attributes(element: etree._Element) -> dict[str, str]:
    """The attrs_d feedparser's handlers see: lower-case names, rel/type values lowered."""
    attrib = element.attrib
    if not attrib:
        return {}
    attrs: dict[str, str] = {}
    plain: set[str] = set()
    for raw_key, value in attrib.items():
        key = str(raw_key)
        if key.startswith("{"):
            uri, _, local = key[1:].partition("}")
            if uri != _XML_NS:
                raise _Decline(f"namespaced attribute {key}")
            local = local.lower()
            names: tuple[str, ...] = (f"xml:{local}", local)
        else:
            local = key.lower()
            names = (local,)
        if local in plain:
            raise _Decline(f"attribute {local!r} given twice")
        plain.add(local)
        for name in names:
            attrs[name] = value.lower() if name in ("rel", "type") else value
    return attrs


def _leaf_text(element: etree._Element) -> str:
    if len(element):
        raise _Decline(f"markup inside <{_tag(element)}>")
    return element.text or ""


def _own_text(element: etree._Element) -> str:
    """Character data of the element itself, not of its children (feedparser's pieces)."""
    return (element.text or "") + "".join(child.tail or "" for child in element)


def _map_content_type(content_type: str) -> str:
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return "application/xhtml+xml"
    return content_type


def _enforce_href(attrs: dict[str, Any]) -> None:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href


@lru_cache(maxsize=1024)
def _safe_join(base: str, relative: str) -> str:
    return str(make_safe_absolute_uri(base, relative))


@lru_cache(maxsize=1024)
def _join_base(base: str, relative: str) -> str:
    return str(_urljoin(base, relative))


# ---------------------------------------------------------------------------------------------
# Dates


_MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}
# feedparser.datetimes.rfc822.timezone_names, for the names accepted here ("UTC" is not in
# its table and counts as +0000, as does any unknown name).
_ZONES = {"GMT": 0, "UT": 0, "UTC": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5}
_ZONES |= {"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) (" + "|".join(_MONTHS) + r") "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (" + "|".join(_ZONES) + r"|[+-][0-9]{4})\Z"
)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)


def parse_date(value: str) -> time.struct_time | None:
    """feedparser.datetimes._parse_date(value), computed directly for the common forms.

    RFC 3339 strings are what feedparser's first handler (W3DTF) reads; RFC 822 strings
    are ones W3DTF rejects and its second handler (RFC 822) reads. The arithmetic is
    theirs: a naive stamp minus the zone offset, as a UTC struct_time. Anything else,
    or a stamp those handlers would refuse, goes to feedparser itself.
    """
    match = _RFC3339.match(value)
    if match is not None:
        year, month, day, hour, minute, second, zone = match.groups()
        if zone == "Z":
            offset = timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = timedelta(hours=sign * int(zone[1:3]), minutes=sign * int(zone[4:]))
        result = _utc_tuple(year, month, day, hour, minute, second, offset)
        if result is not None:
            return result
    else:
        match = _RFC822.match(value)
        if match is not None:
            day, month_name, year, hour, minute, second, zone = match.groups()
            if zone[0] in "+-":
                sign = -1 if zone[0] == "-" else 1
                offset = timedelta(hours=sign * int(zone[1:3]), minutes=sign * int(zone[3:]))
            else:
                offset = timedelta(hours=_ZONES[zone])
            result = _utc_tuple(year, str(_MONTHS[month_name]), day, hour, minute, second, offset)
            if result is not None:
                return result
    parsed: time.struct_time | None = _feedparser_parse_date(value)
    return parsed


def _utc_tuple(
    year: str, month: str, day: str, hour: str, minute: str, second: str, offset: timedelta
) -> time.struct_time | None:
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        return (stamp - offset).utctimetuple()
    except (ValueError, OverflowError):
        return None


# ---------------------------------------------------------------------------------------------
# The reader: feedparser's mixin state machine, for the elements listed in the tables below

_Handler = Callable[["_Reader", etree._Element, dict[str, str]], None]


class _Reader:
    """Mirrors feedparser.mixin._FeedParserMixin for a closed set of elements.

    Each method names the feedparser handler it reproduces. Where feedparser keeps a
    depth map or a title depth to choose between repeated elements, this reader declines
    repeated elements instead (`_once`), so those choices never arise.
    """

    def __init__(self, baseuri: str) -> None:
        self.baseuri = baseuri
        self.basestack: list[str] = []
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.inentry = False
        self.has_content = False
        self.guidislink = False
        self.seen: set[str] = set()
        self.feed_seen: set[str] = set()
        self.version = ""

    # -- structure

    def document(self, root: etree._Element) -> str:
        tag = root.tag
        if not isinstance(tag, str):
            raise _Decline("no root element")
        attrs = _attributes(root)
        if tag.lower() == "rss":
            if not attrs.get("version", "").startswith("2."):
                raise _Decline(f"RSS version {attrs.get('version')!r}")
            self.version = "rss20"
            self.enter(attrs)
            channels = list(root)
            if len(channels) != 1 or _name(_tag(channels[0])) != "channel":
                raise _Decline("<rss> without exactly one <channel>")
            channel = channels[0]
            channel_attrs = _attributes(channel)
            self.enter(channel_attrs)
            self.feed_children(channel, channel_attrs)
            self.leave()
            self.leave()
            return "rss20"
        if tag == f"{{{_ATOM_NS}}}feed":
            self.version = "atom10"
            self.enter(attrs)
            self.feed_children(root, attrs)
            self.leave()
            return "atom10"
        raise _Decline(f"root element {tag}")

    def feed_children(self, parent: etree._Element, attrs: dict[str, str]) -> None:
        _no_cdf(attrs)
        self._children(parent, _FEED_HANDLERS)

    def entry_children(self, parent: etree._Element) -> None:
        self._children(parent, _ENTRY_HANDLERS)

    def _children(self, parent: etree._Element, handlers: Mapping[str, _Handler]) -> None:
        for child in parent:
            name = _name(_tag(child))
            child_attrs = _attributes(child)
            self.enter(child_attrs)
            handler = handlers.get(name)
            if handler is None:
                self.unknown(child, name, child_attrs)
            else:
                handler(self, child, child_attrs)
            self.leave()

    def enter(self, attrs: Mapping[str, str]) -> None:
        """unknown_starttag: xml:base tracking (the `base` attribute counts too)."""
        given = attrs.get("xml:base", attrs.get("base"))
        if given or self.baseuri:
            base = given or self.baseuri
            if self.baseuri:
                self.baseuri = _safe_join(self.baseuri, base) or self.baseuri
            else:
                self.baseuri = _join_base(self.baseuri, base)
        self.basestack.append(self.baseuri)

    def leave(self) -> None:
        """unknown_endtag: an empty parent base does not restore (feedparser's rule)."""
        self.basestack.pop()
        if self.basestack and self.basestack[-1]:
            self.baseuri = self.basestack[-1]

    def context(self) -> dict[str, Any]:
        return self.entries[-1] if self.inentry else self.feed

    def once(self, key: str) -> None:
        seen = self.seen if self.inentry else self.feed_seen
        if key in seen:
            raise _Decline(f"repeated {key}")
        seen.add(key)

    def finish(self, text: str, element: str, params: dict[str, Any] | None = None) -> str:
        """The text processing of mixin.pop for an element that expects text."""
        output = text.strip()
        if output and element in _CAN_BE_RELATIVE and (element != "id" or self.guidislink):
            output = str(_urljoin(self.baseuri or "", output))
        if (
            params is not None
            and self.version != "atom10"
            and params["type"] == "text/plain"
            and _FeedParserMixin.looks_like_html(output)
        ):
            # feedparser's guess for RSS: "plain text" that looks like HTML is HTML.
            params["type"] = "text/html"
        if not output.isascii():
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            output = output.translate(_cp1252)
        return output

    def content_params(self, attrs: Mapping[str, str], default: str) -> dict[str, Any]:
        """push_content; base64 and inline-XHTML content are feedparser's to read."""
        kind = _map_content_type(attrs.get("type", default))
        base64 = attrs.get("mode", "") == "base64" or not (
            kind.startswith("text/") or kind.endswith(("+xml", "/xml"))
        )
        if base64 or not kind.startswith("text/") or kind.endswith("xml"):
            raise _Decline(f"content of type {kind!r}")
        return {"type": kind, "base": self.baseuri}

    def unknown(self, element: etree._Element, name: str, attrs: Mapping[str, str]) -> None:
        """An element without a feedparser handler lands under its own name: harmless
        unless that name (after FeedParserDict's key map) is one the records read."""
        if name in _HANDLED:
            raise _Decline(f"element {name!r} (a feedparser handler not reproduced here)")
        key = _KEYMAP.get(name, name)
        if isinstance(key, list):
            key = key[0]
        if key in _PROTECTED:
            raise _Decline(f"element {name!r} stored as {key!r}")
        if len(element):
            raise _Decline(f"element {name!r} with children")

    # -- handlers (named after feedparser's)

    def item(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_item / _end_item."""
        if self.inentry:
            raise _Decline("nested entry")
        _no_cdf(attrs)
        self.entries.append({})
        self.inentry = True
        self.guidislink = False
        self.seen = set()
        self.entry_children(element)
        self.inentry = False
        self.has_content = False

    def title(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_title / _end_title."""
        self.once("title")
        self.content_params(attrs, "text/plain")
        self.context()["title"] = self.finish(_leaf_text(element), "title")

    def description(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_description (RSS): the entry summary, the feed subtitle."""
        self.summary_like(element, attrs, "description", "text/html")

    def summary(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_summary (Atom)."""
        self.summary_like(element, attrs, "summary", "text/plain")

    def summary_like(
        self, element: etree._Element, attrs: dict[str, str], name: str, default: str
    ) -> None:
        context = self.context()
        if not self.inentry:
            if name != "description":
                raise _Decline("feed-level <summary>")
            self.once("subtitle")
            self.content_params(attrs, default)
            context["subtitle"] = self.finish(_leaf_text(element), name)
            return
        self.once("summary")
        if "summary" in context and not self.has_content:
            raise _Decline(f"<{name}> read as content")
        params = self.content_params(attrs, default)
        output = self.finish(_leaf_text(element), name, params)
        context["summary"] = output
        context["summary_detail"] = {**params, "value": output}

    def subtitle(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_subtitle."""
        if self.inentry:
            raise _Decline("entry-level <subtitle>")
        self.once("subtitle")
        self.content_params(attrs, "text/plain")
        self.feed["subtitle"] = self.finish(_leaf_text(element), "subtitle")

    def content(self, element: etree._Element, attrs: dict[str, str], default: str) -> None:
        """_start_content / _start_content_encoded / _end_content."""
        if not self.inentry:
            raise _Decline("feed-level content")
        self.has_content = True
        params = self.content_params(attrs, default)
        if default == "text/plain" and attrs.get("src"):
            params["src"] = attrs["src"]
        copy_to_summary = params["type"] in ("text/plain", *_HTML_TYPES)
        output = self.finish(_leaf_text(element), "content", params)
        context = self.context()
        context.setdefault("content", []).append({**params, "value": output})
        if copy_to_summary:
            context.setdefault("summary", output)

    def link(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_link / pop('link')."""
        attrs = dict(attrs)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        context = self.context()
        _enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = str(_urljoin(self.baseuri or "", attrs["href"]))
        links = context.setdefault("links", [])
        links.append(attrs)
        if "href" in attrs:
            if len(element):
                raise _Decline("markup inside <link>")
            if attrs.get("rel") == "alternate" and _map_content_type(attrs["type"]) in _HTML_TYPES:
                context["link"] = attrs["href"]
            return
        output = self.finish(_leaf_text(element), "link")
        if self.inentry:
            if "&" in output:
                output = _LINK_ENTITY.sub(r"&\g<1>", output.replace("&amp;", "&"))
            context["link"] = output
            if output:
                links[-1]["href"] = output
        else:
            if "&" in output:
                output = _LINK_ENTITY.sub(r"&\g<1>", output)
            context["link"] = output
            links[-1]["href"] = output

    def guid(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_guid / _end_guid (Atom's <id> too)."""
        self.once("id")
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        output = self.finish(_leaf_text(element), "id")
        context = self.context()
        context["id"] = output
        if self.guidislink:
            context.setdefault("link", output)

    def date(self, element: etree._Element, key: str) -> None:
        """_end_published / _end_updated."""
        self.once(key)
        output = self.finish(_leaf_text(element), key)
        context = self.context()
        context[key] = output
        context[f"{key}_parsed"] = parse_date(output) if output else None

    def author(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_author / _end_author (dc:creator and managingEditor too)."""
        context = self.context()
        context.setdefault("authors", []).append({})
        for child in element:
            name = _name(_tag(child))
            self.enter(_attributes(child))
            if name in ("name", "email"):
                self.save_author(name, _leaf_text(child).strip())
            elif name in ("uri", "url", "homepage"):
                self.save_author("href", self.finish(_leaf_text(child), "href"))
            else:
                raise _Decline(f"<{name}> inside an author")
            self.leave()
        context["author"] = self.finish(_own_text(element), "author")
        self.sync_author_detail()

    def save_author(self, key: str, value: str) -> None:
        """_save_author."""
        context = self.context()
        context.setdefault("author_detail", {})[key] = value
        self.sync_author_detail()
        context.setdefault("authors", [{}])[-1][key] = value

    def sync_author_detail(self) -> None:
        """_sync_author_detail, including its regular expression for an email in text."""
        context = self.context()
        detail: dict[str, Any] = context.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context["author"] = f"{name} ({email})"
            elif name:
                context["author"] = name
            elif email:
                context["author"] = email
            return
        author, email = context.get("author"), None
        if not author:
            return
        match = _EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def category(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_category / _end_category (dc:subject too)."""
        scheme = attrs.get("scheme", attrs.get("domain"))
        self.add_tag(attrs.get("term"), scheme, attrs.get("label"))
        value = self.finish(_leaf_text(element), "category")
        if not value:
            return
        tags = self.context()["tags"]
        if len(tags) and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self.add_tag(value, None, None)

    def media_category(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_media_category."""
        attrs = dict(attrs)
        attrs.setdefault("scheme", _MEDIA_CATEGORY_SCHEME)
        self.category(element, attrs)

    def add_tag(self, term: str | None, scheme: str | None, label: str | None) -> None:
        """_add_tag."""
        tags = self.context().setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    def enclosure(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_enclosure: a link, its href not resolved."""
        if len(element):
            raise _Decline("markup inside <enclosure>")
        attrs = dict(attrs)
        _enforce_href(attrs)
        attrs["rel"] = "enclosure"
        self.context().setdefault("links", []).append(attrs)

    def feed_value(self, element: etree._Element, attrs: dict[str, str], key: str) -> None:
        """ttl, sy:updatePeriod, sy:updateFrequency: unknown elements stored by name."""
        if self.inentry:
            return _ignore_leaf(self, element, attrs)
        if attrs:
            raise _Decline(f"<{key}> with attributes")
        self.once(key)
        self.feed[key] = self.finish(_leaf_text(element), key)
        return None

    def media_group(self, element: etree._Element, attrs: dict[str, str]) -> None:
        """_start_media_group does nothing: its children are the entry's, one level deeper
        (which matters to feedparser's depth rules, so only depth-free ones are read)."""
        if not self.inentry:
            raise _Decline("feed-level media:group")
        for child in element:
            name = _name(_tag(child))
            child_attrs = _attributes(child)
            self.enter(child_attrs)
            handler = _GROUP_HANDLERS.get(name)
            if handler is None:
                self.unknown(child, name, child_attrs)
            else:
                handler(self, child, child_attrs)
            self.leave()


def _tag(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        raise _Decline("entity or other non-element node")
    return tag


def _no_cdf(attrs: Mapping[str, str]) -> None:
    if "lastmod" in attrs or "href" in attrs:
        raise _Decline("CDF attributes (lastmod, href)")


def _ignore_leaf(reader: _Reader, element: etree._Element, attrs: dict[str, str]) -> None:
    """Handlers whose results the records never read (language, rights, media:content…)."""
    _leaf_text(element)


def _ignore_children(reader: _Reader, element: etree._Element, allowed: frozenset[str]) -> None:
    # Entered and left all the same: an xml:base on them can outlive them (see `leave`).
    for child in element:
        if _name(_tag(child)) not in allowed:
            raise _Decline(f"unexpected element inside <{_tag(element)}>")
        reader.enter(_attributes(child))
        _leaf_text(child)
        reader.leave()


_PERSON_CHILDREN = frozenset({"name", "email", "uri", "url", "homepage"})


def _ignore_with_people(reader: _Reader, element: etree._Element, attrs: dict[str, str]) -> None:
    """<contributor>: its name/email/uri are stored apart from the authors."""
    _ignore_children(reader, element, _PERSON_CHILDREN)


_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "href", "width", "height"})


def _image(reader: _Reader, element: etree._Element, attrs: dict[str, str]) -> None:
    """<image>: stored under 'image' (feedparser's inimage context), never the feed's."""
    if reader.inentry or "image" in reader.feed_seen:
        raise _Decline("entry-level or repeated <image>")
    reader.feed_seen.add("image")
    _ignore_children(reader, element, _IMAGE_CHILDREN)


def _source(reader: _Reader, element: etree._Element, attrs: dict[str, str]) -> None:
    """RSS <source url=…>title</source>: stored under 'source' (Atom's nested one declines)."""
    if not reader.inentry:
        raise _Decline("feed-level <source>")
    _leaf_text(element)


def _feed_only(handler: _Handler) -> _Handler:
    def checked(reader: _Reader, element: etree._Element, attrs: dict[str, str]) -> None:
        if reader.inentry:
            raise _Decline(f"<{_tag(element)}> inside an entry")
        handler(reader, element, attrs)

    return checked


_COMMON_HANDLERS: dict[str, _Handler] = {
    "title": _Reader.title,
    "link": _Reader.link,
    "description": _Reader.description,
    "summary": _Reader.summary,
    "id": _Reader.guid,
    "guid": _Reader.guid,
    "pubdate": lambda r, e, a: r.date(e, "published"),
    "published": lambda r, e, a: r.date(e, "published"),
    "updated": lambda r, e, a: r.date(e, "updated"),
    "lastbuilddate": lambda r, e, a: r.date(e, "updated"),
    "dc_date": lambda r, e, a: r.date(e, "updated"),
    "author": _Reader.author,
    "managingeditor": _Reader.author,
    "dc_creator": _Reader.author,
    "dc_author": _Reader.author,
    "category": _Reader.category,
    "dc_subject": _Reader.category,
    "language": _ignore_leaf,
    "rights": _ignore_leaf,
    "copyright": _ignore_leaf,
    "generator": _ignore_leaf,
    "contributor": _ignore_with_people,
}
_FEED_HANDLERS: dict[str, _Handler] = {
    **_COMMON_HANDLERS,
    "subtitle": _Reader.subtitle,
    "ttl": lambda r, e, a: r.feed_value(e, a, "ttl"),
    "sy_updateperiod": lambda r, e, a: r.feed_value(e, a, "sy_updateperiod"),
    "sy_updatefrequency": lambda r, e, a: r.feed_value(e, a, "sy_updatefrequency"),
    "webmaster": _ignore_leaf,
    "cloud": _ignore_leaf,
    "image": _feed_only(_image),
    "item": _Reader.item,
    "entry": _Reader.item,
}
_ENTRY_HANDLERS: dict[str, _Handler] = {
    **_COMMON_HANDLERS,
    "content": lambda r, e, a: r.content(e, a, "text/plain"),
    "content_encoded": lambda r, e, a: r.content(e, a, "text/html"),
    "enclosure": _Reader.enclosure,
    "source": _source,
    "media_category": _Reader.media_category,
    "media_content": _ignore_leaf,
    "media_thumbnail": _ignore_leaf,
    "media_group": _Reader.media_group,
}
_GROUP_HANDLERS: dict[str, _Handler] = {
    "media_category": _Reader.media_category,
    "media_content": _ignore_leaf,
    "media_thumbnail": _ignore_leaf,
}
