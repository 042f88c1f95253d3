"""Benchmark of full text for teasers (issue 18): extraction quality and speed, and the
cost it adds to a run.

    python bench/fulltext.py [--pages 169] [--items 200] [--runs 3]

1. Quality, on a labelled set: every release of the dev corpus (`shared/corpus/dev/seeds`)
   becomes an article page (`article_pages.py`: cookie banner, navigation, breadcrumbs,
   share buttons, byline, related links, comments, sidebar, footer; three layouts), and
   the text the product publishes for its teaser (extraction, then the feed's cleaning)
   is scored against the release's true text (its paragraphs; caption and republisher's
   footer left out): word-level precision and recall (multisets of lower-cased words),
   summed over all pages, and the worst page. Peers in the same run: trafilatura with its
   defaults, trafilatura with our settings (no fallback, no cleaning), readability-lxml.
2. Speed: pages per second through the product's extraction and cleaning, one core,
   median of `--runs` passes.
3. Cost in a run: a digest of `--items` teasers whose pages sit on 8 loopback hosts;
   `aggregator run` as a child process with `full_text = "never"` and `"auto"`, cold
   (fresh database) and warm (the feed read again, every page in the cache); wall and
   CPU seconds and peak RSS, medians of `--runs`; the difference is what full text adds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import trafilatura
from article_pages import Release, article_page, corpus_releases, teaser_rss

from aggregator.fulltext import by_readability, by_trafilatura
from aggregator.fulltext.apply import with_article
from aggregator.fulltext.extract import Extracted, extract_article
from aggregator.model import Attribution, Item
from aggregator.normalise.html import html_to_text
from aggregator.normalise.rules import default_rules

from feedserver import FeedServer, Reply, Request

_WORD = re.compile(r"\w+")
RULES = default_rules()


def words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text))


def teaser_item(release: Release) -> Item:
    when = datetime(2026, 11, 12, tzinfo=UTC)
    teaser = release.first_sentence.rstrip(".") + " …"
    return Item(key="k", origin_id="o", content_hash="h", title=release.title,
                link="https://org.example/a", summary=teaser, content_html=None, text=teaser,
                authors=(), categories=(), published=when, updated=when,
                source=Attribution(source_id="s", feed_url="u", feed_id="i"))  # fmt: skip


def product_text(page: bytes, release: Release) -> str:
    """What the product publishes for the release's teaser."""
    item = teaser_item(release)
    found = extract_article(
        page, "https://org.example/a", selector=None, teaser_words=len(item.text.split())
    )
    if not isinstance(found, Extracted):
        return ""
    done = with_article(
        item, found.html, page_url="https://org.example/a", method=found.method, rules=RULES
    )
    return done.text if isinstance(done, Item) else ""


def alone(extract: Callable[[bytes, str], str | None]) -> Callable[[bytes, Release], str]:
    def text(page: bytes, release: Release) -> str:
        found = extract(page, "https://org.example/a")
        return html_to_text(found) if found else ""

    return text


def trafilatura_defaults(page: bytes, url: str) -> str | None:
    found = trafilatura.extract(page, url=url, output_format="html")
    return str(found) if found else None


def labelled(limit: int) -> list[tuple[bytes, Release]]:
    releases = corpus_releases(limit)
    pages = []
    for n, release in enumerate(releases):
        related = [r.title for r in releases[n + 1 : n + 4]] or [releases[0].title]
        pages.append((article_page(release, related=related, layout=n).encode(), release))
    return pages


def score(
    pages: list[tuple[bytes, Release]], text_of: Callable[[bytes, Release], str]
) -> dict[str, float]:
    hit = got = truth = 0
    worst_p = worst_r = 1.0
    for page, release in pages:
        found, true = words(text_of(page, release)), words(release.text)
        overlap = sum((found & true).values())
        hit, got, truth = hit + overlap, got + sum(found.values()), truth + sum(true.values())
        worst_p = min(worst_p, overlap / max(1, sum(found.values())))
        worst_r = min(worst_r, overlap / sum(true.values()))
    return {"precision": hit / max(1, got), "recall": hit / truth,
            "worst_precision": worst_p, "worst_recall": worst_r}  # fmt: skip


def speed(pages: list[tuple[bytes, Release]], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        for page, release in pages:
            product_text(page, release)
        times.append(time.process_time() - start)
    return len(pages) / statistics.median(times)


# -- cost in a run -------------------------------------------------------------------------


def recent(n: int) -> str:
    when = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2, minutes=n)
    return format_datetime(when, usegmt=True)


