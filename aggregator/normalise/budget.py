"""A bounded cost per item: markup brought within fixed limits before nh3 and lxml read it.

html5ever (under nh3) checks its stack of open elements on every tag, and rebuilds every
formatting element left open (`<b>`, `<font>`, `<a>` …) on each new paragraph, so depth
and open formatting cost the square of their size; it compares each attribute with the
others of its element; libxml2 (under lxml) silently drops whatever lies below depth 255.
One linear scan, as an HTML tokenizer reads the markup, keeps every item inside the
limits below: tags past a limit are dropped and their text kept (flattening), extra
attributes are dropped, an over-long text run or item is cut. No real press release comes
near any limit (tests/test_normalise_corpus.py checks that nothing of the dev corpus is
cut), so for real items the markup comes out unchanged.

The scan keeps its own model of the open elements, simpler than the HTML tree builder
but never shallower: where the two could differ (implied end tags, misnested formatting,
table fix-ups), it closes less than a browser would, so it may flatten a little early,
never late.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_DEPTH = 64  # elements open at once (the dev corpus: 2; libxml2 stops at 255)
MAX_FORMATTING = 16  # formatting elements opened and not closed (html5ever rebuilds them)
MAX_TAGS = 20_000  # tags, end tags and comments in one item (the dev corpus: 30)
MAX_ATTRIBUTES = 64  # attributes on one element (the dev corpus: 2)
MAX_TEXT_RUN = 100_000  # characters of text between two tags (the dev corpus: 326)
MAX_MARKUP = 1_000_000  # characters of one item's markup (the dev corpus: 1,808)


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Never open: no end tag, no content.
_VOID = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta "
    "param source track wbr"
)
# Their content is text up to their own end tag (the tokenizer's RAWTEXT, RCDATA and
# script states; html5ever runs with scripting on, so noscript too). Not in svg or math.
_RAW_TEXT = _names("script style xmp iframe noembed noframes noscript textarea title plaintext")
_FOREIGN = frozenset({"svg", "math"})
# Rebuilt by the tree builder after an implied close, until their own end tag.
_FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
# The HTML standard's "special" elements: an end tag of an ordinary element never closes
# past one. A superset is safe (fewer closes), a subset is not.
_SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button "
    "caption center col colgroup dd details dialog dir div dl dt embed fieldset figcaption "
    "figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe "
    "img input keygen li link listing main marquee menu meta nav noembed noframes noscript "
    "object ol p param plaintext pre script search section select source style summary "
    "table tbody td template textarea tfoot th thead title tr track ul wbr xmp mi mo mn ms "
    "mtext annotation-xml foreignobject desc svg math"
)
# Scope barriers: no end tag or implied close reaches below one. For </li>, </dd> and
# </dt> the lists are barriers too, for </p> a button (the standard's narrower scopes).
_BARRIER = _names(
    "applet caption html table td th marquee object template mi mo mn ms mtext "
    "annotation-xml foreignobject desc title svg math select"
)
# The standard's narrower scopes: for </li> the lists are barriers too, for </dd> and
# </dt> a dl, for </p> a button.
_NARROWER_SCOPE = {"li": ("ol", "ul"), "dd": ("dl",), "dt": ("dl",), "p": ("button",)}
# What a start tag closes on its own, and through what: "scope" passes everything but
# barriers (the standard's button and table scopes pass as much or more); "list" passes
# ordinary elements and address, div and p only (the standard's rule for li, dd and dt);
# "cell" is "scope" inside a table only; "top" closes only the element just opened
# (option). Where the standard closes in
# other ways too, this closes less: deeper, never shallower.
_BLOCKS_CLOSING_P = _names(
    "address article aside blockquote center details dialog dir div dl fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu "
    "nav ol p pre section summary table ul xmp"
)
_IMPLIED: dict[str, tuple[tuple[str, str], ...]] = {
    **{name: (("p", "scope"),) for name in _BLOCKS_CLOSING_P},
    "li": (("li", "list"), ("p", "scope")),
    "dd": (("dd", "list"), ("dt", "list"), ("p", "scope")),
    "dt": (("dd", "list"), ("dt", "list"), ("p", "scope")),
    "option": (("option", "top"),),
    "optgroup": (("option", "top"), ("optgroup", "top")),
    "td": (("td", "cell"), ("th", "cell")),
    "th": (("td", "cell"), ("th", "cell")),
    "tr": (("td", "cell"), ("th", "cell"), ("tr", "cell")),
}
_LIST_PASSES = frozenset({"address", "div", "p"})
# In a table the tree builder wraps a cell in a tr, and a tr in a tbody, where missing:
# elements that are in no markup but on its stack all the same.
_TABLE_PARTS = _names("table tbody thead tfoot tr td th")
_IMPLIED_PARENTS = {
    ("table", "td"): ("tbody", "tr"),
    ("table", "th"): ("tbody", "tr"),
    ("table", "tr"): ("tbody",),
    ("tbody", "td"): ("tr",),
    ("thead", "td"): ("tr",),
    ("tfoot", "td"): ("tr",),
    ("tbody", "th"): ("tr",),
    ("thead", "th"): ("tr",),
    ("tfoot", "th"): ("tr",),
}

# One token at a time, as the HTML tokenizer cuts markup: text (a "<" that starts no
# markup is text), a comment, a bogus comment (<!…>, <?…>, </ …>), or a tag. In a tag a
# quote opens a value only after "=", and a value may hold ">"; an unclosed quote or
# comment runs to the end. Linear time without possessive quantifiers: text is written
# so that each character can be matched one way only ("unrolled"), and every other
# alternative, once its first characters match, cannot fail (what follows is optional),
# so nothing backtracks. (Python 3.11.0–3.11.2, Debian 12's, mismatched the possessive
# form this had: a "<" that opens a tag was taken as text and no budget was enforced.)
_TOKEN = re.compile(
    r"""(?P<text>(?:[^<]|<(?![A-Za-z/!?]))[^<]*(?:<(?![A-Za-z/!?])[^<]*)*)"""
    r"""|(?P<comment><!--(?:-?>|.*?(?:--!?>|\Z)))"""
    r"""|(?P<bogus><(?:[!?]|/(?![A-Za-z]))[^>]*>?)"""
    r"""|(?P<tag><(?P<close>/)?(?P<name>[A-Za-z][^\s/>]*)"""
    r"""(?:[^>=]|=\s*"[^"]*(?:"|\Z)|=\s*'[^']*(?:'|\Z)|=)*>?)""",
    re.DOTALL,
)
_TAG_NAME = re.compile(r"<([A-Za-z][^\s/>]*)")
_ATTRIBUTE = re.compile(r"""[\s/]*(?:[^\s/>][^\s/>=]*)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))?""")
_RAW_TEXT_END = {
    name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE) for name in _RAW_TEXT - {"plaintext"}
}


