"""Cleaning rules kept as data: the TOML files of `aggregator/rules/`.

The files are read once (`default_rules()` is cached) and turned into frozen, compiled
records, so the cleaning functions stay pure and take the rules as an argument. Every
`*.toml` file in the folder is read in name order, so a new rule set is a new file.

A rule may list `triggers`: literal words one of which every match of its pattern holds.
They are a cheap gate (a substring test) in front of the regular expression, which then
runs only on text that can match; a rule without triggers is tried on every text.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from aggregator.exceptions import ConfigError

RuleKind = Literal["footer", "share", "readmore"]
# The republisher's footer of press releases: one rule in rules/boilerplate.toml, used by
# the cleaning of every item and by the seed document reader.
PUBLIC_RELEASE_FOOTER = "public-release-footer"
_KINDS: dict[object, RuleKind] = {"footer": "footer", "share": "share", "readmore": "readmore"}
_ORG_WHERE: dict[object, Literal["title", "text"]] = {"title": "title", "text": "text"}
_WHERE: frozenset[str] = frozenset({"content", "summary"})
# Under re.IGNORECASE, U+0130 İ, U+0131 ı and U+017F ſ match ASCII "i" and "s", which
# str.lower() does not turn them into (found by testing every code point; a test in
# tests/test_normalise.py does it again). str.translate would be ten times slower.
_IGNORECASE_EXTRAS = (("i\u0307", "i"), ("\u0131", "i"), ("\u017f", "s"))


def gate_text(text: str) -> str:
    """`text` folded so that a trigger found by re.IGNORECASE is a plain substring of it."""
    text = text.lower()  # İ becomes "i" + U+0307 here
    if not text.isascii():
        for odd, plain in _IGNORECASE_EXTRAS:
            text = text.replace(odd, plain)
    return text


def _holds_any(text: str, triggers: tuple[str, ...]) -> bool:
    if not triggers:
        return True
    for trigger in triggers:  # noqa: SIM110 -- a loop, not any(): runs for every block
        if trigger in text:
            return True
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class BoilerplateRule:
    name: str
    kind: RuleKind
    pattern: re.Pattern[str]
    where: frozenset[str] = _WHERE
    triggers: tuple[str, ...] = ()  # lower case; one is in every match (see gate_text)

    def via(self, match: re.Match[str]) -> str | None:
        """The republisher a footer's match names (its `via` group), if any."""
        if "via" not in match.re.groupindex or not match.group("via"):
            return None
        return " ".join(match.group("via").split()).strip(" .") or None

    def may_match(self, gated: str) -> bool:
        """False when `gated` (a gate_text) holds none of the triggers: no match possible."""
        return _holds_any(gated, self.triggers)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationRule:
    name: str
    where: Literal["title", "text"]
    pattern: re.Pattern[str]
    triggers: tuple[str, ...] = ()  # case as in the pattern; one is in every match

    def may_match(self, text: str) -> bool:
        return _holds_any(text, self.triggers)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotOrganisations:
    """Words that look like a name at the start of a sentence but name no organisation."""

    roles: frozenset[str] = frozenset()  # a first word that makes a person: "Mayor", "Dr"
    nouns: frozenset[str] = frozenset()  # a whole candidate that names no one: "Council"


