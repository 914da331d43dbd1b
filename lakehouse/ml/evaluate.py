"""Evaluation of fraud scores on a time window: the metrics, the threshold and the plots.

Training (`lakehouse/ml/train.py`) hands this module the labels and calibrated scores of the
validation and test windows; what leaves it are plain numbers (logged to MLflow and stored
with the model) and matplotlib figures (logged as run artifacts). Nothing here reads or
writes data.

The metrics follow how a fraud team works an alert queue: ranking quality (ROC-AUC, average
precision), recall at a 1 % false-positive budget, precision of the top-k alerts, and card
precision at top-k — per day, the k cards with the highest score, and the share of them that
really were compromised that day (Le Borgne et al., *Reproducible Machine Learning for Credit
Card Fraud Detection*), averaged over the days of the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

TOP_K = 100
CARD_TOP_K_PER_DAY = 10
CARD_TOP_K = 100  # Le Borgne et al.'s card precision@100 (per day), for larger windows
FPR_BUDGET = 0.01
F_BETA = 2.0  # a missed fraud costs more than a false alert: weigh recall twice


def recall_at_fpr(y: np.ndarray, score: np.ndarray, fpr_budget: float = FPR_BUDGET) -> float:
    """The largest recall reachable while flagging at most `fpr_budget` of legitimate rows.

    Args:
        y: 0/1 labels.
        score: the model's scores.
        fpr_budget: the largest false-positive rate allowed.

    Returns:
        The recall, 0.0 when no cut stays within the budget.
    """
    fpr, tpr, _ = roc_curve(y, score)
    allowed = fpr <= fpr_budget
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int = TOP_K) -> float:
    """Share of frauds among the `k` highest scores of the window.

    Args:
        y: 0/1 labels.
        score: the model's scores.
        k: how many top scores (fewer when the window is smaller).

    Returns:
        The precision, 0.0 for an empty window.
    """
    k = min(k, len(score))
    if k == 0:
        return 0.0
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.asarray(y)[top].mean())


def card_precision_at_k(
    y: np.ndarray,
    score: np.ndarray,
    day: np.ndarray,
    card: np.ndarray,
    k: int = CARD_TOP_K_PER_DAY,
) -> float:
    """Per day: the k cards with the highest score, share that had a fraud that day; mean.

    Args:
        y: 0/1 labels.
        score: the model's scores.
        day: each row's day.
        card: each row's card.
        k: cards per day.

    Returns:
        The mean over days, 0.0 for an empty window.
    """
    frame = pd.DataFrame({"y": y, "score": score, "day": day, "card": card})
    per_card = frame.groupby(["day", "card"], sort=False).agg(
        score=("score", "max"), fraud=("y", "max")
    ).reset_index()
    if per_card.empty:
        return 0.0
    # Vectorised (no Python call per day): each day's cards by decreasing score, the first k.
    ranked = per_card.sort_values(["day", "score"], ascending=[True, False], kind="stable")
    top = ranked[ranked.groupby("day", sort=False).cumcount() < k]
    per_day = top.groupby("day", sort=False)["fraud"].agg(["sum", "size"])
    return float((per_day["sum"] / per_day["size"]).mean())


def choose_threshold(y: np.ndarray, probability: np.ndarray, beta: float = F_BETA) -> float:
    """The probability cut maximising F-beta on the validation window.

    Args:
        y: 0/1 labels of the validation window.
        probability: calibrated probabilities.
        beta: recall weighs `beta` times precision.

    Returns:
        The threshold (0.5 when the curve is empty).
    """
    precision, recall, thresholds = precision_recall_curve(y, probability)
    precision, recall = precision[:-1], recall[:-1]
    denominator = beta**2 * precision + recall
    f_beta = np.divide(
        (1 + beta**2) * precision * recall,
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    return float(thresholds[int(np.argmax(f_beta))]) if len(thresholds) else 0.5


def window_metrics(
    y: np.ndarray, probability: np.ndarray, day: np.ndarray, card: np.ndarray, threshold: float
) -> dict[str, float]:
    """Every metric of one window, keyed by its MLflow name.

    Args:
        y: 0/1 labels.
        probability: calibrated probabilities.
        day: each row's day (card precision per day).
        card: each row's card.
        threshold: the model's decision threshold.

    Returns:
        `{metric name: value}` (AUC, AP, recall at 1 % FPR, precisions, base rate, counts).
    """
    y = np.asarray(y, dtype="int64")
    flagged = probability >= threshold
    true_positive = float((flagged & (y == 1)).sum())
    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "average_precision": float(average_precision_score(y, probability)),
        "recall_at_1pct_fpr": recall_at_fpr(y, probability),
        f"precision_at_{TOP_K}": precision_at_k(y, probability),
        f"card_precision_at_{CARD_TOP_K_PER_DAY}": card_precision_at_k(
            y, probability, day, card
        ),
        f"card_precision_at_{CARD_TOP_K}": card_precision_at_k(y, probability, day, card,
                                                              CARD_TOP_K),
        "precision_at_threshold": true_positive / max(float(flagged.sum()), 1.0),
        "recall_at_threshold": true_positive / max(float(y.sum()), 1.0),
        "base_rate": float(y.mean()),
        "rows": float(len(y)),
        "frauds": float(y.sum()),
    }


def figures(
    y: np.ndarray,
    curves: dict[str, np.ndarray],
    importance: pd.Series,
    threshold: float,
) -> dict[str, Any]:
    """ROC, precision-recall, feature importance and score distribution, as figures by file.

    Args:
        y: test labels.
        curves: model label -> its test probabilities (the model and its baseline).
        importance: gain per feature of the booster.
        threshold: the decision threshold drawn on the score distribution.

    Returns:
        File name (e.g. `roc_curve.png`) -> matplotlib figure, for the run's artifacts.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: training runs in the pipeline and in CI
    import matplotlib.pyplot as plt

    out: dict[str, Any] = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, probability in curves.items():
        fpr, tpr, _ = roc_curve(y, probability)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y, probability):.3f})")
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set(xlabel="false-positive rate", ylabel="recall", title="ROC, test window")
    ax.legend(loc="lower right")
    out["roc_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, probability in curves.items():
        precision, recall, _ = precision_recall_curve(y, probability)
        ap = average_precision_score(y, probability)
        ax.plot(recall, precision, label=f"{label} (AP {ap:.3f})")
    ax.axhline(float(np.mean(y)), color="k", linestyle=":", linewidth=0.8, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test window")
    ax.legend(loc="upper right")
    out["pr_curve.png"] = fig

    top = importance.sort_values().tail(20)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh(top.index, top.values)
    ax.set(xlabel="total gain", title="Feature importance (top 20)")
    fig.tight_layout()
    out["feature_importance.png"] = fig

    main = next(iter(curves.values()))
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 51)
    ax.hist(main[np.asarray(y) == 0], bins=bins, alpha=0.6, density=True, label="legitimate")
    ax.hist(main[np.asarray(y) == 1], bins=bins, alpha=0.6, density=True, label="fraud")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="calibrated P(fraud)", ylabel="density", yscale="log",
           title="Score distribution, test window")
    ax.legend()
    out["score_distribution.png"] = fig
    return out
