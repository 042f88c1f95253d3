"""The stages of a run: the decisions on plain values (no store, no disk), then the
stages run one by one on a real store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_dedupe import FOLLOW_UP, RELEASE, make_item

from aggregator import pipeline
from aggregator.config import FetchConfig, Settings
from aggregator.dedupe import repair, signature_of
from aggregator.dedupe.plan import StoredView, plan_items, signatures_for
from aggregator.dedupe.signature import Signature, lookup_tokens
from aggregator.exceptions import ConfigError, FetchError
from aggregator.ingest import policy
from aggregator.ingest.http import FetchOutcome, Validators
from aggregator.ingest.policy import Fetched, state_after
from aggregator.model import FeedMeta, Item, SourceKind, SourceSpec, SourceUpdated
from aggregator.normalise import identity
from aggregator.store import ItemWrite, KnownItem, LinkUseRow, SourceState, open_store

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def known(item: Item, entry_id: str, *, content_hash: str | None = None) -> KnownItem:
    return KnownItem(
        key=item.key,
        entry_id=entry_id,
        content_hash=content_hash or item.content_hash,
        published=item.published,
        updated=item.updated,
        first_seen=item.published,
    )


def window(*stored: tuple[Item, str]) -> repair.Window:
    return repair.Window(signatures=tuple((signature_of(i), entry_id) for i, entry_id in stored))


# -- the dedupe plan, from a snapshot -----------------------------------------------------


def test_a_new_item_is_a_new_story_and_its_copy_joins_the_stored_one() -> None:
    stored = make_item(RELEASE, source="space-agency", origin="1")
    copy = make_item(RELEASE, source="wire", origin="w1", via="Wire")
    other = make_item(FOLLOW_UP, source="wire", origin="w2", title="Funding agreed")
    view = StoredView(window=window((stored, "urn:story")))
    plan = plan_items([("wire", [copy, other])], view, now=NOW)
    entries = {w.item.key: w.entry_id for w in plan.writes}
    assert entries == {copy.key: "urn:story", other.key: identity.entry_id(other.key)}
    reasons = {w.item.key: w.merge_reason for w in plan.writes}
    assert reasons[copy.key] and reasons[other.key] is None
    assert plan.tallies["wire"] == SourceUpdated(new=2)
    assert [a for a, _, _ in plan.decisions] == ["new", "new"]
    # Nothing stored under their keys: the store has no old lookup keys of theirs to clear.
    assert not any(w.replaces_stored for w in plan.writes)
    assert_lookup_of_signatures(plan.writes)


def assert_lookup_of_signatures(writes: Sequence[ItemWrite]) -> None:
    """Each write carries the lookup tokens of the signature it stores: the store files
    the item under them as given, without parsing the signature back."""
    for write in writes:
        assert write.signature is not None and write.lookup is not None
        assert write.lookup == tuple(lookup_tokens(Signature.from_json(write.signature)))


def test_unchanged_updated_gone_and_repeated_items() -> None:
    same = make_item(RELEASE, origin="1")
    changed = make_item(FOLLOW_UP, origin="2", title="Next steps")
    gone = make_item(RELEASE, origin="3", title="Pruned long ago")
    view = StoredView(
        known={
            same.key: known(same, "urn:a"),
            changed.key: known(changed, "urn:b", content_hash="before"),
        },
        gone=frozenset({gone.key}),
        entry_sizes={"urn:b": 2},
    )
    plan = plan_items([("s", [same, changed, gone, same])], view, now=NOW)
    assert plan.unchanged == (same.key,)
    (write,) = plan.writes
    # An update keeps its story and first sighting; its `updated` moves though the
    # source did not move it.
    assert (write.item.key, write.entry_id, write.first_seen) == (
        changed.key,
        "urn:b",
        changed.published,
    )
    assert write.item.updated == NOW
    assert write.replaces_stored  # its old text's lookup keys go
    assert_lookup_of_signatures(plan.writes)
    assert plan.tallies["s"] == SourceUpdated(updated=1, unchanged=1, skipped=2)
    assert plan.moves == ()


def test_never_merge_keeps_a_copy_apart() -> None:
    stored = make_item(RELEASE, source="space-agency", origin="1")
    copy = make_item(RELEASE, source="wire", origin="w1", via="Wire")
    view = StoredView(window=window((stored, "urn:story")))
    plan = plan_items([("wire", [copy])], view, now=NOW, never_merge={copy.key})
    (write,) = plan.writes
    assert write.entry_id == repair.split_entry_id(copy.key)
    assert write.merge_reason == repair.NEVER_MERGE_REASON


def test_an_item_alone_in_its_story_moves_when_its_new_text_fits_another() -> None:
    story = make_item(RELEASE, source="space-agency", origin="1")
    teaser = make_item(RELEASE[:1], source="digest", origin="d1", title="Debris talks")
    full = make_item(RELEASE, source="digest", origin="d1", title="Debris talks")
    assert full.key == teaser.key and full.content_hash != teaser.content_hash
    view = StoredView(
        known={teaser.key: known(teaser, "urn:teaser")},
        entry_sizes={"urn:teaser": 1},
        window=window((story, "urn:story"), (teaser, "urn:teaser")),
    )
    plan = plan_items([("digest", [full])], view, now=NOW)
    assert [w.entry_id for w in plan.writes] == ["urn:teaser"]  # written first, then moved
    ((key, entry_id, why),) = plan.moves
    assert (key, entry_id) == (full.key, "urn:story")
    assert why.startswith("its text changed, then ")
    # Not alone: it stays where it is, unmatched again.
    shared = replace(view, entry_sizes={"urn:teaser": 2})
    assert plan_items([("digest", [full])], shared, now=NOW).moves == ()


def test_a_link_shared_with_stored_items_of_the_publisher_is_learnt() -> None:
    index = "https://council.example/news"
    first = make_item(RELEASE, source="council", origin="c1", link=index)
    second = make_item(FOLLOW_UP, source="council", origin="c2", link=index, title="Other")
    view = StoredView(
        link_uses=(
            LinkUseRow(
                source_id="council", key=first.key, link=index, content_hash=first.content_hash
            ),
        ),
        window=window((first, "urn:first")),
    )
    plan = plan_items([("council", [second])], view, now=NOW)
    assert plan.learned_links == {index: "council"}
    assert plan.writes[0].entry_id == identity.entry_id(second.key)  # not merged on it


def test_signatures_computed_ahead_give_the_same_plan() -> None:
    """What a worker's gather computes is what the plan would: only the signatures of
    items new or changed, and the first of each key."""
    stored = make_item(RELEASE, source="space-agency", origin="1")
    same = make_item(FOLLOW_UP, source="space-agency", origin="2", title="Funding")
    copy = make_item(RELEASE, source="wire", origin="w1", via="Wire")
    changed = make_item(FOLLOW_UP, source="wire", origin="w2", title="Funding agreed")
    view = StoredView(
        known={
            same.key: known(same, "urn:same"),
            changed.key: known(changed, "urn:changed", content_hash="before"),
        },
        entry_sizes={"urn:changed": 1},
        window=window((stored, "urn:story"), (same, "urn:same"), (changed, "urn:changed")),
    )
    items = [same, copy, changed, replace(copy, title="A second copy of the key")]
    ahead = signatures_for(items, view.known)
    assert ahead == {copy.key: signature_of(copy), changed.key: signature_of(changed)}
    run = [("space-agency", items[:1]), ("wire", items[1:])]
    assert plan_items(run, view, now=NOW, signatures=ahead) == plan_items(run, view, now=NOW)


# -- when a source is due, and its state after a fetch ------------------------------------


def remote(source_id: str, **state: object) -> SourceState:
    made = SourceState(id=source_id, url=f"https://{source_id}.example/feed", kind="remote")
    return replace(made, **state)  # type: ignore[arg-type]


def test_due_sources_counts_the_others_and_restarts_reconfigured_ones() -> None:
    settings = Settings(
        sources=(
            SourceSpec(id="a", url="https://a.example/feed"),
            SourceSpec(id="b", url="https://b.example/feed"),
            SourceSpec(id="c", url="https://c.example/feed"),
        )
    )
    later = NOW + timedelta(hours=3)
    states = {
        "a": remote("a", next_check_at=NOW - timedelta(minutes=1)),
        "b": remote("b", next_check_at=later),
        "c": remote("c", next_check_at=later, error_count=4),
    }
    keys = policy.config_keys(settings)
    due = policy.due_sources(settings, states, keys, now=NOW, force=False)
    assert [s.id for s in due.due] == ["a"]
    assert (due.not_due, due.next_due) == (2, later)
    # `c` was configured otherwise last time: its backoff is forgotten, it is due now.
    due = policy.due_sources(settings, states, {**keys, "c": "old"}, now=NOW, force=False)
    assert [s.id for s in due.due] == ["a", "c"]
    assert [(s.id, s.error_count, s.next_check_at) for s in due.states] == [("c", 0, None)]
    assert len(policy.due_sources(settings, states, keys, now=NOW, force=True).due) == 3


def outcome(status: int = 200, **changes: object) -> FetchOutcome:
    made = FetchOutcome(
        source_id="a",
        url="https://a.example/feed",
        final_url="https://a.example/feed",
        status=status,
        not_modified=status == 304,
        body=None,
        headers={},
        validators=Validators(etag='"v2"'),
        permanent_url=None,
        fetched_at=NOW,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_state_after_a_response_follows_the_feed_and_the_server() -> None:
    fetch = FetchConfig()
    before = remote("a", etag='"v1"', error_count=2, last_error="timeout")
    fetched = Fetched(
        kind=SourceKind.REMOTE,
        meta=FeedMeta(title="A feed", ttl_minutes=600),
        outcome=outcome(permanent_url="https://a.example/new"),
        body_hash="h",
        new=3,
    )
    after = state_after(fetched, before, interval=timedelta(hours=1), fetch=fetch, now=NOW)
    assert (after.etag, after.url, after.feed_title, after.body_hash) == (
        '"v2"',
        "https://a.example/new",
        "A feed",
        "h",
    )
    assert (after.error_count, after.last_error, after.last_new) == (0, None, 3)
    assert after.next_check_at is not None
    assert NOW + timedelta(hours=10) <= after.next_check_at <= NOW + timedelta(hours=12)
    # Not modified: what the feed said is kept.
    same = Fetched(kind=SourceKind.REMOTE, meta=None, outcome=outcome(304))
    kept = state_after(same, after, interval=timedelta(hours=1), fetch=fetch, now=NOW)
    assert (kept.feed_title, kept.body_hash) == ("A feed", "h")


def test_state_after_failures_backs_off_and_a_410_disables() -> None:
    fetch = FetchConfig()
    error = FetchError("server error", source_id="a", url="u", status=500)
    before = remote("a", error_count=3)
    failed = state_after(
        Fetched(kind=SourceKind.REMOTE, meta=None, error=error),
        before,
        interval=timedelta(hours=1),
        fetch=fetch,
        now=NOW,
    )
    assert (failed.error_count, failed.last_error, failed.last_status) == (4, "server error", 500)
    assert failed.next_check_at is not None and failed.next_check_at > NOW + timedelta(hours=4)
    gone = state_after(
        Fetched(
            kind=SourceKind.REMOTE,
            meta=None,
            error=FetchError("gone", source_id="a", url="u", status=410),
        ),
        before,
        interval=timedelta(hours=1),
        fetch=fetch,
        now=NOW,
    )
    assert (gone.enabled, gone.disabled_reason, gone.next_check_at) == (False, "gone", None)


def test_state_after_reading_a_local_feed_keeps_what_an_unread_file_said() -> None:
    before = SourceState(id="seed-x", url="x.xml", kind="seed-feed", feed_title="X", site_link="l")
    unread = Fetched(kind=SourceKind.SEED_FEED, meta=None)
    after = state_after(unread, before, interval=timedelta(hours=1), fetch=FetchConfig(), now=NOW)
    assert (after.feed_title, after.site_link, after.last_fetch_at) == ("X", "l", NOW)
    # A local feed read again says all it says: a link it no longer gives is dropped.
    read = Fetched(kind=SourceKind.SEED_FEED, meta=FeedMeta(title="Y"), new=1)
    again = state_after(read, before, interval=timedelta(hours=1), fetch=FetchConfig(), now=NOW)
    assert (again.feed_title, again.site_link, again.last_new) == ("Y", None, 1)


# -- the stages on their own, on a real store ---------------------------------------------


def _seeds(folder: Path) -> None:
    folder.mkdir()
    for name, title in (("a.txt", "Harbour Reopens"), ("b.txt", "Bridge Closes")):
        (folder / name).write_text(
            f"{title}\n\nPort Authority of Lowmere\n\nThe port authority said on Monday that "
            f"the story of {title.lower()} is told in full here, with dates and names.\n"
        )


def _settings(root: Path) -> Settings:
    return Settings(seeds=root / "seeds", out=root / "feeds", db=str(root / "db.sqlite"))


def test_gather_stores_no_item_and_the_stages_publish_what_a_run_does(
    tmp_path: Path, db_url: str
) -> None:
    """On each backend, gather then commit then publish (a worker's way) gives what
    `run_once` gives on SQLite, byte for byte."""
    staged, whole = tmp_path / "staged", tmp_path / "whole"
    for root in (staged, whole):
        root.mkdir()
        _seeds(root / "seeds")
    settings = replace(_settings(staged), db=db_url)
    store = open_store(settings.db)
    try:
        gathered = pipeline.gather(settings, store, now=NOW)
        assert len(gathered.items) == 2
        assert store.item_count() == 0 and store.seed_files() == {}
        committed = pipeline.commit(settings, store, gathered, now=NOW)
        assert committed.stored and committed.counts["new"] == 2
        assert store.item_count() == 2 and len(store.seed_files()) == 2
        pipeline.publish_stage(settings, store, now=NOW)
    finally:
        store.close()
    store = open_store(_settings(whole).db)
    try:
        pipeline.run_once(_settings(whole), store, now=NOW)
    finally:
        store.close()
    # The hidden manifest aside: its keys digest the settings, and so the folders' paths.
    files = sorted(p.relative_to(whole / "feeds") for p in (whole / "feeds").rglob("[!.]*.*"))
    assert len(files) > 5
    for name in files:
        assert (staged / "feeds" / name).read_bytes() == (whole / "feeds" / name).read_bytes()


def test_commit_stores_the_signatures_gather_serialised_and_makes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serialising signatures is work done before the writer lock: gather makes each
    one's JSON, and commit (what a worker runs under the lock) stores it and makes none."""
    _seeds(tmp_path / "seeds")
    settings = _settings(tmp_path)
    store = open_store(settings.db)
    try:
        gathered = pipeline.gather(settings, store, now=NOW)
        made: list[str] = []
        dumps = Signature._dumps

        def counted(signature: Signature) -> str:
            made.append(signature.key)
            return dumps(signature)

        monkeypatch.setattr(Signature, "_dumps", counted)
        committed = pipeline.commit(settings, store, gathered, now=NOW)
        assert committed.counts["new"] == 2 and made == []
        stored = {text for text, _ in store.signatures(datetime(1970, 1, 1, tzinfo=UTC))}
        assert stored == {s.to_json() for s in gathered.signatures.values()}
    finally:
        store.close()


def test_the_organisations_learnt_are_kept_for_the_next_gather(tmp_path: Path) -> None:
    """A commit remembers the organisations its sources name (seeds name their issuer),
    so that later gathers know them: the next one, with nothing new, keeps them."""
    _seeds(tmp_path / "seeds")
    settings = _settings(tmp_path)
    store = open_store(settings.db)
    try:
        assert pipeline.stored_organisations(store) == []
        first = pipeline.gather(settings, store, now=NOW)
        pipeline.commit(settings, store, first, now=NOW)
        learnt = pipeline.stored_organisations(store)
        assert "Port Authority of Lowmere" in learnt
        again = pipeline.gather(settings, store, now=NOW + timedelta(hours=1))
        pipeline.commit(settings, store, again, now=NOW + timedelta(hours=1))
        assert pipeline.stored_organisations(store) == learnt
    finally:
        store.close()


def test_a_dry_commit_decides_and_stores_nothing(tmp_path: Path) -> None:
    _seeds(tmp_path / "seeds")
    settings = _settings(tmp_path)
    store = open_store(settings.db)
    try:
        dry = pipeline.RunOptions(dry_run=True)
        gathered = pipeline.gather(settings, store, now=NOW, options=dry)
        committed = pipeline.commit(settings, store, gathered, now=NOW, options=dry)
        assert not committed.stored and committed.counts["new"] == 2
        assert [a for a, _, _ in committed.decisions] == ["new", "new"]
        assert store.item_count() == 0 and store.sources() == []
    finally:
        store.close()


@pytest.mark.parametrize("only", [["seed-x"], []])
def test_gather_of_a_batch_reads_only_its_sources(tmp_path: Path, only: list[str]) -> None:
    _seeds(tmp_path / "seeds")
    (tmp_path / "seeds" / "x.xml").write_text(
        "<rss><channel><title>X</title><item><title>One</title><link>https://x.example/1"
        "</link><description>The first item of X.</description></item></channel></rss>"
    )
    store = open_store(_settings(tmp_path).db)
    try:
        gathered = pipeline.gather(_settings(tmp_path), store, now=NOW, only=only)
    finally:
        store.close()
    assert [c.read.spec.id for c in gathered.sources] == only
    assert [i.title for i in gathered.items] == (["One"] if only else [])


def test_a_bad_filter_stops_gathering_before_any_work(tmp_path: Path) -> None:
    _seeds(tmp_path / "seeds")
    source = SourceSpec(id="news", url="https://news.example/feed", filters={"exlude": ["x"]})
    settings = replace(_settings(tmp_path), sources=(source,))
    store = open_store(settings.db)
    try:
        with pytest.raises(ConfigError, match="unknown key"):
            pipeline.gather(settings, store, now=NOW)
        assert store.sources() == []
    finally:
        store.close()
