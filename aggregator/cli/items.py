"""Looking at stored items and repairing merges: `export`, `explain`, `split`, `join`,
`undo`, `decisions`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import config_options, io_options, main, opened_store, settings_for
from aggregator.config import Settings
from aggregator.dedupe import repair
from aggregator.dedupe.repair import Outcome
from aggregator.exceptions import AggregatorError
from aggregator.normalise.provenance import origins
from aggregator.publish.documents import keep_documents
from aggregator.publish.output import publish
from aggregator.runtime.locking import WriterLock
from aggregator.store import Decision, Store, now_utc


@main.command()
@config_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
def export(config: Path | None, db: str | None, fmt: str) -> None:
    """Print every stored item, one JSON object per line, with its entry and merge reason."""
    settings = settings_for(config, db=db)
    with opened_store(settings) as store:
        for stored in store.items(feed_id_base=settings.feed.base_url):
            click.echo(json.dumps(export_record(stored, settings), ensure_ascii=False))


def export_record(stored: Any, settings: Settings) -> dict[str, Any]:
    item = stored.item
    return {
        "key": item.key,
        "origin_id": item.origin_id,
        "origin_link": item.link,
        "source_id": item.source.source_id,
        "source": _origin_source(item, settings),
        "title": item.title,
        "published": item.published.isoformat(),
        "updated": item.updated.isoformat(),
        "authors": list(item.authors),
        "via": item.via,
        "entry_id": stored.entry_id,
        "merge_reason": stored.merge_reason,
        "merge_score": stored.merge_score,
        "date_rule": item.date_rule,
        "notes": list(item.notes),
    }


def _origin_source(item: Any, settings: Settings) -> str:
    """The source's URL or path; for a seed document, the file it came from."""
    if item.source.source_id == "seeds":
        return str(settings.seeds / item.origin_id)
    return str(item.source.feed_url)


def _find(store: Store, settings: Settings, ident: str) -> list[Any]:
    """Stored items named by a key, origin id, link or exact title."""
    return [
        s
        for s in store.items(feed_id_base=settings.feed.base_url)
        if ident in (s.item.key, s.item.origin_id, s.item.link, s.item.title)
    ]


def explain_record(stored: Any, settings: Settings, decisions: list[Decision]) -> dict[str, Any]:
    """Everything `explain` tells about one item, as data."""
    record = export_record(stored, settings)
    detail = json.loads(stored.merge_detail) if stored.merge_detail else {}
    record["merged"] = stored.merge_reason or "first copy of its story"
    record["rule"] = detail.get("rule", record["merged"])
    record["candidates"] = detail.get("candidates", [])
    record["decisions"] = [
        decision_record(d) for d in decisions if any(k == stored.item.key for k, _, _ in d.moved)
    ]
    record["origins"] = [
        {"fact": o.fact, "value": o.value, "origin": o.origin} for o in origins(stored.item)
    ]
    return record


def decision_record(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "kind": decision.kind,
        "subject": decision.subject,
        "target": decision.target,
        "moved": [{"key": k, "from": a, "to": b} for k, a, b in decision.moved],
        "created": decision.created.isoformat(),
        "undone": decision.undone.isoformat() if decision.undone else None,
    }


