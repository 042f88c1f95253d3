"""Seed discovery and reading against a real folder: links, FIFOs, sockets, devices."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.exceptions import SeedPathError
from aggregator.ingest.seeds import SeedFile, discover_seeds, read_seed


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir()
    return folder


def write(path: Path, data: bytes = b"Title\n\nOrg\n\nBody.\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def relpaths(seeds: tuple[SeedFile, ...]) -> list[str]:
    return [seed.relpath for seed in seeds]


def only_seed(root: Path) -> SeedFile:
    seeds, warnings = discover_seeds(root)
    assert warnings == ()
    assert len(seeds) == 1
    return seeds[0]


def test_discovers_seed_kinds_sorted_and_skips_hidden_and_other_files(root: Path) -> None:
    for name in [
        "b.txt",
        "a.md",
        "sub/c.markdown",
        "sub/deeper/d.xml",
        "feeds/e.rss",
        "feeds/f.atom",
        "feeds/g.JSON",
        "notes.pdf",
        "README",
        ".hidden.txt",
        ".git/config.txt",
        "sub/.cache/x.xml",
    ]:
        write(root / name)
    seeds, warnings = discover_seeds(root)
    assert warnings == ()
    assert relpaths(seeds) == [
        "a.md",
        "b.txt",
        "feeds/e.rss",
        "feeds/f.atom",
        "feeds/g.JSON",
        "sub/c.markdown",
        "sub/deeper/d.xml",
    ]
    kinds = {seed.relpath: seed.kind for seed in seeds}
    assert kinds["a.md"] == "markdown"
    assert kinds["b.txt"] == "text"
    assert kinds["sub/c.markdown"] == "markdown"
    assert {
        kinds[p] for p in ["feeds/e.rss", "feeds/f.atom", "feeds/g.JSON", "sub/deeper/d.xml"]
    } == {"feed"}


def test_seed_file_records_size_resolved_path_and_utc_mtime(root: Path) -> None:
    path = write(root / "a.txt", b"12345")
    os.utime(path, (1_800_000_000, 1_800_000_000))
    seed = only_seed(root)
    assert seed.size == 5
    assert seed.path == path.resolve()
    assert seed.mtime == datetime.fromtimestamp(1_800_000_000, tz=UTC)
    assert seed.mtime.tzinfo is UTC


def test_empty_folder_gives_nothing(root: Path) -> None:
    assert discover_seeds(root) == ((), ())


def test_missing_root_raises_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SeedPathError, match="does not exist") as info:
        discover_seeds(missing)
    assert info.value.url == str(missing)
    assert info.value.source_id == "seeds"


def test_root_that_is_a_file_raises(tmp_path: Path) -> None:
    not_a_folder = write(tmp_path / "seeds.txt")
    with pytest.raises(SeedPathError, match="not a folder") as info:
        discover_seeds(not_a_folder)
    assert info.value.url == str(not_a_folder)


def test_root_given_through_a_symlink_works(tmp_path: Path, root: Path) -> None:
    write(root / "a.txt")
    link = tmp_path / "link-to-seeds"
    link.symlink_to(root)
    seeds, warnings = discover_seeds(link)
    assert relpaths(seeds) == ["a.txt"]
    assert warnings == ()
    assert read_seed(seeds[0], link).body.startswith(b"Title")


def test_symlink_inside_root_to_file_inside_root_is_fine(root: Path) -> None:
    target = write(root / "real/story.txt")
    (root / "alias.txt").symlink_to(Path("real/story.txt"))
    seeds, warnings = discover_seeds(root)
    assert warnings == ()
    assert relpaths(seeds) == ["alias.txt", "real/story.txt"]
    alias = seeds[0]
    assert alias.path == target.resolve()
    assert read_seed(alias, root).url == "alias.txt"


def test_symlink_into_sibling_folder_with_common_prefix_is_refused(
    tmp_path: Path, root: Path
) -> None:
    # `seeds-private` starts with the string "seeds": the string-prefix containment bug.
    secret = write(tmp_path / "seeds-private/secret.txt", b"secret")
    (root / "leak.txt").symlink_to(secret)
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert len(warnings) == 1
    assert warnings[0].startswith("leak.txt: ")
    assert "outside the seed folder" in warnings[0]


def test_relative_symlink_escaping_root_is_refused(tmp_path: Path, root: Path) -> None:
    write(tmp_path / "elsewhere.txt")
    (root / "sub").mkdir()
    (root / "sub/up.txt").symlink_to(Path("../../elsewhere.txt"))
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert warnings == ("sub/up.txt: a symbolic link to a file outside the seed folder; refused",)


def test_broken_symlink_is_reported(root: Path) -> None:
    (root / "gone.txt").symlink_to(root / "missing.txt")
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert warnings == ("gone.txt: a broken symbolic link",)


def test_symlinked_folder_is_not_followed(tmp_path: Path, root: Path) -> None:
    write(tmp_path / "outside/x.txt")
    (root / "linked").symlink_to(tmp_path / "outside")
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert warnings == ("linked: a symbolic link to a folder; not followed",)


def test_fifo_is_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "pipe.txt")
    write(root / "ok.txt")
    seeds, warnings = discover_seeds(root)
    assert relpaths(seeds) == ["ok.txt"]
    assert warnings == ("pipe.txt: a FIFO (named pipe), not a regular file; refused",)


@pytest.fixture
def unix_socket(root: Path) -> Iterator[Path]:
    path = root / "s.xml"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
    except OSError as exc:  # e.g. the tmp path is longer than sun_path allows
        server.close()
        pytest.skip(f"cannot bind a unix socket here: {exc}")
    yield path
    server.close()


def test_socket_is_refused(root: Path, unix_socket: Path) -> None:
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert warnings == ("s.xml: a socket, not a regular file; refused",)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_device_is_refused(root: Path) -> None:
    os.mknod(root / "null.txt", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    seeds, warnings = discover_seeds(root)
    assert seeds == ()
    assert warnings == ("null.txt: a device, not a regular file; refused",)


def test_oversized_file_is_refused_and_limit_is_inclusive(root: Path) -> None:
    write(root / "big.txt", b"x" * 101)
    write(root / "exact.txt", b"x" * 100)
    seeds, warnings = discover_seeds(root, max_bytes=100)
    assert relpaths(seeds) == ["exact.txt"]
    assert warnings == ("big.txt: too large (101 bytes, the limit is 100); refused",)


def test_read_seed_returns_bytes_relpath_and_mtime(root: Path) -> None:
    path = write(root / "news/a.txt", b"\xef\xbb\xbfTitle\r\n")
    os.utime(path, (1_790_000_000, 1_790_000_000))
    seed = only_seed(root)
    retrieved = read_seed(seed, root)
    assert retrieved.body == b"\xef\xbb\xbfTitle\r\n"
    assert retrieved.url == "news/a.txt"
    assert retrieved.mtime == datetime.fromtimestamp(1_790_000_000, tz=UTC)


def test_read_seed_refuses_a_fifo_swapped_in_after_listing(root: Path) -> None:
    path = write(root / "a.txt")
    seed = only_seed(root)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(SeedPathError, match="FIFO") as info:
        read_seed(seed, root)
    assert info.value.url == "a.txt"
    assert str(info.value) == "seeds (a.txt): a FIFO (named pipe), not a regular file; refused"


def test_read_seed_refuses_a_symlink_out_swapped_in_after_listing(
    tmp_path: Path, root: Path
) -> None:
    path = write(root / "a.txt")
    seed = only_seed(root)
    secret = write(tmp_path / "seeds-private/secret.txt", b"secret")
    path.unlink()
    path.symlink_to(secret)
    with pytest.raises(SeedPathError, match="outside the seed folder"):
        read_seed(seed, root)


def test_read_seed_refuses_a_file_that_grew_past_the_limit(root: Path) -> None:
    path = write(root / "a.txt", b"small")
    seed = only_seed(root)
    path.write_bytes(b"x" * 50)
    with pytest.raises(SeedPathError, match="too large"):
        read_seed(seed, root, max_bytes=10)


def test_read_seed_of_a_deleted_file_names_it(root: Path) -> None:
    path = write(root / "gone.txt")
    seed = only_seed(root)
    path.unlink()
    with pytest.raises(SeedPathError, match=r"gone\.txt"):
        read_seed(seed, root)


def test_read_seed_with_a_missing_root_raises(tmp_path: Path, root: Path) -> None:
    write(root / "a.txt")
    seed = only_seed(root)
    with pytest.raises(SeedPathError, match="does not exist"):
        read_seed(seed, tmp_path / "elsewhere")