NO_EXCLUSIONS = NotOrganisations()


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingRules:
    params: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # "host" or "host/path-prefix"
    _hosts_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # One match where a test per host was made for each image of each item.
        alternatives = "|".join(map(re.escape, self.hosts)) or "(?!)"
        object.__setattr__(self, "_hosts_pattern", re.compile(f"(?:{alternatives})(?=/|\\Z)"))

    def tracks(self, where: str) -> bool:
        """True if `where` (a host and path) is one of `hosts` or lies under one."""
        return self._hosts_pattern.match(where) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class BoilerplateRules:
    rules: tuple[BoilerplateRule, ...] = ()
    organisations: tuple[OrganisationRule, ...] = ()
    not_organisations: NotOrganisations = NO_EXCLUSIONS
    tracking: TrackingRules = field(default_factory=TrackingRules)
    _by_kind: dict[tuple[str, str], tuple[BoilerplateRule, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        by_kind = {
            (kind, where): tuple(r for r in self.rules if r.kind == kind and where in r.where)
            for kind in _KINDS.values()
            for where in _WHERE
        }
        object.__setattr__(self, "_by_kind", by_kind)

    def named(self, name: str) -> BoilerplateRule:
        """The rule called `name`; KeyError when there is none (a bug: rules are data)."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def of_kind(self, kind: RuleKind, where: str) -> tuple[BoilerplateRule, ...]:
        found = self._by_kind.get((kind, where))
        if found is None:
            return tuple(r for r in self.rules if r.kind == kind and where in r.where)
        return found


def _compile(source: str, name: str, raw: Mapping[str, object]) -> re.Pattern[str]:
    pattern = raw.get("pattern")
    phrase = raw.get("phrase")
    if isinstance(phrase, str):
        pattern = re.escape(phrase)
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError("a rule needs a pattern or a phrase", key=f"{source}:{name}")
    try:
        return re.compile(pattern, re.IGNORECASE | re.DOTALL)
    except re.error as exc:
        raise ConfigError(f"bad pattern: {exc}", key=f"{source}:{name}") from exc


def _boilerplate_rule(source: str, raw: Mapping[str, object]) -> BoilerplateRule:
    name = str(raw.get("name") or "")
    kind = raw.get("kind")
    if not name or kind not in _KINDS:
        raise ConfigError("rule needs a name and a kind: footer, share or readmore", key=source)
    where_raw = raw.get("where", sorted(_WHERE))
    where = frozenset(where_raw) if isinstance(where_raw, list) else frozenset()
    if not where or not where <= _WHERE:
        raise ConfigError(f"where must list some of {sorted(_WHERE)}", key=f"{source}:{name}")
    return BoilerplateRule(
        name=name,
        kind=_KINDS[kind],
        pattern=_compile(source, name, raw),
        where=where,
        triggers=tuple(gate_text(t) for t in _triggers(source, name, raw)),
    )


def _triggers(source: str, name: str, raw: Mapping[str, object]) -> tuple[str, ...]:
    value = raw.get("triggers", [])
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ConfigError("triggers must be a list of non-empty strings", key=f"{source}:{name}")
    return tuple(value)


def _organisation_rule(source: str, raw: Mapping[str, object]) -> OrganisationRule:
    name = str(raw.get("name") or "")
    where = raw.get("where", "text")
    if not name or where not in _ORG_WHERE:
        raise ConfigError("organisation rule needs a name and where = title|text", key=source)
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or "(?P<org>" not in pattern:
        raise ConfigError("organisation pattern needs a (?P<org>…) group", key=f"{source}:{name}")
    try:
        compiled = re.compile(pattern)  # case matters: names are capitalised
    except re.error as exc:
        raise ConfigError(f"bad pattern: {exc}", key=f"{source}:{name}") from exc
    return OrganisationRule(
        name=name,
        where=_ORG_WHERE[where],
        pattern=compiled,
        triggers=_triggers(source, name, raw),
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def rules_from_documents(documents: Iterable[tuple[str, Mapping[str, object]]]) -> BoilerplateRules:
    """Build the rules from parsed TOML documents, given as (source name, table) pairs."""
    rules: list[BoilerplateRule] = []
    orgs: list[OrganisationRule] = []
    params: set[str] = set()
    prefixes: list[str] = []
    hosts: list[str] = []
    roles: set[str] = set()
    nouns: set[str] = set()
    for source, doc in documents:
        for raw in _tables(doc.get("rule")):
            rules.append(_boilerplate_rule(source, raw))
        for raw in _tables(doc.get("organisation")):
            orgs.append(_organisation_rule(source, raw))
        tracking = doc.get("tracking")
        if isinstance(tracking, Mapping):
            params.update(p.lower() for p in _strings(tracking.get("params")))
            prefixes.extend(p.lower() for p in _strings(tracking.get("prefixes")))
            hosts.extend(h.lower() for h in _strings(tracking.get("hosts")))
        excluded = doc.get("not_organisation")
        if isinstance(excluded, Mapping):
            roles.update(_strings(excluded.get("roles")))
            nouns.update(_strings(excluded.get("nouns")))
    return BoilerplateRules(
        rules=tuple(rules),
        organisations=tuple(orgs),
        not_organisations=NotOrganisations(roles=frozenset(roles), nouns=frozenset(nouns)),
        tracking=TrackingRules(
            params=frozenset(params), prefixes=tuple(prefixes), hosts=tuple(hosts)
        ),
    )


def _tables(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


@functools.cache
def default_rules() -> BoilerplateRules:
    """The rules shipped in `aggregator/rules/*.toml`, read once per process."""
    folder = resources.files("aggregator") / "rules"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    return rules_from_documents((f.name, tomllib.loads(f.read_text("utf-8"))) for f in files)
