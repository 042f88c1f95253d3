"""Turn a labelled corpus into `Item`s through the product's own reading path, for the
dedupe benchmarks.

Every document goes the way `aggregator.ingest.collect.read_seeds` sends it: feed files through
`aggregator.parse.parse_feed` (one SEED_FEED source per file), text seeds through
`aggregator.ingest.seedtext.decode_text` + `parse_seed_document` (one SEED_TEXT source "seeds",
`RawEntry.id` set to the file's relative path), then every entry through
`aggregator.normalise.entry.normalise_entry` with the attribution the store would give the
source on its first run. The generated corpora are written as the same raw documents (feed
XML, seed text bytes), so encoding accidents, escaped entities, footers, captions and
"Read more" links meet the real cleaning.

Each loaded item keeps its label (`story`, `kind`) so a benchmark can score pairs.
"""

# ruff: noqa: E501  (the sentence templates below are data, kept one per line)
from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aggregator.ingest import seeds as seed_files
from aggregator.ingest.collect import SEED_TEXT_SOURCE, seed_feed_source_id
from aggregator.ingest.seedtext import decode_text, parse_seed_document
from aggregator.model import FeedMeta, Item, RawEntry, SourceKind, SourceSpec
from aggregator.normalise.entry import NormaliseOptions, normalise_entry
from aggregator.parse import parse_feed
from aggregator.store import SourceState, attribution_for

DEV_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"

# The run's clock (first-seen) and the seed files' modification time: fixed, so runs are
# reproducible. The CLI mode of the quality bench uses the real clock and mtimes.
RUN_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SEED_MTIME = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
FEED_ID_BASE = "https://aggregator.example/"  # Settings.feed.base_url stand-in


@dataclass(frozen=True, slots=True)
class Labelled:
    """One item of a corpus with the label the benchmark scores against."""

    item: Item
    story: str
    kind: str


@dataclass(frozen=True, slots=True)
class Document:
    """One file of a seeds folder: its path relative to the folder and its bytes."""

    relpath: str
    body: bytes

    @property
    def kind(self) -> str | None:
        """ "feed", "markdown" or "text", by suffix as aggregator.ingest.seeds decides."""
        suffix = self.relpath.rsplit(".", 1)[-1].lower()
        return _SEED_KINDS.get(suffix)


_SEED_KINDS = {"txt": "text", "md": "markdown", "markdown": "markdown"} | dict.fromkeys(
    ("xml", "rss", "atom", "json"), "feed"
)


def folder_documents(seeds: Path) -> list[Document]:
    """The documents of a seeds folder, found and read as the pipeline does."""
    files, _warnings = seed_files.discover_seeds(seeds)
    return [Document(f.relpath, seed_files.read_seed(f, seeds).body) for f in files]


def _items_of(
    spec: SourceSpec, meta: FeedMeta, entries: Iterable[RawEntry], options: NormaliseOptions
) -> list[Item]:
    """normalise_entry over one source's entries, attributed as on a first run."""
    site = meta.link
    if not site:  # local sources point at their per-source feed (pipeline._state_from_feed)
        site = f"{FEED_ID_BASE}sources/{spec.id}.atom"
    state = SourceState(
        id=spec.id,
        url=spec.url,
        kind=spec.kind.value,
        config_url=spec.url,
        title=spec.title,
        feed_title=meta.title,
        feed_id=meta.id,
        site_link=site,
        feed_updated=meta.updated,
    )
    attribution = attribution_for(state, feed_id_base=FEED_ID_BASE)
    return [
        normalise_entry(
            raw, source=spec, attribution=attribution, first_seen=RUN_AT, options=options
        )
        for raw in entries
    ]


