"""Merging on the shapes real publishers produce, and repairing it, through the real CLI.

The corpus (`tests/data/realistic`, written by its `make.py`) has a council feed whose
items all link to its news index page, weekly reports from one template, a digest
linking to #fragments of one page, several different stories titled "Media statement",
a joint statement of two organisations, a republisher with its own headlines and
tracking links, Markdown and text seeds, and a notice corrected in place between two
runs (`before/` is the first run's folder).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from lxml import etree
from test_cli_run import ATOM, aggregator

CORPUS = Path(__file__).resolve().parent / "data" / "realistic"
LABELS = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
STORY_OF = {item["key"]: item["story"] for item in LABELS["items"]}


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus run twice, as a schedule would: its earlier state, then its final one."""
    work = tmp_path_factory.mktemp("realistic")
    for state in ("before", "seeds"):
        shutil.rmtree(work / "seeds", ignore_errors=True)
        shutil.copytree(CORPUS / state, work / "seeds")
        aggregator("run", cwd=work)
    return work


def export(workdir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in aggregator("export", cwd=workdir).stdout.splitlines()]


def stories_by_entry(records: list[dict[str, object]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for record in records:
        found[str(record["entry_id"])].add(STORY_OF[str(record["origin_id"])])
    return found


def published(workdir: Path) -> list[etree._Element]:
    root = etree.fromstring((workdir / "feeds" / "index.atom").read_bytes())
    return root.findall(f"{ATOM}entry")


def entry_titled(workdir: Path, title: str) -> list[etree._Element]:
    return [e for e in published(workdir) if e.findtext(f"{ATOM}title") == title]


def test_every_story_is_one_entry_and_every_entry_one_story(merged: Path) -> None:
    records = export(merged)
    assert {str(r["origin_id"]) for r in records} == set(STORY_OF)
    by_entry = stories_by_entry(records)
    wrong = {entry: stories for entry, stories in by_entry.items() if len(stories) > 1}
    assert wrong == {}, f"entries holding several stories: {wrong}"
    entries_of_story: dict[str, set[str]] = defaultdict(set)
    for record in records:
        entries_of_story[STORY_OF[str(record["origin_id"])]].add(str(record["entry_id"]))
    missed = {story: ids for story, ids in entries_of_story.items() if len(ids) > 1}
    assert missed == {}, f"stories split over several entries: {missed}"
    assert len(published(merged)) == len(LABELS["stories"])


def test_items_sharing_the_council_index_link_stay_distinct_and_whole(merged: Path) -> None:
    council = [r for r in export(merged) if str(r["origin_id"]).startswith("lakeside-news-")]
    assert len(council) == 6
    assert len({r["entry_id"] for r in council}) == 6
    # No stitched entry: the budget's headline is shown over the budget's own text.
    (budget,) = entry_titled(merged, "Council adopts 2027 budget")
    content = budget.findtext(f"{ATOM}content") or ""
    assert "$14.6 million" in content
    assert "Aquatic Centre" not in content and "Ridge Road" not in content


NO_GUID_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Shire of Lakeside news</title>
<link>https://lakeside.example/</link>{items}</channel></rss>"""
NO_GUID_ITEM = """<item><title>{title}</title><link>https://lakeside.example/news</link>
<description>{text}</description><pubDate>{day} Dec 2026 09:00:00 +0000</pubDate></item>"""
NO_GUID_STORIES = [
    ("Road closure on Ridge Road", "Ridge Road will be closed between Main Street and the "
     "bridge from Monday for drainage works lasting two weeks, the council said."),
    ("Library extends opening hours", "The Lakeside library will open until 8pm on weekdays "
     "from December, after residents asked for later hours in the survey."),
    ("Green waste collection resumes", "Fortnightly green waste collection resumes next week "
     "in every ward, with the first bins collected on Tuesday morning."),
]  # fmt: skip


def write_no_guid_feed(seeds: Path, stories: list[tuple[str, str]]) -> None:
    items = "".join(
        NO_GUID_ITEM.format(title=title, text=text, day=f"0{n + 1}")
        for n, (title, text) in enumerate(stories)
    )
    seeds.mkdir(exist_ok=True)
    (seeds / "lakeside.rss.xml").write_text(NO_GUID_FEED.format(items=items), encoding="utf-8")


def test_items_without_ids_sharing_one_link_are_each_published(tmp_path: Path) -> None:
    """A feed without guids whose items all link to its news page: every story is kept
    (the link cannot be an item's identity), a repeated item stays one, and a later item
    under the same link adds an entry without disturbing the others."""
    write_no_guid_feed(tmp_path / "seeds", NO_GUID_STORIES[:2] + NO_GUID_STORIES[:1])
    aggregator("run", cwd=tmp_path)
    first = {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}id") for e in published(tmp_path)}
    assert sorted(first) == sorted(title for title, _ in NO_GUID_STORIES[:2])

    write_no_guid_feed(tmp_path / "seeds", NO_GUID_STORIES)
    aggregator("run", cwd=tmp_path)
    second = {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}id") for e in published(tmp_path)}
    assert sorted(second) == sorted(title for title, _ in NO_GUID_STORIES)
    assert {title: second[title] for title in first} == first


def test_same_titled_statements_are_different_stories(merged: Path) -> None:
    statements = entry_titled(merged, "Media statement")
    assert len(statements) == 4  # pool, storm, desalination plant, hospital ward
    texts = {e.findtext(f"{ATOM}content") for e in statements}
    assert len(texts) == 4


def test_digest_items_linking_to_fragments_of_one_page_stay_apart(merged: Path) -> None:
    digest = [r for r in export(merged) if "roundup.example" in str(r["origin_link"])]
    assert {str(r["origin_link"]).rsplit("#", 1)[1] for r in digest} == {
        "desal", "library", "budget", "week4", "ward",
    }  # fmt: skip
    assert len({r["entry_id"] for r in digest}) == len(digest)


def test_weekly_reports_from_one_template_stay_apart(merged: Path) -> None:
    reports = entry_titled(merged, "Weekly water storage update")
    assert len(reports) == 4
    figures = sorted(
        next(
            f for f in ("68.4", "69.1", "70.6", "71.2") if f in (e.findtext(f"{ATOM}content") or "")
        )
        for e in reports
    )
    assert figures == ["68.4", "69.1", "70.6", "71.2"]


def test_a_correction_replaces_the_item_and_its_copies_stay_with_it(merged: Path) -> None:
    (notice,) = entry_titled(merged, "Boil water notice for Eastfield")
    content = notice.findtext(f"{ATOM}content") or ""
    assert "Sunday 6 December" in content and "Friday 4 December" not in content
    vias = {link.get("title") for link in notice.findall(f"{ATOM}link[@rel='via']")}
    assert vias == {"Newswire Australia", "Seed documents"}


def test_explain_shows_the_candidates_and_the_rule(merged: Path) -> None:
    copy = "https://newswire.example/releases/9121"  # the newswire's copy of week 3
    text = aggregator("explain", copy, cwd=merged).stdout
    assert "near-duplicate" in text
    assert "candidate:" in text
    assert "figures differ" in text  # the other weeks, refused on their figures
    (record,) = json.loads(aggregator("explain", "--json", copy, cwd=merged).stdout)
    assert record["rule"].startswith("near-duplicate")
    assert any("figures differ" in c["verdict"] for c in record["candidates"])


# -- repairs ------------------------------------------------------------------------------


@pytest.fixture
def workdir(merged: Path, tmp_path: Path) -> Path:
    """A copy of the merged corpus that a test may repair."""
    shutil.copytree(merged, tmp_path, dirs_exist_ok=True)
    return tmp_path


def entry_of(workdir: Path, origin_id: str) -> str:
    return next(str(r["entry_id"]) for r in export(workdir) if r["origin_id"] == origin_id)


POOL, STORM, STORM_COPY = (
    "lakeside-news-4410",
    "lakeside-news-4411",
    "media-statement-ridge-road.txt",
)


def test_join_survives_reruns_and_undo_reverts_it(workdir: Path) -> None:
    before = len(published(workdir))
    out = json.loads(aggregator("join", "--json", POOL, STORM, cwd=workdir).stdout)
    assert out[0]["decision"] == 1
    assert entry_of(workdir, STORM) == entry_of(workdir, POOL)
    assert entry_of(workdir, STORM_COPY) == entry_of(workdir, POOL)  # the whole story moved
    assert len(published(workdir)) == before - 1
    aggregator("run", cwd=workdir)
    assert entry_of(workdir, STORM) == entry_of(workdir, POOL)
    listed = aggregator("decisions", cwd=workdir).stdout
    assert "#1 join" in listed and "active" in listed
    aggregator("undo", "1", cwd=workdir)
    assert entry_of(workdir, STORM) != entry_of(workdir, POOL)
    assert entry_of(workdir, STORM) == entry_of(workdir, STORM_COPY)
    assert len(published(workdir)) == before
    (decision,) = json.loads(aggregator("decisions", "--json", cwd=workdir).stdout)
    assert decision["undone"] is not None


def test_split_items_find_their_right_story_again(workdir: Path) -> None:
    pool_entry = entry_of(workdir, POOL)
    aggregator("join", POOL, STORM, cwd=workdir)  # a wrong merge: two stories in one
    aggregator("split", STORM, cwd=workdir)
    # The storm statement left; the pool story is whole, not in pieces.
    assert entry_of(workdir, POOL) == pool_entry
    out = json.loads(aggregator("split", "--json", STORM_COPY, cwd=workdir).stdout)
    # The copy finds the story it belongs to: the one the statement now stands in.
    assert entry_of(workdir, STORM_COPY) == entry_of(workdir, STORM) != pool_entry
    assert "near-duplicate" in out[0]["reason"] or "fingerprint" in out[0]["reason"]
    aggregator("run", cwd=workdir)  # decisions survive re-runs
    assert entry_of(workdir, STORM_COPY) == entry_of(workdir, STORM) != entry_of(workdir, POOL)
    explained = aggregator("explain", STORM_COPY, cwd=workdir).stdout
    assert "decision: #3 split" in explained


def test_a_split_item_that_fits_no_other_story_stands_alone_until_undone(workdir: Path) -> None:
    storm_entry = entry_of(workdir, STORM)
    text = aggregator("split", STORM_COPY, cwd=workdir).stdout
    assert "stands alone" in text
    assert entry_of(workdir, STORM_COPY) != storm_entry
    aggregator("run", "--all", cwd=workdir)
    assert entry_of(workdir, STORM_COPY) != storm_entry
    aggregator("undo", "1", cwd=workdir)
    assert entry_of(workdir, STORM_COPY) == storm_entry


def test_repair_mistakes_get_clear_messages(workdir: Path) -> None:
    for args, message in (
        (("undo", "99"), "no decision 99"),
        (("join", STORM, STORM_COPY), "already one story"),
        (("split", "no-such-item"), "no stored item matches 'no-such-item'"),
        (("split", POOL), "alone in its story"),
    ):
        result = aggregator(*args, cwd=workdir, check=False)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    aggregator("join", POOL, STORM, cwd=workdir)
    aggregator("undo", "1", cwd=workdir)
    again = aggregator("undo", "1", cwd=workdir, check=False)
    assert again.returncode == 1 and "already undone" in again.stderr


def test_always_merge_in_the_config_joins_stored_items(workdir: Path) -> None:
    config = workdir / "aggregator.toml"
    config.write_text(f'[dedupe]\nalways_merge = [["{POOL}", "{STORM}"]]\n', encoding="utf-8")
    aggregator("run", cwd=workdir)
    assert entry_of(workdir, POOL) == entry_of(workdir, STORM)
    config.write_text('[dedupe]\nalways_merge = ["just-one"]\n', encoding="utf-8")
    bad = aggregator("run", cwd=workdir, check=False)
    assert bad.returncode == 2 and "dedupe.always_merge" in bad.stderr


def test_a_lone_item_whose_text_grows_finds_its_story(tmp_path: Path) -> None:
    """A digest item too short to match anything (five words) is updated in place with
    the release's full text: it joins the release's story instead of standing apart."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(CORPUS / "seeds" / "riverside-water.atom", seeds)
    release = json.loads((CORPUS / "seeds" / "regional-roundup.json").read_text("utf-8"))
    water = (CORPUS / "seeds" / "riverside-water.atom").read_text("utf-8")
    desal = water[water.index("news/desal</id>") :]
    full = desal[desal.index("<content") : desal.index("</content>")].split(">", 1)[1]

    def digest(content: str) -> None:
        item = {"id": "https://roundup.example/x#desal", "url": "https://roundup.example/x#desal",
                "title": "Plant maintenance", "content_html": content,
                "date_published": "2026-12-02T18:00:00+11:00"}  # fmt: skip
        feed = {**release, "items": [item]}
        (seeds / "roundup.json").write_text(json.dumps(feed), encoding="utf-8")

    digest("<p>Desalination plant maintenance next week.</p>")
    aggregator("run", cwd=tmp_path)
    before = {str(r["origin_id"]): str(r["entry_id"]) for r in export(tmp_path)}
    org = "tag:riversidewater.example,2026:news/desal"
    assert before["https://roundup.example/x#desal"] != before[org]
    digest(full.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    aggregator("run", cwd=tmp_path)
    after = {str(r["origin_id"]): str(r["entry_id"]) for r in export(tmp_path)}
    assert after["https://roundup.example/x#desal"] == after[org]
    explained = aggregator("explain", "https://roundup.example/x#desal", cwd=tmp_path).stdout
    assert "its text changed, then" in explained
