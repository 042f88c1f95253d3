"""Tell WebSub hubs that our feeds changed, so subscribers get them without polling.

After a publish changes a feed, the publisher POSTs `hub.mode=publish&hub.url=<topic>`
to each hub the feed advertises (`<link rel="hub">`). The WebSub recommendation (W3C,
2018) leaves this ping to hub policy; the form above is the PubSubHubbub 0.4 one that
the common public hubs (Google's, Superfeedr, WebSubHub) accept. We send one request per
topic because some hubs read only the first `hub.url` of a request.

A ping is a courtesy: readers still poll. So a hub that is down, slow or refusing never
fails a publish; each problem comes back as a warning naming the hub and the topic. The
HTTP itself is the fetching module's (`aggregator.ingest.http.post_forms`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aggregator import __version__
from aggregator.ingest.http import PostAnswer, post_forms
from aggregator.urlparts import redact

__all__ = ["ping_hub"]

logger = logging.getLogger(__name__)

_USER_AGENT = f"aggregator/{__version__} (WebSub publisher)"
_DETAIL_CHARS = 200  # of a refusing hub's explanation, in the warning


async def ping_hub(hub: str, topics: Sequence[str], *, timeout: float = 10) -> list[str]:
    """POST a publish notification to `hub` for every topic; return the warnings.

    An empty list means the hub accepted every topic (any 2xx). Network errors, timeouts,
    invalid hub URLs and non-2xx answers become warnings, never exceptions.
    """
    unique = list(dict.fromkeys(topics))  # one ping per feed, order kept for the log
    if not unique:
        return []
    forms = [{"hub.mode": "publish", "hub.url": topic} for topic in unique]
    answers = await post_forms(hub, forms, timeout=timeout, user_agent=_USER_AGENT)
    warnings = [
        warning
        for topic, answer in zip(unique, answers, strict=True)
        if (warning := _warning(redact(hub), topic, answer)) is not None
    ]
    for warning in warnings:
        logger.warning("%s", warning)
    return warnings


def _warning(hub: str, topic: str, answer: PostAnswer | str) -> str | None:
    if isinstance(answer, str):
        return f"WebSub hub {hub}: {answer} for {topic}"
    if 200 <= answer.status < 300:
        return None
    detail = answer.text.strip()[:_DETAIL_CHARS]
    suffix = f": {detail}" if detail else ""
    return f"WebSub hub {hub}: HTTP {answer.status} for {topic}{suffix}"