_EXPLAINED = ("title", "key", "origin_id", "source", "entry_id", "published", "date_rule", "via")


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.argument("item")
def explain(config: Path | None, db: str | None, as_json: bool, item: str) -> None:
    """Show what cleaning and merging decided for ITEM (a key, origin id, link or title):
    the candidate stories with their scores, the rule that decided, and the operator's
    decisions that moved it."""
    settings = settings_for(config, db=db)
    with opened_store(settings) as store:
        matches = _find(store, settings, item)
        decisions = store.decisions()
    if not matches:
        raise click.ClickException(f"no stored item matches {item!r}")
    records = [explain_record(stored, settings, decisions) for stored in matches]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    for stored, record in zip(matches, records, strict=True):
        for name in _EXPLAINED:
            click.echo(f"{name:>10}: {record[name]}")
        click.echo(f"{'merged':>10}: {record['merged']}")
        if record["rule"] != record["merged"]:
            click.echo(f"{'rule':>10}: {record['rule']}")
        for candidate in record["candidates"]:
            score = "" if candidate["score"] is None else f" score {candidate['score']}"
            click.echo(
                f"{'candidate':>10}: {candidate['entry_id']} via {candidate['key']}: "
                f"{candidate['verdict']}{score}"
            )
        for d in record["decisions"]:
            state = f", undone {d['undone']}" if d["undone"] else ""
            click.echo(f"{'decision':>10}: #{d['id']} {d['kind']} ({d['created']}{state})")
        _echo_origins(record["origins"])
        for note in stored.item.notes:
            click.echo(f"{'note':>10}: {note}")
        click.echo("")


def _echo_origins(origins: list[dict[str, str]]) -> None:
    """Where the item's date, author and link came from."""
    for origin in origins:
        click.echo(f"{origin['fact']:>10}: {origin['value']} (from {origin['origin']})")


def _repair(settings: Settings, action: Callable[[Store, datetime], Any]) -> Any:
    """Run one repair under the writer lock, then republish."""
    try:
        with WriterLock(settings), opened_store(settings) as store:
            done = action(store, now_utc())
            publish(settings, store, force=True)
            keep_documents(settings, store)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    return done


def _report(outcomes: list[Outcome], as_json: bool, verb: str) -> None:
    if as_json:
        click.echo(json.dumps([o.to_dict() for o in outcomes], ensure_ascii=False, indent=1))
        return
    for outcome in outcomes:
        click.echo(f"decision #{outcome.decision}: {outcome.reason}")
        for key, before, after in outcome.moved:
            click.echo(f"  {verb} {key}: {before} -> {after}")


@main.command()
@config_options
@io_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.argument("item")
def split(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    as_json: bool,
    item: str,
) -> None:
    """Take ITEM (key, origin id or link) out of the story it was merged into, let it find
    its right story again (or stand alone), and republish.

    The decision is kept: re-runs never put ITEM back into that story. `aggregator
    decisions` lists it and `aggregator undo N` reverts it."""
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    outcomes = _repair(settings, lambda store, now: repair.split(store, settings, item, now))
    _report(outcomes, as_json, "moved")


@main.command()
@config_options
@io_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.argument("first")
@click.argument("second")
def join(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    as_json: bool,
    first: str,
    second: str,
) -> None:
    """Merge the story of SECOND into the story of FIRST (each a key, origin id or link)
    and republish. The decision is kept and can be undone (`aggregator undo N`)."""
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    outcome = _repair(settings, lambda store, now: repair.join(store, settings, first, second, now))
    _report([outcome], as_json, "moved")


@main.command()
@config_options
@io_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.argument("number", type=click.IntRange(min=1))
def undo(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    as_json: bool,
    number: int,
) -> None:
    """Revert decision NUMBER (see `aggregator decisions`) and republish."""
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    outcome = _repair(settings, lambda store, now: repair.undo(store, number, now))
    _report([outcome], as_json, "moved back")


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def decisions(config: Path | None, db: str | None, as_json: bool) -> None:
    """List the operator's split and join decisions, undone ones included."""
    settings = settings_for(config, db=db)
    with opened_store(settings) as store:
        found = store.decisions()
    if as_json:
        click.echo(json.dumps([decision_record(d) for d in found], indent=1))
        return
    if not found:
        click.echo("no decisions yet (see `aggregator split` and `aggregator join`)")
    for d in found:
        state = f"undone {d.undone.isoformat()}" if d.undone else "active"
        keys = ", ".join(k for k, _, _ in d.moved) or "nothing moved"
        click.echo(f"#{d.id} {d.kind} {d.subject} ({d.created.isoformat()}, {state}): {keys}")
