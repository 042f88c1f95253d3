"""HTML: building a tree, rewriting links, dropping trackers, sanitising, extracting text.

The sanitiser (`sanitise`, nh3 with an allow-list, then a check of every URL as the most
lenient reader would take it) runs LAST over the serialised tree: whatever the earlier
passes did or missed, only allowed tags, attributes and http(s) / mailto URLs reach the
output, and nothing a later step deletes (a control character) can make them unsafe.
The earlier passes use lxml only to understand the markup (find footers, links,
pixels); their output is never trusted.
"""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
import nh3
from lxml import etree
from lxml.etree import ParserError
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction

from aggregator.normalise.budget import tokens, within_budget
from aggregator.normalise.rules import TrackingRules
from aggregator.normalise.text import collapse_whitespace, decode_entities, strip_controls
from aggregator.normalise.urls import SAFE_SCHEMES, clean_url_text, is_tracker, strip_tracking
from aggregator.urlparts import join_url, split_url

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
        "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
        "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "time", "tr", "u", "ul", "var",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "hreflang"},
    "abbr": {"title"},
    "del": {"datetime"},
    "img": {"src", "alt", "title", "width", "height"},
    "ins": {"datetime"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
}
# On any allowed tag (nh3's own default, written out so that the allow-list is all here).
GENERIC_ATTRIBUTES: frozenset[str] = frozenset({"lang", "title"})
# No `cite` attributes: nh3 checks the scheme of href/src only, and a cite URL is not shown.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
# Removed together with everything inside them: their content is code or UI, not prose.
_DROP_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object",
        "embed", "applet", "svg", "math", "textarea", "select", "button", "title", "head",
        "canvas", "audio", "video", "base", "meta", "link",
    }
)  # fmt: skip
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes={**ALLOWED_ATTRIBUTES, "*": set(GENERIC_ATTRIBUTES)},
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer",
    strip_comments=True,
)
BLOCK_TAGS: frozenset[str] = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_EMPTY_PARAGRAPH = re.compile(r"<p>(?:\s|&nbsp;|\u00a0|<br>)*</p>")
_LOOKS_LIKE_HTML = re.compile(r"<[A-Za-z!/][^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+\d*);")
_BLANK_LINES = re.compile(r"\n\s*\n")
_SENTENCE_END = tuple('.!?:;"”’)]…')
_CAPTION_MAX_WORDS = 16


def looks_like_html(text: str) -> bool:
    return _LOOKS_LIKE_HTML.search(text) is not None


def is_caption_line(line: str) -> bool:
    """A photo caption in plain text: a short line that is not a sentence."""
    words = line.split()
    return 0 < len(words) <= _CAPTION_MAX_WORDS and not line.rstrip().endswith(_SENTENCE_END)


def text_to_html(text: str) -> str:
    """Plain text as HTML: blank-line paragraphs; caption lines become figcaptions.

    The first paragraph is never a caption: a one-line text is a sentence, not a photo.
    """
    paragraphs = [collapse_whitespace(p) for p in _BLANK_LINES.split(text.replace("\r", ""))]
    out: list[str] = []
    for index, para in enumerate(p for p in paragraphs if p):
        escaped = html_lib.escape(para, quote=False)
        if index > 0 and is_caption_line(para):
            out.append(f"<figure><figcaption>{escaped}</figcaption></figure>")
        else:
            out.append(f"<p>{escaped}</p>")
    return "\n".join(out)


# lxml.html's own parser picks each element's class with a Python callback, run every
# time an element is touched from Python; this one does it in C. Every element is an
# HtmlElement: the form classes lxml.html would give instead are no allowed tags.
_PARSER = lxml.html.HTMLParser()
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)
_FULL_DOCUMENT = re.compile(r"^\s*<(?:html|!doctype)", re.IGNORECASE)


def _fragment(markup: str) -> HtmlElement:
    """lxml.html.fragment_fromstring(markup, create_parent="div"), without its overhead."""
    if not _FULL_DOCUMENT.match(markup):
        markup = f"<html><body>{markup}</body></html>"
    doc = etree.fromstring(markup, _PARSER)
    if doc is None:
        raise ParserError("Document is empty")
    root: HtmlElement = _PARSER.makeelement("div")
    body = doc.find("body")
    if body is not None:
        if body.text and body.text.strip():
            root.text = body.text
        root.extend(body)
    return root


def parse_fragment(markup: str) -> HtmlElement:
    """A tree of the fragment under one <div> (which serialise_children leaves out)."""
    markup = strip_controls(markup)
    try:
        return _fragment(markup or "<p></p>")
    except (ParserError, ValueError):
        # lxml gives up on some degenerate inputs (e.g. only a comment): keep the text.
        root = _fragment("<p></p>")
        root[0].text = markup
        return root


