"""Helpers to check the API's answers: tables read back, and an independent computation.

`read_table` reads a published datamart back with plain SQLAlchemy. `build_datamarts` computes
the five datamarts straight from the raw files of DATA.md with pandas, sharing no code with
the pipeline, so one test can check the whole path raw files → pipeline → publish → HTTP.
Definitions follow docs/CONTRACTS.md (gold) and the pipeline's SQL models: purchases are
amount > 0, `drop_count` counts purchases labeled legitimate, rates are over labeled rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from api.datamarts import DATAMARTS, columns


def _purchases(raw_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    tx = pd.read_csv(raw_dir / "transactions_data.csv", dtype={"zip": "string"})
    tx["amount"] = tx["amount"].str.replace("$", "", regex=False).astype(float)
    labels = json.loads((raw_dir / "train_fraud_labels.json").read_text())["target"]
    label_by_id = pd.Series({int(k): 1.0 if v == "Yes" else 0.0 for k, v in labels.items()})
    tx["label"] = tx["id"].map(label_by_id)
    tx["hour"] = tx["date"].str.slice(11, 13).astype(int)
    tx["tx_date"] = tx["date"].str.slice(0, 10)
    tx["is_fraud"] = (tx["label"] == 1).astype(int)
    tx["is_labeled"] = tx["label"].notna().astype(int)
    tx["is_drop"] = (tx["label"] == 0).astype(int)
    return tx[tx["amount"] > 0].copy(), tx


def _label_counts(grouped: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:
    frame = grouped.agg(
        tx_count=("id", "size"),
        fraud_count=("is_fraud", "sum"),
        drop_count=("is_drop", "sum"),
        labeled_count=("is_labeled", "sum"),
        avg_amount=("amount", "mean"),
    )
    labeled = frame["labeled_count"].where(frame["labeled_count"] > 0)
    frame["fraud_rate"] = frame["fraud_count"] / labeled
    frame["drop_rate"] = frame["drop_count"] / labeled
    return frame


def build_datamarts(raw_dir: Path) -> dict[str, pd.DataFrame]:
    """The five datamarts, by table name, with exactly the contract's columns."""
    purchases, everything = _purchases(raw_dir)
    marts: dict[str, pd.DataFrame] = {}

    clients = _label_counts(purchases.groupby("client_id"))
    clients["std_amount"] = purchases.groupby("client_id")["amount"].std()
    refunds = everything[everything["amount"] < 0].groupby("client_id").size()
    clients["refund_count"] = refunds.reindex(clients.index, fill_value=0)
    clients["unique_merchants"] = purchases.groupby("client_id")["merchant_id"].nunique()
    marts["dm_client_features"] = clients.reset_index()[
        ["client_id", "tx_count", "avg_amount", "std_amount", "fraud_count", "drop_count",
         "labeled_count", "refund_count", "unique_merchants", "fraud_rate", "drop_rate"]
    ]

    cards = pd.read_csv(raw_dir / "cards_data.csv", usecols=["id", "card_type"])
    by_card = _label_counts(purchases.groupby("card_id")).reset_index()
    by_card = by_card.merge(cards, left_on="card_id", right_on="id", how="left")
    marts["dm_card_features"] = by_card.rename(columns={"card_id": "tx_card_id"})[
        ["tx_card_id", "card_type", "tx_count", "fraud_count", "avg_amount", "drop_count",
         "labeled_count", "fraud_rate", "drop_rate"]
    ]

    daily = purchases.groupby(["client_id", "tx_date"]).size().rename("n").reset_index()
    velocity = daily.groupby("client_id")["n"].agg(
        active_days="size", total="sum", max_daily_txn="max"
    )
    velocity["avg_daily_txn"] = velocity["total"] / velocity["active_days"]
    marts["dm_client_velocity"] = velocity.reset_index()[
        ["client_id", "active_days", "avg_daily_txn", "max_daily_txn"]
    ]

    descriptions = json.loads((raw_dir / "mcc_codes.json").read_text())
    mcc = _label_counts(purchases.groupby("mcc")).reset_index().rename(columns={"mcc": "mcc_code"})
    mcc["mcc_description"] = mcc["mcc_code"].astype(str).map(descriptions)
    marts["dm_mcc_fraud_risk"] = mcc[
        ["mcc_code", "mcc_description", "tx_count", "fraud_count", "drop_count",
         "labeled_count", "fraud_rate", "drop_rate"]
    ]

    hours = _label_counts(purchases.groupby("hour"))  # hours without purchases have no row
    marts["dm_time_of_day_fraud"] = hours.reset_index()[
        ["hour", "tx_count", "fraud_count", "drop_count", "labeled_count", "fraud_rate",
         "drop_rate"]
    ]
    return marts


def read_table(engine: sa.Engine, name: str) -> list[dict[str, Any]]:
    """Every row of the datamart `name` as the database holds it, ordered by key."""
    datamart = DATAMARTS[name]
    table = sa.table(datamart.table, *(sa.column(c) for c in columns(datamart.schema)))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c[datamart.key])).mappings()
        return [
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in rows
        ]
