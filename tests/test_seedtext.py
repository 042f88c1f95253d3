"""Decoding and parsing seed documents: the shipped sample, encodings, layouts, dates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import make_attribution

from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import RawEntry, SourceSpec
from aggregator.normalise.entry import normalise_entry

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "seeds" / "000_bc5ed4e3cd933a22.txt"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
LATE_NOVEMBER = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

FOOTER = (
    "/Public Release. This material from the originating organization/author(s) might be of "
    "the point-in-time nature, and edited for clarity, style and length. Mirage.News does not "
    "take institutional positions or sides, and all views, positions, and conclusions expressed "
    "herein are solely those of the author(s).View in full here."
)


def parse(text: str, mtime: datetime = LATE_NOVEMBER, *, markdown: bool = False) -> RawEntry:
    return parse_seed_document(text, relpath="x.txt", mtime=mtime, markdown=markdown)


def doc(*blocks: str) -> str:
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------------------------
# The shipped sample


@pytest.fixture(scope="module")
def sample() -> RawEntry:
    text = decode_text(SAMPLE.read_bytes())
    return parse_seed_document(text, relpath=SAMPLE.name, mtime=LATE_NOVEMBER)


def test_sample_title_and_organisation(sample: RawEntry) -> None:
    assert sample.id is None  # identity comes later, from title + organisation
    assert sample.title == "NATO Chief, Macron Talk Defense, Ukraine"
    assert sample.authors == ("NATO",)


def test_sample_footer_becomes_data(sample: RawEntry) -> None:
    assert sample.content is not None
    assert "Public Release" not in sample.content
    assert "View in full" not in sample.content
    assert "institutional positions" not in sample.content
    assert sample.via == "Mirage.News"
    assert sample.public_release is True
    assert "footer removed: public release republished by Mirage.News" in sample.notes
    # The last real paragraph survives intact, although the footer was glued to the text.
    assert sample.content.endswith(
        "<p>Prior to his meeting with the French President, the Secretary General visited the "
        "factory floor of the French defence industry company Thales Group. During the visit, "
        "Mr Rutte met with young talents and engineers developing cutting-edge capabilities "
        "for NATO Allies.</p>"
    )


def test_sample_caption_and_paragraphs(sample: RawEntry) -> None:
    assert sample.content is not None
    assert sample.content_type == "text/html"
    assert (
        "<figure><figcaption>NATO Secretary General Mark Rutte meets with the President of "
        "France, Emmanuel Macron</figcaption></figure>"
    ) in sample.content
    assert sample.content.count("<figure>") == 1
    assert sample.content.count("<p>") == 9
    assert "<p>&quot;" not in sample.content  # quotes are text, not escaped attributes
    assert '<p>"The more we spend on defence' in sample.content
    assert sample.summary is not None
    assert sample.summary.startswith("NATO Secretary General Mark Rutte and President Emmanuel")
    assert sample.summary.endswith("defence industrial cooperation.")


def test_sample_date_from_weekday_in_text(sample: RawEntry) -> None:
    assert sample.published == datetime(2026, 11, 12, tzinfo=UTC)
    assert sample.date_rule == "text"
    assert sample.link is None
    assert sample.categories == ()


# ---------------------------------------------------------------------------------------------
# Decoding

TEXT = "Café “Zoë” – naïve\nLine two\n"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with BOM, native order
        b"\xfe\xff" + TEXT.encode("utf-16-be"),
        b"\xff\xfe" + TEXT.encode("utf-16-le"),
        TEXT.encode("utf-32"),
        TEXT.replace("\n", "\r\n").encode("cp1252"),
        TEXT.replace("\n", "\r").encode("utf-8"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-be", "utf-16-le", "utf-32", "cp1252-crlf", "cr"],
)
def test_decode_variants_give_the_same_text(data: bytes) -> None:
    assert decode_text(data) == TEXT


def test_decode_cp1252_curly_quotes_and_accents() -> None:
    assert decode_text(b"\x93Caf\xe9\x94 \x96 d\xe9j\xe0 vu") == "“Café” – déjà vu"


def test_decode_latin1_bytes_cp1252_leaves_undefined_are_kept() -> None:
    # 0x81 and 0x9d have no cp1252 character: latin-1 gives them their code points.
    assert decode_text(b"M\xfcller \x81 Stra\xdfe \x9d") == "Müller \x81 Straße \x9d"


def test_decode_leaves_mojibake_alone() -> None:
    assert decode_text("MÃ¼ller".encode()) == "MÃ¼ller"


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        b"text with a \x00 NUL",
        bytes(range(1, 9)) * 50,
        "утф\x00".encode("utf-16"),
    ],
    ids=["png", "nul", "controls", "utf-16-with-nul"],
)
def test_decode_refuses_binary_data(data: bytes) -> None:
    with pytest.raises(ValueError, match="binary data"):
        decode_text(data)


def test_decode_tolerates_a_few_control_characters() -> None:
    assert decode_text(b"Page one\x0cPage two\tend\x07") == "Page one\x0cPage two\tend\x07"


def test_decode_empty_bytes_is_empty_text() -> None:
    assert decode_text(b"") == ""


# ---------------------------------------------------------------------------------------------
# Layout variants


def test_parse_from_cp1252_crlf_bytes() -> None:
    data = doc(
        "Caf\xe9 reopens", "City of Lowmere", "The \x93new\x94 caf\xe9 opened today."
    ).replace("\n", "\r\n")
    entry = parse(decode_text(data.encode("latin-1")))
    assert entry.title == "Café reopens"
    assert entry.authors == ("City of Lowmere",)
    assert entry.summary == "The “new” café opened today."
    assert entry.content == "<p>The “new” café opened today.</p>"


def test_missing_organisation_line() -> None:
    entry = parse(doc("Budget agreed", "The council agreed its budget on time.", "More text."))
    assert entry.authors == ()
    assert entry.summary == "The council agreed its budget on time."
    assert entry.content == "<p>The council agreed its budget on time.</p>\n<p>More text.</p>"
    assert "no originating organisation line" in entry.notes


def test_a_caption_after_the_title_is_not_an_organisation() -> None:
    entry = parse(doc("Budget agreed", "Mateo Brennan speaks to reporters", "The council met."))
    assert entry.authors == ()
    assert entry.content is not None
    assert entry.content.startswith(
        "<figure><figcaption>Mateo Brennan speaks to reporters</figcaption></figure>"
    )
    assert entry.summary == "The council met."


@pytest.mark.parametrize(
    "name", ["NATO", "Ministry of Transport", "U.S. Geological Survey", "Acme Holdings Inc."]
)
def test_organisation_names(name: str) -> None:
    assert parse(doc("Title", name, "Body text here.")).authors == (name,)


def test_no_footer() -> None:
    entry = parse(doc("Title", "NATO", "Body text."))
    assert entry.via is None
    assert entry.public_release is False
    assert entry.notes == ()
    assert entry.content == "<p>Body text.</p>"


def test_extra_blank_lines_and_wrapped_paragraphs() -> None:
    text = "\n\n\nTitle\n\n\n\nNATO\n  \n\n\nFirst line\nwrapped  here.\n\n\n \t\n\nSecond.\n\n\n"
    entry = parse(text)
    assert entry.title == "Title"
    assert entry.authors == ("NATO",)
    assert entry.content == "<p>First line wrapped here.</p>\n<p>Second.</p>"


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t \n", "\ufeff\n"])
def test_empty_document_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty document"):
        parse(text)


def test_document_that_is_only_a_footer_is_refused() -> None:
    with pytest.raises(ValueError, match="empty document"):
        parse(FOOTER)


def test_footer_on_its_own_line_other_republisher() -> None:
    footer = FOOTER.replace("Mirage.News", "Wire Digest")
    entry = parse(doc("Title", "NATO", "Body.", footer))
    assert entry.via == "Wire Digest"
    assert entry.content == "<p>Body.</p>"
    assert entry.notes == ("footer removed: public release republished by Wire Digest",)


def test_footer_glued_to_the_last_sentence_and_without_view_in_full() -> None:
    glued = FOOTER.removesuffix("View in full here.").replace("/Public", "/ Public")
    entry = parse(doc("Title", "NATO", "Body one.", "Last sentence." + glued))
    assert entry.content == "<p>Body one.</p>\n<p>Last sentence.</p>"
    assert entry.via == "Mirage.News"
    assert entry.public_release is True


def test_footer_with_odd_whitespace_and_line_breaks() -> None:
    footer = (
        FOOTER.replace(". ", ".\n").replace("View in", "View  in").replace("does not", "does\tnot")
    )
    entry = parse(doc("Title", "NATO", "Body.", footer))
    assert entry.content == "<p>Body.</p>"
    assert entry.via == "Mirage.News"


@pytest.mark.parametrize(
    ("footer", "via"),
    [
        (FOOTER, "Mirage.News"),
        (FOOTER.replace("Mirage.News", "Riverside.example.com.au"), "Riverside.example.com.au"),
        (FOOTER.replace("Mirage.News", "Newswire Australia"), "Newswire Australia"),
        (FOOTER.removesuffix("View in full here."), "Mirage.News"),
        ("/Public Release. View in full here.", None),
    ],
)
def test_a_seed_and_a_feed_copy_lose_the_same_footer(footer: str, via: str | None) -> None:
    # One rule (rules/boilerplate.toml) for the seed reader and the cleaning of feed items.
    seed = parse(doc("Title", "NATO", "Body.", footer))
    spec = SourceSpec(id="wire", url="https://wire.example/feed")
    fed = normalise_entry(
        RawEntry(title="Title", content=f"<p>Body.</p><p>{footer}</p>", content_type="text/html"),
        source=spec,
        attribution=make_attribution("wire"),
        first_seen=LATE_NOVEMBER,
    )
    assert seed.content == fed.content_html == "<p>Body.</p>"
    assert seed.via == fed.via == via


def test_the_words_public_release_in_a_sentence_are_kept() -> None:
    entry = parse(doc("Title", "NATO", "This public release. It stays in the text."))
    assert entry.public_release is False
    assert entry.content == "<p>This public release. It stays in the text.</p>"


def test_text_is_html_escaped() -> None:
    entry = parse(doc("A <b>bold</b> title", "NATO", "Use <script>alert(1)</script> & more."))
    assert entry.title == "A <b>bold</b> title"  # titles stay text; escaping is for HTML
    assert entry.content == "<p>Use &lt;script&gt;alert(1)&lt;/script&gt; &amp; more.</p>"


def test_captions_quotes_and_summary() -> None:
    entry = parse(
        doc(
            "Title",
            "NATO",
            "Photo: NATO",
            '"We will deliver," said the minister',
            "The minister spoke in Brussels.",
        )
    )
    assert entry.content == (
        "<figure><figcaption>Photo: NATO</figcaption></figure>\n"
        '<p>"We will deliver," said the minister</p>\n'
        "<p>The minister spoke in Brussels.</p>"
    )
    # A caption is never the summary.
    assert entry.summary == '"We will deliver," said the minister'


# ---------------------------------------------------------------------------------------------
# Dates


def published(body: str, mtime: datetime = LATE_NOVEMBER) -> tuple[datetime | None, str | None]:
    entry = parse(doc("Title", "NATO", body), mtime)
    return entry.published, entry.date_rule


def test_weekday_date_is_the_nearest_matching_day_before_mtime() -> None:
    assert published("They met on Thursday (12 November) in Paris.") == (
        datetime(2026, 11, 12, tzinfo=UTC),
        "text",
    )


def test_weekday_date_year_rollover() -> None:
    january = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    # 31 December 2026 is a Thursday; 31 December 2027 would be after the file time.
    assert published("Signed on Thursday (31 December).", january) == (
        datetime(2026, 12, 31, tzinfo=UTC),
        "text",
    )


def test_weekday_date_that_fits_no_recent_year_falls_back_to_mtime() -> None:
    # 12 November is a Thursday in 2026, not a Monday in 2025 or 2026.
    assert published("They met on Monday (12 November).") == (LATE_NOVEMBER, "mtime")


@pytest.mark.parametrize(
    "body",
    [
        "The plan was signed on 12 November 2026 in Paris.",
        "The plan was signed on November 12, 2026 in Paris.",
        "The plan was signed on 2026-11-12 in Paris.",
        "Signed on Thursday, 12 November 2026.",
        "Signed on Thursday (12 November); the 12 November 2026 text is final.",
    ],
)
def test_explicit_dates(body: str) -> None:
    assert published(body) == (datetime(2026, 11, 12, tzinfo=UTC), "text")


def test_two_different_dates_are_ambiguous() -> None:
    entry = parse(
        doc("Title", "NATO", "Talks on Monday (9 November) and Thursday (12 November)."),
        LATE_NOVEMBER,
    )
    assert (entry.published, entry.date_rule) == (LATE_NOVEMBER, "mtime")
    assert "text names several dates (2026-11-09, 2026-11-12); used the file time" in entry.notes


def test_a_date_after_the_file_time_is_an_announcement_not_the_release_date() -> None:
    body = "Signed on Thursday (12 November). The next meeting is on 3 March 2027."
    assert published(body) == (datetime(2026, 11, 12, tzinfo=UTC), "text")


def test_no_date_uses_mtime_converted_to_utc() -> None:
    local = datetime(2026, 11, 27, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert published("Nothing dated here, only months like June.", local) == (
        datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        "mtime",
    )


def test_month_names_need_a_day_and_may_is_not_a_month() -> None:
    body = "Officials may review 12 may-be plans in June; 12 months of work."
    assert published(body) == (LATE_NOVEMBER, "mtime")


# ---------------------------------------------------------------------------------------------
# Markdown

MARKDOWN = (
    """---
