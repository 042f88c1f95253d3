"""`aggregator run`: one pass of the pipeline, and its summary."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import (
    EXIT_TERMINATED,
    base_url_warning,
    config_failure,
    config_options,
    io_options,
    main,
    opened_store,
    settings_for,
)
from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.pipeline import (
    STOPPED_BEFORE_PUBLISHING,
    STOPPED_BEFORE_STORING,
    RunOptions,
    RunReport,
    run_once,
)
from aggregator.runtime.locking import WriterLock
from aggregator.runtime.memory import settle_long_lived
from aggregator.store import now_utc


@main.command()
@config_options
@io_options
@click.option(
    "--all", "all_sources", is_flag=True, help="Fetch every remote source now, due or not."
)
@click.option("--only", multiple=True, metavar="SOURCE", help="Only this source id (repeatable).")
@click.option(
    "--reread",
    multiple=True,
    metavar="SOURCE",
    help="Read and clean this source whole, unchanged files and entries too (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    all_sources: bool,
    only: tuple[str, ...],
    reread: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Ingest seeds and due feeds, store the items, publish the feeds, exit."""
    settings = settings_for(config, db=db, seeds=seeds, out=out)
    options = RunOptions(all_sources=all_sources, only=only, reread=reread, dry_run=dry_run)
    if not dry_run and (warning := base_url_warning(settings)) is not None:
        click.echo(f"  warning {warning}", err=True)
    try:
        with WriterLock(settings), opened_store(settings) as store, StopOnSigterm() as stop:
            settle_long_lived()
            report = run_once(
                settings,
                store,
                now=now_utc(),
                options=options,
                progress=_progress(),
                should_stop=stop.is_set,
            )
    except ConfigError as exc:
        raise config_failure(exc, config) from None
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary_dict(report, settings, dry_run), indent=2))
    else:
        print_summary(report, settings, dry_run)
    if stop.is_set():
        click.echo(f"Stopped by SIGTERM {_kept(report)}", err=True)
        raise click.exceptions.Exit(EXIT_TERMINATED)


class StopOnSigterm:
    """While a run is in progress, SIGTERM asks it to stop between phases: the write in
    progress (the store's transaction, the publish) is finished, the rest skipped."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: Any = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def __enter__(self) -> StopOnSigterm:
        self._previous = signal.signal(signal.SIGTERM, lambda signum, frame: self._event.set())
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def _kept(report: RunReport) -> str:
    """What a run stopped by SIGTERM kept, for its last line."""
    if report.stopped == STOPPED_BEFORE_STORING:
        return "before storing anything: the store and the published feeds are as they were"
    if report.stopped == STOPPED_BEFORE_PUBLISHING:
        return (
            f"after storing the items ({report.counts['new']} new, "
            f"{report.counts['updated']} updated); not published: the published feeds are "
            "those of the last run, and the next run publishes the rest"
        )
    return "after the run finished: everything above was stored and published"


def _progress() -> Callable[[str, int, int], None] | None:
    """A rich progress bar on a terminal when there is a lot to do; silent otherwise."""
    if not sys.stderr.isatty():
        return None
    from aggregator.runtime.progress import RichProgress

    return RichProgress()


def index_holds(report: RunReport, settings: Settings) -> int:
    """How many entries index.atom holds: the newest `[feed] entries` of them."""
    return min(report.entries, settings.feed.entries)


def summary_dict(report: RunReport, settings: Settings, dry_run: bool) -> dict[str, Any]:
    c = report.counts
    return {
        "dry_run": dry_run,
        "sources": len(report.results),
        "failed": [
            {"source": r.source_id, "error": str(getattr(r.value, "message", r.value))}
            for r in report.failures
        ],
        "not_due": report.not_due,
        "next_due": report.next_due.isoformat() if report.next_due else None,
        "items": {k: c[k] for k in ("new", "updated", "unchanged", "skipped")},
        "entries": report.entries,
        "index_entries": index_holds(report, settings),
        "written": [str(p) for p in (report.published.written if report.published else ())],
        "warnings": report.warnings,
        "stopped": report.stopped,
    }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_summary(report: RunReport, settings: Settings, dry_run: bool) -> None:
    c = report.counts
    failed = report.failures
    echo = click.echo
    prefix = "Would read" if dry_run else "Read"
    echo(
        f"{prefix} {_plural(len(report.results), 'source')}"
        + (f" ({len(failed)} failed)" if failed else "")
        + f"; items: {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
        f"{c['skipped']} skipped"
    )
    if report.not_due:
        # Without this line a run that fetched nothing looks like a broken source.
        echo(
            f"Not due yet: {_plural(report.not_due, 'source')}, the next at "
            f"{report.next_due:%Y-%m-%d %H:%M} UTC (--only SOURCE or --all fetches now)"
            if report.next_due
            else f"Not due yet: {_plural(report.not_due, 'source')}"
        )
    if dry_run:
        for action, source, title in report.decisions:
            echo(f"  {action:8} {source}: {title}")
        return
    echo(_publish_line(report, settings))
    for result in failed:
        echo(
            f"  failed  {result.source_id}: {getattr(result.value, 'message', result.value)}",
            err=True,
        )
    for warning in report.warnings:
        echo(f"  warning {warning}", err=True)
    if report.published is not None:
        for warning in report.published.warnings:
            echo(f"  warning {warning}", err=True)


def _publish_line(report: RunReport, settings: Settings) -> str:
    """What is stored and what index.atom holds: they differ once there are more entries
    than `[feed] entries`, and the reader of index.atom sees only the newest."""
    published = report.published
    index = settings.out / "index.atom"
    if report.stopped is not None and published is None:
        return f"Not published: {index} is as the last run left it"
    if report.entries == 0:
        # An empty feed is a valid first state: readers can subscribe before news comes.
        return (
            f"Published an empty feed to {index}: no entries yet (no documents in the seeds "
            f"folder {settings.seeds}, no items from the sources)"
        )
    holds = index_holds(report, settings)
    held = f"all {holds}" if holds == report.entries else f"the newest {holds}"
    if published is None:
        return (
            f"Nothing changed since the last publish: {_entries(report.entries)} stored, "
            f"{index} holds {held}"
        )
    files = f"{len(published.written)} files written, {len(published.unchanged)} unchanged"
    return f"Published {_entries(report.entries)}: {index} holds {held} ({files})"


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"
