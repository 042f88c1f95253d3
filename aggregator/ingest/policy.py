"""When to check a source next: refresh hints, Retry-After and backoff; whether a source
is due; and a source's fetch state after a response or a failure.

Pure functions over values: the caller passes `now`, the source's state and a jitter
drawn by itself (so tests and repeated runs are deterministic). Nothing here reads a
clock, a config file, the store or the network. The limits (min_interval, max_interval,
backoff_cap) and their defaults are those of the one fetch settings record,
`config.FetchConfig`.

The rules, in the order `next_check_at` applies them:

1. the regular delay is the source's configured interval, lengthened (never shortened)
   by the server's freshness hint (Cache-Control max-age, Expires, RSS ttl), the hint
   first clamped into [min_interval, max_interval];
2. after consecutive failures the delay doubles per failure, up to `backoff_cap`
   (but never below the regular interval);
3. up to JITTER_SPREAD of the delay is added, scaled by the caller's jitter in [0, 1),
   so sources configured alike do not all fall due in the same second;
4. a Retry-After from the server is honoured, capped at `backoff_cap`;
5. the result is never earlier than now + min_interval.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aggregator.config import FetchConfig
from aggregator.exceptions import FetchError, SourceError
from aggregator.model import FeedMeta, SourceKind, SourceSpec

if TYPE_CHECKING:  # records only: no store or HTTP code is loaded for them
    from aggregator.config import Settings
    from aggregator.ingest.http import FetchOutcome
    from aggregator.store import SourceState

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_RETRY_AFTER_CAP",
    "JITTER_SPREAD",
    "Due",
    "Fetched",
    "afresh",
    "config_key",
    "config_keys",
    "due_at",
    "due_sources",
    "is_due",
    "keys_to_record",
    "next_check_at",
    "reconfigured",
    "recorded_configs",
    "refresh_hint",
    "retry_after",
    "state_after",
    "with_feed",
]

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = timedelta(hours=1)  # a 429/503 without a usable Retry-After
DEFAULT_RETRY_AFTER_CAP = timedelta(hours=24)  # a server cannot park a feed for a year
_DEFAULTS = FetchConfig()  # the limits a caller leaves out: the config's defaults
# Fraction of the delay the caller's jitter may add: 20 % spreads a thousand hourly
# feeds over twelve minutes, enough to avoid bursts, small enough to stay near schedule.
JITTER_SPREAD = 0.2

# A hint longer than this is taken as this: every interval is clamped far below it anyway,
# and a feed's <ttl> or a max-age of twenty digits would overflow timedelta.
_LONGEST_HINT_SECONDS = 366 * 24 * 3600
_DIGITS = re.compile(r"\d+")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def retry_after(
    value: str | None,
    *,
    now: datetime,
    default: timedelta = DEFAULT_RETRY_AFTER,
    cap: timedelta = DEFAULT_RETRY_AFTER_CAP,
) -> datetime:
    """When a Retry-After header (delay-seconds or an HTTP date) allows the next request.

    Missing or unparsable values give `now + default`; the result is clamped into
    [now, now + cap] so a date in the past means "now" and a far future one is capped.
    """
    delay = _parse_retry_after(value, now)
    if delay is None:
        delay = default
    return now + max(timedelta(0), min(delay, cap))


def _parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return _seconds(int(text))
    when = _parse_http_date(text)
    return None if when is None else when - now


def _parse_http_date(text: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    # HTTP dates are GMT by definition; parsedate_to_datetime returns naive for "-0000".
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def refresh_hint(
    headers: Mapping[str, str], *, ttl_minutes: int | None, now: datetime
) -> timedelta | None:
    """How long the server or the feed says the document stays fresh, or None.

    Cache-Control max-age wins over Expires (RFC 9111 §5.3); Expires is measured from the
    response's Date header when there is one, so a skewed server clock does not matter.
    Of the HTTP hint and the feed's own ttl the longer is returned: both say "do not come
    back before", and being polite costs a feed reader little.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    hints = [h for h in (_http_freshness(lowered, now), _ttl(ttl_minutes)) if h is not None]
    return max(hints) if hints else None


