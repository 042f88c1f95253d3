"""Pairwise precision and recall of story merging, against a labelled corpus.

    python bench/dedup_quality.py                 # realistic + dev corpus + hard variants
    python bench/dedup_quality.py --mode cli      # through `aggregator run` / `export`
    python bench/dedup_quality.py --show-errors 10

A pair is two items that share an entry; precision = correct pairs / predicted pairs,
recall = correct pairs / labelled pairs (items of one labelled story). The naive rule of
the issue (Jaccard of word 5-shingles >= 0.5, containment >= 0.9, or a "Read more" link,
closed transitively) is scored next to ours.

Modes: `inproc` reads the corpus with bench/corpus_tools.py and calls aggregator.dedupe
directly; `cli` runs the real command line into a temporary folder and reads the entry
of every item from `aggregator export --format jsonl`; `auto` (default) uses the CLI
when `aggregator.cli` exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus_tools as ct

from aggregator import dedupe
from aggregator.normalise import identity


def ours(labelled: Sequence[ct.Labelled]) -> dict[str, str]:
    """origin key → entry id, from aggregator.dedupe with an empty index."""
    # Two seed files with the same title and organisation are one item (identity.seed_key).
    unique = {x.item.key: x.item for x in labelled}
    sigs = [dedupe.signature_of(item) for item in unique.values()]
    matches = dedupe.assign_entries(sigs, dedupe.StoryIndex(), lambda s: identity.entry_id(s.key))
    return {x.item.origin_id: str(matches[x.item.key].entry_id) for x in labelled}


def naive(labelled: Sequence[ct.Labelled]) -> dict[str, str]:
    """The issue's naive rule, closed transitively (union-find)."""
    shingles = []
    for x in labelled:
        tokens = identity.fold(x.item.text).split()
        shingles.append({" ".join(tokens[i : i + 5]) for i in range(max(1, len(tokens) - 4))})
    parent = list(range(len(labelled)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links = {x.item.link: i for i, x in enumerate(labelled) if x.item.link}
    for i, x in enumerate(labelled):
        target = links.get(x.item.readmore) if x.item.readmore else None
        if target is not None:
            parent[find(i)] = find(target)
    postings: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(shingles):
        for sh in s:
            postings[sh].append(i)
    for i, s in enumerate(shingles):
        candidates = {j for sh in s for j in postings[sh] if j > i}
        for j in candidates:
            common = len(s & shingles[j])
            jaccard = common / len(s | shingles[j])
            containment = common / min(len(s), len(shingles[j]))
            if jaccard >= 0.5 or containment >= 0.9:
                parent[find(i)] = find(j)
    return {x.item.origin_id: str(find(i)) for i, x in enumerate(labelled)}


def via_cli(corpus: Path) -> dict[str, str]:
    """origin id → entry id, through the real command line."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/db.sqlite"
        # A corpus may hold an earlier state of its folder (`before/`): run it first, as
        # a scheduled run would have, so corrections and updates arrive the way they do.
        for folder in (corpus / "before", corpus / "seeds"):
            if not folder.is_dir():
                continue
            run = [sys.executable, "-m", "aggregator", "run", "--seeds", str(folder)]
            subprocess.run([*run, "--out", tmp, "--db", db], check=True, capture_output=True)
        export = [sys.executable, "-m", "aggregator", "export", "--format", "jsonl", "--db", db]
        lines = subprocess.run(export, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in lines.splitlines() if line.strip()]
    return {row["origin_id"]: row["entry_id"] for row in rows}


def score(truth: dict[str, str], predicted: dict[str, str]) -> tuple[float, float, int, int]:
    """Pairwise precision, recall, false-positive and false-negative pair counts."""
    keys = sorted(set(truth) & set(predicted))
    true_pairs = ct.pairs_of(_groups(keys, truth))
    predicted_pairs = ct.pairs_of(_groups(keys, predicted))
    correct = len(true_pairs & predicted_pairs)
    precision = correct / len(predicted_pairs) if predicted_pairs else 1.0
    recall = correct / len(true_pairs) if true_pairs else 1.0
    return precision, recall, len(predicted_pairs - true_pairs), len(true_pairs - predicted_pairs)


def _groups(keys: Sequence[str], label: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        groups[label[key]].append(key)
    return list(groups.values())


def show_errors(labelled: Sequence[ct.Labelled], predicted: dict[str, str], limit: int) -> None:
    truth = {x.item.origin_id: x.story for x in labelled}
    kinds = {x.item.origin_id: f"{x.kind}:{x.story}" for x in labelled}
    keys = sorted(truth)
    false_pos = ct.pairs_of(_groups(keys, predicted)) - ct.pairs_of(_groups(keys, truth))
    false_neg = ct.pairs_of(_groups(keys, truth)) - ct.pairs_of(_groups(keys, predicted))
    for name, pairs in (("merged wrongly", false_pos), ("missed", false_neg)):
        for a, b in sorted(pairs)[:limit]:
            print(f"  {name}: {kinds[a]} {a[-40:]} ~ {kinds[b]} {b[-40:]}")


Rule = Callable[[Sequence[ct.Labelled]], dict[str, str]]


def report(name: str, labelled: Sequence[ct.Labelled], rules: dict[str, Rule], errors: int) -> None:
    truth = {x.item.origin_id: x.story for x in labelled}
    for rule, fn in rules.items():
        predicted = fn(labelled)
        p, r, fp, fn_ = score(truth, predicted)
        print(f"{name:28} {rule:6} precision {p:.4f} recall {r:.4f}  (wrong {fp}, missed {fn_})")
        if errors and rule == "ours":
            show_errors(labelled, predicted, errors)


REALISTIC_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "realistic"


def score_cli(corpus: Path, labelled: Sequence[ct.Labelled], *, strict: bool) -> None:
    truth = {x.item.origin_id: x.story for x in labelled}
    try:
        p, r, fp, fn = score(truth, via_cli(corpus))
    except (subprocess.CalledProcessError, KeyError, json.JSONDecodeError) as error:
        if strict:
            raise
        print(f"CLI not usable ({type(error).__name__}); scoring in-process only")
        return
    print(f"{corpus.name:28} cli    precision {p:.4f} recall {r:.4f}  (wrong {fp}, missed {fn})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        help="a labelled corpus folder (repeatable; default: tests/data/realistic and "
        "the shared dev corpus; hard variants are generated from the last one)",
    )
    parser.add_argument("--mode", choices=("auto", "inproc", "cli"), default="auto")
    parser.add_argument("--hard", type=int, default=3, help="generated hard corpora to score")
    parser.add_argument("--show-errors", type=int, default=0)
    args = parser.parse_args(argv)
    corpora = args.corpus or [REALISTIC_CORPUS, ct.DEV_CORPUS]
    mode = args.mode
    if mode == "auto":
        mode = "cli" if importlib.util.find_spec("aggregator.cli") else "inproc"
    rules: dict[str, Rule] = {"ours": ours, "naive": naive}
    for corpus in corpora:
        labelled = ct.load_labelled(corpus)
        if mode == "cli":
            score_cli(corpus, labelled, strict=args.mode == "cli")
        report(f"{corpus.name} (in-process)", labelled, rules, args.show_errors)
    for seed in range(args.hard):
        hard = ct.hard_corpus(labelled, seed=seed)
        report(f"hard variant seed={seed}", hard, rules, args.show_errors)


if __name__ == "__main__":
    main()
