"""The one registry of served datamarts, and the queries that read them.

The pipeline publishes five gold tables into the analytics DB; `DATAMARTS` maps each API
resource name to its table, its key column and its response schema, and every route of
`api.routers.datamart` is generated from it. Queries are built with SQLAlchemy Core from the
registry's column names only — user input reaches the database solely as bound parameters —
and rows leave as plain dicts, ready for the schemas.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_args

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from api import schemas
from api.database import translate_error
from lakehouse import catalog
from lakehouse.database import publish_log


class Datamart(NamedTuple):
    """How one resource is served: its table, its key column, its row and page schemas."""

    table: str
    key: str
    schema: type[BaseModel]
    page_schema: type[BaseModel]
    # Columns offered as `min_<col>` / `max_<col>` list filters.
    filters: tuple[str, ...] = ("tx_count", "labeled_count", "fraud_count", "fraud_rate")


def _datamart(
    table: str, schema: type[BaseModel], page_schema: type[BaseModel], **options: Any
) -> Datamart:
    # The table's key is declared once, on its catalog entry (the publish stage indexes it).
    (key,) = catalog.entry(table).key
    return Datamart(table, key, schema, page_schema, **options)


DATAMARTS: dict[str, Datamart] = {
    "client_features": _datamart(
        "dm_client_features", schemas.ClientFeaturePublic, schemas.ClientFeaturesPublic
    ),
    "card_features": _datamart(
        "dm_card_features", schemas.CardFeaturePublic, schemas.CardFeaturesPublic
    ),
    "velocity": _datamart(
        "dm_client_velocity",
        schemas.ClientVelocityPublic,
        schemas.ClientVelocitiesPublic,
        filters=("active_days", "avg_daily_txn", "max_daily_txn"),
    ),
    "mcc_risk": _datamart("dm_mcc_fraud_risk", schemas.MccRiskPublic, schemas.MccRisksPublic),
    "time_distribution": _datamart(
        "dm_time_of_day_fraud", schemas.HourFraudPublic, schemas.HourFraudsPublic
    ),
}


def columns(schema: type[BaseModel]) -> list[str]:
    """The table's columns, in the order of the schema (the datamart's original order).

    Args:
        schema: the datamart's public schema (`api.schemas`).

    Returns:
        The column names.
    """
    return list(schema.model_fields)


def numeric_columns(schema: type[BaseModel]) -> list[str]:
    """Columns holding numbers: the only ones a list may be sorted by.

    Args:
        schema: the datamart's public schema (`api.schemas`).

    Returns:
        The names of its int and float fields.
    """
    numeric = []
    for name, info in schema.model_fields.items():
        kinds = set(get_args(info.annotation)) or {info.annotation}
        if kinds & {int, float}:
            numeric.append(name)
    return numeric


def table_of(datamart: Datamart) -> sa.TableClause:
    """A lightweight table handle: no reflection, so a request costs no extra round trip.

    Args:
        datamart: an entry of `DATAMARTS`.

    Returns:
        The table with the schema's columns.
    """
    return sa.table(datamart.table, *(sa.column(name) for name in columns(datamart.schema)))


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for, already validated by the route."""

    limit: int = 50
    offset: int = 0
    sort: str | None = None  # "col" ascending, "-col" descending; None = by key
    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    # PostgreSQL stores NaN in DOUBLE columns; JSON has no NaN, so it is served as null.
    return {
        name: None if isinstance(value, float) and math.isnan(value) else value
        for name, value in row.items()
    }


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection whose database errors surface as `ServiceUnavailable` (served as 503).

    Args:
        engine: the analytics DB.

    Returns:
        A context manager yielding the connection.
    """
    try:
        with engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise translate_error(exc) from exc


def _conditions(table: sa.TableClause, query: ListQuery) -> list[sa.ColumnElement[bool]]:
    conditions = [table.c[name] >= value for name, value in query.minimum.items()]
    conditions += [table.c[name] <= value for name, value in query.maximum.items()]
    return conditions


def _ordering(table: sa.TableClause, key: str, sort: str | None) -> list[Any]:
    if not sort:
        return [table.c[key].asc()]
    name = sort.removeprefix("-")
    column = table.c[name].desc() if sort.startswith("-") else table.c[name].asc()
    # NULL rates go last either way, and the key breaks ties so pages never overlap.
    return [column.nulls_last(), table.c[key].asc()]


def list_rows(engine: Engine, datamart: Datamart, query: ListQuery) -> tuple[list[dict], int]:
    """One page of `datamart` filtered and sorted as asked, and the total matching count.

    Args:
        engine: the analytics DB.
        datamart: an entry of `DATAMARTS`.
        query: page, sort and range filters, validated by the route.

    Returns:
        `(rows, total matching)`; NaN is served as null.
    """
    table = table_of(datamart)
    conditions = _conditions(table, query)
    page = (
        sa.select(table)
        .where(*conditions)
        .order_by(*_ordering(table, datamart.key, query.sort))
        .limit(query.limit)
        .offset(query.offset)
    )
    total = sa.select(sa.func.count()).select_from(table).where(*conditions)
    with reading(engine) as connection:
        rows = [_clean(row) for row in connection.execute(page).mappings()]
        count = int(connection.execute(total).scalar_one())
    return rows, count


def get_row(engine: Engine, datamart: Datamart, key_value: int) -> dict | None:
    """The row of `datamart` whose key equals `key_value`, or None.

    Args:
        engine: the analytics DB.
        datamart: an entry of `DATAMARTS`.
        key_value: the key (client, card, MCC code or hour).

    Returns:
        The row, or None when no row has that key.
    """
    table = table_of(datamart)
    statement = sa.select(table).where(table.c[datamart.key] == key_value).limit(1)
    with reading(engine) as connection:
        row = connection.execute(statement).mappings().first()
    return _clean(row) if row is not None else None


def riskiest(
    connection: Connection, datamart: Datamart, top: int, min_labeled: int
) -> list[dict]:
    """The `top` rows with the highest fraud rate among those with enough labeled rows.

    Args:
        connection: an open connection (`reading`).
        datamart: an entry of `DATAMARTS` with fraud and labeled counts.
        top: how many rows.
        min_labeled: rows with fewer labeled transactions are left out.

    Returns:
        The rows, riskiest first.
    """
    table = table_of(datamart)
    statement = (
        sa.select(table)
        .where(table.c.labeled_count >= min_labeled, table.c.fraud_rate.is_not(None))
        .order_by(table.c.fraud_rate.desc(), table.c.fraud_count.desc(), table.c[datamart.key])
        .limit(top)
    )
    return [_clean(row) for row in connection.execute(statement).mappings()]


def totals(connection: Connection) -> dict[str, int]:
    """Platform-wide counts, summed over the hours (every purchase falls in one hour).

    Args:
        connection: an open connection (`reading`).

    Returns:
        `transaction_count`, `labeled_count` and `fraud_count`.
    """
    table = table_of(DATAMARTS["time_distribution"])
    statement = sa.select(
        sa.func.coalesce(sa.func.sum(table.c.tx_count), 0).label("transaction_count"),
        sa.func.coalesce(sa.func.sum(table.c.labeled_count), 0).label("labeled_count"),
        sa.func.coalesce(sa.func.sum(table.c.fraud_count), 0).label("fraud_count"),
    )
    row = connection.execute(statement).mappings().one()
    return {name: int(value) for name, value in row.items()}


def latest_publications(connection: Connection) -> dict[str, dict]:
    """The latest `publish_log` row of each published table, by table name.

    Args:
        connection: an open connection (`reading`).

    Returns:
        `{table name: its latest publish_log row}`.
    """
    columns = [c for c in publish_log.c if c.name != "id"]
    statement = sa.select(*columns).order_by(publish_log.c.published_at)
    # Later rows overwrite earlier ones: the log is small (one row per table per publish).
    return {row["table_name"]: dict(row) for row in connection.execute(statement).mappings()}
