"""The pages for people: a river of entries, grouped by day, each with its full text folded
behind its summary. Static files, usable without JavaScript: a few lines of script only
show the times (written in UTC) in the reader's own time zone.

    index.html                      the newest entries, "older" leads into the archive
    archive/<YYYY-MM>[-n].html      the whole history, a month at a time (pages of 100)
    sources/<slug>.html, tags/<slug>.html   the entries of one source or tag
    entries/<digest>.html           an entry with no web address of its own
    sources.html                    every source and tag, with their pages and feeds

Rendered with jinja2, autoescaping on: every value is text, so a title like "<script>"
shows as written and runs nothing; the one piece of markup, an entry's content, goes
through the allow-list sanitiser again (it is shown on our own site). Links between our
pages are relative, so the pages work wherever the folder is served; feed autodiscovery
gives absolute URLs, as feed readers expect.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

import markupsafe

from aggregator.normalise.html import sanitise
from aggregator.publish.atom import HTML_PATH, INDEX_PATH
from aggregator.publish.clean import PublishedEntry, entry_slug, xml_text
from aggregator.publish.info import FeedInfo
from aggregator.publish.jsonfeed import JSON_PATH
from aggregator.publish.opml import OPML_PATH
from aggregator.sources.feeds import source_feed_path

if TYPE_CHECKING:
    import jinja2

DIRECTORY_PATH = "sources.html"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    path: str  # relative to the output folder, or an absolute URL


@dataclass(frozen=True, slots=True, kw_only=True)
class RiverPage:
    """One page of entries, newest first: the index, an archive page, a source or a tag."""

    path: str
    heading: str | None  # None: the index, whose heading is the site's title
    entries: Sequence[PublishedEntry]
    feed: str | None = None  # its own Atom feed (besides the site's), for autodiscovery
    about: tuple[Link, ...] = ()  # what the page is about: a site, feeds, tags
    newer: str | None = None
    older: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """sources.html: every source and every tag."""

    sources: tuple[tuple[Link, tuple[Link, ...]], ...]  # (its page, its other links)
    tags: tuple[Link, ...]


def html_path(feed_path: str) -> str:
    """The page of the entries of an Atom feed: the same name, `.html`."""
    return posixpath.splitext(feed_path)[0] + ".html"


@cache
def _environment() -> jinja2.Environment:
    # Built once: the environment is immutable configuration, not run state. jinja2 is
    # imported here, not at the top: a run that publishes nothing never needs it.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("aggregator", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _Urls:
    """Hrefs as seen from one page: our files by relative path, the rest as they are."""

    def __init__(self, info: FeedInfo, page_path: str) -> None:
        self._root = "../" * page_path.count("/")
        self._base = info.base_url.rstrip("/") + "/"

    def __call__(self, target: str) -> str:
        if target.startswith(self._base):  # a URL of ours (a via link to a seed's feed)
            target = target[len(self._base) :]
        elif "://" in target:
            return target
        return self._root + target


def _day_heading(when: date) -> str:
    # strftime's names are English whatever the environment: Python never sets LC_TIME.
    return f"{when:%A} {when.day} {when:%B %Y}"


# A heading tag's name in the sanitiser's output (nh3 writes tags in lower case).
_HEADING_TAG = re.compile(r"<(/?)h([1-6])(?=[\s/>])")


def _content(markup: str, level: int) -> markupsafe.Markup:
    """An entry's content, sanitised again, its headings moved below the entry's own
    (`level`), so the page's outline stays whole for a screen reader."""

    def demote(tag: re.Match[str]) -> str:
        return f"<{tag[1]}h{min(6, int(tag[2]) + level)}"

    return markupsafe.Markup(_HEADING_TAG.sub(demote, sanitise(markup)))


def _via_href(url: str, href: _Urls) -> str:
    # A copy from a local source is credited with our feed of that source: its page here.
    local = href(url)
    return html_path(local) if local != url and local.endswith(".atom") else local


