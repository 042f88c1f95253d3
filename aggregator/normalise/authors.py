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
   else's story, the feed's own name is preferred when the item mentions it. For a
   carried story, the organisations the caller already knows (`KnownOrganisations`)
   come first when the title names one, by its full name or by its initials ("CRI
   Unveils…" for Coastal Research Institute); after the rules, a known organisation
   named in the text is taken. Earliest in the title or text wins, then the longest name.
4. Otherwise the feed's own name is the author, unless the source is a republisher.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from aggregator.normalise import identity
from aggregator.normalise.rules import NO_EXCLUSIONS, NotOrganisations, OrganisationRule
from aggregator.normalise.text import clean_text

_EMAIL_NAME = re.compile(r"^\S+@\S+\s*\((?P<name>[^)]+)\)$")  # RSS: "jo@x.org (Jo Smith)"
_NAME_EMAIL = re.compile(r"^(?P<name>[^<]+?)\s*<\S+@\S+>$")  # "Jo Smith <jo@x.org>"
_NAME_PAREN_EMAIL = re.compile(r"^(?P<name>[^(]+?)\s*\(\S+@[^\s)]+\)$")  # "Jo (jo@x.org)"
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
    """The name in an author string, never the address: "" when it holds only an address."""
    name = clean_text(raw)
    for pattern in (_EMAIL_NAME, _NAME_EMAIL, _NAME_PAREN_EMAIL):
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


def not_a_name(org: str, words: NotOrganisations) -> str | None:
    """Why `org` names no organisation ("Mayor", "Minister for Health", "Council"), or None."""
    first = org.split()[0]
    if first in words.roles:
        return f"{first} is a role or a title"
    if org in words.nouns:
        return f"{org} is a common noun"
    return None


def find_organisation(
    title: str,
    text: str,
    rules: Iterable[OrganisationRule],
    *,
    not_names: NotOrganisations = NO_EXCLUSIONS,
    rejected: list[str] | None = None,
) -> tuple[str, str] | None:
    """(organisation, rule name) named most often by the rules; ties go to the earliest.
    Candidates that are roles, titles or common nouns are left out, each said in
    `rejected` when given."""
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
            why = not_a_name(org, not_names)
            if why is not None:
                if rejected is not None:
                    rejected.append(f"not an organisation: {org!r} (rule {rule.name}): {why}")
                continue
            votes[fold(org)] += 1
            first.setdefault(fold(org), (order, org, rule.name))
    if not votes:
        return None
    best = max(votes, key=lambda k: (votes[k], -first[k][0]))
    return first[best][1], first[best][2]


_MIN_INITIALS = 2  # one letter names nothing
_MIN_NAME_CHARS = 3  # "EU" as a full name is fine, "X" is not


def initials(name: str) -> str | None:
    """The initialism of a name's capitalised words ("Bureau of Meteorology" → "BM")."""
    letters = "".join(word[0] for word in name.split() if word[0].isupper())
    return letters if len(letters) >= _MIN_INITIALS and len(name.split()) > 1 else None


def _alternation(names: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first: at one position the most specific name wins. Case matters, and a
    # name matches only as whole words.
    ordered = sorted(set(names), key=lambda n: (-len(n), n))
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


@dataclass(frozen=True, slots=True)
class KnownMatch:
    organisation: str
    how: str  # "title", "initials" or "text": where and how it was named


@dataclass(frozen=True, slots=True)
class KnownOrganisations:
    """Organisation names the caller already knows, compiled for matching."""

    names: tuple[str, ...] = ()
    _by_name: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _by_initials: re.Pattern[str] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _initials: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [n for n in (clean_text(n) for n in self.names) if len(n) >= _MIN_NAME_CHARS]
        folded: dict[str, str] = {}
        for name in names:
            folded.setdefault(fold(name), name)  # the first spelling of each name
        owners: dict[str, set[str]] = {}
        for name in folded.values():
            letters = initials(name)
            if letters is not None and fold(letters) not in folded:
                owners.setdefault(letters, set()).add(fold(name))
        # Initials two known organisations share name neither.
        by_initials = {
            letters: folded[next(iter(owned))]
            for letters, owned in owners.items()
            if len(owned) == 1
        }
        object.__setattr__(self, "_by_name", _alternation(folded.values()))
        object.__setattr__(self, "_by_initials", _alternation(by_initials))
        object.__setattr__(self, "_initials", by_initials)

    def in_title(self, title: str, exclude: Set[str] = frozenset()) -> KnownMatch | None:
        """The known organisation the title names first, by full name or initials;
        `exclude` holds folded names that are not candidates (the source's own)."""
        name = self._first(self._by_name, title, exclude, {})
        letters = self._first(self._by_initials, title, exclude, self._initials)
        if name is not None and (letters is None or name.start() <= letters.start()):
            return KnownMatch(name.group(), "title")
        if letters is not None:
            return KnownMatch(self._initials[letters.group()], "initials")
        return None

    def in_text(self, text: str, exclude: Set[str] = frozenset()) -> KnownMatch | None:
        """The known organisation the text names first, by full name only."""
        found = self._first(self._by_name, text, exclude, {})
        return KnownMatch(found.group(), "text") if found is not None else None

    @staticmethod
    def _first(
        pattern: re.Pattern[str] | None, text: str, exclude: Set[str], names: dict[str, str]
    ) -> re.Match[str] | None:
        if pattern is None:
            return None
        for match in pattern.finditer(text):
            if fold(names.get(match.group(), match.group())) not in exclude:
                return match
        return None


NO_KNOWN_ORGANISATIONS = KnownOrganisations()


@functools.lru_cache(maxsize=16)
def known_organisations(names: tuple[str, ...]) -> KnownOrganisations:
    """Compiled once per distinct set of names (each source's options share it)."""
    return KnownOrganisations(names)


def _known_note(match: KnownMatch) -> str:
    where = {
        "title": "named in the title",
        "initials": "named by its initials in the title",
        "text": "named in the text",
    }[match.how]
    return f"author taken from the known organisations: {match.organisation} ({where})"


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
    known: KnownOrganisations = NO_KNOWN_ORGANISATIONS,
    seems_carried: bool = False,
    organisation: str | None = None,
    not_names: NotOrganisations = NO_EXCLUSIONS,
) -> AuthorDecision:
    """Authors (originating organisation first) and via, with notes on each decision.

    `carried` is what the item or the operator says (a republisher footer or tag, a via,
    a teaser of a story elsewhere); `seems_carried` is a guess from the whole feed (it
    rarely names itself). A guess never overrules the feed's own author field naming the
    feed itself: that is an organisation's own feed. `organisation` (the operator's
    setting for the source) wins over everything.
    """
    notes: list[str] = []
    own = [n for n in own_names if n]
    own_folded = {fold(n) for n in own} | ({fold(via)} if via else set())
    authors = list(_unique(clean_author(a) for a in raw_authors))
    if organisation:
        notes.append(f"author {organisation}: the source's organisation setting")
        return AuthorDecision(authors=(organisation,), via=via, notes=tuple(notes))
    carried = carried or via is not None
    if carried:
        for name in [a for a in authors if fold(a) in own_folded]:
            authors.remove(name)
            via = via or name
            notes.append(f"author {name} is the republisher; recorded as via")
    elif seems_carried and any(fold(a) in own_folded for a in authors):
        notes.append(
            "author field names the feed itself: the organisation's own feed, "
            "though its items seldom name it"
        )
    carried = carried or (seems_carried and not authors)
    if authors:
        return AuthorDecision(authors=tuple(authors), via=via, notes=tuple(notes))
    feed_name = own[0] if own else None
    if feed_name and not carried and mentions(feed_name, title, text):
        notes.append(f"author missing; feed name {feed_name} used")
        return AuthorDecision(authors=(feed_name,), via=via, notes=tuple(notes))
    in_title = known.in_title(title, own_folded) if carried else None
    if in_title is not None:
        notes.append(_known_note(in_title))
        return AuthorDecision(authors=(in_title.organisation,), via=via, notes=tuple(notes))
    rejected: list[str] = []
    found = find_organisation(title, text, rules, not_names=not_names, rejected=rejected)
    notes.extend(rejected)
    if found is not None and fold(found[0]) not in own_folded:
        notes.append(f"author taken from the item: {found[0]} (rule {found[1]})")
        return AuthorDecision(authors=(found[0],), via=via, notes=tuple(notes))
    in_text = known.in_text(text, own_folded) if carried else None
    if in_text is not None:
        notes.append(_known_note(in_text))
        return AuthorDecision(authors=(in_text.organisation,), via=via, notes=tuple(notes))
    if feed_name and not carried:
        notes.append(f"author missing; feed name {feed_name} used")
        return AuthorDecision(authors=(feed_name,), via=via, notes=tuple(notes))
    notes.append("author unknown")
    return AuthorDecision(authors=(), via=via, notes=tuple(notes))
