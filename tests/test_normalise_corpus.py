"""Every item of the dev corpus, normalised: no footer, tracker, script, mojibake or entity.

Feeds are read with `aggregator.parse.parse_feed` and seed texts with `aggregator.ingest.seedtext`,
as the pipeline reads them. The republisher and digest feeds are tagged "republisher", and
the known organisations are built the way the pipeline builds them: the titles and item
authors of the organisation feeds, and the organisation lines of the seed texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import Attribution, Item, ParsedFeed, RawEntry, SourceKind, SourceSpec
from aggregator.normalise.budget import Cuts, within_budget
from aggregator.normalise.entry import NormaliseOptions, normalise_entry
from aggregator.normalise.html import looks_like_html, text_to_html
from aggregator.normalise.text import repair_mojibake
from aggregator.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FOOTER_PHRASES = re.compile(
    r"Public Release|View in full here|appeared first on|Share this|Read more|Continue reading",
    re.IGNORECASE,
)
TRACKING = re.compile(r"[?&](utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid)=", re.IGNORECASE)
ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", re.IGNORECASE)
CARRIERS = ("rep-", "digest")  # file names of the republisher and digest feeds

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="dev corpus not present")


@dataclass(frozen=True, slots=True)
class Corpus:
    feeds: dict[str, ParsedFeed]
    seeds: dict[str, RawEntry]

    def known_organisations(self) -> tuple[str, ...]:
        """What the pipeline passes: organisation feeds' titles and item authors, then the
        seed texts' organisation lines; each name once, in that order."""
        names: list[str | None] = []
        for name, feed in self.feeds.items():
            if not name.startswith(CARRIERS):
                names.append(feed.meta.title)
                names.extend(a for e in feed.entries for a in e.authors)
        names.extend(a for raw in self.seeds.values() for a in raw.authors)
        return tuple(dict.fromkeys(n for n in names if n))


def _read() -> Corpus:
    folder = CORPUS / "seeds"
    return Corpus(
        feeds={
            p.name: parse_feed(p.read_bytes(), url=p.as_uri(), source_id=p.name)
            for p in sorted(folder.glob("*.xml"))
        },
        seeds={
            p.name: parse_seed_document(decode_text(p.read_bytes()), relpath=p.name, mtime=NOW)
            for p in sorted(folder.glob("*.txt"))
        },
    )


def _feed_items(
    name: str, feed: ParsedFeed, options: NormaliseOptions
) -> Iterator[tuple[str, Item]]:
    tags = ("republisher",) if name.startswith(CARRIERS) else ()
    source = SourceSpec(id=name, url=name, kind=SourceKind.SEED_FEED, tags=tags)
    attribution = Attribution(
        source_id=name,
        feed_url=name,
        feed_id=feed.meta.id or name,
        title=feed.meta.title,
        site_link=feed.meta.link,
    )
    for raw in feed.entries:
        item = normalise_entry(
            raw, source=source, attribution=attribution, first_seen=NOW, options=options
        )
        yield raw.id or "", item


def _items(corpus: Corpus, options: NormaliseOptions) -> list[tuple[str, Item]]:
    items: list[tuple[str, Item]] = []
    for name, feed in corpus.feeds.items():
        items.extend(_feed_items(name, feed, options))
    source = SourceSpec(id="seeds", url="seeds", kind=SourceKind.SEED_TEXT)
    attribution = Attribution(source_id="seeds", feed_url="seeds", feed_id="urn:seeds")
    for name, raw in corpus.seeds.items():
        item = normalise_entry(
            raw, source=source, attribution=attribution, first_seen=NOW, options=options
        )
        items.append((name, item))
    return items


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return _read()


@pytest.fixture(scope="module")
def items(corpus: Corpus) -> list[tuple[str, Item]]:
    return _items(corpus, NormaliseOptions(known_organisations=corpus.known_organisations()))


@pytest.fixture(scope="module")
def labels() -> dict[str, tuple[str, str]]:
    """Item key → (kind, organisation)."""
    data = json.loads((CORPUS / "labels.json").read_text())
    return {i["key"]: (i["kind"], data["stories"][i["story"]]["org"]) for i in data["items"]}


def _wrong(
    items: Iterable[tuple[str, Item]], labels: dict[str, tuple[str, str]], kind: str
) -> list[tuple[str, tuple[str, ...], str]]:
    """Items of `kind` whose first author is not the labelled organisation."""
    return [
        (key, item.authors, labels[key][1])
        for key, item in items
        if key in labels
        and labels[key][0] == kind
        and (not item.authors or item.authors[0] != labels[key][1])
    ]


def test_every_item_is_clean(items: list[tuple[str, Item]]) -> None:
    assert len(items) > 700
    for key, item in items:
        html = item.content_html or ""
        assert not FOOTER_PHRASES.search(html + item.text + (item.summary or "")), key
        assert "<script" not in html.lower(), key
        for url in (item.link, item.readmore, *re.findall(r'(?:href|src)="([^"]+)"', html)):
            assert url is None or not TRACKING.search(url), (key, url)
        for text in (item.title, item.text, item.summary or "", *item.authors):
            assert not repair_mojibake(text)[1], (key, text)  # ftfy finds nothing to fix
        assert not ENTITY.search(item.title), (key, item.title)
        assert item.published.tzinfo is UTC and item.updated >= item.published


def test_no_real_item_reaches_the_markup_budget(corpus: Corpus) -> None:
    # The budget's limits are meant for hostile markup only: every field of every item
    # of the corpus passes through it unchanged.
    fields = [v for f in corpus.feeds.values() for e in f.entries for v in (e.content, e.summary)]
    fields += [v for raw in corpus.seeds.values() for v in (raw.content, raw.summary)]
    for value in filter(None, fields):
        markup = value if looks_like_html(value) else text_to_html(value)
        assert within_budget(markup) == (markup, Cuts()), value[:80]


def test_known_organisations_are_what_the_pipeline_would_pass(corpus: Corpus) -> None:
    known = corpus.known_organisations()
    assert "Coastal Research Institute" in known
    assert not {"Mirage.News", "Wire Digest", "Daily Digest"} & set(known)


def test_every_item_names_its_organisation_as_author(
    items: list[tuple[str, Item]], labels: dict[str, tuple[str, str]]
) -> None:
    assert _wrong(items, labels, "org-feed") == []
    assert _wrong(items, labels, "seed-text") == []
    # Four republished stories and 25 digest teasers name their organisation nowhere
    # (not in the title, not in the text, no link to its site).
    assert len(_wrong(items, labels, "republisher-feed")) <= 4
    assert len(_wrong(items, labels, "digest-feed")) <= 25
    for key, item in items:
        if labels.get(key, ("", ""))[0] == "republisher-feed" or key.endswith(".txt"):
            assert item.via in ("Mirage.News", "Wire Digest"), key
            assert item.via not in item.authors


def test_known_organisations_fix_republished_items(
    corpus: Corpus, items: list[tuple[str, Item]], labels: dict[str, tuple[str, str]]
) -> None:
    """Without them, 29 republished items lack their organisation ("CRI Unveils…")."""
    without = _items(corpus, NormaliseOptions())
    assert len(_wrong(without, labels, "republisher-feed")) == 29
    assert len(_wrong(items, labels, "republisher-feed")) == 4
    by_initials = [
        item
        for _, item in items
        if any(n.startswith("author taken from the known organisations") for n in item.notes)
    ]
    assert any(item.title.startswith("CRI ") for item in by_initials)
    assert all(item.authors[0] != "Mirage.News" for item in by_initials)
