"""Running in the background: `serve` (HTTP server and scheduler) and `schedule`."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path
from typing import Any

import click

from aggregator.cli.common import (
    base_url_warning,
    config_failure,
    config_options,
    finite,
    io_options,
    main,
)
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
    from aggregator.runtime.daemon import Daemon

    def load() -> Settings:
        return load_settings(config).with_overrides(**overrides)

    try:
        return Daemon(load, tick_seconds=tick)
    except ConfigError as exc:
        raise config_failure(exc, config) from None


def _listen(host: str, port: int) -> socket.socket:
    from aggregator.serve import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as exc:
        hint = (
            ": is another server using that port? (--port chooses another)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise click.ClickException(f"{exc.strerror or exc}{hint}") from None


def _url(listen: socket.socket) -> str:
    host, port = listen.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _plan(settings: Settings, schedule: bool, tick: float) -> str:
    """What the daemon will do, in a few words for its one start-up line."""
    count = len(settings.sources)
    sources = (
        f"{count} remote source{'' if count == 1 else 's'} and the seeds folder {settings.seeds}"
    )
    if not schedule:
        return f"{settings.out} (--no-schedule: nothing is fetched)"
    return f"{settings.out}: {sources}, checked every {tick:g} s"


def _run_daemon(daemon: Any, *, schedule: bool, listen: socket.socket | None) -> None:
    from aggregator.runtime import eventloop

    if (warning := base_url_warning(daemon.settings)) is not None:
        # Logged, not echoed: a daemon's stderr is its log (JSON lines with --log-format json).
        logging.getLogger("aggregator.runtime.daemon").warning(warning)

    eventloop.run(daemon.run(schedule=schedule, listen=listen))


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
    listen = _listen(host, port)
    # One line at the default level: where to point a feed reader, and what runs.
    click.echo(f"Serving {_url(listen)} from {_plan(daemon.settings, not no_schedule, tick)}")
    _run_daemon(daemon, schedule=not no_schedule, listen=listen)


@main.command()
@config_options
@io_options
@tick_option
def schedule(
    config: Path | None, db: str | None, seeds: Path | None, out: Path | None, tick: float
) -> None:
    """Keep fetching and publishing on a schedule, without serving (SIGHUP reloads the config)."""
    daemon = _daemon(config, {"db": db, "seeds": seeds, "out": out}, tick)
    click.echo(f"Publishing to {_plan(daemon.settings, True, tick)}")
    _run_daemon(daemon, schedule=True, listen=None)
