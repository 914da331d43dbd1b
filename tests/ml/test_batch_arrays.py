"""The window aggregates on sorted columns equal the generated SQL windows.

`batch_arrays.window_columns` evaluates every `rows="all"` declaration without SQL; here it
runs beside the SQL windows (`features_sql` over the same `tx` rows, DuckDB) on rows built to
hit the edges: rows in the same second, rows exactly `window` and one second before a row,
a NULL merchant state, refunds that cancel a purchase, one-row partitions. Counts, last-seen
and sums must be equal (money is summed exactly in both: DECIMAL cents in the SQL, integer
cents on columns), deviations within 1e-9. Amounts that are not whole cents make it decline
(None), and the ranges of `feature_chunks` then still equal the one-shot SQL.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from ml_samples import silver_sample

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.features.batch_arrays import window_aggregates, window_columns
from lakehouse.features.batch_sql import (
    day_counts_sql,
    feature_chunks,
    features_sql,
    time_ranges,
    tx_sql,
    window_sql,
)
from lakehouse.features.declarations import DAY, HISTORY_SECONDS


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


def _edge_silver() -> pa.Table:
    """A sample with the edges added: ties, exact window bounds, NULL state, cancelling refunds."""
    sample = silver_sample(rows=1_500, days=70, clients=6, seed=11)
    rows = sample.slice(0, 12).to_pylist()
    base = rows[0]["ts"]
    offsets = [0, 0, 1, 3_600, 3_601, DAY, DAY + 1, 7 * DAY, HISTORY_SECONDS,
               HISTORY_SECONDS + 1, HISTORY_SECONDS + 1, 2 * HISTORY_SECONDS]
    amounts = [10.1, -10.1, 0.2, 33.33, -33.33, 0.1, 0.2, -0.3, 5.55, 5.55, 5.55, 1.0]
    extra = []
    for i, (row, offset, amount) in enumerate(zip(rows, offsets, amounts, strict=True)):
        extra.append({**row, "transaction_id": 10_000_000 + i, "client_id": 999, "card_id": 9_990,
                      "merchant_id": 77, "amount": amount,
                      "merchant_state": None if i % 3 == 0 else "CA",
                      "ts": base + np.timedelta64(offset, "s").item()})
    extra[-1]["client_id"] = 998  # a partition of one row
    return pa.concat_tables([sample, pa.Table.from_pylist(extra, schema=sample.schema)])


def _sql_windows(engine: DuckDBEngine, silver: pa.Table) -> pa.Table:
    windows = ", ".join(window_sql(a) for a in window_aggregates())
    sql = f"WITH tx AS ({tx_sql()}) SELECT transaction_id, {windows} FROM tx"
    return engine.run_sql(sql, {"silver_transactions": silver}).sort_by("transaction_id")


def test_window_columns_equal_the_sql_windows(engine: DuckDBEngine) -> None:
    silver = _edge_silver()
    tx = engine.run_sql(tx_sql(), {"silver_transactions": silver})
    arrays = window_columns(tx)
    assert arrays is not None
    expected = _sql_windows(engine, silver)
    got = arrays.sort_by("transaction_id")
    assert got.column("transaction_id").equals(expected.column("transaction_id"))
    for aggregate in window_aggregates():
        want, have = expected.column(aggregate.name), got.column(aggregate.name)
        if aggregate.kind == "std":
            x = want.to_numpy(zero_copy_only=False).astype(np.float64)
            y = have.to_numpy(zero_copy_only=False).astype(np.float64)
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-9, err_msg=aggregate.name)
        else:
            assert have.cast(want.type).equals(want), aggregate.name
    rows = {r["transaction_id"]: r for r in got.to_pylist()}
    assert rows[10_000_001]["client_tx_count_1h"] == 0  # same second: not earlier
    # a purchase and its refund sum to exactly 0 in both (money sums are exact in the SQL too)
    sql_rows = {r["transaction_id"]: r for r in expected.to_pylist()}
    for found in (rows, sql_rows):
        assert found[10_000_002]["client_amount_sum_1h"] == 0.0
    # the rows at +1 s and +3600 s are in [t - 3600, t - 1], the two at 0 s are not
    assert rows[10_000_004]["client_tx_count_1h"] == 2
    assert rows[10_000_004]["client_amount_sum_1h"] == pytest.approx(0.2 + 33.33)
    assert rows[10_000_011]["client_last_seen"] is None


def _assert_features_match(got: pa.Table, want: pa.Table) -> None:
    got, want = got.sort_by("transaction_id"), want.sort_by("transaction_id")
    assert got.schema == want.schema
    for name in want.column_names:  # the SQL adds floats in another order, the arrays cents
        if pa.types.is_floating(want.schema.field(name).type):
            np.testing.assert_allclose(got[name].to_numpy(zero_copy_only=False),
                                       want[name].to_numpy(zero_copy_only=False),
                                       rtol=1e-9, atol=1e-12, err_msg=name)
        else:
            assert got[name].equals(want[name]), name


def _ranges(engine: DuckDBEngine, silver: pa.Table, rows: int) -> list[tuple[int, int | None]]:
    days = engine.run_sql(day_counts_sql(), {"silver_transactions": silver})
    return time_ranges(zip(days["day_n"].to_pylist(), days["n"].to_pylist(), strict=True), rows)


def test_ranges_on_sorted_columns_equal_the_one_shot_sql(engine: DuckDBEngine) -> None:
    silver = _edge_silver()
    tx = engine.run_sql(tx_sql(), {"silver_transactions": silver})
    assert window_columns(tx) is not None  # whole cents: the arrays path runs
    pieces = pa.concat_tables(feature_chunks(engine, silver, _ranges(engine, silver, 400)))
    _assert_features_match(pieces, engine.run_sql(features_sql(), {"silver_transactions": silver}))


def test_amounts_not_in_whole_cents_keep_the_sql_windows(engine: DuckDBEngine) -> None:
    silver = silver_sample(rows=800, days=60, clients=5, seed=4)
    amounts = silver.column("amount").to_numpy() + 0.001
    silver = silver.set_column(silver.schema.get_field_index("amount"), "amount",
                               pa.array(amounts))
    assert window_columns(engine.run_sql(tx_sql(), {"silver_transactions": silver})) is None
    pieces = pa.concat_tables(feature_chunks(engine, silver, _ranges(engine, silver, 300)))
    _assert_features_match(pieces, engine.run_sql(features_sql(), {"silver_transactions": silver}))
