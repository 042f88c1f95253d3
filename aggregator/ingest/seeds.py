"""Reading local seed documents from the seeds folder, never from outside it.

    discover_seeds(root) ──► (SeedFile…, warnings)      what is there, and what was refused
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from aggregator.exceptions import SeedPathError
from aggregator.model import Retrieved

__all__ = ["DEFAULT_MAX_BYTES", "SeedFile", "SeedKind", "discover_seeds", "read_seed"]

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

    Every run lists every file, and at 100,000 documents each step per file counts: one
    loop over the folders (no generator per folder), strings rather than `Path`s, the
    usual file checked inline (`_inspect` takes the others), one sort at the end.
    """
    resolved_root = _resolve_root(root)
    seeds: list[SeedFile] = []
    warnings: list[str] = []
    regular = stat.S_ISREG
    make = tuple.__new__  # `SeedFile(...)` less its Python-level `__new__`: same tuple
    folders = [""]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(root / folder if folder else root) as listing:
                entries = list(listing)
        except OSError as exc:
            warnings.append(f"{folder or '.'}: folder cannot be listed ({exc.strerror})")
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
            try:
                if entry.is_symlink() and entry.is_dir(follow_symlinks=True):
                    # Entering linked folders could loop, and the links may be swapped
                    # while we walk; a seed folder that needs one can hold the files.
                    warnings.append(f"{relpath}: a symbolic link to a folder; not followed")
                    continue
                kind = _KINDS.get(name[name.rfind(".") :].lower())
                if kind is None:
                    continue
                if not entry.is_symlink():  # the usual file, checked inline
                    status = entry.stat(follow_symlinks=False)
                    size = status.st_size
                    if regular(status.st_mode) and size <= max_bytes:
                        seeds.append(
                            make(
                                SeedFile,
                                (
                                    relpath,
                                    resolved_root,
                                    kind,
                                    size,
                                    status.st_mtime_ns,
                                    status.st_mtime,
                                    None,
                                ),
                            )
                        )
                        continue
                seeds.append(_inspect(entry, relpath, kind, resolved_root, max_bytes))
            except _Refused as refused:
                warnings.append(f"{relpath}: {refused}")
            except OSError as exc:
                warnings.append(f"{relpath}: cannot be read ({exc.strerror})")
    seeds.sort()  # by relative path: unique, so no other field is ever compared
    return tuple(seeds), tuple(sorted(warnings))


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


def _inspect(
    entry: os.DirEntry[str], relpath: str, kind: SeedKind, resolved_root: Path, max_bytes: int
) -> SeedFile:
    target = None
    if entry.is_symlink():
        try:
            target = Path(entry.path).resolve(strict=True)
        except OSError:
            raise _Refused("a broken symbolic link") from None
        _check_inside(target, resolved_root)
        status = target.stat()
    else:
        # Reached through real folders only (`_walk` enters no linked folder) from the
        # resolved root: inside it, no resolving needed (`SeedFile.path`).
        status = entry.stat(follow_symlinks=False)
    _check_regular(status.st_mode)
    _check_size(status.st_size, max_bytes)
    return SeedFile(
        relpath, resolved_root, kind, status.st_size, status.st_mtime_ns, status.st_mtime, target
    )


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
