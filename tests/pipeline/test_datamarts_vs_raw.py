"""Every datamart equals an independent computation straight from the raw files.

The generated dataset (`small_raw_dir`: the five files of DATA.md) goes through the real path —
the runtime's bronze functions, then the silver and gold SQL models on DuckDB — and each of
the five datamarts is compared with a pandas computation that shares no code with the
pipeline: it parses the dollar amounts, the dates and the label JSON itself. Counts must match
exactly, floats to 1e-9 relative. The declared checks must pass on every output, and silver
built from two batches (the second told which ids are already known) must equal silver built
in one go.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from model_runs import build_datamarts, build_silver, silver_transactions

from lakehouse import catalog
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.checks import run_checks
from lakehouse.pipeline.feeder import bronze_from_raw_dir as bronze_from_raw
from lakehouse.pipeline.models import MODELS

KEYS = {
    "dm_client_features": ["client_id"],
    "dm_card_features": ["tx_card_id"],
    "dm_client_velocity": ["client_id"],
    "dm_mcc_fraud_risk": ["mcc_code"],
    "dm_time_of_day_fraud": ["hour"],
}


# --- the pipeline path: bronze functions, then the SQL models ---------------------------------


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


@pytest.fixture(scope="module")
def bronze(small_raw_dir: Path) -> dict[str, pa.Table]:
    """Bronze tables as the feeder builds them; each day of transactions is its own batch."""
    return bronze_from_raw(small_raw_dir, "test-key")


@pytest.fixture(scope="module")
def silver(engine: DuckDBEngine, bronze: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return build_silver(engine, bronze)


@pytest.fixture(scope="module")
def gold(engine: DuckDBEngine, silver: dict[str, pa.Table]) -> dict[str, pa.Table]:
    return build_datamarts(engine, {"silver_transactions": silver["silver_transactions"]})


# --- the independent path: pandas straight from the files -------------------------------------


@pytest.fixture(scope="module")
def purchases(small_raw_dir: Path) -> pd.DataFrame:
    """Raw transactions parsed by hand, joined with labels, cards and MCC descriptions."""
    tx = pd.read_csv(small_raw_dir / "transactions_data.csv", dtype=str, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "id": tx["id"].astype("int64"),
            "client_id": tx["client_id"].astype("int64"),
            "card_id": tx["card_id"].astype("int64"),
            "merchant_id": tx["merchant_id"].astype("int64"),
            "mcc_code": tx["mcc"].astype("int64"),
            "amount": tx["amount"].str.replace("$", "", regex=False).astype("float64"),
            "day": tx["date"].str.slice(0, 10),
            "hour": tx["date"].str.slice(11, 13).astype("int64"),
        }
    )
    target = json.loads((small_raw_dir / "train_fraud_labels.json").read_text())["target"]
    labels = {int(key): 1.0 if value == "Yes" else 0.0 for key, value in target.items()}
    frame["label"] = frame["id"].map(labels)  # NaN = unlabeled
    cards = pd.read_csv(small_raw_dir / "cards_data.csv", dtype=str, keep_default_na=False)
    card_type = dict(zip(cards["id"].astype("int64"), cards["card_type"], strict=True))
    frame["card_type"] = frame["card_id"].map(card_type)
    mcc = json.loads((small_raw_dir / "mcc_codes.json").read_text())
    frame["mcc_description"] = frame["mcc_code"].map({int(k): v for k, v in mcc.items()})
    return frame


def _fraud_counts(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    bought = frame[frame["amount"] > 0]
    grouped = bought.groupby(keys, dropna=False)
    out = pd.DataFrame(
        {
            "tx_count": grouped.size(),
            "fraud_count": grouped["label"].agg(lambda s: int((s == 1).sum())),
            "drop_count": grouped["label"].agg(lambda s: int((s == 0).sum())),
            "labeled_count": grouped["label"].count(),
            "avg_amount": grouped["amount"].mean(),
        }
    )
    labeled = out["labeled_count"].where(out["labeled_count"] > 0)
    out["fraud_rate"] = out["fraud_count"] / labeled
    out["drop_rate"] = out["drop_count"] / labeled
    return out.reset_index()


def expected_client_features(frame: pd.DataFrame) -> pd.DataFrame:
    out = _fraud_counts(frame, ["client_id"]).set_index("client_id")
    bought = frame[frame["amount"] > 0].groupby("client_id")
    out["std_amount"] = bought["amount"].std(ddof=1)
    out["unique_merchants"] = bought["merchant_id"].nunique()
    refunds = frame[frame["amount"] < 0].groupby("client_id").size()
    out["refund_count"] = refunds.reindex(out.index, fill_value=0)
    return out.reset_index()


def expected_card_features(frame: pd.DataFrame) -> pd.DataFrame:
    return _fraud_counts(frame, ["card_id", "card_type"]).rename(columns={"card_id": "tx_card_id"})


def expected_client_velocity(frame: pd.DataFrame) -> pd.DataFrame:
    daily = frame[frame["amount"] > 0].groupby(["client_id", "day"]).size()
    per_client = daily.groupby(level="client_id")
    return pd.DataFrame(
        {
            "active_days": per_client.size(),
            "avg_daily_txn": per_client.mean(),
            "max_daily_txn": per_client.max(),
        }
    ).reset_index()


def expected_mcc_fraud_risk(frame: pd.DataFrame) -> pd.DataFrame:
    return _fraud_counts(frame, ["mcc_code", "mcc_description"])


def expected_time_of_day_fraud(frame: pd.DataFrame) -> pd.DataFrame:
    return _fraud_counts(frame, ["hour"])


EXPECTED = {
    "dm_client_features": expected_client_features,
    "dm_card_features": expected_card_features,
    "dm_client_velocity": expected_client_velocity,
    "dm_mcc_fraud_risk": expected_mcc_fraud_risk,
    "dm_time_of_day_fraud": expected_time_of_day_fraud,
}


def _assert_same(name: str, actual: pa.Table, expected: pd.DataFrame) -> None:
    got = actual.to_pandas().sort_values(KEYS[name]).reset_index(drop=True)
    want = expected.sort_values(KEYS[name]).reset_index(drop=True)
    assert len(got) == len(want), f"{name}: {len(got)} rows, expected {len(want)}"
    for column in actual.column_names:
        left, right = got[column], want[column]
        if pa.types.is_floating(actual.schema.field(column).type):
            both = left.to_numpy(dtype="float64", na_value=np.nan)
            other = right.to_numpy(dtype="float64", na_value=np.nan)
            np.testing.assert_allclose(
                both, other, rtol=1e-9, atol=0, equal_nan=True, err_msg=f"{name}.{column}"
            )
        elif pa.types.is_integer(actual.schema.field(column).type):
            assert left.astype("int64").tolist() == right.astype("int64").tolist(), (
                f"{name}.{column}"
            )
        else:
            assert (
                left.astype(object).where(left.notna(), None).tolist()
                == right.astype(object).where(right.notna(), None).tolist()
            ), f"{name}.{column}"


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", catalog.DATAMARTS)
def test_datamart_equals_pandas_from_raw_files(
    name: str, gold: dict[str, pa.Table], purchases: pd.DataFrame
) -> None:
    _assert_same(name, gold[name], EXPECTED[name](purchases))


def test_datamart_types_follow_the_contract(gold: dict[str, pa.Table]) -> None:
    for name, table in gold.items():
        for field in table.schema:
            if field.name.endswith(("_count", "_days", "unique_merchants", "max_daily_txn")):
                assert field.type == pa.int64(), f"{name}.{field.name} is {field.type}"
            if field.name.endswith(("_rate", "_amount", "avg_daily_txn")):
                assert field.type == pa.float64(), f"{name}.{field.name} is {field.type}"


def test_silver_holds_every_raw_transaction_once_with_its_label(
    silver: dict[str, pa.Table], purchases: pd.DataFrame
) -> None:
    tx = silver["silver_transactions"]
    assert tx.num_rows == len(purchases)
    assert pc.count_distinct(tx.column("transaction_id")).as_py() == len(purchases)
    assert pc.sum(tx.column("label")).as_py() == int((purchases["label"] == 1).sum())
    assert tx.column("label").null_count == int(purchases["label"].isna().sum())
    assert pc.sum(tx.column("is_refund")).as_py() == int((purchases["amount"] < 0).sum())


@pytest.mark.parametrize("name", [name for name in MODELS if name != "ml_features"])
def test_declared_checks_pass_on_generated_data(
    name: str, engine: DuckDBEngine, silver: dict[str, pa.Table], gold: dict[str, pa.Table]
) -> None:
    table = {**silver, **gold}[name]
    assert [failure.message for failure in run_checks(MODELS[name], table, engine)] == []


def test_silver_in_two_batches_equals_silver_in_one(
    engine: DuckDBEngine, bronze: dict[str, pa.Table], silver: dict[str, pa.Table]
) -> None:
    batches = bronze["bronze_transactions"]
    dates = batches.column("situation_date")
    cut = (
        pc.min_max(dates)["min"].value
        + (pc.min_max(dates)["max"].value - pc.min_max(dates)["min"].value) // 2
    )
    first = batches.filter(pc.less_equal(pc.cast(dates, pa.int32()), cut))
    # The second batch also re-sends the last day of the first (a replayed file).
    second = batches.filter(pc.greater_equal(pc.cast(dates, pa.int32()), cut))
    shared = {
        **bronze,
        "silver_cards": silver["silver_cards"],
        "silver_users": silver["silver_users"],
    }
    one = silver_transactions(engine, {**shared, "bronze_transactions": first})
    known = one.select(["transaction_id"])
    two = silver_transactions(
        engine, {**shared, "bronze_transactions": second, "known_transaction_ids": known}
    )
    both = pa.concat_tables([one, two]).sort_by("transaction_id")
    assert both.equals(silver["silver_transactions"].sort_by("transaction_id"))