def _http_freshness(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    cache_control = headers.get("cache-control", "")
    if "no-store" in cache_control.lower():
        return None
    match = _MAX_AGE.search(cache_control)
    if match:
        seconds = int(match.group(1))
        return _seconds(seconds) if seconds > 0 else None
    expires = _parse_http_date(headers.get("expires", ""))
    if expires is None:
        return None
    reference = _parse_http_date(headers.get("date", "")) or now
    fresh = expires - reference
    return fresh if fresh > timedelta(0) else None


def _ttl(ttl_minutes: int | None) -> timedelta | None:
    if ttl_minutes is None or ttl_minutes <= 0:
        return None
    return _seconds(ttl_minutes * 60)


def _seconds(count: int) -> timedelta:
    """`count` seconds, at most a year (so any number of digits is safe)."""
    return timedelta(seconds=min(count, _LONGEST_HINT_SECONDS))


def next_check_at(
    now: datetime,
    *,
    interval: timedelta,
    error_count: int,
    hint: timedelta | None = None,
    retry_after: datetime | None = None,
    min_interval: timedelta = _DEFAULTS.min_interval,
    max_interval: timedelta = _DEFAULTS.max_interval,
    backoff_cap: timedelta = _DEFAULTS.backoff_cap,
    jitter: float = 0.0,
) -> datetime:
    """When the source is due again; see the module docstring for the rules.

    `error_count` is the number of consecutive failures including the one that just
    happened (0 after a success); `jitter` is a number in [0, 1) the caller drew.
    """
    if error_count < 0:
        raise ValueError(f"error_count must be >= 0, not {error_count}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), not {jitter}")
    regular = _regular_delay(interval, hint, min_interval, max_interval)
    spread = 1 + JITTER_SPREAD * jitter
    if error_count:
        cap = max(backoff_cap, regular)  # backing off never polls more often than usual
        delay = min(_backoff(regular, error_count, cap) * spread, cap)
    else:
        delay = regular * spread
    at = now + max(delay, min_interval)
    if retry_after is not None:
        at = max(at, min(retry_after, now + backoff_cap))
    return at


def _regular_delay(
    interval: timedelta, hint: timedelta | None, min_interval: timedelta, max_interval: timedelta
) -> timedelta:
    if hint is None:
        return interval
    return max(interval, min(max(hint, min_interval), max_interval))


def _backoff(delay: timedelta, error_count: int, cap: timedelta) -> timedelta:
    # The first failure keeps the regular delay (most failures are transient); each
    # further one doubles it. Doubling step by step avoids overflowing timedelta.
    for _ in range(error_count - 1):
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


# -- whether a source is due ----------------------------------------------------------------


def due_at(state: SourceState, *, min_interval: timedelta) -> datetime | None:
    """When the source is next due: its next-check time, never sooner than min_interval
    after the last fetch (None: never fetched, due now)."""
    times = [state.next_check_at]
    if state.last_fetch_at is not None:
        times.append(state.last_fetch_at + min_interval)
    known = [t for t in times if t is not None]
    return max(known) if known else None


def is_due(state: SourceState, *, now: datetime, min_interval: timedelta, force: bool) -> bool:
    if not state.enabled:
        return False
    if force:
        return True
    at = due_at(state, min_interval=min_interval)
    return at is None or at <= now


# -- a changed config starts a source afresh -------------------------------------------------

# Each source's row keeps a key of the config (and [fetch]) it last ran under
# (`SourceState.config_key`), so a run can tell the operator changed something since: a
# source refused, failing or gone under the old config is worth trying again now, not
# after its backoff.


def config_key(source: SourceSpec, fetch: FetchConfig) -> str:
    return hashlib.sha256(repr((source, fetch)).encode()).hexdigest()[:16]


def config_keys(settings: Settings) -> dict[str, str]:
    return {s.id: config_key(s, settings.fetch) for s in settings.sources}


def recorded_configs(states: Iterable[SourceState]) -> dict[str, str]:
    """The key of the config each source last ran under, by id; those never recorded are
    left out (`reconfigured` takes them as unchanged)."""
    return {s.id: s.config_key for s in states if s.config_key is not None}


def keys_to_record(
    specs: Iterable[SourceSpec], states: Mapping[str, SourceState], fetch: FetchConfig
) -> dict[str, str]:
    """The config keys of `specs` that their sources' rows (`states`, by id) do not hold
    yet: what a run or a worker's batch records once stored. Empty for a worker whose
    config has not changed since it started (it recorded them then)."""
    keys = {}
    for spec in specs:
        key = config_key(spec, fetch)
        state = states.get(spec.id)
        if state is None or state.config_key != key:
            keys[spec.id] = key
    return keys


def reconfigured(settings: Settings, last: Mapping[str, str]) -> set[str]:
    """Sources whose config or `[fetch]` changed since the last run recorded them."""
    return {sid for sid, key in config_keys(settings).items() if last.get(sid, key) != key}


def afresh(state: SourceState, source: SourceSpec) -> SourceState:
    """A reconfigured source's state with its backoff cleared (and a 410's disabling
    lifted); a healthy source's state is left as it is."""
    if not state.error_count and state.disabled_reason is None:
        return state
    return replace(
        state, error_count=0, next_check_at=None, disabled_reason=None, enabled=source.enabled
    )


@dataclass(frozen=True, slots=True)
class Due:
    """The remote sources to fetch now, and when the others are."""

    due: tuple[SourceState, ...]
    states: tuple[SourceState, ...]  # those reconfigured, started afresh
    not_due: int
    next_due: datetime | None


def due_sources(
    settings: Settings,
    states: Mapping[str, SourceState],
    last_configs: Mapping[str, str],
    *,
    now: datetime,
    force: bool,
) -> Due:
    """The remote sources to fetch now (pure). `force` (named with `--only`, or `--all`):
    each enabled source now, whatever its schedule. A source whose config (or `[fetch]`)
    changed since the last run (`last_configs`) starts afresh: a refusal, failure or 410
    under the old config says nothing about the new one."""
    sources = settings.sources_by_id
    restarted = {}
    for source_id in reconfigured(settings, last_configs) & states.keys():
        state = states[source_id]
        fresh = afresh(state, sources[source_id])
        if fresh is not state:
            restarted[source_id] = fresh
    min_interval = settings.fetch.min_interval
    due = []
    not_due = 0
    next_due: datetime | None = None
    for state in (restarted.get(sid, s) for sid, s in states.items()):
        if is_due(state, now=now, min_interval=min_interval, force=force or state.id in restarted):
            due.append(state)
        elif state.enabled:
            not_due += 1
            at = due_at(state, min_interval=min_interval)
            if at is not None and (next_due is None or at < next_due):
                next_due = at
    return Due(tuple(due), tuple(restarted.values()), not_due, next_due)


# -- a source's state after this run ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """What reading or fetching one source said, as the state after it needs it."""

    kind: SourceKind
    meta: FeedMeta | None  # None: not read again (unchanged file, 304, same body)
    outcome: FetchOutcome | None = None  # a remote source's response (its body dropped)
    body_hash: str | None = None
    error: SourceError | None = None
    new: int = 0  # items stored as new from it in this run
    updated: int = 0


def with_feed(state: SourceState, kind: SourceKind, meta: FeedMeta | None) -> SourceState:
    """The source's state with what its feed says of itself now."""
    if meta is None and kind is not SourceKind.REMOTE:
        return state  # a feed file not read again: what it said is still what it says
    meta = meta or FeedMeta()
    # A local source is read whole every run: what it says now is all it says (a link
    # stored by an older version pointed at a per-source feed path that could 404;
    # `aggregator.sourcefeed` links a source without a page of its own to its feed).
    local = kind is not SourceKind.REMOTE
    return replace(
        state,
        feed_title=meta.title or state.feed_title,
        feed_id=meta.id or state.feed_id,
        site_link=meta.link if local else (meta.link or state.site_link),
        feed_updated=meta.updated or state.feed_updated,
    )


def state_after(
    fetched: Fetched,
    state: SourceState,
    *,
    interval: timedelta,
    fetch: FetchConfig,
    now: datetime,
) -> SourceState:
    """The source's state once this run's reading of it is stored: validators, counts,
    errors and, for a remote source, when it is next due."""
    if fetched.error is not None:
        return _failed_state(fetched.error, state, interval=interval, fetch=fetch, now=now)
    if fetched.kind is not SourceKind.REMOTE:
        return replace(
            with_feed(state, fetched.kind, fetched.meta),
            last_fetch_at=now,
            error_count=0,
            last_error=None,
            last_new=fetched.new,
            last_updated=fetched.updated,
        )
    outcome = fetched.outcome
    assert outcome is not None
    ttl = fetched.meta.ttl_minutes if fetched.meta else None
    hint = refresh_hint(outcome.headers, ttl_minutes=ttl, now=now)
    url = state.url
    if outcome.permanent_url and outcome.permanent_url != state.url:
        log.warning(
            "%s: moved permanently to %s; stored URL updated", state.id, outcome.permanent_url
        )
        url = outcome.permanent_url
    due = next_check_at(
        now,
        interval=interval,
        error_count=0,
        hint=hint,
        min_interval=fetch.min_interval,
        max_interval=fetch.max_interval,
        backoff_cap=fetch.backoff_cap,
        jitter=_jitter(state.id, now),
    )
    return replace(
        with_feed(state, fetched.kind, fetched.meta),
        url=url,
        etag=outcome.validators.etag,
        last_modified=outcome.validators.last_modified,
        body_hash=fetched.body_hash or state.body_hash,
        last_fetch_at=now,
        last_status=outcome.status,
        error_count=0,
        last_error=None,
        last_new=fetched.new,
        last_updated=fetched.updated,
        next_check_at=due,
    )


def _failed_state(
    error: SourceError,
    state: SourceState,
    *,
    interval: timedelta,
    fetch: FetchConfig,
    now: datetime,
) -> SourceState:
    status = error.status if isinstance(error, FetchError) else state.last_status
    failed = replace(
        state,
        last_fetch_at=now,
        last_status=status,
        error_count=state.error_count + 1,
        last_error=error.message,
        last_new=0,
        last_updated=0,
    )
    if status == 410:
        return replace(failed, enabled=False, disabled_reason=error.message, next_check_at=None)
    due = next_check_at(
        now,
        interval=interval,
        error_count=failed.error_count,
        retry_after=error.retry_after if isinstance(error, FetchError) else None,
        min_interval=fetch.min_interval,
        max_interval=fetch.max_interval,
        backoff_cap=fetch.backoff_cap,
        jitter=_jitter(state.id, now),
    )
    return replace(failed, next_check_at=due)


def _jitter(source_id: str, now: datetime) -> float:
    # Deterministic per source and run, so tests and repeated runs agree.
    return random.Random(f"{source_id}@{now.isoformat()}").random()
