"""The source DB: table `transaction_data`, where transaction batches land.

This is the operational database of the source system. Batches arrive through the loader
(`lakehouse.sources.loader`, used by `POST /transactions*` and `lakehouse sources load`) and leave
through the pipeline's feeder, which extracts them by `situation_date` into the bronze layer.
Columns are kept as the source file carries them (dollar strings, float-text zips) so bronze
stays one-to-one with the source. SQLite is the embedded default; PostgreSQL is used when
`LAKEHOUSE_SOURCE_DB_URL` points at it; the engine comes from `lakehouse.database`. Everything
here is SQLAlchemy Core.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from lakehouse.database import SOURCE_DB_SETTING, create_engine_for

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

# Labels analysts gave in the case queue (`lakehouse.sources.labels`, sources_api `/labels`).
analyst_labels = sa.Table(
    "analyst_labels",
    metadata,
    sa.Column("transaction_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("is_fraud", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("reviewer", sa.String(64), nullable=True),
    sa.Column("label_known_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# The CSV columns, i.e. every column except the two the loader stamps on each batch.
SOURCE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in transaction_data.columns if c.name not in {"situation_date", "loaded_at"}
)


def ensure_schema(engine: Engine) -> None:
    """Create `transaction_data` (and its index) and `analyst_labels` if missing.

    Args:
        engine: the source DB.
    """
    metadata.create_all(engine, checkfirst=True)


def latest_situation_date(engine_or_connection: Engine | sa.Connection) -> date | None:
    """The most recent `situation_date` present, or None when the table is empty.

    Args:
        engine_or_connection: the source DB, or a connection inside a transaction.

    Returns:
        The date, or None.
    """
    query = sa.select(sa.func.max(transaction_data.c.situation_date))
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as connection:
            value = connection.execute(query).scalar()
    else:
        value = engine_or_connection.execute(query).scalar()
    return as_date(value)


def as_date(value: object) -> date | None:
    """`value` as a date: None, a date, or ISO text (what SQLite gives for an aggregate).

    Args:
        value: what the driver returned.

    Returns:
        The date, or None.
    """
    # An aggregate over a Date column comes back as text on SQLite (no type to apply).
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def table_stats(engine: Engine) -> dict[str, Any]:
    """Row count, first and last situation dates, and the row count of each batch date.

    Args:
        engine: the source DB.

    Returns:
        `{"rows", "min_situation_date", "max_situation_date", "batches": [...]}`.
    """
    column = transaction_data.c.situation_date
    per_date = sa.select(column, sa.func.count()).group_by(column).order_by(column)
    with engine.connect() as connection:
        batches = [
            {"situation_date": as_date(day), "rows": int(count)}
            for day, count in connection.execute(per_date)
        ]
    return {
        "rows": sum(b["rows"] for b in batches),
        "min_situation_date": batches[0]["situation_date"] if batches else None,
        "max_situation_date": batches[-1]["situation_date"] if batches else None,
        "batches": batches,
    }


def source_engine(url: str | SecretStr) -> Engine:
    """An engine on the source DB at `url` (errors name LAKEHOUSE_SOURCE_DB_URL).

    Args:
        url: a SQLAlchemy URL (PostgreSQL URLs are normalised to psycopg).

    Returns:
        The engine.
    """
    return create_engine_for(url, SOURCE_DB_SETTING)
