"""How clean is the published feed? Runs the real CLI on a labelled corpus and counts.

    python bench/clean_quality.py [--corpus ../shared/corpus/dev]

Counts, over every published entry (index.atom with a limit above the corpus size):
footer phrases, tracking parameters in any URL, script elements, mojibake, escaped entities
in titles, and entries whose story comes from an organisation (labels.json) but whose
author is not that organisation. Exits 1 when any count is not zero.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from lxml import etree, html

ATOM = "{http://www.w3.org/2005/Atom}"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"

FOOTER = re.compile(
    r"Public Release|does not take institutional positions|View in full here|appeared first on",
    re.IGNORECASE,
)
TRACKING = re.compile(
    r"[?&](utm_[a-z]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|yclid|_hsenc|_hsmi)="
)
MOJIBAKE = re.compile(r"Ã[\u0080-\u00bf]|â€|Â[\u00a0-\u00bf]|\ufffd")
ESCAPED = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def run_cli(corpus: Path, work: Path) -> tuple[bytes, list[dict[str, object]]]:
    (work / "aggregator.toml").write_text("[feed]\nentries = 100000\n", encoding="utf-8")
    aggregator = [sys.executable, "-m", "aggregator"]
    subprocess.run(
        [*aggregator, "run", "--seeds", str(corpus / "seeds")],
        cwd=work,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [*aggregator, "export"], cwd=work, check=True, capture_output=True, text=True
    ).stdout
    return (work / "feeds" / "index.atom").read_bytes(), [
        json.loads(line) for line in out.splitlines()
    ]


def story_of(records: list[dict[str, object]], labels: dict[str, object]) -> dict[str, str]:
    """entry id -> labelled story, through the items each entry carries."""
    by_key: dict[tuple[str, str], str] = {}
    for item in labels["items"]:  # type: ignore[union-attr]
        name = Path(item["file"]).name
        by_key[(name, item["key"])] = item["story"]
    stories: dict[str, str] = {}
    for record in records:
        source = Path(str(record["source"])).name
        story = by_key.get((source, str(record["origin_id"])))
        if story is not None:
            stories.setdefault(str(record["entry_id"]), story)
    return stories


def count(
    feed: bytes, stories: dict[str, str], labels: dict[str, object]
) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    examples: list[str] = []
    orgs = {sid: s["org"] for sid, s in labels["stories"].items()}  # type: ignore[union-attr]
    for entry in etree.fromstring(feed).iter(f"{ATOM}entry"):
        counts["entries"] += 1
        entry_id = entry.findtext(f"{ATOM}id") or ""
        title = entry.findtext(f"{ATOM}title") or ""
        content = entry.findtext(f"{ATOM}content") or ""
        summary = entry.findtext(f"{ATOM}summary") or ""
        text = " ".join(
            [title, summary, html.fromstring(content).text_content() if content.strip() else ""]
        )
        urls = [link.get("href") or "" for link in entry.iter(f"{ATOM}link")]
        if content.strip():
            urls += [a.get("href") or "" for a in html.fromstring(content).iter("a")]
        checks = {
            "footer phrase": bool(FOOTER.search(text)),
            "tracking parameter": any(TRACKING.search(u) for u in urls),
            "script": "<script" in content.lower(),
            "mojibake": bool(MOJIBAKE.search(text)),
            "escaped entity in title": bool(ESCAPED.search(title)),
        }
        story = stories.get(entry_id)
        if story is not None and orgs.get(story):
            counts["entries from an organisation"] += 1
            author = entry.findtext(f"{ATOM}author/{ATOM}name")
            checks["organisation not the author"] = author != orgs[story]
        for name, failed in checks.items():
            if failed:
                counts[name] += 1
                if len(examples) < 10:
                    examples.append(f"{name}: {title!r}")
    return counts, examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    labels = json.loads((args.corpus / "labels.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        feed, records = run_cli(args.corpus, Path(tmp))
    counts, examples = count(feed, story_of(records, labels), labels)
    print(
        f"corpus {args.corpus}: {len(records)} items stored, {counts['entries']} entries published"
    )
    problems = 0
    for name in (
        "footer phrase",
        "tracking parameter",
        "script",
        "mojibake",
        "escaped entity in title",
        "organisation not the author",
    ):
        print(f"  {name:30} {counts[name]}")
        problems += counts[name]
    print(f"  {'entries from an organisation':30} {counts['entries from an organisation']}")
    for example in examples:
        print("   e.g.", example)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
