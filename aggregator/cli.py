"""The command line: builds Settings and dependencies, calls the library, reports.

Exit codes: 0 success (also when some sources failed but the rest was published);
1 nothing could be published, or the store/lock/output failed; 2 bad usage or config.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

# The commands that edit the config (tomlkit) or read OPML import those modules
# themselves: `aggregator run`, every few minutes from a scheduler, should not pay for them.
from aggregator import __version__
from aggregator import log as logsetup
from aggregator.config import DEFAULT_CONFIG_NAME, Settings, load_settings
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.locking import WriterLock
from aggregator.pipeline import RunOptions, RunReport, publish, run_once, split_item
from aggregator.status import SourceRow, source_rows, status_dict
from aggregator.store import Store, now_utc, open_store

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.UsageError):
    """A config mistake: exit code 2, like a usage error."""


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config).with_overrides(**overrides)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


def config_options(func: F) -> F:
    """--config / --db shared by every command that reads the store."""
    func = click.option("--db", help="Database path or URL (default: data/aggregator.sqlite).")(
        func
    )
    func = click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (default: ./aggregator.toml when present).",
    )(func)
    return func


def io_options(func: F) -> F:
    """--seeds / --out, for commands that ingest or publish."""
    func = click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Output folder (default: feeds/).",
    )(func)
    func = click.option(
        "--seeds",
        type=click.Path(file_okay=False, path_type=Path),
        help="Seeds folder (default: seeds/).",
    )(func)
    return func


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    try:
        store = open_store(settings.db)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="How much to log on stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log line format.",
)
def main(log_level: str, log_format: str) -> None:
    """Gather press releases and feeds, merge copies of each story, publish one Atom feed."""
    logsetup.configure(log_level, log_format)


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
    settings = _settings(config, db=db, seeds=seeds, out=out)
    options = RunOptions(all_sources=all_sources, only=only, dry_run=dry_run)
    try:
        with WriterLock(settings), opened_store(settings) as store:
            report = run_once(settings, store, now=now_utc(), options=options, progress=_progress())
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None
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
    settings = _settings(config, db=db)
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
    settings = _settings(config, db=db)
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
        for note in stored.item.notes:
            click.echo(f"{'note':>10}: {note}")
        click.echo("")


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
    settings = _settings(config, db=db, seeds=seeds, out=out)
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


# -- the daemon -----------------------------------------------------------------------------


tick_option = click.option(
    "--tick",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between checks for due work.",
)


def _daemon(config: Path | None, overrides: dict[str, Any], tick: float) -> Any:
    from aggregator.daemon import Daemon

    def load() -> Settings:
        return load_settings(config).with_overrides(**overrides)

    try:
        return Daemon(load, tick_seconds=tick)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


def _run_daemon(daemon: Any, *, serve: bool, schedule: bool, host: str, port: int) -> None:
    from aggregator import eventloop

    try:
        eventloop.run(daemon.run(serve=serve, schedule=schedule, host=host, port=port))
    except OSError as exc:
        raise click.ClickException(f"{exc}: is another server using that port?") from None


@main.command()
@config_options
@io_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@click.option("--no-schedule", is_flag=True, help="Only serve the output folder; fetch nothing.")
@tick_option
def serve(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    host: str,
    port: int,
    no_schedule: bool,
    tick: float,
) -> None:
    """Serve the feeds over HTTP and keep them fresh on a schedule (SIGHUP reloads the config)."""
    daemon = _daemon(config, {"db": db, "seeds": seeds, "out": out}, tick)
    _run_daemon(daemon, serve=True, schedule=not no_schedule, host=host, port=port)


@main.command()
@config_options
@io_options
@tick_option
def schedule(
    config: Path | None, db: str | None, seeds: Path | None, out: Path | None, tick: float
) -> None:
    """Keep fetching and publishing on a schedule, without serving (SIGHUP reloads the config)."""
    daemon = _daemon(config, {"db": db, "seeds": seeds, "out": out}, tick)
    _run_daemon(daemon, serve=False, schedule=True, host="", port=0)


# -- operator commands ----------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _print_sources_table(rows: list[SourceRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in (
        "source",
        "enabled",
        "last fetch",
        "status",
        "items",
        "new/upd",
        "failures",
        "next due",
        "last error",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.id,
            "yes" if r.enabled else "no",
            _when(r.last_fetch),
            str(r.status or "-"),
            str(r.items),
            f"{r.new}/{r.updated}",
            str(r.failures),
            _when(r.next_due),
            r.last_error or "",
        )
    Console(width=160).print(table)


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config: Path | None, db: str | None, as_json: bool) -> None:
    """Show each source's state and the last publish."""
    settings = _settings(config, db=db)
    with opened_store(settings) as store:
        data = status_dict(settings, store)
        rows = source_rows(settings, store)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    _print_sources_table(rows)
    click.echo(f"{data['items']} items stored; last publish: {data['last_publish'] or 'never'}")


