"""Hostile markup, one shape per way html5ever or lxml could once be made to work hard.

Shared by tests/test_hostile_run.py and bench/clean_speed.py --hostile: each shape makes
the markup of one item from a number of units (levels, siblings, attributes, …).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["HOSTILE"]


def _links(n: int) -> str:
    return "".join(
        f'<a href="https://x.example/{i}?utm_source=a&id={i}">l{i}</a> and ' for i in range(n)
    )


def _images(n: int) -> str:
    return "<p>" + "".join(f'<img src="https://x.example/{i}.jpg" alt="i{i}"> ' for i in range(n))


# One shape of hostile markup per dimension: n units of it in one item.
HOSTILE: dict[str, Callable[[int], str]] = {
    "depth (<div>)": lambda n: "<div>" * n + "x" + "</div>" * n,
    "siblings (<p>)": lambda n: "<p>s</p>" * n,
    "attributes": lambda n: "<p " + " ".join(f'a{i}="v"' for i in range(n)) + ">x</p>",
    "character references": lambda n: "<p>" + "&amp; word " * n + "</p>",
    "comments": lambda n: "<p>" + "<!-- c -->w " * n + "</p>",
    "CDATA sections": lambda n: "<p>" + "<![CDATA[c]]>w " * n + "</p>",
    "unclosed tags (<span>)": lambda n: "<p>" + "<span>w " * n,
    "unclosed formatting": lambda n: "".join(f"<p><b class=c{i}>w</p>w " for i in range(n)),
    "long word (characters)": lambda n: "<p>" + "a" * n + "</p>",
    "long word of references": lambda n: "<p>" + "&amp;" * n + "</p>",
    "links": _links,
    "images": _images,
    "table cells": lambda n: "<table><tr>" + "<td>c</td>" * n + "</tr></table>",
    "nested lists": lambda n: "<ul><li>" * n + "x" + "</li></ul>" * n,
    "nested tables": lambda n: "<table><tr><td>" * n + "x",
    "svg content": lambda n: "<p>a</p><svg>" + "<g>" * n + "t" + "</g>" * n + "</svg>",
    "math content": lambda n: "<p>a</p><math>" + "<mi>x</mi>" * n + "</math>",
}
