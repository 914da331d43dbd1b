"""Features of a few events by re-running the `ml_features` SQL over their history.

The reference path: what the scoring API did before the online store, and still the baseline
its benchmark compares against. `compute_features_for_events` runs the generated batch SQL
in-process (DuckDB) over the events' cards' and clients' recent silver rows plus the events,
with the known-label tallies (`label_summary`) standing in for the labeled history.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.engines.duckdb import connect
from lakehouse.features.batch_sql import features_sql, labels_daily_sql
from lakehouse.features.declarations import (
    LABEL_SUMMARY_COLUMNS,
    SILVER_INPUT_COLUMNS,
)


def _run_duckdb(
    sql: str, inputs: Mapping[str, pa.Table], connection: duckdb.DuckDBPyConnection | None = None
) -> pa.Table:
    own = connection is None
    if own:
        # A private in-memory connection per call: thread-safe, nothing leaks between calls.
        connection = connect(threads=1)
    assert connection is not None
    try:
        for name, table in inputs.items():
            connection.register(name, table)
        return connection.sql(sql).to_arrow_table()
    finally:
        for name in inputs:
            connection.unregister(name)
        if own:
            connection.close()


def silver_frame(table: pa.Table) -> pa.Table:
    """The columns the SQL reads, in a fixed order; a missing label means 'not known'.

    Args:
        table: silver-shaped transactions; `label` and `label_known_at` may be absent.

    Returns:
        The `SILVER_INPUT_COLUMNS` in that order, absent labels added as nulls.

    Raises:
        ValueError: another silver column is missing.
    """
    if "label" not in table.column_names:
        table = table.append_column("label", pa.nulls(table.num_rows, pa.int32()))
    if "label_known_at" not in table.column_names:
        table = table.append_column("label_known_at", pa.nulls(table.num_rows, pa.timestamp("us")))
    missing = [c for c in SILVER_INPUT_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"transactions lack the silver columns {missing}")
    return table.select(SILVER_INPUT_COLUMNS)


def compute_features_for_events(
    history: pa.Table,
    events: pa.Table,
    *,
    label_summary: pa.Table,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Feature rows of `events`, computed by the `ml_features` SQL over `history` ∪ `events`.

    Args:
        history: silver rows of the events' cards and clients over the last `HISTORY_DAYS`.
        events: the transactions to score (silver columns; label optional).
        label_summary: known-label tallies (`label_summary`).
        connection: a DuckDB connection to reuse (one thread at a time); None opens one.

    Returns:
        One row per event, `KEY_COLUMNS` + `FEATURE_COLUMNS`, in the events' order.
    """
    history = silver_frame(history)
    events = silver_frame(events).cast(history.schema)
    # An event already present in the history is the same transaction: the event copy wins.
    keep = pc.invert(pc.is_in(history["transaction_id"], value_set=events["transaction_id"]))
    ids = pa.table(
        {
            "transaction_id": events["transaction_id"].cast(pa.int64()),
            "event_order": pa.array(range(events.num_rows), pa.int64()),
        }
    )
    inputs = {
        "silver_transactions": pa.concat_tables([history.filter(keep), events]),
        "label_summary": label_summary.select(LABEL_SUMMARY_COLUMNS),
        "event_ids": ids,
    }
    wrapped = (
        f"SELECT f.* FROM ({features_sql('label_summary')}) AS f JOIN event_ids AS e "
        "ON f.transaction_id = e.transaction_id ORDER BY e.event_order"
    )
    return _run_duckdb(wrapped, inputs, connection)


def label_summary(silver: pa.Table, *, as_of_day: int | None = None) -> pa.Table:
    """Known-label tallies per (merchant, MCC, known day) of silver rows.

    With `as_of_day` (days since 1970-01-01 of the first day to be scored), the days older than
    the longest recent-label window fold into one row per (merchant, MCC) just before it: the
    cumulative and the windowed sums stay identical for any event on or after `as_of_day`, and
    the state shrinks to one row per pair plus the recent days.

    Args:
        silver: silver_transactions rows with their labels.
        as_of_day: the first day to be scored, or None to keep every day.

    Returns:
        The tallies, as `compute_features_for_events` reads them.
    """
    return _run_duckdb(labels_daily_sql(as_of_day), {"silver_transactions": silver})
