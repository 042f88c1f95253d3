"""Normalising: one `RawEntry` (what a source said) → one `Item` (what we publish).

Pure: no clock, disk or network; the rules come in through `NormaliseOptions`. The steps
run in this fixed order, each on the output of the one before:

0. budget: markup past fixed limits of depth, tags, attributes, text run or size is
   flattened or cut (`aggregator.normalise.budget`), so no item can hold a run for long.
1. mojibake and entities: UTF-8-read-as-Latin-1 repaired (ftfy) in every text field;
   plain text becomes HTML paragraphs (caption lines become figcaptions); text nodes that
   were escaped twice are decoded.
2. boilerplate: republisher footers, "The post … appeared first on …", share lines and
   read-more links are removed from content and summary (`aggregator/rules/*.toml`); the
   read-more target becomes `Item.readmore`, a footer's republisher becomes `via`.
3. links: relative links resolved against xml:base or the item link, tracking parameters
   removed, tracking pixels and tracker images removed, empty paragraphs dropped.
4. sanitise (LAST step touching HTML): nh3 allow-list; nothing executable survives.
5. text and summary: plain text of the sanitised HTML, captions left out.
6. title: markup stripped, entities decoded, site-name suffix removed, never empty.
7. dates: aware UTC; missing or far-future → first-seen; updated never before published.
8. authors and via: the originating organisation is the author, a republisher is via.
9. identity: item key and content hash (`aggregator.normalise.identity`).

Every decision is written into `Item.notes` as a short sentence with stable wording.

The one owner of "a valid entry": every `Item` made here can be published as it is, by
every output format, with no repair: a non-empty one-line title, text without what XML
cannot carry, aware-UTC dates, a link that is an absolute http(s) IRI or none.
`aggregator.publish.clean` repairs only rows stored before these guarantees (a test feeds
it freshly normalised items from every kind of input and expects no repair).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from aggregator.model import Attribution, DateOrder, Item, RawEntry, SourceKind, SourceSpec
from aggregator.normalise import identity
from aggregator.normalise.authors import KnownOrganisations, decide_authors, known_organisations
from aggregator.normalise.boilerplate import Removal, strip_boilerplate
from aggregator.normalise.budget import within_budget
from aggregator.normalise.dates import resolve_dates
from aggregator.normalise.html import (
    LinkReport,
    decode_text_entities,
    html_to_text,
    looks_like_html,
    parse_fragment,
    rewrite_links,
    sanitise_bounded,
    serialise_children,
    text_to_html,
    tree_text,
    wrap_loose_text,
)
from aggregator.normalise.rules import BoilerplateRules, RuleKind, default_rules
from aggregator.normalise.text import clean_text, first_words, repair_mojibake, strip_controls
from aggregator.normalise.titles import clean_title
from aggregator.normalise.urls import canonicalise
from aggregator.urlparts import hostname

__all__ = [
    "DEFAULT_OPTIONS",
    "BoilerplateRules",
    "NormaliseOptions",
    "clean_fragment",
    "default_rules",
    "links_shared",
    "normalise_entry",
]

SEED_LEAD_CHARS = 200  # opening characters of a seed's text that take part in its identity
SUMMARY_CHARS = 400  # long enough for a lede, short enough for a feed reader's list view
REPUBLISHER_TAG = "republisher"  # a source tag that says: this source carries others' stories


@dataclass(frozen=True, slots=True, kw_only=True)
class NormaliseOptions:
    future_dates: Literal["first-seen", "keep"] = "first-seen"  # like Venus's future_dates
    future_tolerance: timedelta = timedelta(days=1)
    date_order: DateOrder | None = None  # how the source writes 04/05/2026; None: day first, noted
    rules: BoilerplateRules = field(default_factory=default_rules)
    # Organisations the caller already knows (organisation feeds' titles and authors, seed
    # organisation lines): a carried item that names one in its title (in full or by its
    # initials) or, failing the rules, in its text gets it as author.
    known_organisations: tuple[str, ...] = ()
    # The source carries other organisations' stories (a republisher or a digest), as
    # the pipeline judged from the feed or the operator said with the "republisher" tag.
    carries_others: bool = False
    # The operator's word on who publishes this source's items: wins over every guess.
    organisation: str | None = None
    _known: KnownOrganisations = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_known", known_organisations(self.known_organisations))


DEFAULT_OPTIONS = NormaliseOptions()


@dataclass(frozen=True, slots=True)
class _Body:
    html: str | None
    removals: tuple[Removal, ...]
    notes: tuple[str, ...]
    text: str | None = None  # html's text (captions left out), when cleaning read it

    def plain(self) -> str:
        """The text of `html`, captions left out."""
        if self.text is not None:
            return self.text
        return html_to_text(self.html, skip_captions=True) if self.html else ""


_NO_LINKS = LinkReport()


@dataclass(frozen=True, slots=True)
class _Cleaned:
    """Steps 1–4 done on one field's markup; what the notes say is added per field."""

    html: str | None
    removals: tuple[Removal, ...] = ()
    repaired: bool = False
    entities_decoded: bool = False
    links: LinkReport = _NO_LINKS
    over_budget: tuple[str, ...] = ()  # what bringing the markup within budget cut
    text: str | None = None  # html's text (captions left out), when read from the tree


