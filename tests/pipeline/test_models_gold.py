"""Gold datamart meanings, rule by rule, on hand-made silver rows.

Purchases are amount > 0 (refunds and zero amounts are left out, refunds counted apart);
"labeled" means label IS NOT NULL, so an unlabeled purchase is never counted as legitimate;
rates are NULL when nothing is labeled; std is the sample standard deviation.
"""

from __future__ import annotations

import math
import statistics
from datetime import date

import pyarrow as pa
import pytest
from model_runs import build_datamarts

from lakehouse import catalog
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.checks import run_checks
from lakehouse.pipeline.models import MODELS

D1, D2, D3 = date(2019, 3, 1), date(2019, 3, 2), date(2019, 3, 3)
# client, card, card_type, amount, label, merchant, day, hour, mcc
ROWS = [
    (1, 10, "Debit", 10.0, 1, 100, D1, 9, 5411),
    (1, 10, "Debit", 30.0, 0, 100, D1, 9, 5411),
    (1, 11, "Credit", 50.0, None, 101, D1, 23, 5812),
    (1, 11, "Credit", 20.0, 0, 102, D3, 23, 5812),
    (1, 11, "Credit", -15.0, 1, 103, D3, 9, 5812),  # a refund: not a purchase
    (1, 11, "Credit", 0.0, 0, 104, D2, 9, 5812),  # zero: neither purchase nor refund
    (2, 20, "Debit (Prepaid)", 7.5, None, 200, D2, 0, 5411),  # one unlabeled purchase
    (3, 30, "Debit", -5.0, None, 300, D2, 12, 4829),  # a client with refunds only
]
MCC_NAMES = {5411: "Grocery Stores", 5812: "Eating Places", 4829: "Money Transfer"}


def _silver() -> pa.Table:
    columns = list(zip(*ROWS, strict=True))
    return pa.table(
        {
            "client_id": pa.array(columns[0], pa.int64()),
            "card_id": pa.array(columns[1], pa.int64()),
            "card_type": pa.array(columns[2], pa.string()),
            "amount": pa.array(columns[3], pa.float64()),
            "is_refund": pa.array([amount < 0 for amount in columns[3]]),
            "label": pa.array(columns[4], pa.int32()),
            "merchant_id": pa.array(columns[5], pa.int64()),
            "tx_date": pa.array(columns[6], pa.date32()),
            "hour": pa.array(columns[7], pa.int32()),
            "mcc_code": pa.array(columns[8], pa.int32()),
            "mcc_description": pa.array([MCC_NAMES[code] for code in columns[8]]),
        }
    )


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


@pytest.fixture(scope="module")
def gold(engine: DuckDBEngine) -> dict[str, pa.Table]:
    return build_datamarts(engine, {"silver_transactions": _silver()})


def _rows(table: pa.Table, key: str) -> dict[object, dict]:
    return {row[key]: row for row in table.to_pylist()}


def test_client_features(gold: dict[str, pa.Table]) -> None:
    clients = _rows(gold["dm_client_features"], "client_id")
    assert set(clients) == {1, 2}  # client 3 made no purchase
    one = clients[1]
    assert one["tx_count"] == 4
    assert one["avg_amount"] == pytest.approx(27.5)
    assert one["std_amount"] == pytest.approx(statistics.stdev([10.0, 30.0, 50.0, 20.0]))
    assert (one["fraud_count"], one["drop_count"], one["labeled_count"]) == (1, 2, 3)
    assert one["refund_count"] == 1
    assert one["unique_merchants"] == 3
    assert one["fraud_rate"] == pytest.approx(1 / 3) and one["drop_rate"] == pytest.approx(2 / 3)


def test_unlabeled_is_never_legitimate_and_single_rows_have_no_std(
    gold: dict[str, pa.Table],
) -> None:
    two = _rows(gold["dm_client_features"], "client_id")[2]
    assert (two["tx_count"], two["labeled_count"], two["drop_count"]) == (1, 0, 0)
    assert two["fraud_rate"] is None and two["drop_rate"] is None
    assert two["std_amount"] is None
    assert two["refund_count"] == 0


