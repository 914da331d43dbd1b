"""Model quality per fraud mechanism: how well each kind of fraud is caught on the test window.

One average precision hides which fraud a model misses. The generator knows which mechanism
produced each fraud (`lakehouse.datagen.truth`): compromised-card bursts, account takeovers and
breached merchants. Training hands this module its test window (ids, times, cards, merchants,
labels) with the calibrated scores and the decision threshold; what leaves it are plain numbers,
logged to MLflow, stored with the model and shown on the UI's model page.

For a mechanism, its frauds are judged against *all* legitimate rows of the window (frauds of
the other mechanisms are left out), so recall at 1 % FPR is the share of that mechanism's frauds
caught at the same false-alarm budget the whole model works with. Breached merchants also get a
detection delay: counted from the moment the merchant's first fraud became known (its time
plus the label delay), the number of days until the model flags at least half of the merchant's
fraud still to come. That is the point-of-compromise question: once one fraud at a skimmer is
known, how soon do its other victims get flagged?
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from lakehouse.datagen.truth import BREACHED_MERCHANT, MECHANISM_NAMES
from lakehouse.ml import evaluate

CARD_TOP_K = evaluate.CARD_TOP_K
DETECTED_SHARE = 0.5
SECONDS_PER_DAY = 86_400


def mechanism_metrics(
    test: pd.DataFrame, probability: np.ndarray, threshold: float,
    truth: pd.DataFrame, label_delay_days: int,
) -> dict[str, float]:
    """Recall at 1 % FPR, AP, card precision@100 and frauds per mechanism; breach delays.

    Args:
        test: the labeled test window with `transaction_id`, `ts`, `tx_date`, `card_id`,
            `merchant_id` and `label`.
        probability: the calibrated score of each test row.
        threshold: the model's decision threshold (a row is flagged at or above it).
        truth: the generator's mechanisms (`read_mechanisms`).
        label_delay_days: how long after a transaction its label becomes known.

    Returns:
        Flat `{"<mechanism>_<metric>": value}`; a mechanism without fraud in the window is
        reported with `<mechanism>_frauds` 0 and no other metric.
    """
    frame = test.assign(score=np.asarray(probability, dtype="float64"))
    named = frame.merge(truth, on="transaction_id", how="left")
    named["mechanism"] = named["mechanism"].where(named["label"] == 1, "legitimate")
    legitimate = named["mechanism"] == "legitimate"
    out: dict[str, float] = {}
    for name in MECHANISM_NAMES.values():
        subset = named[legitimate | (named["mechanism"] == name)]
        frauds = int((subset["label"] == 1).sum())
        out[f"{name}_frauds"] = float(frauds)
        if frauds == 0 or frauds == len(subset):
            continue
        y = subset["label"].to_numpy("int64")
        score = subset["score"].to_numpy()
        out[f"{name}_recall_at_1pct_fpr"] = evaluate.recall_at_fpr(y, score)
        out[f"{name}_average_precision"] = float(average_precision_score(y, score))
        out[f"{name}_card_precision_at_{CARD_TOP_K}"] = evaluate.card_precision_at_k(
            y, score, subset["tx_date"].to_numpy(), subset["card_id"].to_numpy(), CARD_TOP_K)
        out[f"{name}_recall_at_threshold"] = float((score[y == 1] >= threshold).mean())
    breached = named[named["mechanism"] == MECHANISM_NAMES[BREACHED_MERCHANT]]
    out.update(breach_detection(breached, threshold, label_delay_days))
    return out


def breach_detection(
    breached: pd.DataFrame, threshold: float, label_delay_days: int
) -> dict[str, float]:
    """Days from a breached merchant's first known fraud until most of its fraud is flagged.

    Args:
        breached: the breached-merchant frauds of the window (`merchant_id`, `ts`, `score`).
        threshold: the decision threshold.
        label_delay_days: the label delay (first fraud known at its time plus this).

    Returns:
        `breach_merchants` (with fraud after the first one became known), `breach_detected`
        (of those, how many reach the flagged share) and `breach_days_to_detect_median`
        (median delay over detected merchants, absent when none is detected).
    """
    delays: list[float] = []
    merchants = 0
    for _, rows in breached.groupby("merchant_id", sort=False):
        seconds = _epoch_seconds(rows["ts"])
        known = seconds.min() + label_delay_days * SECONDS_PER_DAY
        after = seconds >= known
        if not after.any():
            continue  # the breach ended before its first fraud was known: nothing to flag
        merchants += 1
        delay = _days_until_flagged(
            (seconds[after] - known) / SECONDS_PER_DAY,
            rows["score"].to_numpy()[after] >= threshold,
        )
        if delay is not None:
            delays.append(delay)
    out = {"breach_merchants": float(merchants), "breach_detected": float(len(delays))}
    if delays:
        out["breach_days_to_detect_median"] = float(np.median(delays))
    return out


def _days_until_flagged(days: np.ndarray, flagged: np.ndarray) -> float | None:
    """The first whole day d such that at least half of the frauds from day d on are flagged."""
    order = np.argsort(days, kind="stable")
    days, flagged = days[order], flagged[order]
    # Share flagged among the frauds from position i to the end, for every i.
    remaining_flagged = np.cumsum(flagged[::-1])[::-1]
    remaining = np.arange(len(days), 0, -1)
    reached = remaining_flagged / remaining >= DETECTED_SHARE
    if not reached.any():
        return None
    return float(np.floor(days[int(np.argmax(reached))]))


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    return pd.to_datetime(ts).astype("datetime64[s]").astype("int64").to_numpy()