title: "Gallery opens new wing"
source: National Gallery
link: https://gallery.example/news/new-wing
published: 2026-10-25T07:28:00+02:00
tags: [museums, "architecture"]
---

The **new wing** opens on Sunday (25 October), see [the plan](https://gallery.example/plan).

Photo: National Gallery

Raw <script>alert(1)</script> is shown as text.

- guided tours
- late openings

"""
    + FOOTER
)


def test_markdown_front_matter() -> None:
    entry = parse(MARKDOWN, markdown=True)
    assert entry.title == "Gallery opens new wing"
    assert entry.authors == ("National Gallery",)
    assert entry.link == "https://gallery.example/news/new-wing"
    assert entry.categories == ("museums", "architecture")
    assert entry.published == datetime(2026, 10, 25, 5, 28, tzinfo=UTC)
    assert entry.date_rule == "front-matter"
    assert entry.via == "Mirage.News"


def test_markdown_body_rendering() -> None:
    entry = parse(MARKDOWN, markdown=True)
    assert entry.content == (
        "<p>The <strong>new wing</strong> opens on Sunday (25 October), see "
        '<a href="https://gallery.example/plan">the plan</a>.</p>\n'
        "<figure><figcaption>Photo: National Gallery</figcaption></figure>\n"
        "<p>Raw &lt;script&gt;alert(1)&lt;/script&gt; is shown as text.</p>\n"
        "<ul>\n<li>guided tours</li>\n<li>late openings</li>\n</ul>"
    )
    assert entry.summary == "The new wing opens on Sunday (25 October), see the plan."


def test_markdown_list_front_matter_and_text_date() -> None:
    text = (
        "---\ntitle: Notice\norganisation: 'Reserve Bank'\ntags:\n  - rates\n  - policy\n"
        "date: someday\n---\nThe board met on Tuesday (3 November).\n"
    )
    entry = parse(text, markdown=True)
    assert entry.authors == ("Reserve Bank",)
    assert entry.categories == ("rates", "policy")
    assert (entry.published, entry.date_rule) == (datetime(2026, 11, 3, tzinfo=UTC), "text")
    assert "front-matter date unparseable: 'someday'" in entry.notes


def test_markdown_without_front_matter_uses_heading_and_organisation_line() -> None:
    text = "# Tram works begin\n\nCity of Lowmere\n\nWork starts *today*.\n"
    entry = parse(text, markdown=True)
    assert entry.title == "Tram works begin"
    assert entry.authors == ("City of Lowmere",)
    assert entry.content == "<p>Work starts <em>today</em>.</p>"
    assert entry.date_rule == "mtime"


def test_markdown_front_matter_date_only_is_midnight_utc() -> None:
    text = "---\ntitle: T\nsource: NATO\ndate: 12 November 2026\n---\nBody.\n"
    entry = parse(text, markdown=True)
    assert entry.published == datetime(2026, 11, 12, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The dev corpus: 154 seed texts


def corpus_seeds() -> list[tuple[str, dict[str, str]]]:
    labels = json.loads((CORPUS / "labels.json").read_text())
    stories = labels["stories"]
    return [
        (item["file"], stories[item["story"]])
        for item in labels["items"]
        if item["kind"] == "seed-text"
    ]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared dev corpus is not present")
def test_every_corpus_seed_parses() -> None:
    seeds = corpus_seeds()
    assert len(seeds) == 154
    rules: dict[str | None, int] = {}
    for relpath, story in seeds:
        text = decode_text((CORPUS / relpath).read_bytes())
        entry = parse_seed_document(text, relpath=relpath, mtime=datetime(2026, 11, 30, tzinfo=UTC))
        assert entry.title, relpath
        assert entry.authors == (story["org"],), relpath
        assert entry.content is not None
        assert "Public Release" not in entry.content, relpath
        assert "View in full" not in entry.content, relpath
        assert entry.via == "Mirage.News", relpath
        assert entry.summary, relpath
        assert entry.published is not None
        if entry.date_rule == "text":
            assert entry.published.date().isoformat() == story["published"][:10], relpath
        rules[entry.date_rule] = rules.get(entry.date_rule, 0) + 1
    assert rules["text"] > 100  # most releases name their day
