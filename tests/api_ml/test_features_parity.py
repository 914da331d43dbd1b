"""Serving computes the same features as training for the same transaction.

The scoring API rebuilds a transaction's behavioural features from its in-memory state (the
lake's last `HISTORY_DAYS` and the label tallies); the gold table `ml_features` was built by
the pipeline over the whole of silver. Wherever the state covers a transaction's look-back,
both must agree on every model input — over HTTP for the lake's latest day, and through the
scoring module with a longer state for frauds in the middle of a burst.
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
from api_ml.api.online import OnlineState
from api_ml.api.schemas import SEED_FIELDS, TransactionRequest
from api_ml.api.scoring import full_inputs
from api_ml.api.state import ServingModel, vocabulary_of
from lakehouse.ml.features import FEATURE_COLUMNS, HISTORY_DAYS


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
    gold = trained_lake.gold.set_index("transaction_id")
    mismatches = _mismatches(rows, [a["features"] for a in answers], gold)
    assert not mismatches, mismatches[:10]


def test_scoring_module_matches_training_on_fraud_bursts(api_settings, trained_lake) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.ml.registry import load_model

    # A state reaching back over the whole lake covers every transaction after its first
    # HISTORY_DAYS, so the comparison can include frauds in the middle of their bursts.
    state = OnlineState.load(api_settings, history_days=400)
    silver = trained_lake.silver
    first = pc.min(silver.column("ts")).as_py()
    rows = _rows_since(silver, first + timedelta(days=HISTORY_DAYS))
    frauds = [r for r in rows if r["label"] == 1]
    sample = frauds[:15] + rows[:: max(1, len(rows) // 15)]
    assert len(frauds) >= 5
    model = load_model("fraud-detector", tracking_uri=api_settings.mlflow_tracking_uri)
    served = ServingModel(model, vocabulary_of(model, api_settings), "now", state)
    requests = [TransactionRequest(**payload_from_silver(r)) for r in sample]
    seeds = [{name: getattr(q, name) for name in SEED_FIELDS} for q in requests]
    inputs = full_inputs(served, seeds, [q.model_dump() for q in requests])
    gold = trained_lake.gold.set_index("transaction_id")
    served_rows = inputs[FEATURE_COLUMNS].astype("float64").to_dict("records")
    mismatches = _mismatches(sample, served_rows, gold)
    assert not mismatches, mismatches[:10]
