"""Reading local seed documents from the seeds folder, never from outside it.

    discover_seeds(root) ──► (SeedFile…, warnings)      what is there, and what was refused
    listing_lines(files, n) ──► bytes to hash            whole and by bucket (collect.py)
    read_seed(seed, root) ──► Retrieved                  the bytes, re-checked at open time

Containment is decided on *resolved* paths with `Path.is_relative_to`: a string-prefix
check would accept a sibling such as `seeds-private/` next to `seeds/` (TRAPS 9). Only
regular files are read: a FIFO would block the run forever and a device could be endless.
Everything is checked twice, once when listing and again when opening, because the folder
can change in between.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple, cast

from aggregator.exceptions import SeedPathError
from aggregator.model import Retrieved

_listing: ModuleType | None
try:
    from aggregator.ingest import _listing
except ImportError:  # not built where this was installed: the Python twins list
    _listing = None

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SeedFile",
    "SeedKind",
    "discover_seeds",
    "listing_lines",
    "read_seed",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
SOURCE_ID = "seeds"

SeedKind = Literal["text", "markdown", "feed"]

_KINDS: dict[str, SeedKind] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
    ".json": "feed",
}

# O_NOFOLLOW: a file swapped for a symlink after listing is refused, not followed.
# O_NONBLOCK: opening a FIFO swapped in after listing returns at once instead of waiting
# for a writer. Both are missing on some platforms, where 0 leaves the flag out.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


class SeedFile(NamedTuple):
    """A listed seed document: what its `stat` said, and where to open it.

    Listing runs over every file of the folder on every run, and most files are then
    left unread (unchanged): a tuple (made some times faster than a frozen dataclass),
    whose `Path` and `datetime` are made only when asked for."""

    relpath: str  # posix, relative to the root (the name the user sees)
    root: Path  # the resolved root
    kind: SeedKind
    size: int
    mtime_ns: int  # st_mtime_ns: two versions written within one second differ here
    stamp: float  # st_mtime, as the seed's date has always been read
    target: Path | None = None  # resolved, when listed through a symbolic link

    @property
    def path(self) -> Path:
        """Resolved: the link's target, or the file reached through real folders."""
        return self.target if self.target is not None else self.root / self.relpath

    @property
    def mtime(self) -> datetime:
        """Aware UTC."""
        return datetime.fromtimestamp(self.stamp, tz=UTC)


class _Refused(Exception):
    """A file that is listed but must not be read; carries the reason for the warning."""


