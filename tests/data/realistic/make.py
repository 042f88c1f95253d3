"""Write the realistic merging corpus: `python tests/data/realistic/make.py`.

Hand-written releases of three small organisations, published the way small publishers
really do it, and carried by a digest, a newswire and seed documents:

* a council RSS feed whose items all link to the council's news index page, two of them
  titled "Media statement", and a joint statement also in the water authority's feed;
* a water authority Atom feed of weekly storage reports built from one template (same
  boilerplate, other figures and dates), another "Media statement", and a boil-water
  notice corrected in place between two runs (`before/` is the first run's folder);
* a JSON Feed digest whose items link to #fragments of one page, with teasers with and
  without "Read more" links (one of them to the council's index page);
* a newswire that republishes with its own headlines, tracking links and a footer;
* text and Markdown seeds: republished copies, and two different stories titled
  "Media statement" and "Weekly update" from a health service.

`labels.json` tells which items are one story, in the form of shared/corpus/dev.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
COUNCIL = "Shire of Lakeside"
WATER = "Riverside Water Authority"
HEALTH = "Eastfield Health Service"
COUNCIL_INDEX = "https://www.lakeside.example/news"
FOOTER = (
    "/Public Release. This material from the originating organization/author(s) might be "
    "of the point-in-time nature, and edited for clarity, style and length. Newswire "
    "Australia does not take institutional positions or sides, and all views, positions, "
    "and conclusions expressed herein are solely those of the author(s).View in full here."
)


@dataclass(frozen=True)
class Story:
    id: str
    org: str
    title: str
    published: str  # RFC 3339
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def html(self) -> str:
        return "".join(f"<p>{escape(p)}</p>" for p in self.paragraphs)


def weekly(
    sid: str,
    day: str,
    date: str,
    total: str,
    change: str,
    kestrel: str,
    heron: str,
    usage: str,
    litres: str,
) -> Story:
    return Story(
        sid,
        WATER,
        "Weekly water storage update",
        f"{date}T09:00:00+11:00",
        (
            f"Storage across Riverside's dams is at {total} per cent of capacity this week, "
            f"{change} on last week, the Riverside Water Authority said on {day}.",
            f"Kestrel Dam holds {kestrel} per cent and Heron Creek Reservoir {heron} per cent. "
            f"Customers used an average of {usage} litres per person per day, against the "
            f"target of {litres} litres.",
            "The Authority reminds customers that permanent water saving rules apply all "
            "year: hand-held hoses with a trigger nozzle may be used at any time, and "
            "sprinklers only before 10 am and after 4 pm.",
            "Storage levels are published every week on the Authority's website, together "
            "with the rainfall recorded at each dam and the outlook for the coming month.",
            "Media contact: Riverside Water Authority communications team, "
            "media@riversidewater.example, 03 5555 0199.",
        ),
    )


STORIES = [
    Story(
        "pool",
        COUNCIL,
        "Media statement",
        "2026-11-23T10:15:00+11:00",
        (
            "The Shire of Lakeside will close the Lakeside Aquatic Centre from Monday 30 "
            "November for three weeks while a cracked filtration tank is replaced.",
            "Engineers found the crack during a routine inspection last Thursday. The tank "
            "is more than thirty years old and a like-for-like replacement has been ordered "
            "from a supplier in Geelong.",
            "Swimming lessons booked for the closure will move to the Eastfield Leisure "
            "Centre, and the council will run a free shuttle bus from the Lakeside library "
            "car park on weekday afternoons.",
            "Season ticket holders will have their passes extended by three weeks at no "
            "cost. Enquiries can be made at the customer service centre.",
        ),
    ),
    Story(
        "storm",
        COUNCIL,
        "Media statement",
        "2026-11-27T16:40:00+11:00",
        (
            "Council crews are clearing fallen trees from Ridge Road after Wednesday night's "
            "storm brought down more than forty trees across the northern part of the shire.",
            "Ridge Road will stay closed between Miller Lane and the quarry entrance until at "
            "least Saturday while powerlines are made safe. Residents of Ridge Road can reach "
            "their properties from the northern end with a council escort.",
            "Green waste from storm-damaged gardens can be taken to the Lakeside transfer "
            "station free of charge until 13 December.",
            "Mayor Helen Okafor thanked the State Emergency Service volunteers who worked "
            'through the night: "Their work kept people safe and got the school buses '
            'through on Thursday morning."',
        ),
    ),
    Story(
        "citizens",
        COUNCIL,
        "Mayor welcomes new citizens at ceremony",
        "2026-11-26T19:00:00+11:00",
        (
            "Forty-eight residents from fifteen countries became Australian citizens at a "
            "ceremony in the Lakeside Memorial Hall on Thursday evening.",
            "Mayor Helen Okafor presented the certificates and welcomed families from India, "
            "the Philippines, Kenya, Brazil and Ireland among others.",
            '"Lakeside is richer for every one of you, and I hope you will bring your '
            'talents to our clubs, schools and businesses," the Mayor said.',
            "The Lakeside Rotary Club gave each new citizen a native tree seedling to plant "
            "at home. The next ceremony will be held on Australia Day.",
        ),
    ),
    Story(
        "budget",
        COUNCIL,
        "Council adopts 2027 budget",
        "2026-11-25T21:30:00+11:00",
        (
            "The Shire of Lakeside adopted its 2027 budget at Tuesday's council meeting, with "
            "a capital works program of $14.6 million and a general rate rise of 2.75 per cent.",
            "The largest projects are the renewal of the Lakeside foreshore boardwalk ($3.2 "
            "million), sealing of the Old Coach Road ($2.1 million) and new change rooms at "
            "the Eastfield recreation reserve ($1.4 million).",
            "Councillors received 212 submissions on the draft budget. Changes made after "
            "consultation include extra funding for footpath repairs in Eastfield and a "
            "trial of kerbside glass collection.",
            "The adopted budget and the responses to submissions are available at the "
            "customer service centre and on the council's website.",
        ),
    ),
    Story(
        "library",
        COUNCIL,
        "Library opening hours extended over summer",
        "2026-11-30T09:00:00+11:00",
        (
            "Lakeside Library will open until 8 pm on weekdays and from 10 am to 4 pm on "
            "Sundays from 7 December until the end of January.",
            "The longer hours follow a survey of library members in which two in three asked "
            "for evening opening during the school holidays.",
            "The summer reading challenge for children starts on 12 December, with prizes "
            "donated by local businesses and a finale party at the library in late January.",
        ),
    ),
    Story(
        "joint",
        f"{COUNCIL}",
        "Joint statement on the Kestrel Dam recreation area",
        "2026-11-28T11:00:00+11:00",
        (
            "The Shire of Lakeside and the Riverside Water Authority have agreed to reopen "
            "the Kestrel Dam picnic grounds and walking track from 19 December, after two "
            "years of works on the dam wall.",
            "The Authority will fund new toilets and a car park for sixty vehicles, and the "
            "council will maintain the grounds and the walking track under a ten-year "
            "agreement signed this week.",
            "Swimming and boating in the reservoir remain prohibited to protect the drinking "
            "water supply. Dogs must be kept on a lead on the walking track.",
            "Both organisations thank the Kestrel Dam Landcare group, whose volunteers "
            "planted more than three thousand trees along the track during the works.",
        ),
    ),
    weekly(
        "week1", "Wednesday", "2026-11-11", "68.4", "down 0.6 points", "66.9", "71.3", "182", "170"
    ),
    weekly(
        "week2", "Wednesday", "2026-11-18", "69.1", "up 0.7 points", "67.5", "72.4", "178", "170"
    ),
    weekly(
        "week3", "Wednesday", "2026-11-25", "70.6", "up 1.5 points", "68.1", "74.9", "175", "170"
    ),
    weekly(
        "week4", "Wednesday", "2026-12-02", "71.2", "up 0.6 points", "68.8", "75.2", "188", "170"
    ),
    Story(
        "desal",
        WATER,
        "Media statement",
        "2026-11-30T14:00:00+11:00",
        (
            "The Riverside desalination plant will be taken offline from 7 to 11 December "
            "for scheduled maintenance of its seawater intake.",
            "Customers will not notice any change to their supply: the plant provides about "
            "a fifth of Riverside's water in summer and the dams are above 70 per cent.",
            "Divers will inspect the intake tunnel and replace the screens that keep marine "
            "life out of the plant. The work is done every two years.",
        ),
    ),
    Story(
        "boil",
        WATER,
        "Boil water notice for Eastfield",
        "2026-12-01T07:30:00+11:00",
        (
            "Residents of Eastfield should boil their tap water before drinking it until "
            "further notice, after a main break on Station Street let soil into the supply.",
            "The Authority expects to lift the notice on Sunday 6 December once two rounds "
            "of testing have come back clear.",
            "Free bottled water is available at the Eastfield community hall from 9 am to "
            "5 pm each day while the notice is in place.",
            "Boiling water for one minute makes it safe to drink. Water used for showering "
            "and washing clothes does not need to be boiled.",
        ),
    ),
    Story(
        "ward",
        HEALTH,
        "Media statement",
        "2026-11-29T12:00:00+11:00",
        (
            "Eastfield Health Service has reopened its medical ward after a gastro outbreak "
            "that affected eleven patients and four staff last week.",
            "All patients have recovered. Visitors are asked to wash their hands on arrival "
            "and to stay away if they have had vomiting or diarrhoea in the past 48 hours.",
            "The service thanks its infection control team and the families of patients for "
            "their patience while visiting was restricted.",
        ),
    ),
    Story(
        "health-weekly",
        HEALTH,
        "Weekly update",
        "2026-12-02T08:00:00+11:00",
        (
            "Eastfield Health Service's emergency department saw 412 patients last week, "
            "and the median wait to see a doctor was 23 minutes.",
            "The new outpatient clinic for heart failure opened on Monday with two cardiac "
            "nurses, and referrals are now accepted from local GPs.",
            "Flu vaccinations remain free for staff and volunteers at the staff health "
            "office on the ground floor, Tuesdays and Thursdays.",
        ),
    ),
]
BY_ID = {s.id: s for s in STORIES}

# The boil-water notice as first published (run 1), corrected in place in run 2.
BOIL_FIRST = Story(
    "boil",
    WATER,
    "Boil water notice for Eastfield",
    BY_ID["boil"].published,
    (
        BY_ID["boil"].paragraphs[0],
        "The Authority expects to lift the notice on Friday 4 December once two rounds of "
        "testing have come back clear.",
        *BY_ID["boil"].paragraphs[2:],
    ),
)


def rfc822(stamp: str, *, hours_later: int = 0) -> str:
    """RFC 822 date of an RFC 3339 one, as RSS writes it; a republisher posts later."""
    return format_datetime(datetime.fromisoformat(stamp) + timedelta(hours=hours_later))


# ---------------------------------------------------------------------------------------
# Feeds


def council_rss() -> tuple[str, list[dict[str, str]]]:
    """Every item links to the news index page; guids are opaque numbers."""
    items, labels = [], []
    for n, sid in enumerate(["pool", "storm", "citizens", "budget", "library", "joint"]):
        story = BY_ID[sid]
        guid = f"lakeside-news-{4410 + n}"
        items.append(
            "<item>"
            f"<title>{escape(story.title)}</title>"
            f"<link>{COUNCIL_INDEX}</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{rfc822(story.published)}</pubDate>"
            f"<description><![CDATA[{story.html}]]></description>"
            "</item>"
        )
        labels.append({"key": guid, "story": sid, "kind": "org-feed"})
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{COUNCIL}</title><link>https://www.lakeside.example/</link>"
        "<description>News from the Shire of Lakeside</description>"
        + "".join(items)
        + "</channel></rss>\n"
    )
    return body, labels


def water_atom(boil: Story) -> tuple[str, list[dict[str, str]]]:
    entries, labels = [], []
    for sid in ["week1", "week2", "week3", "week4", "desal", "joint", "boil"]:
        story = boil if sid == "boil" else BY_ID[sid]
        link = f"https://riversidewater.example/news/{story.published[:10]}/{sid}"
        entry_id = f"tag:riversidewater.example,2026:news/{sid}"
        entries.append(
            "<entry>"
            f"<id>{entry_id}</id>"
            f"<title>{escape(story.title)}</title>"
            f'<link rel="alternate" type="text/html" href="{link}"/>'
            '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/"/>'
            f"<published>{story.published}</published>"
            f"<updated>{story.published}</updated>"
            f"<author><name>{WATER}</name><email>media@riversidewater.example</email></author>"
            f'<content type="html">{escape(story.html)}</content>'
            "</entry>"
        )
        labels.append({"key": entry_id, "story": sid, "kind": "org-feed"})
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{WATER}</title><id>tag:riversidewater.example,2026:news</id>"
        '<link rel="alternate" href="https://riversidewater.example/"/>'
        "<updated>2026-12-02T09:00:00+11:00</updated>" + "".join(entries) + "</feed>\n"
    )
    return body, labels


def without_contact(story: Story, *, lead: str | None = None) -> Story:
    """A republisher's copy: the media contact dropped, perhaps an opening of its own."""
    paragraphs = ((lead,) if lead else ()) + story.paragraphs[:-1]
    return Story(story.id, story.org, story.title, story.published, paragraphs)


