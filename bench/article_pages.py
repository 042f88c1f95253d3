"""Article pages built around real press-release texts, for the full-text tests and
`bench/fulltext.py`: the release sits among a cookie banner, navigation, breadcrumbs,
share buttons, a byline, related links, comments, a sidebar and a footer, in a few
layouts, so an extractor must find the release and leave the rest.

    release = read_release(path)            # a seed document: title, organisation, paragraphs
    page = article_page(release, related=[...], layout=2)
    teaser_rss(base_url, [(path, release), ...])   # first sentence + "…" + Read more
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from aggregator.ingest.seedtext import decode_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev" / "seeds"
_FOOTER = re.compile(r"^/Public Release\.")


@dataclass(frozen=True)
class Release:
    title: str
    organisation: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def first_sentence(self) -> str:
        first = self.paragraphs[0]
        end = first.find(". ")
        return first[: end + 1] if end > 0 else first


def read_release(path: Path) -> Release:
    """A seed document: title, organisation, then paragraphs; the short caption line and
    the republisher's footer are left out."""
    text = decode_text(path.read_bytes()).replace("\r\n", "\n")  # the product's decoding
    lines = [ln.strip() for ln in re.split(r"\n\s*\n", text)]
    lines = [ln for ln in lines if ln]
    title, organisation, *body = lines
    # A caption line ends without a full stop; the footer is the republisher's.
    paragraphs = [p for p in body if not _FOOTER.match(p) and p[-1:] in ".!?\"'”"]
    return Release(title.strip(), organisation.strip(), tuple(paragraphs))


def corpus_releases(limit: int | None = None) -> list[Release]:
    paths = sorted(CORPUS.glob("*.txt"))[:limit]
    return [read_release(p) for p in paths]


