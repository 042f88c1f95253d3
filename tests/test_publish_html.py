"""The pages for people: a river grouped by day with full texts, older pages, a page per
source, tag and link-less entry; links between them that lead somewhere; accessible."""

from __future__ import annotations

import itertools
import posixpath
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from lxml import etree, html
from test_publish_atom import ATOM, INFO, T0, make_entry
from test_publish_site import AGENCY, ENTRIES, SEED_PAGE, SEEDS, monthly

from aggregator.model import ViaLink
from aggregator.publish import SourceInfo, publish_all
from aggregator.publish.clean import entry_slug

BASE = INFO.base_url


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    publish_all(folder, INFO, ENTRIES, [AGENCY, SEEDS])
    return folder


def page(path: Path) -> html.HtmlElement:
    return html.fromstring(path.read_bytes())


def xs(element: etree._Element, path: str) -> str:
    return " ".join(str(element.xpath(f"string({path})")).split())


def titles(element: html.HtmlElement) -> list[str]:
    return [xs(a, ".//h3") for a in element.iterfind(".//article")]


def html_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html") if not p.name.startswith("."))


def test_every_page_is_well_formed_with_autodiscovery(out: Path) -> None:
    for path in html_files(out):
        # Every tag closed where HTML requires it: the strict parser reports no errors.
        root = etree.fromstring(path.read_bytes(), etree.HTMLParser(recover=False))
        alternates = [
            (link.get("type"), link.get("href"))
            for link in root.iterfind(".//head/link[@rel='alternate']")
        ]
        assert ("application/atom+xml", BASE + "index.atom") in alternates, path
        assert ("application/feed+json", BASE + "index.json") in alternates, path
        assert root.find(".//head/meta[@name='viewport']") is not None
        # One inline script, nothing fetched: the page is whole without it.
        assert [s.get("src") for s in root.iter("script")] == [None], path
    feeds = page(out / "sources/agency.html").xpath("//head/link[@rel='alternate']/@href")
    assert feeds[0] == BASE + "sources/agency.atom"  # its own feed first


def test_the_index_is_a_river_grouped_by_day_with_full_texts_folded(out: Path) -> None:
    index = page(out / "index.html")
    days = index.findall(".//main/section")
    assert [xs(d, "h2") for d in days] == [
        "Saturday 20 July 2024",
        "Sunday 30 June 2024",
        "Monday 10 June 2024",
        "Tuesday 21 May 2024",
        "Wednesday 1 May 2024",
    ]
    assert [d.get("data-day") for d in days] == [
        "2024-07-20",
        "2024-06-30",
        "2024-06-10",
        "2024-05-21",
        "2024-05-01",
    ]
    assert titles(index) == [f"Story number {n}" for n in (4, 3, 2, 1, 0)]
    one = days[3].find(".//article")
    assert xs(one, ".//h3/a/@href") == "https://agency.example/news/1"
    # The summary shows; the full text is folded behind it.
    assert xs(one, "p[@class='summary']") == "Summary of story 1."
    details = one.find("details")
    assert details is not None and details.get("open") is None
    assert xs(details, "summary") == "Full text"
    assert xs(details, "div[@class='text']/p") == "Body of story 1."
    meta = xs(one, "p[@class='meta']")
    assert "Ministry of Examples" in meta
    assert "from Agency News" in meta
    assert xs(one, "p[@class='meta']//a/@href") == "sources/agency.html"
    # The credits: every other copy merged into the entry.
    assert [a.get("href") for a in one.iterfind(".//div[@class='copies']//a")] == [
        "https://wire.example/1"
    ]


def test_times_carry_the_instant_and_read_in_utc_without_script(out: Path) -> None:
    one = page(out / "index.html").find(f".//article[@id='e-{entry_slug(ENTRIES[1].id)}']")
    assert one is not None
    time = one.find(".//p[@class='meta']//time")
    assert time is not None
    assert time.get("datetime") == (T0 + timedelta(days=20)).isoformat()
    assert time.text == "12:00 UTC"
    assert time.get("data-local") is not None  # the script shows it in the reader's zone


