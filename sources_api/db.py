"""The source DB: table `transaction_data`, where transaction batches land.

This is the operational database of the source system. Batches arrive through the loader
(`sources_api.loader`, used by `POST /transactions*` and `lakehouse sources load`) and leave
through the pipeline's feeder, which extracts them by `situation_date` into the bronze layer.
Columns are kept as the source file carries them (dollar strings, float-text zips) so bronze
stays one-to-one with the source. SQLite is the embedded default; PostgreSQL is used when
`LAKEHOUSE_SOURCE_DB_URL` points at it. Everything here is SQLAlchemy Core.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

metadata = sa.MetaData()

# Column order follows transactions_data.csv so a CSV row maps onto the table positionally.
transaction_data = sa.Table(
    "transaction_data",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("date", sa.String(19), nullable=False),
    sa.Column("client_id", sa.BigInteger, nullable=False),
    sa.Column("card_id", sa.BigInteger, nullable=False),
    sa.Column("amount", sa.String, nullable=False),
    sa.Column("use_chip", sa.String, nullable=False),
    sa.Column("merchant_id", sa.BigInteger, nullable=False),
    sa.Column("merchant_city", sa.String, nullable=False),
    sa.Column("merchant_state", sa.String, nullable=True),
    sa.Column("zip", sa.String, nullable=True),
    sa.Column("mcc", sa.Integer, nullable=False),
    sa.Column("errors", sa.String, nullable=True),
    sa.Column("situation_date", sa.Date, nullable=False),
    sa.Column("loaded_at", sa.DateTime, nullable=False),
    # The feeder extracts "everything after my watermark", so this index is its access path.
    sa.Index("ix_transaction_data_situation_date", "situation_date"),
)

# The CSV columns, i.e. every column except the two the loader stamps on each batch.
SOURCE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in transaction_data.columns if c.name not in {"situation_date", "loaded_at"}
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API and the feeder read while a batch is being written; NORMAL sync is
    # durable across application crashes and much faster than FULL for bulk loads.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def source_db_url(url: str) -> sa.URL:
    """`url` checked and normalised: SQLite or PostgreSQL (psycopg 3), else a clear ValueError."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(
            f"LAKEHOUSE_SOURCE_DB_URL {url!r} is not a database URL; use "
            "sqlite:///path/sources.db or postgresql://user:password@host:5432/db"
        ) from None
    # The project installs psycopg 3; SQLAlchemy's bare `postgresql://` would look for psycopg2.
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ValueError(
            f"the source DB must be SQLite or PostgreSQL, not {parsed.get_backend_name()!r} "
            f"(LAKEHOUSE_SOURCE_DB_URL={parsed.render_as_string(hide_password=True)})"
        )
    return parsed


def create_engine_for(url: str) -> Engine:
    """An engine for the source DB at `url` (SQLite file or PostgreSQL), tuned for loading.

    `postgresql://` URLs are pointed at psycopg 3 (the driver the project installs), and the
    folder of a SQLite file is created so the embedded mode needs no setup.
    """
    parsed = source_db_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # The API serves requests from a thread pool, so connections cross threads.
        engine = sa.create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def ensure_schema(engine: Engine) -> None:
    """Create `transaction_data` and its index if they do not exist (safe to repeat)."""
    metadata.create_all(engine, checkfirst=True)


def latest_situation_date(engine_or_connection: Engine | sa.Connection) -> date | None:
    """The most recent `situation_date` present, or None when the table is empty."""
    query = sa.select(sa.func.max(transaction_data.c.situation_date))
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as connection:
            value = connection.execute(query).scalar()
    else:
        value = engine_or_connection.execute(query).scalar()
    return _as_date(value)


def _as_date(value: object) -> date | None:
    # An aggregate over a Date column comes back as text on SQLite (no type to apply).
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def table_stats(engine: Engine) -> dict[str, Any]:
    """Row count, first and last situation dates, and the row count of each batch date."""
    column = transaction_data.c.situation_date
    per_date = sa.select(column, sa.func.count()).group_by(column).order_by(column)
    with engine.connect() as connection:
        batches = [
            {"situation_date": _as_date(day), "rows": int(count)}
            for day, count in connection.execute(per_date)
        ]
    return {
        "rows": sum(b["rows"] for b in batches),
        "min_situation_date": batches[0]["situation_date"] if batches else None,
        "max_situation_date": batches[-1]["situation_date"] if batches else None,
        "batches": batches,
    }
