"""Reading a generated folder back as one frame, for the generator's statistical tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lakehouse import formats


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