@dataclass(frozen=True, slots=True)
class Token:
    """A span of markup: text, or a tag / comment / raw-text element as one piece."""

    start: int
    end: int
    is_text: bool


def tokens(markup: str) -> Iterator[Token]:
    """Spans covering `markup` as an HTML tokenizer cuts it (outside svg and math).

    A raw-text element (script, style, textarea …) is one span from its start tag to the
    end of its end tag: what lies inside is no markup.
    """
    position, n = 0, len(markup)
    while position < n:
        token = _next_token(markup, position)
        end = token.end()
        name = token.group("name")
        if name is not None and token.group("close") is None:
            end = raw_text_end(markup, end, name.lower())
        yield Token(position, end, token.lastgroup == "text")
        position = end


def _next_token(markup: str, position: int) -> re.Match[str]:
    token = _TOKEN.match(markup, position)
    assert token is not None  # every character starts one of the alternatives
    return token


def raw_text_end(markup: str, after_tag: int, name: str) -> int:
    """Where an element's content ends if it is raw text (after its end tag), else
    `after_tag`."""
    if name == "plaintext":
        return len(markup)
    closing = _RAW_TEXT_END.get(name)
    if closing is None:
        return after_tag
    found = closing.search(markup, after_tag)
    return len(markup) if found is None else _next_token(markup, found.start()).end()


