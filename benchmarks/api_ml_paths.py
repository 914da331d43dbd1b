"""In-process paths of the scoring API, timed call by call (no HTTP): the baselines of
`bench_api_ml.py`, run by it in a fresh interpreter (`python -m benchmarks.bench_api_ml
baselines N`).

- basic: normalise the payload, the one-row matrix, `LoadedModel.predict_proba`;
- full: the online store's features (`OnlineState.row` + `score_rows`) + `predict_proba`;
- sql_replay: the full path before the online store — the generated `ml_features` SQL in
  DuckDB per request over the card's and client's last 30 days + `predict_proba`.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from api_ml.api.codes import basic_inputs, warm_category_codes
from api_ml.api.normalise import Vocabulary, normalise_seed_fields
from api_ml.api.online import OnlineState
from api_ml.api.state import single_threaded
from benchmarks.latency import summary
from lakehouse import catalog, storage
from lakehouse.features.online.compute import day_of
from lakehouse.features.replay_sql import compute_features_for_events, label_summary
from lakehouse.ml.features import FEATURE_COLUMNS
from lakehouse.ml.registry import load_model


def _timed(calls: list) -> dict[str, float]:  # type: ignore[type-arg]
    latencies = []
    start = time.perf_counter()
    for call in calls:
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    return summary(latencies, time.perf_counter() - start)


def body_extra(body: dict) -> dict:
    """A request body as the service's scoring sees it (timestamp parsed)."""
    return {**body, "timestamp": datetime.fromisoformat(body["timestamp"])}


def sql_replay(settings):  # type: ignore[no-untyped-def]
    """Today's baseline path before the online store: the generated `ml_features` SQL run in
    DuckDB per request over the card's and client's last 30 days (sliced from an in-memory
    copy of silver) plus the folded label tallies (`lakehouse.features.replay_sql`)."""
    silver = storage.read_dataset(catalog.location("silver_transactions", settings), settings)
    last = pc.max(silver.to_table(columns=["ts"]).column("ts")).as_py()
    since = last - timedelta(days=31)
    history = silver.to_table(filter=pc.field("ts") >= pd.Timestamp(since))
    labels = label_summary(silver, as_of_day=day_of(int(pd.Timestamp(since).timestamp())))
    keys = {k: history.column(k).to_numpy() for k in ("card_id", "client_id")}

    def features(row: dict) -> pa.Table:
        mask = (keys["card_id"] == row["card_id"]) | (keys["client_id"] == row["client_id"])
        event = pa.Table.from_pylist([row], schema=history.schema)
        return compute_features_for_events(
            history.filter(pa.array(mask)), event, label_summary=labels
        )

    return features


def baselines(settings, basic: list[dict], full: list[dict]) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """In-process, no HTTP: what the service computes per request, timed call by call.

    basic: normalise the payload, build the one-row matrix, `LoadedModel.predict_proba`;
    full: the online store's features for the request (`OnlineState.row` + `score_rows`)
    plus `predict_proba`; sql_replay: the path before the store (`sql_replay`) plus
    `predict_proba`. Also the state's build time and memory (tracemalloc).
    """
    uri = settings.mlflow_tracking_uri
    # As the service holds them: predictions on the calling thread (see `single_threaded`).
    compiled = settings.compiled_trees
    basic_model = single_threaded(load_model("fraud-detector-basic", tracking_uri=uri), compiled)
    full_model = single_threaded(load_model("fraud-detector", tracking_uri=uri), compiled)
    vocabulary = Vocabulary.from_values({"merchant_state": [b["merchant_state"] for b in basic]})
    warm_category_codes(vocabulary)  # as the service does when it loads the model
    tracemalloc.start()
    state = OnlineState.load(settings)
    state_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    sql_features = sql_replay(settings)

    def full_call(body: dict) -> None:
        seed = normalise_seed_fields(body, vocabulary)
        vectors, _ = state.score_rows([state.row(seed, body_extra(body))])
        matrix = np.array([[v[c] for c in FEATURE_COLUMNS] for v in vectors], dtype="float64")
        full_model.predict_proba(pd.DataFrame(matrix, columns=FEATURE_COLUMNS))

    def sql_call(body: dict) -> None:
        seed = normalise_seed_fields(body, vocabulary)
        row = {**state.row(seed, body_extra(body)), "mcc_description": None, "label": None}
        row["ts"] = body_extra(body)["timestamp"].replace(tzinfo=None)
        frame = sql_features(row).to_pandas()
        full_model.predict_proba(frame[FEATURE_COLUMNS])

    basic_calls = [
        lambda b=b: basic_model.predict_proba(basic_inputs([normalise_seed_fields(b, vocabulary)]))
        for b in basic
    ]
    full_calls = [lambda b=b: full_call(b) for b in full]
    sql_calls = [lambda b=b: sql_call(b) for b in full[:100]]
    _timed(basic_calls[:50] + full_calls[:50] + sql_calls[:5])  # warm-up, as HTTP runs get one
    size = state.store.size()
    return {
        "basic": _timed(basic_calls),
        "full": _timed(full_calls),
        "sql_replay": _timed(sql_calls),
        "state": {"build_s": state.built_seconds, "bytes": state_bytes, **size},
    }
