"""The command line: builds Settings and dependencies, calls the library, reports.

    common.py      the `main` group, shared options, store opening, usage errors
    ingest.py      run
    items.py       export, explain, split
    background.py  serve, schedule, publisher
    worker.py      worker (leased batches of due sources, several machines)
    sources.py     status, sources list|add|remove|enable|disable|import|export

Exit codes: 0 success (also when some sources failed but the rest was published);
1 the store/lock/output failed, or no feed was found; 2 bad usage or config;
130 Ctrl-C; 143 SIGTERM during `run` (after the write in progress). An empty feed is exit 0.
"""

from __future__ import annotations

# Importing each module registers its commands on `main`.
from aggregator.cli import background, ingest, items, sources, worker
from aggregator.cli.common import main

__all__ = ["background", "ingest", "items", "main", "sources", "worker"]
