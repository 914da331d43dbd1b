"""Metrics per fraud mechanism (lakehouse.ml.mechanisms) on hand-made windows, and as logged
by a real training run on generated data (with the generator's ground truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakehouse.datagen.truth import MECHANISM_NAMES, read_mechanisms
from lakehouse.ml.mechanisms import breach_detection, mechanism_metrics

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2019-01-01")


def _window() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """200 legitimate rows, 4 bursts (caught), 4 takeovers (missed), one breached merchant."""
    rows, scores, truth = [], [], []
    for i in range(200):
        rows.append((i, START + i * DAY / 10, 1000 + i % 20, 50 + i % 7, 0))
        scores.append(0.01 + 0.001 * (i % 50))
    for i in range(4):
        rows.append((300 + i, START + i * DAY, 2000 + i, 60, 1))
        scores.append(0.9)
        truth.append((300 + i, "card_burst"))
    for i in range(4):
        rows.append((400 + i, START + i * DAY, 3000 + i, 61, 1))
        scores.append(0.001)
        truth.append((400 + i, "account_takeover"))
    # Breach at merchant 99: frauds on days 0..9; known on day 0 + 2 (delay); the model only
    # flags from day 7 on.
    for d in range(10):
        rows.append((500 + d, START + d * DAY, 4000 + d, 99, 1))
        scores.append(0.8 if d >= 7 else 0.002)
        truth.append((500 + d, "breached_merchant"))
    test = pd.DataFrame(rows, columns=["transaction_id", "ts", "card_id", "merchant_id", "label"])
    test["tx_date"] = test["ts"].dt.date
    truth_frame = pd.DataFrame(truth, columns=["transaction_id", "mechanism"])
    return test, np.array(scores), truth_frame


def test_each_mechanism_is_judged_against_all_legitimate_rows() -> None:
    test, score, truth = _window()
    out = mechanism_metrics(test, score, 0.5, truth, label_delay_days=2)
    assert out["card_burst_frauds"] == 4 and out["account_takeover_frauds"] == 4
    assert out["card_burst_recall_at_1pct_fpr"] == 1.0
    assert out["card_burst_average_precision"] == pytest.approx(1.0)
    assert out["account_takeover_recall_at_1pct_fpr"] == 0.0
    assert out["account_takeover_average_precision"] < 0.1
    assert out["account_takeover_recall_at_threshold"] == 0.0
    assert 0 < out["card_burst_card_precision_at_100"] <= 1


def test_breach_delay_counts_days_from_the_first_known_fraud() -> None:
    test, score, truth = _window()
    out = mechanism_metrics(test, score, 0.5, truth, label_delay_days=2)
    # Known on day 2. Flagged: days 7-9. From day 2 on 3 of 8 frauds are flagged, from day 3
    # 3 of 7, from day 4 3 of 6 = half: detected 2 days after the first fraud was known.
    assert out["breach_merchants"] == 1 and out["breach_detected"] == 1
    assert out["breach_days_to_detect_median"] == 2.0


def test_a_breach_never_flagged_is_not_detected_and_one_over_before_known_is_not_counted() -> None:
    frame = pd.DataFrame({
        "merchant_id": [1, 1, 1, 2],
        "ts": [START, START + DAY, START + 5 * DAY, START],
        "score": [0.0, 0.0, 0.1, 0.9],
    })
    out = breach_detection(frame, threshold=0.5, label_delay_days=1)
    assert out == {"breach_merchants": 1.0, "breach_detected": 0.0}


def test_a_mechanism_without_fraud_in_the_window_reports_only_its_count() -> None:
    test, score, truth = _window()
    keep = ~test["transaction_id"].between(400, 499)
    out = mechanism_metrics(test[keep], score[keep.to_numpy()], 0.5, truth, 2)
    assert out["account_takeover_frauds"] == 0
    assert "account_takeover_average_precision" not in out


def test_generator_truth_covers_exactly_the_frauds(ml_raw_dir) -> None:  # type: ignore[no-untyped-def]
    import json

    truth = read_mechanisms(ml_raw_dir)
    assert truth is not None and set(truth["mechanism"]) <= set(MECHANISM_NAMES.values())
    labels = json.loads((ml_raw_dir / "train_fraud_labels.json").read_text())["target"]
    labeled_frauds = {int(k) for k, v in labels.items() if v == "Yes"}
    assert labeled_frauds <= set(truth["transaction_id"])
    assert read_mechanisms(ml_raw_dir / "nowhere") is None


def test_training_logs_metrics_per_mechanism(trained) -> None:  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    settings, report = trained
    full = next(o for o in report.outcomes if o.flavour == "full")
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(full.run_id)
    for name in MECHANISM_NAMES.values():
        assert f"test_{name}_frauds" in run.data.metrics
    assert run.data.metrics["test_card_burst_frauds"] > 0
    assert "test_card_burst_recall_at_1pct_fpr" in run.data.metrics
    assert "test_card_precision_at_100" in run.data.metrics
