# The C listing of the seeds folder (_listing.c); `aggregator.ingest.seeds` has its twin.
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

def scan(
    root: str | PathLike[str],
    resolved_root: Path,
    seed_type: type,
    kinds: Mapping[str, str],
    max_bytes: int,
    /,
) -> tuple[list[tuple[object, ...]], list[str], list[tuple[str, int]]]: ...
def lines(
    files: Sequence[tuple[object, ...]], buckets: int, /
) -> tuple[bytes, list[bytes], list[int], list[int]]: ...
