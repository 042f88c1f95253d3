"""What every command shares: the `main` group, config and store options, errors."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from aggregator import __version__
from aggregator import log as logsetup
from aggregator.config import Settings, load_settings
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.store import Store, open_store

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.UsageError):
    """A config mistake: exit code 2, like a usage error."""


def settings_for(config: Path | None, **overrides: Any) -> Settings:
    """The settings of `config` (or the defaults) with the command-line overrides."""
    try:
        return load_settings(config).with_overrides(**overrides)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


def _not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("expected a database path or URL, got an empty string")
    return value


def finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """click.FloatRange lets nan through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter(f"expected a finite number, got {value}")
    return value


def config_options(func: F) -> F:
    """--config / --db shared by every command that reads the store."""
    func = click.option(
        "--db",
        callback=_not_blank,
        help="Database path or URL (default: data/aggregator.sqlite).",
    )(func)
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
