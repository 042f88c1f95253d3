"""Editing the `[[sources]]` of the config file for `aggregator sources add|remove|…`.

tomlkit keeps the operator's comments and layout. Every edit is validated by loading the
result as Settings before the file is replaced (atomically), so a command can never leave
a config behind that the next run would refuse.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from aggregator.config import RemoteSource, Settings, default_source_id, settings_from_mapping
from aggregator.exceptions import ConfigError


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


def _save(path: Path, doc: tomlkit.TOMLDocument) -> Settings:
    text = tomlkit.dumps(doc)
    settings = settings_from_mapping(
        tomlkit.parse(text).unwrap(), base_dir=path.parent, config_path=path
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".aggregator-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return settings


def _find(settings: Settings, ident: str) -> RemoteSource:
    for source in settings.sources:
        if ident in (source.id, source.url):
            return source
    raise ConfigError(f"no source with id or URL {ident!r}", key="sources")


def add_source(
    path: Path,
    url: str,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    interval: timedelta | None = None,
    organisation: str | None = None,
    current: Settings,
) -> RemoteSource:
    for source in current.sources:
        if source.url == url:
            raise ConfigError(f"{url} is already listed as source {source.id!r}", key="sources")
    doc = _load(path)
    taken = {s.id for s in current.sources}
    table = _source_table(url, name, tags, interval, taken=taken, organisation=organisation)
    _sources(doc).append(table)
    return _find(_save(path, doc), url)


def _source_table(
    url: str,
    name: str | None,
    tags: Sequence[str],
    interval: timedelta | None = None,
    *,
    taken: set[str],
    organisation: str | None = None,
) -> Table:
    """The [[sources]] table of a new source. When the id it would get is taken (another
    path of the same site, a second feed of the same name), an id of its own is written."""
    table = tomlkit.table()
    table.add("url", url)
    derived = default_source_id(url, name)
    source_id = derived
    for number in itertools.count(2):
        if source_id not in taken:
            break
        source_id = f"{derived}-{number}"
    taken.add(source_id)
    if source_id != derived:
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
    path: Path,
    entries: Sequence[tuple[str, str | None, Sequence[str]]],
    *,
    current: Settings,
    organisations: Mapping[str, str] | None = None,
) -> tuple[list[RemoteSource], list[str]]:
    """Add (url, name, tags) entries, with the `organisations` of some URLs; URLs already
    listed are skipped and reported."""
    known = {s.url for s in current.sources}
    taken = {s.id for s in current.sources}
    doc = _load(path)
    sources = _sources(doc)
    added_urls: list[str] = []
    skipped: list[str] = []
    for url, name, tags in entries:
        if url in known:
            skipped.append(url)
            continue
        organisation = (organisations or {}).get(url)
        sources.append(_source_table(url, name, tags, taken=taken, organisation=organisation))
        known.add(url)
        added_urls.append(url)
    if not added_urls:
        return [], skipped
    settings = _save(path, doc)
    return [_find(settings, url) for url in added_urls], skipped


def _table_for(doc: tomlkit.TOMLDocument, source: RemoteSource) -> tuple[AoT, int]:
    sources = _sources(doc)
    for i, table in enumerate(sources):
        if isinstance(table, Table) and table.get("url") == source.url:
            return sources, i
    raise ConfigError(f"source {source.id!r} is not in the config file", key="sources")


def remove_source(path: Path, ident: str, *, current: Settings) -> RemoteSource:
    source = _find(current, ident)
    doc = _load(path)
    sources, index = _table_for(doc, source)
    del sources[index]
    _save(path, doc)
    return source


def set_enabled(path: Path, ident: str, enabled: bool, *, current: Settings) -> RemoteSource:
    source = _find(current, ident)
    doc = _load(path)
    sources, index = _table_for(doc, source)
    table: Any = sources[index]
    table["enabled"] = enabled
    return _find(_save(path, doc), source.url)
