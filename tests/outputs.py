"""What a publish left in an output folder, for tests that compare two of them."""

from __future__ import annotations

from pathlib import Path


def published_files(folder: Path) -> dict[str, bytes]:
    """Every published file by its path in `folder`; hidden names (the publisher's own
    manifest, temp files) are not published output and are left out."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }
