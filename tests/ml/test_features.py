"""The feature contract: point in time, no leakage, serving equals training.

Runs the real `ml_features` SQL on DuckDB over a hand-made silver table (`ml_samples`):
- later transactions and labels not yet known never change an earlier row's features;
- a label counts from the first midnight at or after its `label_known_at`;
- `basic_feature_frame` codes the seed's fields exactly like the SQL;
- the declared checks of the gold model pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from ml_samples import silver_sample

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.features.batch_sql import (
    day_counts_sql,
    feature_chunks,
    features_sql,
    time_ranges,
)
from lakehouse.features.derivations import UNKNOWN_CODE
from lakehouse.ml import features as F
from lakehouse.pipeline.checks import run_checks
from lakehouse.pipeline.models import ML_FEATURES, MODELS, run_model

DELAY_DAYS = 7
PARAMS = {"label_delay_seconds": DELAY_DAYS * 86_400}


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


@pytest.fixture(scope="module")
def silver() -> pa.Table:
    return silver_sample()


def _batch(engine: DuckDBEngine, silver: pa.Table) -> pd.DataFrame:
    table = run_model(engine, "ml_features", {"silver_transactions": silver}, PARAMS)
    return table.to_pandas().set_index("transaction_id").sort_index()


@pytest.fixture(scope="module")
def batch(engine: DuckDBEngine, silver: pa.Table) -> pd.DataFrame:
    return _batch(engine, silver)


def _assert_same_features(left: pd.DataFrame, right: pd.DataFrame) -> None:
    left = left[F.FEATURE_COLUMNS].astype("float64")
    right = right[F.FEATURE_COLUMNS].astype("float64")
    assert list(left.index) == list(right.index)
    for column in F.FEATURE_COLUMNS:
        np.testing.assert_allclose(
            left[column].to_numpy(), right[column].to_numpy(), rtol=1e-9, atol=1e-9,
            equal_nan=True, err_msg=column,
        )


def test_gold_model_is_registered_and_its_checks_pass(
    engine: DuckDBEngine, silver: pa.Table, batch: pd.DataFrame
) -> None:
    assert MODELS["ml_features"].sql == features_sql()
    table = run_model(engine, "ml_features", {"silver_transactions": silver}, PARAMS)
    assert table.column_names == F.KEY_COLUMNS + F.FEATURE_COLUMNS
    assert table.num_rows == silver.num_rows
    assert run_checks(ML_FEATURES, table, engine) == []
    assert len(F.FEATURE_COLUMNS) == len(set(F.FEATURE_COLUMNS))


def test_later_transactions_never_change_earlier_features(
    engine: DuckDBEngine, silver: pa.Table, batch: pd.DataFrame
) -> None:
    cutoff = pc.min(silver["ts"]).as_py() + pd.Timedelta(days=45)
    later = pc.greater(silver["ts"], pa.scalar(cutoff, pa.timestamp("us")))
    earlier_ids = silver.filter(pc.invert(later))["transaction_id"].to_pylist()
    truncated = silver.filter(pc.invert(later))
    # Later rows changed: amounts tripled, moved abroad, every label flipped to fraud.
    rewritten = silver.filter(later).to_pandas()
    rewritten["amount"] *= 3
    rewritten["merchant_state"] = "Italy"
    rewritten["label"] = pd.array([1] * len(rewritten), dtype="Int32")
    # Extra later rows on the same cards and merchants.
    extra = rewritten.copy()
    extra["transaction_id"] += 10_000_000
    changed = pa.concat_tables([
        truncated,
        pa.Table.from_pandas(rewritten, schema=silver.schema, preserve_index=False),
        pa.Table.from_pandas(extra, schema=silver.schema, preserve_index=False),
    ])
    expected = batch.loc[earlier_ids].sort_index()
    for variant in (truncated, changed):
        _assert_same_features(_batch(engine, variant).loc[earlier_ids].sort_index(), expected)


def test_labels_not_yet_known_never_change_features(
    engine: DuckDBEngine, silver: pa.Table, batch: pd.DataFrame
) -> None:
    frame = silver.to_pandas()
    day = (frame["ts"] - pd.Timestamp("1970-01-01")).dt.days
    target_day = int(day.min()) + 40
    # Labels of the last DELAY_DAYS + 1 days before target_day (and after) are not known yet.
    unknown = frame["label_known_at"] > pd.Timestamp("1970-01-01") + pd.Timedelta(days=target_day)
    flipped = frame.copy()
    flipped.loc[unknown, "label"] = 1 - flipped.loc[unknown, "label"].fillna(0)
    rows = frame.loc[day <= target_day, "transaction_id"]
    after = _batch(engine, pa.Table.from_pandas(flipped, schema=silver.schema,
                                                preserve_index=False))
    _assert_same_features(after.loc[rows].sort_index(), batch.loc[rows].sort_index())
    # ...and the flip is visible once those labels are known: the check has teeth.
    later = frame.loc[day > target_day + DELAY_DAYS + 1, "transaction_id"]
    assert not np.allclose(after.loc[later, "merchant_fraud_risk"],
                           batch.loc[later, "merchant_fraud_risk"])


def test_a_label_counts_from_the_first_midnight_after_it_is_known() -> None:
    base = silver_sample(rows=12, days=1, clients=1).to_pandas().iloc[:12].copy()
    base["merchant_id"] = 777
    base["ts"] = [pd.Timestamp("2019-03-01 23:50") + pd.Timedelta(days=d) for d in range(12)]
    base["tx_date"] = base["ts"].dt.date
    base["label"] = pd.array([1] + [None] * 11, dtype="Int32")
    base["label_known_at"] = [base["ts"].iloc[0] + pd.Timedelta(days=DELAY_DAYS)] + [pd.NaT] * 11
    table = pa.Table.from_pandas(base, preserve_index=False)
    out = run_model(DuckDBEngine(threads=1), "ml_features", {"silver_transactions": table},
                    PARAMS).to_pandas().sort_values("ts")
    # Fraud on day 0 at 23:50: known after day 0 ends + 7 days, i.e. usable from day 8.
    assert out["merchant_labels_known"].tolist() == [0] * 8 + [1] * 4


def test_basic_feature_frame_codes_like_the_sql(silver: pa.Table, batch: pd.DataFrame) -> None:
    frame = silver.to_pandas().set_index("transaction_id").sort_index()
    coded = F.basic_feature_frame(frame)
    assert list(coded.columns) == F.BASIC_FEATURE_COLUMNS
    for column in F.BASIC_FEATURE_COLUMNS:
        np.testing.assert_allclose(coded[column].to_numpy("float64"),
                                   batch[column].to_numpy("float64"), err_msg=column)
    shouted = frame.assign(card_brand=frame["card_brand"].str.upper(),
                           card_type=frame["card_type"].str.upper())
    pd.testing.assert_frame_equal(F.basic_feature_frame(shouted), coded)
    unknown = F.basic_feature_frame(frame.head(1).assign(card_brand="Diners"))
    assert unknown["card_brand"].iloc[0] == UNKNOWN_CODE


def test_feature_chunks_by_time_range_equal_the_one_shot_table(
    engine: DuckDBEngine, silver: pa.Table, batch: pd.DataFrame
) -> None:
    days = engine.run_sql(day_counts_sql(), {"silver_transactions": silver})
    ranges = time_ranges(zip(days["day_n"].to_pylist(), days["n"].to_pylist(), strict=True),
                         silver.num_rows // 4)
    assert len(ranges) >= 4 and ranges[-1][1] is None
    pieces = list(feature_chunks(engine, silver, ranges))
    assert len(pieces) == len(ranges) and all(p.num_rows > 0 for p in pieces)
    combined = pa.concat_tables(pieces).to_pandas().set_index("transaction_id").sort_index()
    _assert_same_features(combined, batch)
    assert combined["label"].equals(batch["label"])