def test_card_features(gold: dict[str, pa.Table]) -> None:
    cards = _rows(gold["dm_card_features"], "tx_card_id")
    assert set(cards) == {10, 11, 20}
    assert cards[10]["card_type"] == "Debit"
    assert (cards[10]["tx_count"], cards[10]["fraud_count"], cards[10]["drop_count"]) == (2, 1, 1)
    assert cards[10]["avg_amount"] == pytest.approx(20.0)
    assert cards[10]["fraud_rate"] == pytest.approx(0.5)
    assert (cards[11]["tx_count"], cards[11]["labeled_count"]) == (2, 1)
    assert cards[11]["drop_rate"] == pytest.approx(1.0)
    assert cards[20]["fraud_rate"] is None


def test_client_velocity(gold: dict[str, pa.Table]) -> None:
    velocity = _rows(gold["dm_client_velocity"], "client_id")
    assert set(velocity) == {1, 2}
    # client 1: 3 purchases on D1, 1 on D3 (D2 had only a zero amount)
    assert velocity[1]["active_days"] == 2
    assert velocity[1]["avg_daily_txn"] == pytest.approx(2.0)
    assert velocity[1]["max_daily_txn"] == 3
    assert (velocity[2]["active_days"], velocity[2]["max_daily_txn"]) == (1, 1)


def test_mcc_fraud_risk(gold: dict[str, pa.Table]) -> None:
    mcc = _rows(gold["dm_mcc_fraud_risk"], "mcc_code")
    assert set(mcc) == {5411, 5812}  # 4829 saw only a refund
    grocery = mcc[5411]
    assert grocery["mcc_description"] == "Grocery Stores"
    assert (grocery["tx_count"], grocery["fraud_count"], grocery["labeled_count"]) == (3, 1, 2)
    assert grocery["fraud_rate"] == pytest.approx(0.5)
    assert (mcc[5812]["tx_count"], mcc[5812]["fraud_count"], mcc[5812]["drop_count"]) == (2, 0, 1)


def test_time_of_day_fraud(gold: dict[str, pa.Table]) -> None:
    hours = _rows(gold["dm_time_of_day_fraud"], "hour")
    assert list(hours) == [0, 9, 23]  # ordered by hour
    assert (hours[9]["tx_count"], hours[9]["fraud_count"], hours[9]["drop_count"]) == (2, 1, 1)
    assert (hours[23]["tx_count"], hours[23]["labeled_count"]) == (2, 1)
    assert hours[0]["fraud_rate"] is None
    assert not any(
        isinstance(row["fraud_rate"], float) and math.isnan(row["fraud_rate"])
        for row in hours.values()
    )


@pytest.mark.parametrize("name", catalog.DATAMARTS)
def test_declared_checks_pass(engine: DuckDBEngine, gold: dict[str, pa.Table], name: str) -> None:
    assert [failure.message for failure in run_checks(MODELS[name], gold[name], engine)] == []


@pytest.mark.parametrize("name", catalog.DATAMARTS)
def test_columns_follow_the_contract(gold: dict[str, pa.Table], name: str) -> None:
    contract = {
        "dm_client_features": "client_id, tx_count, avg_amount, std_amount, fraud_count, "
        "drop_count, labeled_count, refund_count, unique_merchants, fraud_rate, drop_rate",
        "dm_card_features": "tx_card_id, card_type, tx_count, fraud_count, avg_amount, "
        "drop_count, labeled_count, fraud_rate, drop_rate",
        "dm_client_velocity": "client_id, active_days, avg_daily_txn, max_daily_txn",
        "dm_mcc_fraud_risk": "mcc_code, mcc_description, tx_count, fraud_count, drop_count, "
        "labeled_count, fraud_rate, drop_rate",
        "dm_time_of_day_fraud": "hour, tx_count, fraud_count, drop_count, labeled_count, "
        "fraud_rate, drop_rate",
    }
    assert gold[name].column_names == contract[name].split(", ")
