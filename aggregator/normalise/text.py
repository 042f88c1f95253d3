"""Plain-text cleaning: mojibake, entities, Unicode form, whitespace.

Content keeps its typography (curly quotes, dashes); the form for comparing, never for
showing, is `identity.fold()`, the one text fold.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ftfy


@cache
def _ftfy_config() -> ftfy.TextFixerConfig:
    # ftfy is told to fix encodings only: it must not touch quotes, widths or ligatures a
    # writer chose, and entities are decoded here under our own rule (see
    # decode_entities). Imported on first use: most runs meet no mojibake at all.
    import ftfy

    return ftfy.TextFixerConfig(
        unescape_html=False,
        uncurl_quotes=False,
        fix_character_width=False,
        fix_latin_ligatures=False,
        normalization="NFC",
        explain=False,
    )


# UTF-8 read as Latin-1/cp1252 turns each multi-byte character into a lead letter
# (Â … ô) followed by a continuation byte shown as Latin-1 or cp1252 punctuation. Only
# texts with such a pair go through ftfy, which is slow (about 1 ms for 3 KB) and would
# otherwise run on every item. ftfy itself leaves legitimate text alone.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030"
    "\u0160\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161"
    "\u203a\u0153\u017e\u0178]|\u00c3(?=\\s)"
)
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});?")
# The characters XML 1.0 cannot hold (its Char production): C0 controls but tab, line
# feed and carriage return, surrogates, U+FFFE and U+FFFF. feedgen and lxml raise on
# them. The one definition: cleaning removes them (strip_controls) and publishing
# (publish.clean.xml_text) removes the same, so publishing finds nothing left in what
# cleaning made; were it to remove more, it could join the pieces of a word the
# sanitiser had judged ("java\x81script:" once became "javascript:"). C1 controls are
# legal XML and stay: they are the raw material of mojibake repair.
NOT_XML_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Feeds often escape twice ("AT&amp;amp;T"); three rounds cover every case seen in the
# wild, and bounding it keeps a hostile "&amp;amp;amp;…" from looping long.
_MAX_DECODE_ROUNDS = 3


def has_mojibake(text: str) -> bool:
    # Every hint holds a character above U+00C1, and CPython knows an ASCII string as such
    # without reading it: most feed text is settled without a search.
    return not text.isascii() and _MOJIBAKE_HINT.search(text) is not None


_MAX_REPAIR_ROUNDS = 3


def repair_mojibake(text: str) -> tuple[str, bool]:
    """Text with UTF-8-read-as-Latin-1 repaired, and whether anything changed."""
    fixed = text
    # Repeated to a fixed point (at most a few rounds), so that cleaning the output again
    # finds nothing left: one round can leave a C1 control ("Â\x80" → "\x80") that the
    # next turns into its cp1252 character ("€").
    for _ in range(_MAX_REPAIR_ROUNDS):
        if not has_mojibake(fixed):
            break
        import ftfy  # see _ftfy_config

        repaired = ftfy.fix_text(fixed, _ftfy_config())
        if repaired == fixed:
            break
        fixed = repaired
    if "\xa0" in fixed and has_mojibake(fixed):
        # ftfy leaves "Â€" alone after a no-break space ("\xa0Â€"), which cleaning later
        # turns into a plain space: the next cleaning would then repair it. Read the
        # spaces as cleaning will, when that is what lets the repair happen.
        import ftfy

        spaced = ftfy.fix_text(fixed.replace("\xa0", " "), _ftfy_config())
        if not has_mojibake(spaced):
            fixed = spaced
    return fixed, fixed != text


def decode_entities(text: str) -> str:
    """HTML entities decoded, including text that was escaped twice ("&amp;amp;")."""
    for _ in range(_MAX_DECODE_ROUNDS):
        if "&" not in text or not _ENTITY.search(text):
            break
        text = html.unescape(text)
    return text


# In ASCII text only these C0 controls are NOT_XML_CHARACTERS.
_ASCII_NOT_XML = bytes(range(0x20)).translate(None, b"\t\n\r")
_WORTH_ENCODING = 128  # characters: below this the search is as fast as encoding


def strip_controls(text: str) -> str:
    """`text` without the characters XML cannot hold (NOT_XML_CHARACTERS)."""
    # Markup goes through this several times per field. Deleting the controls from its
    # ASCII bytes and comparing lengths settles the usual case (none) four times faster
    # than a search of the text.
    if len(text) >= _WORTH_ENCODING and text.isascii():
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_NOT_XML)) == len(data):
            return text
    if NOT_XML_CHARACTERS.search(text) is None:  # almost always: no copy made
        return text
    return NOT_XML_CHARACTERS.sub("", text)


def collapse_whitespace(text: str) -> str:
    # str.split() splits on exactly what re's \s matches, and is several times faster.
    return " ".join(text.split())


def clean_text(text: str) -> str:
    """One line of plain text: mojibake repaired, entities decoded, NFC, spaces collapsed.

    Idempotent by construction: each step can uncover work for another (a stripped control
    joins a mojibake pair, a decoded entity yields one), so the steps repeat until nothing
    changes, which on real text is after the first round.
    """
    for _ in range(_MAX_REPAIR_ROUNDS):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


def _clean_once(text: str) -> str:
    text, _ = repair_mojibake(strip_controls(text))
    text = strip_controls(decode_entities(text))
    return collapse_whitespace(unicodedata.normalize("NFC", text))


def first_words(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a word boundary, with "…" if cut."""
    text = collapse_whitespace(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"
