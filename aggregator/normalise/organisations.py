"""Which organisations speak for themselves, and which feeds carry others' stories (pure).

The organisation guess of cleaning (`NormaliseOptions.known_organisations`,
`carries_others`) comes from the feeds of a run as parsed, and from what earlier runs
learnt (kept in the store's meta under `KNOWN_ORGANISATIONS`, read by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.model import ParsedFeed, SourceKind

__all__ = [
    "KNOWN_ORGANISATIONS",
    "Organisations",
    "carries_others",
    "organisations_in",
]

KNOWN_ORGANISATIONS = "known_organisations"  # the store's meta: a JSON list of names


@dataclass(frozen=True, slots=True)
class Organisations:
    """Who speaks for themselves in a run's feeds (see `organisations_in`)."""

    named: frozenset[str] = frozenset()
    republishers: frozenset[str] = frozenset()  # named in footers: never organisations

    def known(self, stored: Iterable[str]) -> tuple[str, ...]:
        """The organisations known once these feeds are read: those learnt by earlier
        runs (`stored`, remembered so a republished copy arriving alone later is still
        credited) and those named here."""
        return tuple(sorted((set(stored) | self.named) - self.republishers))


def carries_others(parsed: ParsedFeed) -> bool:
    """A feed that rarely names itself carries other organisations' stories.

    An organisation names itself in most of its releases ("The Bureau of Meteorology
    said…"); a digest or a wire almost never does. Below one entry in four, the feed's
    own name is not taken as the author of its items.
    """
    title = parsed.meta.title
    if not title or not parsed.entries:
        return False
    return _mentions(parsed, title) * 4 < len(parsed.entries)


def _mentions(parsed: ParsedFeed, name: str) -> int:
    return sum(
        1 for e in parsed.entries if name in f"{e.title or ''} {e.summary or ''} {e.content or ''}"
    )


def organisations_in(feeds: Iterable[tuple[SourceKind, ParsedFeed]]) -> Organisations:
    """Organisations seen speaking for themselves: seed organisation lines, and feeds that
    name themselves in most of their entries. Republishers named in footers are not
    organisations."""
    names: set[str] = set()
    republishers: set[str] = set()
    for kind, parsed in feeds:
        republishers.update(raw.via for raw in parsed.entries if raw.via)
        if kind is SourceKind.SEED_TEXT:
            names.update(raw.authors[0] for raw in parsed.entries if raw.authors)
            continue
        title = parsed.meta.title
        if title and _mentions(parsed, title) * 2 >= len(parsed.entries):
            names.add(title)
    return Organisations(frozenset(names), frozenset(republishers))
