"""Logging setup, configured only from the CLI: text for people, JSON lines for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure(level: str = "warning", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs two lines a tick at info ("Running job", "executed successfully"):
    # ~34,000 a day at a 5 s tick. They are for debugging the scheduler, not for operators.
    debug = level == "debug"
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if debug else logging.WARNING)
    scheduler = logging.getLogger("apscheduler.scheduler")
    scheduler.removeFilter(_skipped_tick)
    if not debug:
        scheduler.addFilter(_skipped_tick)


def _skipped_tick(record: logging.LogRecord) -> bool:
    """Drops APScheduler's warning that a tick was skipped while a cycle still runs: one
    cycle at a time is the design (max_instances=1), and a cycle of a minute at a 5 s tick
    would otherwise log a dozen warnings."""
    return "maximum number of running instances reached" not in str(record.msg)