def read_documents(documents: Sequence[Document], root: str = "seeds") -> list[Item]:
    """Items of a seeds folder's documents, through parse / seedtext / normalise."""
    options = NormaliseOptions()
    items: list[Item] = []
    text_entries: list[RawEntry] = []
    for doc in sorted(documents, key=lambda d: d.relpath):
        kind = doc.kind
        if kind is None:
            continue
        if kind == "feed":
            spec = SourceSpec(
                id=seed_feed_source_id(doc.relpath), url=doc.relpath, kind=SourceKind.SEED_FEED
            )
            parsed = parse_feed(doc.body, url=f"file:///{root}/{doc.relpath}", source_id=spec.id)
            items.extend(_items_of(spec, parsed.meta, parsed.entries, options))
            continue
        raw = parse_seed_document(
            decode_text(doc.body),
            relpath=doc.relpath,
            mtime=SEED_MTIME,
            markdown=kind == "markdown",
        )
        text_entries.append(replace(raw, id=doc.relpath))
    if text_entries:
        spec = SourceSpec(
            id=SEED_TEXT_SOURCE, url=root, kind=SourceKind.SEED_TEXT, title="Seed documents"
        )
        meta = FeedMeta(title="Seed documents")
        items[:0] = _items_of(spec, meta, text_entries, options)
    return items


def read_folder(seeds: Path) -> list[Item]:
    return read_documents(folder_documents(seeds), str(seeds))


def label_items(
    items: Iterable[Item], labels: dict[str, dict[str, str]], where: str
) -> list[Labelled]:
    out = []
    for item in items:
        label = labels.get(item.origin_id)
        if label is None:
            raise KeyError(f"{where}: no label for {item.origin_id!r}")
        out.append(Labelled(item, label["story"], label["kind"]))
    return out


def load_labelled(corpus: Path = DEV_CORPUS) -> list[Labelled]:
    """Items of a corpus folder (`seeds/` + `labels.json`) joined to their labels."""
    labels = json.loads((corpus / "labels.json").read_text(encoding="utf-8"))
    by_origin = {lab["key"]: lab for lab in labels["items"]}
    return label_items(read_folder(corpus / "seeds"), by_origin, str(corpus))


