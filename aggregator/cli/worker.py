"""`aggregator worker`: fetch the due remote sources, in leased batches, alongside any
number of other workers sharing the database (see `aggregator.runtime.worker`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from aggregator.cli.common import (
    UsageFailure,
    config_failure,
    config_options,
    finite,
    main,
    settings_for,
)
from aggregator.config import Settings
from aggregator.exceptions import AggregatorError, ConfigError, StorageError
from aggregator.runtime.locking import WriterBusy, WriterLock
from aggregator.runtime.memory import settle_long_lived
from aggregator.runtime.worker import (
    DEFAULT_BATCH,
    DEFAULT_LEASE,
    Worker,
    WorkerOptions,
    default_name,
    lease_problem,
    writer_lock,
)
from aggregator.store import Store, open_store


@main.command()
@config_options
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=1000),
    help="Requests in flight in this worker (default: [fetch] concurrency).",
)
@click.option(
    "--batch",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(min=1, max=10000),
    help="Sources claimed at a time.",
)
@click.option(
    "--lease",
    default=DEFAULT_LEASE,
    show_default=True,
    type=click.FloatRange(min=1, max=86400),
    callback=finite,
    help="Seconds a claimed source stays this worker's without a heartbeat.",
)
@click.option("--name", help="This worker's name in `aggregator status` (default: host:pid).")
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit once no source is due and no worker holds a lease (cron, tests).",
)
def worker(
    config: Path | None,
    db: str | None,
    concurrency: int | None,
    batch: int,
    lease: float,
    name: str | None,
    until_idle: bool,
) -> None:
    """Fetch due remote sources in leased batches, with other workers on any machine.

    Stores what it fetched (matched under the writer lock, like a run) and publishes
    nothing (`aggregator publisher`, or a run, publishes). SIGTERM or Ctrl-C: the
    batch in progress is finished, the leases are given back, exit 0.
    """
    settings = settings_for(config, db=db)
    if name is not None and not name.strip():
        raise click.BadParameter("expected a name, got an empty string", param_hint="--name")
    options = WorkerOptions(
        name=name or default_name(),
        batch=batch,
        concurrency=concurrency,
        lease=lease,
        until_idle=until_idle,
    )
    if (problem := lease_problem(options, settings)) is not None:
        raise UsageFailure(problem)
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGTERM, signal.SIGINT)}
    writer = WriterLock(settings, keep_session=True)
    try:
        store = _open(settings, writer, stop)
    except BaseException:
        _restore(previous)
        writer.close()
        raise
    # A worker fetches: its HTTP client's modules are loaded before what lives as long as
    # the process settles out of the collector's way.
    import aggregator.runtime.fetching  # noqa: F401

    settle_long_lived()
    try:
        counts = Worker(settings, store, options, open_store=open_store, writer=writer).run(stop)
    except ConfigError as exc:
        raise config_failure(exc, config) from None
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        _restore(previous)
        store.close()
        writer.close()
    lost = f"; {counts.lost} leases lost to other workers" if counts.lost else ""
    click.echo(
        f"worker {options.name}: {counts.feeds} feeds fetched, {counts.items} items stored "
        f"new or updated, in {counts.batches} batches ({counts.lock_seconds:.1f} s holding "
        f"the writer lock){lost}",
        err=True,
    )


def _open(settings: Settings, writer: WriterLock, stop: threading.Event) -> Store:
    """The store, opened under the writer lock as `run` does (workers starting together
    on a fresh SQLite file would otherwise each create its tables)."""
    try:
        with writer_lock(writer, stop):
            return open_store(settings.db)
    except WriterBusy as exc:
        raise click.ClickException(str(exc)) from None
    except StorageError as exc:
        # The database named by --db or `db` cannot be used: the user's to fix.
        raise UsageFailure(str(exc)) from None


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
