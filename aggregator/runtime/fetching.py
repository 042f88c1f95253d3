"""A fetcher for a long-lived process (`aggregator worker`): one event loop on a thread of
its own and one HTTP client (`ingest.http.Fetcher`) for the process's life.

A worker used to start a new event loop and a new client (a new connection pool) for
each batch of 16 feeds, and to wait for the batch's slowest feed before doing anything
else. With the loop on its own thread, a batch's requests are in flight while the
calling thread cleans and stores the previous batch, and the connections to the feeds'
hosts are kept from one batch to the next. Parsing and cleaning stay on the calling
thread: the loop's thread only waits on sockets, so it holds the GIL briefly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from types import TracebackType

from aggregator.config import FetchConfig
from aggregator.exceptions import FetchError
from aggregator.ingest.http import Fetcher, FetchOutcome, FetchRequest
from aggregator.runtime import eventloop

Outcomes = list[FetchOutcome | FetchError]


class BackgroundFetcher:
    """`with BackgroundFetcher(config) as f: f.submit(requests).result()`. Closing it
    cancels the fetches still in flight and closes the client's connections."""

    def __init__(self, config: FetchConfig) -> None:
        self._config = config
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fetcher: Fetcher | None = None
        self._closing: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="fetcher", daemon=True)
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

    def submit(self, requests: Sequence[FetchRequest]) -> Future[Outcomes]:
        """The requests fetched on the loop's thread, as `Fetcher.fetch_all` does."""
        if self._loop is None or self._fetcher is None:
            raise RuntimeError("use the BackgroundFetcher inside 'with'")
        self._count(len(requests))
        fetching = self._fetcher.fetch_all(requests, each_done=lambda: self._count(-1))
        return asyncio.run_coroutine_threadsafe(fetching, self._loop)

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
