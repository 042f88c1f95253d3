"""aggregator: ingest seed documents and feeds, clean and merge them, publish one Atom feed.

The public API, what a program that embeds the aggregator uses::

    import aggregator

    settings = aggregator.load_settings(Path("aggregator.toml"))
    store = aggregator.open_store(settings.db)
    try:
        report = aggregator.run_once(settings, store, now=datetime.now(UTC))
    finally:
        store.close()

Everything else is internal and may change between versions. The names are imported
when first used (PEP 562): `import aggregator` stays cheap, and the modules that read
`aggregator.__version__` while they load do not import the whole pipeline in a cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> the module that owns it
_EXPORTS = {
    "AggregatorError": "aggregator.exceptions",
    "Attribution": "aggregator.model",
    "ConfigError": "aggregator.exceptions",
    "DedupeConfig": "aggregator.config",
    "Entry": "aggregator.model",
    "FeedMeta": "aggregator.model",
    "FeedSettings": "aggregator.config",
    "FetchConfig": "aggregator.config",
    "FetchError": "aggregator.exceptions",
    "FullTextConfig": "aggregator.config",
    "Item": "aggregator.model",
    "ParseError": "aggregator.exceptions",
    "ParsedFeed": "aggregator.model",
    "PublishError": "aggregator.exceptions",
    "RawEntry": "aggregator.model",
    "RepairError": "aggregator.exceptions",
    "RunOptions": "aggregator.pipeline",
    "RunReport": "aggregator.pipeline",
    "SeedPathError": "aggregator.exceptions",
    "Settings": "aggregator.config",
    "SourceError": "aggregator.exceptions",
    "SourceKind": "aggregator.model",
    "SourceSpec": "aggregator.model",
    "StorageError": "aggregator.exceptions",
    "Store": "aggregator.store",
    "ViaLink": "aggregator.model",
    "load_settings": "aggregator.config",
    "open_store": "aggregator.store",
    "run_once": "aggregator.pipeline",
}

__all__ = [
    "AggregatorError",
    "Attribution",
    "ConfigError",
    "DedupeConfig",
    "Entry",
    "FeedMeta",
    "FeedSettings",
    "FetchConfig",
    "FetchError",
    "FullTextConfig",
    "Item",
    "ParseError",
    "ParsedFeed",
    "PublishError",
    "RawEntry",
    "RepairError",
    "RunOptions",
    "RunReport",
    "SeedPathError",
    "Settings",
    "SourceError",
    "SourceKind",
    "SourceSpec",
    "StorageError",
    "Store",
    "ViaLink",
    "__version__",
    "load_settings",
    "open_store",
    "run_once",
]

if TYPE_CHECKING:
    from aggregator.config import (
        DedupeConfig,
        FeedSettings,
        FetchConfig,
        FullTextConfig,
        Settings,
        load_settings,
    )
    from aggregator.exceptions import (
        AggregatorError,
        ConfigError,
        FetchError,
        ParseError,
        PublishError,
        RepairError,
        SeedPathError,
        SourceError,
        StorageError,
    )
    from aggregator.model import (
        Attribution,
        Entry,
        FeedMeta,
        Item,
        ParsedFeed,
        RawEntry,
        SourceKind,
        SourceSpec,
        ViaLink,
    )
    from aggregator.pipeline import RunOptions, RunReport, run_once
    from aggregator.store import Store, open_store


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aggregator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once, then a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
