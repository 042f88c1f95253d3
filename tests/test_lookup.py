"""The dedupe window found by key (aggregator.dedupe.lookup) decides as the whole window.

Generated stores of stories that share sentences, openings, links and texts (copies,
teasers, reposts, follow-ups with other figures, template openings in more stories than
an anchor is used for), and generated new items: every match, reason, score and
candidate list made against the part of the window found by key is the one made
against the whole window. On a real SQLite store, and PostgreSQL when
AGGREGATOR_TEST_POSTGRES is set.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from factories import NOW, make_item

from aggregator import dedupe
from aggregator.config import DedupeConfig, Settings
from aggregator.dedupe import repair
from aggregator.dedupe.lookup import load_window_for
from aggregator.dedupe.signature import lookup_tokens, unpack_sentences
from aggregator.model import Item, SourceSpec
from aggregator.normalise import identity
from aggregator.store import ItemWrite, Store, open_store

WINDOW_DAYS = 14
SOURCES = 12
SEEDS = 10  # corpora: together they reach every case (test_the_generated_stores_reach_every_case)
_WORDS = [
    *("council", "harbour", "budget", "library", "grant", "river", "school", "bridge"),
    *("clinic", "museum", "ferry", "rail", "water", "energy", "housing", "forest"),
    *("coast", "market", "farm", "theatre", "park", "trail", "award", "trial"),
]
# An opening shared by more stories than an anchor is used for: a template.
TEMPLATE = "The regional council said today that the annual budget will fund new public works."


def _sentence(rng: random.Random) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 13)))
    return f"{words.capitalize()} {rng.randint(1, 40)} {rng.choice(_WORDS)}."


class _Corpus:
    """Stories as paragraphs of sentences, drawn from a shared pool so that stories
    overlap the way releases of one region do."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pool = [_sentence(self.rng) for _ in range(600)]
        self.common = self.pool[:4]  # sentences many stories repeat (boilerplate)
        self.links = [f"https://news{n}.example/story" for n in range(12)]
        self.stories: list[list[str]] = []

    def story(self) -> list[str]:
        rng = self.rng
        paragraphs = [
            " ".join(rng.sample(self.pool, rng.randint(2, 4))) for _ in range(rng.randint(2, 4))
        ]
        if rng.random() < 0.5:
            paragraphs.insert(0, TEMPLATE)
        if rng.random() < 0.3:
            paragraphs.append(rng.choice(self.common))
        self.stories.append(paragraphs)
        return paragraphs

    def variant(self, paragraphs: list[str]) -> str:
        """A copy, a teaser, a repost, a follow-up with other figures, or another story."""
        rng = self.rng
        kind = rng.choice(("copy", "teaser", "repost", "figures", "drop", "rewrite", "new"))
        if kind == "repost":
            return "\n\n".join(paragraphs)
        if kind == "teaser":
            words = "\n\n".join(paragraphs).split()
            return " ".join(words[: rng.randint(8, 30)]) + " …"
        if kind == "figures":
            return "\n\n".join(p.replace("1", "7").replace("2", "9") for p in paragraphs)
        if kind == "rewrite":  # its own head, then some of the story's paragraphs
            head = [_sentence(rng), _sentence(rng)]
            return "\n\n".join([*head, *rng.sample(paragraphs, min(2, len(paragraphs)))])
        if kind == "drop" and len(paragraphs) > 2:
            return "\n\n".join(paragraphs[1:])
        if kind == "new":
            return "\n\n".join(self.story())
        return "\n\n".join([_sentence(rng), *paragraphs])

    def item(self, n: int, text: str, *, new: bool) -> Item:
        rng = self.rng
        source = f"src{rng.randint(0, SOURCES - 1)}"
        key = f"{'n' if new else 's'}{n:04d}"
        link = rng.choice(self.links) if rng.random() < 0.3 else f"https://{source}.example/{key}"
        readmore = rng.choice(self.links) if text.endswith("…") and rng.random() < 0.5 else None
        age = timedelta(days=rng.uniform(0, WINDOW_DAYS + 4), seconds=n)
        return make_item(
            key,
            text=text,
            source=source,
            when=NOW - age,
            title=text.split(".")[0][:50],
            link=link,
            readmore=readmore,
            authors=rng.choice(((), ("Port Authority",), ("City Council",))),
            date_rule=rng.choice(("published", "first-seen")),
        )


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        seeds=tmp_path / "seeds",
        out=tmp_path / "feeds",
        db=str(tmp_path / "db.sqlite"),
        dedupe=DedupeConfig(window_days=WINDOW_DAYS),
    )


