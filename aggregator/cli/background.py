"""Running in the background: `serve` (HTTP server and scheduler) and `schedule`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import UsageFailure, config_options, finite, io_options, main
from aggregator.config import Settings, load_settings
from aggregator.exceptions import ConfigError

tick_option = click.option(
    "--tick",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=86400),
    callback=finite,
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
