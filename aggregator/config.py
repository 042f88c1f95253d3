"""Settings: built once at the edge (TOML file + CLI overrides), then passed down.

Every key has a default, so no config file is needed. A wrong key or value raises
`ConfigError` naming the key (``feed.entries``, ``sources[2].url``) and what was expected.
Relative paths in a config file are taken relative to that file's folder; defaults and
CLI options are relative to the working directory.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from aggregator import __version__
from aggregator.exceptions import ConfigError
from aggregator.ingest.allowlist import parse_allow
from aggregator.model import DATE_ORDERS, DateOrder, SourceSpec
from aggregator.urlparts import is_http_url, split_url

# Counts, sizes, seconds and minutes stay at or below this, days at or below MAX_DAYS:
# TOML allows inf, nan and numbers of any length, which would overflow timedelta, a date
# or a C integer far from the config file.
MAX_NUMBER = 1_000_000_000
MAX_DAYS = 100_000  # about 270 years: "now" minus that is still a date

DEFAULT_CONFIG_NAME = "aggregator.toml"
DEFAULT_DB = "data/aggregator.sqlite"
MiB = 1024 * 1024
DEFAULT_USER_AGENT = f"aggregator/{__version__} (RSS/Atom feed aggregator)"

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSettings:
    title: str = "Aggregated press releases"
    subtitle: str | None = (
        "Press releases gathered from seed documents and feeds, one entry per story."
    )
    base_url: str = "http://127.0.0.1:8080/"
    id: str | None = None  # default: base_url + "index.atom"
    author: str = "aggregator"
    entries: int = 50
    hub: str | None = None

    @property
    def feed_id(self) -> str:
        return self.id or self.base_url + "index.atom"


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchConfig:
    """How feeds and article pages are fetched, and how often: the `[fetch]` table.

    The one record of fetch settings and the one place their defaults are written: the
    config file is read into it, the feed fetcher (`ingest.http`) and the full-text
    fetcher (`fulltext.pages`) take it as it is, and the refresh policy (`ingest.policy`) takes
    its intervals and their defaults from it.
    """

    concurrency: int = 32  # TRAPS 11: a pool above ~50 costs CPU per request
    per_host: int = 2
    timeout: float = 30.0  # the whole request: DNS, redirects, headers, body; seconds
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 10 * MiB  # on the wire and after decompression
    max_redirects: int = 5
    allow: tuple[str, ...] = ()  # hosts or CIDR networks re-opened despite the SSRF rules
    user_agent: str = DEFAULT_USER_AGENT
    # At most two polls an hour even when a feed asks for more (TRAPS 10).
    min_interval: timedelta = timedelta(minutes=30)
    max_interval: timedelta = timedelta(hours=24)
    backoff_cap: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        # The config file's reader names the key of a bad value first; this guards a
        # record a program builds itself.
        for name in ("concurrency", "per_host", "max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"must be at least 1, not {getattr(self, name)}", key=f"fetch.{name}"
                )
        for name in ("connect_timeout", "read_timeout", "timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError("must be a positive number of seconds", key=f"fetch.{name}")
        if self.max_redirects < 0:
            raise ConfigError("must be 0 or more", key="fetch.max_redirects")
        try:
            parse_allow(self.allow)
        except ValueError as exc:
            raise ConfigError(str(exc), key="fetch.allow") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class DedupeConfig:
    window_days: int = 14  # how far back a new copy looks for its story
    # Items (by key, origin id or link) that always start a story of their own: the
    # operator's fix for a wrong merge.
    never_merge: tuple[str, ...] = ()
    # Groups of items (by key, origin id or link) that always make one story.
    always_merge: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FullTextConfig:
    """The per-run budget of article fetches: what is left waits for the next run, so a
    cold start of a big digest never holds a run up."""

    pages_per_run: int = 100
    seconds_per_run: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    seeds: Path = Path("seeds")
    out: Path = Path("feeds")
    db: str = DEFAULT_DB  # a path or a database URL
    seed_max_bytes: int = 10 * MiB
    retention_days: int | None = None  # None: keep every item forever
    dedupe: DedupeConfig = DedupeConfig()
    lock_timeout: float = 60.0
    feed: FeedSettings = FeedSettings()
    fetch: FetchConfig = FetchConfig()
    full_text: FullTextConfig = FullTextConfig()
    # [output] store_documents: every publish also keeps the published files in the
    # database, for `aggregator serve --from-database` on any machine.
    store_documents: bool = False
    sources: tuple[SourceSpec, ...] = ()
    config_path: Path | None = None
    # How ambiguous numeric dates (04/05/2026) are read when a source says nothing:
    # seeds, seed feeds and every source without a date_order of its own.
    date_order: DateOrder | None = None
    # The sources by id, made once: a worker looks up each batch's sources, and a dict
    # of every source made for each batch cost O(sources configured) per batch.
    _by_id: dict[str, SourceSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {s.id: s for s in self.sources})

    @property
    def sources_by_id(self) -> Mapping[str, SourceSpec]:
        """The configured sources by id (not to be changed)."""
        return self._by_id

    def with_overrides(self, **changes: Any) -> Settings:
        """CLI overrides; None means "not given"."""
        given = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **given)


_SLUG_BAD = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _SLUG_BAD.sub("-", text.lower()).strip("-") or "source"


def load_settings(path: Path | None) -> Settings:
    """Read `path` (or ./aggregator.toml when it exists); no file means all defaults."""
    if path is None:
        default = Path(DEFAULT_CONFIG_NAME)
        if not default.is_file():
            return Settings()
        path = default
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return settings_from_mapping(data, base_dir=path.parent, config_path=path)


def settings_from_mapping(
    data: Mapping[str, Any], *, base_dir: Path, config_path: Path | None = None
) -> Settings:
    reader = _Table(data, prefix="")
    defaults = Settings()
    settings = Settings(
        seeds=_path(reader.get_text("seeds", str(defaults.seeds)), base_dir),
        out=_path(reader.get_text("out", str(defaults.out)), base_dir),
        db=_db(reader.get_text("db", defaults.db), base_dir),
        seed_max_bytes=reader.get("seed_max_bytes", int, defaults.seed_max_bytes, positive=True),
        retention_days=reader.get_optional("retention_days", int, positive=True, most=MAX_DAYS),
        dedupe=_dedupe(reader.table("dedupe")),
        lock_timeout=reader.get_number("lock_timeout", defaults.lock_timeout),
        feed=_feed(reader.table("feed")),
        fetch=_fetch(reader.table("fetch")),
        full_text=_full_text(reader.table("full_text")),
        store_documents=_store_documents(reader.table("output")),
        sources=_sources(reader.array("sources")),
        config_path=config_path,
        date_order=_date_order(reader),
    )
    reader.finish()
    return settings


def _path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _db(value: str, base_dir: Path) -> str:
    if "://" in value:
        return value
    return str(_path(value, base_dir))


def _feed(table: _Table) -> FeedSettings:
    d = FeedSettings()
    base_url = table.get("base_url", str, d.base_url)
    if not is_http_url(base_url):
        raise ConfigError("expected an absolute http(s) URL", key=table.key("base_url"))
    if not base_url.endswith("/"):
        base_url += "/"
    feed_id = table.get_optional("id", str)
    if feed_id is not None and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", feed_id):
        raise ConfigError("expected an absolute IRI (e.g. a URL or urn:…)", key=table.key("id"))
    settings = FeedSettings(
        title=table.get("title", str, d.title),
        subtitle=table.get("subtitle", str, d.subtitle or ""),
        base_url=base_url,
        id=feed_id,
        author=table.get("author", str, d.author),
        entries=table.get("entries", int, d.entries, positive=True),
        hub=table.get_optional("hub", str),
    )
    table.finish()
    return settings


def _store_documents(table: _Table) -> bool:
    value = table.get("store_documents", bool, False)
    table.finish()
    return value


def _fetch(table: _Table) -> FetchConfig:
    d = FetchConfig()
    allow = tuple(table.get("allow", list, []))
    for i, entry in enumerate(allow, start=1):  # messages count from 1, as people do
        if not isinstance(entry, str):
            raise ConfigError(
                "expected a host name or network string", key=f"{table.key('allow')}[{i}]"
            )
        try:
            parse_allow([entry])
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"{table.key('allow')}[{i}]") from None
    config = FetchConfig(
        concurrency=table.get("concurrency", int, d.concurrency, positive=True),
        per_host=table.get("per_host", int, d.per_host, positive=True),
        timeout=table.get_number("timeout", d.timeout),
        connect_timeout=table.get_number("connect_timeout", d.connect_timeout),
        read_timeout=table.get_number("read_timeout", d.read_timeout),
        max_bytes=table.get("max_bytes", int, d.max_bytes, positive=True),
        allow=allow,
        min_interval=_minutes(table, "min_interval_minutes", d.min_interval),
        max_interval=_minutes(table, "max_interval_minutes", d.max_interval),
        backoff_cap=_minutes(table, "backoff_cap_minutes", d.backoff_cap),
    )
    table.finish()
    return config


def _full_text(table: _Table) -> FullTextConfig:
    d = FullTextConfig()
    config = FullTextConfig(
        pages_per_run=table.get("pages_per_run", int, d.pages_per_run, positive=True),
        seconds_per_run=table.get_number("seconds_per_run", d.seconds_per_run),
    )
    table.finish()
    return config


def _dedupe(table: _Table) -> DedupeConfig:
    d = DedupeConfig()
    never = table.get("never_merge", list, [])
    if not all(isinstance(v, str) for v in never):
        raise ConfigError(
            "expected a list of item keys, origin ids or links", key=table.key("never_merge")
        )
    always = table.get("always_merge", list, [])
    if not all(
        isinstance(group, list) and len(group) >= 2 and all(isinstance(v, str) for v in group)
        for group in always
    ):
        raise ConfigError(
            "expected a list of groups of two or more item keys, origin ids or links "
            '(always_merge = [["key-a", "key-b"]])',
            key=table.key("always_merge"),
        )
    config = DedupeConfig(
        window_days=table.get("window_days", int, d.window_days, positive=True, most=MAX_DAYS),
        never_merge=tuple(never),
        always_merge=tuple(tuple(group) for group in always),
    )
    table.finish()
    return config


def _date_order(table: _Table) -> DateOrder | None:
    value = table.get_optional("date_order", str)
    for order in DATE_ORDERS:
        if value == order:
            return order
    if value is not None:
        raise ConfigError(f"expected one of {', '.join(DATE_ORDERS)}", key=table.key("date_order"))
    return None


def _organisation(table: _Table) -> str | None:
    value = table.get_optional("organisation", str)
    if value is not None and not value.strip():
        raise ConfigError(
            "expected an organisation's name, got an empty string", key=table.key("organisation")
        )
    return " ".join(value.split()) if value is not None else None


def _minutes(table: _Table, key: str, default: timedelta) -> timedelta:
    minutes = table.get_number(key, default.total_seconds() / 60)
    return timedelta(minutes=minutes)


def default_source_id(url: str, name: str | None) -> str:
    """The id of a source that names none: from its name, else its URL's host and path
    (else the whole URL, when urllib cannot take it apart: user input never raises)."""
    parts = split_url(url)
    return slugify(name or (parts.netloc + parts.path if parts is not None else url))


_FUTURE_POLICIES = ("first-seen", "keep")
FULL_TEXT_MODES = ("auto", "always", "never")
# OPML carries tags as "/tag" categories separated by commas, so a tag holds neither.
TAG_SEPARATORS = re.compile(r"[/,]")


def tag_problem(tag: str) -> str | None:
    """Why `tag` cannot be a source tag, or None when it can."""
    if not tag.strip():
        return "a tag cannot be empty"
    if tag != tag.strip():
        return f"tag {tag!r} has spaces around it"
    if TAG_SEPARATORS.search(tag):
        return f"tag {tag!r} contains '/' or ',' (OPML uses them between tags)"
    return None


def _sources(tables: list[_Table]) -> tuple[SourceSpec, ...]:
    sources: list[SourceSpec] = []
    seen_urls: dict[str, str] = {}
    seen_ids: set[str] = set()
    for table in tables:
        url = table.require("url", str)
        if not is_http_url(url):
            raise ConfigError(f"expected an http(s) URL, got {url!r}", key=table.key("url"))
        if url in seen_urls:
            raise ConfigError(
                f"{url} is already listed as source {seen_urls[url]!r}", key=table.key("url")
            )
        name = table.get_optional("name", str)
        source_id = slugify(table.get("id", str, "") or default_source_id(url, name))
        if source_id in seen_ids:
            raise ConfigError(f"source id {source_id!r} is used twice", key=table.key("id"))
        future = table.get("future_dates", str, "first-seen")
        if future not in _FUTURE_POLICIES:
            raise ConfigError(
                f"expected one of {', '.join(_FUTURE_POLICIES)}", key=table.key("future_dates")
            )
        full_text, selector = _full_text_of(table)
        tags = table.get("tags", list, [])
        if not all(isinstance(t, str) for t in tags):
            raise ConfigError("expected a list of strings", key=table.key("tags"))
        for j, tag in enumerate(tags, start=1):
            if (problem := tag_problem(tag)) is not None:
                raise ConfigError(problem, key=f"{table.key('tags')}[{j}]")
        sources.append(
            SourceSpec(
                id=source_id,
                url=url,
                title=name,
                tags=tuple(tags),
                interval=_minutes(table, "interval_minutes", timedelta(hours=1)),
                enabled=table.get("enabled", bool, True),
                filters=table.get("filters", dict, {}),
                future_dates=future,
                date_order=_date_order(table),
                organisation=_organisation(table),
                full_text=full_text,
                full_text_selector=selector,
            )
        )
        seen_urls[url] = source_id
        seen_ids.add(source_id)
        table.finish()
    return tuple(sources)


def _full_text_of(table: _Table) -> tuple[str, str | None]:
    mode = table.get("full_text", str, "auto")
    if mode not in FULL_TEXT_MODES:
        raise ConfigError(
            f"expected one of {', '.join(FULL_TEXT_MODES)}, got {mode!r}",
            key=table.key("full_text"),
        )
    selector = table.get_optional("full_text_selector", str)
    if selector is not None:
        # Imported here: lxml's CSS support is needed only by configs that use it.
        from aggregator.fulltext.selector import selector_problem

        if (problem := selector_problem(selector)) is not None:
            raise ConfigError(problem, key=table.key("full_text_selector"))
    return mode, selector


class _Table:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, data: Mapping[str, Any], *, prefix: str) -> None:
        self._data = data
        self._prefix = prefix
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def _fetch(self, name: str, kind: type[T], most: int | None = None) -> T:
        """The value of `name`, of `kind`; with `most`, a number above 0 and at most that."""
        self._seen.add(name)
        value = self._data[name]
        # bool is an int in Python; a config `entries = true` is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"expected {_describe(kind)}, got {value!r}", key=self.key(name))
        if most is not None and not (isinstance(value, int | float) and _in_range(value, most)):
            expected = _describe(kind, positive=True, most=most)
            raise ConfigError(f"expected {expected}, got {value!r}", key=self.key(name))
        return value

    def get(
        self,
        name: str,
        kind: type[T],
        default: T,
        *,
        positive: bool = False,
        most: int = MAX_NUMBER,
    ) -> T:
        if name not in self._data:
            self._seen.add(name)
            return default
        return self._fetch(name, kind, most if positive else None)

    def get_optional(
        self, name: str, kind: type[T], *, positive: bool = False, most: int = MAX_NUMBER
    ) -> T | None:
        if name not in self._data:
            return None
        return self._fetch(name, kind, most if positive else None)

    def get_number(self, name: str, default: float) -> float:
        if name not in self._data:
            return default
        self._seen.add(name)
        value = self._data[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not _in_range(value):
            raise ConfigError(
                f"expected {_describe(float, positive=True)}, got {value!r}", key=self.key(name)
            )
        return float(value)

    def get_text(self, name: str, default: str) -> str:
        """A string that must say something: an empty path would mean the config's own
        folder (publishing into it, reading it as seeds)."""
        value = self.get(name, str, default)
        if not value.strip():
            raise ConfigError("expected a path, got an empty string", key=self.key(name))
        return value

    def require(self, name: str, kind: type[T]) -> T:
        if name not in self._data:
            raise ConfigError(f"missing required key ({_describe(kind)})", key=self.key(name))
        return self._fetch(name, kind)

    def table(self, name: str) -> _Table:
        sub = self.get(name, dict, {})
        return _Table(sub, prefix=f"{self.key(name)}.")

    def array(self, name: str) -> list[_Table]:
        items = self.get(name, list, [])
        tables = []
        # Counted from 1 in messages: "sources[6]" is the sixth [[sources]] of the file.
        for i, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ConfigError("expected a table ([[sources]])", key=f"{self.key(name)}[{i}]")
            tables.append(_Table(item, prefix=f"{self.key(name)}[{i}]."))
        return tables

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise ConfigError("unknown key", key=self.key(unknown[0]))


def _in_range(value: float, most: int = MAX_NUMBER) -> bool:
    """Above 0 and at most `most` (nan compares false, so it fails too)."""
    return 0 < value <= most


def _describe(kind: type, *, positive: bool = False, most: int = MAX_NUMBER) -> str:
    if positive:
        noun = "an integer" if kind is int else "a number"
        return f"{noun} above 0 and at most {most:,}"
    return {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)