def test_an_updated_entry_says_when_it_was_first_published(tmp_path: Path) -> None:
    later = T0 + timedelta(days=3, hours=5)
    publish_all(tmp_path, INFO, [make_entry(1, updated=later)], [AGENCY])
    meta = page(tmp_path / "index.html").find(".//p[@class='meta']")
    assert meta is not None
    assert [t.text for t in meta.iter("time")] == ["17:00 UTC", "2024-05-01 13:00 UTC"]
    assert "first published" in xs(meta, ".")


def test_an_entry_without_a_link_gets_a_page_of_ours_with_its_full_text(out: Path) -> None:
    # Issue 13: every output links the entry to our page of it, and that page exists.
    url = BASE + SEED_PAGE
    assert re.fullmatch(r"entries/[0-9a-f]{20}\.html", SEED_PAGE)
    entry = page(out / SEED_PAGE)
    assert xs(entry, ".//h1") == "Story number 2"
    assert xs(entry, ".//div[@class='text']") == "Body of story 2."
    assert entry.find(".//details") is None  # the whole text, not folded
    assert xs(entry, ".//p[@class='meta']//a/@href") == "../sources/seeds.html"
    assert xs(entry, ".//header//a/@href") == "../index.html"
    # The river links its title there (relative: the folder may be served anywhere).
    index = page(out / "index.html")
    hrefs = index.xpath("//article//h3/a/@href")
    assert SEED_PAGE in hrefs
    assert url in (out / "index.atom").read_text(encoding="utf-8")
    assert url in (out / "index.json").read_text(encoding="utf-8")


def test_the_page_of_an_entry_stays_while_it_does_and_goes_when_it_gets_a_link(
    out: Path,
) -> None:
    before = (out / SEED_PAGE).read_bytes()
    report = publish_all(out, INFO, [*ENTRIES, monthly(5)], [AGENCY, SEEDS])
    assert SEED_PAGE in report.unchanged
    assert (out / SEED_PAGE).read_bytes() == before
    linked = [replace(e, item=replace(e.item, link="https://press.example/2")) for e in ENTRIES]
    report = publish_all(out, INFO, linked, [AGENCY, SEEDS])
    assert SEED_PAGE in report.removed
    assert not (out / "entries").exists() or not any((out / "entries").iterdir())


def _older_chain(out: Path) -> list[str]:
    """The pages met by following "older entries" from the index."""
    path, seen = "index.html", []
    while path:
        seen.append(path)
        older = page(out / path).xpath("//nav[@class='pages']/a[@rel='next']/@href")
        path = (
            posixpath.normpath(posixpath.join(posixpath.dirname(path), older[0])) if older else ""
        )
    return seen


def test_older_pages_lead_from_the_index_through_the_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.publish import pages

    monkeypatch.setattr(pages, "HTML_PAGE_SIZE", 2)
    # Nine days apart: entries 0-3 in May, 4-6 in June, 7 in July.
    entries = [
        make_entry(n, published=(t := T0 + timedelta(days=9 * n)), updated=t) for n in range(8)
    ]
    publish_all(tmp_path, replace(INFO, entries_per_feed=3), entries, [AGENCY])
    chain = _older_chain(tmp_path)
    # The index shows entries 7, 6, 5; "older" goes to the page holding entry 4.
    assert chain == [
        "index.html",
        "archive/2024-06.html",  # entries 5 and 4 (June's first page)
        "archive/2024-05-2.html",  # entries 3 and 2
        "archive/2024-05.html",  # entries 1 and 0
    ]
    seen = {t for path in chain for t in titles(page(tmp_path / path))}
    assert seen == {f"Story number {n}" for n in range(8)}
    assert xs(page(tmp_path / "archive/2024-05-2.html"), ".//h1") == "May 2024, page 2"
    # Each archive page leads both ways; the newest leads back to the index.
    june_2 = page(tmp_path / "archive/2024-06-2.html")
    assert titles(june_2) == ["Story number 6"]
    assert june_2.xpath("//nav[@class='pages']/a/@href") == [
        "../archive/2024-07.html",
        "../archive/2024-06.html",
    ]
    july = page(tmp_path / "archive/2024-07.html")
    assert july.xpath("//nav[@class='pages']/a[@rel='prev']/@href") == ["../index.html"]


