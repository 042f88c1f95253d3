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
"""

from __future__ import annotations

from httpcore import AsyncConnectionInterface, AsyncConnectionPool


class ExclusivePool(AsyncConnectionPool):
    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing = self._drop_dead_connections()
        taken = {r.connection for r in self._requests if r.connection is not None}
        free = [c for c in self._connections if c not in taken and c.is_available()]
        for request in self._requests:
            if request.connection is not None:
                continue
            origin = request.request.url.origin
            reusable = next((c for c in free if c.can_handle_request(origin)), None)
            if reusable is not None:
                free.remove(reusable)
            elif len(self._connections) >= self._max_connections:
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

    def _drop_dead_connections(self) -> list[AsyncConnectionInterface]:
        """Forget the closed connections; take the expired ones out, to be closed."""
        expired = []
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.has_expired():
                self._connections.remove(connection)
                expired.append(connection)
        return expired

    def _surplus_idle(self, free: list[AsyncConnectionInterface]) -> list[AsyncConnectionInterface]:
        """The idle connections past `max_keepalive_connections`, oldest first, taken out."""
        surplus = free[: max(0, len(free) - self._max_keepalive_connections)]
        for connection in surplus:
            self._connections.remove(connection)
        return surplus
