"""Structured (JSON) logs for the pipeline and the services.

`configure_logging()` sends one JSON object per line to stderr. When `ELASTICSEARCH_URL` is
set, `lakehouse.observability.elasticsearch` adds a handler that ships the same records in
bulk; that shipping never blocks or crashes the caller.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (see `record_to_document`).

        Args:
            record: the log record.

        Returns:
            The JSON text; values JSON cannot encode are written with `str()`.
        """
        return json.dumps(record_to_document(record), default=str)


def record_to_document(record: logging.LogRecord) -> dict[str, object]:
    """A log record as the document shipped to the log store.

    Args:
        record: the log record.

    Returns:
        `@timestamp` (ISO, UTC), `level`, `logger`, `message`, every `extra=` field, and
        `exception` (the formatted traceback) when the record carries one.
    """
    document: dict[str, object] = {
        "@timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            document[key] = value
    if record.exc_info:
        document["exception"] = logging.Formatter().formatException(record.exc_info)
    return document


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Install the JSON handler on the `lakehouse` logger tree (idempotent).

    A handler installed by an earlier call is replaced, and records no longer propagate to
    the root logger.

    Args:
        level: the `lakehouse` logger's level name (e.g. "INFO").
        stream: where the JSON lines go (default: standard error).
    """
    root = logging.getLogger("lakehouse")
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_lakehouse_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._lakehouse_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
