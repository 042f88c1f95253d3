"""The seeds folder's listing in C (`aggregator.ingest._listing`) against its Python twins.

Both must say the same of every kind of entry a seeds folder can hold: the C walk decides
the usual file itself and hands everything else to Python, so a difference here is a seed
read by one install and not by another, or a listing digest that changes with the build.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from aggregator.ingest import seeds
from aggregator.store.readstate import BUCKETS, bucket_of, digest_of, listing_digest

pytestmark = pytest.mark.skipif(
    seeds._listing is None, reason="the C listing was not built (pip install needs gcc)"
)


def _write(path: Path, text: str = "Title\n\nBody.\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def awkward_folder(tmp_path: Path) -> Path:
    """A seeds folder with one of each shape the walk has to tell apart."""
    root = tmp_path / "seeds"
    outside = tmp_path / "outside.txt"
    _write(outside)
    _write(root / "a.txt")
    _write(root / "b.md")
    _write(root / "feeds" / "wire.xml", "<rss version='2.0'><channel/></rss>")
    _write(root / "deep" / "er" / "still" / "c.markdown")
    _write(root / "UPPER.TXT")
    _write(root / "Mixed.Md")
    _write(root / "notes.pdf")
    _write(root / "no-extension")
    _write(root / ".hidden.txt")
    _write(root / ".git" / "inside-hidden.txt")
    _write(root / "big.txt", "x" * 5000)
    _write(root / "tab\tname.txt")
    _write(root / "new\nline.txt")
    _write(root / "ünïcödé.txt")
    _write(root / "a.txt.d" / "sorted-after-a.txt")
    _write(root / "a-b.txt")
    (root / "link-inside.txt").symlink_to(root / "a.txt")
    (root / "link-outside.txt").symlink_to(outside)
    (root / "broken.txt").symlink_to(root / "gone.txt")
    (root / "linked-folder").symlink_to(root / "feeds")
    (root / "linked-folder.txt").symlink_to(root / "feeds")
    os.mkfifo(root / "pipe.txt")
    (root / "empty-folder").mkdir()
    odd_name = os.fsencode(root) + b"/latin1-\xe9t\xe9.txt"
    with open(odd_name, "wb") as handle:
        handle.write(b"Title\n\nBody.\n")
    return root


def _both(root: Path, monkeypatch: pytest.MonkeyPatch, max_bytes: int) -> tuple[object, object]:
    in_c = seeds.discover_seeds(root, max_bytes=max_bytes)
    with monkeypatch.context() as patch:
        patch.setattr(seeds, "_listing", None)
        in_python = seeds.discover_seeds(root, max_bytes=max_bytes)
    return in_c, in_python


def test_c_and_python_list_the_same_seeds_and_warnings(
    awkward_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_c, in_python = _both(awkward_folder, monkeypatch, max_bytes=1000)

    assert in_c == in_python
    found, warnings = in_c
    relpaths = [seed.relpath for seed in found]
    assert relpaths == sorted(relpaths)
    assert "a.txt" in relpaths and "feeds/wire.xml" in relpaths
    assert "deep/er/still/c.markdown" in relpaths
    assert "UPPER.TXT" in relpaths and "Mixed.Md" in relpaths  # extensions in any case
    assert "tab\tname.txt" in relpaths and "new\nline.txt" in relpaths
    assert "link-inside.txt" in relpaths
    assert os.fsdecode(b"latin1-\xe9t\xe9.txt") in relpaths
    assert not any(path.startswith(".") or "/." in path for path in relpaths)
    assert "notes.pdf" not in relpaths and "no-extension" not in relpaths
    refused = {line.split(": ", 1)[0] for line in warnings}
    assert refused == {
        "big.txt",
        "link-outside.txt",
        "broken.txt",
        "linked-folder",
        "linked-folder.txt",
        "pipe.txt",
    }


def test_c_and_python_agree_on_sizes_times_and_kinds(
    awkward_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_c, _), (in_python, _) = _both(awkward_folder, monkeypatch, max_bytes=10_000)

    assert [tuple(seed) for seed in in_c] == [tuple(seed) for seed in in_python]
    big = next(seed for seed in in_c if seed.relpath == "big.txt")
    assert big.size == 5000
    assert big.mtime_ns == os.stat(awkward_folder / "big.txt").st_mtime_ns
    assert {seed.kind for seed in in_c} == {"text", "markdown", "feed"}


def test_an_unreadable_folder_is_a_warning_in_both(
    awkward_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = awkward_folder / "locked"
    _write(locked / "secret.txt")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions do not stop listing")
        in_c, in_python = _both(awkward_folder, monkeypatch, max_bytes=1000)
    finally:
        locked.chmod(0o755)

    assert in_c == in_python
    assert any(line.startswith("locked: folder cannot be listed") for line in in_c[1])


def test_listing_lines_match_the_python_twin_and_the_digest(
    awkward_folder: Path,
) -> None:
    found, _ = seeds.discover_seeds(awkward_folder, max_bytes=10_000)

    in_c = seeds.listing_lines(found, BUCKETS)
    in_python = seeds._lines(found, BUCKETS)

    assert in_c == in_python
    whole, groups, counts, of_each = in_c
    assert of_each == [bucket_of(seed.relpath) for seed in found]
    assert sum(counts) == len(found) and len(groups) == BUCKETS
    triples = [(seed.relpath, seed.size, seed.mtime_ns) for seed in found]
    assert digest_of("fp", whole) == listing_digest("fp", triples)


def test_buckets_follow_crc32_of_the_file_name_bytes() -> None:
    names = ["a.txt", "ünïcödé.md", os.fsdecode(b"\xff\xfe.txt"), "x" * 300 + ".txt"]
    files = [seeds.SeedFile(name, Path("/"), "text", 1, 2, 0.0) for name in names]

    _, _, _, of_each = seeds.listing_lines(files, 7)

    assert of_each == [zlib.crc32(os.fsencode(name)) % 7 for name in names]


def test_an_empty_folder_lists_nothing_in_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_c, in_python = _both(tmp_path, monkeypatch, max_bytes=1000)

    assert in_c == in_python == ((), ())
    assert seeds.listing_lines((), 4) == (b"", [b"", b"", b"", b""], [0, 0, 0, 0], [])
