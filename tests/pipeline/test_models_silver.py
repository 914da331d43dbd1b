"""Silver cleaning rules, one by one, on hand-made bronze rows (the sample rows of DATA.md).

Bronze is built with the runtime's own pure bronze functions (`lakehouse.pipeline.feeder`),
so these rows reach the SQL exactly as they would from the source files.
"""

# ruff: noqa: E501 — the sample rows are copied verbatim from the file format, one per line.

from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow as pa
import pytest
from model_runs import build_silver, silver_transactions

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline import feeder
from lakehouse.pipeline.checks import run_checks
from lakehouse.pipeline.models import MODELS

TX_HEADER = "id,date,client_id,card_id,amount,use_chip,merchant_id,merchant_city,merchant_state,zip,mcc,errors"
DAY1 = f"""{TX_HEADER}
7475327,2010-01-01 00:01:00,1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,5499,
7475329,2010-01-01 00:02:00,1129,102,$80.00,Swipe Transaction,27092,Vista,CA,2134.0,4829,
7475401,2010-01-01 01:13:00,1319,3006,$12.33,Online Transaction,39021,ONLINE,,,5815,
7475478,2010-01-01 02:40:00,566,3640,$94.50,Chip Transaction,61195,Rome,Italy,,5411,"Bad PIN,Insufficient Balance"
7475500,2010-01-01 23:59:00,825,4524,$5.00,Chip Transaction,61195,Rome,Italy,,9999,Bad CVV
"""
# The next batch repeats 7475329 (a resent row) and brings one new transaction.
DAY2 = f"""{TX_HEADER}
7475329,2010-01-02 00:02:00,1129,102,$81.00,Swipe Transaction,27092,Vista,CA,92084.0,4829,
7475600,2010-01-02 10:00:00,825,4524,$20.00,Chip Transaction,100,Ames,IA,50010.0,5411,
"""
CARDS = """id,client_id,card_brand,card_type,card_number,expires,cvv,has_chip,num_cards_issued,credit_limit,acct_open_date,year_pin_last_changed,card_on_dark_web
4524,825,Visa,Debit,4344676511950444,12/2022,623,YES,2,$24295,09/2002,2008,No
2972,1556,Mastercard,Debit (Prepaid),5344676511951234,01/2020,111,NO,1,$55,01/2005,2010,No
"""
USERS = """id,current_age,retirement_age,birth_year,birth_month,gender,address,latitude,longitude,per_capita_income,yearly_income,total_debt,credit_score,num_credit_cards
825,53,66,1966,11,Female,462 Rose Lane,34.15,-117.76,$29278,$59696,$127613,787,5
1556,40,66,1980,1,Male,1 Main St,40.1,-100.2,$20000,$40000,$0,700,2
"""
MCC = {"5499": "Miscellaneous Food Stores", "5411": "Grocery Stores, Supermarkets"}
LABELS = {"target": {"7475327": "No", "7475478": "Yes", "7475401": "No"}}


def _csv(text: str) -> pa.Table:
    return feeder.read_reference_csv(text.encode())


def _bronze(days: tuple[str, ...] = (DAY1,)) -> dict[str, pa.Table]:
    batches = [
        feeder.bronze_transactions(_csv(text), date(2010, 1, 1 + i)) for i, text in enumerate(days)
    ]
    return {
        "bronze_transactions": pa.concat_tables(batches),
        "bronze_cards": feeder.bronze_cards(_csv(CARDS), "test-key"),
        "bronze_users": feeder.bronze_users(_csv(USERS)),
        "bronze_mcc_codes": feeder.bronze_mcc_codes(json.dumps(MCC).encode()),
        "bronze_fraud_labels": feeder.bronze_fraud_labels(json.dumps(LABELS).encode()),
    }


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


@pytest.fixture(scope="module")
def silver(engine: DuckDBEngine) -> dict[str, pa.Table]:
    return build_silver(engine, _bronze())


def _by_id(table: pa.Table) -> dict[int, dict]:
    return {row["transaction_id"]: row for row in table.to_pylist()}


def test_columns_follow_the_contract(silver: dict[str, pa.Table]) -> None:
    tx = silver["silver_transactions"].schema
    assert tx.names[:10] == [
        "transaction_id", "ts", "tx_date", "hour", "situation_date",
        "client_id", "card_id", "amount", "is_refund", "use_chip",
    ]  # fmt: skip
    assert tx.field("ts").type == pa.timestamp("us")
    assert tx.field("label").type == pa.int32()
    assert tx.field("label_source").type == pa.string()  # reference_file | analyst_review
    assert tx.field("amount").type == pa.float64()
    assert tx.field("label_known_at").type == pa.timestamp("us")
    assert tx.field("is_night").type == tx.field("is_weekend").type == pa.bool_()
    assert len(tx.names) == 41
    assert "address" not in silver["silver_users"].column_names
    assert {"card_number", "cvv"}.isdisjoint(silver["silver_cards"].column_names)