@dataclass(slots=True)
class Cuts:
    """What bringing one item's markup within budget took (all zero for real items)."""

    deep: int = 0  # tags dropped for nesting deeper than MAX_DEPTH
    formatting: int = 0  # formatting tags dropped past MAX_FORMATTING left open
    tags: int = 0  # characters cut from the end past MAX_TAGS
    attributes: int = 0  # attributes dropped past MAX_ATTRIBUTES on one element
    text: int = 0  # characters cut from text runs longer than MAX_TEXT_RUN
    size: int = 0  # characters cut from the end past MAX_MARKUP

    def notes(self, where: str) -> tuple[str, ...]:
        """One sentence per limit reached, for the item's notes (`explain`)."""
        if self == _NO_CUTS:  # every real item
            return ()
        said = (
            (self.deep, f"tag(s) nested deeper than {MAX_DEPTH} dropped from {where}"),
            (self.formatting, f"formatting tag(s) past {MAX_FORMATTING} left open dropped"),
            (self.tags, f"character(s) past the first {MAX_TAGS:,} tags of {where} cut"),
            (self.attributes, f"attribute(s) past {MAX_ATTRIBUTES} on one element dropped"),
            (self.text, f"character(s) of text runs longer than {MAX_TEXT_RUN:,} cut"),
            (self.size, f"character(s) past the first {MAX_MARKUP:,} of {where} cut"),
        )
        return tuple(
            f"markup over budget: {count:,} {what}" + ("" if where in what else f" in {where}")
            for count, what in said
            if count
        )


_NO_CUTS = Cuts()


@dataclass(slots=True)
class _OpenElements:
    """The scan's model of the stack of open elements, with O(1) scope checks."""

    names: list[str] = field(default_factory=list)
    at: dict[str, list[int]] = field(default_factory=dict)  # name → its depths, rising
    special: list[int] = field(default_factory=list)  # depths of special elements
    hard: list[int] = field(default_factory=list)  # …of those but address, div and p
    barrier: list[int] = field(default_factory=list)  # depths of scope barriers
    foreign: list[int] = field(default_factory=list)  # depths of svg / math

    def push(self, name: str) -> None:
        depth = len(self.names)
        self.names.append(name)
        self.at.setdefault(name, []).append(depth)
        if name in _SPECIAL:
            self.special.append(depth)
            if name not in _LIST_PASSES:
                self.hard.append(depth)
        if name in _BARRIER:
            self.barrier.append(depth)
        if name in _FOREIGN:
            self.foreign.append(depth)

    def pop_to(self, depth: int) -> None:
        """Close the element at `depth` and everything opened after it."""
        while len(self.names) > depth:
            self.at[self.names.pop()].pop()
            top = len(self.names)
            for stack in (self.special, self.hard, self.barrier, self.foreign):
                if stack and stack[-1] == top:
                    stack.pop()

    def implied_parents(self, name: str) -> tuple[str, ...]:
        """The elements the tree builder creates around a table part (a cell straight in a
        table gets a tbody and a tr), judged by the last table part open."""
        depths = [(self.at[part][-1], part) for part in _TABLE_PARTS if self.at.get(part)]
        if not depths or not self.at.get("table"):
            return ()
        innermost = max(depths)[1]
        return _IMPLIED_PARENTS.get((innermost, name), ())

    def closable(self, name: str, scope: str = "end") -> int | None:
        """Depth of the open `name` an end tag (`scope` "end") or a start tag's implied
        close (the scopes of _IMPLIED) reaches, if any.

        An end tag reaches an ordinary element through ordinary ones only, a special one
        through anything but a barrier or the narrower scope's extra barriers.
        """
        depths = self.at.get(name)
        if not depths:
            return None
        depth = depths[-1]
        if scope == "top":
            return depth if depth == len(self.names) - 1 else None
        if scope == "cell" and not (self.at.get("table") and self.at["table"][0] < depth):
            return None  # a cell outside any table is no cell: the tree builder ignores it
        if scope == "end" and name in _TABLE_PARTS:  # the standard's table scope
            return None if self._opened_after(depth, ("table", "template")) else depth
        if scope == "list":
            blockers = self.hard
        elif scope in ("scope", "cell") or name in _SPECIAL:
            blockers = self.barrier
        else:
            blockers = self.special
        if blockers and blockers[-1] > depth:
            return None
        through = _NARROWER_SCOPE.get(name, ()) if scope != "list" else ()
        return None if self._opened_after(depth, through) else depth

    def _opened_after(self, depth: int, names: tuple[str, ...]) -> bool:
        return any(self.at.get(name) and self.at[name][-1] > depth for name in names)


