"""Row-level derivations: the silver SQL and a scoring request give every row the same meaning.

Each `Derivation`'s SQL runs on DuckDB over a grid of raw values (online by chip mode or by
city, US/foreign/missing states, refunds, errors, odd zips), its Python twin over the same
values one by one, and its column form over them as one batch; every column must agree.
The silver model really contains the generated expressions.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from lakehouse.features.derivations import (
    DERIVATIONS,
    RawColumns,
    RawTransaction,
    derive_columns,
    derive_row,
    render_silver,
)
from lakehouse.formats import ONLINE_CITY as ONLINE
from lakehouse.pipeline.models import MODELS


def _raw_grid() -> list[RawTransaction]:
    grid = itertools.product(
        (datetime(2019, 3, 1, 0, 0), datetime(2019, 3, 1, 23, 59, 30)),
        (12.5, -40.0),
        ("Swipe Transaction", "Chip Transaction", "Online Transaction"),
        ("Springfield", ONLINE, None),
        ("CA", "DC", "Italy", ONLINE, None),
        ("2134.0", "90210", None),
        ("Bad PIN", "Bad CVV,Insufficient Balance", None),
    )
    return [RawTransaction(*values) for values in grid]


def test_sql_and_python_derivations_agree() -> None:
    raws = _raw_grid()
    typed = pa.table(
        {
            "ts": pa.array([r.ts for r in raws], pa.timestamp("us")),
            "amount": [r.amount for r in raws],
            "use_chip": [r.use_chip for r in raws],
            "merchant_city": pa.array([r.merchant_city for r in raws], pa.string()),
            "raw_state": pa.array([r.merchant_state for r in raws], pa.string()),
            "raw_zip": pa.array([r.zip for r in raws], pa.string()),
            "raw_errors": pa.array([r.errors for r in raws], pa.string()),
        }
    )
    selects = ", ".join(f"{d.sql} AS {d.name}" for d in DERIVATIONS)
    connection = duckdb.connect()
    connection.register("typed", typed)
    rows = connection.sql(f"SELECT {selects} FROM typed AS t").to_arrow_table().to_pylist()
    for raw, from_sql in zip(raws, rows, strict=True):
        assert derive_row(raw) == from_sql, raw


def _columns(raws: list[RawTransaction]) -> RawColumns:
    return RawColumns(
        np.array([r.ts for r in raws], dtype="datetime64[us]"),
        np.array([r.amount for r in raws], dtype=np.float64),
        [r.use_chip for r in raws],
        [r.merchant_city for r in raws],
        [r.merchant_state for r in raws],
        [r.zip for r in raws],
        [r.errors for r in raws],
    )


def test_column_and_row_derivations_agree() -> None:
    # The grid, plus times where flooring matters: before 1970, the edges of a day and of the
    # calendar, a Sunday and a Monday.
    edges = [
        datetime(1969, 12, 31, 23, 59, 59, 500_000),
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999_999),
        datetime(2026, 11, 29, 5, 59, 59),
        datetime(2026, 11, 30, 6, 0),
    ]
    edge_rows = [RawTransaction(ts, 0.0, "Chip Transaction", None, "TX", "", "") for ts in edges]
    raws = _raw_grid() + edge_rows
    columns = derive_columns(_columns(raws))
    assert list(columns) == [d.name for d in DERIVATIONS]
    for name, values in columns.items():
        assert len(values) == len(raws)
        for raw, value in zip(raws, values.tolist(), strict=True):
            expected = derive_row(raw)[name]
            assert value == expected and type(value) is type(expected), (name, raw, value)
    picked = derive_columns(_columns(raws[:3]), ["is_online", "hour"])
    assert list(picked) == ["is_online", "hour"]


def test_online_is_decided_by_chip_mode_or_city_not_by_state() -> None:
    base = RawTransaction(datetime(2019, 3, 1), 5.0, "Chip Transaction", "Town", "NY", None, None)
    assert derive_row(base)["is_online"] is False
    by_city = derive_row(
        RawTransaction(base.ts, 5.0, "Swipe Transaction", ONLINE, None, None, None)
    )
    assert by_city["is_online"] is True and by_city["merchant_state"] == ONLINE
    assert by_city["is_abroad"] is False


def test_silver_model_uses_the_generated_expressions() -> None:
    sql = MODELS["silver_transactions"].sql
    assert "derived:" not in sql
    for derivation in DERIVATIONS:
        assert f"{derivation.sql} AS {derivation.name}" in sql
    assert render_silver("{{ derived: hour }}") == DERIVATIONS[1].sql