def _fill(store: Store, corpus: _Corpus, count: int, start: int = 0) -> list[Item]:
    """`count` stored items (keys from `start` on: a key stored before is updated) in
    stories of one to four copies; an item joins a random earlier story now and then
    (stories need not be right to be read back the same)."""
    rng = corpus.rng
    writes: list[ItemWrite] = []
    stored: list[Item] = []
    entries: list[str] = []
    while len(writes) < count:
        paragraphs = corpus.story()
        entry_id = identity.entry_id(f"story-{len(writes)}")
        if entries and rng.random() < 0.1:
            entry_id = rng.choice(entries)
        entries.append(entry_id)
        for _ in range(rng.randint(1, 4)):
            item = corpus.item(start + len(writes), corpus.variant(paragraphs), new=False)
            stored.append(item)
            writes.append(
                ItemWrite(
                    item=item,
                    entry_id=entry_id,
                    first_seen=item.published,
                    seen_at=item.published,
                    signature=dedupe.signature_of(item).to_json(),
                )
            )
    store.write_items(writes)
    return stored


def _news(corpus: _Corpus, stored: list[Item], count: int) -> list[Item]:
    rng = corpus.rng
    news = []
    for n in range(count):
        paragraphs = rng.choice(corpus.stories) if rng.random() < 0.8 else corpus.story()
        item = corpus.item(n, corpus.variant(paragraphs), new=True)
        news.append(replace(item, published=NOW - timedelta(hours=rng.uniform(0, 48))))
    if stored:  # one stored item comes back with a new text: matched again, not itself
        again = rng.choice(stored)
        news.append(replace(again, text=corpus.variant(rng.choice(corpus.stories))))
    return news


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with closing(open_store(db_url)) as opened:
        opened.ensure_sources(
            [SourceSpec(id=f"src{n}", url=f"https://src{n}.example/feed") for n in range(SOURCES)]
        )
        yield opened


def _matches(
    window: repair.Window, news: list[dedupe.Signature], leaving: set[str], sentences: set[int]
) -> object:
    """What matching `news` decided, and on the way the candidates weighed for each (in
    order) and the stories these sentences are known in."""
    index = window.index(leaving=leaving)
    weighed: list[list[list[str]]] = []
    find = index._candidates

    def candidates(sig: dedupe.Signature) -> tuple[list[int], list[int]]:
        found = find(sig)
        weighed.append([[index._items[p].sig.key for p in part] for part in found])
        return found

    index._candidates = candidates  # type: ignore[method-assign]
    found = dedupe.assign_entries(news, index, lambda sig: identity.entry_id(sig.key))
    # More than SENTENCE_OTHER_STORIES + 1 stories: which ones never matters.
    stories = {h: frozenset(index._stories_of(h)) for h in sentences}
    # Of the links found shared, those of the items matched are all that matching asks
    # about (the whole window also finds links other stored items share).
    asked = {link for sig in news for link in (sig.link, sig.readmore) if link}
    crowded = {h: e if len(e) < 3 else 3 for h, e in stories.items()}
    return found, index.shared & asked, weighed, crowded


@pytest.mark.parametrize("seed", range(SEEDS))
def test_the_window_found_by_key_decides_as_the_whole_window(
    store: Store, tmp_path: Path, seed: int
) -> None:
    settings = _settings(tmp_path)
    since = NOW - timedelta(days=WINDOW_DAYS)
    corpus = _Corpus(seed)
    store.cover_lookup(since)  # a history indexed as it is written ...
    stored = _fill(store, corpus, 150)
    with store.transaction():  # ... then written by a version that kept no keys
        store._db.execute("DELETE FROM meta WHERE name = 'lookup_since'")
    stored += _fill(store, corpus, 150, start=100)  # 50 of them updated
    store.cover_lookup(since)  # ... read back on first use; then updates keep it true
    stored += _fill(store, corpus, 100, start=220)
    news = _news(corpus, stored, 40)
    signatures = [dedupe.signature_of(item) for item in news]
    leaving = {news[-1].key}

    whole = repair.load_window(store, settings, NOW)
    keyed = load_window_for(store, settings, NOW, signatures, leaving=leaving)

    sentences = {
        sentence.hash
        for sig in (*signatures, *(sig for sig, _ in keyed.signatures))
        for sentence in unpack_sentences(sig.sentences)
    }
    assert _matches(keyed, signatures, leaving, sentences) == _matches(
        whole, signatures, leaving, sentences
    )


