"""publish_all: every output file, consistent with each other and stable across runs."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import listparser
import pytest
from lxml import etree
from test_publish_atom import ATOM, INFO, T0, make_attribution, make_entry, text

from aggregator.exceptions import PublishError
from aggregator.model import Entry, ViaLink
from aggregator.publish import SourceInfo, publish_all, write_atomically
from aggregator.publish.clean import entry_page_path

from atomcheck import validate_atom
from outputs import published_files

HISTORY = "{http://purl.org/syndication/history/1.0}"
BASE = INFO.base_url
AGENCY = SourceInfo(
    "agency",
    "https://agency.example/feed.xml",
    "Agency News",
    "https://agency.example/",
    ("Health",),
)
SEEDS = SourceInfo("seeds", "seeds/press", "Press releases", None, ("Health", "World News"))
SEED_SOURCE = make_attribution(
    "seeds", feed_url="seeds/press", feed_id="urn:aggregator:source:seeds", site_link=None
)


def monthly(n: int, **changes: Any) -> Entry:
    """Entry n published n*20 days after T0, so a handful of them span several months."""
    when = T0 + timedelta(days=20 * n)
    return make_entry(n, published=when, updated=when, **changes)


ENTRIES = [
    monthly(0),
    monthly(1, vias=(ViaLink(href="https://wire.example/1", title="Wire"),)),
    monthly(2, source=SEED_SOURCE, link=None),
    monthly(3),
    monthly(4, source=SEED_SOURCE),
]
# Our page of the entry that has no web address of its own.
SEED_PAGE = entry_page_path("urn:aggregator:entry:0002")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    report = publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS])
    assert report.warnings == ()
    return tmp_path


def atom_root(path: Path) -> etree._Element:
    return etree.fromstring(path.read_bytes())


def links(root: etree._Element) -> dict[str, str]:
    return {str(x.get("rel")): str(x.get("href")) for x in root.findall(f"{ATOM}link")}


def xs(element: etree._Element, path: str) -> str:
    """The string value of an XPath expression: the text or attribute it selects."""
    return str(element.xpath(f"string({path})"))


def entry_ids(path: Path) -> list[str]:
    return [text(e, f"{ATOM}id") for e in atom_root(path).findall(f"{ATOM}entry")]


def test_all_files_written(out: Path) -> None:
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "archive/2024-05.atom",
        "archive/2024-05.html",
        "archive/2024-06.atom",
        "archive/2024-06.html",
        "archive/2024-07.atom",
        "archive/2024-07.html",
        SEED_PAGE,
        "index.atom",
        "index.html",
        "index.json",
        "sources.html",
        "sources.opml",
        "sources/agency.atom",
        "sources/agency.html",
        "sources/seeds.atom",
        "sources/seeds.html",
        "tags/health.atom",
        "tags/health.html",
        "tags/world-news.atom",
        "tags/world-news.html",
    ]


def test_every_atom_file_is_valid(out: Path) -> None:
    for path in out.rglob("*.atom"):
        assert validate_atom(path.read_bytes()) == [], path


def test_per_source_and_per_tag_feeds_hold_the_right_entries(out: Path) -> None:
    assert entry_ids(out / "sources/seeds.atom") == [
        "urn:aggregator:entry:0004",
        "urn:aggregator:entry:0002",
    ]
    assert len(entry_ids(out / "sources/agency.atom")) == 3
    assert len(entry_ids(out / "tags/health.atom")) == 5
    assert entry_ids(out / "tags/world-news.atom") == entry_ids(out / "sources/seeds.atom")
    root = atom_root(out / "tags/world-news.atom")
    assert text(root, f"{ATOM}title") == "Aggregated news: World News"
    assert links(root)["self"] == BASE + "tags/world-news.atom"
    assert text(root, f"{ATOM}id") != INFO.id


def test_index_holds_the_newest_entries_only(tmp_path: Path) -> None:
    publish_all(tmp_path, replace(INFO, entries_per_feed=2), ENTRIES, [AGENCY, SEEDS])
    assert entry_ids(tmp_path / "index.atom") == [
        "urn:aggregator:entry:0004",
        "urn:aggregator:entry:0003",
    ]
    assert len(entry_ids(tmp_path / "sources/agency.atom")) == 2
    assert len(json.loads((tmp_path / "index.json").read_text())["items"]) == 2


def test_archives_are_chained_and_hold_the_whole_history(out: Path) -> None:
    months = ["2024-05", "2024-06", "2024-07"]
    index_links = links(atom_root(out / "index.atom"))
    assert index_links["prev-archive"] == BASE + "archive/2024-07.atom"
    archived: list[str] = []
    for i, month in enumerate(months):
        root = atom_root(out / f"archive/{month}.atom")
        assert root.find(f"{HISTORY}archive") is not None
        found = links(root)
        assert found["current"] == BASE + "index.atom"
        assert found["self"] == BASE + f"archive/{month}.atom"
        assert found.get("prev-archive") == (
            BASE + f"archive/{months[i - 1]}.atom" if i > 0 else None
        )
        assert found.get("next-archive") == (
            BASE + f"archive/{months[i + 1]}.atom" if i + 1 < len(months) else None
        )
        archived += entry_ids(out / f"archive/{month}.atom")
    assert sorted(archived) == sorted(e.id for e in ENTRIES)
    assert atom_root(out / "index.atom").find(f"{HISTORY}archive") is None


def test_walking_prev_archive_from_index_reaches_every_entry(out: Path) -> None:
    seen = set(entry_ids(out / "index.atom"))
    url = links(atom_root(out / "index.atom")).get("prev-archive")
    while url:
        path = out / url.removeprefix(BASE)
        seen |= set(entry_ids(path))
        url = links(atom_root(path)).get("prev-archive")
    assert seen == {e.id for e in ENTRIES}


def test_hub_link_on_every_atom_feed(tmp_path: Path) -> None:
    publish_all(tmp_path, replace(INFO, hub="https://hub.example/"), ENTRIES, [AGENCY, SEEDS])
    for path in tmp_path.rglob("*.atom"):
        assert links(atom_root(path))["hub"] == "https://hub.example/", path
    feed = json.loads((tmp_path / "index.json").read_text())
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]


def test_second_publish_changes_nothing(out: Path) -> None:
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*") if p.is_file()}
    for path in before:  # make any rewrite visible even on coarse-mtime filesystems
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in before}
    report = publish_all(out, INFO, list(reversed(ENTRIES)), [SEEDS, AGENCY])
    assert report.written == ()
    assert len(report.unchanged) == len(before)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_new_entry_rewrites_only_what_shows_it(out: Path) -> None:
    when = T0 + timedelta(days=85)  # an agency entry of 2024-07, tagged Health
    newer = make_entry(5, published=when, updated=when)
    report = publish_all(out, INFO, [*ENTRIES, newer], [AGENCY, SEEDS])
    assert set(report.written) == {
        "archive/2024-07.atom",
        "archive/2024-07.html",
        "sources/agency.atom",
        "sources/agency.html",
        "tags/health.atom",
        "tags/health.html",
        "index.atom",
        "index.json",
        "index.html",
    }
    assert "archive/2024-05.atom" in report.unchanged
    assert {"archive/2024-05.html", SEED_PAGE, "sources/seeds.html"} <= set(report.unchanged)


def test_a_new_month_links_the_previous_archive_forward(out: Path) -> None:
    report = publish_all(out, INFO, [*ENTRIES, monthly(5)], [AGENCY, SEEDS])
    assert {"archive/2024-08.atom", "archive/2024-07.atom"} <= set(report.written)
    assert links(atom_root(out / "archive/2024-07.atom"))["next-archive"] == (
        BASE + "archive/2024-08.atom"
    )
    assert links(atom_root(out / "index.atom"))["prev-archive"] == BASE + "archive/2024-08.atom"


def test_feeds_of_removed_sources_are_deleted(out: Path) -> None:
    report = publish_all(out, INFO, ENTRIES[:2], [AGENCY])
    assert set(report.removed) == {
        "sources/seeds.atom",
        "sources/seeds.html",
        "tags/world-news.atom",
        "tags/world-news.html",
        SEED_PAGE,
        # The HTML archive pages of months that have no entries any more (the Atom
        # archives of those months stay: nothing else removes them).
        "archive/2024-06.html",
        "archive/2024-07.html",
    }
    assert not (out / "sources/seeds.atom").exists()
    assert not (out / SEED_PAGE).exists()


def test_unlisted_source_of_an_entry_still_gets_its_feed(tmp_path: Path) -> None:
    report = publish_all(tmp_path, INFO, ENTRIES, [])
    assert "sources/seeds.atom" in report.written
    seed_entry = atom_root(tmp_path / "index.atom").find(f"{ATOM}entry")
    assert seed_entry is not None
    source_link = seed_entry.find(f"{ATOM}source/{ATOM}link")
    assert source_link is not None
    assert source_link.get("href") == BASE + "sources/seeds.atom"


def test_bad_items_are_reported_once_and_published(tmp_path: Path) -> None:
    bad = monthly(6, title="Bad\x00", link="javascript:x")
    report = publish_all(tmp_path, INFO, [*ENTRIES, bad], [AGENCY, SEEDS])
    assert len(report.warnings) == 2
    assert "urn:aggregator:entry:0006" in entry_ids(tmp_path / "index.atom")


def test_source_and_tag_names_become_safe_file_names(tmp_path: Path) -> None:
    odd = SourceInfo("../../etc/passwd", "https://x.example/", "Odd", None, ("Ünïcode Tag", "日本"))
    publish_all(tmp_path, INFO, [], [odd])
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.atom"))
    assert names[0] == "index.atom"
    assert "sources/etc-passwd.atom" in names
    assert "tags/unicode-tag.atom" in names
    assert any(re.fullmatch(r"tags/x-[0-9a-f]{12}\.atom", n) for n in names)
    assert all(p.resolve().is_relative_to(tmp_path.resolve()) for p in tmp_path.rglob("*"))


def test_empty_publish_is_valid(tmp_path: Path) -> None:
    publish_all(tmp_path, INFO, [], [])
    assert validate_atom((tmp_path / "index.atom").read_bytes()) == []
    assert check_json_feed(json.loads((tmp_path / "index.json").read_text())) == []
    assert not (tmp_path / "archive").exists()


# --- JSON Feed ---------------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _check_authors(authors: Any, where: str) -> list[str]:
    if not isinstance(authors, list):
        return [f"{where}: authors is not an array"]
    return [
        f"{where}: author {a!r} has none of name, url, avatar"
        for a in authors
        if not (
            isinstance(a, dict)
            and any(isinstance(a.get(k), str) for k in ("name", "url", "avatar"))
        )
    ]


def _check_item(item: Any, index: int) -> list[str]:
    where = f"items[{index}]"
    if not isinstance(item, dict):
        return [f"{where}: not an object"]
    problems = []
    if not isinstance(item.get("id"), str) or not item["id"]:
        problems.append(f"{where}: id must be a non-empty string")
    if not any(isinstance(item.get(k), str) for k in ("content_html", "content_text")):
        problems.append(f"{where}: needs content_html or content_text")
    for key in ("url", "external_url", "title", "summary", "image"):
        if key in item and not isinstance(item[key], str):
            problems.append(f"{where}: {key} must be a string")
    for key in ("date_published", "date_modified"):
        if key in item and not _RFC3339.match(str(item[key])):
            problems.append(f"{where}: {key} is not RFC 3339")
    if "tags" in item and not all(isinstance(t, str) for t in item["tags"]):
        problems.append(f"{where}: tags must be strings")
    if "authors" in item:
        problems += _check_authors(item["authors"], where)
    return problems


def check_json_feed(feed: Any) -> list[str]:
    """The requirements of JSON Feed 1.1 (jsonfeed.org/version/1.1) a document can break."""
    if not isinstance(feed, dict):
        return ["top level is not an object"]
    problems = []
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append("version is not https://jsonfeed.org/version/1.1")
    if not isinstance(feed.get("title"), str):
        problems.append("title is required")
    for key in ("home_page_url", "feed_url", "description", "icon", "favicon", "language"):
        if key in feed and not isinstance(feed[key], str):
            problems.append(f"{key} must be a string")
    if "authors" in feed:
        problems += _check_authors(feed["authors"], "feed")
    items = feed.get("items")
    if not isinstance(items, list):
        return [*problems, "items is required and must be an array"]
    for i, item in enumerate(items):
        problems += _check_item(item, i)
    ids = [i.get("id") for i in items if isinstance(i, dict)]
    if len(ids) != len(set(ids)):
        problems.append("item ids are not unique")
    return problems


def test_json_feed_is_valid_and_attributed(out: Path) -> None:
    feed = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert check_json_feed(feed) == []
    assert feed["feed_url"] == BASE + "index.json"
    assert [i["id"] for i in feed["items"]] == entry_ids(out / "index.atom")
    by_id = {i["id"]: i for i in feed["items"]}
    one = by_id["urn:aggregator:entry:0001"]
    assert one["authors"] == [{"name": "Ministry of Examples"}]
    assert one["_aggregator"]["source"]["id"] == "agency"
    assert one["_aggregator"]["source"]["feed_id"] == "https://agency.example/feed.xml"
    assert one["_aggregator"]["via"] == [{"url": "https://wire.example/1", "title": "Wire"}]
    seed = by_id["urn:aggregator:entry:0002"]
    assert seed["url"] == BASE + SEED_PAGE  # our page of it: it has no web address
    assert seed["_aggregator"]["source"]["url"] == BASE + "sources/seeds.atom"


def test_json_feed_checker_catches_problems() -> None:
    assert check_json_feed(
        {"version": "1", "items": [{"id": 3}, {"id": "a", "content_text": "x"}]}
    ) == [
        "version is not https://jsonfeed.org/version/1.1",
        "title is required",
        "items[0]: id must be a non-empty string",
        "items[0]: needs content_html or content_text",
    ]


# --- OPML --------------------------------------------------------------------------------


def test_opml_lists_every_source(out: Path) -> None:
    parsed = listparser.parse((out / "sources.opml").read_bytes())
    assert not parsed.bozo
    feeds = {f.title: f for f in parsed.feeds}
    assert set(feeds) == {"Agency News", "Press releases"}
    assert feeds["Agency News"].url == "https://agency.example/feed.xml"
    assert feeds["Press releases"].url == BASE + "sources/seeds.atom"
    assert set(feeds["Press releases"].tags) == {"Health", "World News"}
    root = etree.fromstring((out / "sources.opml").read_bytes())
    assert xs(root, ".//outline[@title='Agency News']/@htmlUrl") == "https://agency.example/"


# --- atomic writes -----------------------------------------------------------------------


def test_write_atomically_replaces_and_skips_identical(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "feed.atom"
    assert write_atomically(target, b"one") is True
    assert write_atomically(target, b"one") is False
    assert write_atomically(target, b"two!") is True
    assert target.read_bytes() == b"two!"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in target.parent.iterdir()] == ["feed.atom"]  # no temp files left


def test_write_atomically_names_the_file_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "sources"
    blocker.write_bytes(b"a file where a directory should be")
    with pytest.raises(PublishError, match="sources"):
        write_atomically(blocker / "x.atom", b"data")


def test_feedparser_reads_every_feed(out: Path) -> None:
    for path in out.rglob("*.atom"):
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, path
        assert isinstance(parsed.feed.updated_parsed, tuple)


def test_published_times_are_not_the_time_of_the_run(out: Path) -> None:
    updated = text(atom_root(out / "index.atom"), f"{ATOM}updated")
    assert datetime.fromisoformat(updated) == T0 + timedelta(days=80)


def test_a_busy_month_is_split_into_archive_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from aggregator.publish import archive
    from aggregator.publish.clean import prepare_entries

    monkeypatch.setattr(archive, "ARCHIVE_PAGE_SIZE", 2)
    prepared, _ = prepare_entries([make_entry(n) for n in range(1, 6)], INFO.base_url)
    docs = archive.archive_documents(INFO, prepared)
    month = T0.strftime("%Y-%m")
    assert [d.path for d in docs] == [
        f"archive/{month}.atom",
        f"archive/{month}-2.atom",
        f"archive/{month}-3.atom",
    ]
    assert [[e.title for e in d.entries] for d in docs] == [
        ["Story number 2", "Story number 1"],
        ["Story number 4", "Story number 3"],
        ["Story number 5"],
    ]
    assert dict(docs[1].links)["prev-archive"] == f"archive/{month}.atom"
    assert dict(docs[1].links)["next-archive"] == f"archive/{month}-3.atom"
    assert archive.newest_archive_link(docs) == (("prev-archive", f"archive/{month}-3.atom"),)


# -- keys: a file whose content cannot have changed is not rendered again ---------------


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the Atom documents rendered from now on."""
    from aggregator.publish import site

    paths: list[str] = []
    real = site.atom_bytes

    def spy(info: Any, doc: Any) -> Any:
        paths.append(doc.path)
        return real(info, doc)

    monkeypatch.setattr(site, "atom_bytes", spy)
    return paths


