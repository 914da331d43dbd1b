"""The merchant-compromise and spending-shift features (issue 12) on hand-made transactions:
recent known-label windows count labels by the day they became known, never earlier; per-window
means and the amount-to-card-mean ratio follow the card's own history."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from ml_samples import silver_sample

from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.models import run_model

DELAY_DAYS = 7


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = run_model(DuckDBEngine(threads=1), "ml_features", {"silver_transactions": table}, {})
    return out.to_pandas().sort_values("ts").reset_index(drop=True)


def _one_merchant(days: int) -> pd.DataFrame:
    base = silver_sample(rows=days, days=1, clients=1).to_pandas().iloc[:days].copy()
    base["merchant_id"] = 777
    base["ts"] = [pd.Timestamp("2019-03-04 12:00") + pd.Timedelta(days=d) for d in range(days)]
    base["tx_date"] = base["ts"].dt.date
    base["label"] = pd.array([None] * days, dtype="Int32")
    base["label_known_at"] = pd.NaT
    return base


def test_recent_merchant_frauds_count_from_when_they_became_known() -> None:
    frame = _one_merchant(40)
    # Frauds on days 0 and 1 (known 7 days later, at noon: usable from the next midnight),
    # a legitimate label on day 2.
    for day, label in ((0, 1), (1, 1), (2, 0)):
        frame.loc[day, "label"] = label
        frame.loc[day, "label_known_at"] = frame.loc[day, "ts"] + pd.Timedelta(days=DELAY_DAYS)
    out = _features(frame)
    frauds_1d = out["merchant_recent_frauds_1d"].tolist()
    # Known on day 7 and 8 at noon -> counted on days 8 and 9 only in the 1-day window.
    assert frauds_1d[:8] == [0] * 8 and frauds_1d[8:10] == [1, 1] and set(frauds_1d[10:]) == {0}
    frauds_7d = out["merchant_recent_frauds_7d"].tolist()
    # The 7-day window on day d covers the known days d-6..d.
    assert frauds_7d[8] == 1 and frauds_7d[9] == 2 and frauds_7d[14] == 2 and frauds_7d[15] == 1
    assert frauds_7d[16] == 0
    assert out["merchant_recent_labeled_7d"][10] == 3
    assert out["merchant_recent_fraud_rate_7d"][10] == pytest.approx(2 / 3)
    assert pd.isna(out["merchant_recent_fraud_rate_1d"][5])  # nothing known: no rate
    # The 30-day window still holds them on day 37 (known days 8..37), not on day 39; the
    # cumulative tallies always do.
    assert out["merchant_recent_frauds_30d"][37] == 2
    assert out["merchant_recent_frauds_30d"][39] == 0
    assert out["merchant_labels_known"][39] == 3


def test_window_means_and_the_jump_ratio_use_only_earlier_transactions() -> None:
    frame = _one_merchant(5)
    frame["card_id"] = 11
    frame["amount"] = [10.0, 20.0, 30.0, 40.0, 400.0]
    out = _features(frame)
    ratio = out["amount_to_card_mean_7d"]
    assert pd.isna(ratio[0])  # no earlier transaction: no mean to compare with
    # The card's earlier mean is 10, 15, 20, then 25 before the jump to 400.
    assert ratio.tolist()[1:] == pytest.approx([20 / 10, 30 / 15, 40 / 20, 400 / 25])
    assert out["amount_to_card_mean_30d"][4] == pytest.approx(400 / 25)
    assert out["client_amount_mean_24h"][2] == 20.0  # only the previous day's one
    assert out["client_amount_mean_7d"][4] == 25.0


def test_burst_signals_count_a_card_going_online_within_hours() -> None:
    # A card used once a day in California for ten days, then three times online within an
    # hour on day 10 (a stolen card's burst), then once more in California an hour later.
    frame = _one_merchant(14)
    frame["card_id"] = 11
    hours = [24 * d for d in range(10)] + [240, 240.25, 240.5, 241.5]
    frame["ts"] = [pd.Timestamp("2019-03-04 08:00") + pd.Timedelta(hours=h) for h in hours]
    frame["tx_date"] = frame["ts"].dt.date
    online = [False] * 10 + [True] * 3 + [False]
    frame["is_online"] = online
    frame["is_abroad"] = False
    frame["merchant_state"] = ["ONLINE" if o else "CA" for o in online]
    frame["use_chip"] = ["Online Transaction" if o else "Chip Transaction" for o in online]
    out = _features(frame)
    assert out["card_online_count_24h"].tolist()[10:] == [0, 1, 2, 3]
    # The last 24 hours' transactions against the month's daily mean: 1 of 10 before the burst
    # (the one exactly a day earlier counts), 3 of 13 after it.
    assert out["card_velocity_24h"][10] == pytest.approx(1 * 30 / 10)
    assert out["card_velocity_24h"][13] == pytest.approx(3 * 30 / 13)
    assert pd.isna(out["card_velocity_24h"][0])  # no history: no velocity
    # Share of the client's month in this state (ONLINE, then CA) that is from the last day.
    share = out["state_recent_share_24h"]
    assert pd.isna(share[10])  # first time online in 30 days
    assert share.tolist()[11:13] == [1.0, 1.0]
    assert share[13] == 0.0  # back in California: none of its ten in the last day
    assert share[5] == pytest.approx(1 / 5)