def test_one_item_opening_with_a_template_decides_as_the_whole_window(
    store: Store, tmp_path: Path
) -> None:
    """A run of one item reads a small part of the window: the template opening it
    shares with hundreds of stories is known crowded, not read."""
    settings = _settings(tmp_path)
    corpus = _Corpus(3)
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    stored = _fill(store, corpus, 300)
    whole = repair.load_window(store, settings, NOW)
    opening = [item for item in stored if item.text.startswith(TEMPLATE)][:12]
    assert len(opening) == 12
    for n, known in enumerate(opening):
        text = "\n\n".join([TEMPLATE, *known.text.split("\n\n")[2:], _sentence(corpus.rng)])
        news = [dedupe.signature_of(corpus.item(n, text, new=True))]
        keyed = load_window_for(store, settings, NOW, news)
        assert keyed.crowded and len(keyed.signatures) < len(whole.signatures) / 2
        sentences = {s.hash for sig, _ in keyed.signatures for s in unpack_sentences(sig.sentences)}
        sentences |= {s.hash for s in unpack_sentences(news[0].sentences)}
        assert _matches(keyed, news, set(), sentences) == _matches(whole, news, set(), sentences)


def test_the_generated_stores_reach_every_case(tmp_path: Path) -> None:
    """The corpora make what the comparison above must get right: crowded anchors,
    sentences of several stories, each kind of evidence, refusals and close calls."""
    reasons: list[str] = []
    for seed in range(SEEDS):
        with closing(open_store(str(tmp_path / f"{seed}.sqlite"))) as store:
            store.ensure_sources(
                [
                    SourceSpec(id=f"src{n}", url=f"https://src{n}.example/feed")
                    for n in range(SOURCES)
                ]
            )
            corpus = _Corpus(seed)
            store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
            news = _news(corpus, _fill(store, corpus, 300), 40)
            signatures = [dedupe.signature_of(item) for item in news]
            keyed = load_window_for(store, _settings(tmp_path), NOW, signatures)
        assert keyed.crowded
        assert any(len(stories) > 2 for stories in (keyed.sentence_stories or {}).values())
        found = dedupe.assign_entries(
            signatures, keyed.index(), lambda sig: identity.entry_id(sig.key)
        )
        reasons += [m.reason for m in found.values()]
        reasons += [c.verdict for m in found.values() for c in m.candidates]
    every = " | ".join(reasons)
    for kind in (
        "same link",
        "read-more link",
        "same fingerprint",
        "contained",
        "passage of",
        "near-duplicate",
        "sentences shared",
        "ambiguous",
        "refused: the story already has",
        "figures differ",
        "only partly alike",
    ):
        assert kind in every


def test_without_lookup_keys_the_window_is_read_whole(store: Store, tmp_path: Path) -> None:
    """A dry run on a store whose keys were never filled (written by an older version)
    reads the window as before."""
    settings = _settings(tmp_path)
    corpus = _Corpus(1)
    stored = _fill(store, corpus, 60)
    news = _news(corpus, stored, 5)
    signatures = [dedupe.signature_of(item) for item in news]
    keyed = load_window_for(store, settings, NOW, signatures)
    assert keyed == repair.load_window(store, settings, NOW)


def test_an_unrelated_item_reads_only_what_shares_a_key(store: Store, tmp_path: Path) -> None:
    corpus = _Corpus(2)
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    stored = _fill(store, corpus, 200)
    known = stored[-1]
    other = make_item(
        "n1",
        text="Volcanic ash closed three northern airports overnight; flights resume at noon.",
        source="src1",
        when=NOW,
        link=known.link,  # the one thing it shares with the window
    )
    keyed = load_window_for(store, _settings(tmp_path), NOW, [dedupe.signature_of(other)])
    keys = {sig.key for sig, _ in keyed.signatures}
    mates = {i.key for i in stored if i.link == known.link}
    assert known.key in keys and len(keys) < 20 and mates <= keys


