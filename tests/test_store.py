"""The store, on both backends where the behaviour is shared (`db_url` runs a test on
SQLite and on a real PostgreSQL database; see conftest.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import factories
import pytest
from factories import make_attribution
from hypothesis import given
from hypothesis import strategies as st

from aggregator.exceptions import StorageError
from aggregator.model import Item, SourceKind, SourceSpec
from aggregator.store import ItemWrite, open_store
from aggregator.store.schema import SCHEMA_VERSION

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_item(
    key: str, *, source_id: str = "src", published: datetime = NOW, text: str = "body"
) -> Item:
    source = make_attribution(source_id, feed_url="https://example.org/feed", feed_id="urn:x")
    return factories.make_item(
        key,
        text=text,
        source=source,
        when=published,
        link=f"https://example.org/{key}",
        summary=text,
        authors=("Org",),
        categories=("a",),
    )


def test_creates_file_and_folder_and_versions_schema(tmp_path: Path) -> None:
    db = tmp_path / "data" / "agg.sqlite"
    store = open_store(str(db))
    store.close()
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_items_persist_across_opens(db_url: str) -> None:
    store = open_store(db_url)
    store.ensure_source(
        SourceSpec(id="src", url="https://example.org/feed", kind=SourceKind.REMOTE)
    )
    store.write_items(
        [ItemWrite(item=make_item("k1"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW)]
    )
    store.close()
    store = open_store(db_url if "://" in db_url else "sqlite:///" + db_url)
    (stored,) = store.items(feed_id_base="https://feeds.example/")
    assert stored.entry_id == "urn:e1"
    assert stored.item.title == "Title k1"
    assert stored.item.published == NOW
    assert stored.item.source.source_id == "src"
    assert store.known_items(["k1", "k2"]).keys() == {"k1"}


def test_update_keeps_entry_and_first_seen(db_url: str) -> None:
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    store.write_items(
        [ItemWrite(item=make_item("k1"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW)]
    )
    later = NOW + timedelta(hours=1)
    store.write_items(
        [
            ItemWrite(
                item=make_item("k1", text="new"),
                entry_id="urn:other",
                first_seen=later,
                seen_at=later,
            )
        ]
    )
    (stored,) = store.items(feed_id_base="https://feeds.example/")
    assert stored.entry_id == "urn:e1"
    assert stored.first_seen == NOW
    assert stored.item.text == "new"


def test_one_batch_naming_an_item_twice_keeps_the_first_entry_and_the_last_text(
    db_url: str,
) -> None:
    # PostgreSQL writes a batch as one statement, which may not touch a row twice.
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    later = NOW + timedelta(hours=1)
    store.write_items(
        [
            ItemWrite(item=make_item("k1"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW),
            ItemWrite(item=make_item("k2"), entry_id="urn:e2", first_seen=NOW, seen_at=NOW),
            ItemWrite(
                item=make_item("k1", text="edited"),
                entry_id="urn:other",
                first_seen=later,
                seen_at=later,
            ),
        ]
    )
    stored = {s.item.key: s for s in store.items(feed_id_base="https://feeds.example/")}
    assert stored.keys() == {"k1", "k2"}
    assert (stored["k1"].entry_id, stored["k1"].first_seen) == ("urn:e1", NOW)
    assert stored["k1"].item.text == "edited"


def test_a_batch_of_items_keeps_every_field_as_written(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Markup, quotes, backslashes, braces and non-ASCII text, as a batch of one statement
    # carries them (PostgreSQL takes each column as one binary array), over two
    # statements (the rows are sent in chunks).
    monkeypatch.setattr("aggregator.store._ROWS_PER_STATEMENT", 2)
    awkward = 'Quote " \\ backslash {brace,comma} «ünïcode» \u2028 <p class="x">&amp;</p>'
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    items = [make_item(f"k{n}", text=f"{awkward} {n}") for n in range(3)]
    store.write_items(
        [
            ItemWrite(
                item=item,
                entry_id=f"urn:e{n}",
                first_seen=NOW,
                seen_at=NOW,
                merge_reason="same link" if n else None,
                merge_score=0.5 if n else None,
            )
            for n, item in enumerate(items)
        ]
    )
    stored = {s.item.key: s for s in store.items(feed_id_base="https://feeds.example/")}
    for n, item in enumerate(items):
        assert stored[item.key].item.text == f"{awkward} {n}"
        assert stored[item.key].item.summary == item.summary
        assert stored[item.key].item.authors == ("Org",)
        assert stored[item.key].merge_score == (0.5 if n else None)


def test_prune_leaves_tombstones(db_url: str) -> None:
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    old = make_item("old", published=NOW - timedelta(days=100))
    store.write_items(
        [
            ItemWrite(item=old, entry_id="urn:e1", first_seen=NOW, seen_at=NOW),
            ItemWrite(item=make_item("new"), entry_id="urn:e2", first_seen=NOW, seen_at=NOW),
        ]
    )
    assert store.prune(NOW - timedelta(days=30), NOW) == 1
    assert store.tombstoned(["old", "new"]) == {"old"}
    assert [s.item.key for s in store.items(feed_id_base="x")] == ["new"]


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "agg.sqlite"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=str(bogus)):
        open_store(str(bogus))


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "agg.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StorageError, match="newer than this aggregator"):
        open_store(str(db))


def test_permanent_redirect_url_survives_until_config_changes(db_url: str) -> None:
    from dataclasses import replace

    store = open_store(db_url)
    spec = SourceSpec(id="src", url="https://old.example/feed", kind=SourceKind.REMOTE)
    state = store.ensure_source(spec)
    store.save_source(replace(state, url="https://new.example/feed"))
    assert store.ensure_source(spec).url == "https://new.example/feed"
    moved = replace(spec, url="https://third.example/feed")
    assert store.ensure_source(moved).url == "https://third.example/feed"


def test_meta_counters_splits_and_counts(db_url: str) -> None:
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    assert store.data_version() == "0"
    store.write_items(
        [
            ItemWrite(item=make_item("k1"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW),
            ItemWrite(item=make_item("k2"), entry_id="urn:e1", first_seen=NOW, seen_at=NOW),
        ]
    )
    assert store.data_version() == "1"
    assert store.entry_size("urn:e1") == 2
    store.reassign("k2", "urn:split", "operator split", NOW)
    assert store.data_version() == "2"
    assert store.entry_ids_newest() == ["urn:e1", "urn:split"]
    assert store.entry_ids_newest(1) == ["urn:e1"]
    assert set(store.entry_updates()) == {"urn:e1", "urn:split"}
    assert [s.item.key for s in store.find_items("https://example.org/k2", feed_id_base="x")] == [
        "k2"
    ]
    store.touch_items(["k1", "k2"], NOW + timedelta(hours=1))
    assert store.item_counts() == {"src": 2} and store.item_count() == 2
    store.set_meta("last_publish", "then")
    store.set_meta("last_publish", "now")
    assert store.get_meta("last_publish") == "now"
    assert store.get_meta("missing") is None
    assert store.integrity_check() == "ok"
    store.remove_source("src")
    (state,) = store.sources()
    assert not state.enabled


def test_sorts_byte_wise_and_keeps_doubles(db_url: str) -> None:
    """Both backends order keys like SQLite (code point order, whatever the database's
    locale) and keep a merge score to the last bit."""
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="u", kind=SourceKind.REMOTE))
    keys = ["b", "B", "a", "_x", "é", "Z"]
    store.write_items(
        [
            ItemWrite(
                item=make_item(k),
                entry_id="urn:" + k,
                first_seen=NOW,
                seen_at=NOW,
                merge_reason="near",
                merge_score=0.1 + 0.2,
                signature="sig-" + k,
            )
            for k in keys
        ]
    )
    stored = store.items(feed_id_base="x", with_text=False)
    assert [s.item.key for s in stored] == sorted(keys)
    assert {s.merge_score for s in stored} == {0.1 + 0.2}
    assert {s.item.text for s in stored} == {""}
    assert [sig for sig, _ in store.signatures(NOW - timedelta(days=1))] == sorted(
        "sig-" + k for k in keys
    )


def test_unknown_database_url_is_refused() -> None:
    with pytest.raises(StorageError, match="unknown database URL") as caught:
        open_store("mysql://u:s3cret@db/agg")
    assert "s3cret" not in str(caught.value)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_stored_dates_keep_their_text_form_and_read_back_equal(value: datetime) -> None:
    from aggregator.store import dump_date, load_date

    text = dump_date(value)
    # The form existing databases hold (%Y-%m-%dT%H:%M:%S.%fZ in UTC), the year padded.
    utc = value.astimezone(UTC)
    assert text == f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ")
    assert load_date(text) == value
    if utc.year < 1000:  # such a year used to be written unpadded: that row still reads
        assert load_date(text.lstrip("0")) == value


def test_stored_dates_sort_as_text_in_time_order() -> None:
    from aggregator.store import dump_date

    dates = [datetime(999, 5, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    assert sorted(dump_date(d) for d in dates) == [dump_date(d) for d in dates]


def test_decisions_and_shared_links_persist_and_undo_moves_back(db_url: str) -> None:
    store = open_store(db_url)
    store.ensure_source(SourceSpec(id="src", url="https://example.org/feed"))
    store.write_items(
        [
            ItemWrite(item=make_item(k), entry_id=e, first_seen=NOW, seen_at=NOW)
            for k, e in (("k1", "urn:e1"), ("k2", "urn:e1"), ("k3", "urn:e3"))
        ]
    )
    store.add_shared_links({"https://example.org/news": "src"}, NOW)
    store.add_shared_links({"https://example.org/news": "other"}, NOW)  # kept once
    first = store.record_decision("split", "k2", "urn:e1", [("k2", "urn:e1", "urn:s")], NOW, "x")
    second = store.record_decision("join", "k3", "urn:e1", [("k3", "urn:e3", "urn:e1")], NOW, "y")
    store.close()
    store = open_store(db_url)
    assert store.shared_links() == {"https://example.org/news"}
    assert [(d.id, d.kind, d.undone) for d in store.decisions()] == [
        (first, "split", None), (second, "join", None),
    ]  # fmt: skip
    assert store.entry_items("urn:e1") == ["k1", "k3"]
    store.undo_decision(second, [("k3", "urn:e1", "urn:e3")], NOW, "undone")
    assert store.entry_items("urn:e3") == ["k3"]
    assert [d.id for d in store.decisions(active_only=True)] == [first]
    store.close()


def test_upgrading_moves_the_recorded_configs_onto_the_sources_rows(tmp_path: Path) -> None:
    """A version-12 database kept the config each source ran under as one JSON record:
    on upgrade each key moves to its source's row (a changed config is still noticed)."""
    from aggregator.store.schema import MIGRATIONS

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        for statements in MIGRATIONS[:12]:
            for statement in statements:
                conn.execute(statement)
        for sid in ("a", "b", "c"):
            conn.execute("INSERT INTO sources (id, url, kind) VALUES (?, 'u', 'remote')", (sid,))
        keys = {"a": "key-a", "b": "key-b", "gone": "key-x"}  # c never recorded
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('source_configs', ?)", (json.dumps(keys),)
        )
        conn.execute("PRAGMA user_version = 12")
    store = open_store(str(db))
    try:
        assert [(s.id, s.config_key) for s in store.sources()] == [
            ("a", "key-a"),
            ("b", "key-b"),
            ("c", None),
        ]
        assert store.get_meta("source_configs") is None
    finally:
        store.close()


def test_upgrading_learns_links_one_source_gave_several_items(tmp_path: Path) -> None:
    """A version-1 database: its items sharing a link become shared links on upgrade."""
    from aggregator.store.schema import MIGRATIONS

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO sources (id, url, kind) VALUES ('council', 'u', 'remote')")
        conn.execute("INSERT INTO entries (id, created, updated) VALUES ('e', 'x', 'x')")
        for key, link, digest in (
            ("a", "https://c.example/news", "h1"),
            ("b", "https://c.example/news", "h2"),  # another item, another text: shared
            ("c", "https://c.example/one", "h3"),
            ("d", "https://c.example/one", "h3"),  # a repost: the same text
        ):
            conn.execute(
                "INSERT INTO items (key, source_id, origin_id, entry_id, content_hash, title, "
                "link, text, authors, categories, published, updated, notes, first_seen, "
                "last_seen) VALUES (?, 'council', ?, 'e', ?, 't', ?, 'x', '[]', '[]', 'p', "
                "'p', '[]', 'f', 'f')",
                (key, key, digest, link),
            )
        conn.execute("PRAGMA user_version = 1")
    store = open_store(str(db))
    assert store.shared_links() == {"https://c.example/news"}
    store.close()
