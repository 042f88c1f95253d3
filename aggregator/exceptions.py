"""The one exception tree of the aggregator.

    * AggregatorError
      x ConfigError(ValueError)      a wrong config key or value; names the key
      x SourceError(source_id, url)  one source could not be read; the run goes on
        + FetchError(status)         HTTP / network failure
        + SeedPathError              a seed path that escapes seeds/ or is not a regular file
        + ParseError                 bytes that are not a feed / not a seed document
      x StorageError                 the database failed or is locked
      x PublishError                 the output could not be written
      x RepairError                  a split, join or undo that cannot be made as asked

Only exceptions that are unlikely to be bugs are wrapped into this tree; anything else
propagates, so programming errors crash loudly instead of being reported as a bad feed.
"""

from __future__ import annotations

from datetime import datetime


class AggregatorError(Exception):
    """Base class of every error the aggregator reports to its user."""


class ConfigError(AggregatorError, ValueError):
    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class SourceError(AggregatorError):
    def __init__(self, message: str, *, source_id: str, url: str) -> None:
        self.source_id = source_id
        self.url = url
        self.message = message
        super().__init__(f"{source_id} ({url}): {message}")


class FetchError(SourceError):
    def __init__(
        self,
        message: str,
        *,
        source_id: str,
        url: str,
        status: int | None = None,
        retry_after: datetime | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after  # 429/503: when the server allows the next request
        super().__init__(message, source_id=source_id, url=url)


class SeedPathError(SourceError):
    pass


class ParseError(SourceError):
    pass


class StorageError(AggregatorError):
    pass


class PublishError(AggregatorError):
    pass


class RepairError(AggregatorError):
    pass
