"""The event loop every async part runs on (fetching, WebSub pings, the daemon, the server).

uvloop where it is installed (it is a dependency on the platforms it supports): a run's
fetching is bound by CPU spent per request, and uvloop's loop spends much less of it than
asyncio's own (measured by `bench/fetch.py`). asyncio's loop otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop, like asyncio.run."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