_COMMENTS = (
    ("Jane from Ballarat", "Great news for our community, thanks for sharing this update!"),
    ("Concerned resident", "When will the consultation open? Nobody told us about it."),
    ("M. Okafor", "I hope the funding actually reaches the regions this time around."),
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _chrome(org: str) -> tuple[str, str, str]:
    cookie = (
        '<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your '
        "experience on our website. By continuing to browse you agree to our use of cookies "
        'and our privacy policy.</p><button type="button">Accept all cookies</button> '
        '<a href="/privacy">Manage preferences</a></div>'
    )
    header = (
        f'<header class="site-header"><a class="logo" href="/">{_e(org)}</a><nav class="menu">'
        '<ul><li><a href="/">Home</a></li><li><a href="/news">News and media</a></li>'
        '<li><a href="/about">About us</a></li><li><a href="/careers">Careers</a></li>'
        '<li><a href="/contact">Contact us</a></li></ul></nav>'
        '<form class="search" action="/search"><input name="q" placeholder="Search">'
        "</form></header>"
    )
    footer = (
        f"<footer><p>Copyright 2026 {_e(org)}. All rights reserved.</p><ul>"
        '<li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use'
        '</a></li><li><a href="/accessibility">Accessibility statement</a></li></ul>'
        "<p>Follow us on social media for the latest updates from our teams.</p></footer>"
    )
    return cookie, header, footer


def _share(slug: str) -> str:
    return (
        '<div class="share-buttons"><span>Share this story:</span> '
        f'<a href="https://twitter.example/share?u={slug}">Share on X</a> '
        f'<a href="https://facebook.example/sharer?u={slug}">Share on Facebook</a> '
        f'<a href="https://linkedin.example/share?u={slug}">Share on LinkedIn</a> '
        '<a href="mailto:?subject=news">Email this page</a></div>'
    )


def _related(related: list[str]) -> str:
    links = "".join(
        f'<li><a href="/news/related-{i}">{_e(t)}</a></li>' for i, t in enumerate(related)
    )
    return f'<section class="related-posts"><h2>Related news</h2><ul>{links}</ul></section>'


def _comments() -> str:
    body = "".join(
        f'<div class="comment"><p class="comment-author">{_e(who)}</p><p>{_e(said)}</p></div>'
        for who, said in _COMMENTS
    )
    return (
        f'<section id="comments" class="comments-area"><h2>{len(_COMMENTS)} comments</h2>'
        f'{body}<form class="comment-form"><p>Leave a reply. Your email address will not be '
        "published.</p><textarea name=comment></textarea><button>Post comment</button>"
        "</form></section>"
    )


# After the body field, as content management systems render them: tags, a media
# contact block, print links.
_EXTRAS = (
    '<div class="tags">Tags: <a href="/tag/media">Media releases</a>, '
    '<a href="/tag/community">Community</a></div>'
    '<div class="field-media-contact"><h3>Media contact</h3><p>Press office, phone '
    "02 5550 1234, email press@org.example</p></div>"
    '<p class="print"><a href="javascript:print()">Print this page</a> | '
    '<a href="/news.rss">RSS</a></p>'
)


def article_page(release: Release, *, related: list[str], layout: int = 0, slug: str = "x") -> str:
    """One page holding the release, in one of four layouts; inside the article, a
    photo with its caption after the first paragraph, then tags, a media contact box and
    print links. The fourth layout also puts an inline "Related:" link between two
    paragraphs, a "last updated" line and a "back to top" link (words an extractor is
    expected to keep or miss: the benchmark was not tuned on them)."""
    cookie, header, footer = _chrome(release.organisation)
    body = [f"<p>{_e(p)}</p>" for p in release.paragraphs]
    figure = (
        '<figure class="wp-caption"><img src="/img/photo.jpg" alt="Photo">'
        f"<figcaption>Photo: {_e(release.organisation)} staff at the announcement"
        "</figcaption></figure>"
    )
    paragraphs = "".join([*body[:1], figure, *body[1:]])
    byline = f'<p class="byline">Media release, {_e(release.organisation)}, 12 November 2026</p>'
    title = f"<h1>{_e(release.title)}</h1>"
    if layout % 4 == 3:
        inline = f'<p><strong>Related:</strong> <a href="/news/r">{_e(related[0])}</a></p>'
        parts = [*body[:2], inline, *body[2:]]
        main = (
            f'<div id="main-content"><div class="article-header">{title}{byline}</div>'
            f'<div class="article-body">{"".join(parts)}</div>{_EXTRAS}'
            '<p class="updated">Page last updated: 12 November 2026</p>'
            f'<a href="#top">Back to top</a></div>{_related(related)}{_comments()}'
        )
    elif layout % 3 == 0:
        main = (
            f'<main><nav class="breadcrumb"><a href="/">Home</a> / <a href="/news">Media '
            f'releases</a></nav><article class="post">{title}{byline}{_share(slug)}'
            f'<div class="entry-content">{paragraphs}</div>{_EXTRAS}{_share(slug)}</article>'
            f"{_related(related)}{_comments()}</main>"
        )
    elif layout % 3 == 1:
        main = (
            f'<div id="content" class="container"><div class="row"><div class="col-main">'
            f'{title}{byline}<div class="field-body">{paragraphs}</div>{_EXTRAS}{_share(slug)}'
            f'</div><div class="col-side">{_related(related)}<div class="newsletter"><h3>'
            "Subscribe to our newsletter</h3><p>Get the latest news and media releases "
            "delivered to your inbox every week.</p></div></div></div>"
            f"{_comments()}</div>"
        )
    else:
        main = (
            f'<div class="page"><div class="story">{title}{_share(slug)}{byline}'
            f'<section class="story-body">{paragraphs}</section>{_EXTRAS}</div>'
            f'<aside class="sidebar">{_related(related)}</aside>{_comments()}</div>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(release.title)} | {_e(release.organisation)}</title></head><body>"
        f"{cookie}{header}{main}{footer}</body></html>"
    )


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>{base}/</link>
<description>News digest</description>
{items}
</channel></rss>"""

ITEM = """<item><title>{title}</title><link>{link}</link><guid>{link}</guid>
<pubDate>{date}</pubDate><description>{description}</description></item>"""


def teaser_rss(
    title: str,
    base: str,
    items: list[tuple[str, Release, str]],
    *,
    teaser: str | None = None,
    read_more: bool = True,
) -> bytes:
    """A digest feed of teasers: each (page URL, release, RFC 822 date) becomes the
    release's first sentence (or `teaser`), an ellipsis and a "Read more" link to the
    page (unless `read_more` is False)."""
    rendered = []
    for url, release, date in items:
        lead = teaser if teaser is not None else release.first_sentence.rstrip(".") + " …"
        description = f"<p>{_e(lead)}</p>"
        if read_more:
            description += f'<p><a href="{_e(url)}">Read more</a></p>'
        rendered.append(
            ITEM.format(
                title=_e(release.title), link=_e(url), date=date, description=_e(description)
            )
        )
    return RSS.format(title=_e(title), base=_e(base), items="\n".join(rendered)).encode()
