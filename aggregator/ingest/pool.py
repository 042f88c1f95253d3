"""httpcore's connection pool, with an idle connection handed to one request at a time.

httpcore 1.0's pool gives a request an idle connection and lets it start on it later,
after the request has yielded to the event loop. Until then the connection still looks
idle, so every request that enters the pool meanwhile is given the same one. All but the
first then fail with `ConnectionNotAvailable` and go round the pool again. On a warm run
of 1,000 feeds (128 in flight) that was one extra pass per request: a fifth of the
fetching CPU, and connections opened for nothing.

`ExclusivePool` counts a connection as taken from the moment it is handed out until its
request ends. It replaces only the hand-out step (`_assign_requests_to_connections`);
sending, keep-alive, expiry and closing stay httpcore's. That step and the attributes it
reads are private: `tests/test_fetch.py` fails if a new httpcore changes them.

It also asks fewer connections whether they are still good. httpcore asks every
connection of the pool at each request's start and end; for an idle one that is a poll(2)
of its socket (has the server closed it?), a system call that also lets the worker's
other thread take the GIL. On the fetch.py farm (128 in flight over 16 pools) that was
2.5 polls per request. Here the connection handed out is always asked, and the others at
most every SWEEP_SECONDS (1.0 poll per request), so one that its server closed, or that
outlived the keep-alive expiry, is still closed soon, not kept until its origin's next
request.
"""

from __future__ import annotations

import time

from httpcore import AsyncConnectionInterface, AsyncConnectionPool, Origin

SWEEP_SECONDS = 1.0


class ExclusivePool(AsyncConnectionPool):
    _swept = 0.0  # time.monotonic() of the last look at every connection

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing = self._drop_dead_connections()
        taken = {r.connection for r in self._requests if r.connection is not None}
        free = [c for c in self._connections if c not in taken and c.is_available()]
        for request in self._requests:
            if request.connection is not None:
                continue
            origin = request.request.url.origin
            reusable = self._reusable(free, origin, closing)
            if reusable is None and len(self._connections) >= self._max_connections:
                if not free:
                    continue  # queued until a request ends and frees a connection
                surplus = free.pop(0)  # idle, for another origin: make room
                self._connections.remove(surplus)
                closing.append(surplus)
            if reusable is None:
                reusable = self.create_connection(origin)
                self._connections.append(reusable)
            request.assign_to_connection(reusable)
        closing.extend(self._surplus_idle(free))
        return closing

    def _reusable(
        self,
        free: list[AsyncConnectionInterface],
        origin: Origin,
        closing: list[AsyncConnectionInterface],
    ) -> AsyncConnectionInterface | None:
        """An idle connection to `origin`, taken out of `free`, that is still good now;
        those found expired on the way are taken out of the pool, to be closed."""
        for connection in [c for c in free if c.can_handle_request(origin)]:
            free.remove(connection)
            if not connection.has_expired():
                return connection
            self._connections.remove(connection)
            closing.append(connection)
        return None

    def _drop_dead_connections(self) -> list[AsyncConnectionInterface]:
        """Forget the closed connections; every SWEEP_SECONDS, take the expired ones out,
        to be closed."""
        now = time.monotonic()
        sweep = now - self._swept >= SWEEP_SECONDS
        if sweep:
            self._swept = now
        expired = []
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif sweep and connection.has_expired():
                self._connections.remove(connection)
                expired.append(connection)
        return expired

    def _surplus_idle(self, free: list[AsyncConnectionInterface]) -> list[AsyncConnectionInterface]:
        """The idle connections past `max_keepalive_connections`, oldest first, taken out."""
        surplus = free[: max(0, len(free) - self._max_keepalive_connections)]
        for connection in surplus:
            self._connections.remove(connection)
        return surplus
