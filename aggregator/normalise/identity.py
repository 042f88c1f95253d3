"""Stable, versioned identities for items and entries.

`item_key()` follows a fallback chain, first match wins:

1. seed documents: the normalised title + organisation + opening words of the text (never
   the file name, so renaming or copying a file does not make a second item; the opening
   words because one organisation may reuse a headline for two releases);
2. the id the source gave the entry;
3. the canonical link, when no other entry of the same feed has it (`keyed_apart`);
4. the normalised title + text.

Every hash carries `IDENTITY_VERSION`; bump it when the rules change, and the store can
tell old keys from new ones instead of republishing everything as new.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

IDENTITY_VERSION = 1

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"[^\W_]+")  # what _NON_WORD leaves between its runs


def fold(text: str) -> str:
    """Case-, accent-, punctuation- and whitespace-insensitive form of a text.

    The one text fold: keys (below), organisation and site names, a page's heading
    against an entry's title, and the words dedupe compares (`fold_words`).
    """
    return _NON_WORD.sub(" ", _unaccented(text).casefold()).strip()


def fold_words(text: str) -> list[str]:
    """`fold(text).split()`, found in one pass (dedupe folds every sentence of every item)."""
    return _WORD.findall(_unaccented(text).casefold())


def _unaccented(text: str) -> str:
    if text.isascii():  # ASCII has nothing to decompose: most of a feed skips this
        return text
    text = unicodedata.normalize("NFKD", text)
    # The marks are looked up once per distinct character, not once per character: the
    # same result as testing each, at a fraction of the cost on long texts.
    marks = {ord(ch): None for ch in set(text) if unicodedata.combining(ch)}
    return text.translate(marks) if marks else text


def _digest(kind: str, parts: Iterable[str]) -> str:
    # Empty parts are excluded so adding an optional field later does not change old keys.
    payload = "\x1f".join(p for p in parts if p)
    raw = f"v{IDENTITY_VERSION}\x1e{kind}\x1e{payload}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def seed_key(title: str, organisation: str | None, *, lead: str = "") -> str:
    return "seed:" + _digest("seed", (fold(title), fold(organisation or ""), fold(lead)))


def item_key(
    source_id: str,
    *,
    entry_id: str | None,
    link: str | None,
    title: str,
    text: str,
) -> str:
    if entry_id:
        return f"{source_id}:" + _digest("id", (entry_id,))
    if link:
        return f"{source_id}:" + _digest("link", (link,))
    return text_key(source_id, title=title, text=text)


def text_key(source_id: str, *, title: str, text: str) -> str:
    """Rule 4 alone: for an entry whose link does not tell it from its neighbours."""
    return f"{source_id}:" + _digest("text", (fold(title), fold(text)))


def content_hash(*parts: str | None) -> str:
    """Changes only when the cleaned, published content changes."""
    return _digest("content", (p or "" for p in parts))


def entry_id(first_item_key: str, base: str = "urn:aggregator:entry:") -> str:
    """The id of a published entry, fixed by the first item of its story."""
    return base + _digest("entry", (first_item_key,))
