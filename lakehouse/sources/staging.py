"""Fast, atomic bulk insert of one batch into `transaction_data`, per database dialect.

The loader (`lakehouse.sources.loader`) validates a batch chunk by chunk and hands every valid chunk
to a stager, which parks the rows in a temporary staging table inside one open transaction.
Only when the whole batch is known to be valid does the stager move the rows into
`transaction_data` with one `INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING`, stamped with the
batch's `situation_date`, and commit. Any failure before that rolls everything back, so the
table never holds part of a batch. The staging step is what lets the situation date be decided
at the end (it may depend on the latest transaction date in the batch).

- PostgreSQL: psycopg 3 `COPY ... FROM STDIN` (CSV) into a `TEMP ... ON COMMIT DROP` table, under
  a table lock that serialises concurrent loads while leaving readers free.
- SQLite: `BEGIN IMMEDIATE` (the write lock for the whole load, readers continue under WAL), then
  `executemany` into a temp table.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy.engine import Engine

from lakehouse.sources.schema import SOURCE_COLUMNS, as_date

STAGING_TABLE = "staging_transaction_data"
_OPTIONAL = {"merchant_state", "zip", "errors"}
_COLUMN_TYPES = {
    "id": "BIGINT",
    "date": "VARCHAR(19)",
    "client_id": "BIGINT",
    "card_id": "BIGINT",
    "amount": "VARCHAR",
    "use_chip": "VARCHAR",
    "merchant_id": "BIGINT",
    "merchant_city": "VARCHAR",
    "merchant_state": "VARCHAR",
    "zip": "VARCHAR",
    "mcc": "INTEGER",
    "errors": "VARCHAR",
}
_COLUMN_LIST = ", ".join(f'"{name}"' for name in SOURCE_COLUMNS)
_STAGING_DDL = ", ".join(f'"{name}" {_COLUMN_TYPES[name]}' for name in SOURCE_COLUMNS)
# Empty optional fields become NULL, as in the contract ("merchant_state VARCHAR NULL").
_SELECT_LIST = ", ".join(
    f"NULLIF(\"{name}\", '')" if name in _OPTIONAL else f'"{name}"' for name in SOURCE_COLUMNS
)


class Stager(Protocol):
    """What the loader needs from a dialect: stage rows, read the latest date, commit.

    `PostgresStager` and `SqliteStager` implement it; their methods follow these contracts.
    """

    def stage(self, chunk: pd.DataFrame) -> None:
        """Add rows to the batch's staging table (nothing is visible before `commit`).

        Args:
            chunk: validated rows with the `SOURCE_COLUMNS`, as text.
        """
        ...

    def latest_situation_date(self) -> date | None:
        """The newest business date already loaded, read inside the batch's transaction.

        Returns:
            That date, or None when the source table is empty.
        """
        ...

    def commit(self, situation_date: date, loaded_at: datetime) -> int:
        """Move the staged rows into `transaction_data`, stamped, and commit.

        Args:
            situation_date: the batch's business date.
            loaded_at: when it was loaded.

        Returns:
            How many rows were new (an id already loaded is skipped).
        """
        ...


class PostgresStager:
    """COPY into a temporary table, then one set-based insert; see the module docstring."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.cursor.execute(f"CREATE TEMP TABLE {STAGING_TABLE} ({_STAGING_DDL}) ON COMMIT DROP")

    def stage(self, chunk: pd.DataFrame) -> None:
        """`Stager.stage`: the chunk as CSV (written by Arrow) through COPY."""
        # CSV is the fastest text COPY ingests, and Arrow writes it in C++ (pandas' to_csv is
        # several times slower). Empty strings stay "" here; the final NULLIF maps them.
        table = pa.Table.from_pandas(chunk.loc[:, list(SOURCE_COLUMNS)], preserve_index=False)
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        with self.cursor.copy(
            f"COPY {STAGING_TABLE} ({_COLUMN_LIST}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getbuffer())

    def latest_situation_date(self) -> date | None:
        """`Stager.latest_situation_date`, after locking out other loaders until commit."""
        # Blocks other loaders (not readers) until commit, so "latest" cannot change under us.
        self.cursor.execute("LOCK TABLE transaction_data IN SHARE ROW EXCLUSIVE MODE")
        self.cursor.execute("SELECT max(situation_date) FROM transaction_data")
        return as_date(self.cursor.fetchone()[0])

    def commit(self, situation_date: date, loaded_at: datetime) -> int:
        """`Stager.commit`: one INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING."""
        self.cursor.execute(
            f"INSERT INTO transaction_data ({_COLUMN_LIST}, situation_date, loaded_at) "
            f"SELECT {_SELECT_LIST}, %s, %s FROM {STAGING_TABLE} "
            "ON CONFLICT (id) DO NOTHING",
            (situation_date, loaded_at),
        )
        inserted = self.cursor.rowcount
        self.connection.commit()
        return int(inserted)


class SqliteStager:
    """executemany into a temporary table under `BEGIN IMMEDIATE`; see the module docstring."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self.cursor.execute("BEGIN IMMEDIATE")
        self.cursor.execute(f"DROP TABLE IF EXISTS temp.{STAGING_TABLE}")
        self.cursor.execute(f"CREATE TEMP TABLE {STAGING_TABLE} ({_STAGING_DDL})")
        placeholders = ", ".join("?" for _ in SOURCE_COLUMNS)
        self.insert_sql = f"INSERT INTO temp.{STAGING_TABLE} VALUES ({placeholders})"

    def stage(self, chunk: pd.DataFrame) -> None:
        """`Stager.stage`: executemany into the temporary table."""
        # Column-wise tolist() then zip is several times faster than itertuples on wide text.
        columns = [chunk[name].tolist() for name in SOURCE_COLUMNS]
        self.cursor.executemany(self.insert_sql, zip(*columns, strict=True))

    def latest_situation_date(self) -> date | None:
        """`Stager.latest_situation_date` (the `BEGIN IMMEDIATE` lock holds)."""
        self.cursor.execute("SELECT max(situation_date) FROM transaction_data")
        return as_date(self.cursor.fetchone()[0])

    def commit(self, situation_date: date, loaded_at: datetime) -> int:
        """`Stager.commit`: one upsert from the temporary table, then COMMIT."""
        # Stored in SQLAlchemy's SQLite text formats so typed reads give date/datetime back.
        # `WHERE true` is SQLite's required disambiguation for an upsert fed by a SELECT.
        self.cursor.execute(
            f"INSERT INTO transaction_data ({_COLUMN_LIST}, situation_date, loaded_at) "
            f"SELECT {_SELECT_LIST}, ?, ? FROM temp.{STAGING_TABLE} WHERE true "
            "ON CONFLICT (id) DO NOTHING",
            (situation_date.isoformat(), loaded_at.isoformat(sep=" ", timespec="microseconds")),
        )
        inserted = self.cursor.rowcount
        self.cursor.execute(f"DROP TABLE temp.{STAGING_TABLE}")
        self.cursor.execute("COMMIT")
        return int(inserted)


@contextmanager
def open_stager(engine: Engine) -> Iterator[Stager]:
    """A stager on a pooled connection of `engine`; rolled back unless it committed.

    Args:
        engine: the source DB (PostgreSQL or SQLite).

    Returns:
        A context manager yielding the dialect's `Stager`.

    Raises:
        ValueError: another database dialect.
    """
    raw = engine.raw_connection()
    driver = raw.driver_connection
    dialect = engine.dialect.name
    try:
        if dialect == "postgresql":
            yield PostgresStager(driver)
        elif dialect == "sqlite":
            # Manual transaction control: pysqlite's implicit BEGIN would be a deferred one.
            previous = driver.isolation_level
            driver.isolation_level = None
            try:
                yield SqliteStager(driver)
            finally:
                if driver.in_transaction:
                    driver.execute("ROLLBACK")
                driver.execute(f"DROP TABLE IF EXISTS temp.{STAGING_TABLE}")
                driver.isolation_level = previous
        else:
            raise ValueError(f"the source DB must be SQLite or PostgreSQL, not {dialect!r}")
    except BaseException:
        if dialect == "postgresql":
            driver.rollback()
        raise
    finally:
        raw.close()
