"""The operator's view of the sources: `status` and `sources list|add|remove|...`.

The commands that edit the config (tomlkit) or read OPML import those modules themselves:
`aggregator run`, every few minutes from a scheduler, should not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aggregator.cli.common import (
    UsageFailure,
    config_failure,
    config_options,
    main,
    opened_store,
    settings_for,
)
from aggregator.config import DEFAULT_CONFIG_NAME, Settings, tag_problem
from aggregator.exceptions import ConfigError, FetchError, ParseError
from aggregator.runtime.status import SourceRow, source_rows, status_dict
from aggregator.urlparts import is_http_url

if TYPE_CHECKING:
    from aggregator.ingest.discover import Checked


def _when(value: datetime | None) -> str:
    # Month, day and time: the year is in --json; a row must fit 80 columns.
    return value.strftime("%m-%d %H:%M") if value else "-"


def _state(row: SourceRow) -> str:
    if not row.enabled:
        return "off"
    if row.state.last_status is not None:
        return str(row.state.last_status)
    return "-" if row.state.kind == "remote" else "local"


def _print_sources_table(rows: list[SourceRow]) -> None:
    """A table as wide as the terminal (80 columns when it is not one), with the last
    errors below it: they are sentences, and a column would squeeze them to a word a line."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    # Folded, never cut with an ellipsis: the id is what the other commands take.
    table.add_column("source", overflow="fold")
    for column in ("last fetch", "status", "items", "new/upd", "fails", "next due"):
        table.add_column(column, overflow="fold")
    errors = []
    for r in rows:
        table.add_row(
            r.state.id,
            _when(r.state.last_fetch_at),
            _state(r),
            str(r.items),
            f"{r.state.last_new}/{r.state.last_updated}",
            str(r.state.error_count),
            _when(r.state.next_check_at),
        )
        if r.last_error:
            errors.append((r.state.id, r.last_error))
    console = Console(highlight=False)
    console.print(table)
    for source_id, error in errors:
        console.print(f"{source_id}: {error}", markup=False, soft_wrap=False)
    if rows:
        console.print("Times in UTC; status: the last HTTP status, off: disabled.")


@main.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config: Path | None, db: str | None, as_json: bool) -> None:
    """Show each source's state and the last publish."""
    settings = settings_for(config, db=db)
    with opened_store(settings) as store:
        data = status_dict(settings, store)
        rows = source_rows(settings, store)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    _print_sources_table(rows)
    items = data["items"]
    stored = f"{items} item{'' if items == 1 else 's'} stored"
    click.echo(f"{stored}; last publish: {data['last_publish'] or 'never'}")
    if data["workers"]:
        _print_workers(data)


