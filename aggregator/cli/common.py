"""What every command shares: the `main` group, config and store options, errors."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from aggregator import __version__
from aggregator.config import DEFAULT_CONFIG_NAME, FeedSettings, Settings, load_settings
from aggregator.exceptions import AggregatorError, ConfigError
from aggregator.runtime import log as logsetup
from aggregator.store import Store, open_store

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    """A config mistake: exit code 2 like a usage error, but without click's "Usage: …
    Try --help" lines, which would send the user to the command line instead of the file."""

    exit_code = 2


def config_failure(exc: ConfigError, config: Path | None) -> UsageFailure:
    """The error of a config key, naming the file it is in."""
    if exc.key is None:  # about the file itself: the message names it already
        return UsageFailure(str(exc))
    path = config if config is not None else Path(DEFAULT_CONFIG_NAME)
    return UsageFailure(f"{path}: {exc}" if path.is_file() else str(exc))


def settings_for(config: Path | None, **overrides: Any) -> Settings:
    """The settings of `config` (or the defaults) with the command-line overrides."""
    try:
        return load_settings(config).with_overrides(**overrides)
    except ConfigError as exc:
        raise config_failure(exc, config) from None


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


def base_url_warning(settings: Settings) -> str | None:
    """Without `[feed] base_url`, self links and feed ids name this machine's loopback
    address: right for a quick look, wrong for any subscriber elsewhere."""
    default = FeedSettings().base_url
    if settings.feed.base_url != default:
        return None
    return (
        f"[feed] base_url is not set: self links in the feeds point at {default}"
        " (set it to the URL the output folder is served at)"
    )


@contextmanager
def opened_store(settings: Settings, *, create: bool = True) -> Iterator[Store]:
    try:
        store = open_store(settings.db, create=create)
    except AggregatorError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


# Exit status of a process stopped by a signal, as shells report it (128 + the signal).
EXIT_INTERRUPTED = 130  # SIGINT, Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM

_LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"])
_LOG_FORMATS = click.Choice(["text", "json"])
_LOG_META = "aggregator.log"  # the logging options given so far, in the root context


def _relog(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """A global option given after the command: applied on top of those given before it."""
    if value is None:
        return
    chosen: dict[str, str] = ctx.find_root().meta.setdefault(
        _LOG_META, {"log_level": "warning", "log_format": "text"}
    )
    assert param.name is not None
    chosen[param.name] = value
    logsetup.configure(chosen["log_level"], chosen["log_format"])


def _global_options() -> list[click.Parameter]:
    return [
        click.Option(
            [flag],
            type=choice,
            expose_value=False,
            callback=_relog,
            help=f"{what} (also accepted before the command).",
        )
        for flag, choice, what in (
            ("--log-level", _LOG_LEVELS, "How much to log on stderr"),
            ("--log-format", _LOG_FORMATS, "Log line format"),
        )
    ]


class AggregatorGroup(click.Group):
    """Every command, at any depth, also takes the global options after its name
    (`aggregator run --log-level info`), and Ctrl-C ends any command with exit 130.

    The outermost group imports a command's module only when that command is asked for
    (`lazy`: command name → the module whose import registers it). A process runs one
    command, and importing them all added a tenth of a second to `aggregator status`
    (the ingest pipeline, the publisher, the item tools, the web server's wiring)."""

    group_class = type  # `@main.group()` makes groups of this class too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}  # filled by `aggregator.cli` (COMMAND_MODULES)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            cmd.params.extend(_global_options())
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self.lazy.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(module)  # its decorators add the command to this group
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            if ctx.parent is not None:  # the outermost group says it once
                raise
            click.echo("Interrupted: nothing half-written is kept (writes are atomic)", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=AggregatorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "--log-level",
    type=_LOG_LEVELS,
    default="warning",
    show_default=True,
    help="How much to log on stderr.",
)
@click.option(
    "--log-format",
    type=_LOG_FORMATS,
    default="text",
    show_default=True,
    help="Log line format.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str) -> None:
    """Gather press releases and feeds, merge copies of each story, publish one Atom feed."""
    ctx.meta[_LOG_META] = {"log_level": log_level, "log_format": log_format}
    logsetup.configure(log_level, log_format)
