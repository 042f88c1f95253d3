"""index.html: the newest entries as a page that reads well on a phone and a desktop,
with Atom and JSON Feed autodiscovery. Rendered with jinja2, autoescaping on: every
value is text, so a title like "<script>" shows as written and runs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from aggregator.publish.clean import PublishedEntry, xml_text
from aggregator.publish.info import FeedInfo

if TYPE_CHECKING:
    import jinja2

HTML_TEMPLATE = "index.html.j2"


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


def _view(entry: PublishedEntry) -> dict[str, Any]:
    return {
        "title": entry.title,
        "link": entry.link,
        "published": entry.published.isoformat(),
        "date": entry.published.strftime("%Y-%m-%d %H:%M UTC"),
        "authors": ", ".join(entry.authors),
        "source_title": entry.source.title,
        "source_link": entry.source.link,
        "summary": entry.summary,
        "vias": entry.vias,
    }


def render_html(
    info: FeedInfo,
    entries: Sequence[PublishedEntry],
    *,
    atom_path: str,
    json_path: str,
    opml_path: str,
) -> bytes:
    """The page of `entries` (already repaired, newest first and limited)."""
    name, version = info.generator
    page = (
        _environment()
        .get_template(HTML_TEMPLATE)
        .render(
            title=xml_text(info.title),
            subtitle=xml_text(info.subtitle) if info.subtitle else None,
            atom_url=info.url(atom_path),
            json_url=info.url(json_path),
            opml_url=info.url(opml_path),
            generator=f"{name} {version}",
            entries=[_view(e) for e in entries],
        )
    )
    return page.encode("utf-8", "replace")
