"""`aggregator run`: one pass of the pipeline, and its summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import (
    config_failure,
    config_options,
    io_options,
    main,
    opened_store,
    settings_for,
)
from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.locking import WriterLock
from aggregator.pipeline import RunOptions, RunReport, run_once
from aggregator.store import now_utc


@main.command()
@config_options
@io_options
@click.option(
    "--all", "all_sources", is_flag=True, help="Fetch every remote source now, due or not."
)
@click.option("--only", multiple=True, metavar="SOURCE", help="Only this source id (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    all_sources: bool,
    only: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Ingest seeds and due feeds, store the items, publish the feeds, exit."""
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    options = RunOptions(all_sources=all_sources, only=only, dry_run=dry_run)
    try:
        with WriterLock(settings), opened_store(settings) as store:
            report = run_once(settings, store, now=now_utc(), options=options, progress=_progress())
    except ConfigError as exc:
        raise config_failure(exc, config) from None
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary_dict(report, settings, dry_run), indent=2))
    else:
        print_summary(report, settings, dry_run)
    if not dry_run and report.entries == 0:
        raise click.ClickException(
            "nothing could be published: no entries (check the seeds folder and sources)"
        )


def _progress() -> Callable[[str, int, int], None] | None:
    """A rich progress bar on a terminal when there is a lot to do; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    from aggregator.progress import RichProgress

    return RichProgress()


def summary_dict(report: RunReport, settings: Settings, dry_run: bool) -> dict[str, Any]:
    c = report.counts
    return {
        "dry_run": dry_run,
        "sources": len(report.results),
        "failed": [
            {"source": r.source_id, "error": str(getattr(r.value, "message", r.value))}
            for r in report.failures
        ],
        "items": {k: c[k] for k in ("new", "updated", "unchanged", "skipped")},
        "entries": report.entries,
        "written": [str(p) for p in (report.published.written if report.published else ())],
        "warnings": report.warnings,
    }


def print_summary(report: RunReport, settings: Settings, dry_run: bool) -> None:
    c = report.counts
    failed = report.failures
    echo = click.echo
    prefix = "Would read" if dry_run else "Read"
    echo(
        f"{prefix} {len(report.results)} sources"
        + (f" ({len(failed)} failed)" if failed else "")
        + f"; items: {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
        f"{c['skipped']} skipped"
    )
    if dry_run:
        for action, source, title in report.decisions:
            echo(f"  {action:8} {source}: {title}")
        return
    published = report.published
    index = settings.out / "index.atom"
    if published is not None:
        echo(
            f"Published {report.entries} entries to {index} "
            f"({len(published.written)} files written, {len(published.unchanged)} unchanged)"
        )
    else:
        echo(f"Nothing changed since the last publish; {report.entries} entries in {index}")
    for result in failed:
        echo(
            f"  failed  {result.source_id}: {getattr(result.value, 'message', result.value)}",
            err=True,
        )
    for warning in report.warnings:
        echo(f"  warning {warning}", err=True)
    if published is not None:
        for warning in published.warnings:
            echo(f"  warning {warning}", err=True)