def test_source_and_tag_pages_hold_what_their_feeds_hold(out: Path) -> None:
    seeds = page(out / "sources/seeds.html")
    assert xs(seeds, ".//h1") == "Press releases"
    assert titles(seeds) == ["Story number 4", "Story number 2"]
    about = {a.text: a.get("href") for a in seeds.iterfind(".//p[@class='about']/a")}
    assert about == {
        "Atom feed": "../sources/seeds.atom",
        "Tag: Health": "../tags/health.html",
        "Tag: World News": "../tags/world-news.html",
    }
    agency = page(out / "sources/agency.html")
    assert agency.xpath("//p[@class='about']/a/@href")[0] == "https://agency.example/"
    health = page(out / "tags/health.html")
    assert xs(health, ".//h1") == "Health"
    assert len(titles(health)) == 5
    sources = health.xpath("//p[@class='about']/a/@href")
    assert sources == [
        "../tags/health.atom",
        "../sources/agency.html",
        "../sources/seeds.html",
    ]


def test_a_sources_page_holds_every_story_it_carried_as_its_feed_does(tmp_path: Path) -> None:
    # Story 5 is the agency's copy, but the seeds carried it too (merged as one story):
    # the seeds' page and that of their own tag list it, as their feeds do.
    shared = replace(monthly(5), carried_by=("seeds",))
    publish_all(tmp_path, INFO, [*ENTRIES, shared], [AGENCY, SEEDS])
    for path in ("sources/seeds", "tags/world-news", "sources/agency", "tags/health"):
        feed = etree.parse(tmp_path / f"{path}.atom").getroot()
        feed_titles = [t.text for t in feed.iterfind(f"{ATOM}entry/{ATOM}title")]
        shown = titles(page(tmp_path / f"{path}.html"))
        assert shown == feed_titles, path
        assert shown[0] == "Story number 5", path
    assert titles(page(tmp_path / "tags/health.html")).count("Story number 5") == 1


def test_the_directory_lists_every_source_and_tag(out: Path) -> None:
    directory = page(out / "sources.html")
    assert directory.xpath("//section[1]//li/a[1]/text()") == ["Agency News", "Press releases"]
    assert directory.xpath("//section[1]//li/a[1]/@href") == [
        "sources/agency.html",
        "sources/seeds.html",
    ]
    assert directory.xpath("//section[2]//li/a/text()") == ["Health", "World News"]
    assert page(out / "index.html").xpath("//header/nav/a[2]/@href") == ["sources.html"]


def test_every_link_between_our_pages_leads_to_a_file(out: Path) -> None:
    checked = 0
    for path in html_files(out):
        root = page(path)
        ids = set(root.xpath("//@id"))
        for href in root.xpath("//a/@href"):
            target, fragment = urldefrag(href)
            if target.startswith(BASE):
                target = posixpath.relpath(
                    target.removeprefix(BASE), path.parent.relative_to(out).as_posix() or "."
                )
            if urlsplit(target).scheme:
                continue
            if not target:
                assert fragment in ids, (path, href)
                continue
            assert (path.parent / target).resolve().is_file(), (path, href)
            checked += 1
    assert checked > 50


def test_every_page_has_the_landmarks_and_headings_a_screen_reader_needs(out: Path) -> None:
    for path in html_files(out):
        root = page(path)
        assert root.get("lang") == "en"
        skip = root.find(".//body/a")
        assert skip is not None and skip.get("href") == "#main", path
        assert root.find(".//main[@id='main']") is not None
        assert root.find(".//header/nav[@aria-label]") is not None
        assert root.find(".//footer") is not None
        assert len(root.findall(".//h1")) == 1, path
        levels = [int(h.tag[1]) for h in root.iter("h1", "h2", "h3", "h4", "h5", "h6")]
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), path


