"""Publish: copy the five gold datamarts into the analytics DB, atomically.

The datamarts API and Grafana read the analytics DB (SQLite by default, PostgreSQL by URL),
never the lake. For each datamart this module reads the gold Delta snapshot, loads it into a
staging table (COPY on PostgreSQL, batched inserts on SQLite), then — in ONE transaction —
drops the live table, renames the staging table into its place, indexes the key and appends
a row to `publish_log`. Both databases run that DDL transactionally, so a reader sees the old
table or the new one, never a half-loaded one. A datamart whose gold version is already the
published one is skipped.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from pydantic import SecretStr

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.database import ANALYTICS_DB_SETTING, create_engine_for, publish_log
from lakehouse.pipeline.runner import StageResult, pause_point

logger = logging.getLogger("lakehouse.pipeline.publish")

STAGING_PREFIX = "_staging_"



def analytics_engine(url: str | SecretStr) -> sa.Engine:
    """An engine on the analytics DB whose transactions really wrap DDL, on SQLite too.

    Python's sqlite3 driver only opens a transaction before DML, so a DROP and a RENAME would
    each commit on their own; taking over BEGIN makes the swap one atomic transaction.

    Args:
        url: `LAKEHOUSE_ANALYTICS_DB_URL`.

    Returns:
        The engine.
    """
    engine = create_engine_for(url, ANALYTICS_DB_SETTING)
    if engine.dialect.name != "sqlite":
        return engine

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _column_type(dtype: pa.DataType) -> sa.types.TypeEngine:
    if pa.types.is_boolean(dtype):
        return sa.Boolean()
    if pa.types.is_integer(dtype):
        return sa.BigInteger()
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return sa.Float(precision=53)
    if pa.types.is_date(dtype):
        return sa.Date()
    if pa.types.is_timestamp(dtype):
        return sa.DateTime()
    return sa.Text()


def _staging_table(name: str, schema: pa.Schema) -> sa.Table:
    return sa.Table(
        STAGING_PREFIX + name,
        sa.MetaData(),
        *(sa.Column(f.name, _column_type(f.type)) for f in schema),
    )


def _load_staging(connection: sa.Connection, table: sa.Table, data: pa.Table) -> None:
    """Fill the staging table: COPY on PostgreSQL, executemany elsewhere."""
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT csv)') as copy:
            copy.write(buffer.getvalue())
        return
    for batch in data.to_batches(max_chunksize=20_000):
        connection.execute(table.insert(), batch.to_pylist())


def publish_table(engine: sa.Engine, name: str, data: pa.Table, lake_version: int) -> None:
    """Load `data` as table `name` and swap it in atomically (with a publish_log row).

    Args:
        engine: the analytics DB (`analytics_engine`).
        name: the datamart's catalog name.
        data: its rows.
        lake_version: the gold version they come from (recorded in publish_log).
    """
    staging = _staging_table(name, data.schema)
    with engine.begin() as connection:
        staging.drop(connection, checkfirst=True)
        staging.create(connection)
        _load_staging(connection, staging, data)
    preparer = engine.dialect.identifier_preparer
    keys = ", ".join(preparer.quote(k) for k in catalog.entry(name).key)
    with engine.begin() as connection:
        publish_log.create(connection, checkfirst=True)
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(name)}")
        connection.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(staging.name)} RENAME TO {preparer.quote(name)}"
        )
        if keys:
            connection.exec_driver_sql(
                f"CREATE INDEX {preparer.quote('ix_' + name + '_key')} "
                f"ON {preparer.quote(name)} ({keys})"
            )
        connection.execute(
            publish_log.insert().values(
                table_name=name,
                published_at=datetime.now(UTC),
                row_count=data.num_rows,
                lake_version=lake_version,
            )
        )


def published_version(engine: sa.Engine, name: str) -> int | None:
    """The lake version of the last publish of `name` (None when never published).

    Args:
        engine: the analytics DB.
        name: the datamart's catalog name.

    Returns:
        The version, or None.
    """
    if not sa.inspect(engine).has_table(publish_log.name):
        return None
    query = (
        sa.select(publish_log.c.lake_version)
        .where(publish_log.c.table_name == name)
        .order_by(publish_log.c.id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def publish_datamarts(settings: Settings, *, force: bool = False) -> StageResult:
    """Publish every datamart whose gold version moved since its last publish.

    Args:
        settings: the lake and the analytics DB.
        force: publish even the datamarts whose version did not move.

    Returns:
        The stage's result (rows published, or `up_to_date`).
    """
    result = StageResult("publish")
    engine = analytics_engine(settings.analytics_db_url or "")
    try:
        for name in catalog.DATAMARTS:
            uri = catalog.location(name, settings)
            version = storage.version(uri, settings)
            if version is None:
                raise FileNotFoundError(f"gold table {name} does not exist: run the gold stage")
            exists = sa.inspect(engine).has_table(name)
            if not force and exists and published_version(engine, name) == version:
                continue
            data = storage.read_table(uri, settings)
            publish_table(engine, name, data, version)
            result.rows_in += data.num_rows
            result.rows_out += data.num_rows
            result.tables[name] = version
            logger.info(
                "datamart published",
                extra={"table": name, "rows": data.num_rows, "lake_version": version},
            )
            pause_point("publish")
    finally:
        engine.dispose()
    if not result.tables:
        result.status = "up_to_date"
    return result