def pairs_of(groups: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """Unordered pairs (as sorted tuples) of members that share a group."""
    out: set[tuple[str, str]] = set()
    for members in groups:
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            out.update((a, b) for b in ordered[i + 1 :])
    return out


# ---------------------------------------------------------------------------------------
# Generated corpora in the dev corpus's style, with the variants the dev corpus lacks.

_FIRST = [
    "Amara",
    "Anna",
    "David",
    "Erik",
    "Fatima",
    "Hana",
    "Ingrid",
    "Jonas",
    "José",
    "Kwame",
    "Mark",
    "Mateo",
    "Mei",
    "Olek",
    "Pierre",
    "Priya",
    "Sofia",
    "Søren",
    "Tomasz",
    "Yuki",
    "Zoë",
    "Lars",
    "Nadia",
    "Omar",
]
_LAST = [
    "Adeyemi",
    "Brennan",
    "Castillo",
    "Duarte",
    "Fischer",
    "Haddad",
    "Ivanova",
    "Kowalski",
    "Larsen",
    "Lindqvist",
    "Mensah",
    "Moreau",
    "Müller",
    "Nakamura",
    "Novak",
    "Núñez",
    "Petrov",
    "Rutte",
    "Silva",
    "Tanaka",
]
_ROLES = (
    "Commissioner",
    "Minister",
    "Mayor",
    "Chief Executive",
    "Deputy Director",
    "Director-General",
    "Vice-Chancellor",
    "Secretary General",
    "Chief Scientist",
    "Head of Research",
)
_PLACES = [
    "Accra",
    "Brussels",
    "Canberra",
    "Darmstadt",
    "Geneva",
    "Lisbon",
    "Lowmere",
    "Nairobi",
    "Oslo",
    "Ottawa",
    "Paris",
    "Santiago",
    "Seoul",
    "Tallinn",
    "Tarnow",
    "Warsaw",
    "Quito",
    "Hanoi",
    "Lagos",
    "Bergen",
]
_KINDS = (
    "Water Authority",
    "Health Service",
    "Transport Agency",
    "Research Council",
    "Arts Board",
    "Energy Office",
    "Police Service",
    "Housing Trust",
    "Science Museum",
    "Port Authority",
)
_TOPICS = (
    "flood defences",
    "school meals",
    "the tram extension",
    "library opening hours",
    "bushfire danger",
    "the drought forecast",
    "microplastics",
    "wetland birds",
    "space debris tracking",
    "the lunar gateway",
    "maritime patrols",
    "joint exercises",
    "malaria prevention",
    "mental health services",
    "the cash rate",
    "payment systems",
    "regional touring",
    "the restoration project",
    "battery chemistry",
    "quantum sensors",
    "electric ferries",
    "rail electrification",
    "community patrols",
    "online scams",
    "coastal flooding",
    "the housing register",
    "cycling lanes",
    "water quality",
    "heat pumps",
    "vaccine supply",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_OPENERS = (
    "{r1} {p1} and {r2} {p2} discussed on {wd} ({day} {mon}) the need to step up work on {t1}, {t2} and {t3}.",
    "{org} has published its annual review of {t1}, with {r1} {p1} calling the results 'a turning point' for {t2}.",
    "A new agreement on {t1} was signed in {place} on {wd} ({day} {mon}) by {org} and partners led by {p2}.",
    "{r1} {p1} met {r2} {p2} in {place} on {wd} ({day} {mon}) to review progress on {t1}.",
    "In {place} on {wd} ({day} {mon}), {r1} {p1} set out new priorities for {t1} and {t2}.",
)
# How a republisher or another organisation tells the same event in its own words.
_OWN_OPENERS = (
    "{org} today announced a {money} million programme focused on {t1}, following talks in {place} between {r1} {p1} and {p2}.",
    "Talks in {place} between {r1} {p1} and {r2} {p2} on {wd} ended with new commitments on {t1}.",
    "{p1} and {p2} used a meeting in {place} this week to push for faster progress on {t1}.",
)
_BODY = (
    "{p1} commended the team in {place} for delivering {n} projects on {t2} ahead of schedule.",
    "The announcement follows {n} months of consultation with communities affected by {t3}.",
    "The work builds on a pilot in {place}, where {t2} improved by {pct} per cent in a single year.",
    "During the visit, {p1} highlighted the importance of {t1} for the long-term plans of {org}.",
    '"{T1} is no longer optional; it is the foundation of everything we do," {p2} said.',
    '"The more we invest in {t1}, the more we reduce the risk of costly delays," said {p1}.',
    "{p1} will travel to {place} later this month to continue talks on {t1}.",
    "Local authorities in {place} welcomed the decision and pledged {n} additional sites for {t1}.",
    "Funding of {money} million will be shared between {n} partners over {months} months.",
    "Officials said {n} staff would be assigned to {t2} over the next {months} months.",
    "{p2} raised concerns about delays in {t3}, which could affect {n} communities.",
    "{org} said the first results on {t2} are expected before the end of {mon2}.",
    "Independent experts will review the programme on {t3} every {months} months.",
    "A progress report on {t1} will be presented to the board in {mon2}.",
    "The next meeting on {t2} is scheduled to take place in {place}.",
    "More information on {t3} is available from {org}.",
    "{p1} also thanked volunteers who supported {t2} during the winter storms.",
    "They discussed the need for increased investment in {t2} and for robust cooperation with partners in {place}.",
    "Prior to the meeting, {p1} visited a facility in {place} working on {t3} and met young engineers and researchers.",
    "{org} will publish further details on {t1} in {mon2}.",
)
_BOILERPLATE = (
    "About {org}: {org} is an independent body established to advance {t4} and {t5} in partnership with governments, industry and communities. It employs staff in {n} countries and reports annually to its members on {t6}.",
    "Notes to editors: {org} publishes all releases on its website. For background on {t4} and {t5}, see the {org} annual report, which sets out priorities, budgets and results for the coming year.",
    "{org} works with partners across {n} regions on {t4} and {t5}. Media enquiries should be directed to the {org} press office, which is open on weekdays; statements and images are available for free use with credit to {org}.",
)
_REPUBLISHERS = ("Mirage.News", "Wire Digest", "Newsroom Daily")
_FOOTER_TEXT = "/Public Release. This material from the originating organization/author(s) might be of the point-in-time nature, and edited for clarity, style and length. {name} does not take institutional positions or sides, and all views, positions, and conclusions expressed herein are solely those of the author(s).View in full here."
_CAPTIONS = (
    "{r1} {p1} meets with {r2} {p2}",
    "Photo: {org}",
    "{p1} speaks to reporters in {place}",
    "{p1} and {p2} in {place}",
)
_REPUBLISHER_TITLES = (
    "{abbr} Unveils ${money}M {T1} Plan",
    "{last} Backs {T1} Push In {place}",
    "{abbr} Boosts {T1} After {place} Talks",
    "{T1}: {abbr} Sets New Priorities",
)

# How often each thing happens, per story or per copy (the dev corpus's proportions where
# it has the variant: every story has its organisation's item, 0.75 republished copies,
# 0.5 seed copies, 0.3 digest teasers).
P_ORG_COPY = 0.97
REPUBLISHED_COPIES = (0, 1, 1, 1)
P_SEED_COPY = 0.5
P_TEASER = 0.3
P_TEASER_TRUNCATED = 0.7
P_TEASER_READ_MORE = 0.5
# Republished copies: the dev corpus's republishers write their own first paragraph in
# 21 % of copies, drop the ending (two paragraphs or more) in 27 %, swap two in 25 %;
# seed copies there only drop a paragraph (27 %): they get half the other rates here.
P_OWN_FIRST_PARAGRAPH = 0.2
P_DROP_PARAGRAPH = 0.2
P_SWAP_PARAGRAPHS = 0.25
P_DROP_ENDING = 0.27
SEED_VARIANT_SCALE = 0.5
P_CAPTION = 0.5
P_BOILERPLATE = 0.8  # organisations ending every release with the same paragraph
P_FOLLOW_UP = 0.08
P_FOLLOW_UP_SAME_OPENER = 0.1
P_SAME_MEETING = 0.06
# Accidents of one copy: typographic quotes, UTF-8 read as Windows-1252, escaped twice.
P_TYPOGRAPHIC, P_MOJIBAKE, P_ESCAPED = 0.25, 0.1, 0.1


@dataclass(frozen=True, slots=True)
class _Org:
    name: str
    slug: str
    abbr: str
    topics: tuple[str, ...]
    people: tuple[tuple[str, str], ...]  # (role, name)
    places: tuple[str, ...]
    boilerplate: str | None


@dataclass(frozen=True, slots=True)
class Story:
    id: str
    org: _Org
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    slots: dict[str, str]


def _make_org(rng: random.Random, index: int) -> _Org:
    name = f"{rng.choice(_PLACES)} {rng.choice(_KINDS)}"
    name = f"{name} {index}" if index >= len(_PLACES) else name
    people = tuple(
        (rng.choice(_ROLES), f"{rng.choice(_FIRST)} {rng.choice(_LAST)}") for _ in range(4)
    )
    topics = tuple(rng.sample(_TOPICS, 6))
    slots = {
        "org": name,
        "n": str(rng.choice((12, 30, 47, 90))),
        "t4": topics[3],
        "t5": topics[4],
        "t6": topics[5],
    }
    boilerplate = rng.choice(_BOILERPLATE).format(**slots) if rng.random() < P_BOILERPLATE else None
    slug = re.sub(r"\W+", "-", name.lower()).strip("-")
    abbr = "".join(w[0] for w in name.split() if w[0].isupper())
    return _Org(name, slug, abbr, topics, people, tuple(rng.sample(_PLACES, 3)), boilerplate)


def _story_slots(rng: random.Random, org: _Org, when: datetime) -> dict[str, str]:
    (r1, p1), (r2, p2) = rng.sample(org.people, 2)
    t1, t2, t3 = rng.sample(org.topics, 3)
    return {
        "org": org.name,
        "abbr": org.abbr,
        "r1": r1,
        "p1": p1,
        "last": p1.split()[-1],
        "r2": r2,
        "p2": p2,
        "t1": t1,
        "t2": t2,
        "t3": t3,
        "T1": t1[0].upper() + t1[1:],
        "place": rng.choice(org.places),
        "wd": _WEEKDAYS[when.weekday()],
        "day": str(when.day),
        "mon": _MONTHS[when.month - 1],
        "mon2": rng.choice(_MONTHS),
        "n": str(rng.choice((3, 5, 8, 12, 24, 40))),
        "months": str(rng.choice((6, 9, 12, 18, 24))),
        "money": str(rng.choice((12, 25, 40, 75, 120, 450))),
        "pct": str(rng.randint(5, 40)),
    }


def _compose(rng: random.Random, org: _Org, slots: dict[str, str], opener: str) -> tuple[str, ...]:
    sentences = [s.format(**slots) for s in rng.sample(_BODY, rng.randint(3, 10))]
    body: list[str] = []
    while sentences:  # one or two sentences per paragraph, like the dev corpus
        take = 2 if len(sentences) > 1 and rng.random() < 0.3 else 1
        body.append(" ".join(sentences[:take]))
        del sentences[:take]
    tail = (org.boilerplate,) if org.boilerplate else ()
    return (opener.format(**slots), *body, *tail)


def _title(rng: random.Random, slots: dict[str, str]) -> str:
    return rng.choice(
        (
            "{org} sets out plan for {t1} and {t2}",
            "{org} and partners agree next steps on {t1}",
            "Statement by {r1} {p1} on {t1}",
            "{r1} {p1} meets {r2} {p2} in {place}",
        )
    ).format(**slots)


def _new_story(
    rng: random.Random, sid: str, org: _Org, when: datetime, base: Story | None
) -> Story:
    """A release; with `base`, a follow-up that reuses its people and place (and often
    its opening sentence)."""
    slots = _story_slots(rng, org, when)
    opener = rng.choice(_OPENERS)
    if base is not None:
        for name in ("r1", "p1", "last", "r2", "p2", "place", "t1", "T1", "t2"):
            slots[name] = base.slots[name]
        if rng.random() < P_FOLLOW_UP_SAME_OPENER:
            opener = base.slots["opener"]
    slots["opener"] = opener
    return Story(sid, org, _title(rng, slots), _compose(rng, org, slots, opener), when, slots)


def _same_meeting(rng: random.Random, sid: str, org: _Org, base: Story) -> Story:
    """Another organisation's release on the same meeting, in its own words."""
    when = base.published + timedelta(hours=rng.uniform(-6, 6))
    slots = _story_slots(rng, org, base.published)
    for name in ("r1", "p1", "last", "r2", "p2", "place", "wd", "day", "mon", "t1", "T1"):
        slots[name] = base.slots[name]
    slots["opener"] = rng.choice(_OWN_OPENERS)
    paragraphs = _compose(rng, org, slots, slots["opener"])
    return Story(
        sid, org, _title(rng, slots), paragraphs, when.replace(second=0, microsecond=0), slots
    )


def generate_stories(n: int, seed: int = 0, orgs: int = 12) -> list[Story]:
    rng = random.Random(seed)
    all_orgs = [_make_org(rng, i) for i in range(orgs)]
    start = datetime(2026, 9, 1, tzinfo=UTC)
    stories: list[Story] = []
    for i in range(n):
        sid = f"g{seed}-{i:06d}"
        earlier = stories[-60:]
        roll = rng.random()
        if earlier and roll < P_FOLLOW_UP:
            base = rng.choice(earlier)
            # A follow-up comes later: hours to a few weeks.
            when = base.published + timedelta(days=rng.uniform(0.2, 21))
            stories.append(
                _new_story(rng, sid, base.org, when.replace(second=0, microsecond=0), base)
            )
        elif earlier and roll < P_FOLLOW_UP + P_SAME_MEETING:
            base = rng.choice(earlier)
            others = [o for o in all_orgs if o is not base.org]
            stories.append(_same_meeting(rng, sid, rng.choice(others), base))
        else:
            when = (start + timedelta(days=rng.random() * 90)).replace(second=0, microsecond=0)
            stories.append(_new_story(rng, sid, rng.choice(all_orgs), when, None))
    return stories


# -- what copies do to a text


def typographic(text: str) -> str:
    text = re.sub(r'"(\S)', "“\\1", text)
    text = text.replace('"', "”")
    text = re.sub(r"(\w)'(\w)", "\\1’\\2", text)
    text = re.sub(r"'(\S)", "‘\\1", text)
    return text.replace("'", "’")


def mojibake(text: str) -> str:
    """UTF-8 read as Windows-1252, the way browsers do it (undefined bytes kept as C1)."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _accident(rng: random.Random) -> str | None:
    """What went wrong with one copy, if anything."""
    roll = rng.random()
    for name, p in (
        ("typographic", P_TYPOGRAPHIC),
        ("mojibake", P_MOJIBAKE),
        ("escaped", P_ESCAPED),
    ):
        if roll < p:
            return name
        roll -= p
    return None


def _damaged(text: str, accident: str | None) -> str:
    if accident == "typographic":
        return typographic(text)
    if accident == "mojibake":
        # Mojibake usually comes with typographic quotes: that is what breaks visibly.
        return mojibake(typographic(text))
    return text


def _html_text(text: str, accident: str | None) -> str:
    """Text as it sits in an HTML fragment; "escaped" is escaped twice."""
    escaped = html.escape(_damaged(text, accident), quote=accident == "escaped")
    return html.escape(escaped, quote=False) if accident == "escaped" else escaped


@dataclass(frozen=True, slots=True)
class _Copy:
    """A republisher's or seed's version of a release."""

    head: str
    caption: str | None
    body: tuple[str, ...]


def _republished(rng: random.Random, story: Story, scale: float = 1.0) -> _Copy:
    """A copy as a republisher makes it; `scale` < 1 for the gentler seed copies (their
    dropped paragraph keeps its rate)."""
    paras = list(story.paragraphs)
    body = paras[1:]
    if len(body) > 2 and rng.random() < P_DROP_PARAGRAPH:
        del body[rng.randrange(len(body))]
    if len(body) > 2 and rng.random() < P_SWAP_PARAGRAPHS * scale:
        k = rng.randrange(len(body) - 1)
        body[k], body[k + 1] = body[k + 1], body[k]
    if len(body) > 3 and rng.random() < P_DROP_ENDING * scale:
        body = body[: rng.randint(2, len(body) - 2)]
    first = paras[0]
    if rng.random() < P_OWN_FIRST_PARAGRAPH * scale:
        first = rng.choice(_OWN_OPENERS).format(**story.slots)
    caption = rng.choice(_CAPTIONS).format(**story.slots) if rng.random() < P_CAPTION else None
    return _Copy(first, caption, tuple(body))


def _teaser(rng: random.Random, story: Story) -> str:
    first = story.paragraphs[0]
    if rng.random() < P_TEASER_TRUNCATED:  # cut at a word, as digests do
        words = first.split()
        keep = max(10, int(len(words) * rng.uniform(0.5, 0.9)))
        first = " ".join(words[:keep]).rstrip(",;:") + rng.choice(("…", "...", " […]"))
    return first


# -- raw documents


@dataclass(slots=True)
class _Feed:
    """One feed file being written: its head and its entries' XML."""

    relpath: str
    title: str
    site: str
    atom: bool
    entries: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, *, title: str, link: str, guid: str, published: datetime, body: str) -> None:
        e = html.escape
        if self.atom:
            stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
            xml = (
                f"<entry><title>{e(title)}</title><id>{e(guid)}</id>"
                f'<link rel="alternate" href="{e(link)}"/><updated>{stamp}</updated>'
                f'<published>{stamp}</published><content type="html">{e(body)}</content></entry>'
            )
        else:
            permalink = "" if guid == link else ' isPermaLink="false"'
            xml = (
                f"<item><title>{e(title)}</title><link>{e(link)}</link>"
                f"<guid{permalink}>{e(guid)}</guid><pubDate>{format_datetime(published)}</pubDate>"
                f"<description><![CDATA[{body}]]></description></item>"
            )
        self.entries.append((published, xml))

    def document(self) -> Document:
        e = html.escape
        self.entries.sort(key=lambda pair: pair[0])
        body = "\n".join(xml for _, xml in self.entries)
        last = max((p for p, _ in self.entries), default=RUN_AT).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.atom:
            text = (
                '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{e(self.title)}</title><id>{e(self.site)}feed</id><updated>{last}</updated>"
                f'<link rel="alternate" href="{e(self.site)}"/><author><name>{e(self.title)}</name></author>\n'
                f"{body}\n</feed>\n"
            )
        else:
            text = (
                '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>{e(self.title)}</title><link>{e(self.site)}</link>"
                f"<description>{e(self.title)} releases</description>\n{body}\n</channel></rss>\n"
            )
        return Document(self.relpath, text.encode("utf-8"))


@dataclass(slots=True)
class _Writer:
    """Collects the documents of a generated seeds folder and their labels."""

    rng: random.Random
    feeds: dict[str, _Feed] = field(default_factory=dict)
    seeds: list[Document] = field(default_factory=list)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    serial: int = 0

    def feed(self, relpath: str, title: str, site: str, atom: bool) -> _Feed:
        if relpath not in self.feeds:
            self.feeds[relpath] = _Feed(relpath, title, site, atom)
        return self.feeds[relpath]

    def number(self) -> int:
        self.serial += 1
        return self.rng.randrange(10**6, 10**7) * 1000 + self.serial % 1000

    def label(self, origin: str, story: Story, kind: str) -> None:
        self.labels[origin] = {"story": story.id, "kind": kind}

    def documents(self) -> list[Document]:
        return [f.document() for f in self.feeds.values()] + self.seeds


def _org_copy(w: _Writer, story: Story, org_index: int) -> str:
    org = story.org
    atom = org_index % 2 == 1
    ext = "atom" if atom else "rss"
    feed = w.feed(f"org-{org_index:02d}.{ext}.xml", org.name, f"https://{org.slug}.example/", atom)
    day = story.published.strftime("%Y-%m-%d")
    slug = re.sub(r"\W+", "-", story.title.lower()).strip("-")[:60]
    link = f"https://{org.slug}.example/news/{day}/{slug}-{story.id}"
    guid = link if atom or w.rng.random() < 0.5 else f"urn:uuid:{w.rng.getrandbits(128):032x}"
    accident = _accident(w.rng) if w.rng.random() < 0.3 else None  # own feeds are cleaner
    body = "\n".join(f"<p>{_html_text(p, accident)}</p>" for p in story.paragraphs)
    feed.add(title=story.title, link=link, guid=guid, published=story.published, body=body)
    w.label(guid, story, "org-feed")
    return link


def _republisher_copy(w: _Writer, story: Story, name: str) -> None:
    rng = w.rng
    host = name.lower().replace(".", "").replace(" ", "")
    feed = w.feed(f"rep-{host}.rss.xml", name, f"https://www.{host}.example/", False)
    copy = _republished(rng, story)
    accident = _accident(rng)
    parts = [f"<p>{_html_text(copy.head, accident)}</p>"]
    if copy.caption:
        figure = f'<figure><img src="/img/{rng.randrange(9999)}.jpg" alt=""><figcaption>{_html_text(copy.caption, accident)}</figcaption></figure>'
        parts.append(figure)
    parts.extend(f"<p>{_html_text(p, accident)}</p>" for p in copy.body)
    parts.append(f"<p><em>{html.escape(_FOOTER_TEXT.format(name=name))}</em></p>")
    number = w.number()
    guid = f"https://www.{host}.example/wire/{number}/"
    title = rng.choice(_REPUBLISHER_TITLES).format(**story.slots)
    published = story.published + timedelta(hours=rng.uniform(1, 30))
    feed.add(
        title=title,
        link=guid + "?utm_source=rss&utm_medium=feed",
        guid=guid,
        published=published.replace(second=0, microsecond=0),
        body="\n".join(parts),
    )
    w.label(guid, story, "republisher-feed")


def _digest_copy(w: _Writer, story: Story, org_link: str) -> None:
    rng = w.rng
    feed = w.feed("digest.atom.xml", "Daily Digest", "https://digest.example/", True)
    accident = _accident(rng)
    body = f"<p>{_html_text(_teaser(rng, story), accident)}</p>"
    if rng.random() < P_TEASER_READ_MORE:
        body += f'<p><a href="{html.escape(org_link)}">Read more</a></p>'
    guid = f"https://digest.example/item/{w.number()}"
    published = story.published + timedelta(hours=rng.uniform(1, 12))
    feed.add(
        title=story.title,
        link=guid,
        guid=guid,
        published=published.replace(second=0, microsecond=0),
        body=body,
    )
    w.label(guid, story, "digest-feed")


def _seed_copy(w: _Writer, story: Story) -> None:
    """A republished copy saved as text: headline, organisation, paragraphs, caption,
    footer; in UTF-8 or Windows-1252, LF or CRLF, with or without a BOM."""
    rng = w.rng
    copy = _republished(rng, story, SEED_VARIANT_SCALE)
    accident = _accident(rng)

    def damage(text: str) -> str:
        # "escaped": entities in a text file, copied from an HTML page's source.
        return html.escape(text) if accident == "escaped" else _damaged(text, accident)

    title = rng.choice(_REPUBLISHER_TITLES).format(**story.slots)
    blocks = [title, story.org.name, damage(copy.head)]
    if copy.caption:
        blocks.append(damage(copy.caption))
    blocks.extend(damage(p) for p in copy.body)
    blocks.append(_FOOTER_TEXT.format(name=rng.choice(_REPUBLISHERS[:2])))
    text = "\n\n".join(blocks) + "\n"
    if rng.random() < 0.15:
        text = text.replace("\n", "\r\n")
    body: bytes | None = None
    if accident is None and rng.random() < 0.1:
        try:
            body = text.encode("cp1252")
        except UnicodeEncodeError:
            body = None
    if body is None:
        body = ("\ufeff" if rng.random() < 0.08 else "").encode() + text.encode("utf-8")
    relpath = f"{rng.getrandbits(64):016x}.txt"
    w.seeds.append(Document(relpath, body))
    w.label(relpath, story, "seed-text")


def generated_documents(
    n_stories: int, seed: int = 0, orgs: int = 12
) -> tuple[list[Document], dict[str, dict[str, str]]]:
    """A seeds folder of generated stories (feed files and text seeds) and its labels,
    keyed by origin id (entry id, or the seed's relative path)."""
    stories = generate_stories(n_stories, seed, orgs)
    w = _Writer(random.Random(seed + 1000))
    org_numbers: dict[str, int] = {}
    for story in stories:
        org_index = org_numbers.setdefault(story.org.name, len(org_numbers))
        if w.rng.random() < P_ORG_COPY:
            org_link = _org_copy(w, story, org_index)
        else:  # a link that the corpus does not hold: a teaser's read-more finds nothing
            org_link = f"https://{story.org.slug}.example/news/{story.id}"
        for name in _REPUBLISHERS[: w.rng.choice(REPUBLISHED_COPIES)]:
            _republisher_copy(w, story, name)
        if w.rng.random() < P_TEASER:
            _digest_copy(w, story, org_link)
        if w.rng.random() < P_SEED_COPY:
            _seed_copy(w, story)
    return w.documents(), w.labels


def generated_corpus(n_stories: int, seed: int = 0, orgs: int = 12) -> list[Labelled]:
    documents, labels = generated_documents(n_stories, seed, orgs)
    return label_items(read_documents(documents), labels, f"generated seed={seed}")


def hard_corpus(dev: Sequence[Labelled], seed: int = 0) -> list[Labelled]:
    """A corpus with the variants the dev corpus lacks, the size of the dev corpus."""
    stories = len({x.story for x in dev})
    return generated_corpus(stories, seed=seed, orgs=12)