def test_with_the_last_keys_only_changed_files_are_rendered_and_the_result_is_the_same(
    tmp_path: Path, rendered: list[str]
) -> None:
    first = publish_all(tmp_path / "a", INFO, ENTRIES, [AGENCY, SEEDS])
    when = T0 + timedelta(days=85)  # an agency entry of 2024-07, tagged Health
    entries = [*ENTRIES, make_entry(5, published=when, updated=when)]
    rendered.clear()
    report = publish_all(tmp_path / "a", INFO, entries, [AGENCY, SEEDS], previous=first.keys)
    assert sorted(rendered) == [
        "archive/2024-07.atom",
        "index.atom",
        "sources/agency.atom",
        "tags/health.atom",
    ]
    assert set(report.written) == {
        *rendered,
        "index.json",
        "index.html",
        "archive/2024-07.html",
        "sources/agency.html",
        "tags/health.html",
    }
    # Rendering only what changed gives exactly what rendering everything gives.
    publish_all(tmp_path / "b", INFO, entries, [AGENCY, SEEDS])
    assert published_files(tmp_path / "a") == published_files(tmp_path / "b")


def test_an_entry_edited_in_place_is_rendered_again(tmp_path: Path, rendered: list[str]) -> None:
    first = publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS])
    # Same id, same dates: only the text changed (a corrected typo).
    edited = replace(ENTRIES[0], item=replace(ENTRIES[0].item, title="Story number 0, corrected"))
    rendered.clear()
    publish_all(tmp_path, INFO, [edited, *ENTRIES[1:]], [AGENCY, SEEDS], previous=first.keys)
    assert "sources/agency.atom" in rendered
    assert "sources/seeds.atom" not in rendered
    assert "Story number 0, corrected" in (tmp_path / "sources/agency.atom").read_text()