def _entry_view(entry: PublishedEntry, href: _Urls, *, alone: bool) -> dict[str, Any]:
    """What the templates show of an entry: in a river under its day's heading, or `alone`
    on its own page (the full date, and its title the page's h1)."""
    updated = entry.updated
    view: dict[str, Any] = {
        "anchor": "e-" + entry_slug(entry.id),
        "title": entry.title,
        "href": href(entry.page or entry.link),
        "updated": updated.isoformat(),
        "time": f"{updated:%Y-%m-%d %H:%M} UTC" if alone else f"{updated:%H:%M} UTC",
        "published": None,
        "authors": ", ".join(entry.authors),
        "source_title": entry.source.title,
        "source_href": href(html_path(source_feed_path(entry.source.source_id))),
        "summary": entry.summary,
        "content": _content(entry.content_html, 1 if alone else 3) if entry.content_html else None,
        "vias": [{"href": _via_href(v.href, href), "title": v.title or v.href} for v in entry.vias],
    }
    if entry.published.date() != updated.date():
        view["published"] = {
            "iso": entry.published.isoformat(),
            "text": f"{entry.published:%Y-%m-%d %H:%M} UTC",
        }
    return view


def _days(entries: Sequence[PublishedEntry], href: _Urls) -> list[dict[str, Any]]:
    """Entries grouped by the day (UTC) they were last updated, in their order (newest
    updated first, so each day's entries are together)."""
    return [
        {
            "key": day.isoformat(),
            "text": _day_heading(day),
            "entries": [_entry_view(e, href, alone=False) for e in group],
        }
        for day, group in itertools.groupby(entries, key=lambda e: e.updated.date())
    ]


def _common(info: FeedInfo, path: str, heading: str | None) -> dict[str, Any]:
    href = _Urls(info, path)
    name, version = info.generator
    return {
        "site_title": xml_text(info.title),
        "subtitle": xml_text(info.subtitle) if info.subtitle else None,
        "heading": xml_text(heading) if heading else None,
        "generator": f"{name} {version}",
        "atom_url": info.url(INDEX_PATH),
        "json_url": info.url(JSON_PATH),
        "opml_url": info.url(OPML_PATH),
        "home": href(HTML_PATH),
        "directory": href(DIRECTORY_PATH),
        "feed": None,
    }


def _render(template: str, context: dict[str, Any]) -> bytes:
    page = _environment().get_template(template).render(**context)
    # Entries are repaired already; "replace" only guards the operator's FeedInfo text.
    return page.encode("utf-8", "replace")


def render_river(info: FeedInfo, page: RiverPage) -> bytes:
    """A page of entries (already repaired, newest first and limited), grouped by day."""
    href = _Urls(info, page.path)
    context = _common(info, page.path, page.heading)
    context.update(
        # The page's own feed first, for the readers that take the first they find.
        feed=info.url(page.feed) if page.feed else None,
        about=[{"label": link.label, "href": href(link.path)} for link in page.about],
        days=_days(page.entries, href),
        newer=href(page.newer) if page.newer else None,
        older=href(page.older) if page.older else None,
    )
    return _render("river.html.j2", context)


def render_entry(info: FeedInfo, entry: PublishedEntry) -> bytes:
    """Our page of one entry that has no web address of its own: its full text."""
    assert entry.page is not None
    href = _Urls(info, entry.page)
    context = _common(info, entry.page, entry.title)
    context.update(entry=_entry_view(entry, href, alone=True))
    return _render("entry.html.j2", context)


def render_directory(info: FeedInfo, directory: Directory) -> bytes:
    """sources.html: every source (its page, site and feed) and every tag."""
    href = _Urls(info, DIRECTORY_PATH)
    context = _common(info, DIRECTORY_PATH, "Sources and tags")
    context.update(
        sources=[
            {
                "title": page.label,
                "href": href(page.path),
                "links": [{"label": x.label, "href": href(x.path)} for x in links],
            }
            for page, links in directory.sources
        ],
        tags=[{"label": t.label, "href": href(t.path)} for t in directory.tags],
    )
    return _render("sources.html.j2", context)