@dataclass(slots=True)
class _Scan:
    markup: str
    cuts: Cuts = field(default_factory=Cuts)
    out: list[str] = field(default_factory=list)
    tags: int = 0
    open_formatting: dict[str, int] = field(default_factory=dict)
    formatting: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # name → end tags to drop
    stack: _OpenElements = field(default_factory=_OpenElements)

    def run(self) -> str:
        markup = self.markup
        if len(markup) > MAX_MARKUP:
            self.cuts.size = len(markup) - MAX_MARKUP
            markup = self.markup = markup[:MAX_MARKUP]
        position, n, out = 0, len(markup), self.out
        while position < n:
            token = _next_token(markup, position)
            end = token.end()
            kind = token.lastgroup
            if kind == "text":
                out.append(self.text(markup[position:end]))
            else:
                if self.tags >= MAX_TAGS:
                    self.cuts.tags = n - position
                    break
                self.tags += 1
                if kind == "tag":
                    end, piece = self.tag(token)
                    out.append(piece)
                elif self.stack.foreign and markup.startswith("<![CDATA[", position):
                    close = markup.find("]]>", position)  # svg and math have CDATA
                    end = n if close == -1 else close + 3
                    out.append(markup[position:end])
                else:
                    out.append(markup[position:end])
            position = end
        return "".join(out)

    def text(self, run: str) -> str:
        if len(run) <= MAX_TEXT_RUN:
            return run
        cut = run[:MAX_TEXT_RUN]
        amp = cut.rfind("&")
        if amp != -1 and ";" not in cut[amp:] and len(cut) - amp < 40:
            cut = cut[:amp]  # never half a character reference
        self.cuts.text += len(run) - len(cut)
        return cut

    def tag(self, token: re.Match[str]) -> tuple[int, str]:
        """The end of the tag (or raw-text element) matched and what of it to keep."""
        start, end = token.span()
        name = token.group("name").lower()
        if token.group("close") is not None:
            return end, self.end_tag(name, self.markup[start:end])
        foreign = bool(self.stack.foreign)
        if not foreign:
            end = raw_text_end(self.markup, end, name)
        return end, self.start_tag(name, self.markup[start:end], foreign=foreign)

    def end_tag(self, name: str, piece: str) -> str:
        if self.dropped.get(name):
            self.dropped[name] -= 1
            return ""
        if self.open_formatting.get(name):
            self.open_formatting[name] -= 1
            self.formatting -= 1
        depth = self.stack.closable(name)
        if depth is not None:
            self.stack.pop_to(depth)
        return piece

    def start_tag(self, name: str, piece: str, *, foreign: bool) -> str:
        raw = name in _RAW_TEXT and not foreign
        opens = not raw and name not in _VOID and not (foreign and piece.endswith("/>"))
        if opens and not foreign and name in _TABLE_PARTS and name != "table":
            # A table part outside any table (or template) is ignored by the tree builder:
            # kept in the model, a later end tag of it would close what html5ever keeps.
            opens = bool(self.stack.at.get("table") or self.stack.at.get("template"))
        for closed, scope in _IMPLIED.get(name, ()):
            depth = self.stack.closable(closed, scope)
            if depth is not None:
                self.stack.pop_to(depth)
        implied = self.stack.implied_parents(name) if name in _TABLE_PARTS else ()
        if opens and len(self.stack.names) + len(implied) >= MAX_DEPTH:
            self.cuts.deep += 1
            self.dropped[name] = self.dropped.get(name, 0) + 1
            return ""
        if name in _FORMATTING:
            if self.formatting >= MAX_FORMATTING:
                self.cuts.formatting += 1
                self.dropped[name] = self.dropped.get(name, 0) + 1
                return ""
            self.open_formatting[name] = self.open_formatting.get(name, 0) + 1
            self.formatting += 1
        if opens:
            for parent in implied:
                self.stack.push(parent)
            self.stack.push(name)
        if len(piece) > 2 * MAX_ATTRIBUTES and not raw:  # too short to hold more
            return self.attributes_within_budget(piece)
        return piece

    def attributes_within_budget(self, piece: str) -> str:
        named = _TAG_NAME.match(piece)
        assert named is not None  # only start tags come here
        position, count = named.end(), 0
        while (attribute := _ATTRIBUTE.match(piece, position)) and attribute.end() > position:
            count += 1
            if count > MAX_ATTRIBUTES:
                self.cuts.attributes += len(_ATTRIBUTE.findall(piece, position))
                return piece[:position] + ">"
            position = attribute.end()
        return piece


