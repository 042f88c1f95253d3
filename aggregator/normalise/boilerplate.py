"""Removing what a republisher or blog engine wrapped around a story.

Works on the lxml tree of one field (content or summary) with the rules of
`aggregator/rules/boilerplate.toml`. A footer or share rule is matched against the text of
each innermost block; a block that holds nothing but the match goes, otherwise only the
matching text inside one text node goes. A read-more link goes too, and its canonical
target is kept: dedupe uses it to join a teaser with the full story.

Rules with `triggers` are gated: a rule whose trigger words are nowhere in the field's
text is not tried at all, and inside the field only on blocks holding a trigger. Most
items hold no boilerplate, and then no block is looked at one by one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml.html import HtmlElement

from aggregator.normalise.html import BLOCK_TAGS, drop_empty_paragraphs, remove_keeping_tail
from aggregator.normalise.rules import BoilerplateRule, BoilerplateRules, RuleKind, gate_text
from aggregator.normalise.text import collapse_whitespace
from aggregator.normalise.urls import canonicalise

_LEFTOVER = re.compile(r"[\W_]*")  # punctuation and spaces left around a removed footer


@functools.lru_cache(maxsize=1024)
def _search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """pattern.search, remembered: boilerplate repeats word for word from item to item,
    and a footer pattern can cost a third of a millisecond on one footer."""
    return pattern.search(text)


@dataclass(frozen=True, slots=True)
class Removal:
    rule: str
    kind: RuleKind
    via: str | None = None  # the republisher a footer named
    target: str | None = None  # canonical target of a read-more link


def _leaf_blocks(root: HtmlElement) -> list[HtmlElement]:
    """Innermost blocks: blocks with no block inside that holds text (the root if none).

    Empty inner blocks do not count: broken markup such as "<a>Share this<p></a>" nests an
    empty paragraph inside the line that must still be recognised.
    """
    blocks = [el for el in root.iter(*BLOCK_TAGS) if el is not root]
    outer: set[HtmlElement] = set()  # elements with a text-holding block inside
    for block in blocks:
        if not (block.text_content() or "").strip():
            continue
        for ancestor in block.iterancestors():
            if ancestor in outer:
                break  # marked before, and every ancestor of it with it
            outer.add(ancestor)
            if ancestor is root:
                break
    return [el for el in (root, *blocks) if el not in outer]


def _remove_inline(block: HtmlElement, pattern: re.Pattern[str]) -> bool:
    """Remove the match from the one text node that holds it; False if none does."""
    for el in block.iter():
        for attr in ("text", "tail"):
            if el is block and attr == "tail":
                continue
            value = getattr(el, attr)
            if value and pattern.search(value):
                setattr(el, attr, pattern.sub("", value, count=1))
                return True
    return False


def _apply_block_rule(block: HtmlElement, text: str, rule: BoilerplateRule) -> Removal | None:
    match = _search(rule.pattern, text)
    if match is None:
        return None
    leftover = text[: match.start()] + text[match.end() :]
    if not _LEFTOVER.fullmatch(leftover):
        if not _remove_inline(block, rule.pattern):
            return None  # the match spans markup inside a longer paragraph: leave it
    elif block.getparent() is not None:
        remove_keeping_tail(block)
    else:
        block.clear()
    return Removal(rule.name, rule.kind, via=rule.via(match))


def _strip_readmore(
    root: HtmlElement, rules: tuple[BoilerplateRule, ...], base: str | None, bp: BoilerplateRules
) -> list[Removal]:
    removals: list[Removal] = []
    for link in list(root.iter("a")):
        text = collapse_whitespace(link.text_content() or "")
        if not text:
            continue
        gated = gate_text(text)
        rule = next((r for r in rules if r.may_match(gated) and _search(r.pattern, text)), None)
        if rule is None:
            continue
        href = link.get("href")
        target = canonicalise(href, base, bp.tracking)[0] if href else None
        remove_keeping_tail(link)
        removals.append(Removal(rule.name, rule.kind, target=target))
    return removals


_MAX_ROUNDS = 4


def strip_boilerplate(
    root: HtmlElement, rules: BoilerplateRules, *, where: str, base: str | None
) -> tuple[Removal, ...]:
    """Remove footers, share lines and read-more links from `root` (mutated); say what went.

    Removing one piece can expose another ("Share this:" glued to a footer, a block left
    alone in its parent once an empty sibling went), so rounds run until one changes
    nothing: cleaning the output again must find nothing. A round that changed nothing
    leaves the tree as it found it, and the next would find what it found: none."""
    removals: tuple[Removal, ...] = ()
    for number in range(_MAX_ROUNDS):
        found, dropped = _strip_round(root, rules, where=where, base=base)
        removals += found
        if not found and (number > 0 or not dropped):
            break
    return removals


def _strip_round(
    root: HtmlElement, rules: BoilerplateRules, *, where: str, base: str | None
) -> tuple[tuple[Removal, ...], int]:
    """One round: what it removed, and how many emptied blocks it dropped."""
    # Every block's text (whitespace collapsed) is a substring of the whole field's text
    # collapsed the same way, so a rule with no trigger in the field matches no block.
    field_text = gate_text(collapse_whitespace(root.text_content() or ""))
    removals: list[Removal] = []
    readmore_rules = _possible(rules.of_kind("readmore", where), field_text)
    if readmore_rules:
        removals.extend(_strip_readmore(root, readmore_rules, base, rules))
    block_rules = _possible(
        rules.of_kind("footer", where) + rules.of_kind("share", where), field_text
    )
    if block_rules:
        for block in _leaf_blocks(root):
            text = collapse_whitespace(block.text_content() or "")
            if not text:
                continue
            gated = gate_text(text)
            for rule in block_rules:
                if not rule.may_match(gated):
                    continue
                removal = _apply_block_rule(block, text, rule)
                if removal is not None:
                    removals.append(removal)
                    break
    return tuple(removals), drop_empty_paragraphs(root)


def _possible(rules: tuple[BoilerplateRule, ...], gated: str) -> tuple[BoilerplateRule, ...]:
    return tuple(r for r in rules if r.may_match(gated))
