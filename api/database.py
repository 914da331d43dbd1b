"""The analytics database as the datamarts API sees it: one pooled SQLAlchemy engine per URL.

The pipeline's publish stage copies the five gold datamarts (and `publish_log`) into the
analytics DB named by `Settings.analytics_db_url` — a SQLite file in the embedded mode,
PostgreSQL in containers. This module turns that URL into an engine the routes borrow
connections from, and turns database failures into the two reasons a client can act on:
the database cannot be reached, or the datamarts have not been published yet.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from lakehouse.database import ANALYTICS_DB_SETTING, create_engine_for

NOT_PUBLISHED_HINT = "datamarts not published yet: run `lakehouse pipeline run`"


class ServiceUnavailable(Exception):
    """The API cannot answer right now; the message says why (served as 503)."""


class DatabaseUnavailable(ServiceUnavailable):
    """The analytics database refused the connection or the query failed on its side."""


class DatamartsNotPublished(ServiceUnavailable):
    """The database answers, but a datamart table (or the publish log) is missing."""


def make_engine(url: str | SecretStr) -> Engine:
    """A pooled engine for `url`; a malformed URL fails here, at start-up, not at first use.

    Built by the platform's one factory (`lakehouse.database`): pre-ping after a database
    restart, psycopg 3 for PostgreSQL, errors that name the setting and never echo the URL.

    Args:
        url: the analytics database URL (`LAKEHOUSE_ANALYTICS_DB_URL`).

    Returns:
        A reader's SQLAlchemy engine (a missing SQLite folder is not created); no connection
        is opened yet.
    """
    return create_engine_for(url, ANALYTICS_DB_SETTING, writer=False)


@lru_cache(maxsize=8)
def engine_for(url: str | SecretStr) -> Engine:
    """The process-wide engine for `url`, so every request shares one connection pool.

    Args:
        url: the analytics database URL.

    Returns:
        The engine built by `make_engine` on the first call for `url`, then the same one.
    """
    return make_engine(url)


def _is_missing_table(exc: SQLAlchemyError) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _short_reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    first_line = (str(original).strip().splitlines() or [""])[0]
    return f"{original.__class__.__name__}: {first_line}"[:300]


def translate_error(exc: SQLAlchemyError) -> ServiceUnavailable:
    """Map a database error to the reason a client (or an operator) can act on.

    Args:
        exc: the error SQLAlchemy raised while reading a datamart.

    Returns:
        `DatamartsNotPublished` when a table is missing, else `DatabaseUnavailable` naming the
        driver error's class and first line (both answered as 503).
    """
    if _is_missing_table(exc):
        return DatamartsNotPublished(NOT_PUBLISHED_HINT)
    return DatabaseUnavailable(f"analytics database unavailable ({_short_reason(exc)})")