def test_html_escapes_everything(tmp_path: Path) -> None:
    hostile = monthly(
        1,
        title='<script>alert("t")</script>',
        summary="<img src=x onerror=alert(1)>",
        authors=("<b>Org</b>",),
        vias=(ViaLink(href='https://v.example/"><script>x</script>', title="<i>via</i>"),),
    )
    info = replace(INFO, title="News & <Views>")
    publish_all(tmp_path, info, [hostile], [])
    raw = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert raw.count("<script") == 1  # ours
    assert "<img" not in raw
    assert "<b>" not in raw
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in raw
    root = html.fromstring(raw)
    assert root.findtext(".//h1") == "News & <Views>"
    assert xs(root, ".//article//h3/a") == '<script>alert("t")</script>'


def test_content_goes_through_the_allow_list_again(tmp_path: Path) -> None:
    # Content is cleaned when stored; a store written by an older release, or by hand,
    # must not run script on our site.
    dirty = monthly(1, content_html='<p onclick="x()">Body<script>alert(1)</script></p>')
    publish_all(tmp_path, INFO, [dirty], [])
    text = page(tmp_path / "index.html").find(".//details/div")
    assert text is not None
    assert etree.tostring(text, encoding=str).count("script") == 0
    assert "onclick" not in etree.tostring(text, encoding=str)
    assert xs(text, ".") == "Body"


def test_pages_are_byte_identical_when_nothing_changed(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    publish_all(again, INFO, list(reversed(ENTRIES)), [SEEDS, AGENCY])
    for path in html_files(out):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes(), path


def test_with_the_last_keys_only_the_pages_that_show_a_new_entry_are_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.publish import site

    rendered: list[str] = []
    real_river, real_entry = site.render_river, site.render_entry
    monkeypatch.setattr(
        site, "render_river", lambda info, p: rendered.append(p.path) or real_river(info, p)
    )
    monkeypatch.setattr(
        site, "render_entry", lambda info, e: rendered.append(e.page) or real_entry(info, e)
    )
    first = publish_all(tmp_path, INFO, ENTRIES, [AGENCY, SEEDS])
    assert SEED_PAGE in rendered
    rendered.clear()
    when = T0 + timedelta(days=85)  # an agency entry of 2024-07, tagged Health
    newer = make_entry(5, published=when, updated=when)
    publish_all(tmp_path, INFO, [*ENTRIES, newer], [AGENCY, SEEDS], previous=first.keys)
    assert sorted(rendered) == [
        "archive/2024-07.html",
        "index.html",
        "sources/agency.html",
        "tags/health.html",
    ]


def test_headings_in_an_entrys_text_sit_below_the_entrys_own(tmp_path: Path) -> None:
    content = "<h1>Background</h1><p>Text.</p><h2>Details</h2><p>More.</p>"
    entries = [monthly(1, content_html=content), monthly(2, content_html=content, link=None)]
    publish_all(tmp_path, INFO, entries, [])
    index = page(tmp_path / "index.html")
    assert [h.tag for h in index.find(".//article//details").iter("h4", "h5", "h6")] == [
        "h4",
        "h5",
    ]
    alone = page(tmp_path / SEED_PAGE)
    assert [h.tag for h in alone.find(".//main").iter("h1", "h2", "h3")] == ["h1", "h2", "h3"]


def test_a_copy_from_a_local_source_is_credited_with_its_page(tmp_path: Path) -> None:
    via = ViaLink(href=BASE + "sources/seeds.atom", title="Press releases")
    publish_all(tmp_path, INFO, [monthly(1, vias=(via,))], [AGENCY, SEEDS])
    hrefs = page(tmp_path / "index.html").xpath("//div[@class='copies']//a/@href")
    assert hrefs == ["sources/seeds.html"]


def test_a_busy_tag_names_a_few_sources_and_points_to_the_rest(tmp_path: Path) -> None:
    from aggregator.publish.pages import TAG_SOURCES_SHOWN

    many = [SourceInfo(f"s{n:02d}", f"https://s{n}.example/", tags=("Busy",)) for n in range(20)]
    publish_all(tmp_path, INFO, [], many)
    links = page(tmp_path / "tags/busy.html").xpath("//p[@class='about']/a")
    assert len(links) == 1 + TAG_SOURCES_SHOWN + 1
    assert links[-1].text == f"{20 - TAG_SOURCES_SHOWN} more sources"
    assert links[-1].get("href") == "../sources.html"
