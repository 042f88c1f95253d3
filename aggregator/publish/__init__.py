"""Publishing: every output file, from the stored entries.

    entries ──► clean (repair, warn) ──► atom / jsonfeed / pages+html / opml ──► files (atomic)

`render_atom` is pure and deterministic; `publish_all` writes index.atom, per-source and
per-tag feeds, RFC 5005 archives, index.json, sources.opml and the pages for people
(index.html and its siblings), each replaced atomically and only when its bytes changed.
"""

from aggregator.publish.atom import render_atom
from aggregator.publish.files import write_atomically
from aggregator.publish.info import FeedInfo, PublishReport, SourceInfo
from aggregator.publish.site import build_outputs, publish_all

__all__ = [
    "FeedInfo",
    "PublishReport",
    "SourceInfo",
    "build_outputs",
    "publish_all",
    "render_atom",
    "write_atomically",
]
