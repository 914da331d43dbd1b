"""The one SQLAlchemy engine factory of the platform (source DB and analytics DB).

Two relational databases take part: the source DB (`LAKEHOUSE_SOURCE_DB_URL`, where
transaction batches land) and the analytics DB (`LAKEHOUSE_ANALYTICS_DB_URL`, where the
publish stage copies the datamarts for the API). Each is a SQLite file in the embedded mode
and PostgreSQL in containers. Every engine on either is built here, so they all share the
same rules:

- only SQLite and PostgreSQL are accepted; a bare `postgresql://` URL is pointed at psycopg 3
  (the driver the project installs; SQLAlchemy would otherwise look for psycopg2);
- a malformed URL is reported by the name of its setting, never by its value (it may carry
  a password);
- `pool_pre_ping`: a connection the server closed (restart, failover) is replaced before a
  query sees it, so services recover by themselves after a database restart;
- SQLite: a writer's file folder is created, connections may cross threads (the APIs serve from a
  thread pool), WAL lets readers read while a batch or a publish is written, and a writer
  waits up to 30 s for the lock instead of failing at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url

from lakehouse.config import ConfigurationError

# The settings the two databases come from, named in errors instead of their values.
SOURCE_DB_SETTING = "LAKEHOUSE_SOURCE_DB_URL"
ANALYTICS_DB_SETTING = "LAKEHOUSE_ANALYTICS_DB_URL"
SQLITE_TIMEOUT_SECONDS = 30
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


# The analytics DB's record of every publish: the publish stage appends one row per table it
# swaps in; the datamarts API reads the latest row of each for /health and /summary.
publish_log = sa.Table(
    "publish_log",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("table_name", sa.String(64), nullable=False, index=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("lake_version", sa.BigInteger, nullable=False),
)


class DatabaseUrlError(ConfigurationError):
    """A database setting is not usable; the message names the setting, never its value."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the APIs and the feeder read while a batch is being written; NORMAL sync is
    # durable across application crashes and much faster than FULL for bulk loads.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def database_url(url: str | SecretStr, setting: str) -> sa.URL:
    """`url` checked and normalised: SQLite or PostgreSQL (psycopg 3).

    Args:
        url: the database URL (it may carry a password, hence the SecretStr form).
        setting: the environment variable it came from, named in errors.

    Returns:
        The parsed URL. Raises `DatabaseUrlError` naming `setting` (never the value).
    """
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    try:
        parsed = make_url(text)
    except sa.exc.ArgumentError:
        raise DatabaseUrlError(
            f"{setting} is not a database URL; use sqlite:///path/file.db or "
            "postgresql://user:password@host:5432/db"
        ) from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise DatabaseUrlError(
            f"{setting} must point at SQLite or PostgreSQL, not {backend!r}; use "
            "sqlite:///path/file.db or postgresql://user:password@host:5432/db"
        )
    return parsed


def create_engine_for(
    url: str | SecretStr, setting: str = "the database URL", *, writer: bool = True
) -> Engine:
    """A pooled engine for the SQLite file or PostgreSQL database at `url`.

    Args:
        url: the database URL.
        setting: the environment variable it came from, named in errors.
        writer: create the folder of a SQLite file (writers); a reader leaves a missing
            folder missing, so it reports the database unavailable instead of empty.

    Returns:
        The engine (no connection is opened yet). Raises `DatabaseUrlError` on a bad URL.
    """
    parsed = database_url(url, setting)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if writer and database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_TIMEOUT_SECONDS},
            pool_pre_ping=True,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
    )
