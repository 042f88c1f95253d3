"""Where an item's published facts came from: its date, author and link, for `explain`.

Pure: read from the item's `date_rule` and the decision notes cleaning wrote (their
wording is stable, see `aggregator.normalise`). Each fact gets one line saying the value
and its origin, followed by the notes that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.model import Item

_DATE_ORIGINS = {
    "published": "the entry's published date",
    "updated": "the entry's updated date (it gave no published date)",
    "first-seen": "the time it was first seen (no usable date)",
    "front-matter": "the seed's front matter",
    "text": "a date written in the seed's text",
    "mtime": "the seed file's modification time (no date in it)",
}
_DATE_WORDS = ("published", "updated", "front-matter", "text names", "date")
_AUTHOR_WORDS = ("author", "not an organisation")
_LINK_WORDS = ("link ", "tracking parameters removed from link:")


@dataclass(frozen=True, slots=True)
class Origin:
    fact: str  # "date", "author" or "link"
    value: str
    origin: str
    notes: tuple[str, ...]


def _notes(item: Item, starts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(note for note in item.notes if note.startswith(starts))


def _author_origin(item: Item, notes: tuple[str, ...]) -> str:
    decided = [n for n in notes if n.startswith("author ") or n == "author unknown"]
    if decided:
        return decided[-1]
    return "the entry's author field" if item.authors else "no author given or found"


def origins(item: Item) -> tuple[Origin, ...]:
    """The date, the author(s) and the link of `item`, each with where it came from."""
    date_notes = tuple(n for n in item.notes if n.startswith(_DATE_WORDS) and "date" in n)
    date_origin = _DATE_ORIGINS.get(item.date_rule or "published", item.date_rule or "")
    author_notes = _notes(item, _AUTHOR_WORDS)
    link_notes = _notes(item, _LINK_WORDS)
    link_origin = (
        "the entry's alternate (or rel-less) link"
        if item.link
        else "the entry, which has no alternate (or rel-less) http(s) link"
    )
    return (
        Origin("date", item.published.isoformat(), date_origin, date_notes),
        Origin(
            "author",
            ", ".join(item.authors) or "(none)",
            _author_origin(item, author_notes),
            author_notes,
        ),
        Origin("link", item.link or "(none)", link_origin, link_notes),
    )
