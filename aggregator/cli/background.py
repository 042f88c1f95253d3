"""Running in the background: `serve` (HTTP server and scheduler) and `schedule`."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
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
    opened_store,
    settings_for,
)
from aggregator.config import Settings, load_settings
from aggregator.exceptions import AggregatorError, ConfigError

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
    from aggregator.runtime.memory import settle_long_lived

    if (warning := base_url_warning(daemon.settings)) is not None:
        # Logged, not echoed: a daemon's stderr is its log (JSON lines with --log-format json).
        logging.getLogger("aggregator.runtime.daemon").warning(warning)

    settle_long_lived()
    eventloop.run(daemon.run(schedule=schedule, listen=listen))


@main.command()
@config_options
@io_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port."
)
@click.option("--no-schedule", is_flag=True, help="Only serve the output folder; fetch nothing.")
@click.option(
    "--from-database",
    is_flag=True,
    help="Serve the documents the publisher keeps in the database ([output] "
    "store_documents) instead of the output folder; fetches nothing.",
)
@tick_option
def serve(
    config: Path | None,
    db: str | None,
    seeds: Path | None,
    out: Path | None,
    host: str,
    port: int,
    no_schedule: bool,
    from_database: bool,
    tick: float,
) -> None:
    """Serve the feeds over HTTP and keep them fresh on a schedule (SIGHUP reloads the config)."""
    if from_database:
        _serve_documents(settings_for(config, db=db), host, port)
        return
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


def _serve_documents(settings: Settings, host: str, port: int) -> None:
    """`serve --from-database`: only the HTTP server, reading the documents table."""
    from aggregator.runtime import eventloop
    from aggregator.serve import create_database_app, serve_forever

    with opened_store(settings, create=False) as store:
        try:
            empty = store.documents_version() == ""
        except AggregatorError as exc:
            raise click.ClickException(str(exc)) from None
        listen = _listen(host, port)
        click.echo(f"Serving {_url(listen)} from the documents in the database {store.location}")
        if empty:
            logging.getLogger("aggregator.serve").warning(
                "the database holds no published documents yet: every path is 404 until a "
                "publish with [output] store_documents = true stores them"
            )
        app = create_database_app(store)
        bound_host, bound_port = listen.getsockname()[:2]
        eventloop.run(
            serve_forever(
                app,
                host=bound_host,
                port=bound_port,
                sockets=[listen],
                install_signal_handlers=True,
                log_level="warning",
            )
        )


@main.command()
@config_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: feeds/).",
)
@click.option("--once", is_flag=True, help="Publish once (waiting for the lock) and exit.")
@click.option(
    "--debounce",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, max=3600),
    callback=finite,
    help="Seconds without a new commit before publishing: a burst gives one publish.",
)
@click.option(
    "--interval",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=1, max=86400),
    callback=finite,
    help="Publish at least this often, woken or not (a safety net).",
)
def publisher(
    config: Path | None,
    db: str | None,
    out: Path | None,
    once: bool,
    debounce: float,
    interval: float,
) -> None:
    """Publish whenever stored items change: one publisher for all machines, the others
    stand by (PostgreSQL: advisory lock, woken by NOTIFY; SQLite: polled)."""
    from aggregator.runtime.publisher import Publisher, PublisherOptions, leadership_for

    settings = settings_for(config, db=db, out=out)
    stopping = threading.Event()
    options = PublisherOptions(once=once, debounce=debounce, interval=interval)
    with opened_store(settings, create=False) as store:
        publisher = Publisher(settings, store, leadership_for(settings, store), options, stopping)
        try:
            if once:
                _publish_once(publisher)
                return
            click.echo(
                f"Publishing {store.location} to {settings.out} while this process holds "
                f"the publisher lock (after {debounce:g} s without a new commit, and at "
                f"least every {interval:g} s)"
            )
            previous = {
                sig: signal.signal(sig, lambda signum, frame: stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)
            }
            try:
                publisher.run()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        except AggregatorError as exc:
            raise click.ClickException(str(exc)) from None


def _publish_once(publisher: Any) -> None:
    done = publisher.run_once()
    if done is None:
        raise click.ClickException(
            "another publisher holds the publisher lock "
            f"(waited lock_timeout, {publisher.settings.lock_timeout:g} s)"
        )
    published, entries = done
    where = publisher.settings.out
    count = f"{entries} entr{'y' if entries == 1 else 'ies'}"
    if published is None:
        click.echo(f"Nothing changed since the last publish: {count} in {where}")
        return
    click.echo(f"Published {count} to {where} ({len(published.written)} files written)")
