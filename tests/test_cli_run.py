"""End to end: the real `aggregator` CLI run as a subprocess on real folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from atomcheck import validate_atom
from outputs import published_files

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SEEDS = ROOT / "seeds"
CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
ATOM = "{http://www.w3.org/2005/Atom}"
SEED_MTIME = 1_795_000_000  # 2026-11-18, a few days after the shipped seed's story


def aggregator(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    result = subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_SEEDS, tmp_path / "seeds")
    # The seed's date comes from its text ("Thursday (12 November)") read relative to the
    # file's modification time: pin that time so the test does not depend on the clock.
    for seed in (tmp_path / "seeds").iterdir():
        os.utime(seed, (SEED_MTIME, SEED_MTIME))
    return tmp_path


def entries(feed: bytes) -> list[etree._Element]:
    return etree.fromstring(feed).findall(f"{ATOM}entry")


def test_run_on_shipped_seeds_publishes_valid_attributed_feed(workdir: Path) -> None:
    result = aggregator("run", cwd=workdir)
    assert "1 new" in result.stdout
    assert "index.atom" in result.stdout
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    (entry,) = entries(feed)
    assert entry.findtext(f"{ATOM}title") == "NATO Chief, Macron Talk Defense, Ukraine"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "NATO"
    assert entry.findtext(f"{ATOM}published", "").startswith("2026-11-12")
    content = entry.findtext(f"{ATOM}content") or ""
    assert "Public Release" not in content
    assert "does not take institutional positions" not in content
    assert "Rutte" in content
    source = entry.find(f"{ATOM}source")
    assert source is not None
    assert source.findtext(f"{ATOM}id")
    assert (workdir / "data" / "aggregator.sqlite").is_file()


def test_second_run_is_byte_identical(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    first = (workdir / "feeds" / "index.atom").read_bytes()
    mtime = (workdir / "feeds" / "index.atom").stat().st_mtime_ns
    result = aggregator("run", cwd=workdir)
    assert "0 new" in result.stdout and "1 unchanged" in result.stdout
    assert (workdir / "feeds" / "index.atom").read_bytes() == first
    assert (workdir / "feeds" / "index.atom").stat().st_mtime_ns == mtime


SECOND_SEED = """Council Opens New Library in Riverside

Riverside Borough Council

The council opened a new public library in Riverside on Tuesday (10 November), with
twenty thousand books, a children's reading room and free internet access for residents.

The library replaces the old reading rooms on Mill Street, closed since the flood of
2024, and will be open seven days a week from nine in the morning.
"""


def test_a_run_that_renders_only_changed_files_publishes_what_a_fresh_run_does(
    workdir: Path, tmp_path: Path
) -> None:
    aggregator("run", cwd=workdir)
    _add_second_seed(workdir)
    second = json.loads(aggregator("run", "--json", cwd=workdir).stdout)
    assert "sources.opml" not in second["written"]  # its content did not change
    fresh = tmp_path / "fresh"
    shutil.copytree(workdir / "seeds", fresh / "seeds", copy_function=shutil.copy2)
    aggregator("run", cwd=fresh)
    assert published_files(workdir / "feeds") == published_files(fresh / "feeds")
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 2


def _add_second_seed(workdir: Path) -> None:
    new_seed = workdir / "seeds" / "001_library.txt"
    new_seed.write_text(SECOND_SEED)
    os.utime(new_seed, (SEED_MTIME, SEED_MTIME))


def test_a_folder_that_missed_the_last_publish_is_brought_up_to_date(workdir: Path) -> None:
    """Scaled out: machines share one database, each publishes to its own folder at the
    same path. A machine whose folder did not get the last publish must not take the
    database's word that the output is current."""
    feeds = workdir / "feeds"
    aggregator("run", cwd=workdir)
    older_copy = workdir / "older-copy"
    shutil.copytree(feeds, older_copy)  # another machine's folder, one publish behind
    _add_second_seed(workdir)
    aggregator("run", cwd=workdir)
    current = published_files(feeds)
    shutil.rmtree(feeds)
    older_copy.rename(feeds)
    assert len(entries((feeds / "index.atom").read_bytes())) == 1
    result = json.loads(aggregator("run", "--json", cwd=workdir).stdout)
    assert "index.atom" in result["written"]
    assert published_files(feeds) == current


