"""Generated data behaves like DATA.md's calibration table at a small scale: fraud rate,
labels, the orderings of fraud rates, fraud clustered in bursts, and separability that comes
from behaviour over time rather than from static fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakehouse import formats


def labeled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["label"].notna()]


def rate(frame: pd.DataFrame, mask: pd.Series) -> float:
    return float(labeled(frame[mask])["y"].mean())


def test_fraud_is_about_015_percent_of_labeled(default_rate: pd.DataFrame) -> None:
    tx = default_rate
    fraud_rate = labeled(tx)["y"].mean()
    assert 0.0010 <= fraud_rate <= 0.0022, fraud_rate


def test_small_fixture_fraud_rate(small_raw_dir: Path) -> None:
    labels = json.loads((small_raw_dir / formats.LABELS_FILE).read_text())["target"]
    frauds = sum(v == "Yes" for v in labels.values())
    assert 0.0004 <= frauds / len(labels) <= 0.004, frauds


def test_labels_cover_two_thirds_flat_over_time(default_rate: pd.DataFrame) -> None:
    tx = default_rate
    by_month = tx.groupby(tx["date"].str.slice(0, 7))["label"].apply(lambda s: s.notna().mean())
    assert len(by_month) == 24
    assert by_month.between(0.64, 0.70).all(), by_month.to_dict()


def test_fraud_rate_orderings(fraud_rich: pd.DataFrame) -> None:
    tx = fraud_rich
    online = rate(tx, tx["use_chip"] == "Online Transaction")
    chip = rate(tx, tx["use_chip"] == "Chip Transaction")
    swipe = rate(tx, tx["use_chip"] == "Swipe Transaction")
    assert online > chip > swipe, (online, chip, swipe)
    assert rate(tx, tx["is_abroad"]) > 5 * rate(tx, tx["is_us"])
    assert rate(tx, tx["mcc"] == "5311") > 3 * rate(tx, tx["mcc"] == "5411")
    assert rate(tx, tx["mcc"] == "4784") < rate(tx, tx["mcc"] == "5411")
    day = rate(tx, tx["hour"].between(10, 13))
    night = rate(tx, tx["hour"].between(20, 23))
    assert day > 3 * night, (day, night)


def test_shares_of_the_calibration_table(fraud_rich: pd.DataFrame) -> None:
    tx = fraud_rich
    assert tx["is_online"].mean() == pytest.approx(0.117, abs=0.03)
    assert tx["is_abroad"].mean() == pytest.approx(0.0045, abs=0.003)
    assert (tx["errors"] != "").mean() == pytest.approx(0.016, abs=0.005)
    errors = tx.loc[tx["errors"] != "", "errors"].str.split(",").explode().value_counts()
    assert errors.index[0] == "Insufficient Balance"
    legit = labeled(tx)[labeled(tx)["y"] == 0]["amount_value"]
    fraud = labeled(tx)[labeled(tx)["y"] == 1]["amount_value"]
    assert 20 <= legit[legit > 0].median() <= 40
    assert fraud.median() > 1.8 * legit[legit > 0].median()
    fraud_countries = tx.loc[tx["label"].notna() & tx["is_abroad"] & (tx["y"] == 1),
                             "merchant_state"]
    assert fraud_countries.value_counts().head(2).sum() >= 0.8 * len(fraud_countries)


def test_fraud_comes_in_card_bursts(fraud_rich: pd.DataFrame) -> None:
    """Most frauds have another fraud on the same card within 3 days; random rows do not."""
    lab = labeled(fraud_rich)

    def share_with_neighbour(rows: pd.DataFrame) -> float:
        rows = rows.sort_values(["card_id", "ts"])
        same = rows["card_id"].eq(rows["card_id"].shift())
        gap = rows["ts"].diff().dt.total_seconds().div(86_400)
        close = same & (gap <= 3)
        has = close | close.shift(-1, fill_value=False)
        return float(has.mean())

    frauds = lab[lab["y"] == 1]
    baseline = lab[lab["y"] == 0].sample(len(frauds), random_state=0)
    assert share_with_neighbour(frauds) >= 0.6
    assert share_with_neighbour(frauds) >= 5 * share_with_neighbour(baseline)


def test_fraud_clusters_on_breached_merchants(fraud_rich: pd.DataFrame) -> None:
    """Some in-person merchants carry many frauds from many cards inside a short window."""
    lab = labeled(fraud_rich)
    in_person_frauds = lab[(lab["y"] == 1) & lab["is_us"]]
    stats = in_person_frauds.groupby("merchant_id").agg(
        frauds=("y", "size"), cards=("card_id", "nunique"),
        span=("ts", lambda s: (s.max() - s.min()).days))
    breached = stats[(stats["frauds"] >= 5) & (stats["cards"] >= 3) & (stats["span"] <= 45)]
    assert len(breached) >= 1, stats.sort_values("frauds").tail()


def test_account_takeovers_jump_above_the_clients_habits(fraud_rich: pd.DataFrame) -> None:
    tx = fraud_rich
    usual = tx[tx["amount_value"] > 0].groupby("client_id")["amount_value"].median()
    ratio = tx["amount_value"] / tx["client_id"].map(usual)
    lab = labeled(tx.assign(ratio=ratio))
    jump = lab["ratio"] > 8
    assert lab.loc[jump, "y"].mean() > 5 * lab.loc[~jump, "y"].mean()
    # ...and they cluster per client: jumped frauds mostly have a sibling within 12 days.
    jumped = lab[jump & (lab["y"] == 1)].sort_values(["client_id", "ts"])
    same = jumped["client_id"].eq(jumped["client_id"].shift())
    close = same & (jumped["ts"].diff().dt.days <= 12)
    assert (close | close.shift(-1, fill_value=False)).mean() >= 0.5


def _features(tx: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    static = pd.get_dummies(tx[["card_brand", "card_type", "use_chip"]], dtype=float)
    static["log_amount"] = np.log1p(tx["amount_value"].abs())
    static["refund"] = (tx["amount_value"] < 0).astype(float)
    static["online"] = tx["is_online"].astype(float)
    static["abroad"] = tx["is_abroad"].astype(float)
    static["log_income"] = np.log(tx["yearly_income_value"])
    static["log_per_capita"] = np.log(tx["per_capita_value"])
    # Velocity: how many rows the card made in the 24 h up to this one (included).
    seconds = ((tx["ts"] - pd.Timestamp(0)).dt.total_seconds()).astype(np.int64).to_numpy()
    card = tx["card_id"].astype(np.int64).to_numpy()
    order = np.lexsort((seconds, card))
    key = card[order] * 10**10 + seconds[order]
    count = np.empty(len(tx))
    count[order] = np.arange(len(key)) - np.searchsorted(key, key - 86_400, side="right") + 1
    usual = tx[tx["amount_value"] > 0].groupby("client_id")["amount_value"].median()
    behaviour = static.copy()
    behaviour["card_24h_count"] = np.log1p(count)
    behaviour["amount_vs_client"] = np.log1p(tx["amount_value"].abs()
                                             / tx["client_id"].map(usual))
    # Distance from habits: the client's first visit to this merchant.
    visits = tx.sort_values("ts", kind="stable").groupby(["client_id", "merchant_id"]).cumcount()
    behaviour["new_merchant"] = (visits.reindex(tx.index) == 0).astype(float)
    return static, behaviour


def test_behaviour_separates_fraud_much_better_than_static_fields(
    fraud_rich: pd.DataFrame,
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    static, behaviour = _features(fraud_rich)
    mask = fraud_rich["label"].notna().to_numpy()
    y = fraud_rich["y"].to_numpy()[mask]
    scores = {}
    for name, features in (("static", static), ("behaviour", behaviour)):
        x_train, x_test, y_train, y_test = train_test_split(
            features.to_numpy()[mask], y, test_size=0.5, random_state=0, stratify=y)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(x_train, y_train)
        scores[name] = average_precision_score(y_test, model.predict_proba(x_test)[:, 1])
    # Margin: behaviour at least doubles the static average precision and adds 0.15.
    assert scores["behaviour"] >= 2 * scores["static"], scores
    assert scores["behaviour"] >= scores["static"] + 0.15, scores