def test_amount_and_refund_flag(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    assert rows[7475327]["amount"] == -77.0 and rows[7475327]["is_refund"] is True
    assert rows[7475329]["amount"] == 80.0 and rows[7475329]["is_refund"] is False
    assert rows[7475401]["amount"] == 12.33


def test_timestamp_date_and_hour(silver: dict[str, pa.Table]) -> None:
    row = _by_id(silver["silver_transactions"])[7475500]
    assert row["ts"] == datetime(2010, 1, 1, 23, 59)
    assert row["tx_date"] == date(2010, 1, 1)
    assert row["hour"] == 23
    assert row["situation_date"] == date(2010, 1, 1)


def test_online_rows(silver: dict[str, pa.Table]) -> None:
    row = _by_id(silver["silver_transactions"])[7475401]
    assert row["merchant_state"] == "ONLINE"
    assert row["is_online"] is True and row["is_abroad"] is False
    assert row["zip"] is None


def test_abroad_only_for_countries(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    assert rows[7475478]["is_abroad"] is True and rows[7475478]["merchant_state"] == "Italy"
    assert rows[7475327]["is_abroad"] is False  # ND is a US state
    assert rows[7475478]["is_online"] is False


def test_errors_kept_whole_and_flagged(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    assert rows[7475478]["errors"] == "Bad PIN,Insufficient Balance"
    assert rows[7475478]["has_error"] is True
    assert rows[7475327]["errors"] == "no error" and rows[7475327]["has_error"] is False


def test_zip_is_five_digits_with_leading_zeros(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    assert rows[7475327]["zip"] == "58523"
    assert rows[7475329]["zip"] == "02134"
    assert rows[7475478]["zip"] is None


def test_labels_one_zero_and_unknown_stays_null(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    assert rows[7475478]["label"] == 1
    assert rows[7475327]["label"] == 0
    assert rows[7475329]["label"] is None  # unlabeled: unknown, never 0


def test_mcc_card_and_user_attributes_joined(silver: dict[str, pa.Table]) -> None:
    rows = _by_id(silver["silver_transactions"])
    refund = rows[7475327]
    assert refund["mcc_description"] == "Miscellaneous Food Stores"
    assert refund["card_brand"] == "Mastercard" and refund["card_type"] == "Debit (Prepaid)"
    assert refund["has_chip"] is False and refund["credit_limit"] == 55.0
    assert refund["acct_open_date"] == date(2005, 1, 1)
    assert refund["gender"] == "Male" and refund["total_debt"] == 0.0
    assert refund["credit_score"] == 700
    # A transaction whose card, user or MCC is unknown is kept, with NULL attributes.
    unknown = rows[7475500]
    assert unknown["mcc_code"] == 9999 and unknown["mcc_description"] is None
    orphan = rows[7475329]
    assert orphan["card_type"] is None and orphan["current_age"] is None


def test_cards_typed(silver: dict[str, pa.Table]) -> None:
    cards = {row["card_id"]: row for row in silver["silver_cards"].to_pylist()}
    visa = cards[4524]
    assert visa["expires"] == date(2022, 12, 1)
    assert visa["acct_open_date"] == date(2002, 9, 1)
    assert visa["has_chip"] is True and visa["card_on_dark_web"] is False
    assert visa["credit_limit"] == 24295.0 and visa["num_cards_issued"] == 2
    assert visa["card_last4"] == "0444" and len(visa["card_number_hash"]) == 64


def test_users_typed(silver: dict[str, pa.Table]) -> None:
    users = {row["client_id"]: row for row in silver["silver_users"].to_pylist()}
    assert users[825]["per_capita_income"] == 29278.0
    assert users[825]["yearly_income"] == 59696.0
    assert users[825]["total_debt"] == 127613.0
    assert users[825]["latitude"] == 34.15 and users[825]["credit_score"] == 787


def test_duplicates_inside_the_input_keep_the_earliest_batch(engine: DuckDBEngine) -> None:
    silver = build_silver(engine, _bronze((DAY1, DAY2)))
    rows = silver["silver_transactions"]
    ids = rows.column("transaction_id").to_pylist()
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6
    resent = _by_id(rows)[7475329]
    assert resent["situation_date"] == date(2010, 1, 1) and resent["amount"] == 80.0


def test_ids_already_in_silver_are_dropped(
    engine: DuckDBEngine, silver: dict[str, pa.Table]
) -> None:
    inputs = {
        **_bronze((DAY2,)),
        "silver_cards": silver["silver_cards"],
        "silver_users": silver["silver_users"],
        "known_transaction_ids": silver["silver_transactions"].select(["transaction_id"]),
    }
    new_rows = silver_transactions(engine, inputs)
    assert new_rows.column("transaction_id").to_pylist() == [7475600]
    assert new_rows.column("situation_date").to_pylist() == [date(2010, 1, 1)]


@pytest.mark.parametrize("name", ["silver_cards", "silver_users", "silver_transactions"])
def test_declared_checks_pass(engine: DuckDBEngine, silver: dict[str, pa.Table], name: str) -> None:
    assert [failure.message for failure in run_checks(MODELS[name], silver[name], engine)] == []


def test_three_copies_of_an_id_leave_one_the_earliest(engine: DuckDBEngine) -> None:
    inputs = _bronze((DAY2, DAY1, DAY2))  # 7475329 three times, on days 1, 2 and 3
    rows = build_silver(engine, inputs)["silver_transactions"]
    resent = [row for row in rows.to_pylist() if row["transaction_id"] == 7475329]
    assert len(resent) == 1
    assert (resent[0]["situation_date"], resent[0]["amount"]) == (date(2010, 1, 1), 81.0)
    assert rows.num_rows == 6


def test_bronze_may_arrive_as_a_stream(engine: DuckDBEngine, silver: dict[str, pa.Table]) -> None:
    bronze = _bronze()
    table = bronze["bronze_transactions"]
    stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))
    rows = silver_transactions(
        engine,
        {**bronze, **silver, "bronze_transactions": stream},
    )
    expected = silver["silver_transactions"].sort_by("transaction_id")
    assert rows.sort_by("transaction_id").equals(expected)
