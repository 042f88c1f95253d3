"""Merging the copies of one story, and keeping different stories apart."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factories
import pytest
from factories import make_attribution

from aggregator import dedupe
from aggregator.dedupe import Match, Signature, StoryIndex, assign_entries, signature_of
from aggregator.model import Item
from aggregator.normalise import identity

T0 = datetime(2026, 10, 1, 14, 0, tzinfo=UTC)

ABOUT = (
    "About the Space Agency: the Space Agency is an independent body established to advance "
    "launch services and climate monitoring in partnership with governments, industry and "
    "communities. It employs staff in 22 countries and reports annually to its members."
)

RELEASE = [
    "Commissioner Søren Haddad and Head of Research Mark Mensah discussed on Thursday "
    "(1 October) the need to step up work on space debris tracking, the lunar gateway and "
    "astronaut training.",
    "Søren Haddad commended the team in Paris for delivering 12 projects on the lunar gateway "
    "ahead of schedule. The announcement follows 12 months of consultation with communities "
    "affected by astronaut training.",
    "The work builds on a pilot in Paris, where the lunar gateway improved by 31 per cent in "
    "a single year.",
    '"Space debris tracking is no longer optional; it is the foundation of everything we do," '
    "Mark Mensah said.",
    "Søren Haddad will travel to Paris later this month to continue talks on space debris "
    "tracking.",
    ABOUT,
]

# The same people, place and opening sentence, a week later: another release.
FOLLOW_UP = [
    RELEASE[0],
    "Funding of 40 million will be shared between 5 partners over 24 months.",
    "The work builds on a pilot in Paris, where the lunar gateway improved by 18 per cent in "
    "a single year.",
    "Independent experts will review the programme on astronaut training every 6 months.",
    "A progress report on space debris tracking will be presented to the board in March.",
    ABOUT,
]


def make_item(
    paragraphs: list[str],
    *,
    source: str = "space-agency",
    feed_title: str | None = "Space Agency",
    origin: str = "1",
    title: str = "Space Agency and partners agree next steps on space debris tracking",
    link: str | None = None,
    authors: tuple[str, ...] = ("Space Agency",),
    via: str | None = None,
    readmore: str | None = None,
    published: datetime = T0,
    date_rule: str | None = None,
) -> Item:
    text = "\n\n".join(paragraphs)
    return factories.make_item(
        identity.item_key(source, entry_id=origin, link=link, title=title, text=text),
        text=text,
        source=make_attribution(source, feed_id=source, title=feed_title),
        when=published,
        origin_id=origin,
        content_hash=identity.content_hash(title, text),
        title=title,
        link=link,
        content_html=None,
        authors=authors,
        via=via,
        readmore=readmore,
        date_rule=date_rule,
    )


ORIGINAL = make_item(RELEASE, link="https://space.example/news/debris")


def republished(paragraphs: list[str], **fields: object) -> Item:
    defaults: dict[str, object] = {
        "source": "mirage",
        "feed_title": "Mirage.News",
        "title": "ESA Unveils Debris Tracking Plan",
        "authors": (),
        "via": "Mirage.News",
        "origin": "https://mirage.example/wire/1/",
        "link": "https://mirage.example/wire/1/",
        "published": T0 + timedelta(hours=2),
    }
    defaults.update(fields)
    return make_item(paragraphs, **defaults)  # type: ignore[arg-type]


def entries(*items: Item) -> dict[str, str]:
    """origin id → entry id, the items deduplicated as one batch."""
    sigs = [signature_of(item) for item in items]
    matches = assign_entries(sigs, StoryIndex(), lambda s: "entry:" + s.key)
    return {item.origin_id: str(matches[item.key].entry_id) for item in items}


def together(*items: Item) -> bool:
    return len(set(entries(*items).values())) == 1


def match_against(known: Item, new: Item) -> Match:
    return StoryIndex([(signature_of(known), "entry:known")]).match(signature_of(new))


# --- copies that must merge


def test_republished_copy_with_own_headline_caption_and_swapped_paragraphs_merges() -> None:
    caption = "Commissioner Søren Haddad meets with Head of Research Mark Mensah"
    body = [RELEASE[0], caption, RELEASE[2], RELEASE[1], RELEASE[3], RELEASE[4], ABOUT]
    assert together(ORIGINAL, republished(body))


def test_copy_with_its_own_first_paragraph_and_dropped_ending_merges() -> None:
    own = (
        "The Space Agency today announced a 450 million programme on space debris tracking, "
        "following talks in Paris between Commissioner Søren Haddad and Mark Mensah."
    )
    copy = republished([own, RELEASE[1], RELEASE[2], RELEASE[3]])
    found = match_against(ORIGINAL, copy)
    assert found.entry_id == "entry:known"


def test_typographic_quotes_mojibake_and_escaped_entities_do_not_hide_a_copy() -> None:
    mangled = [
        RELEASE[0].encode("utf-8").decode("cp1252"),  # "SÃ¸ren Haddad"
        RELEASE[1],
        RELEASE[2],
        RELEASE[3].replace('"', "“", 1).replace('"', "”").replace("optional;", "optional&#59;"),
        RELEASE[4],
        ABOUT.replace("and", "&amp;"),
    ]
    found = match_against(ORIGINAL, republished(mangled))
    assert found.entry_id == "entry:known"


def test_identical_text_from_a_seed_file_has_the_same_fingerprint() -> None:
    seed = make_item(RELEASE, source="seeds", origin="abc.txt", via="Mirage.News")
    found = match_against(ORIGINAL, seed)
    assert (found.entry_id, found.reason) == ("entry:known", "same fingerprint")


def test_the_same_canonical_link_merges_whatever_the_text() -> None:
    edited = make_item(["A corrected release, rewritten from scratch."], link=ORIGINAL.link)
    assert match_against(ORIGINAL, edited).reason == "same link"


def test_truncated_teaser_joins_the_release_it_was_cut_from() -> None:
    teaser = make_item(
        [" ".join(RELEASE[0].split()[:16]) + "…"],
        source="digest",
        origin="d1",
        link="https://digest.example/item/1",
        authors=("Daily Digest",),
    )
    found = match_against(ORIGINAL, teaser)
    assert found.entry_id == "entry:known"
    assert found.reason.startswith("teaser contained")


@pytest.mark.parametrize("teaser_first", [False, True])
def test_read_more_link_joins_the_full_item_in_either_order(teaser_first: bool) -> None:
    teaser = make_item(
        ["Our pick of the day from the Space Agency."],
        source="digest",
        origin="d2",
        link="https://digest.example/item/2",
        readmore=ORIGINAL.link,
        authors=("Daily Digest",),
    )
    known, new = (teaser, ORIGINAL) if teaser_first else (ORIGINAL, teaser)
    found = match_against(known, new)
    assert found.entry_id == "entry:known"
    assert "read-more" in found.reason


# --- different stories that must stay apart


def test_follow_up_release_with_the_same_people_opening_and_boilerplate_stays_apart() -> None:
    follow_up = make_item(FOLLOW_UP, origin="2", link="https://space.example/news/follow-up")
    assert match_against(ORIGINAL, follow_up).entry_id is None


def test_releases_sharing_only_the_about_us_paragraph_stay_apart() -> None:
    other = make_item(
        [
            "The Space Agency opened a new ground station in Lisbon on Monday (5 October).",
            "Chief Scientist Amara Ivanova said the station would track 40 satellites a day.",
            ABOUT,
        ],
        origin="3",
        link="https://space.example/news/station",
        title="Space Agency opens ground station",
    )
    assert match_against(ORIGINAL, other).entry_id is None


def test_the_same_headline_on_a_different_story_does_not_merge() -> None:
    other = make_item(
        [
            "A new agreement on space debris tracking was signed in Oslo on Friday (9 October) "
            "by the Space Agency and partners led by Nadia Rutte.",
            "Local authorities in Oslo welcomed the decision and pledged 8 additional sites.",
        ],
        origin="4",
        link="https://space.example/news/oslo",
    )
    assert other.title == ORIGINAL.title
    assert match_against(ORIGINAL, other).entry_id is None


def test_two_organisations_describing_the_same_meeting_in_their_own_words_stay_apart() -> None:
    theirs = make_item(
        [
            "Talks in Paris between Commissioner Søren Haddad and Head of Research Mark Mensah on "
            "Thursday ended with new commitments on space debris tracking.",
            "Mark Mensah said the Research Council would fund 12 projects on astronaut training.",
            "The council will publish further details on the lunar gateway in November.",
        ],
        source="research-council",
        feed_title="Research Council",
        origin="rc1",
        link="https://council.example/news/paris",
        authors=("Research Council",),
        title="Research Council welcomes Paris talks",
    )
    assert match_against(ORIGINAL, theirs).entry_id is None


def test_a_teaser_of_a_follow_up_is_not_taken_for_the_first_release() -> None:
    # The teaser's one sentence differs from the original's in its last words only.
    teaser = make_item(
        [RELEASE[0].replace("astronaut training", "launch services")],
        source="digest",
        origin="d3",
        link="https://digest.example/item/3",
        authors=("Daily Digest",),
    )
    assert match_against(ORIGINAL, teaser).entry_id is None


def test_a_teaser_that_fits_two_stories_equally_starts_its_own() -> None:
    follow_up = make_item(
        FOLLOW_UP, origin="2", link="https://space.example/news/f", title="Statement on debris"
    )
    teaser = make_item(
        [RELEASE[0]],
        source="digest",
        origin="d4",
        link="https://digest.example/item/4",
        authors=("Daily Digest",),
        title="Daily digest: space",
    )
    index = StoryIndex([(signature_of(ORIGINAL), "entry:a"), (signature_of(follow_up), "entry:b")])
    found = index.match(signature_of(teaser))
    assert found.entry_id is None
    assert "ambiguous" in found.reason


# --- short teasers: an unbroken passage, then headline and date as tie-breakers


def digest_teaser(words: int, *, mark: str = "…", **fields: object) -> Item:
    """A digest's teaser: the release's first `words` words and a truncation mark (the
    word before the mark counts as cut, so `words` - 1 of them are evidence)."""
    defaults: dict[str, object] = {
        "source": "digest",
        "origin": f"d-{words}",
        "link": f"https://digest.example/item/{words}",
        "authors": ("Daily Digest",),
        "title": "Daily digest",
        "published": T0 + timedelta(hours=3),
    }
    defaults.update(fields)
    text = " ".join(RELEASE[0].split()[:words]) + mark
    return make_item([text], **defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize("mark", ["…", "...", " […]"])
def test_a_teaser_too_short_for_containment_joins_as_an_unbroken_passage(mark: str) -> None:
    teaser = digest_teaser(12, mark=mark)  # 11 words: 7 shingles, below containment's 10
    assert signature_of(teaser).length < dedupe.MIN_CONTAINED_SHINGLES + dedupe.SHINGLE_SIZE
    found = match_against(ORIGINAL, teaser)
    assert found.entry_id == "entry:known"
    assert "passage" in found.reason


def test_a_teaser_that_came_first_is_found_by_its_release() -> None:
    found = match_against(digest_teaser(12), ORIGINAL)
    assert found.entry_id == "entry:known"
    assert found.reason.startswith("item is a passage")


def test_a_teaser_shorter_than_min_run_words_stays_apart() -> None:
    teaser = digest_teaser(dedupe.MIN_RUN_WORDS)  # one word short once the cut word goes
    assert match_against(ORIGINAL, teaser).entry_id is None


def test_the_same_words_out_of_order_are_no_passage() -> None:
    words = RELEASE[0].split()[:14]
    shuffled = make_item(
        [" ".join(words[7:] + words[:7]) + "…"], source="digest", origin="d-x", link=None
    )
    assert match_against(ORIGINAL, shuffled).entry_id is None


def two_stories_opening_alike(follow_up_after: timedelta) -> StoryIndex:
    follow_up = make_item(
        FOLLOW_UP,
        origin="2",
        link="https://space.example/news/f",
        title="Statement on debris",
        published=T0 + follow_up_after,
    )
    return StoryIndex([(signature_of(ORIGINAL), "entry:a"), (signature_of(follow_up), "entry:b")])


def test_a_teaser_fitting_two_stories_joins_the_only_one_published_within_days() -> None:
    index = two_stories_opening_alike(timedelta(days=10))
    early = index.match(signature_of(digest_teaser(16)))
    assert early.entry_id == "entry:a"
    assert f"within {dedupe.COPY_DAYS:g} days" in early.reason
    late = digest_teaser(16, published=T0 + timedelta(days=10, hours=2))
    assert index.match(signature_of(late)).entry_id == "entry:b"


def test_a_teaser_fitting_two_stories_published_days_apart_still_refuses_to_guess() -> None:
    index = two_stories_opening_alike(timedelta(days=1))  # a follow-up the next day
    found = index.match(signature_of(digest_teaser(16)))
    assert found.entry_id is None
    assert "ambiguous" in found.reason


@pytest.mark.parametrize("rule", ["mtime", "first-seen"])
def test_an_untrusted_date_breaks_no_tie(rule: str) -> None:
    index = two_stories_opening_alike(timedelta(days=10))
    teaser = digest_teaser(16, date_rule=rule)
    assert not signature_of(teaser).dated
    assert index.match(signature_of(teaser)).entry_id is None


def test_a_teaser_is_no_near_duplicate_of_another_stories_teaser() -> None:
    # The follow-up's own teaser (from another digest) is in the index; a new teaser, cut
    # a word later, is near-identical to it (Jaccard > 0.5) but fits the first release
    # just as well.
    follow_up_teaser = digest_teaser(
        15,
        source="other-digest",
        origin="d-f",
        link="https://digest.example/f",
        title="Statement on debris",
    )
    index = StoryIndex(
        [(signature_of(ORIGINAL), "entry:a"), (signature_of(follow_up_teaser), "entry:b")]
    )
    found = index.match(signature_of(digest_teaser(16)))
    assert found.entry_id is None
    assert "ambiguous" in found.reason


def test_a_teaser_with_a_read_more_link_counts_as_truncated() -> None:
    teaser = make_item(
        [RELEASE[0]], source="digest", origin="d-r", readmore="https://elsewhere.example/x"
    )
    assert signature_of(teaser).truncated
    assert not signature_of(ORIGINAL).truncated


# --- batches, representatives, serialisation


def test_batch_order_does_not_change_the_entries() -> None:
    teaser = make_item(
        [RELEASE[0]], source="digest", origin="d5", link="https://digest.example/item/5"
    )
    # Opened differently, so that the teaser fits the first release only.
    follow_up = make_item(FOLLOW_UP[1:], origin="2", link="https://space.example/news/f2")
    items = [teaser, republished(RELEASE[:5]), ORIGINAL, follow_up]
    forward = entries(*items)
    backward = entries(*reversed(items))
    assert forward == backward
    assert forward["d5"] == forward["1"] == forward["https://mirage.example/wire/1/"]
    assert forward["2"] != forward["1"]


def test_assign_entries_gives_each_new_story_the_callers_entry_id() -> None:
    sigs = [signature_of(ORIGINAL), signature_of(republished(RELEASE))]
    matches = assign_entries(sigs, StoryIndex(), lambda s: "entry:" + s.key)
    first = matches[ORIGINAL.key]
    assert (first.entry_id, first.reason) == ("entry:" + ORIGINAL.key, "new story")
    assert matches[sigs[1].key].entry_id == first.entry_id


def test_representative_is_the_organisations_own_item_even_when_a_copy_came_first() -> None:
    early_copy = republished(RELEASE, published=T0 - timedelta(hours=5))
    seed = make_item(RELEASE, source="seeds", feed_title=None, origin="a.txt", via="Mirage.News")
    assert dedupe.choose_representative([early_copy, seed, ORIGINAL]) is ORIGINAL


def test_representative_without_an_own_item_is_the_earliest_then_by_key() -> None:
    first = republished(RELEASE, published=T0)
    second = republished(RELEASE, origin="x", source="wire", published=T0 + timedelta(hours=1))
    assert dedupe.choose_representative([second, first]) is first
    same_time = republished(RELEASE, origin="y", source="wire", published=T0)
    expected = min((first, same_time), key=lambda i: i.key)
    assert dedupe.choose_representative([same_time, first]) is expected


def test_signature_survives_a_json_round_trip() -> None:
    sig = signature_of(republished(RELEASE, readmore="https://space.example/news/debris"))
    assert Signature.from_json(sig.to_json()) == sig


def test_a_signature_is_serialised_once_and_a_changed_copy_afresh() -> None:
    sig = signature_of(republished(RELEASE))
    text = sig.to_json()
    assert sig.to_json() is text  # made once: storing under the lock only reads it
    other = replace(sig, title="another headline")
    assert json.loads(other.to_json())["title"] == "another headline"
    assert json.loads(text)["title"] != "another headline"


def test_a_version_1_signature_still_loads_as_untruncated_and_undated() -> None:
    stored = json.loads(signature_of(digest_teaser(16)).to_json())
    for name in ("truncated", "dated"):
        del stored[name]
    stored["v"] = 1
    old = Signature.from_json(json.dumps(stored))
    assert (old.truncated, old.dated, old.version) == (False, False, 1)
    assert StoryIndex([(signature_of(ORIGINAL), "entry:a")]).match(old).entry_id == "entry:a"


def test_a_restored_index_matches_like_the_live_one() -> None:
    stored = [(Signature.from_json(signature_of(ORIGINAL).to_json()), "entry:known")]
    found = StoryIndex(stored).match(signature_of(republished(RELEASE[:4])))
    assert found.entry_id == "entry:known"


# --- the labelled dev corpus


DEV = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"


@pytest.mark.skipif(not DEV.exists(), reason="the shared dev corpus is not on this machine")
def test_dev_corpus_pairwise_precision_and_recall() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import dedup_quality  # type: ignore[import-not-found]

    labelled = dedup_quality.ct.load_labelled(DEV)
    truth = {x.item.origin_id: x.story for x in labelled}
    precision, recall, _, _ = dedup_quality.score(truth, dedup_quality.ours(labelled))
    assert precision >= 0.99
    assert recall >= 0.97


# --- real feeds: shared links, one source's items, templates, close calls, repairs

INDEX_PAGE = "https://council.example/news"
COUNCIL_TEXTS = [
    ["The council will close the aquatic centre for three weeks while a cracked filtration "
     "tank is replaced by engineers from a supplier in the region."],
    ["Council crews are clearing fallen trees from Ridge Road after the storm brought down "
     "more than forty trees across the northern part of the shire."],
    ["Forty-eight residents from fifteen countries became citizens at a ceremony in the "
     "memorial hall on Thursday evening, welcomed by the mayor."],
]  # fmt: skip


def council_item(n: int, **fields: object) -> Item:
    defaults: dict[str, object] = {
        "source": "council",
        "origin": f"council-{n}",
        "link": INDEX_PAGE,
        "title": "Media statement",
        "authors": ("Shire Council",),
    }
    defaults.update(fields)
    return make_item(COUNCIL_TEXTS[n], **defaults)  # type: ignore[arg-type]


def test_items_of_one_source_sharing_an_index_link_stay_apart() -> None:
    found = entries(*(council_item(n) for n in range(3)))
    assert len(set(found.values())) == 3


def test_a_link_one_source_gives_several_items_is_learned_as_shared() -> None:
    sigs = [signature_of(council_item(n)) for n in range(2)]
    assert dedupe.shared_links(dedupe.link_uses(sigs)) == {INDEX_PAGE}
    # A repost (a new guid, the same text) does not make a link shared.
    repost = signature_of(council_item(0, origin="council-9"))
    assert dedupe.shared_links(dedupe.link_uses([sigs[0], repost])) == set()


def test_a_copy_linking_to_a_shared_page_joins_on_its_text_not_the_link() -> None:
    index = StoryIndex(
        [(signature_of(council_item(n)), f"entry:{n}") for n in range(3)], shared={INDEX_PAGE}
    )
    copy = make_item(
        COUNCIL_TEXTS[1], source="wire", origin="w1", link=INDEX_PAGE, title="Storm clean-up"
    )
    found = index.match(signature_of(copy))
    assert found.entry_id == "entry:1"
    assert found.reason != "same link"


def test_a_read_more_link_to_a_shared_page_falls_back_on_the_text() -> None:
    index = StoryIndex(
        [(signature_of(council_item(n)), f"entry:{n}") for n in range(3)], shared={INDEX_PAGE}
    )
    teaser = make_item(
        [" ".join(COUNCIL_TEXTS[2][0].split()[:14]) + "…"],
        source="digest",
        origin="d1",
        link="https://digest.example/day#citizens",
        readmore=INDEX_PAGE,
    )
    assert index.match(signature_of(teaser)).entry_id == "entry:2"


def test_links_to_fragments_of_one_page_are_different_items() -> None:
    # A digest without guids: each item's id is its link.
    a, b = "https://d.example/p#a", "https://d.example/p#b"
    first = make_item(COUNCIL_TEXTS[0], source="digest", origin=a, link=a)
    second = make_item(COUNCIL_TEXTS[1], source="digest", origin=b, link=b)
    assert first.key != second.key
    assert not together(first, second)


def test_two_items_of_one_source_are_two_stories_unless_the_text_is_the_same() -> None:
    week = RELEASE[1:]
    first = make_item(week, origin="w-1", link="https://space.example/a")
    # Another guid, nearly the same text (one added sentence): another release.
    second = make_item([*week, "A new sentence in this week's release only."], origin="w-2",
                       link="https://space.example/b")  # fmt: skip
    assert not together(first, second)
    found = StoryIndex([(signature_of(first), "entry:1")]).match(signature_of(second))
    assert "same source" in found.candidates[0].verdict
    repost = make_item(week, origin="w-3", link="https://space.example/c")
    assert together(first, repost)


def weekly_report(total: str, kestrel: str, usage: str, **fields: object) -> Item:
    paragraphs = [
        f"Storage across the region's dams is at {total} per cent of capacity this week, "
        "the Water Authority said on Wednesday.",
        f"Kestrel Dam holds {kestrel} per cent and customers used an average of {usage} "
        "litres per person per day, against the target of 170 litres.",
        "The Authority reminds customers that permanent water saving rules apply all year: "
        "hand-held hoses with a trigger nozzle may be used at any time.",
        "Storage levels are published every week on the Authority's website, together with "
        "the rainfall recorded at each dam and the outlook for the coming month.",
    ]
    defaults: dict[str, object] = {"title": "Weekly water storage update",
                                   "authors": ("Water Authority",)}  # fmt: skip
    defaults.update(fields)
    return make_item(paragraphs, **defaults)  # type: ignore[arg-type]


def test_reports_from_one_template_with_other_figures_are_other_stories() -> None:
    # Saved as seed documents, each its own publisher: only the figures tell them apart.
    week1 = weekly_report("68.4", "66.9", "182", source="seeds", origin="w1.txt")
    week2 = weekly_report("69.1", "67.5", "178", source="seeds", origin="w2.txt")
    assert not together(week1, week2)
    found = StoryIndex([(signature_of(week1), "entry:1")]).match(signature_of(week2))
    assert found.entry_id is None
    assert "figures differ" in found.candidates[0].verdict
    # A copy of week 2 that dropped a paragraph still joins week 2, not week 1.
    copy = make_item(
        weekly_report("69.1", "67.5", "178").text.split("\n\n")[:3],
        source="wire",
        origin="c2",
        title="Dams rise",
    )
    found = entries(week1, week2, copy)
    assert found["c2"] == found["w2.txt"] != found["w1.txt"]


def test_a_close_call_between_two_stories_stays_apart_and_says_so() -> None:
    a = make_item(RELEASE, source="one", origin="a", link="https://one.example/a")
    b = make_item(RELEASE[:-1], source="two", origin="b", link="https://two.example/b")
    index = StoryIndex([(signature_of(a), "entry:a"), (signature_of(b), "entry:b")])
    copy = republished([*RELEASE[:-1], RELEASE[-1][:120]])
    found = index.match(signature_of(copy))
    assert found.entry_id is None
    assert "close call" in found.reason
    assert {c.entry_id for c in found.candidates} >= {"entry:a", "entry:b"}


def test_constraints_keep_an_item_out_of_a_story_and_pin_another_into_one() -> None:
    copy = republished(RELEASE)
    apart = dedupe.Constraints(apart={copy.key: frozenset({"entry:known"})})
    index = StoryIndex([(signature_of(ORIGINAL), "entry:known")], constraints=apart)
    found = index.match(signature_of(copy))
    assert found.entry_id is None
    assert "operator" in found.candidates[0].verdict
    pinned = dedupe.Constraints(together={"unrelated": "entry:known"})
    other = make_item(["Nothing in common with the release at all, really."], origin="unrelated")
    other = replace(other, key="unrelated")
    index = StoryIndex([(signature_of(ORIGINAL), "entry:known")], constraints=pinned)
    assert index.match(signature_of(other)).entry_id == "entry:known"


def test_an_older_signature_without_figures_still_loads_and_matches() -> None:
    data = json.loads(signature_of(ORIGINAL).to_json())
    for name in ("unit", "figures", "shapes"):
        del data[name]
    data["v"] = 2
    old = Signature.from_json(json.dumps(data))
    assert old.publisher == "space-agency" and old.figures == b""
    found = StoryIndex([(old, "entry:old")]).match(signature_of(republished(RELEASE[:4])))
    assert found.entry_id == "entry:old"
