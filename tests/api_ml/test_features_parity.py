"""Serving computes the same features as training for the same transaction.

The scoring API computes a transaction's features from its online store (built from the
lake); the gold table `ml_features` was built by the pipeline's SQL over the whole of silver.
Re-scored over HTTP with their `transaction_id`, the lake's latest transactions (inside the
state's horizon) must get every model input of their gold row. (`tests/features/test_replay.py`
proves the same for every transaction of a week, on both backends.)
"""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from api_ml_lake import payload_from_silver

from api_ml.api.main import create_app
from lakehouse.ml.features import FEATURE_COLUMNS


def _rows_since(silver: pa.Table, since) -> list[dict]:  # type: ignore[no-untyped-def]
    return silver.filter(pc.greater_equal(silver.column("ts"), since)).to_pylist()


def _mismatches(rows: list[dict], served: list[dict], gold) -> list[tuple]:  # type: ignore[no-untyped-def]
    found = []
    for row, features in zip(rows, served, strict=True):
        trained = gold.loc[row["transaction_id"]]
        for column in FEATURE_COLUMNS:
            value, expected = features[column], trained[column]
            missing = expected is None or (isinstance(expected, float) and math.isnan(expected))
            if value is None or (isinstance(value, float) and math.isnan(value)):
                same = missing
            else:
                same = not missing and value == pytest.approx(float(expected), rel=1e-9, abs=1e-9)
            if not same:
                found.append((row["transaction_id"], column, value, expected))
    return found


def test_service_features_equal_training_rows_for_the_latest_day(
    api_settings,
    trained_lake,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    silver = trained_lake.silver
    last = pc.max(silver.column("ts")).as_py()
    rows = _rows_since(silver, last - timedelta(days=1))[-25:]
    assert len(rows) >= 10
    with live_server(create_app(api_settings)) as url:
        batch = httpx.post(
            f"{url}/predict/batch",
            params={"include_features": "true"},
            json=[payload_from_silver(r) for r in rows],
            timeout=60,
        )
    assert batch.status_code == 200, batch.text
    answers = batch.json()["data"]
    assert {a["flavour"] for a in answers} == {"full"}
    assert all(a["online"]["within_horizon"] and a["online"]["client_known"] for a in answers)
    gold = trained_lake.gold.set_index("transaction_id")
    mismatches = _mismatches(rows, [a["features"] for a in answers], gold)
    assert not mismatches, mismatches[:10]
