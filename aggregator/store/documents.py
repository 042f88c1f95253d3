"""Rows of the `documents` table: the published files kept in the database (`[output]
store_documents`), so that `aggregator serve --from-database` on any machine serves what
the publisher wrote, with the headers the file server sends for the same bytes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# The meta row that changes (to a fresh random token) with every change to `documents`:
# a server revalidates its cache by this one cheap read.
DOCUMENTS_VERSION_META = "documents_version"


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    path: str  # relative to the output folder, with /
    body: bytes  # b"" when the caller already holds this ETag (`Store.document`)
    content_type: str
    etag: str  # strong and quoted, as served
    modified: datetime  # Last-Modified, whole seconds
    file_stamp: str  # size and mtime_ns of the file it was read from


CONTENT_TYPES: Mapping[str, str] = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".xsl": "application/xslt+xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def content_type_for(path: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), DEFAULT_CONTENT_TYPE)


def etag_for(body: bytes) -> str:
    """The strong ETag of a file's bytes (the same on every machine and in both modes)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