def serialise_children(root: HtmlElement) -> str:
    head = html_lib.escape(root.text or "", quote=False)
    return head + "".join(lxml.html.tostring(child, encoding="unicode") for child in root)


def remove_keeping_tail(el: HtmlElement) -> None:
    """Remove `el` and its content; the text after it stays where it was."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail or ""
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def is_empty_block(el: HtmlElement) -> bool:
    has_media = el.find(".//img") is not None or el.tag == "img"
    return not has_media and not collapse_whitespace(el.text_content() or "")


def drop_empty_paragraphs(root: HtmlElement) -> int:
    """Remove the blocks left with no text and no image; how many went."""
    dropped = 0
    for el in list(root.iter("p", "figure", "li", "div", "span", "em", "strong")):
        if el.text and not el.text.isspace():
            continue  # text of its own: not empty (the cheap test that settles most)
        if el is not root and el.getparent() is not None and is_empty_block(el):
            remove_keeping_tail(el)
            dropped += 1
    return dropped


@dataclass(frozen=True, slots=True)
class LinkReport:
    resolved: int = 0  # relative links made absolute
    tracking_removed: tuple[str, ...] = ()  # parameter names removed
    unsafe_removed: int = 0  # links with a scheme other than http(s)/mailto
    trackers_removed: tuple[str, ...] = ()  # hosts of tracking images removed


def resolve_content_url(
    url: str, base: str | None, tracking: TrackingRules
) -> tuple[str | None, bool, tuple[str, ...]]:
    """A link inside content: (absolute URL or None if unsafe, was relative, params removed).

    Unlike canonical_url, the fragment stays: it points inside the linked page.
    """
    text = clean_url_text(url)
    try:
        parts = urlsplit(text)
        relative = not parts.scheme
        if relative and base:
            parts = urlsplit(urljoin(clean_url_text(base), text))
    except ValueError:
        return None, False, ()
    scheme = parts.scheme.lower()
    if relative and not parts.scheme:
        return text, False, ()  # no base to resolve against: left relative
    if scheme == "mailto":
        return urlunsplit(parts), False, ()
    if scheme not in SAFE_SCHEMES:
        return None, False, ()
    query, removed = strip_tracking(parts.query, tracking)
    netloc = parts.netloc.lower()
    return urlunsplit((scheme, netloc, parts.path, query, parts.fragment)), relative, removed


def _is_pixel(img: HtmlElement) -> bool:
    def small(name: str) -> bool:
        value = (img.get(name) or "").strip().removesuffix("px")
        return value.isdigit() and int(value) <= 1

    return small("width") and small("height")


def rewrite_links(root: HtmlElement, base: str | None, tracking: TrackingRules) -> LinkReport:
    """Resolve hrefs/srcs, strip tracking parameters, drop pixels and tracker images."""
    resolved = unsafe = 0
    removed: list[str] = []
    trackers: list[str] = []
    for el in list(root.iter("a", "img")):
        attr = "href" if el.tag == "a" else "src"
        value = el.get(attr)
        if value is None:
            continue
        url, was_relative, params = resolve_content_url(value, base, tracking)
        resolved += was_relative
        removed.extend(params)
        if el.tag == "img" and (url is None or _is_pixel(el) or is_tracker(url, tracking)):
            trackers.append(urlsplit(url).hostname or "inline" if url else "unsafe source")
            remove_keeping_tail(el)
            continue
        if url is None:
            unsafe += 1
            del el.attrib[attr]
        else:
            el.set(attr, url)
    return LinkReport(
        resolved=resolved,
        tracking_removed=tuple(dict.fromkeys(removed)),
        unsafe_removed=unsafe,
        trackers_removed=tuple(trackers),
    )


# html5ever, under nh3, grows a text node one character reference (or bare "&") at a time
# by copying it: n of them in one text cost n² (1.5 s for 160,000). A <wbr> (no allowed
# tag, so removed) between chunks of such a text keeps every node short, and the output is
# the same. It goes only into text as a tokenizer sees it (outside tags, their quoted
# values and comments); xmp and its kin would keep "<wbr>" as text, so they are left be.
_LONG_TEXT = 8192  # characters of text before a run is worth cutting
_TEXT_CHUNK = 4096  # characters between two <wbr>
_REFERENCES_WORTH_CUTTING = 256  # below this many "&" a run costs nothing noticeable
_RAW_TEXT_TAG = re.compile(r"<(?:xmp|noembed|noframes|plaintext)\b", re.IGNORECASE)


def _cut_long_text(markup: str) -> str:
    if (
        len(markup) < _LONG_TEXT
        or markup.count("&") < _REFERENCES_WORTH_CUTTING
        or _RAW_TEXT_TAG.search(markup)
    ):
        return markup
    out: list[str] = []
    for token in tokens(markup):
        piece = markup[token.start : token.end]
        long = token.is_text and token.end - token.start >= _LONG_TEXT
        out.append(_with_breaks(piece) if long else piece)
    return "".join(out)


def _with_breaks(text: str) -> str:
    if text.count("&") < _REFERENCES_WORTH_CUTTING:
        return text
    chunks: list[str] = []
    start = 0
    while (cut := text.find(" ", start + _TEXT_CHUNK)) != -1:  # spaces: never in an entity
        chunks.append(text[start:cut])
        start = cut
    chunks.append(text[start:])
    return "<wbr>".join(chunks)


# nh3 serialises every tag the same way (double-quoted values; "<" in text escaped), so
# the tags carrying URLs and their URL attributes can be found by pattern in its output.
_URL_TAG = re.compile(r'<(?:a|img)\b(?:\s+[^\s=>/]+(?:="[^"]*")?)*\s*/?>')
_URL_ATTRIBUTE = re.compile(r'\s(?:href|src)="([^"]*)"')
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_ASCII_NOISE = re.compile(r"[\x00-\x20\x7f]")
_READ_AGAINST = "https://base.invalid/"


def _invisible(char: str) -> bool:
    """A character some reader of a URL skips or deletes: controls, spaces, format
    characters (zero-width space, bidi marks …), surrogates and noncharacters."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")
        or char.isspace()
        or 0xFDD0 <= code <= 0xFDEF
        or code & 0xFFFE == 0xFFFE
    )