def digest_json() -> tuple[str, list[dict[str, str]]]:
    """Items link to #fragments of the day's page; some teasers have a Read more link."""
    page = "https://roundup.example/2026-12-02"
    water = "https://riversidewater.example/news"
    picks = [
        ("desal", f'<p><a href="{water}/2026-11-30/desal">Read more</a></p>'),
        ("library", f'<p><a href="{COUNCIL_INDEX}">Read more</a></p>'),
        ("budget", ""),
        ("week4", ""),
        ("ward", ""),
    ]
    items, labels = [], []
    for sid, more in picks:
        story = BY_ID[sid]
        url = f"{page}#{sid}"
        lead = story.paragraphs[0]
        teaser = f"<p>{escape(lead[: max(90, len(lead) * 2 // 3)].rsplit(' ', 1)[0])}…</p>"
        if more:
            teaser = f"<p>{escape(lead)}</p>{more}"
        items.append(
            {
                "id": url,
                "url": url,
                "title": f"{story.org}: {story.title}",
                "content_html": teaser,
                "date_published": "2026-12-02T18:00:00+11:00",
            }
        )
        labels.append({"key": url, "story": sid, "kind": "digest-feed"})
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Regional Roundup",
        "home_page_url": "https://roundup.example/",
        "items": items,
    }
    return json.dumps(feed, indent=1, ensure_ascii=False) + "\n", labels


