"""Authors: the originating organisation, never the republisher that carried the story.

Rules, in order:

1. Feed authors are cleaned ("jo@x.org (Jo Smith)" → "Jo Smith") and de-duplicated.
2. A source is carrying someone else's story when it names a republisher (`via`, from the
   entry or from a republisher footer), when its entry is a public release, when the
   source is tagged "republisher", or when the item only teases a story elsewhere
   (a read-more link to another host). Then an author that is just the source's own name
   is moved to `via`.
3. With no author left, the organisation is looked for in the item itself
   (`aggregator/rules/organisations.toml`). For a source that is not carrying someone
   else's story, the feed's own name is preferred when the item mentions it.
4. Otherwise the feed's own name is the author, unless the source is a republisher.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator import identity
from aggregator.normalise.rules import OrganisationRule
from aggregator.normalise.text import clean_text

_EMAIL_NAME = re.compile(r"^\S+@\S+\s*\((?P<name>[^)]+)\)$")  # RSS: "jo@x.org (Jo Smith)"
_NAME_EMAIL = re.compile(r"^(?P<name>[^<]+?)\s*<\S+@\S+>$")  # "Jo Smith <jo@x.org>"
_BARE_EMAIL = re.compile(r"^\S+@\S+$")
_ORG_MAX_WORDS = 8

# The same few names (feeds, organisations) are folded for every item; folding is slow.
fold = functools.lru_cache(maxsize=4096)(identity.fold)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorDecision:
    authors: tuple[str, ...]
    via: str | None
    notes: tuple[str, ...] = ()


def clean_author(raw: str) -> str:
    name = clean_text(raw)
    for pattern in (_EMAIL_NAME, _NAME_EMAIL):
        match = pattern.match(name)
        if match:
            return match["name"].strip()
    return "" if _BARE_EMAIL.match(name) else name


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for name in names:
        if name and fold(name) not in seen:
            seen[fold(name)] = name
    return tuple(seen.values())


def _plausible(org: str) -> bool:
    words = org.split()
    return 0 < len(words) <= _ORG_MAX_WORDS and org[0].isupper()


def find_organisation(
    title: str, text: str, rules: Iterable[OrganisationRule]
) -> tuple[str, str] | None:
    """(organisation, rule name) named most often by the rules; ties go to the earliest."""
    votes: collections.Counter[str] = collections.Counter()
    first: dict[str, tuple[int, str, str]] = {}
    for order, rule in enumerate(rules):
        haystack = title if rule.where == "title" else text
        if not rule.may_match(haystack):
            continue
        for match in rule.pattern.finditer(haystack):
            org = clean_text(match["org"]).strip(" ,;:")
            if not _plausible(org):
                continue
            votes[fold(org)] += 1
            first.setdefault(fold(org), (order, org, rule.name))
    if not votes:
        return None
    best = max(votes, key=lambda k: (votes[k], -first[k][0]))
    return first[best][1], first[best][2]


def mentions(name: str, title: str, text: str) -> bool:
    # casefold, not identity.fold: this runs over the whole text of every item.
    wanted = name.casefold()
    return bool(wanted) and (wanted in title.casefold() or wanted in text.casefold())


def decide_authors(
    raw_authors: Iterable[str],
    *,
    via: str | None,
    carried: bool,
    own_names: Iterable[str | None],
    title: str,
    text: str,
    rules: Iterable[OrganisationRule],
) -> AuthorDecision:
    """Authors (originating organisation first) and via, with notes on each decision."""
    notes: list[str] = []
    own = [n for n in own_names if n]
    own_folded = {fold(n) for n in own} | ({fold(via)} if via else set())
    authors = list(_unique(clean_author(a) for a in raw_authors))
    carried = carried or via is not None
    if carried:
        for name in [a for a in authors if fold(a) in own_folded]:
            authors.remove(name)
            via = via or name
            notes.append(f"author {name} is the republisher; recorded as via")
    if authors:
        return AuthorDecision(authors=tuple(authors), via=via, notes=tuple(notes))
    feed_name = own[0] if own else None
    if feed_name and not carried and mentions(feed_name, title, text):
        notes.append(f"author missing; feed name {feed_name} used")
        return AuthorDecision(authors=(feed_name,), via=via, notes=tuple(notes))
    found = find_organisation(title, text, rules)
    if found is not None and fold(found[0]) not in own_folded:
        notes.append(f"author taken from the item: {found[0]} (rule {found[1]})")
        return AuthorDecision(authors=(found[0],), via=via, notes=tuple(notes))
    if feed_name and not carried:
        notes.append(f"author missing; feed name {feed_name} used")
        return AuthorDecision(authors=(feed_name,), via=via, notes=tuple(notes))
    notes.append("author unknown")
    return AuthorDecision(authors=(), via=via, notes=tuple(notes))