_NOTHING = _Cleaned(None)


def _clean_markup(
    value: str | None, *, where: str, plain: bool, base: str | None, rules: BoilerplateRules
) -> _Cleaned:
    """Steps 1–4 for one HTML field (content or summary); `where` picks the rules."""
    if not value or not value.strip():
        return _NOTHING
    # Controls go first: one between the bytes of a mojibake pair ("Â\x08\x80") would
    # hide the pair from this round and expose it to the next.
    value, repaired = repair_mojibake(strip_controls(value))
    markup, cuts = within_budget(text_to_html(value) if plain else value)
    # A first sanitiser pass gives the markup the structure an HTML5 parser sees (lxml's
    # parser nests some tags differently); without it, cleaning the output again could
    # find loose text the first pass did not, and normalising would not be idempotent.
    root = parse_fragment(sanitise_bounded(markup))
    wrap_loose_text(root)
    decoded = decode_text_entities(root)
    removals = strip_boilerplate(root, rules, where=where, base=base)
    links = rewrite_links(root, base, rules.tracking)
    serialised = serialise_children(root)
    cleaned = sanitise_bounded(serialised)
    # Where the last sanitiser pass had nothing to change, `root` is already the tree of
    # the cleaned markup: its text is read there, saving a parse of the output.
    text = tree_text(root, skip_captions=True) if cleaned == serialised else None
    notes = cuts.notes(where)
    return _Cleaned(cleaned or None, removals, repaired, decoded, links, notes, text)


def _body(cleaned: _Cleaned, *, where: str, base: str | None) -> _Body:
    """The cleaned field with its notes, in the fixed order of the steps."""
    notes: list[str] = list(cleaned.over_budget)
    if cleaned.repaired:
        notes.append(f"mojibake repaired in {where}")
    if cleaned.entities_decoded:
        notes.append(f"double-escaped entities decoded in {where}")
    notes.extend(_removal_note(r, where) for r in cleaned.removals)
    report = cleaned.links
    if report.resolved:
        notes.append(f"{report.resolved} relative link(s) in {where} resolved against {base}")
    if report.tracking_removed:
        names = ", ".join(report.tracking_removed)
        notes.append(f"tracking parameters removed from links in {where}: {names}")
    if report.unsafe_removed:
        notes.append(f"{report.unsafe_removed} unsafe link(s) removed from {where}")
    for host in report.trackers_removed:
        notes.append(f"tracker image removed from {where}: {host}")
    return _Body(cleaned.html, cleaned.removals, tuple(notes), cleaned.text)


def clean_fragment(
    markup: str, *, where: str, base: str | None, rules: BoilerplateRules
) -> tuple[str | None, tuple[str, ...]]:
    """Steps 1–4 on HTML from elsewhere (an article page fetched for a teaser): the very
    cleaning of a feed's content, nh3 last; the cleaned HTML and the notes, which name
    `where`."""
    cleaned = _clean_markup(markup, where="content", plain=False, base=base, rules=rules)
    body = _body(cleaned, where=where, base=base)
    return body.html, body.notes


def _clean_fields(raw: RawEntry, base: str | None, rules: BoilerplateRules) -> tuple[_Body, _Body]:
    """Content and summary cleaned; cleaned once when they are the same markup (RSS
    items read by `aggregator.parse` carry their description as both)."""
    content_plain = _is_plain(raw.content, raw.content_type)
    summary_plain = _is_plain(raw.summary, None)
    content = _clean_markup(
        raw.content, where="content", plain=content_plain, base=base, rules=rules
    )
    if raw.summary == raw.content and summary_plain == content_plain and _same_rules(rules):
        summary = content
    else:
        summary = _clean_markup(
            raw.summary, where="summary", plain=summary_plain, base=base, rules=rules
        )
    return _body(content, where="content", base=base), _body(summary, where="summary", base=base)


def _same_rules(rules: BoilerplateRules) -> bool:
    kinds: tuple[RuleKind, ...] = ("footer", "share", "readmore")
    return all(rules.of_kind(k, "content") == rules.of_kind(k, "summary") for k in kinds)


def _removal_note(removal: Removal, where: str) -> str:
    if removal.kind == "readmore":
        target = f": {removal.target}" if removal.target else ""
        return f"read-more link removed from {where} by rule {removal.rule}{target}"
    what = "share line" if removal.kind == "share" else "footer"
    return f"{what} removed from {where} by rule {removal.rule}"


def _is_plain(value: str | None, content_type: str | None) -> bool:
    if content_type:
        return "html" not in content_type.lower()
    return value is not None and not looks_like_html(value)


