"""Pure parsing of a seed document (a press release saved as text or markdown).

    bytes ──decode_text──► str ──parse_seed_document──► RawEntry

The plain-text layout is the one of `seeds/000_bc5ed4e3cd933a22.txt`:

    Title line
    <blank>
    Originating organisation          (only when it looks like a name, not a sentence)
    <blank>
    Paragraph …                       (blank lines between paragraphs; extra ones tolerated)
    Short photo caption               (kept, marked as a caption)
    /Public Release. This material … <Republisher> does not take institutional positions …
    View in full here.                (the republisher footer: removed, turned into data)

Markdown seeds may start with a `---` front-matter block (title, source, link,
published/date, tags). Nothing here touches the disk or the clock: the file's
modification time comes in as an argument.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING

from aggregator.model import DateOrder, RawEntry
from aggregator.normalise.dates import read_date

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

__all__ = ["decode_text", "parse_seed_document"]

# ---------------------------------------------------------------------------------------------
# Decoding

_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"

# cp1252 leaves five bytes undefined; latin-1 gives them their C1 code points so no byte
# is ever lost, whatever the file contains.
_CP1252_TABLE = {b: (bytes([b]).decode("cp1252", errors="replace")) for b in range(0x80, 0x100)}
_CP1252_OVER_LATIN1 = str.maketrans(
    {chr(b): ch for b, ch in _CP1252_TABLE.items() if ch != "\ufffd"}
)

# Real prose has almost no control characters; binary data decoded as cp1252 has about
# one in nine. One in twenty separates the two with a wide margin either side.
_MAX_CONTROL_RATIO = 0.05
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


def decode_text(data: bytes) -> str:
    """Decode a seed file's bytes to text with LF line ends.

    UTF-8 (with or without BOM) and UTF-16/32 with BOM are taken as declared; anything
    that is not valid UTF-8 is read as cp1252 (a superset of latin-1's printable range,
    and what "latin-1" files from Windows really are). Mojibake is left as it is: repairing
    it is the normaliser's job, and guessing here would hide where the damage came from.
    """
    text = _decode(data)
    if "\x00" in text:
        raise ValueError("binary data (NUL bytes), not text")
    if _control_ratio(text) > _MAX_CONTROL_RATIO:
        raise ValueError("binary data (mostly control characters), not text")
    return _normalise_newlines(text)


def _decode(data: bytes) -> str:
    if data.startswith(_UTF32_BOMS):
        return data.decode("utf-32")
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError(f"declares UTF-16 with a byte-order mark but is not: {exc}") from exc
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(_CP1252_OVER_LATIN1)


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    # C1 controls are not counted: cp1252's five undefined bytes become C1 code points in
    # legitimate legacy text, and binary data is caught by its C0 bytes alone.
    controls = sum(1 for ch in text if (ch < " " or ch == "\x7f") and ch not in _ALLOWED_CONTROLS)
    return controls / len(text)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------
# Document structure


@dataclass(frozen=True, slots=True)
class _Head:
    title: str
    organisation: str | None
    body: str  # everything after the title (and organisation) lines


@dataclass(frozen=True, slots=True)
class _Body:
    html: str | None
    summary: str | None
    texts: tuple[str, ...]  # plain text of every block, for date finding


_BLANK_LINES = re.compile(r"\n[ \t\u00a0]*(?:\n[ \t\u00a0]*)+")
_SPACES = re.compile(r"[ \t]+")

# The republisher's footer. Its start is the "/Public Release." marker (the slash and the
# following sentence may be glued to the previous text); it ends at "View in full here."
# or, if a copy lost that sentence, at the end of the document.
_FOOTER = re.compile(
    r"/?[ \t]*Public\s+Release\.(?=\s*(?:This\s+material|View\s+in\s+full))"
    r".*?(?:View\s+in\s+full\s+here\.?|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# "… style and length. Mirage.News does not take institutional positions …": the name is
# the capitalised run of name characters just before "does not take".
_REPUBLISHER = re.compile(
    r"(?P<name>[A-Z][\w.&' -]{0,80}?)\s+does\s+not\s+take\s+institutional\s+positions"
)

# Lower-case words that may appear inside an organisation's name.
_NAME_JOINERS = (
    frozenset({"of", "the", "and", "for", "on", "in", "at", "to", "&"})
    | frozenset({"de", "du", "des", "la", "le", "les", "y", "e", "et"})  # French, Spanish…
    | frozenset({"der", "die", "das", "und", "van", "von"})  # German, Dutch
)
# "Inc." / "Ltd." / "U.S." may end a name although they end with a full stop.
_NAME_ABBREVIATION = re.compile(r"(?:[A-Z][a-z]{0,3}|(?:[A-Za-z]\.)+[A-Za-z])\.$")
_MAX_ORGANISATION_CHARS = 80
_MAX_ORGANISATION_WORDS = 10
_CAPTION_PREFIX = re.compile(r"^(?:photo|image|picture|credit|caption)\b", re.IGNORECASE)

_MAX_CAPTION_CHARS = 140
_MAX_CAPTION_WORDS = 20
_SENTENCE_END = tuple(".!?;:,…")
_QUOTES = tuple("\"'“”‘’«»„")


def _strip_footer(text: str) -> tuple[str, str | None]:
    match = _FOOTER.search(text)
    if match is None:
        return text, None
    return text[: match.start()] + text[match.end() :], match.group(0)


def _republisher(footer: str) -> str | None:
    match = _REPUBLISHER.search(footer)
    return match.group("name").strip(" .") if match else None


def _looks_like_organisation(line: str) -> bool:
    """A name ("NATO", "Ministry of Transport"), not a sentence, caption or quote."""
    words = line.split()
    if (
        not words
        or len(line) > _MAX_ORGANISATION_CHARS
        or len(words) > _MAX_ORGANISATION_WORDS
        or ":" in line
        or line.startswith(_QUOTES)
        or _CAPTION_PREFIX.match(line)
    ):
        return False
    if line.endswith(_SENTENCE_END) and not _NAME_ABBREVIATION.search(line):
        return False
    return all(not w[0].isalpha() or w[0].isupper() or w in _NAME_JOINERS for w in words)


def _is_caption(text: str) -> bool:
    """A photo caption: short, not a sentence, not a quote."""
    if _CAPTION_PREFIX.match(text) and len(text) <= _MAX_CAPTION_CHARS:
        return True
    return (
        len(text) <= _MAX_CAPTION_CHARS
        and len(text.split()) <= _MAX_CAPTION_WORDS
        and any(ch.isalpha() for ch in text)
        and not text.endswith(_SENTENCE_END + _QUOTES)
        and not text.startswith(_QUOTES)
    )


def _split_head(text: str, *, find_title: bool, find_organisation: bool) -> _Head:
    """Take the title line and, when it looks like one, the organisation line."""
    lines = text.split("\n")
    title = ""
    index = 0
    if find_title:
        index = _next_non_empty(lines, 0)
        if index == len(lines):
            raise ValueError("empty document")
        title = lines[index].strip().lstrip("#").strip()
        index += 1
    organisation: str | None = None
    if find_organisation:
        candidate = _next_non_empty(lines, index)
        # The name must stand alone: the first line of a wrapped paragraph is not a name.
        alone = candidate + 1 >= len(lines) or not lines[candidate + 1].strip()
        if candidate < len(lines) and alone and _looks_like_organisation(lines[candidate].strip()):
            organisation = _SPACES.sub(" ", lines[candidate].strip())
            index = candidate + 1
    return _Head(
        title=_SPACES.sub(" ", title), organisation=organisation, body="\n".join(lines[index:])
    )


def _next_non_empty(lines: Sequence[str], start: int) -> int:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return len(lines)


def _paragraphs(body: str) -> list[str]:
    blocks = (_SPACES.sub(" ", " ".join(b.split("\n"))).strip() for b in _BLANK_LINES.split(body))
    return [block for block in blocks if block]


def _render_plain(body: str) -> _Body:
    parts: list[str] = []
    summary: str | None = None
    paragraphs = _paragraphs(body)
    for text in paragraphs:
        escaped = html.escape(text, quote=False)
        if _is_caption(text):
            parts.append(f"<figure><figcaption>{escaped}</figcaption></figure>")
        else:
            parts.append(f"<p>{escaped}</p>")
            summary = summary or text
    return _Body(html="\n".join(parts) or None, summary=summary, texts=tuple(paragraphs))


@cache
def _markdown() -> MarkdownIt:
    # Raw HTML in a seed is shown as text, never passed through: seeds are untrusted input
    # too. Imported on first use: most seeds are plain text.
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False})


def _render_markdown(body: str) -> _Body:
    parts: list[str] = []
    texts: list[str] = []
    summary: str | None = None
    markdown = _markdown()
    for block in _top_level_blocks(markdown.parse(body)):
        text = _plain_text(block)
        texts.append(text)
        if _is_plain_paragraph(block) and _is_caption(text):
            parts.append(
                f"<figure><figcaption>{html.escape(text, quote=False)}</figcaption></figure>"
            )
            continue
        parts.append(markdown.renderer.render(block, markdown.options, {}).strip())
        if summary is None and block[0].type == "paragraph_open" and text:
            summary = text
    return _Body(html="\n".join(parts) or None, summary=summary, texts=tuple(texts))


def _top_level_blocks(tokens: Iterable[Token]) -> list[list[Token]]:
    blocks: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for token in tokens:
        current.append(token)
        depth += token.nesting
        if depth == 0:
            blocks.append(current)
            current = []
    return blocks


def _is_plain_paragraph(block: Sequence[Token]) -> bool:
    if len(block) != 3 or block[0].type != "paragraph_open":
        return False
    children = block[1].children or []
    return all(child.type in {"text", "softbreak"} for child in children)


def _plain_text(block: Iterable[Token]) -> str:
    pieces: list[str] = []
    for token in block:
        if token.type == "inline":
            for child in token.children or []:
                if child.type in {"text", "code_inline"}:
                    pieces.append(child.content)
                elif child.type in {"softbreak", "hardbreak"}:
                    pieces.append(" ")
        elif token.type in {"code_block", "fence"}:
            pieces.append(token.content)
    return _SPACES.sub(" ", "".join(pieces)).strip()


# ---------------------------------------------------------------------------------------------
# Front matter

FrontMatter = Mapping[str, str | tuple[str, ...]]

_FRONT_MATTER = re.compile(
    r"\A\ufeff?---[ \t]*\n(?P<block>.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S
)
_KEY_VALUE = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:[ \t]*(?P<value>.*)$")
_LIST_ITEM = re.compile(r"^[ \t]*-[ \t]+(?P<value>.*)$")


def _split_front_matter(text: str) -> tuple[dict[str, str | tuple[str, ...]], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    return _parse_front_matter(match.group("block")), text[match.end() :]


def _parse_front_matter(block: str) -> dict[str, str | tuple[str, ...]]:
    """The simple YAML subset seeds use: `key: value`, `key: [a, b]`, `key:` + `- item`."""
    data: dict[str, str | tuple[str, ...]] = {}
    list_key: str | None = None
    for line in block.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _LIST_ITEM.match(line)
        if item and list_key is not None:
            previous = data.get(list_key, ())
            items = previous if isinstance(previous, tuple) else ()
            data[list_key] = (*items, _unquote(item.group("value")))
            continue
        pair = _KEY_VALUE.match(line)
        if pair is None:
            continue
        key, value = pair.group("key").lower(), pair.group("value").strip()
        list_key = key if not value else None
        data[key] = _front_matter_value(value)
    return data


def _front_matter_value(value: str) -> str | tuple[str, ...]:
    if value.startswith("[") and value.endswith("]"):
        return tuple(v for v in (_unquote(part) for part in value[1:-1].split(",")) if v)
    return _unquote(value)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _fm_text(front: FrontMatter, *keys: str) -> str | None:
    for key in keys:
        value = front.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, tuple) and value:
            return value[0]
    return None


def _fm_list(front: FrontMatter, *keys: str) -> tuple[str, ...]:
    for key in keys:
        value = front.get(key)
        if isinstance(value, tuple):
            return value
        if isinstance(value, str) and value:
            return tuple(v.strip() for v in value.split(",") if v.strip())
    return ()


# ---------------------------------------------------------------------------------------------
# Dates

_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("Monday", "Mon"),
            ("Tuesday", "Tue", "Tues"),
            ("Wednesday", "Wed"),
            ("Thursday", "Thu", "Thur", "Thurs"),
            ("Friday", "Fri"),
            ("Saturday", "Sat"),
            ("Sunday", "Sun"),
        )
    )
    for name in names
}
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("January", "Jan"),
            ("February", "Feb"),
            ("March", "Mar"),
            ("April", "Apr"),
            ("May",),
            ("June", "Jun"),
            ("July", "Jul"),
            ("August", "Aug"),
            ("September", "Sep", "Sept"),
            ("October", "Oct"),
            ("November", "Nov"),
            ("December", "Dec"),
        ),
        start=1,
    )
    for name in names
}


def _alternatives(names: Iterable[str]) -> str:
    # Longest first so "Sept" wins over "Sep"; case-sensitive so the verb "may" is no month.
    return "|".join(sorted(names, key=len, reverse=True))


_WD = rf"(?P<wd>{_alternatives(_WEEKDAYS)})\.?"
_DAY = r"(?P<{0}>[0-3]?\d)(?:st|nd|rd|th)?"
_MONTH = rf"(?P<{{0}}>{_alternatives(_MONTHS)})\.?"
_DAY_MONTH = (
    rf"(?:{_DAY.format('d1')}\s+{_MONTH.format('m1')}|{_MONTH.format('m2')}\s+{_DAY.format('d2')})"
)
# "Thursday (12 November)", "Thursday, 12 November", "Thursday November 12[, 2026]".
_WEEKDAY_DATE = re.compile(rf"\b{_WD},?\s*\(?\s*{_DAY_MONTH}\b\s*\)?(?:,?\s+(?P<y>\d{{4}})\b)?")
# "12 November 2026", "November 12, 2026".
_WRITTEN_DATE = re.compile(rf"\b{_DAY_MONTH},?\s+(?P<y>\d{{4}})\b")
# Not \b: "2026-12-04T09:00" has no word boundary before its T.
_ISO_DATE = re.compile(r"(?<![\w-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\d-])")

# A text date may be one day "after" the file time: the writer's day may be ahead of UTC.
_CLOCK_SLACK = timedelta(days=1)
# A weekday reference is trusted only within the year before the file was written; a
# release is written days after its event, and a weekday that does not fit that year is
# more likely a typo than a story from years ago.
_WEEKDAY_LOOKBACK_YEARS = 1


@dataclass(frozen=True, slots=True)
class _Dated:
    published: datetime
    rule: str
    notes: tuple[str, ...]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _match_day_month(match: re.Match[str]) -> tuple[int, int]:
    day = match.group("d1") or match.group("d2")
    month = match.group("m1") or match.group("m2")
    return int(day), _MONTHS[month]


def _resolve_weekday(weekday: int, day: int, month: int, latest: date) -> date | None:
    """The (day, month) on or before `latest` that falls on `weekday`, within the lookback."""
    for year in range(latest.year, latest.year - _WEEKDAY_LOOKBACK_YEARS - 1, -1):
        candidate = _safe_date(year, month, day)
        if candidate is not None and candidate <= latest and candidate.weekday() == weekday:
            return candidate if (latest - candidate).days <= 366 else None
    return None


def _text_dates(texts: Iterable[str], latest: date) -> set[date]:
    found: set[date] = set()
    for text in texts:
        for match in _WEEKDAY_DATE.finditer(text):
            day, month = _match_day_month(match)
            if match.group("y"):
                explicit = _safe_date(int(match.group("y")), month, day)
                found.update([explicit] if explicit else [])
                continue
            resolved = _resolve_weekday(_WEEKDAYS[match.group("wd")], day, month, latest)
            found.update([resolved] if resolved else [])
        for match in _WRITTEN_DATE.finditer(text):
            day, month = _match_day_month(match)
            written = _safe_date(int(match.group("y")), month, day)
            found.update([written] if written else [])
        for match in _ISO_DATE.finditer(text):
            iso = _safe_date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
            found.update([iso] if iso else [])
    # A date after the file was written is an announcement of something to come, not the
    # release date.
    return {day for day in found if day <= latest}


def _choose_date(
    front: FrontMatter, texts: Iterable[str], mtime: datetime, date_order: DateOrder | None
) -> _Dated:
    """First rule that applies: front matter, an unambiguous date in the text, file time."""
    notes: list[str] = []
    raw = _fm_text(front, "published", "date", "pubdate")
    if raw is not None:
        reading = read_date(raw, date_order=date_order)
        if reading is not None:
            said = [f"front-matter date {raw!r} read as {reading.form}"]
            said += [f"front-matter {reading.note}"] if reading.note else []
            said += ["front-matter date had no time zone; taken as UTC"] if reading.naive else []
            return _Dated(reading.moment, "front-matter", tuple(said))
        notes.append(f"front-matter date unparseable: {raw!r}")
    latest = (mtime + _CLOCK_SLACK).date()
    dates = sorted(_text_dates(texts, latest))
    if len(dates) == 1:
        return _Dated(_midnight(dates[0]), "text", tuple(notes))
    if dates:
        listed = ", ".join(d.isoformat() for d in dates)
        notes.append(f"text names several dates ({listed}); used the file time")
    return _Dated(mtime, "mtime", tuple(notes))


# ---------------------------------------------------------------------------------------------
# The document


def parse_seed_document(
    text: str,
    *,
    relpath: str,
    mtime: datetime,
    markdown: bool = False,
    date_order: DateOrder | None = None,
) -> RawEntry:
    """Turn one seed document into the entry it describes.

    `relpath` names the file in error messages; `mtime` (the file's modification time)
    anchors weekday-only dates and is the last-resort publication time; `date_order`
    reads an ambiguous front-matter date (04/05/2026).
    """
    text = _normalise_newlines(text).removeprefix("\ufeff")
    if not text.strip():
        raise ValueError(f"{relpath}: empty document")
    front, body = _split_front_matter(text) if markdown else ({}, text)
    body, footer = _strip_footer(body)
    fm_title = _fm_text(front, "title")
    fm_organisation = _fm_text(front, "source", "organisation", "organization", "author")
    if fm_title is None and not body.strip():
        raise ValueError(f"{relpath}: empty document")
    head = _split_head(body, find_title=fm_title is None, find_organisation=fm_organisation is None)
    title = fm_title or head.title
    organisation = fm_organisation or head.organisation
    rendered = _render_markdown(head.body) if markdown else _render_plain(head.body)
    dated = _choose_date(front, (title, *rendered.texts), _as_utc(mtime), date_order)
    via = _republisher(footer) if footer else None
    return RawEntry(
        title=title,
        link=_fm_text(front, "link", "url"),
        summary=rendered.summary,
        content=rendered.html,
        content_type="text/html",
        authors=(organisation,) if organisation else (),
        categories=_fm_list(front, "tags", "categories"),
        published=dated.published,
        date_rule=dated.rule,
        via=via,
        public_release=footer is not None,
        notes=(*_footer_notes(footer, via), *_organisation_notes(organisation), *dated.notes),
    )


def _footer_notes(footer: str | None, via: str | None) -> tuple[str, ...]:
    if footer is None:
        return ()
    if via is None:
        return ("footer removed: public release (republisher not named)",)
    return (f"footer removed: public release republished by {via}",)


def _organisation_notes(organisation: str | None) -> tuple[str, ...]:
    return () if organisation else ("no originating organisation line",)
