"""A fetcher for a long-lived process (`aggregator worker`): one event loop on a thread of
its own and one HTTP client (`ingest.http.Fetcher`) for the process's life.

A worker used to start a new event loop and a new client (a new connection pool) for
each batch of 16 feeds, and to wait for the batch's slowest feed before doing anything
else. With the loop on its own thread, a batch's requests are in flight while the
calling thread cleans and stores the previous batch, and the connections to the feeds'
hosts are kept from one batch to the next. Parsing and cleaning stay on the calling
thread: the loop's thread only waits on sockets, so it holds the GIL briefly.

Each request's answer is handed on as it ends (`answers`), not with the others of its
call: a worker stores what has answered while a slow feed is still being waited for.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aggregator.config import FetchConfig
from aggregator.exceptions import FetchError
from aggregator.ingest.http import Fetcher, FetchOutcome, FetchRequest
from aggregator.runtime import eventloop


@dataclass(frozen=True, slots=True)
class Answer:
    """One request ended, handed on from the loop's thread as it ends."""

    request: FetchRequest
    # An exception other than FetchError: a bug, or the fetcher closing; the request's
    # whole call ended with it (a feed's own failures are FetchError values).
    outcome: FetchOutcome | FetchError | BaseException
    ended: float  # time.monotonic() when it ended


class BackgroundFetcher:
    """`with BackgroundFetcher(config) as f: f.submit(requests); f.answers(timeout)`.
    Closing it cancels the fetches still in flight and closes the client's connections."""

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetcher: Fetcher | None = None
        self._closing: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="fetcher", daemon=True)
        self._answers: queue.SimpleQueue[Answer] = queue.SimpleQueue()
        self._unanswered = 0  # requests submitted and not yet ended, all calls together
        self._counting = threading.Lock()

    def __enter__(self) -> BackgroundFetcher:
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def unanswered(self) -> int:
        """Requests submitted that have not ended yet: in flight or waiting for a slot."""
        return self._unanswered

    def submit(self, requests: Sequence[FetchRequest]) -> None:
        """The requests fetched on the loop's thread, as `Fetcher.fetch_all` does; each
        one's Answer comes out of `answers` as soon as it ends, whatever the others do (a
        slow feed holds back nobody's answer but its own)."""
        if self._loop is None or self._fetcher is None:
            raise RuntimeError("use the BackgroundFetcher inside 'with'")
        if not requests:
            return
        self._count(len(requests))
        undelivered = set(range(len(requests)))  # changed on the loop's thread only

        def each_done(index: int, outcome: FetchOutcome | FetchError) -> None:
            undelivered.discard(index)
            self._hand_on(Answer(requests[index], outcome, time.monotonic()))

        fetching = self._fetcher.fetch_all(requests, each_done=each_done)
        future = asyncio.run_coroutine_threadsafe(fetching, self._loop)
        future.add_done_callback(lambda f: self._fail_undelivered(f, requests, undelivered))

    def answers(self, timeout: float = 0.0) -> list[Answer]:
        """The answers that came since the last call, waiting up to `timeout` seconds
        for the first one when there is none yet (none: an empty list)."""
        try:
            first = self._answers.get(block=timeout > 0, timeout=timeout or None)
        except queue.Empty:
            return []
        got = [first]
        while True:
            try:
                got.append(self._answers.get_nowait())
            except queue.Empty:
                return got

    def _hand_on(self, answer: Answer) -> None:
        self._answers.put(answer)
        self._count(-1)

    def _fail_undelivered(
        self, future: Future[Any], requests: Sequence[FetchRequest], undelivered: Collection[int]
    ) -> None:
        """A call that raised (a bug) or was cancelled still answers each of its requests:
        a caller waiting for them must not wait forever."""
        failure = asyncio.CancelledError() if future.cancelled() else future.exception()
        if failure is None:
            return
        for index in sorted(undelivered):
            self._hand_on(Answer(requests[index], failure, time.monotonic()))

    def _count(self, change: int) -> None:
        with self._counting:
            self._unanswered += change

    def close(self) -> None:
        loop, closing = self._loop, self._closing
        if loop is not None and closing is not None and not loop.is_closed():
            loop.call_soon_threadsafe(closing.set)
        if self._thread.is_alive():
            self._thread.join()

    def _serve(self) -> None:
        try:
            eventloop.run(self._main())
        except BaseException as exc:  # handed to the thread that entered, if not yet ready
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._closing = asyncio.Event()
        async with Fetcher(self._config) as fetcher:
            self._fetcher = fetcher
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._closing.wait()
            # Fetches still in flight (a batch fetched ahead when asked to stop) end here,
            # before the client closes under them.
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
