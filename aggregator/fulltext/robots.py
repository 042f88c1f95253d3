"""robots.txt rules (RFC 9309), read with Protego: the only module that imports it."""

from __future__ import annotations

from protego import Protego

# Matched against the User-agent lines of robots.txt: the product name our User-Agent
# header starts with.
PRODUCT_TOKEN = "aggregator"


class RobotsRules:
    """What one origin's robots.txt allows us; a `None` body: every path allowed."""

    __slots__ = ("_parsed",)

    def __init__(self, body: str | None) -> None:
        self._parsed = Protego.parse(body) if body is not None else None

    def allows(self, url: str) -> bool:
        return self._parsed is None or bool(self._parsed.can_fetch(url, PRODUCT_TOKEN))

    def crawl_delay(self) -> float:
        """Seconds to wait between two requests to the origin (0 when none is asked)."""
        if self._parsed is None:
            return 0.0
        delay = self._parsed.crawl_delay(PRODUCT_TOKEN)
        return float(delay) if delay is not None and delay > 0 else 0.0


ALLOW_ALL = RobotsRules(None)
