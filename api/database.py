"""The analytics database as the datamarts API sees it: one pooled SQLAlchemy engine per URL.

The pipeline's publish stage copies the five gold datamarts (and `publish_log`) into the
analytics DB named by `Settings.analytics_db_url` — a SQLite file in the embedded mode,
PostgreSQL in containers. This module turns that URL into an engine the routes borrow
connections from, and turns database failures into the two reasons a client can act on:
the database cannot be reached, or the datamarts have not been published yet.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

NOT_PUBLISHED_HINT = "datamarts not published yet: run `lakehouse pipeline run`"
PUBLISH_LOG_TABLE = "publish_log"


class ServiceUnavailable(Exception):
    """The API cannot answer right now; the message says why (served as 503)."""


class DatabaseUnavailable(ServiceUnavailable):
    """The analytics database refused the connection or the query failed on its side."""


class DatamartsNotPublished(ServiceUnavailable):
    """The database answers, but a datamart table (or the publish log) is missing."""


BAD_URL_HINT = (
    "LAKEHOUSE_ANALYTICS_DB_URL is not a database URL: use e.g. sqlite:///data/analytics.db "
    "or postgresql+psycopg://user:password@host:5432/lakehouse_analytics"
)


def make_engine(url: str) -> Engine:
    """A pooled engine for `url`; a malformed URL fails here, at start-up, not at first use."""
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError as exc:
        # The URL may hold a password: the message names the setting, never echoes the value.
        raise ValueError(BAD_URL_HINT) from exc
    if parsed.get_backend_name() == "sqlite":
        # Worker threads share the pool, and a publish in progress holds a write lock for a
        # moment: wait for it rather than failing the request at once.
        return sa.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 15})
    connect_args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql":
        # psycopg 3 is the driver the project installs; a bare postgresql:// would ask for psycopg2.
        if parsed.drivername in {"postgresql", "postgres"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args["connect_timeout"] = 5
    # pre_ping drops connections the server closed (restart, failover) before a query sees them.
    return sa.create_engine(
        parsed, pool_size=5, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """The process-wide engine for `url`, so every request shares one connection pool."""
    return make_engine(url)


def _is_missing_table(exc: SQLAlchemyError) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _short_reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    first_line = (str(original).strip().splitlines() or [""])[0]
    return f"{original.__class__.__name__}: {first_line}"[:300]


def translate_error(exc: SQLAlchemyError) -> ServiceUnavailable:
    """Map a database error to the reason a client (or an operator) can act on."""
    if _is_missing_table(exc):
        return DatamartsNotPublished(NOT_PUBLISHED_HINT)
    return DatabaseUnavailable(f"analytics database unavailable ({_short_reason(exc)})")