def _link(raw: RawEntry, rules: BoilerplateRules) -> tuple[str | None, tuple[str, ...]]:
    if not raw.link:
        return None, ()
    link, removed = canonicalise(raw.link, raw.base, rules.tracking)
    if link is None:
        return None, (f"link {raw.link!r} dropped: not an http(s) URL",)
    if removed:
        return link, (f"tracking parameters removed from link: {', '.join(removed)}",)
    return link, ()


def _summary(text: str, summary: _Body) -> str | None:
    """The given summary's text, else the item's text, captions left out, cut to length."""
    if summary.html is not None:
        given = summary.plain()
        if given:
            text = given
    return first_words(text.replace("\n\n", " "), SUMMARY_CHARS) or None


def _teases_elsewhere(readmore: str | None, link: str | None, site: str | None) -> bool:
    """A read-more link to another host: the source carries someone else's story."""
    if readmore is None:
        return False
    hosts = {hostname(u) for u in (link, site) if u}
    return hostname(readmore) not in hosts


def links_shared(
    entries: Sequence[RawEntry], options: NormaliseOptions = DEFAULT_OPTIONS
) -> frozenset[str]:
    """The canonical links that several entries of one feed, none with an id of its own and
    each with other content, point at: a news index or a digest page, not an item.

    Such a link cannot key an item (rule 3 of `identity`): every story but one under it
    would be lost. Counted over all the feed's entries, not only those cleaned this run, so
    an edited entry keeps the kind of key it had.
    """
    contents: dict[str, set[tuple[str | None, ...]]] = {}
    for raw in entries:
        if raw.id or not raw.link:
            continue
        link, _ = _link(raw, options.rules)
        if link is not None:
            contents.setdefault(link, set()).add((raw.title, raw.summary, raw.content))
    return frozenset(link for link, seen in contents.items() if len(seen) > 1)


SHARED_LINK_NOTE = "keyed by title and text: other entries of this feed share its link"


def normalise_entry(
    raw: RawEntry,
    *,
    source: SourceSpec,
    attribution: Attribution,
    first_seen: datetime,
    options: NormaliseOptions = DEFAULT_OPTIONS,
    shared_links: frozenset[str] = frozenset(),
) -> Item:
    """Clean one entry into a publishable item; see the module docstring for the steps.

    `shared_links` (see `links_shared`) are links that do not identify an entry of this feed."""
    rules = options.rules
    base = raw.base or raw.link
    content, summary = _clean_fields(raw, base, rules)
    if content.html is None or content.html == summary.html:
        # Only a summary (RSS description): it is the content, and the summary derives from it.
        content, summary = summary, _Body(None, content.removals, content.notes)
    text = content.plain()
    title, title_notes = clean_title(
        raw.title,
        site_names=(attribution.title or "", source.title or ""),
        fallback_text=text,
    )
    dates = resolve_dates(
        raw.published,
        raw.updated,
        first_seen=first_seen,
        date_rule=raw.date_rule,
        future=options.future_dates,
        tolerance=options.future_tolerance,
        date_order=options.date_order,
    )
    link, link_notes = _link(raw, rules)
    removals = content.removals + summary.removals
    readmore = next((r.target for r in removals if r.target), None)
    footer_via = next((r.via for r in removals if r.via), None)
    via = clean_text(raw.via) if raw.via else footer_via
    carried = (
        raw.public_release
        or REPUBLISHER_TAG in source.tags
        or _teases_elsewhere(readmore, link, attribution.site_link)
    )
    authors = decide_authors(
        raw.authors,
        via=via,
        carried=carried,
        seems_carried=options.carries_others,
        own_names=(attribution.title, source.title),
        title=title,
        text=text,
        rules=rules.organisations,
        known=options._known,
        organisation=options.organisation,
        not_names=rules.not_organisations,
    )
    if source.kind is SourceKind.SEED_TEXT:
        # Title + organisation alone collide: one organisation reuses a headline for
        # different releases. The opening words of the text tell them apart, while a
        # renamed or copied file keeps its key.
        organisation = authors.authors[0] if authors.authors else None
        key = identity.seed_key(title, organisation, lead=first_words(text, SEED_LEAD_CHARS))
    elif not raw.id and link in shared_links:
        key = identity.text_key(source.id, title=title, text=text)
        link_notes += (SHARED_LINK_NOTE,)
    else:
        key = identity.item_key(source.id, entry_id=raw.id, link=link, title=title, text=text)
    notes = (
        raw.notes
        + content.notes
        + summary.notes
        + title_notes
        + link_notes
        + dates.notes
        + authors.notes
    )
    return Item(
        key=key,
        origin_id=(strip_controls(raw.id) if raw.id else None) or link or key,
        content_hash=identity.content_hash(title, link, content.html),
        title=title,
        link=link,
        summary=_summary(text, summary),
        content_html=content.html,
        text=text,
        authors=authors.authors,
        categories=tuple(dict.fromkeys(c for c in map(clean_text, raw.categories) if c)),
        published=dates.published,
        updated=dates.updated,
        source=attribution,
        via=authors.via,
        date_rule=dates.date_rule,
        readmore=readmore,
        notes=tuple(dict.fromkeys(notes)),
    )
