"""Fixtures of the generator tests: generated folders and their transactions as frames.

`fraud_rich_dir` is one year for 300 clients with the fraud rate raised six-fold
(`fraud_multiplier=6`, about 1,200 labeled frauds), so the orderings and clusters of DATA.md
can be measured at a small scale; `default_rate_dir` keeps the default fraud rate for the
0.15 % check. Both are made once per session and read-only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakehouse import formats
from lakehouse.datagen import generate


def load_transactions(raw: Path) -> pd.DataFrame:
    """Transactions joined with labels, cards and users, with typed helper columns."""
    tx = formats.read_transactions_csv(raw / formats.TRANSACTIONS_FILE)
    labels = json.loads((raw / formats.LABELS_FILE).read_text())["target"]
    tx["label"] = tx["id"].map(labels)
    tx["ts"] = pd.to_datetime(tx["date"])
    tx["hour"] = tx["ts"].dt.hour
    tx["amount_value"] = tx["amount"].str.slice(1).astype(float)
    tx["is_online"] = tx["merchant_city"] == formats.ONLINE_CITY
    tx["is_us"] = tx["merchant_state"].isin(formats.US_STATES)
    tx["is_abroad"] = ~tx["is_online"] & ~tx["is_us"]
    cards = pd.read_csv(raw / formats.CARDS_FILE, dtype=str)
    users = pd.read_csv(raw / formats.USERS_FILE, dtype=str)
    cards = cards.rename(columns={"id": "card_id"})[["card_id", "card_brand", "card_type"]]
    users = users.rename(columns={"id": "client_id"})
    users["yearly_income_value"] = users["yearly_income"].str.slice(1).astype(float)
    users["per_capita_value"] = users["per_capita_income"].str.slice(1).astype(float)
    tx = tx.merge(cards, on="card_id", how="left").merge(
        users[["client_id", "yearly_income_value", "per_capita_value", "address"]],
        on="client_id", how="left")
    tx["y"] = np.where(tx["label"] == "Yes", 1, 0)
    return tx


@pytest.fixture(scope="session")
def fraud_rich_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fraud_rich")
    generate(out, clients=300, transactions=200_000, seed=3, start="2018-01-01",
             end="2018-12-31", fraud_multiplier=6)
    return out


@pytest.fixture(scope="session")
def fraud_rich(fraud_rich_dir: Path) -> pd.DataFrame:
    """All rows of `fraud_rich_dir` (labels NaN where unlabeled)."""
    return load_transactions(fraud_rich_dir)


@pytest.fixture(scope="session")
def default_rate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default_rate")
    generate(out, clients=400, transactions=300_000, seed=11, start="2017-01-01",
             end="2018-12-31")
    return out