def url_as_read(value: str) -> str:
    """A URL attribute's value as the most lenient reader could take it: entities
    decoded, every invisible character (see _invisible) deleted wherever it stands.

    Browsers delete tabs and newlines and trim spaces and C0 controls; later steps of our
    own (XML output) or other readers may delete more. Judging this form, the strictest,
    leaves nothing a deletion could turn into a scheme ("java\x81script:").
    """
    text = decode_entities(value)
    if text.isascii():
        return _ASCII_NOISE.sub("", text)
    return "".join(char for char in text if not _invisible(char))


# A value that starts with one of these is safe however read: reading leniently only
# deletes characters and decodes entities, and there are none in the scheme it names.
_SAFE_PREFIXES = tuple(f"{scheme}:" for scheme in sorted(URL_SCHEMES))


def is_safe_url(value: str) -> bool:
    """http, https or mailto, or a relative URL (which resolves to http(s)), however read."""
    if value.startswith(_SAFE_PREFIXES):  # nearly every link of a feed: nothing to read
        return True
    read = url_as_read(value)
    scheme = _SCHEME.match(read)
    if scheme is not None:
        return scheme.group(0)[:-1].lower() in URL_SCHEMES
    resolved = split_url(join_url(_READ_AGAINST, read) or "")
    return resolved is not None and resolved.scheme in SAFE_SCHEMES


def _drop_unsafe_urls(markup: str) -> str:
    def check_tag(tag: re.Match[str]) -> str:
        return _URL_ATTRIBUTE.sub(check_attribute, tag.group(0))

    def check_attribute(attribute: re.Match[str]) -> str:
        return attribute.group(0) if is_safe_url(html_lib.unescape(attribute.group(1))) else ""

    return _URL_TAG.sub(check_tag, markup) if ("href=" in markup or "src=" in markup) else markup


def sanitise(markup: str) -> str:
    """Allow-listed HTML: no scripts, handlers, unsafe URLs; rel=noopener on links.

    Whatever its shape, the markup costs time in proportion to its size: it is brought
    within the budget of `normalise.budget` first (which real items never reach).
    """
    bounded, _ = within_budget(strip_controls(markup))
    return sanitise_bounded(bounded)


def sanitise_bounded(markup: str) -> str:
    """`sanitise` for markup known to be within budget already: what `within_budget`
    returned, or that sanitised, parsed by lxml and serialised again (no deeper, and
    hardly more tags). Every check of `sanitise` but the budget's scan."""
    # nh3 turns some character references into characters XML cannot hold ("&#1;"):
    # they go before the URLs are judged, so that publishing finds nothing to delete.
    # nh3 judges a URL as written; is_safe_url as any reader could take it, and has the
    # last word.
    clean = _CLEANER.clean(_cut_long_text(strip_controls(markup)))
    allowed = _drop_unsafe_urls(strip_controls(clean))
    cleaned, removed = _EMPTY_PARAGRAPH.subn("", allowed)
    while removed:  # removing one empty <p> can empty its parent
        cleaned, removed = _EMPTY_PARAGRAPH.subn("", cleaned)
    return cleaned.strip()


