"""Shadow challenger: champion and challenger compared on the same traffic, then a decision.

Two sources of evidence, one comparison (`compare`):
- **live**: the scoring API scores every request with the registered `challenger` too, off
  the request path, and logs both scores (`store.shadow_scores`); `live_evidence` joins them
  with the labels silver knows by now (`label_known_at`);
- **replay**: `replay_evidence` scores the last N days of `gold/ml_features` with both models,
  so a decision does not have to wait for live traffic.

For each model: average precision, recall at 1 % false-positive rate, and the alert volume
at the decision policy's thresholds (`lakehouse.ml.policy`: decline when P(fraud) reaches the
decline threshold, else review when P(fraud) × amount reaches the review threshold) — reviews,
declines, their sum and share — with each model's own policy, the one it would decide with in
service; plus the Pearson and Spearman correlation of the two scores.
`lakehouse.monitoring.promotion` decides on that evidence.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import average_precision_score

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import session
from lakehouse.ml import evaluate
from lakehouse.ml.policy import Policy, decision_masks
from lakehouse.monitoring import store

logger = logging.getLogger("lakehouse.monitoring.shadow")


@dataclass(frozen=True)
class ModelEvidence:
    """How one model did on the compared transactions."""

    version: str
    threshold: float
    average_precision: float | None
    recall_at_1pct_fpr: float | None
    alerts: int  # reviews + declines at the policy's thresholds
    alert_rate: float
    reviews: int
    declines: int
    decline_probability: float  # the policy's thresholds (inf: that branch is off)
    review_expected_loss: float


@dataclass(frozen=True)
class ShadowEvidence:
    """Champion against challenger on the same transactions."""

    flavour: str
    mode: str  # "live" or "replay"
    rows: int
    labeled: int
    frauds: int
    first_scored: str | None
    last_scored: str | None
    champion: ModelEvidence
    challenger: ModelEvidence
    pearson: float | None
    spearman: float | None

    def as_dict(self) -> dict[str, Any]:
        """The evidence as plain data.

        Returns:
            The fields, the two models' evidence as nested dicts (JSON-ready).
        """
        return asdict(self)


def _model_evidence(
    version: str,
    threshold: float,
    policy: Policy,
    scores: np.ndarray,
    amounts: np.ndarray,
    labels: np.ndarray,
) -> ModelEvidence:
    known = ~np.isnan(labels)
    y, s = labels[known].astype("int64"), scores[known]
    both = 0 < y.sum() < len(y)  # AP and recall need frauds and legitimate rows
    reviewed, declined = decision_masks(policy, scores, amounts)
    alerts = int((reviewed | declined).sum())
    return ModelEvidence(
        version=version,
        threshold=threshold,
        average_precision=float(average_precision_score(y, s)) if both else None,
        recall_at_1pct_fpr=evaluate.recall_at_fpr(y, s) if both else None,
        alerts=alerts,
        alert_rate=alerts / len(scores) if len(scores) else 0.0,
        reviews=int(reviewed.sum()),
        declines=int(declined.sum()),
        decline_probability=policy.decline_probability,
        review_expected_loss=policy.review_expected_loss,
    )


def compare(
    frame: pd.DataFrame,
    flavour: str,
    mode: str,
    versions: tuple[str, str],
    thresholds: tuple[float, float],
    policies: tuple[Policy, Policy],
) -> ShadowEvidence:
    """The evidence from scored rows.

    Args:
        frame: one row per transaction: champion_score, challenger_score, amount (NaN when
            unknown: never counted as a review), label (NaN when unknown) and optionally
            scored_at.
        flavour: the model flavour compared.
        mode: "live" or "replay".
        versions: (champion, challenger) registry versions.
        thresholds: (champion, challenger) decision thresholds.
        policies: (champion, challenger) decision policies, for the alert volume.

    Returns:
        Both models' metrics and the score correlation.
    """
    labels = frame["label"].astype("float64").to_numpy()
    champion = frame["champion_score"].to_numpy("float64")
    challenger = frame["challenger_score"].to_numpy("float64")
    amounts = frame["amount"].astype("float64").to_numpy()
    varied = len(frame) > 2 and champion.std() > 0 and challenger.std() > 0
    times = frame["scored_at"] if "scored_at" in frame else pd.Series(dtype="object")
    return ShadowEvidence(
        flavour=flavour,
        mode=mode,
        rows=len(frame),
        labeled=int((~np.isnan(labels)).sum()),
        frauds=int(np.nansum(labels)),
        first_scored=str(times.min()) if len(times) else None,
        last_scored=str(times.max()) if len(times) else None,
        champion=_model_evidence(
            versions[0], thresholds[0], policies[0], champion, amounts, labels
        ),
        challenger=_model_evidence(
            versions[1], thresholds[1], policies[1], challenger, amounts, labels
        ),
        pearson=float(pearsonr(champion, challenger)[0]) if varied else None,
        spearman=float(spearmanr(champion, challenger)[0]) if varied else None,
    )


def known_labels(settings: Settings, transaction_ids: list[int], as_of: datetime) -> pd.DataFrame:
    """The labels silver knows at `as_of` for these transactions (others are absent).

    A lake written before silver carried `label_known_at` counts any label as known.

    Args:
        settings: where the lake is.
        transaction_ids: the shadow-scored transactions.
        as_of: the time the labels must have been known by.

    Returns:
        Columns `transaction_id` and `label`, one row per labelled transaction.
    """
    uri = catalog.location("silver_transactions", settings)
    if not transaction_ids or not storage.exists(uri, settings):
        return pd.DataFrame({"transaction_id": [], "label": []})
    dataset = storage.read_dataset(uri, settings)
    # A lake written before silver carried `label_known_at` counts any label as known.
    known = "label_known_at <= $as_of" if "label_known_at" in dataset.schema.names else "TRUE"
    wanted = pa.table({"transaction_id": pa.array(transaction_ids, pa.int64())})
    inputs = {"silver_transactions": dataset, "wanted": wanted}
    with session(inputs, settings) as connection:
        return connection.execute(
            "SELECT transaction_id, label FROM silver_transactions JOIN wanted "
            f"USING (transaction_id) WHERE label IS NOT NULL AND {known}",
            {"as_of": as_of.replace(tzinfo=None)} if "$as_of" in known else None,
        ).df()


def live_evidence(
    settings: Settings, flavour: str, challenger_version: str, now: datetime
) -> ShadowEvidence | None:
    """The evidence of the live shadow of this challenger version.

    Args:
        settings: where the monitoring database and the lake are.
        flavour: the model flavour.
        challenger_version: the registry version whose shadow scores are read.
        now: labels known at this time are counted.

    Returns:
        The "live" evidence, or None when nothing was logged for this version.
    """
    engine = store.monitor_engine(settings)
    try:
        logged = store.read_shadow(engine, flavour, challenger_version)
    finally:
        engine.dispose()
    if logged.empty:
        return None
    ids = [int(i) for i in logged["transaction_id"]]
    labels = known_labels(settings, ids, now)
    frame = logged.merge(labels, on="transaction_id", how="left")
    latest = logged.iloc[-1]
    thresholds = (float(latest["champion_threshold"]), float(latest["challenger_threshold"]))
    return compare(
        frame,
        flavour,
        "live",
        (str(latest["champion_version"]), challenger_version),
        thresholds,
        (_logged_policy(latest, "champion"), _logged_policy(latest, "challenger")),
    )


def _logged_policy(row: pd.Series, who: str) -> Policy:
    """The policy a shadow row logged for `who`; a row logged before policies were, its
    threshold as "decline what is flagged" (what `policy.model_policy` falls back to)."""
    decline, review = row.get(f"{who}_decline_probability"), row.get(f"{who}_review_expected_loss")
    if decline is None or review is None or pd.isna(decline) or pd.isna(review):
        return Policy(float(row[f"{who}_threshold"]), math.inf, "threshold")
    return Policy(float(decline), float(review))