def test_an_edited_item_is_found_by_its_new_text_only(store: Store) -> None:
    """Rewriting an item replaces its lookup keys: its old text's keys no longer find it,
    so matching does not weigh it against stories it has left."""
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    before = make_item(
        "k1",
        text="Harbour ferries will run every ten minutes from Monday under the new timetable.",
        source="src1",
        when=NOW,
    )
    after = replace(
        before, text="The museum opens a new wing for regional art on Saturday with free entry."
    )

    def write(item: Item, *, replaces_stored: bool = True) -> None:
        signature = dedupe.signature_of(item).to_json()
        item_write = ItemWrite(
            item=item,
            entry_id="e1",
            first_seen=NOW,
            seen_at=NOW,
            signature=signature,
            replaces_stored=replaces_stored,
        )
        store.write_items([item_write])

    def found_by(item: Item) -> set[str]:
        tokens = lookup_tokens(dedupe.signature_of(item))
        return {key for _, key, _ in store.lookup(tokens, NOW - timedelta(days=1))}

    write(before, replaces_stored=False)  # new: no old keys to look for
    assert found_by(before) == {"k1"}
    write(after)
    assert found_by(after) == {"k1"}
    only_before = dedupe.signature_of(before)
    stale = set(lookup_tokens(only_before)) - set(lookup_tokens(dedupe.signature_of(after)))
    assert stale
    assert store.lookup(stale, NOW - timedelta(days=1)) == []


def test_every_token_of_an_item_finds_it_even_one_holding_a_space(store: Store) -> None:
    """PostgreSQL gets an item's tokens as one text split at spaces: an item whose link
    holds a space (no canonical link does) is stored token by token, and found as well."""
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    plain = make_item("k1", text="Ferries run every ten minutes.", source="src1", when=NOW)
    spaced = replace(
        make_item("k2", text="The museum opens a new wing.", source="src2", when=NOW),
        link="https://odd.example/a story",
    )
    signatures = {item.key: dedupe.signature_of(item) for item in (plain, spaced)}
    store.write_items(
        [
            ItemWrite(
                item=item,
                entry_id=f"e-{item.key}",
                first_seen=NOW,
                seen_at=NOW,
                signature=signatures[item.key].to_json(),
                replaces_stored=False,
            )
            for item in (plain, spaced)
        ]
    )
    for key, signature in signatures.items():
        tokens = lookup_tokens(signature)
        assert len(tokens) > 1
        for token in tokens:
            assert key in {k for _, k, _ in store.lookup([token], NOW - timedelta(days=1))}


def test_an_item_is_filed_under_the_lookup_tokens_its_write_gives(store: Store) -> None:
    """A plan's writes carry their tokens (`ItemWrite.lookup`, checked against the
    signature in test_stages): the store files the item under those, without parsing its
    signature back; a write without them is filed under its signature's."""
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    given = make_item("k1", text="Ferries run every ten minutes.", source="src1", when=NOW)
    read = make_item("k2", text="The museum opens a new wing.", source="src2", when=NOW)
    store.write_items(
        [
            ItemWrite(
                item=item,
                entry_id=f"e-{item.key}",
                first_seen=NOW,
                seen_at=NOW,
                signature=dedupe.signature_of(item).to_json(),
                replaces_stored=False,
                lookup=lookup,
            )
            for item, lookup in ((given, ("tok-a", "tok-b")), (read, None))
        ]
    )
    since = NOW - timedelta(days=1)
    assert {(t, k) for t, k, _ in store.lookup(["tok-a", "tok-b"], since)} == {
        ("tok-a", "k1"),
        ("tok-b", "k1"),
    }
    assert store.lookup(lookup_tokens(dedupe.signature_of(given)), since) == []
    read_tokens = lookup_tokens(dedupe.signature_of(read))
    assert {k for _, k, _ in store.lookup(read_tokens, since)} == {"k2"}


def test_lists_of_values_find_the_same_rows_whatever_the_values_hold(store: Store) -> None:
    """PostgreSQL gets a list of values (tokens, keys, links ...) as one text that the server
    splits at the ASCII unit separator; a list with a value holding it, or with only the
    empty value, goes as an array: each finds exactly its rows."""
    store.cover_lookup(NOW - timedelta(days=WINDOW_DAYS))
    odd = ("plain", "unit\x1fseparated", "")
    item = make_item("k1", text="Ferries run every ten minutes.", source="src1", when=NOW)
    store.write_items(
        [
            ItemWrite(
                item=item,
                entry_id="e1",
                first_seen=NOW,
                seen_at=NOW,
                signature=dedupe.signature_of(item).to_json(),
                replaces_stored=False,
                lookup=odd,
            )
        ]
    )
    since = NOW - timedelta(days=1)
    for asked in (["plain"], ["plain", "other"], ["unit\x1fseparated", "plain"], [""], odd):
        assert {t for t, _ in store.keys_under(asked, since)} == set(asked) & set(odd), asked
    assert store.keys_under(["unit", "separated", "other"], since) == []