def _print_workers(data: dict[str, Any]) -> None:
    """The workers (`aggregator worker`) under the sources: who beats, who holds what,
    and how far behind they all are."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("worker", overflow="fold")
    for column in ("state", "last beat", "leases", "feeds", "items"):
        table.add_column(column, overflow="fold")
    for w in data["workers"]:
        table.add_row(
            w["name"],
            w["state"],
            f"{w['beat_age_seconds']:.0f} s ago",
            str(w["leases"]),
            str(w["feeds"]),
            str(w["items"]),
        )
    console = Console(highlight=False)
    console.print(table)
    lag = data["lag"]
    behind = f", the oldest due {lag['seconds']:.0f} s ago" if lag["oldest_due"] else ""
    console.print(
        f"{data['leases']} sources leased; {lag['due']} due not yet claimed{behind}; "
        f"{data['items_per_second']:g} items/s stored by the live workers",
        markup=False,
        soft_wrap=False,
    )


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


def _edit(action: Callable[[], Any], path: Path) -> Any:
    try:
        return action()
    except ConfigError as exc:
        raise config_failure(exc, path) from None


@sources.command("list")
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources_list(config: Path | None, db: str | None, as_json: bool) -> None:
    """Every source with its fetch state."""
    settings = settings_for(config, db=db)
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
@click.option(
    "--organisation", help="Who publishes this feed's items: their author, whatever else says."
)
@click.option(
    "--no-discover",
    is_flag=True,
    help="Refuse a URL that is not a feed, instead of adding the feed its page leads to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was added as JSON.")
def sources_add(
    config: Path | None,
    url: str,
    name: str | None,
    tags: tuple[str, ...],
    interval: int | None,
    organisation: str | None,
    no_discover: bool,
    as_json: bool,
) -> None:
    """Add a feed to the config file: URL may be the feed or a page that leads to it.

    The URL is fetched (as a run would) to find the feed and its title, which gives the
    source its id when there is no --name. A URL already listed, written any equivalent
    way, is refused.
    """
    from aggregator.sources import configfile  # see the note on imports at the top

    for tag in tags:
        if (problem := tag_problem(tag)) is not None:
            raise UsageFailure(f"--tag: {problem}")
    if not is_http_url(url):
        raise UsageFailure(f"expected an absolute http(s) URL, got {url!r}")
    path = _config_path(config)
    current = settings_for(config if path.exists() else None)
    _refuse_listed(current, url, path)
    checked, warning = _check(current, url, discover=not no_discover)
    if checked is not None:
        _refuse_same_feed(current, checked, path)
    every = timedelta(minutes=interval) if interval else None
    feed_url = checked.url if checked else url
    title = checked.title if checked else None
    source = _edit(
        lambda: configfile.add_source(
            path,
            feed_url,
            name=name,
            title=title,
            tags=tags,
            interval=every,
            organisation=organisation,
            current=current,
        ),
        path,
    )
    found = checked.found if checked else None
    if as_json:
        data = {
            "id": source.id,
            "url": source.url,
            "requested": url,
            "found": found,
            "title": title,
            "checked": checked is not None,
            "warning": warning,
        }
        click.echo(json.dumps(data, indent=2))
        return
    if warning:
        click.echo(f"warning: {warning}", err=True)
    said = f"added {source.id}: {source.url}"
    if found:
        said += f" (the feed of {url}, {found})"
    if title and not name:
        said += f"; its title: {title}"
    click.echo(said)


def _refuse_listed(current: Settings, url: str, path: Path, why: str = "") -> None:
    from aggregator.sources.configfile import listed_as

    listed = listed_as(current, url)
    if listed is not None:
        raise UsageFailure(f"{path}: {url} is already listed as source {listed.id!r}{why}")


def _check(current: Settings, url: str, *, discover: bool) -> tuple[Checked | None, str | None]:
    """The feed at (or behind) `url`, or a warning when it cannot be fetched now: a feed
    that is down, or refused until `[fetch] allow` names it, can still be listed."""
    from aggregator.ingest.discover import check_feed

    try:
        return check_feed(current, url, discover=discover), None
    except FetchError as exc:
        return None, f"could not check {url}: {exc.message}; added as given"
    except ParseError as exc:
        raise click.ClickException(f"{url}: {exc.message}") from None


def _refuse_same_feed(current: Settings, checked: Checked, path: Path) -> None:
    """The feed found may be listed already: under the URL found, the one a redirect led
    to, or with(out) a trailing slash that the server ignores."""
    from aggregator.ingest.discover import same_document
    from aggregator.sources.configfile import slash_twins, url_key

    for candidate in (checked.url, checked.final_url):
        _refuse_listed(current, candidate, path, f" (the feed {checked.url} leads to)")
    key = url_key(checked.url)
    for source in current.sources:
        if slash_twins(key, url_key(source.url)) and same_document(current, checked, source.url):
            raise UsageFailure(
                f"{path}: {checked.url} is already listed as source {source.id!r} "
                f"({source.url} serves the same feed)"
            )


@sources.command("remove")
@edited_config
@click.argument("source")
def sources_remove(config: Path | None, source: str) -> None:
    """Remove SOURCE (id or URL) from the config file; its items stay published."""
    from aggregator.sources import configfile

    path = _config_path(config)
    removed = _edit(
        lambda: configfile.remove_source(path, source, current=settings_for(path)), path
    )
    click.echo(f"removed {removed.id}: {removed.url}")


def _toggle(config: Path | None, source: str, enabled: bool) -> None:
    from aggregator.sources import configfile

    path = _config_path(config)
    changed = _edit(
        lambda: configfile.set_enabled(path, source, enabled, current=settings_for(path)), path
    )
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
@click.option("--json", "as_json", is_flag=True, help="Print what was added as JSON.")
def sources_import(config: Path | None, opml_file: Path, as_json: bool) -> None:
    """Add every feed of an OPML file (folders and categories become tags)."""
    from aggregator.sources import configfile, opml

    path = _config_path(config)
    current = settings_for(config if path.exists() else None)

    refused: list[str] = []

    def do_import() -> tuple[list[Any], list[str]]:
        listed = opml.read_opml(opml_file.read_bytes(), name=str(opml_file))
        # One outline that is not a feed URL (ftp:, a typo) does not cost the others.
        feeds = [s for s in listed if is_http_url(s.url)]
        refused.extend(s.url for s in listed if not is_http_url(s.url))
        return configfile.add_many(path, feeds, current=current)

    added, skipped = _edit(do_import, path)
    if as_json:
        data = {
            "added": [{"id": s.id, "url": s.url} for s in added],
            "skipped": [{"url": url, "reason": "already listed"} for url in skipped]
            + [{"url": url, "reason": "not an http(s) URL"} for url in refused],
        }
        click.echo(json.dumps(data, indent=2))
        return
    for source in added:
        click.echo(f"added {source.id}: {source.url}")
    for url in skipped:
        click.echo(f"skipped {url}: already listed", err=True)
    for url in refused:
        click.echo(f"skipped {url}: not an http(s) URL", err=True)
    not_feeds = f", {len(refused)} not http(s) URLs" if refused else ""
    click.echo(f"{len(added)} sources added, {len(skipped)} already listed{not_feeds}")


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
    from aggregator.sources import opml

    settings = settings_for(config)
    document = opml.write_opml(settings.sources, title=settings.feed.title)
    if output is None:
        click.echo(document.decode("utf-8"), nl=False)
    else:
        output.write_bytes(document)
        click.echo(f"wrote {len(settings.sources)} sources to {output}")


if __name__ == "__main__":  # pragma: no cover
    main()