def test_a_deleted_file_is_written_again_and_a_new_setting_renders_everything(
    tmp_path: Path, rendered: list[str]
) -> None:
    first = publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS])
    (tmp_path / "sources/seeds.atom").unlink()
    rendered.clear()
    second = publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS], previous=first.keys)
    assert rendered == ["sources/seeds.atom"]
    assert second.written == ("sources/seeds.atom",)
    assert second.keys == first.keys
    rendered.clear()
    retitled = replace(INFO, title="Another title")
    publish_all(tmp_path, retitled, ENTRIES, [AGENCY, SEEDS], previous=first.keys)
    assert sorted(rendered) == sorted(p for p in first.keys if p.endswith(".atom"))
    assert "Another title" in (tmp_path / "sources/seeds.atom").read_text()


# -- publishing in worker processes -----------------------------------------------------


@pytest.fixture
def in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish through forked workers however small the job (as for a large history)."""
    from aggregator.publish import site
    from aggregator.runtime import parallel

    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    monkeypatch.setattr(site, "PARALLEL_MIN_ENTRIES", 1)


def test_publishing_in_workers_writes_the_same_files_and_warnings(
    tmp_path: Path, in_workers: None
) -> None:
    from aggregator.publish import site

    bad = make_entry(9, title="Bad\x00 title")
    forked = publish_all(tmp_path / "forked", INFO, [*ENTRIES, bad], [AGENCY, SEEDS])
    site.PARALLEL_MIN_ENTRIES = 10**9  # in-process this time (restored by monkeypatch)
    serial = publish_all(tmp_path / "serial", INFO, [*ENTRIES, bad], [AGENCY, SEEDS])
    assert published_files(tmp_path / "forked") == published_files(tmp_path / "serial")
    assert forked.written == serial.written
    assert forked.warnings == serial.warnings != ()


def test_a_write_failing_in_a_worker_names_the_file(tmp_path: Path, in_workers: None) -> None:
    (tmp_path / "sources").write_text("a file where a folder must be")
    with pytest.raises(PublishError, match="sources/"):
        publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS])
    assert not (tmp_path / "index.atom").exists()  # the index comes last, after the failure


def test_temp_files_of_a_killed_write_are_swept_and_fresh_ones_kept(out: Path) -> None:
    old = out / "sources" / ".agency.atom.k3j2h1.tmp"
    fresh = out / "archive" / ".2024-05.atom.a1b2c3.tmp"
    for leftover in (old, fresh):
        leftover.write_bytes(b"<feed>half a feed")
    os.utime(old, (1_000_000_000, 1_000_000_000))  # 2001: long dead
    publish_all(out, INFO, ENTRIES, [AGENCY, SEEDS])
    assert not old.exists()
    assert fresh.exists()  # could be a write in progress
    assert (out / "sources" / "agency.atom").is_file()
