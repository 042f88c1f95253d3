"""sources.opml: every source, importable into a feed reader or back into the config."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from aggregator.publish.clean import http_url, xml_text
from aggregator.publish.info import FeedInfo, SourceInfo
from aggregator.sources.feeds import source_feed

OPML_PATH = "sources.opml"


def _outline(body: etree._Element, info: FeedInfo, source: SourceInfo) -> None:
    title = xml_text(source.title or source.id)
    outline = etree.SubElement(body, "outline", text=title, title=title, type="rss")
    # A seed path means nothing to a reader: point at our republished feed of it instead.
    ours = source_feed(source.id, base_url=info.base_url).url
    outline.set("xmlUrl", http_url(source.url) or ours)
    site = http_url(source.site_link)
    if site:
        outline.set("htmlUrl", site)
    # OPML 2.0: a comma-separated list; a category without slashes is a tag.
    tags = [xml_text(t).replace(",", " ").replace("/", " ").strip() for t in source.tags]
    if any(tags):
        outline.set("category", ",".join(t for t in tags if t))


def render_opml(info: FeedInfo, sources: Sequence[SourceInfo]) -> bytes:
    """The OPML 2.0 list of `sources`, ordered by id."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = xml_text(f"{info.title}: sources")
    etree.SubElement(head, "ownerName").text = xml_text(info.author)
    body = etree.SubElement(opml, "body")
    for source in sorted(sources, key=lambda s: s.id):
        _outline(body, info, source)
    data: bytes = etree.tostring(opml, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    return data
