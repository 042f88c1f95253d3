"""Turn the stored copies of each story into one published `Entry` (pure).

The representative is chosen by `dedupe.choose_representative` (the originating
organisation's own item when present, else the earliest whole copy). The entry shows that
one copy whole (title, link, summary and content), never pieces of several: a story
wrongly merged must not publish one release's headline over another's text. Every other
copy is credited with a ``rel="via"`` link. Only the organisation is taken from another
copy, when the representative names none: it is attribution, not content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from aggregator.dedupe import choose_representative
from aggregator.model import Entry, Item, ViaLink
from aggregator.urlparts import split_url


def _is_http(url: str | None) -> bool:
    parts = split_url(url) if url else None
    return parts is not None and parts.scheme in ("http", "https")


def copy_href(item: Item) -> str | None:
    """Where a reader can see this copy: its own link, else its source's site or feed."""
    for candidate in (item.link, item.source.site_link, item.source.feed_url):
        if _is_http(candidate):
            return candidate
    return None


def build_entry(entry_id: str, copies: Sequence[Item]) -> Entry:
    if len(copies) == 1:  # most stories: nothing to choose, fill in or credit
        return Entry(id=entry_id, item=copies[0], vias=())
    representative = choose_representative(copies)
    shown = representative
    if not shown.authors:
        # A teaser that names nobody still belongs to the organisation another copy names.
        credited = next((c.authors for c in copies if c.authors and c.via is None), None)
        credited = credited or next((c.authors for c in copies if c.authors), ())
        if credited:
            shown = replace(shown, authors=credited)
    vias: list[ViaLink] = []
    seen: set[str] = {representative.link} if representative.link else set()
    for copy in sorted(copies, key=lambda i: (i.published, i.key)):
        if copy is representative:
            continue
        href = copy_href(copy)
        if href is None or href in seen:
            continue
        seen.add(href)
        vias.append(ViaLink(href=href, title=copy.source.title or copy.source.source_id))
    return Entry(id=entry_id, item=shown, vias=tuple(vias))


def build_entries(grouped: Iterable[tuple[str, Sequence[Item]]]) -> list[Entry]:
    """Entries newest first (by updated, then id), as publishing expects them."""
    entries = [build_entry(entry_id, copies) for entry_id, copies in grouped if copies]
    entries.sort(key=lambda e: (e.effective_updated, e.id), reverse=True)
    return entries
