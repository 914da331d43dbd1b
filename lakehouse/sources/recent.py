"""What reached the source system lately: batch counts, the rows of a batch date, labels.

The online store's source feed (`lakehouse.features.online.feed`) asks here, between pipeline
runs, what the lake does not hold yet. It reads the source DB the way the feeder does — by
`situation_date`, the immutable business date of each batch, which only moves forward — so a
batch loaded after the lake's newest date is found whatever its transaction times are:
`batch_counts` (one indexed GROUP BY) says which dates grew, `transactions_of_day` reads one
date's rows, and `analyst_labels_signature` / `analyst_labels_known_after` do the same for the
labels analysts recorded (`lakehouse.sources.labels`). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lakehouse.sources.schema import analyst_labels, as_date, transaction_data

ROWS_PER_FETCH = 5_000


class SourceLabel(NamedTuple):
    """An analyst's label with its transaction's merchant and MCC (None: not in the source)."""

    transaction_id: int
    is_fraud: bool
    label_known_at: datetime  # aware, UTC
    merchant_id: int | None
    mcc: int | None


def has_tables(engine: Engine) -> tuple[bool, bool]:
    """Whether `transaction_data` and `analyst_labels` exist (a fresh source has neither).

    Args:
        engine: the source DB.

    Returns:
        (has `transaction_data`, has `analyst_labels`).
    """
    inspector = sa.inspect(engine)
    return inspector.has_table("transaction_data"), inspector.has_table("analyst_labels")


def batch_counts(engine: Engine, since: date) -> dict[date, int]:
    """Row count of every situation date from `since` on (the date's batches together).

    Args:
        engine: the source DB.
        since: the first situation date counted.

    Returns:
        Situation date -> rows loaded under it; dates without rows are absent.
    """
    column = transaction_data.c.situation_date
    query = sa.select(column, sa.func.count()).where(column >= since).group_by(column)
    with engine.connect() as connection:
        return {as_date(day): int(count) for day, count in connection.execute(query)}  # type: ignore[misc]


def transactions_of_day(
    engine: Engine, day: date, not_before: datetime | None = None
) -> Iterator[sa.Row]:
    """The rows of one situation date as the source holds them (text amounts, dates), by id.

    Args:
        engine: the source DB.
        day: the situation date.
        not_before: skip transactions dated earlier (the source's `date` is ISO text, so
            comparing text compares times).

    Yields:
        Each row, every column but `loaded_at`, fetched `ROWS_PER_FETCH` at a time.
    """
    query = (
        sa.select(*(c for c in transaction_data.c if c.name != "loaded_at"))
        .where(transaction_data.c.situation_date == day)
        .order_by(transaction_data.c.id)
    )
    if not_before is not None:
        query = query.where(transaction_data.c.date >= not_before.strftime("%Y-%m-%d %H:%M:%S"))
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=ROWS_PER_FETCH).execute(query)
        yield from result


def analyst_labels_signature(engine: Engine) -> tuple[int, str]:
    """(count, newest `recorded_at`) of the analysts' labels: changes on every insert or update.

    Args:
        engine: the source DB.

    Returns:
        The number of labels and the newest `recorded_at` as text ("None" without labels).
    """
    query = sa.select(sa.func.count(), sa.func.max(analyst_labels.c.recorded_at))
    with engine.connect() as connection:
        count, newest = connection.execute(query).one()
    return int(count), str(newest)


def analyst_labels_known_after(engine: Engine, after: datetime) -> list[SourceLabel]:
    """Analysts' labels known after `after` (aware), oldest known first.

    Args:
        engine: the source DB.
        after: labels known at or before this time are left out.

    Returns:
        One `SourceLabel` per label, with the transaction's merchant and MCC when the source
        holds the transaction (None otherwise); times aware, in UTC.
    """
    labels, transactions = analyst_labels.c, transaction_data.c
    query = (
        sa.select(
            labels.transaction_id,
            labels.is_fraud,
            labels.label_known_at,
            transactions.merchant_id,
            transactions.mcc,
        )
        .select_from(
            analyst_labels.outerjoin(transaction_data, transactions.id == labels.transaction_id)
        )
        .where(labels.label_known_at > after)
        .order_by(labels.label_known_at, labels.transaction_id)
    )
    with engine.connect() as connection:
        rows = list(connection.execute(query))
    # SQLite gives the stored UTC time back naive
    return [SourceLabel(r[0], bool(r[1]), _utc(r[2]), r[3], r[4]) for r in rows]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