@main.group()
def sources() -> None:
    """List and edit the remote sources of the config file."""


edited_config = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file to edit (default: ./aggregator.toml).",
)


def _config_path(config: Path | None) -> Path:
    return config if config is not None else Path(DEFAULT_CONFIG_NAME)


def _edit(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


@sources.command("list")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources_list(config: Path | None, db: str | None, as_json: bool) -> None:
    """Every source with its fetch state."""
    settings = _settings(config, db=db)
    with opened_store(settings) as store:
        rows = source_rows(settings, store)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        _print_sources_table(rows)


@sources.command("add")
@edited_config
@click.argument("url")
@click.option("--name", help="Display name (also makes the source id).")
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option("--interval", type=click.IntRange(min=1), help="Refresh interval in minutes.")
def sources_add(
    config: Path | None, url: str, name: str | None, tags: tuple[str, ...], interval: int | None
) -> None:
    """Add a feed URL to the config file (a URL already listed is refused)."""
    from aggregator import sourcefile  # see the note on imports at the top

    path = _config_path(config)
    current = _settings(config if path.exists() else None)
    every = timedelta(minutes=interval) if interval else None
    source = _edit(
        lambda: sourcefile.add_source(
            path, url, name=name, tags=tags, interval=every, current=current
        )
    )
    click.echo(f"added {source.id}: {source.url}")


@sources.command("remove")
@edited_config
@click.argument("source")
def sources_remove(config: Path | None, source: str) -> None:
    """Remove SOURCE (id or URL) from the config file; its items stay published."""
    from aggregator import sourcefile

    path = _config_path(config)
    removed = _edit(lambda: sourcefile.remove_source(path, source, current=_settings(path)))
    click.echo(f"removed {removed.id}: {removed.url}")


def _toggle(config: Path | None, source: str, enabled: bool) -> None:
    from aggregator import sourcefile

    path = _config_path(config)
    changed = _edit(lambda: sourcefile.set_enabled(path, source, enabled, current=_settings(path)))
    click.echo(f"{'enabled' if enabled else 'disabled'} {changed.id}")


@sources.command("enable")
@edited_config
@click.argument("source")
def sources_enable(config: Path | None, source: str) -> None:
    """Fetch SOURCE again (id or URL)."""
    _toggle(config, source, True)


@sources.command("disable")
@edited_config
@click.argument("source")
def sources_disable(config: Path | None, source: str) -> None:
    """Stop fetching SOURCE (id or URL); its items stay published."""
    _toggle(config, source, False)


@sources.command("import")
@edited_config
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sources_import(config: Path | None, opml_file: Path) -> None:
    """Add every feed of an OPML file (folders and categories become tags)."""
    from aggregator import opml, sourcefile

    path = _config_path(config)
    current = _settings(config if path.exists() else None)

    def do_import() -> tuple[list[Any], list[str]]:
        listed = opml.read_opml(opml_file.read_bytes(), name=str(opml_file))
        return sourcefile.add_many(
            path, [(s.url, s.title, s.tags) for s in listed], current=current
        )

    added, skipped = _edit(do_import)
    for source in added:
        click.echo(f"added {source.id}: {source.url}")
    for url in skipped:
        click.echo(f"skipped {url}: already listed", err=True)
    click.echo(f"{len(added)} sources added, {len(skipped)} already listed")


@sources.command("export")
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="Config file to read."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: stdout).",
)
def sources_export(config: Path | None, output: Path | None) -> None:
    """Write the configured sources as OPML."""
    from aggregator import opml

    settings = _settings(config)
    document = opml.write_opml(
        [opml.OpmlSource(url=s.url, title=s.name, tags=s.tags) for s in settings.sources],
        title=settings.feed.title,
    )
    if output is None:
        click.echo(document.decode("utf-8"), nl=False)
    else:
        output.write_bytes(document)
        click.echo(f"wrote {len(settings.sources)} sources to {output}")


if __name__ == "__main__":  # pragma: no cover
    main()
