"""Editing the `[[sources]]` of the config file for `aggregator sources add|remove|…`.

tomlkit keeps the operator's comments and layout. Every edit is validated by loading the
result as Settings before the file is replaced (atomically), so a command can never leave
a config behind that the next run would refuse.
"""

from __future__ import annotations

import itertools
import os
import stat
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from aggregator.config import Settings, default_source_id, settings_from_mapping
from aggregator.exceptions import ConfigError
from aggregator.model import SourceSpec
from aggregator.normalise.rules import TrackingRules
from aggregator.normalise.urls import canonicalise
from aggregator.urlparts import split_url


def _load(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


def _sources(doc: tomlkit.TOMLDocument) -> AoT:
    existing = doc.get("sources")
    if existing is None:
        aot = tomlkit.aot()
        doc.append("sources", aot)
        return aot
    if not isinstance(existing, AoT):
        raise ConfigError("expected an array of tables ([[sources]])", key="sources")
    return existing


def _save(path: Path, text: str) -> Settings:
    """Validate `text` as a config, then replace the file with it, keeping its mode
    (a config readable by the service's user stays so)."""
    settings = settings_from_mapping(
        tomlkit.parse(text).unwrap(), base_dir=path.parent, config_path=path
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # what creating it with open() would have given
    fd, tmp = tempfile.mkstemp(prefix=".aggregator-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)  # mkstemp makes it 0600
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return settings


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _appended(path: Path, tables: Sequence[Table]) -> str:
    """The config file's text with new [[sources]] tables at its end, each after a blank
    line: the operator's own lines (comments, blank lines, order) stay byte for byte.
    TOML lets [[sources]] tables follow other tables; they join the same array."""
    doc = _load(path)
    _sources(doc)  # `sources = [...]` inline cannot take [[sources]] tables after it
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    parts = [text.rstrip("\n") + "\n"] if text.strip() else []
    for table in tables:
        block = tomlkit.document()
        block.append("sources", tomlkit.aot())
        block["sources"].append(table)
        parts.append(tomlkit.dumps(block))
    return "\n".join(parts)


def url_key(url: str) -> str:
    """A feed URL as compared for duplicates: scheme and host in lower case, no default
    port, no empty query or fragment, an empty path as "/". Query parameters stay (on a
    feed URL they often choose the feed) and so does a trailing slash (see `slash_twins`)."""
    # The fragment never reaches the server (canonicalise keeps those that name an item).
    return canonicalise(url.partition("#")[0], None, TrackingRules())[0] or url


def slash_twins(first: str, second: str) -> bool:
    """Whether two URL keys differ only by a trailing slash on the path: one feed when the
    server says so (it redirects one to the other, or serves the same document)."""
    a, b = split_url(first), split_url(second)
    if a is None or b is None or a.path == b.path:
        return False
    return a._replace(path=a.path.rstrip("/")) == b._replace(path=b.path.rstrip("/"))


def listed_as(current: Settings, url: str) -> SourceSpec | None:
    """The configured source whose URL is `url`, written any equivalent way."""
    key = url_key(url)
    return next((s for s in current.sources if url_key(s.url) == key), None)


def _find(settings: Settings, ident: str) -> SourceSpec:
    for source in settings.sources:
        if ident in (source.id, source.url):
            return source
    raise ConfigError(f"no source with id or URL {ident!r}", key="sources")


def add_source(
    path: Path,
    url: str,
    *,
    name: str | None = None,
    title: str | None = None,
    tags: Sequence[str] = (),
    interval: timedelta | None = None,
    organisation: str | None = None,
    current: Settings,
) -> SourceSpec:
    """Append a source; its id comes from `name`, else the feed's `title`, else the URL."""
    if (listed := listed_as(current, url)) is not None:
        raise ConfigError(f"{url} is already listed as source {listed.id!r}", key="sources")
    taken = {s.id for s in current.sources}
    table = _source_table(
        url, name, tags, interval, taken=taken, title=title, organisation=organisation
    )
    return _find(_save(path, _appended(path, [table])), url)


def _source_table(
    url: str,
    name: str | None,
    tags: Sequence[str],
    interval: timedelta | None = None,
    *,
    taken: set[str],
    title: str | None = None,
    organisation: str | None = None,
) -> Table:
    """The [[sources]] table of a new source. Its id is written when it is not the one the
    config would derive (from the name, else the URL): when it comes from the feed's title,
    or when that id is taken (another path of the same site, a second feed of one name)."""
    table = tomlkit.table()
    table.add("url", url)
    implicit = default_source_id(url, name)
    derived = default_source_id(url, name or title)
    source_id = derived
    for number in itertools.count(2):
        if source_id not in taken:
            break
        source_id = f"{derived}-{number}"
    taken.add(source_id)
    if source_id != implicit:
        table.add("id", source_id)
    if name:
        table.add("name", name)
    if tags:
        table.add("tags", list(tags))
    if interval is not None:
        table.add("interval_minutes", int(interval.total_seconds() // 60))
    if organisation is not None:
        table.add("organisation", organisation)
    return table


def add_many(
    path: Path, listed: Sequence[SourceSpec], *, current: Settings
) -> tuple[list[SourceSpec], list[str]]:
    """Add the url, name (`title`), tags and organisation of each listed source (an OPML
    import); URLs already listed (any equivalent spelling) are skipped and reported. The
    ids are chosen here, against the ids taken, as for one added source."""
    known = {url_key(s.url) for s in current.sources}
    taken = {s.id for s in current.sources}
    tables: list[Table] = []
    added_urls: list[str] = []
    skipped: list[str] = []
    for source in listed:
        url = source.url
        if url_key(url) in known:
            skipped.append(url)
            continue
        tables.append(
            _source_table(
                url, source.title, source.tags, taken=taken, organisation=source.organisation
            )
        )
        known.add(url_key(url))
        added_urls.append(url)
    if not added_urls:
        return [], skipped
    settings = _save(path, _appended(path, tables))
    return [_find(settings, url) for url in added_urls], skipped


def _table_for(doc: tomlkit.TOMLDocument, source: SourceSpec) -> tuple[AoT, int]:
    sources = _sources(doc)
    for i, table in enumerate(sources):
        if isinstance(table, Table) and table.get("url") == source.url:
            return sources, i
    raise ConfigError(f"source {source.id!r} is not in the config file", key="sources")


def remove_source(path: Path, ident: str, *, current: Settings) -> SourceSpec:
    source = _find(current, ident)
    doc = _load(path)
    sources, index = _table_for(doc, source)
    del sources[index]
    _save(path, tomlkit.dumps(doc))
    return source


def set_enabled(path: Path, ident: str, enabled: bool, *, current: Settings) -> SourceSpec:
    source = _find(current, ident)
    doc = _load(path)
    sources, index = _table_for(doc, source)
    table: Any = sources[index]
    table["enabled"] = enabled
    return _find(_save(path, tomlkit.dumps(doc)), source.url)
