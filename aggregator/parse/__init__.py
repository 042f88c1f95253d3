"""Feed bytes → typed records. The only module that touches feedparser.

    bytes + headers ──► prepare (TRAPS 1, 2) ──► fast path (lxml) ──► ParsedFeed
                                                  └─ declined ─► feedparser / JSON Feed ─┘

feedparser is only ever handed bytes, never a path or URL (it would open those itself,
TRAPS 9), with its sanitiser and URI rewriting off: sanitising happens once, later, with
nh3 (TRAPS 3, 12). Before it sees the bytes:

* an internal DTD subset is removed: feedparser's lenient fallback parser expands
  entities without limit, a quadratic blow-up (TRAPS 1). Entities whose replacement is
  plain text (no markup, no reference) are expanded here first, within a total cap, so
  ids and titles built of them keep their text; a document over the cap gets none;
* numeric character references to code points that cannot exist (surrogates, beyond
  U+10FFFF) become U+FFFD, because feedparser raises on them instead of reporting bozo
  (TRAPS 2); anything else it raises still becomes a ParseError;
* a declared charset that cannot be the one of the bytes is dropped, so feedparser's own
  detection gives readable text.

JSON Feed 1.0/1.1 is read here with the json module: feedparser 6.0 does not know it.
No FeedParserDict leaves this module.

Well-formed RSS 2.0 and Atom 1.0 documents of the usual shape go through `fast` instead:
lxml with entities, DTDs and network off, rebuilding the values feedparser would have
produced, about ten times faster. It declines anything else (a DOCTYPE, an unknown
element handler, a charset question…) and feedparser reads the document; the records
are the same either way, which tests/test_parse_fast.py checks document by document.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from aggregator.exceptions import ParseError
from aggregator.model import FeedMeta, ParsedFeed, RawEntry
from aggregator.normalise.authors import clean_author
from aggregator.normalise.dates import read_date
from aggregator.parse import fast
from aggregator.urlparts import join_url

log = logging.getLogger(__name__)

__all__ = ["MAX_ENTITY_EXPANSION", "Reading", "parse_feed", "read_feed"]


def parse_feed(
    body: bytes, *, url: str, source_id: str, headers: Mapping[str, str] | None = None
) -> ParsedFeed:
    """Parse one RSS, Atom, RDF or JSON Feed document.

    Raises ParseError for an empty body, an HTML page, or bytes with no feed structure.
    A feed that had to be read leniently comes back with `warning` set. Anything else a
    document makes go wrong (TRAPS 2: parsers raise on some inputs) is a ParseError too,
    so one feed never stops a run; the traceback goes to the log.
    """
    try:
        return read_feed(body, url=url, source_id=source_id, headers=headers).feed
    except ParseError:
        raise
    except Exception as exc:
        log.exception("%s: reading %s failed", source_id, url)
        raise _error(f"could not be read ({type(exc).__name__}: {exc})", source_id, url) from None


@dataclass(frozen=True, slots=True)
class Reading:
    feed: ParsedFeed
    path: str  # "fast", "feedparser" or "json"
    declined: str | None = None  # why the fast path left an XML document to feedparser


def read_feed(
    body: bytes,
    *,
    url: str,
    source_id: str,
    headers: Mapping[str, str] | None = None,
    allow_fast: bool = True,
) -> Reading:
    """parse_feed, saying which reader read the document; `allow_fast=False` forces
    feedparser (the reference the fast path is tested against)."""
    if not body.strip():
        raise _error("empty response", source_id, url)
    prepared = _prepare(body, {k.lower(): v for k, v in (headers or {}).items()})
    if _looks_like_json(prepared.body):
        return Reading(_parse_json_feed(prepared.body, url=url, source_id=source_id), "json")
    if _looks_like_html(prepared.body, prepared.headers):
        raise _error("not a feed (got an HTML page)", source_id, url)
    declined = "not allowed"
    if allow_fast:
        if prepared.warnings:
            declined = "the bytes needed repairs: " + "; ".join(prepared.warnings)
        else:
            quick = fast.read(prepared.body, prepared.headers)
            if isinstance(quick, fast.FastFeed):
                records = _records(quick.feed, quick.entries, quick.version, url, [])
                return Reading(records, "fast")
            declined = quick.reason
    result = _run_feedparser(prepared, url=url, source_id=source_id)
    records = _records(
        result.get("feed", {}),
        result.get("entries", []),
        str(result.get("version", "")),
        url,
        [*prepared.warnings, *_bozo_warning(result)],
    )
    return Reading(records, "feedparser", declined)


def _records(
    feed: Mapping[str, Any],
    raw_entries: Iterable[Mapping[str, Any]],
    version: str,
    url: str,
    warnings: list[str],
) -> ParsedFeed:
    # Atom entries without an author inherit the feed's (RFC 4287 §4.2.1); in RSS the
    # channel's managingEditor is no author of the items.
    inherited = _authors(feed) if version.startswith("atom") else ()
    entries = tuple(_entry(e, url, inherited) for e in raw_entries)
    warnings = [*warnings, *_duplicate_id_warning(entries)]
    return ParsedFeed(
        meta=_feed_meta(feed),
        entries=entries,
        warning="; ".join(warnings) or None,
    )


def _error(message: str, source_id: str, url: str) -> ParseError:
    return ParseError(message, source_id=source_id, url=url)


# ---------------------------------------------------------------------------------------------
# Preparing the bytes


@dataclass(frozen=True, slots=True)
class _Prepared:
    body: bytes
    headers: dict[str, str]
    warnings: tuple[str, ...]


def _prepare(body: bytes, headers: dict[str, str]) -> _Prepared:
    warnings: list[str] = []
    wide = _transcode_wide(body)
    if wide is not None:
        # The bytes are UTF-8 now, whatever the header said about UTF-16.
        body, headers = wide, _without_charset(headers)
    body, entities = _strip_entity_declarations(body)
    if entities is not None:
        warnings.append(entities)
    body, bad_refs = _replace_impossible_char_refs(body)
    if bad_refs:
        warnings.append(f"replaced impossible character references: {', '.join(bad_refs)}")
    charset = _declared_charset(headers)
    if charset is not None and not _charset_fits(body, charset):
        headers = _without_charset(headers)
        warnings.append(f"declared charset {charset!r} does not match the bytes; ignored")
    return _Prepared(body=body, headers=headers, warnings=tuple(warnings))


_WIDE_SIGNATURES = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_XML_DECL_ENCODING = re.compile(r"""\A(<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""")


def _transcode_wide(body: bytes) -> bytes | None:
    """UTF-16/32 documents as UTF-8, so the byte-level checks below can see their markup."""
    for signature, codec in _WIDE_SIGNATURES:
        if body.startswith(signature):
            try:
                text = body.decode(codec).removeprefix("\ufeff")
            except UnicodeDecodeError:
                return None
            return _XML_DECL_ENCODING.sub(r"\g<1>utf-8\g<2>", text).encode("utf-8")
    return None


# `<!DOCTYPE name … [ subset ]>`: quoted strings may hold `]` and `>`, so they are taken
# whole. Each alternative starts with a different character, so a failed match costs
# linear time, not exponential.
_INTERNAL_SUBSET = re.compile(
    rb"""(?P<head><!DOCTYPE\b(?:[^\["'>]|"[^"]*"|'[^']*')*?)\s*\["""
    rb"""(?:[^\]"']|"[^"]*"|'[^']*')*\]\s*>""",
    re.IGNORECASE,
)
_DOCTYPE_OPEN = re.compile(rb"""<!DOCTYPE\b(?:[^\["'>]|"[^"]*"|'[^']*')*\[""", re.IGNORECASE)
# feedparser's own view of the prolog: everything before the first `<\w`. The entity
# declarations it finds there (`^\s*<!ENTITY([^>]*?)>`, sanitizer.replace_doctype) are
# the ones its lenient parser expands without limit, even outside a DOCTYPE.
_FEEDPARSER_HEAD_END = re.compile(rb"<\w")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE)


# Entities of the internal subset whose replacement text is plain (no markup, no
# reference of any kind, so no recursion) are expanded here, by us, unless all their
# references together would add more than MAX_ENTITY_EXPANSION bytes: then none is (a
# bomb, TRAPS 1). Parameter entities and external ones are never expanded.
MAX_ENTITY_EXPANSION = 64 * 1024
_PLAIN_ENTITY = re.compile(
    rb"""<!ENTITY\s+(?P<name>[A-Za-z_][\w.-]*)\s+"""
    rb"""(?:"(?P<double>[^"<&%]*)"|'(?P<single>[^'<&%]*)')\s*>"""
)
_ANY_ENTITY = re.compile(rb"<!ENTITY\b", re.IGNORECASE)
_PREDEFINED_ENTITIES = frozenset({b"lt", b"gt", b"amp", b"quot", b"apos"})
# A reference, or what XML does not look into for references: CDATA and comments.
_REFERENCE = re.compile(
    rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|&(?P<name>[A-Za-z_][\w.-]*);", re.S
)


def _strip_entity_declarations(body: bytes) -> tuple[bytes, str | None]:
    """Drop the DOCTYPE's internal subset and any entity declaration in the prolog,
    expanding the subset's plain-text entities first; and what was done, if anything."""
    body, subset = _drop_internal_subset(body)
    element = _FEEDPARSER_HEAD_END.search(body)
    head_end = element.start() if element else len(body)
    head, count = _ENTITY_DECLARATION.subn(b"", body[:head_end])
    body = head + body[head_end:]
    declared = len(_ANY_ENTITY.findall(subset or b""))
    if subset is None and count == 0:
        return body, None
    plain = _plain_entities(subset or b"")
    if not plain:
        return body, "removed the DTD's entity declarations (entities are not expanded)"
    expanded = _expand_entities(body, plain)
    if expanded is None:
        return body, (
            "removed the DTD's entity declarations (entities are not expanded: they "
            f"would add more than {MAX_ENTITY_EXPANSION:,} bytes)"
        )
    body, references = expanded
    others = declared - len(plain) + count
    rest = f"; removed {others} other entity declarations" if others else ""
    return body, (
        f"expanded {references} reference(s) to the DTD's plain-text entity declarations{rest}"
    )


def _plain_entities(subset: bytes) -> dict[bytes, bytes]:
    """Name → replacement text (escaped for XML) of the plain general entities declared;
    the first declaration of a name binds, as in XML."""
    entities: dict[bytes, bytes] = {}
    for declared in _PLAIN_ENTITY.finditer(subset):
        name = declared["name"]
        value = declared["double"] if declared["double"] is not None else declared["single"]
        if name not in entities and name not in _PREDEFINED_ENTITIES:
            escaped = value.replace(b">", b"&gt;").replace(b'"', b"&quot;")
            entities[name] = escaped.replace(b"'", b"&apos;")
    return entities


def _expand_entities(body: bytes, entities: dict[bytes, bytes]) -> tuple[bytes, int] | None:
    """`body` with its references to `entities` replaced, and how many; None when that
    would add more than MAX_ENTITY_EXPANSION bytes."""
    added = references = 0
    for found in _REFERENCE.finditer(body):
        value = entities.get(found["name"] or b"")
        if value is not None:
            added += len(value)
            references += 1
            if added > MAX_ENTITY_EXPANSION:
                return None

    def expand(found: re.Match[bytes]) -> bytes:
        return entities.get(found["name"] or b"", found[0])

    return _REFERENCE.sub(expand, body), references


def _drop_internal_subset(body: bytes) -> tuple[bytes, bytes | None]:
    """`body` without the DOCTYPE's internal subset, and the subset (None: there was none)."""
    element = _FEEDPARSER_HEAD_END.search(body)
    opened = _DOCTYPE_OPEN.search(body, 0, element.start() if element else len(body))
    if opened is None:
        return body, None
    match = _INTERNAL_SUBSET.match(body, opened.start())
    if match is None:
        # A subset we cannot delimit loses its `[`: what is left of it is no longer a
        # declaration to anyone, and its entity lines are removed with the others.
        return body[: opened.end() - 1] + b">" + body[opened.end() :], b""
    subset = body[match.end("head") : match.end()]
    return body[: match.start()] + match.group("head") + b">" + body[match.end() :], subset


_CHAR_REF = re.compile(rb"&#(?:[xX](?P<hex>[0-9a-fA-F]+)|(?P<dec>[0-9]+));")


def _replace_impossible_char_refs(body: bytes) -> tuple[bytes, list[str]]:
    replaced: list[str] = []

    def fix(match: re.Match[bytes]) -> bytes:
        hex_digits, dec_digits = match.group("hex"), match.group("dec")
        code = int(hex_digits, 16) if hex_digits else int(dec_digits)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            if len(replaced) < 3:
                replaced.append(match.group(0).decode("ascii"))
            return b"&#xFFFD;"
        return match.group(0)

    return _CHAR_REF.sub(fix, body), replaced


_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*[\"']?(?P<charset>[^;\"'\s]+)[\"']?", re.I)


def _declared_charset(headers: Mapping[str, str]) -> str | None:
    match = _CHARSET_PARAM.search(headers.get("content-type", ""))
    return match.group("charset") if match else None


def _without_charset(headers: Mapping[str, str]) -> dict[str, str]:
    cleaned = dict(headers)
    if "content-type" in cleaned:
        cleaned["content-type"] = _CHARSET_PARAM.sub("", cleaned["content-type"]).strip()
    return cleaned


def _charset_fits(body: bytes, charset: str) -> bool:
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return False
    if name.startswith(("utf-16", "utf-32")):
        return False  # wide bodies were transcoded already; these bytes are not wide
    try:
        body.decode(name)
    except UnicodeDecodeError:
        return False
    if name == "utf-8" or body.isascii():
        return True
    # Non-ASCII bytes that are valid UTF-8 are UTF-8 in practice, whatever the server
    # says: legacy text almost never forms valid multi-byte sequences by chance.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# ---------------------------------------------------------------------------------------------
# Sniffing


_BOM = codecs.BOM_UTF8
_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE\b[^>]*>)", re.S | re.I)
_ROOT_TAG = re.compile(rb"\s*<(?:[\w.-]+:)?(?P<name>[A-Za-z][\w.-]*)")
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf", b"channel"})


def _root_name(body: bytes) -> bytes | None:
    position = len(_BOM) if body.startswith(_BOM) else 0
    while (item := _PROLOG_ITEM.match(body, position)) is not None and item.end() > position:
        position = item.end()
    root = _ROOT_TAG.match(body, position)
    return root.group("name").lower() if root else None


def _looks_like_json(body: bytes) -> bool:
    return body.removeprefix(_BOM).lstrip()[:1] == b"{"


def _looks_like_html(body: bytes, headers: Mapping[str, str]) -> bool:
    root = _root_name(body)
    if root == b"html":
        return True
    served_as_html = headers.get("content-type", "").lower().startswith("text/html")
    return served_as_html and root not in _FEED_ROOTS


# ---------------------------------------------------------------------------------------------
# feedparser


def _run_feedparser(prepared: _Prepared, *, url: str, source_id: str) -> Any:
    try:
        result = feedparser.parse(
            prepared.body,
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers=prepared.headers,
        )
    except Exception as exc:  # feedparser raises on some malformed input (TRAPS 2)
        raise _error(
            "the document is malformed in a way the feed parser cannot read "
            f"({type(exc).__name__}: {exc})",
            source_id,
            url,
        ) from exc
    if not result.get("version") and not any(_has_substance(e) for e in result.get("entries", [])):
        problem = result.get("bozo_exception") if result.get("bozo") else None
        detail = f" ({_describe_bozo(problem)})" if problem is not None else ""
        raise _error(f"not a feed{detail}", source_id, url)
    return result


def _has_substance(entry: Mapping[str, Any]) -> bool:
    # Without a recognised format, an "entry" is only one if it has something of an entry:
    # feedparser also turns `<item>` of any XML inventory into entries.
    return any(_text(entry.get(key)) for key in ("title", "link", "id"))


def _describe_bozo(problem: object) -> str:
    line = getattr(problem, "getLineNumber", None)
    column = getattr(problem, "getColumnNumber", None)
    message = getattr(problem, "getMessage", None)
    if callable(line) and callable(column) and callable(message):
        return f"XML error: {message()} at line {line()}, column {column()}"
    return str(problem)


def _bozo_warning(result: Any) -> list[str]:
    if not result.get("bozo"):
        return []
    problem = _describe_bozo(result.get("bozo_exception"))
    return [f"{problem}; read leniently"]


def _duplicate_id_warning(entries: Iterable[RawEntry]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for entry in entries:
        if entry.id is not None:
            if entry.id in seen and entry.id not in repeated:
                repeated.append(entry.id)
            seen.add(entry.id)
    return [f"entries share an id: {', '.join(repeated)}"] if repeated else []


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})

_PERIOD_MINUTES = {
    "hourly": 60,
    "daily": 24 * 60,
    "weekly": 7 * 24 * 60,
    "monthly": 30 * 24 * 60,
    "yearly": 365 * 24 * 60,
}


def _feed_meta(feed: Mapping[str, Any]) -> FeedMeta:
    return FeedMeta(
        title=_text(feed.get("title")),
        link=_alternate_link(feed),
        id=_text(feed.get("id")),
        subtitle=_text(feed.get("subtitle")),
        updated=_feed_updated(feed),
        author=next(iter(_authors(feed)), None),
        ttl_minutes=_ttl_minutes(feed),
    )


def _feed_updated(feed: Mapping[str, Any]) -> datetime | None:
    if not isinstance(feed, dict):
        return None
    return _utc(dict.get(feed, "updated_parsed")) or _utc(dict.get(feed, "published_parsed"))


def _ttl_minutes(feed: Mapping[str, Any]) -> int | None:
    ttl = _positive_int(feed.get("ttl"))
    if ttl is not None:
        return ttl
    period = _PERIOD_MINUTES.get((_text(feed.get("sy_updateperiod")) or "").lower())
    if period is None:
        return None
    frequency = _positive_int(feed.get("sy_updatefrequency")) or 1
    return max(1, period // frequency)


def _entry(entry: Mapping[str, Any], url: str, inherited_authors: tuple[str, ...]) -> RawEntry:
    content, content_type, content_base = _content(entry)
    published, published_note = _entry_date(entry, "published")
    updated, updated_note = _entry_date(entry, "updated")
    return RawEntry(
        id=_text(entry.get("id")),
        title=_text(entry.get("title")),
        link=_alternate_link(entry),
        summary=_text(entry.get("summary")),
        content=content,
        content_type=content_type,
        authors=_authors(entry) or inherited_authors,
        categories=_unique(_text(tag.get("term")) for tag in entry.get("tags", [])),
        published=published,
        updated=updated,
        # A base urllib cannot join (xml:base="http://[bad/") is no base: the feed's URL is.
        base=(join_url(url, content_base) if content_base else None) or url,
        notes=tuple(note for note in (published_note, updated_note) if note),
    )


def _content(entry: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The first HTML content, else the first content of any type, else the summary."""
    contents = [c for c in entry.get("content", []) if _text(c.get("value"))]
    html = [c for c in contents if c.get("type") in _HTML_TYPES]
    chosen = (html or contents or [entry.get("summary_detail")])[0]
    if not chosen or not _text(chosen.get("value")):
        return None, None, None
    kind = chosen.get("type")
    content_type = "text/html" if kind in _HTML_TYPES else _text(kind)
    return _text(chosen.get("value")), content_type, _text(chosen.get("base"))


def _entry_date(entry: Mapping[str, Any], key: str) -> tuple[datetime | str | None, str | None]:
    # dict.get, not FeedParserDict.get: the latter answers `updated` with `published`
    # (with a DeprecationWarning), and "the source gave no updated date" is worth keeping.
    raw = _text(dict.get(entry, key)) if isinstance(entry, dict) else _text(entry.get(key))
    parsed_value = dict.get(entry, f"{key}_parsed") if isinstance(entry, dict) else None
    return _read_date(raw, _utc(parsed_value), key)


_ISO_START = re.compile(r"\s*\d{4}-\d")


def _read_date(
    raw: str | None, parsed: datetime | None, label: str
) -> tuple[datetime | str | None, str | None]:
    """The date `raw` names, and a note when it names none.

    An ISO 8601 date is read here: feedparser drops its fractions of a second. A date
    feedparser could not read is read by `read_date` when it is unambiguous; an ambiguous
    one (04/05/2026) stays text, for normalising to read with the source's `date_order`.
    """
    if raw is None or (parsed is not None and not _ISO_START.match(raw)):
        return parsed, None  # feedparser's reading of RFC 822 and the rest is exact
    reading = read_date(raw)
    if reading is not None and (reading.form == "ISO 8601" or parsed is None):
        return (raw if reading.note else reading.moment), None
    if parsed is None:
        return None, f"{label} date unparseable: {raw!r}"
    return parsed, None


def _alternate_link(node: Mapping[str, Any]) -> str | None:
    """The rel="alternate" (or rel-less) link, else none: a licence, an enclosure, `self`
    or `related` is not the page of the item. feedparser's `link` (an RSS guid that is a
    permalink) stands in only when it is none of those."""
    links = [link for link in node.get("links", []) if _text(link.get("href"))]
    alternates = [link for link in links if link.get("rel", "alternate") == "alternate"]
    if alternates:
        return _text(alternates[0].get("href"))
    fallback = _text(node.get("link"))
    return None if fallback in {_text(link.get("href")) for link in links} else fallback


def _authors(node: Mapping[str, Any]) -> tuple[str, ...]:
    """Author names (dc:creator included), each once; never an e-mail address.

    feedparser keeps the last author as a string ("Name (email)" for Atom's name and
    email) and, for RSS, splits that string into name and email with a pattern that cuts
    long top-level domains ("jo@ex.example (Jo)" → name "ple (Jo"). So an author whose
    details are not exactly that string's parts is re-read from the string instead ("Jo
    (jo@x.org)", "jo@x.org (Jo)", "Jo <jo@x.org>"); an address alone names no one.
    """
    details = [d for d in node.get("authors", []) if isinstance(d, Mapping)]
    raw = _text(node.get("author"))
    with_email = [d for d in details if "email" in d]
    split = None
    if with_email and raw is not None:
        last = with_email[-1]
        if raw != f"{_text(last.get('name'))} ({_text(last.get('email'))})":
            split = last
    names = [_text(d.get("name")) for d in details if d is not split]
    if (raw is not None and "@" in raw and (split is not None or not with_email)) or (
        raw is not None and not any(names)
    ):
        names.append(clean_author(raw) or None)
    return _unique(names)


# ---------------------------------------------------------------------------------------------
# JSON Feed (https://jsonfeed.org/version/1.1)

_JSON_FEED_VERSION = "https://jsonfeed.org/version/"


# JSON can carry what XML cannot: NUL, which PostgreSQL cannot store (and XML cannot
# hold), and lone surrogates, which cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """`value` (decoded JSON) with NULs dropped and lone surrogates replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


def _parse_json_feed(body: bytes, *, url: str, source_id: str) -> ParsedFeed:
    try:
        document = _storable(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise _error(f"not a feed (invalid JSON: {exc})", source_id, url) from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        _JSON_FEED_VERSION
    ):
        raise _error("not a feed (JSON without a JSON Feed version)", source_id, url)
    items = document.get("items")
    if not isinstance(items, list):
        raise _error("not a feed (JSON Feed without an items list)", source_id, url)
    entries = tuple(_json_entry(item, url) for item in items if isinstance(item, dict))
    warnings = _duplicate_id_warning(entries)
    skipped = len(items) - len(entries)
    if skipped:
        warnings.insert(0, f"skipped {skipped} items that are not JSON objects")
    return ParsedFeed(
        meta=FeedMeta(
            title=_text(document.get("title")),
            link=_text(document.get("home_page_url")),
            id=_text(document.get("feed_url")),
            subtitle=_text(document.get("description")),
            author=next(iter(_json_authors(document)), None),
        ),
        entries=entries,
        warning="; ".join(warnings) or None,
    )


def _json_entry(item: Mapping[str, Any], url: str) -> RawEntry:
    html, text = _text(item.get("content_html")), _text(item.get("content_text"))
    published, published_note = _json_date(item, "date_published", "published")
    updated, updated_note = _json_date(item, "date_modified", "updated")
    tags = item.get("tags")
    return RawEntry(
        id=_json_id(item.get("id")),
        title=_text(item.get("title")),
        link=_text(item.get("url")) or _text(item.get("external_url")),
        summary=_text(item.get("summary")),
        content=html or text,
        content_type="text/html" if html else ("text/plain" if text else None),
        authors=_json_authors(item),
        categories=_unique(_text(tag) for tag in tags) if isinstance(tags, list) else (),
        published=published,
        updated=updated,
        base=url,
        notes=tuple(note for note in (published_note, updated_note) if note),
    )


def _json_id(value: object) -> str | None:
    # Some JSON Feed 1.0 producers write numeric ids; the spec says string.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _json_authors(node: Mapping[str, Any]) -> tuple[str, ...]:
    # 1.1 has an `authors` list; 1.0 had a single `author` object.
    authors = node.get("authors")
    candidates = authors if isinstance(authors, list) else [node.get("author")]
    return _unique(_text(a.get("name")) for a in candidates if isinstance(a, dict))


def _json_date(
    item: Mapping[str, Any], key: str, label: str
) -> tuple[datetime | str | None, str | None]:
    # RFC 3339 by the spec; an offset can carry a moment past year 1 or 9999 once in
    # UTC, which `read_date` reads as no date.
    return _read_date(_text(item.get(key)), None, label)


# ---------------------------------------------------------------------------------------------
# Small value helpers


def _text(value: object) -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def _positive_int(value: object) -> int | None:
    text = _text(value)
    if text is None or not text.isdigit():
        return None
    number = int(text)
    return number if number > 0 else None


def _utc(value: object) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_times."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except ValueError:
        return None


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_present(values)))


def _present(values: Iterable[str | None]) -> Iterator[str]:
    return (value for value in values if value)