def paragraphs(markup: str, *, skip_captions: bool = False) -> list[str]:
    """The text of each block of `markup`, whitespace collapsed, empty blocks left out."""
    return tree_paragraphs(parse_fragment(markup), skip_captions=skip_captions)


def tree_paragraphs(root: HtmlElement, *, skip_captions: bool = False) -> list[str]:
    """`paragraphs` of the markup that `root` (from parse_fragment) was parsed from."""
    chunks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = collapse_whitespace("".join(current))
        if text:
            chunks.append(text)
        current.clear()

    def visit(el: HtmlElement) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _DROP_WITH_CONTENT or (skip_captions and tag == "figcaption"):
            current.append(" ")
        else:
            block = tag in BLOCK_TAGS
            if block:
                flush()
            if tag in ("br", "img", "hr"):
                current.append(" ")
            current.append(el.text or "")
            for child in el:
                visit(child)
            if block:
                flush()
        current.append(el.tail or "")

    current.append(root.text or "")
    for child in root:
        visit(child)
    flush()
    return chunks


def html_to_text(markup: str, *, skip_captions: bool = False) -> str:
    """Plain text of an HTML fragment, Unicode NFC: one paragraph per block, separated by
    a blank line."""
    return tree_text(parse_fragment(markup), skip_captions=skip_captions)


def tree_text(root: HtmlElement, *, skip_captions: bool = False) -> str:
    """`html_to_text` of the markup that `root` (from parse_fragment) was parsed from."""
    text = "\n\n".join(tree_paragraphs(root, skip_captions=skip_captions))
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_ENTITY_IN_TEXT = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")


def decode_text_entities(root: HtmlElement) -> bool:
    """Decode entities left in text nodes by double escaping ("&amp;amp;" → "&").

    The parser already decoded the markup once; an entity still in a text node means the
    source escaped twice. Code blocks are left alone: there an entity may be the subject.
    """
    changed = False
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in ("pre", "code"):
            continue
        for attr in ("text", "tail"):
            value = getattr(el, attr)
            if value and "&" in value and _ENTITY_IN_TEXT.search(value):
                setattr(el, attr, decode_entities(value))
                changed = True
    return changed


def _holds_block(el: HtmlElement) -> bool:
    return isinstance(el.tag, str) and (
        el.tag in BLOCK_TAGS or any(d.tag in BLOCK_TAGS for d in el.iterdescendants())
    )


def _wrap_children(parent: HtmlElement) -> None:
    nodes: list[HtmlElement] = []
    para: HtmlElement | None = None
    # The paragraph's last child, kept here: lxml's len() and [-1] walk every child, which
    # made a fragment of 60,000 links take minutes.
    last: HtmlElement | None = None

    def add_text(text: str | None) -> None:
        nonlocal para, last
        if not text:
            return
        if para is None:
            if not text.strip():
                return
            para, last = lxml.html.Element("p"), None
            nodes.append(para)
        if last is not None:
            last.tail = (last.tail or "") + text
        else:
            para.text = (para.text or "") + text

    add_text(parent.text)
    parent.text = None
    for child in list(parent):
        parent.remove(child)
        tail, child.tail = child.tail, None
        if _holds_block(child):
            nodes.append(child)
            para = None
            if tail and not tail.strip():
                child.tail = tail  # keep the line break between blocks
                tail = None
        else:
            if para is None:
                para = lxml.html.Element("p")
                nodes.append(para)
            para.append(child)
            last = child
        add_text(tail)
    parent.extend(nodes)


def wrap_loose_text(root: HtmlElement) -> None:
    """Put text and inline elements lying beside blocks into paragraphs of their own.

    Footers and share lines are matched block by block; loose text ("Story<p>…</p>Share
    this") would otherwise escape the rules, and cleaning the output again would then
    find what the first pass missed. A root with no block at all becomes one paragraph.
    """
    if not any(_holds_block(child) for child in root):
        _wrap_children(root)
        return
    containers = [
        el
        for el in root.iter()
        if (el is root or (isinstance(el.tag, str) and el.tag in BLOCK_TAGS and el.tag != "p"))
        and any(_holds_block(child) for child in el)
    ]
    for el in containers:
        _wrap_children(el)
