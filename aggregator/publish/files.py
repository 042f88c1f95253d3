"""Writing output files so that a reader never sees a half-written one.

feedgen's `atom_file()` writes straight to the destination (TRAPS 7); a run killed
mid-write would leave a truncated feed behind. Here every file is written to a temporary
file in the same directory, flushed to disk, and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from aggregator.exceptions import PublishError

# mkstemp creates files readable by their owner only; published feeds are served to
# anyone, often by a web server running as another user.
_FILE_MODE = 0o644


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_TEMP_PREFIX, _TEMP_SUFFIX = ".", ".tmp"
# A temporary file older than this is what a killed write left behind (a live write
# lasts milliseconds, and only the holder of the writer lock publishes).
TEMP_MAX_AGE = 3600.0


def _replace(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{_TEMP_PREFIX}{path.name}.", suffix=_TEMP_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_atomically(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` atomically; False (file untouched) if already identical.

    Raises PublishError naming the path when the file cannot be written.
    """
    try:
        if _same_bytes(path, data):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, data)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise PublishError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return True


def remove_stale(directory: Path, pattern: str, keep: set[Path]) -> list[Path]:
    """Delete the files matching `pattern` in `directory` that are not in `keep`."""
    removed = []
    for path in sorted(directory.glob(pattern)) if directory.is_dir() else ():
        if path not in keep and path.is_file():
            try:
                path.unlink()
            except OSError as exc:
                raise PublishError(f"{path}: cannot remove: {exc.strerror or exc}") from exc
            removed.append(path)
    return removed


def sweep_temp_files(directories: list[Path], *, older_than: float = TEMP_MAX_AGE) -> list[Path]:
    """Delete the temporary files of writes that never finished (the process was killed
    between creating and renaming them); files younger than `older_than` seconds stay."""
    cutoff = time.time() - older_than
    swept = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}")):
            with contextlib.suppress(OSError):  # gone already, or not ours to remove
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    swept.append(path)
    return swept