def discover_seeds(
    root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[tuple[SeedFile, ...], tuple[str, ...]]:
    """List the seed documents under `root`, sorted by relative path.

    Hidden files and folders are skipped, files of other types ignored. Files that must
    not be read (links out of the root, FIFOs, sockets, devices, oversized files) are left
    out and reported as warnings naming the relative path and the reason.

    Every run lists every file, and at 100,000 documents each step per file counts: the
    walk is done in C (`_listing.scan`, ~1.5 µs a file against ~9 µs in Python) where it
    was built, by its Python twin `_scan` elsewhere. Either hands the usual file over as a
    finished `SeedFile` and leaves every other entry that may be a seed to `_judge`.
    """
    resolved_root = _resolve_root(root)
    scan = _scan if _listing is None else _listing.scan
    found, odd, errors = scan(root, resolved_root, SeedFile, _KINDS, max_bytes)
    seeds = cast(list[SeedFile], found)
    warnings = [f"{folder or '.'}: folder cannot be listed ({_reason(e)})" for folder, e in errors]
    for relpath in odd:
        try:
            seed = _judge(root, relpath, resolved_root, max_bytes)
        except _Refused as refused:
            warnings.append(f"{relpath}: {refused}")
        except OSError as exc:
            warnings.append(f"{relpath}: cannot be read ({exc.strerror})")
        else:
            if seed is not None:
                seeds.append(seed)
    seeds.sort()  # by relative path: unique, so no other field is ever compared
    return tuple(seeds), tuple(sorted(warnings))


def listing_lines(
    files: Sequence[SeedFile], buckets: int
) -> tuple[bytes, list[bytes], list[int], list[int]]:
    """What `readstate.listing_digest` hashes for `files` (path, size and st_mtime_ns of
    each, a line each), the same for the files of each bucket (`readstate.bucket_of`
    modulo `buckets`), each bucket's count of files, and each file's bucket: in C where
    it was built (`_listing.lines`), else by `_lines`."""
    if _listing is None:
        return _lines(files, buckets)
    return cast(tuple[bytes, list[bytes], list[int], list[int]], _listing.lines(files, buckets))


def _scan(
    root: Path, resolved_root: Path, seed_type: type, kinds: Mapping[str, SeedKind], max_bytes: int
) -> tuple[list[SeedFile], list[str], list[tuple[str, int]]]:
    """`_listing.scan` in Python: the regular files within `max_bytes` whose extension is
    one of `kinds`, as `SeedFile`s; every other entry that may be a seed, by relative path
    (for `_judge`); each folder that could not be listed, with its errno."""
    assert seed_type is SeedFile
    seeds: list[SeedFile] = []
    odd: list[str] = []
    errors: list[tuple[str, int]] = []
    folders = [""]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(root / folder if folder else root) as listing:
                entries = list(listing)
        except OSError as exc:
            errors.append((folder, exc.errno or 0))
            continue
        prefix = f"{folder}/" if folder else ""
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            relpath = prefix + name
            if entry.is_dir(follow_symlinks=False):
                folders.append(relpath)
                continue
            if entry.is_symlink():
                odd.append(relpath)
                continue
            kind = kinds.get(name[name.rfind(".") :].lower())
            if kind is None:
                continue
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError:
                odd.append(relpath)
                continue
            if not stat.S_ISREG(status.st_mode) or status.st_size > max_bytes:
                odd.append(relpath)
                continue
            seeds.append(
                SeedFile(
                    relpath,
                    resolved_root,
                    kind,
                    status.st_size,
                    status.st_mtime_ns,
                    status.st_mtime,
                )
            )
    return seeds, odd, errors


def _lines(
    files: Sequence[SeedFile], buckets: int
) -> tuple[bytes, list[bytes], list[int], list[int]]:
    """`_listing.lines` in Python."""
    every = [b"%s\0%d\0%d" % (os.fsencode(f.relpath), f.size, f.mtime_ns) for f in files]
    of_each = [zlib.crc32(os.fsencode(f.relpath)) % buckets for f in files]
    grouped: list[list[bytes]] = [[] for _ in range(buckets)]
    for line, bucket in zip(every, of_each, strict=True):
        grouped[bucket].append(line)
    groups = [b"\n".join(group) for group in grouped]
    return b"\n".join(every), groups, [len(group) for group in grouped], of_each


def _judge(root: Path, relpath: str, resolved_root: Path, max_bytes: int) -> SeedFile | None:
    """What the walk left to Python: a link (to a folder, out of the root, broken), a file
    that is not regular or too large, a name whose kind only `str.lower` tells. A seed,
    None (not a seed), or _Refused with the reason."""
    path = root / relpath
    status = os.lstat(path)
    linked = stat.S_ISLNK(status.st_mode)
    if linked and path.is_dir():
        # Entering linked folders could loop, and the links may be swapped while we
        # walk; a seed folder that needs one can hold the files.
        raise _Refused("a symbolic link to a folder; not followed")
    name = relpath.rsplit("/", 1)[-1]
    kind = _KINDS.get(name[name.rfind(".") :].lower())
    if kind is None:
        return None
    target = None
    if linked:
        try:
            target = path.resolve(strict=True)
        except OSError:
            raise _Refused("a broken symbolic link") from None
        _check_inside(target, resolved_root)
        status = target.stat()
    # Else reached through real folders only (the walk enters no linked folder) from the
    # resolved root: inside it, no resolving needed (`SeedFile.path`).
    _check_regular(status.st_mode)
    _check_size(status.st_size, max_bytes)
    return SeedFile(
        relpath, resolved_root, kind, status.st_size, status.st_mtime_ns, status.st_mtime, target
    )


def _reason(error: int) -> str:
    return os.strerror(error) if error else "unknown error"


def read_seed(seed: SeedFile, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Retrieved:
    """Read one seed file's bytes, checking again that it is a regular file inside `root`."""
    resolved_root = _resolve_root(root)
    try:
        path = seed.path.resolve(strict=True)
        _check_inside(path, resolved_root)
        _check_regular(os.lstat(path).st_mode)
        data, status = _read_regular(path, max_bytes)
    except _Refused as refused:
        raise _error(seed.relpath, str(refused)) from None
    except OSError as exc:
        raise _error(seed.relpath, f"cannot be read ({exc.strerror})") from exc
    return Retrieved(url=seed.relpath, body=data, mtime=_mtime(status), mtime_ns=status.st_mtime_ns)


def _error(relpath: str, message: str) -> SeedPathError:
    # The relative path is the error's url, so str(error) reads "seeds (a.txt): a FIFO …".
    return SeedPathError(message, source_id=SOURCE_ID, url=relpath)


def _resolve_root(root: Path) -> Path:
    if not root.exists():
        raise SeedPathError("the seed folder does not exist", source_id=SOURCE_ID, url=str(root))
    if not root.is_dir():
        raise SeedPathError("the seed path is not a folder", source_id=SOURCE_ID, url=str(root))
    return root.resolve(strict=True)


def _check_inside(path: Path, resolved_root: Path) -> None:
    if not path.is_relative_to(resolved_root):
        raise _Refused("a symbolic link to a file outside the seed folder; refused")


def _check_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISFIFO(mode):
        raise _Refused("a FIFO (named pipe), not a regular file; refused")
    if stat.S_ISSOCK(mode):
        raise _Refused("a socket, not a regular file; refused")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise _Refused("a device, not a regular file; refused")
    if stat.S_ISLNK(mode):
        raise _Refused("a symbolic link swapped in after listing; refused")
    raise _Refused("not a regular file; refused")


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise _Refused(f"too large ({size} bytes, the limit is {max_bytes}); refused")


def _read_regular(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise _Refused("a symbolic link swapped in after listing; refused") from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        _check_regular(status.st_mode)
        # One byte more than allowed tells "exactly the limit" from "over it" without
        # trusting the size reported before the read.
        data = handle.read(max_bytes + 1)
    _check_size(len(data), max_bytes)
    return data, status


def _mtime(status: os.stat_result) -> datetime:
    return datetime.fromtimestamp(status.st_mtime, tz=UTC)