def start_site(releases: list[Release], items: int) -> tuple[list[FeedServer], FeedServer]:
    hosts = [FeedServer(host=f"127.0.0.{i + 2}").start() for i in range(8)]
    entries = []
    for n in range(items):
        release, host = releases[n % len(releases)], hosts[n % len(hosts)]
        # Titles and first sentences differ per item, so no two teasers merge.
        paragraphs = (f"Item {n}: {release.paragraphs[0]}", *release.paragraphs[1:])
        release = Release(f"{release.title} ({n})", release.organisation, paragraphs)
        path = f"/news/{n}"
        page = article_page(release, related=[r.title for r in releases[:3]], layout=n)
        host.route(path, Reply(body=page.encode(), headers={"Content-Type": "text/html"}))
        entries.append((host.url(path), release, recent(n)))
    digest = FeedServer().start()
    body = teaser_rss("Digest", digest.base_url, entries)

    def changing(request: Request) -> Reply:
        # A new lastBuildDate on every request: the feed is read again, its items unchanged.
        stamp = f"<lastBuildDate>{time.time_ns()}</lastBuildDate>".encode()
        return Reply(
            body=body.replace(b"<description>News digest", stamp + b"<description>News digest", 1)
        )

    digest.route("/digest", changing)
    return hosts, digest


def timed_run(cwd: Path) -> tuple[float, float, float]:
    """`aggregator run --all` in a child: wall, CPU seconds and peak RSS (MB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", "--all"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    err = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"aggregator run failed: {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def workdir(root: Path, name: str, digest: FeedServer, mode: str, items: int) -> Path:
    folder = root / name
    (folder / "seeds").mkdir(parents=True)
    (folder / "aggregator.toml").write_text(
        f'seeds = "seeds"\n[fetch]\nallow = ["127.0.0.0/8"]\n'
        f"[full_text]\npages_per_run = {items * 2}\nseconds_per_run = 600\n"
        f'[[sources]]\nurl = "{digest.url("/digest")}"\nname = "digest"\n'
        f'full_text = "{mode}"\n',
        encoding="utf-8",
    )
    return folder


def cost(releases: list[Release], items: int, runs: int) -> dict[str, tuple[float, float, float]]:
    hosts, digest = start_site(releases, items)
    phases: dict[str, list[tuple[float, float, float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(runs):
                for mode in ("never", "auto"):
                    folder = workdir(Path(tmp), f"{mode}-{n}", digest, mode, items)
                    before = sum(len(h.requests) for h in hosts)
                    phases.setdefault(f"{mode} cold", []).append(timed_run(folder))
                    cold_pages = sum(len(h.requests) for h in hosts) - before
                    phases.setdefault(f"{mode} warm", []).append(timed_run(folder))
                    warm_pages = sum(len(h.requests) for h in hosts) - before - cold_pages
                    if mode == "auto" and n == 0:
                        print(f"  requests to the article hosts: cold {cold_pages} "
                              f"(pages + robots.txt), warm {warm_pages}")  # fmt: skip
    finally:
        for server in (*hosts, digest):
            server.stop()
    return {
        phase: tuple(statistics.median(v[i] for v in values) for i in range(3))  # type: ignore[misc]
        for phase, values in phases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=None, help="labelled pages (default: all)")
    parser.add_argument("--items", type=int, default=200, help="teaser items in the run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    pages = labelled(args.pages) if args.pages else labelled(10_000)
    print(f"1. Extraction quality on {len(pages)} labelled pages (word-level, all pages summed)")
    for name, text_of in (
        ("product (trafilatura + readability fallback, cleaned)", product_text),
        ("trafilatura, its defaults", alone(trafilatura_defaults)),
        ("trafilatura, our settings, no fallback", alone(by_trafilatura.extract)),
        ("readability-lxml alone", alone(by_readability.extract)),
    ):
        s = score(pages, text_of)
        print(f"  {name:55} precision {s['precision']:.3f} recall {s['recall']:.3f} "
              f"(worst page {s['worst_precision']:.3f} / {s['worst_recall']:.3f})")  # fmt: skip

    print(f"2. Speed: {speed(pages, args.runs):.0f} pages/s (extraction + cleaning, one core, "
          f"median of {args.runs})")  # fmt: skip

    print(f"3. A run with {args.items} teaser items on 8 hosts (median of {args.runs})")
    releases = [release for _page, release in pages]
    measured = cost(releases, args.items, args.runs)
    for phase, (wall, cpu, rss) in measured.items():
        print(
            f"  full_text={phase:11} wall {wall:6.2f} s  CPU {cpu:6.2f} s  peak RSS {rss:5.0f} MB"
        )
    for when in ("cold", "warm"):
        base, full = measured[f"never {when}"], measured[f"auto {when}"]
        print(f"  added {when}: wall {full[0] - base[0]:+.2f} s ({full[0] / base[0]:.1f}x), "
              f"CPU {full[1] - base[1]:+.2f} s, RSS {full[2] - base[2]:+.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
