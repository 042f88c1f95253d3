from __future__ import annotations

import asyncio
import importlib.util

import pytest

from aggregator.runtime import eventloop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_run_returns_the_result_on_uvloop_when_installed() -> None:
    module = eventloop.run(_loop_module())
    if importlib.util.find_spec("uvloop") is not None:
        assert module.startswith("uvloop")
    else:
        assert module.startswith("asyncio")


def test_run_passes_exceptions_through_and_closes_the_loop() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        eventloop.run(fail())
    # A second run gets a fresh loop: the first one was closed, not left running.
    assert eventloop.run(_loop_module())