def newswire_rss(extra: list[tuple[str, str, Story]]) -> tuple[str, list[dict[str, str]]]:
    """Own headlines, tracking links, a footer; the organisation named in the text."""
    picks = [
        ("citizens", "Lakeside welcomes 48 new citizens from 15 countries", BY_ID["citizens"]),
        ("week3", "Riverside dams climb to 70.6 per cent", without_contact(BY_ID["week3"])),
        ("joint", "Kestrel Dam picnic grounds to reopen before Christmas", BY_ID["joint"]),
        *extra,
    ]
    items, labels = [], []
    for n, (sid, headline, story) in enumerate(picks):
        link = f"https://newswire.example/releases/{9120 + n}?utm_source=rss&utm_medium=feed"
        body = story.html + f"<p>{escape(FOOTER)}</p>"
        items.append(
            "<item>"
            f"<title>{escape(headline)}</title>"
            f"<link>{escape(link)}</link>"
            f"<guid>https://newswire.example/releases/{9120 + n}</guid>"
            f"<pubDate>{rfc822(story.published, hours_later=3)}</pubDate>"
            f"<dc:creator>{escape(story.org)}</dc:creator>"
            f"<description>{escape(body)}</description>"
            "</item>"
        )
        labels.append(
            {
                "key": f"https://newswire.example/releases/{9120 + n}",
                "story": sid,
                "kind": "republisher-feed",
            }
        )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Newswire Australia</title><link>https://newswire.example/</link>"
        "<description>Press releases from across the region</description>"
    )
    return head + "".join(items) + "</channel></rss>\n", labels


