"""The shadow report's alert volume is counted at the decision policy's thresholds.

`shadow.compare` gets each model's policy (decline at P(fraud), review at P(fraud) × amount):
a row is a decline, a review (only with a known, positive amount at risk) or nothing, exactly
as `policy.decide` answers one transaction. The live log carries what that needs — the amount
and both models' policy thresholds — and a monitoring store created before those columns
existed (SQLite and PostgreSQL) gets them added, its old rows read back as "amount unknown,
threshold policy".
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lakehouse.config import Settings
from lakehouse.ml.policy import Policy, decide
from lakehouse.monitoring import shadow, store

CHAMPION = Policy(decline_probability=0.9, review_expected_loss=50.0)
CHALLENGER = Policy(decline_probability=0.6, review_expected_loss=20.0)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 400
    amounts = rng.uniform(-50, 400, n)
    amounts[:10] = np.nan  # logged before the amount was
    return pd.DataFrame(
        {
            "champion_score": rng.uniform(0, 1, n),
            "challenger_score": rng.uniform(0, 1, n),
            "amount": amounts,
            "label": np.where(rng.uniform(0, 1, n) < 0.1, 1.0, 0.0),
        }
    )


def _decided(policy: Policy, scores: pd.Series, amounts: pd.Series) -> tuple[int, int]:
    """(reviews, declines) of `decide`, one transaction at a time; unknown amount: no review."""
    outcomes = [
        decide(policy, p, a).decision if not math.isnan(a) else
        ("decline" if p >= policy.decline_probability else "approve")
        for p, a in zip(scores, amounts, strict=True)
    ]  # fmt: skip
    return outcomes.count("review"), outcomes.count("decline")


def test_alert_volume_follows_each_models_policy() -> None:
    frame = _frame()
    evidence = shadow.compare(
        frame, "full", "replay", ("1", "2"), (0.5, 0.5), (CHAMPION, CHALLENGER)
    )
    for model, policy, column in (
        (evidence.champion, CHAMPION, "champion_score"),
        (evidence.challenger, CHALLENGER, "challenger_score"),
    ):
        reviews, declines = _decided(policy, frame[column], frame["amount"])
        assert (model.reviews, model.declines) == (reviews, declines)
        assert reviews > 0 and declines > 0
        assert model.alerts == reviews + declines
        assert model.alert_rate == pytest.approx((reviews + declines) / len(frame))
        assert (model.decline_probability, model.review_expected_loss) == (
            policy.decline_probability, policy.review_expected_loss)  # fmt: skip
    # not the model's own threshold: 0.5 would flag about half of the rows
    assert evidence.champion.alerts != int((frame["champion_score"] >= 0.5).sum())


def _old_store(url: str) -> None:
    """A monitoring store as the version before policies wrote it, with one logged pair."""
    engine = sa.create_engine(url)
    old = sa.MetaData()
    table = sa.Table(
        "shadow_scores", old,
        sa.Column("transaction_id", sa.BigInteger), sa.Column("flavour", sa.String(16)),
        sa.Column("champion_version", sa.String(32)),
        sa.Column("challenger_version", sa.String(32)),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
        sa.Column("champion_score", sa.Float), sa.Column("challenger_score", sa.Float),
        sa.Column("champion_threshold", sa.Float), sa.Column("challenger_threshold", sa.Float),
    )  # fmt: skip
    old.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{
            "transaction_id": 1, "flavour": "full", "champion_version": "1",
            "challenger_version": "2", "scored_at": datetime(2026, 1, 1, tzinfo=UTC),
            "champion_score": 0.95, "challenger_score": 0.2, "champion_threshold": 0.5,
            "challenger_threshold": 0.5}])  # fmt: skip
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def monitor_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitoring.db'}"
    return request.getfixturevalue("pg_url")


def test_an_older_store_gets_the_policy_columns(monitor_url: str, tmp_path: Path) -> None:
    _old_store(monitor_url)
    settings = Settings(data_dir=tmp_path, monitor_db_url=monitor_url)  # type: ignore[call-arg]
    engine = store.monitor_engine(settings)
    store.write_shadow(engine, [{
        "transaction_id": 2, "flavour": "full", "champion_version": "1",
        "challenger_version": "2", "scored_at": datetime(2026, 1, 2, tzinfo=UTC),
        "champion_score": 0.3, "challenger_score": 0.7, "champion_threshold": 0.5,
        "challenger_threshold": 0.5, "amount": 120.0,
        "champion_decline_probability": CHAMPION.decline_probability,
        "champion_review_expected_loss": CHAMPION.review_expected_loss,
        "challenger_decline_probability": CHALLENGER.decline_probability,
        "challenger_review_expected_loss": CHALLENGER.review_expected_loss}])  # fmt: skip
    logged = store.read_shadow(engine, "full", "2")
    store.monitor_engine(settings).dispose()  # a second start: nothing left to add
    engine.dispose()
    old, new = logged.iloc[0], logged.iloc[1]
    assert pd.isna(old["amount"]) and new["amount"] == 120.0
    assert shadow._logged_policy(old, "champion") == Policy(0.5, math.inf, "threshold")
    assert shadow._logged_policy(new, "challenger") == CHALLENGER
    frame = logged.assign(label=np.nan)
    evidence = shadow.compare(frame, "full", "live", ("1", "2"), (0.5, 0.5),
                              (CHAMPION, CHALLENGER))  # fmt: skip
    # challenger: 0.7 * $120 = $84 >= $20 and 0.7 >= 0.6 -> a decline; 0.2 with no amount: none
    assert (evidence.challenger.reviews, evidence.challenger.declines) == (0, 1)
    # champion: 0.95 -> decline; 0.3 * $120 = $36 < $50 -> approve
    assert (evidence.champion.reviews, evidence.champion.declines) == (0, 1)
