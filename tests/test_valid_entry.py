"""One owner of "a valid entry": normalisation guarantees it, publishing repairs nothing new.

`publish/clean` repairs only rows stored by older versions (or edited by hand): every
item that `normalise_entry` makes today, from any input, passes through it unchanged and
without a single repair note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aggregator.exceptions import ParseError
from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import Entry, Item, RawEntry, SourceSpec
from aggregator.normalise.entry import normalise_entry
from aggregator.normalise.identity import entry_id
from aggregator.parse import parse_feed
from aggregator.publish.clean import prepare_entry
from aggregator.store import SourceState, attribution_for

DATA = Path(__file__).resolve().parent / "data"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
BASE_URL = "https://news.example/feeds/"

# What sources send that publishing would have to repair, were it let through.
BAD_ENTRIES = {
    "controls everywhere": RawEntry(
        title="Bad\x00 \x0btitle\ud800",
        link="https://x.example/a\x01b",
        summary="<p>s\x08um\ufffemary</p>",
        content="<p>con\x1ftent</p>",
        authors=("Ann\x00 Author",),
        categories=("t\x0bag",),
    ),
    "no title": RawEntry(summary="<p>Only a summary says what this is about.</p>"),
    "whitespace title": RawEntry(title=" \t\n ", content="<p>Text.</p>"),
    "nothing at all": RawEntry(),
    "relative and hostile links": RawEntry(title="T", link="/a?utm_source=x"),
    "javascript link": RawEntry(title="T", link="javascript:alert(1)"),
    "link with spaces": RawEntry(title="T", link="https://x.example/a b"),
    "naive and offset dates": RawEntry(
        title="T",
        published=datetime(2026, 11, 1, 9, 0),  # a source's naive date
        updated=datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
    ),
    "blank names": RawEntry(title="T", authors=("", "  "), categories=(" ",)),
}


def _state(source_id: str, url: str) -> SourceState:
    kind = "seeds" if url == "seeds" else "remote"
    return SourceState(id=source_id, url=url, kind=kind, feed_id="not an IRI")


def _raw_entries() -> Iterator[tuple[str, str, RawEntry]]:
    for path in sorted((DATA / "realistic" / "seeds").iterdir()):
        if path.suffix in (".txt", ".md"):
            text = decode_text(path.read_bytes())
            markdown = path.suffix == ".md"
            yield (
                path.name,
                "seeds",
                parse_seed_document(text, relpath=path.name, mtime=NOW, markdown=markdown),
            )
    for folder in (DATA / "realistic" / "seeds", DATA / "parse"):
        for path in sorted(folder.iterdir()):
            url = f"https://{path.stem}.example/feed"
            try:
                parsed = parse_feed(path.read_bytes(), url=url, source_id="s")
            except ParseError:
                continue  # a document that is no feed gives no entries
            for n, raw in enumerate(parsed.entries):
                yield f"{path.name}#{n}", url, raw
    for name, raw in BAD_ENTRIES.items():
        yield name, "https://bad.example/feed", raw


CASES = list(_raw_entries())


def _normalised(url: str, raw: RawEntry) -> Item:
    state = _state("src", url)
    return normalise_entry(
        raw,
        source=SourceSpec(id=state.id, url=url),
        attribution=attribution_for(state, feed_id_base=BASE_URL),
        first_seen=NOW,
    )


def test_the_cases_cover_the_corpus_and_the_bad_entries() -> None:
    assert len(CASES) > 40
    assert {name for name, _, _ in CASES} >= set(BAD_ENTRIES)


@pytest.mark.parametrize(("name", "url", "raw"), CASES, ids=[c[0] for c in CASES])
def test_a_freshly_normalised_item_passes_publishing_unchanged(
    name: str, url: str, raw: RawEntry
) -> None:
    item = _normalised(url, raw)
    published, repairs = prepare_entry(Entry(id=entry_id(item.key), item=item), BASE_URL)
    assert repairs == ()
    assert published.id == entry_id(item.key)
    assert published.title == item.title
    assert published.summary == item.summary
    assert published.content_html == item.content_html
    assert published.categories == item.categories
    assert published.published == item.published
    assert published.updated == item.updated
    # Two rules of presenting, not repairs: a source's title stands in for a missing
    # author, and an entry with no web address links to our page of it.
    assert published.authors == (item.authors or (published.source.title,))
    assert published.link == item.link or (item.link is None and published.page is not None)
    assert published.source.feed_id == item.source.feed_id
    assert published.source.link == item.source.site_link


def test_publishing_still_repairs_an_old_stored_row() -> None:
    # What an older version could have stored: the repairs publish/clean exists for.
    item = _normalised("https://x.example/feed", RawEntry(title="T", content="<p>x</p>"))
    naive = datetime(2026, 1, 1)  # as old rows held it
    old = Entry(id="not an IRI", item=replace(item, title="Old\x00 row", published=naive))
    published, repairs = prepare_entry(old, BASE_URL)
    assert published.title == "Old row"
    assert published.published == datetime(2026, 1, 1, tzinfo=UTC)
    assert published.id.startswith("urn:aggregator:entry:")
    assert len(repairs) == 3