def within_budget(markup: str) -> tuple[str, Cuts]:
    """`markup` brought within the limits above, and what that cut (nothing, for real
    items: then `markup` comes back unchanged)."""
    if surely_within(markup):
        return markup, Cuts()
    scan = _Scan(markup)
    return scan.run(), scan.cuts


# Start tags of formatting elements, as the scan names them (`name.lower()`; IGNORECASE
# also matches the Kelvin sign for "k", the one non-ASCII letter whose lower case is one).
_FORMATTING_START = re.compile(
    rf"<(?:{'|'.join(sorted(_FORMATTING, key=len, reverse=True))})(?=[\s/>]|\Z)", re.IGNORECASE
)
# A tag longer than 2 * MAX_ATTRIBUTES characters (the only ones whose attributes the scan
# counts) either has that many characters before its ">", or a quoted value holding a ">".
_LONG_TAG = re.compile(rf"<[A-Za-z][^>]{{{2 * MAX_ATTRIBUTES - 1}}}")
_QUOTED_GT = re.compile(r"""=\s*(?:"[^">]*|'[^'>]*)>""")


def surely_within(markup: str) -> bool:
    """True when counting characters proves the scan would cut nothing (so it would give
    `markup` back unchanged): most items are far below every limit, and these counts run
    in C where the scan runs a Python step per token. False proves nothing.

    Each bound is on counts the scan can only reach fewer of: every tag, end tag and
    comment starts at a "<"; every start tag at a "<" not followed by "/"; a start tag
    opens one element, or three inside a table (a tbody and a tr the tree builder adds);
    a formatting element left open was a formatting start tag."""
    if len(markup) > MAX_TEXT_RUN:  # a text run or the whole markup could be too long
        return False
    opening = markup.count("<")
    if opening > MAX_TAGS:
        return False
    starts = opening - markup.count("</")
    per_start = 3 if "<t" in markup or "<T" in markup else 1  # table parts all start "t"
    if starts * per_start > MAX_DEPTH:
        return False
    if starts > MAX_FORMATTING and len(_FORMATTING_START.findall(markup)) > MAX_FORMATTING:
        return False
    return _LONG_TAG.search(markup) is None and _QUOTED_GT.search(markup) is None
