"""The full path's prepared feature statement gives every request its own, correct features.

`OnlineState.features` runs the training SQL through a per-thread `PreparedConnection`: the
statement is planned once and executed for each request over that request's inputs (the
card's and client's rows, the folded label tallies). Requests scored one after another on the
same connection must each get exactly what a private connection computes over the whole
state, and what the gold table `ml_features` holds for those transactions.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from api_ml.api.online import OnlineState
from api_ml.api.prepared import PreparedConnection
from lakehouse.features.replay_sql import compute_features_for_events
from lakehouse.ml.features import FEATURE_COLUMNS, HISTORY_DAYS


def _same(value: object, expected: object) -> bool:
    missing = expected is None or (isinstance(expected, float) and math.isnan(expected))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return not missing and value == pytest.approx(float(expected), rel=1e-9, abs=1e-9)  # type: ignore[arg-type]


def test_consecutive_requests_on_one_prepared_connection(api_settings, trained_lake) -> None:  # type: ignore[no-untyped-def]
    state = OnlineState.load(api_settings, HISTORY_DAYS)
    silver = trained_lake.silver
    last = pc.max(silver.column("ts")).as_py()
    latest = silver.filter(pc.greater_equal(silver.column("ts"), last - timedelta(days=1)))
    rows = latest.to_pylist()[-12:]
    assert len({r["card_id"] for r in rows}) > 1  # different cards, different history slices
    gold = trained_lake.gold.set_index("transaction_id")
    for row in rows:
        events = pa.Table.from_pylist([row], schema=state.history.schema)
        served = state.features(events).to_pylist()[0]
        # A private connection over the whole state: no slicing, no prepared plan.
        whole = compute_features_for_events(
            state.history, events, label_summary=state.labels
        ).to_pylist()[0]
        trained = gold.loc[row["transaction_id"]]
        for column in FEATURE_COLUMNS:
            assert _same(served[column], whole[column]), (row["transaction_id"], column)
            assert _same(served[column], trained[column]), (row["transaction_id"], column)
    connection = state._connection()
    assert isinstance(connection, PreparedConnection)
    assert len(connection._prepared) == 1  # planned once, executed for every request
