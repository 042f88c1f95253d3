"""The public API of `aggregator`: exactly these names, each the object of its module."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import aggregator
from aggregator import config, exceptions, model, pipeline, store

PUBLIC = {
    "__version__": None,
    # running it
    "run_once": pipeline,
    "RunOptions": pipeline,
    "RunReport": pipeline,
    # settings
    "load_settings": config,
    "Settings": config,
    "FeedSettings": config,
    "FetchConfig": config,
    "DedupeConfig": config,
    "FullTextConfig": config,
    # the store
    "open_store": store,
    "Store": store,
    # the exception tree
    "AggregatorError": exceptions,
    "ConfigError": exceptions,
    "SourceError": exceptions,
    "FetchError": exceptions,
    "SeedPathError": exceptions,
    "ParseError": exceptions,
    "StorageError": exceptions,
    "PublishError": exceptions,
    "RepairError": exceptions,
    # the record types
    "SourceSpec": model,
    "SourceKind": model,
    "RawEntry": model,
    "FeedMeta": model,
    "ParsedFeed": model,
    "Attribution": model,
    "Item": model,
    "Entry": model,
    "ViaLink": model,
}


def test_all_is_exactly_the_public_api_and_sorted() -> None:
    assert set(aggregator.__all__) == set(PUBLIC)
    assert aggregator.__all__ == sorted(aggregator.__all__)


@pytest.mark.parametrize("name", sorted(set(PUBLIC) - {"__version__"}))
def test_each_name_is_its_modules_object(name: str) -> None:
    assert getattr(aggregator, name) is getattr(PUBLIC[name], name)
    assert name in dir(aggregator)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'run_twice'"):
        aggregator.run_twice  # type: ignore[attr-defined]  # noqa: B018


def test_the_exception_tree_has_one_root() -> None:
    errors = [getattr(aggregator, n) for n in aggregator.__all__ if n.endswith("Error")]
    assert all(issubclass(e, aggregator.AggregatorError) for e in errors)


def test_importing_the_package_stays_cheap() -> None:
    # The CLI's `--version` and a program reading the version import no pipeline.
    code = "import aggregator, sys; print('aggregator.pipeline' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_embedding_program_runs_through_the_public_api(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text(
        "Council opens new library\n\nShire of Lakeside\n\nThe library opens on Monday.\n",
        encoding="utf-8",
    )
    config_file = tmp_path / "aggregator.toml"
    config_file.write_text(
        'seeds = "seeds"\nout = "feeds"\ndb = "data/agg.sqlite"\n', encoding="utf-8"
    )
    settings = aggregator.load_settings(config_file)
    opened = aggregator.open_store(settings.db)
    try:
        report = aggregator.run_once(settings, opened, now=datetime(2026, 12, 4, tzinfo=UTC))
    finally:
        opened.close()
    assert isinstance(report, aggregator.RunReport)
    assert (tmp_path / "feeds" / "index.atom").is_file()
    assert "Council opens new library" in (tmp_path / "feeds" / "index.atom").read_text("utf-8")
