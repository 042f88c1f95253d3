"""Looking at stored items and correcting a merge: `export`, `explain`, `split`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import config_options, io_options, main, opened_store, settings_for
from aggregator.config import Settings
from aggregator.exceptions import AggregatorError
from aggregator.locking import WriterLock
from aggregator.pipeline import publish, split_item
from aggregator.store import now_utc


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


@main.command()
@config_options
@click.argument("item")
def explain(config: Path | None, db: str | None, item: str) -> None:
    """Show what cleaning and merging decided for ITEM (a key, origin id, link or title)."""
    settings = settings_for(config, db=db)
    with opened_store(settings) as store:
        matches = [
            s
            for s in store.items(feed_id_base=settings.feed.base_url)
            if item in (s.item.key, s.item.origin_id, s.item.link, s.item.title)
        ]
    if not matches:
        raise click.ClickException(f"no stored item matches {item!r}")
    for stored in matches:
        record = export_record(stored, settings)
        for name in (
            "title",
            "key",
            "origin_id",
            "source",
            "entry_id",
            "published",
            "date_rule",
            "via",
        ):
            click.echo(f"{name:>10}: {record[name]}")
        merged = stored.merge_reason or "first copy of its story"
        click.echo(f"{'merged':>10}: {merged}")
        _echo_origins(stored.item)
        for note in stored.item.notes:
            click.echo(f"{'note':>10}: {note}")
        click.echo("")


def _echo_origins(item: Any) -> None:
    """Where the item's date, author and link came from (issue 13)."""
    from aggregator.provenance import origins

    for origin in origins(item):
        click.echo(f"{origin.fact:>10}: {origin.value} (from {origin.origin})")


@main.command()
@config_options
@io_options
@click.argument("item")
def split(
    config: Path | None, db: str | None, seeds: Path | None, out: Path | None, item: str
) -> None:
    """Split ITEM (key, origin id or link) off the story it was merged into, and republish.

    To keep it apart for good, also list it in `[dedupe] never_merge` of the config.
    """
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    try:
        with WriterLock(settings), opened_store(settings) as store:
            now = now_utc()
            moved = split_item(
                store,
                item,
                now=now,
                feed_id_base=settings.feed.base_url,
                reason="split by the operator",
            )
            if not moved:
                raise click.ClickException(
                    f"no merged item matches {item!r} (see `aggregator export`)"
                )
            publish(settings, store, force=True)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    for key in moved:
        click.echo(f"split {key} into an entry of its own")
