"""The command line: builds Settings and dependencies, calls the library, reports.

    common.py      the `main` group, shared options, store opening, usage errors
    ingest.py      run
    items.py       export, explain, split, join, undo, decisions
    background.py  serve, schedule, publisher
    worker.py      worker (leased batches of due sources, several machines)
    sources.py     status, sources list|add|remove|enable|disable|import|export

Exit codes: 0 success (also when some sources failed but the rest was published);
1 the store/lock/output failed, or no feed was found; 2 bad usage or config;
130 Ctrl-C; 143 SIGTERM during `run` (after the write in progress). An empty feed is exit 0.
"""

from __future__ import annotations

from aggregator.cli.common import main

# Which module's import registers each command on `main`: imported when the command runs
# (`AggregatorGroup`), so a process pays only for the command it runs.
COMMAND_MODULES = {
    "run": "aggregator.cli.ingest",
    "export": "aggregator.cli.items",
    "explain": "aggregator.cli.items",
    "split": "aggregator.cli.items",
    "join": "aggregator.cli.items",
    "undo": "aggregator.cli.items",
    "decisions": "aggregator.cli.items",
    "serve": "aggregator.cli.background",
    "schedule": "aggregator.cli.background",
    "publisher": "aggregator.cli.background",
    "worker": "aggregator.cli.worker",
    "status": "aggregator.cli.sources",
    "sources": "aggregator.cli.sources",
}
main.lazy.update(COMMAND_MODULES)

__all__ = ["COMMAND_MODULES", "main"]