def test_an_unreadable_publish_manifest_means_a_full_publish(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    expected = published_files(workdir / "feeds")
    (workdir / "feeds" / "index.atom").write_bytes(b"<feed>damaged by hand</feed>")
    manifest = workdir / "feeds" / ".published.sqlite"
    assert manifest.is_file()
    manifest.write_bytes(b"SQLite format 3\x00 and then not a database")
    result = aggregator("run", cwd=workdir)
    assert "Traceback" not in result.stderr
    assert published_files(workdir / "feeds") == expected


def test_renamed_or_copied_seed_is_not_a_second_entry(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    seed = next((workdir / "seeds").glob("*.txt"))
    shutil.copy(seed, workdir / "seeds" / "copy-of-seed.txt")
    seed.rename(workdir / "seeds" / "renamed.txt")
    aggregator("run", cwd=workdir)
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 1


def test_item_that_leaves_its_source_stays_published(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    for seed in (workdir / "seeds").glob("*.txt"):
        seed.unlink()
    (workdir / "seeds" / "other.txt").write_text(
        "Another Release Title\n\nSome Organisation\n\nA paragraph of the other release.\n",
        encoding="utf-8",
    )
    aggregator("run", cwd=workdir)
    titles = [
        e.findtext(f"{ATOM}title") for e in entries((workdir / "feeds" / "index.atom").read_bytes())
    ]
    assert sorted(titles) == ["Another Release Title", "NATO Chief, Macron Talk Defense, Ukraine"]


def test_export_jsonl(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    lines = aggregator("export", "--format", "jsonl", cwd=workdir).stdout.splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert record["origin_id"] == "000_bc5ed4e3cd933a22.txt"
    assert record["title"] == "NATO Chief, Macron Talk Defense, Ukraine"
    assert record["published"].startswith("2026-11-12")
    assert record["source"].endswith("000_bc5ed4e3cd933a22.txt")
    assert record["origin_link"] is None
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    (entry,) = entries(feed)
    assert record["entry_id"] == entry.findtext(f"{ATOM}id")
    assert any("Mirage.News" in note for note in record["notes"])


def test_options_override_folders(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_SEEDS, tmp_path / "in")
    aggregator("run", "--seeds", "in", "--out", "public", "--db", "state/x.sqlite", cwd=tmp_path)
    assert (tmp_path / "public" / "index.atom").is_file()
    assert (tmp_path / "state" / "x.sqlite").is_file()


def test_bad_config_exits_2_naming_the_key(workdir: Path) -> None:
    (workdir / "aggregator.toml").write_text("[feed]\nentries = 'lots'\n", encoding="utf-8")
    result = aggregator("run", cwd=workdir, check=False)
    assert result.returncode == 2
    assert "feed.entries" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_seeds_folder_publishes_an_empty_feed_and_exits_0(tmp_path: Path) -> None:
    # An empty feed is a valid first state: a reader can subscribe before news comes.
    (tmp_path / "seeds").mkdir()
    result = aggregator("run", cwd=tmp_path)
    assert result.stdout.splitlines()[-1] == (
        f"Published an empty feed to {Path('feeds') / 'index.atom'}: no entries yet "
        "(no documents in the seeds folder seeds, no items from the sources)"
    )
    assert "Error" not in result.stderr and "Traceback" not in result.stderr
    feed = (tmp_path / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == [] and entries(feed) == []
    again = aggregator("run", cwd=tmp_path)  # the same answer, not a different error
    assert again.stdout.splitlines()[-1].startswith("Published an empty feed")


def test_config_errors_name_the_file_without_usage_lines(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    config = tmp_path / "news.toml"
    config.write_text(
        "[[sources]]\nurl = 'https://a.example/feed'\n[[sources]]\nurl = 'ftp://b.example/'\n",
        encoding="utf-8",
    )
    result = aggregator("run", "--config", str(config), cwd=tmp_path, check=False)
    assert result.returncode == 2
    # The second [[sources]] is sources[2]: counted as people count.
    assert result.stderr == (
        f"Error: {config}: sources[2].url: expected an http(s) URL, got 'ftp://b.example/'\n"
    )


def test_base_url_not_set_is_a_warning(workdir: Path) -> None:
    result = aggregator("run", cwd=workdir)
    assert "warning [feed] base_url is not set" in result.stderr
    assert "http://127.0.0.1:8080/" in result.stderr
    (workdir / "aggregator.toml").write_text(
        "[feed]\nbase_url = 'https://news.example.org/feeds/'\n", encoding="utf-8"
    )
    assert "base_url" not in aggregator("run", cwd=workdir).stderr


def test_more_entries_than_the_index_holds_says_both(workdir: Path) -> None:
    _add_second_seed(workdir)
    (workdir / "aggregator.toml").write_text("[feed]\nentries = 1\n", encoding="utf-8")
    result = aggregator("run", cwd=workdir)
    index = Path("feeds") / "index.atom"
    assert f"Published 2 entries: {index} holds the newest 1 (" in result.stdout
    assert len(entries((workdir / index).read_bytes())) == 1
    again = aggregator("run", "--json", cwd=workdir)
    assert json.loads(again.stdout)["entries"] == 2
    assert json.loads(again.stdout)["index_entries"] == 1


def test_broken_database_is_reported_and_published_feed_kept(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    published = (workdir / "feeds" / "index.atom").read_bytes()
    db = workdir / "data" / "aggregator.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"garbage" * 1000)
    result = aggregator("run", cwd=workdir, check=False)
    assert result.returncode == 1
    assert str(db.name) in result.stderr
    assert "Traceback" not in result.stderr
    assert (workdir / "feeds" / "index.atom").read_bytes() == published


def test_bad_seed_files_are_skipped_with_a_warning(workdir: Path) -> None:
    (workdir / "seeds" / "empty.txt").write_bytes(b"")
    (workdir / "seeds" / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (workdir / "seeds" / "broken.xml").write_bytes(b"<rss><channel><title>x</title>")
    result = aggregator("run", cwd=workdir)
    assert "empty.txt" in result.stderr
    assert "binary.txt" in result.stderr
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    assert len(entries(feed)) >= 1


def test_shell_completion_script() -> None:
    env = {**os.environ, "_AGGREGATOR_COMPLETE": "bash_source"}
    result = subprocess.run(
        [sys.executable, "-c", "from aggregator.cli import main; main(prog_name='aggregator')"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "_aggregator_completion" in result.stdout


ALL_COMMANDS = [
    "decisions",
    "explain",
    "export",
    "join",
    "publisher",
    "run",
    "schedule",
    "serve",
    "sources",
    "split",
    "status",
    "undo",
    "worker",
]


def test_help_and_version() -> None:
    assert "aggregator" in aggregator("--version", cwd=ROOT).stdout
    listing = aggregator("--help", cwd=ROOT).stdout.split("Commands:")[1]
    assert [line.split()[0] for line in listing.strip().splitlines()] == ALL_COMMANDS
    for command in ALL_COMMANDS:
        assert f"aggregator {command} [OPTIONS]" in aggregator(command, "--help", cwd=ROOT).stdout


def test_each_command_loads_only_its_own_module() -> None:
    """Commands are imported when they run: `worker` must not pay for the web server's or
    the item tools' imports. Each command's module is the one that registers it (a wrong
    map would make the command unreachable or load the wrong code)."""
    script = (
        "import importlib, sys\n"
        "from aggregator.cli import COMMAND_MODULES, main\n"
        "main(['worker', '--help'], standalone_mode=False)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('aggregator.cli.'))\n"
        "for module in set(COMMAND_MODULES.values()):\n"
        "    importlib.import_module(module)\n"
        "registered = {n: c.callback.__module__ for n, c in main.commands.items()}\n"
        "print(loaded)\n"
        "print(registered == COMMAND_MODULES, sorted(registered))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded, mapped = result.stdout.splitlines()[-2:]
    assert loaded == "['aggregator.cli.common', 'aggregator.cli.worker']"
    assert mapped == f"True {sorted(ALL_COMMANDS)}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared dev corpus not present")
def test_dev_corpus_publishes_valid_feed_without_footers(tmp_path: Path) -> None:
    (tmp_path / "aggregator.toml").write_text("[feed]\nentries = 1000\n", encoding="utf-8")
    aggregator("run", "--seeds", str(CORPUS / "seeds"), cwd=tmp_path)
    feed = (tmp_path / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    published = entries(feed)
    assert len(published) > 200
    for entry in published:
        text = etree.tostring(entry, encoding="unicode")
        assert "Public Release" not in text
        assert "does not take institutional positions" not in text
    labels = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    orgs = {story["org"] for story in labels["stories"].values()}
    records = [
        json.loads(line)
        for line in aggregator("export", "--format", "jsonl", cwd=tmp_path).stdout.splitlines()
    ]
    seed_records = [r for r in records if r["source_id"] == "seeds"]
    assert len(seed_records) > 100
    for record in seed_records:
        assert record["authors"] and record["authors"][0] in orgs, record


ORG_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>NATO</title><link>https://nato.example/</link>
<description>NATO news</description>
<item><title>Secretary General meets President Macron in Paris</title>
<link>https://nato.example/news/rutte-macron</link><guid>https://nato.example/news/rutte-macron</guid>
<author>press@nato.example (NATO)</author>
<pubDate>Thu, 12 Nov 2026 15:00:00 GMT</pubDate>
<description>{body}</description></item>
</channel></rss>"""


def _org_copy_of_shipped_seed(workdir: Path) -> None:
    seed = next((workdir / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    paragraphs = [p for p in seed.split("\n\n")[2:] if p.strip() and "Public Release" not in p]
    body = "".join(f"&lt;p&gt;{p.strip()}&lt;/p&gt;" for p in paragraphs).replace('"', "&quot;")
    (workdir / "seeds" / "nato.rss").write_text(ORG_FEED.format(body=body), encoding="utf-8")


def _export(workdir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in aggregator("export", cwd=workdir).stdout.splitlines()]


def test_copies_merge_into_one_entry_crediting_both(workdir: Path) -> None:
    _org_copy_of_shipped_seed(workdir)
    aggregator("run", cwd=workdir)
    records = _export(workdir)
    assert len(records) == 2
    assert len({r["entry_id"] for r in records}) == 1
    assert any(r["merge_reason"] for r in records)
    feed = (workdir / "feeds" / "index.atom").read_bytes()
    (entry,) = entries(feed)
    # The organisation's own copy represents the story; the seed copy is credited as via.
    alternates = [
        link.get("href")
        for link in entry.findall(f"{ATOM}link")
        if link.get("rel") in (None, "alternate")
    ]
    assert alternates == ["https://nato.example/news/rutte-macron"]
    vias = entry.findall(f"{ATOM}link[@rel='via']")
    assert len(vias) == 1 and vias[0].get("title")
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "NATO"


def test_split_command_and_never_merge_rule(workdir: Path) -> None:
    _org_copy_of_shipped_seed(workdir)
    aggregator("run", cwd=workdir)
    result = aggregator("split", "000_bc5ed4e3cd933a22.txt", cwd=workdir)
    assert "split" in result.stdout
    assert len({r["entry_id"] for r in _export(workdir)}) == 2
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 2
    aggregator("run", cwd=workdir)
    assert len({r["entry_id"] for r in _export(workdir)}) == 2
    missing = aggregator("split", "no-such-item", cwd=workdir, check=False)
    assert missing.returncode == 1 and "no stored item matches" in missing.stderr


def test_never_merge_rule_applies_to_stored_items(workdir: Path) -> None:
    _org_copy_of_shipped_seed(workdir)
    aggregator("run", cwd=workdir)
    assert len({r["entry_id"] for r in _export(workdir)}) == 1
    (workdir / "aggregator.toml").write_text(
        '[dedupe]\nnever_merge = ["https://nato.example/news/rutte-macron"]\n', encoding="utf-8"
    )
    aggregator("run", cwd=workdir)
    records = _export(workdir)
    assert len({r["entry_id"] for r in records}) == 2
    assert len(entries((workdir / "feeds" / "index.atom").read_bytes())) == 2


def test_dry_run_writes_nothing(workdir: Path) -> None:
    result = aggregator("run", "--dry-run", cwd=workdir)
    assert "Would read 1 source;" in result.stdout
    assert "new" in result.stdout and "NATO Chief" in result.stdout
    assert not (workdir / "feeds" / "index.atom").exists()
    aggregator("run", cwd=workdir)
    before = (workdir / "feeds" / "index.atom").read_bytes()
    (workdir / "seeds" / "more.txt").write_text(
        "Second Release\n\nSome Council\n\nThe council met on the budget.\n", encoding="utf-8"
    )
    dry = aggregator("run", "--dry-run", "--json", cwd=workdir)
    summary = json.loads(dry.stdout)
    assert summary["dry_run"] is True and summary["items"]["new"] == 1
    assert (workdir / "feeds" / "index.atom").read_bytes() == before
    assert len(_export(workdir)) == 1


def test_only_restricts_the_run_to_named_sources(workdir: Path) -> None:
    _org_copy_of_shipped_seed(workdir)
    aggregator("run", "--only", "seed-nato", cwd=workdir)
    assert {r["source_id"] for r in _export(workdir)} == {"seed-nato"}


def test_retention_drops_old_items_for_good(workdir: Path) -> None:
    aggregator("run", cwd=workdir)
    (workdir / "aggregator.toml").write_text("retention_days = 1\n", encoding="utf-8")
    result = aggregator("run", cwd=workdir, check=False)
    # The shipped seed is dated 12 November 2026: older than a day, so it is dropped and
    # its tombstone keeps it from coming back; the feed is empty, which is no error.
    assert result.returncode == 0
    assert "Published an empty feed" in result.stdout
    assert _export(workdir) == []
    (workdir / "aggregator.toml").unlink()
    aggregator("run", cwd=workdir, check=False)
    assert _export(workdir) == []


def test_unreachable_postgresql_is_a_clear_error(workdir: Path) -> None:
    result = aggregator(
        "run", "--db", "postgresql://user:secret@db.example/agg", cwd=workdir, check=False
    )
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(p.name.startswith("postgres") for p in workdir.iterdir())


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for n in range(60):
        (seeds / f"feed{n:02d}.rss").write_text(
            ORG_FEED.replace("NATO", f"Org {n}").format(
                body=f"Body of release {n} for the region."
            ),
            encoding="utf-8",
        )
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**env, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=120)
    os.close(controller)
    assert process.returncode == 0
    assert b"clean" in shown  # the phase named in the bar
    assert b"clean" not in stdout  # the summary on stdout carries no bar
    piped = aggregator("run", cwd=tmp_path)
    assert "clean" not in piped.stderr


def test_unwritable_output_is_reported_and_items_are_kept(workdir: Path) -> None:
    (workdir / "feeds").write_text("a file where the output folder should be", encoding="utf-8")
    result = aggregator("run", cwd=workdir, check=False)
    assert result.returncode == 1
    assert "feeds" in result.stderr and "Traceback" not in result.stderr
    # The items were stored before publishing failed; the next run publishes them.
    (workdir / "feeds").unlink()
    second = aggregator("run", cwd=workdir)
    assert "0 new" in second.stdout and "1 unchanged" in second.stdout
    assert validate_atom((workdir / "feeds" / "index.atom").read_bytes()) == []


ANCIENT_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>https://old.example/</id><title>Old Org</title>
<updated>0999-05-01T10:00:00Z</updated>
<entry><id>https://old.example/1</id><title>A very old story</title>
<link href="https://old.example/1"/><updated>0999-05-01T10:00:00Z</updated>
<content type="html">&lt;p&gt;The council met to discuss the harvest.&lt;/p&gt;</content></entry>
</feed>
"""


def test_a_date_before_year_1000_is_stored_and_read_back(tmp_path: Path) -> None:
    # Such a year used to be stored unpadded ("999-05-01…") and could not be read back:
    # every later run stopped with a traceback.
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "old.xml").write_text(ANCIENT_FEED)
    aggregator("run", cwd=tmp_path)
    second = aggregator("run", cwd=tmp_path)
    assert "1 unchanged" in second.stdout
    (entry,) = entries((tmp_path / "feeds" / "index.atom").read_bytes())
    assert entry.findtext(f"{ATOM}updated", "").startswith("0999-05-01")


UNSPLITTABLE_LINKS_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Bracket Org</title><link>http://[unclosed/</link>
<item><title>A story behind broken links</title><link>http://[unclosed/item</link>
<guid>bracket-1</guid><pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate>
<description>&lt;p&gt;The council met. &lt;a href="http://[unclosed/x"&gt;More&lt;/a&gt;&lt;/p&gt;</description>
</item></channel></rss>
"""


def test_links_urllib_cannot_take_apart_are_dropped_not_fatal(tmp_path: Path) -> None:
    # "http://[unclosed/" makes urllib raise; in a feed's site link it used to stop every
    # publish with a traceback, run after run, since the link stays stored.
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "bracket.xml").write_text(UNSPLITTABLE_LINKS_FEED)
    first = aggregator("run", cwd=tmp_path)
    second = aggregator("run", "--all", cwd=tmp_path)
    assert "Traceback" not in first.stderr + second.stderr
    feed = (tmp_path / "feeds" / "index.atom").read_bytes()
    assert validate_atom(feed) == []
    (entry,) = entries(feed)
    assert entry.findtext(f"{ATOM}title") == "A story behind broken links"
    assert b"[unclosed" not in feed


# JSON can carry what XML cannot: NUL (PostgreSQL cannot store it) and lone surrogates
# (nothing can encode them). Escaped here so the file itself stays clean.
UNSTORABLE_JSON_FEED = (
    '{"version": "https://jsonfeed.org/version/1.1", "title": "Nul\\u0000 Org",'
    ' "home_page_url": "https://nul.example/\\u0000home",'
    ' "items": [{"id": "abc\\u0000def", "url": "https://nul.example/1\\u0000x",'
    ' "title": "A story with a nul\\u0000 and a \\ud800 lone surrogate",'
    ' "content_text": "The council met on Tuesday\\u0000 to discuss the harvest.",'
    ' "authors": [{"name": "Nul\\u0000 Org"}], "tags": ["a\\u0000b"]}]}'
)


def stored_text(database: Path) -> str:
    import sqlite3

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT * FROM items").fetchall()
        rows += connection.execute("SELECT * FROM sources").fetchall()
    return " ".join(str(value) for row in rows for value in row)


def test_nul_and_lone_surrogates_in_a_json_feed_never_reach_the_store(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "nul.json").write_text(UNSTORABLE_JSON_FEED)
    aggregator("run", cwd=tmp_path)
    stored = stored_text(tmp_path / "data" / "aggregator.sqlite")
    assert "\x00" not in stored
    assert "abcdef" in stored  # the id, without its NUL
    assert "https://nul.example/1x" in stored  # the link, likewise
    (entry,) = entries((tmp_path / "feeds" / "index.atom").read_bytes())
    assert entry.findtext(f"{ATOM}title") == "A story with a nul and a \ufffd lone surrogate"


def test_a_run_with_nothing_to_fetch_does_not_load_the_http_stack(workdir: Path) -> None:
    # The main job (seeds only) and a scheduled run with nothing due start faster without
    # httpx and the fetcher (~0.13 s of imports); they are loaded once a source is due.
    probe = (
        "import sys\n"
        "from aggregator.cli import main\n"
        "try:\n"
        "    main(['run'], prog_name='aggregator')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "http = ('httpx', 'httpcore', 'aggregator.ingest.http')\n"
        "print(sorted(m for m in http if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (workdir / "feeds" / "index.atom").is_file()


def test_only_with_a_name_no_source_has_warns(workdir: Path) -> None:
    result = aggregator("run", "--only", "seedz", "--only", "seeds", cwd=workdir)
    assert "--only seedz: no such source" in result.stdout + result.stderr
    assert "--only seeds" not in result.stdout + result.stderr
    assert "1 new" in result.stdout
