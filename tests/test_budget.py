"""The markup budget: hostile shapes are flattened or cut, real markup passes unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import nh3
import pytest
from factories import make_attribution
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from aggregator.model import RawEntry, SourceSpec
from aggregator.normalise.budget import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_FORMATTING,
    MAX_MARKUP,
    MAX_TAGS,
    MAX_TEXT_RUN,
    Cuts,
    _Scan,
    surely_within,
    within_budget,
)
from aggregator.normalise.entry import normalise_entry
from aggregator.normalise.html import sanitise

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SOURCE = SourceSpec(id="t", url="https://t.example/feed")
ATTRIBUTION = make_attribution("t")

REAL = (
    "<h2>Results</h2><p>Revenue rose <b>12%</b> in the <a href='/q3'>third quarter</a>.<p>"
    "Unclosed paragraphs, as old CMSs write them.<ul><li>one<li>two<li><em>three</em></ul>"
    "<table><tr><th>Year<th>Sales<tr><td>2025<td>1.2m<tr><td>2026<td>1.5m</table>"
    "<dl><dt>Contact<dd>press@example.org</dl><blockquote><p>Quote</blockquote>"
    "<p><img src='https://cdn.example/a.jpg' alt='A' width='600'><!-- a comment -->"
    "<svg viewBox='0 0 1 1'><path d='M0 0'/><path d='M1 1'/></svg><p>End &amp; more</p>"
) * 20

# Everything html5ever knows, allowed, so that the depth of its tree can be seen.
_EVERYTHING = nh3.Cleaner(
    tags={"div", "span", "p", "li", "ul", "ol", "dl", "dd", "dt", "table", "tbody", "tr",
          "td", "th", "b", "i", "a", "font", "em", "section", "option", "select", "svg",
          "g", "math", "mi", "object", "h1", "pre", "form", "nobr", "code", "address"},
    clean_content_tags=set(),
    attributes={"*": {"class"}},
    link_rel=None,
)  # fmt: skip


def _depth(markup: str) -> int:
    """How deep html5ever nests `markup` (lxml may read any depth here)."""
    parser = etree.HTMLParser(huge_tree=True)
    root = etree.fromstring(f"<html><body>{_EVERYTHING.clean(markup)}</body></html>", parser)
    best, stack = 0, [(root, 0)]
    while stack:
        element, depth = stack.pop()
        best = max(best, depth)
        stack.extend((child, depth + 1) for child in element)
    return best - 2  # html, body


def _normalised_notes(content: str) -> tuple[str, ...]:
    raw = RawEntry(id="x", title="T", link="https://t.example/x", content=content)
    item = normalise_entry(raw, source=SOURCE, attribution=ATTRIBUTION, first_seen=NOW)
    return item.notes


def test_real_markup_passes_unchanged() -> None:
    assert within_budget(REAL) == (REAL, Cuts())
    assert not any("budget" in note for note in _normalised_notes(REAL))


def test_deep_nesting_is_flattened_and_keeps_its_text() -> None:
    markup = "<div>" * 5_000 + "deep text" + "</div>" * 5_000 + "<p>after</p>"
    bounded, cuts = within_budget(markup)
    assert cuts == Cuts(deep=5_000 - MAX_DEPTH)
    assert _depth(markup) > 1_000  # what html5ever did with it before
    assert _depth(bounded) <= MAX_DEPTH
    cleaned = sanitise(markup)
    assert "deep text" in cleaned
    assert cleaned.endswith("<p>after</p>")


@pytest.mark.parametrize(
    "unit",
    [
        "<ul><li>",  # nested lists
        "<table><td>",  # cells: the tree builder adds a tbody and a tr to each
        "<span><div></span>",  # an end tag that cannot close past a special element
        "<li><ul></li>",  # </li> does not close past a list
        "<li><section><li>",  # nor does an li start tag close past a section
        "<option><span>",  # an option closes only an option just opened
        "<ol><p><form><td>",  # a cell outside a table is no cell
        "<p><b class=x>w</p>w",  # formatting elements rebuilt after every paragraph
        "<svg><g>",
        "<font color=red><p>",
    ],
)
def test_hostile_nesting_stays_within_the_depth_budget(unit: str) -> None:
    markup = unit * 2_000
    assert _depth(within_budget(markup)[0]) <= MAX_DEPTH + MAX_FORMATTING


def test_open_formatting_elements_past_the_budget_are_dropped() -> None:
    markup = "".join(f"<p><b class=c{i}>w" for i in range(100))
    bounded, cuts = within_budget(markup)
    assert cuts == Cuts(formatting=100 - MAX_FORMATTING)
    assert bounded.count("<b ") == MAX_FORMATTING
    assert bounded.count("w") == 100


def test_markup_past_the_tag_budget_is_cut() -> None:
    markup = "<p>s</p>" * MAX_TAGS
    bounded, cuts = within_budget(markup)
    assert bounded == "<p>s</p>" * (MAX_TAGS // 2)
    assert cuts == Cuts(tags=len(markup) - len(bounded))


def test_attributes_past_the_budget_are_dropped() -> None:
    names = [f"data-a{i}" for i in range(1_000)]
    markup = "<p " + " ".join(f'{n}="v > w"' for n in names) + ">text</p>"
    bounded, cuts = within_budget(markup)
    assert cuts == Cuts(attributes=1_000 - MAX_ATTRIBUTES)
    assert bounded == "<p " + " ".join(f'{n}="v > w"' for n in names[:MAX_ATTRIBUTES]) + ">text</p>"


def test_a_text_run_past_the_budget_is_cut_never_inside_a_reference() -> None:
    run = "x" * (MAX_TEXT_RUN - 3) + "&amp;" + "y" * 10
    bounded, cuts = within_budget(f"<p>{run}</p><p>next</p>")
    assert bounded == "<p>" + "x" * (MAX_TEXT_RUN - 3) + "</p><p>next</p>"
    assert cuts == Cuts(text=len(run) - (MAX_TEXT_RUN - 3))


def test_markup_past_the_size_budget_is_cut() -> None:
    markup = "<p>" + "word " * (MAX_MARKUP // 5) + "</p><p>lost</p>"
    bounded, cuts = within_budget(markup)
    assert len(bounded) <= MAX_MARKUP
    assert "lost" not in bounded
    assert cuts.size == len(markup) - MAX_MARKUP


def test_raw_text_and_comments_hold_no_tags() -> None:
    hidden = "<div>" * 200
    markup = f"<script>{hidden}</script><!--{hidden}--><textarea>{hidden}</textarea><p>x</p>"
    assert within_budget(markup) == (markup, Cuts())


def test_the_cut_is_noted_on_the_item() -> None:
    notes = _normalised_notes("<div>" * 1_000 + "x" + "</div>" * 1_000)
    assert (
        f"markup over budget: {1_000 - MAX_DEPTH:,} tag(s) nested deeper than {MAX_DEPTH} "
        "dropped from content"
    ) in notes


_PIECES = st.sampled_from(
    [
        "<div>", "</div>", "<span>", "</span>", "<p>", "</p>", "<li>", "</li>", "<ul>",
        "</ul>", "<ol>", "<dl>", "<dd>", "<dt>", "<table>", "</table>", "<tr>", "<td>",
        "</td>", "<th>", "<tbody>", "<b>", "</b>", "<i class=q>", "<a>", "</a>", "<font>",
        "<em>", "<section>", "<option>", "<select>", "</select>", "<svg>", "</svg>", "<g>",
        "<g/>", "<math>", "<mi>", "<object>", "<h1>", "<pre>", "<form>", "<nobr>", "<code>",
        "<address>", "<caption>", "<template>", "</template>", "x", "<!-- c -->",
        "<![CDATA[<div>]]>", "<style>", "</style>", "<title>", "</>", "<br/>", "<col>",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=6), st.integers(50, 400))
@example(["<div>", "<div>", "</td>", "<td>"], 50)  # a cell outside a table is no element
def test_no_repeated_shape_nests_past_the_budget(pattern: list[str], repeat: int) -> None:
    # Hostile markup repeats a shape; the budget's model of the open elements must never
    # be shallower than the tree html5ever builds, or the cost would grow again.
    markup = "".join(pattern) * repeat
    assert _depth(within_budget(markup)[0]) <= MAX_DEPTH + MAX_FORMATTING


def _scanned(markup: str) -> tuple[str, Cuts]:
    scan = _Scan(markup)
    return scan.run(), scan.cuts


# Pieces near every bound of the cheap pre-check: formatting and table parts, long tags,
# quoted values holding ">", names in any case (and the Kelvin sign, which lower-cases to
# "k"), raw text and comments that hide "<".
_NEAR_BOUNDS = st.sampled_from(
    [
        "<b>", "</b>", "<B>", "<strong class=x>", "</strong>", "<stri\u212ae>", "<a href='/x'>",
        "</a>", "<i/>", "<em", "<p>", "</p>", "<div>", "<td>", "<TR>", "<table>", "<br>",
        "<img src=x>", "text ", "&amp; ", "<!-- <b> -->", "<script><b></script>", "</ p>",
        "<p " + "x " * 70 + ">", "<p " + " ".join(f"a{i}" for i in range(70)) + ">",
        "<p title=\"a > b\" " + "y=1 " * 64 + ">", "<img alt='>' " + "z " * 66 + ">",
        "<svg><![CDATA[<b>]]></svg>", "<", "< b>", "<ul><li>", "<table><td>",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_NEAR_BOUNDS, min_size=0, max_size=90))
@example(["<b>"] * (MAX_FORMATTING + 1))
@example(["<b>"] * MAX_FORMATTING + ["<div>"] * 10)
@example(["<div>"] * MAX_DEPTH + ["<div>"])
@example(["<table><td>"] * (MAX_DEPTH // 4 + 1))  # 4 elements for 2 start tags
@example(["<stri\u212ae>"] * (MAX_FORMATTING + 1))
@example(["<p " + "x " * 70 + ">"])
@example(["</b>"] * (MAX_TAGS + 1))  # end tags: no depth, but the tag budget
@example(["<p>", "x" * (MAX_TEXT_RUN + 1)])  # one text run past its budget
def test_the_cheap_pre_check_never_changes_the_verdict(pieces: list[str]) -> None:
    markup = "".join(pieces)
    assert within_budget(markup) == _scanned(markup)
    if surely_within(markup):
        assert _scanned(markup) == (markup, Cuts())


def test_the_cheap_pre_check_passes_ordinary_items() -> None:
    # What it is for: an item of a few paragraphs with links and emphasis skips the scan.
    item = (
        '<p class="body">A <a href="https://example.org/x" target="_blank">link</a>, '
        "<strong>strong</strong> and <em>emphasis</em>.</p><figure><img src='/a.jpg' "
        "alt='A'><figcaption>A</figcaption></figure><ul><li>one</li><li>two</li></ul>"
    ) * 3
    assert surely_within(item)
    assert not surely_within("<b>" * (MAX_FORMATTING + 1))
    assert not surely_within("<p " + "x " * MAX_ATTRIBUTES + ">")
