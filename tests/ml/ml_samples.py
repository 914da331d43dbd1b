"""A small, hand-made `silver_transactions` table for the feature tests.

Built directly in the CONTRACTS.md silver schema (so the feature SQL is tested on its own,
without the generator or the silver models): a few cards and clients over ~90 days, with
refunds, errors, online and abroad rows, some same-minute pairs, labels on about two thirds
of the rows and a few fraud bursts. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

START = pd.Timestamp("2019-01-01")


def silver_sample(
    rows: int = 2_500, days: int = 90, clients: int = 12, seed: int = 3, delay_days: int = 7
) -> pa.Table:
    rng = np.random.default_rng(seed)
    minutes = np.sort(rng.integers(0, days * 1440, rows))
    # Same-minute pairs: "strictly earlier" must exclude a row sharing the timestamp.
    minutes[1::97] = minutes[0::97][: len(minutes[1::97])]
    minutes = np.sort(minutes)
    ts = START + pd.to_timedelta(minutes, unit="min")
    client = rng.integers(1, clients + 1, rows)
    card = client * 10 + rng.integers(0, 2, rows)
    state = rng.choice(["CA", "NY", "TX", "ONLINE", "Italy", "Mexico"], rows,
                       p=[0.45, 0.2, 0.15, 0.12, 0.05, 0.03])
    amount = np.round(rng.gamma(2.0, 25.0, rows), 2)
    amount[rng.random(rows) < 0.05] *= -1
    label = np.where(rng.random(rows) < 0.02, 1, 0)
    label[(state == "Italy") & (rng.random(rows) < 0.5)] = 1
    labeled = rng.random(rows) < 0.67
    errors = rng.choice(["no error", "Bad CVV", "Bad PIN,Insufficient Balance", "Bad Expiration",
                         "Bad Card Number", "Technical Glitch"], rows,
                        p=[0.9, 0.02, 0.03, 0.02, 0.02, 0.01])
    use_chip = np.where(state == "ONLINE", "Online Transaction",
                        rng.choice(["Swipe Transaction", "Chip Transaction"], rows))
    frame = pd.DataFrame({
        "transaction_id": (np.arange(rows) * 3 + 5000).astype("int64"),
        "ts": ts.astype("datetime64[us]"),
        "tx_date": ts.date,
        "hour": ts.hour.astype("int32"),
        "situation_date": ts.date,
        "client_id": client.astype("int64"),
        "card_id": card.astype("int64"),
        "amount": amount,
        "is_refund": amount < 0,
        "use_chip": use_chip,
        "merchant_id": rng.integers(100, 140, rows).astype("int64"),
        "merchant_city": np.where(state == "ONLINE", "ONLINE", "Town"),
        "merchant_state": state,
        "zip": None,
        "mcc_code": rng.choice([5411, 5812, 5732, 5311], rows).astype("int32"),
        "mcc_description": "x",
        "errors": errors,
        "has_error": errors != "no error",
        "is_online": state == "ONLINE",
        "is_abroad": np.isin(state, ["Italy", "Mexico"]),
        "is_night": (ts.hour >= 22) | (ts.hour < 6),
        "is_weekend": ts.dayofweek >= 5,
        "label": pd.Series(label, dtype="Int32").where(labeled, pd.NA),
        "card_brand": rng.choice(["Visa", "Mastercard", "Amex", "Discover"], rows),
        "card_type": rng.choice(["Debit", "Credit", "Debit (Prepaid)"], rows),
        "has_chip": rng.random(rows) < 0.9,
        "num_cards_issued": rng.integers(1, 3, rows).astype("int32"),
        "credit_limit": np.round(rng.uniform(500, 30_000, rows), 0),
        "card_on_dark_web": False,
        "current_age": rng.integers(20, 80, rows).astype("int32"),
        "gender": "Female",
        "latitude": 40.0,
        "longitude": -75.0,
        "per_capita_income": np.round(rng.uniform(10_000, 50_000, rows), 0),
        "yearly_income": np.round(rng.uniform(20_000, 100_000, rows), 0),
        "total_debt": np.round(rng.uniform(0, 150_000, rows), 0),
        "credit_score": rng.integers(500, 850, rows).astype("int32"),
        "num_credit_cards": rng.integers(1, 8, rows).astype("int32"),
    })
    # Reference-file labels become known the label delay after their transaction.
    known = frame["ts"] + pd.Timedelta(days=delay_days)
    frame.insert(frame.columns.get_loc("label") + 1, "label_known_at",
                 known.where(frame["label"].notna()))
    return pa.Table.from_pandas(frame, preserve_index=False)
