"""Tell WebSub hubs that our feeds changed, so subscribers get them without polling.

After a publish changes a feed, the publisher POSTs `hub.mode=publish&hub.url=<topic>`
to each hub the feed advertises (`<link rel="hub">`). The WebSub recommendation (W3C,
2018) leaves this ping to hub policy; the form above is the PubSubHubbub 0.4 one that
the common public hubs (Google's, Superfeedr, WebSubHub) accept. We send one request per
topic because some hubs read only the first `hub.url` of a request.

A ping is a courtesy: readers still poll. So a hub that is down, slow or refusing never
fails a publish; each problem comes back as a warning naming the hub and the topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from aggregator import __version__

__all__ = ["ping_hub"]

logger = logging.getLogger(__name__)

_USER_AGENT = f"aggregator/{__version__} (WebSub publisher)"


async def ping_hub(
    hub: str,
    topics: Sequence[str],
    *,
    client: httpx.AsyncClient | None = None,
    timeout: float = 10,
) -> list[str]:
    """POST a publish notification to `hub` for every topic; return the warnings.

    An empty list means the hub accepted every topic (any 2xx). Network errors, timeouts,
    invalid hub URLs and non-2xx answers become warnings, never exceptions.
    """
    unique = list(dict.fromkeys(topics))  # one ping per feed, order kept for the log
    if not unique:
        return []
    if client is not None:
        return await _ping_all(client, hub, unique, timeout)
    async with httpx.AsyncClient(headers={"User-Agent": _USER_AGENT}) as own:
        return await _ping_all(own, hub, unique, timeout)


async def _ping_all(
    client: httpx.AsyncClient, hub: str, topics: list[str], timeout: float
) -> list[str]:
    results = await asyncio.gather(*(_ping_one(client, hub, topic, timeout) for topic in topics))
    warnings = [warning for warning in results if warning is not None]
    for warning in warnings:
        logger.warning("%s", warning)
    return warnings


async def _ping_one(client: httpx.AsyncClient, hub: str, topic: str, timeout: float) -> str | None:
    try:
        response = await client.post(
            hub,
            data={"hub.mode": "publish", "hub.url": topic},
            headers={"User-Agent": _USER_AGENT},
            timeout=timeout,
        )
    except httpx.TimeoutException:
        return f"WebSub hub {hub}: no answer within {timeout:g} s for {topic}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"WebSub hub {hub}: {type(exc).__name__}: {exc or 'request failed'} for {topic}"
    if not response.is_success:
        detail = response.text.strip()[:200]
        suffix = f": {detail}" if detail else ""
        return f"WebSub hub {hub}: HTTP {response.status_code} for {topic}{suffix}"
    return None