# ---------------------------------------------------------------------------------------
# Seeds


def seed_text(story: Story, *, footer: bool = True) -> str:
    parts = [story.title, story.org, *story.paragraphs]
    if footer:
        parts.append(FOOTER)
    return "\n\n".join(parts) + "\n"


def seed_markdown(story: Story, title: str | None = None) -> str:
    front = (
        f'---\ntitle: "{title or story.title}"\nauthor: {story.org}\n'
        f"published: {story.published}\n---\n\n"
    )
    return front + story.text + "\n"


def write(folder: Path, boil: Story, *, final: bool) -> list[dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    labels: list[dict[str, str]] = []

    def put(name: str, made: tuple[str, list[dict[str, str]]]) -> None:
        (folder / name).write_text(made[0], encoding="utf-8")
        labels.extend({"file": f"seeds/{name}", **lab} for lab in made[1])

    put("lakeside-council.rss.xml", council_rss())
    put("riverside-water.atom", water_atom(boil))
    put("regional-roundup.json", digest_json())
    extra = [("boil", "Eastfield residents told to boil tap water", BOIL_FIRST)]
    put("newswire.rss.xml", newswire_rss(extra))
    seeds = {
        "media-statement-ridge-road.txt": (seed_text(BY_ID["storm"]), "storm", "seed-text"),
        "media-statement-ward.txt": (seed_text(BY_ID["ward"], footer=False), "ward", "seed-text"),
        "weekly-update-eastfield.md": (
            seed_markdown(BY_ID["health-weekly"]),
            "health-weekly",
            "seed-markdown",
        ),
        "storage-18-november.md": (
            seed_markdown(
                without_contact(
                    BY_ID["week2"],
                    lead="Riverside's dams rose again this week as rain fell across the "
                    "catchments, the Authority's latest figures show.",
                ),
                "Dams at 69.1 per cent as usage falls",
            ),
            "week2",
            "seed-markdown",
        ),
    }
    if final:
        seeds["boil-water-eastfield.txt"] = (seed_text(BY_ID["boil"]), "boil", "seed-text")
    for name, (text, sid, kind) in seeds.items():
        (folder / name).write_text(text, encoding="utf-8")
        labels.append({"file": f"seeds/{name}", "key": name, "story": sid, "kind": kind})
    return labels


def main() -> None:
    write(HERE / "before", BOIL_FIRST, final=False)
    labels = write(HERE / "seeds", BY_ID["boil"], final=True)
    stories = {s.id: {"title": s.title, "org": s.org, "published": s.published} for s in STORIES}
    (HERE / "labels.json").write_text(
        json.dumps({"items": labels, "stories": stories}, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
