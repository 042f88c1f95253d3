from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config import Settings, load_settings
from aggregator.exceptions import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aggregator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None) == Settings()


def test_full_config_is_read_relative_to_its_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
seeds = "my-seeds"
out = "public"
db = "state/agg.sqlite"
retention_days = 90

[feed]
title = "Newsroom"
base_url = "https://news.example/feeds"
entries = 20

[dedupe]
window_days = 7
never_merge = ["urn:x:1"]

[fetch]
allow = ["127.0.0.0/8"]
concurrency = 8
timeout = 5

[[sources]]
url = "https://org.example/feed.xml"
name = "Org Example"
tags = ["science"]
interval_minutes = 90
filters = { exclude = ["sponsored"] }
""",
    )
    s = load_settings(path)
    assert s.seeds == tmp_path / "my-seeds"
    assert s.out == tmp_path / "public"
    assert s.db == str(tmp_path / "state/agg.sqlite")
    assert s.retention_days == 90
    assert s.dedupe.window_days == 7
    assert s.dedupe.never_merge == ("urn:x:1",)
    assert s.feed.title == "Newsroom"
    assert s.feed.base_url == "https://news.example/feeds/"
    assert s.feed.feed_id == "https://news.example/feeds/index.atom"
    assert s.fetch.allow == ("127.0.0.0/8",)
    assert s.fetch.timeout == 5.0
    (source,) = s.sources
    assert source.id == "org-example"
    assert source.tags == ("science",)
    assert source.interval == timedelta(minutes=90)
    assert source.filters == {"exclude": ["sponsored"]}


def test_sources_are_found_by_id_in_the_config_as_overridden(tmp_path: Path) -> None:
    """What a worker looks each batch's sources up in: the config's sources, and after an
    override (the CLI's) the overriding ones, never those of the settings it came from."""
    config = tmp_path / "aggregator.toml"
    config.write_text(
        '[[sources]]\nurl = "https://a.example/feed"\nname = "First"\n'
        '[[sources]]\nurl = "https://b.example/feed"\nname = "Second"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert {k: v.url for k, v in settings.sources_by_id.items()} == {
        "first": "https://a.example/feed",
        "second": "https://b.example/feed",
    }
    narrowed = settings.with_overrides(sources=settings.sources[1:])
    assert list(narrowed.sources_by_id) == ["second"]
    assert list(settings.sources_by_id) == ["first", "second"]


def test_database_url_is_kept_as_is(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, 'db = "postgresql://u:p@db/agg"\n'))
    assert s.db == "postgresql://u:p@db/agg"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("sedds = 'x'\n", "sedds", "unknown key"),
        ("[feed]\nentries = 'many'\n", "feed.entries", "expected an integer"),
        ("[feed]\nentries = 0\n", "feed.entries", "an integer above 0"),
        ("[feed]\nentries = true\n", "feed.entries", "expected an integer"),
        ("[feed]\nbase_url = 'feeds/'\n", "feed.base_url", "absolute http(s) URL"),
        ("[feed]\nbase_url = 'http://[oops/'\n", "feed.base_url", "absolute http(s) URL"),
        ("[feed]\ntitel = 'x'\n", "feed.titel", "unknown key"),
        ("[fetch]\ntimeout = -1\n", "fetch.timeout", "a number above 0"),
        ("out = ''\n", "out", "expected a path, got an empty string"),
        ("db = ' '\n", "db", "expected a path, got an empty string"),
        ("[[sources]]\nurl = 'https://a.ex/'\ntags = ['x', '']\n", "sources[1].tags[2]", "empty"),
        ("[[sources]]\nurl = 'https://a.ex/'\ntags = ['a/b']\n", "sources[1].tags[1]", "'/'"),
        # TOML has inf, nan and numbers of any length; each used to end in a traceback
        # (OverflowError, ValueError) far from the config file, or pass silently (nan).
        ("[fetch]\ntimeout = nan\n", "fetch.timeout", "at most 1,000,000,000, got nan"),
        ("lock_timeout = inf\n", "lock_timeout", "at most 1,000,000,000, got inf"),
        ("[fetch]\nmin_interval_minutes = 1e308\n", "fetch.min_interval_minutes", "at most"),
        ("[fetch]\nconcurrency = 99999999999999999999\n", "fetch.concurrency", "at most"),
        ("[dedupe]\nwindow_days = 99999999999\n", "dedupe.window_days", "at most 100,000"),
        (
            "[[sources]]\nurl = 'https://a.example/'\ninterval_minutes = nan\n",
            "sources[1].interval_minutes",
            "got nan",
        ),
        ("[[sources]]\nname = 'x'\n", "sources[1].url", "missing required key"),
        # checked when the config is read, not only once a source is due
        ("[fetch]\nallow = ['127.0.0.1', '999.1.1.1/8']\n", "fetch.allow[2]", "neither a host"),
        ("[[sources]]\nurl = 'file:///etc/passwd'\n", "sources[1].url", "http(s) URL"),
        # urllib raises on an unclosed IPv6 bracket: a message, not a traceback
        ("[[sources]]\nurl = 'http://[oops/feed'\n", "sources[1].url", "http(s) URL"),
        (
            "[[sources]]\nurl = 'https://a.example/f'\n[[sources]]\nurl = 'https://a.example/f'\n",
            "sources[2].url",
            "already listed",
        ),
        (
            "[[sources]]\nurl = 'https://a.example/'\nfuture_dates = 'maybe'\n",
            "sources[1].future_dates",
            "one of",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert info.value.key == key
    assert expected in str(info.value)
    assert key in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "seeds = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
