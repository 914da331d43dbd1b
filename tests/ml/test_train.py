"""Training on generated data, end to end: split, quality, registry, promotion, CLI, stage.

Real parts: the project's generator, the pipeline's SQL models on DuckDB, a Delta feature
table on disk, LightGBM, and an MLflow SQLite store in a temporary folder.

Quality bound asserted: on the test window (the latest period, never seen in training), the
full model's average precision is more than 5x the fraud base rate of that window (a random
ranking scores the base rate), and the basic model's more than 1.5x.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from ml_lake import LABEL_DELAY_DAYS, lake_settings
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from lakehouse import catalog, storage
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, FEATURE_COLUMNS, FEATURE_SET_VERSION
from lakehouse.ml.registry import current_version, load_model
from lakehouse.ml.tracking import train_and_register
from lakehouse.ml.training_data import TrainConfig, TrainingError, load_windows, time_split
from lakehouse.pipeline.ml import run_training_stage

# The registered names under the default LAKEHOUSE_MODEL_NAME.
FULL_MODEL_NAME, BASIC_MODEL_NAME = "fraud-detector", "fraud-detector-basic"

WEAK = TrainConfig(num_boost_round=1, num_leaves=2, min_child_samples=500, learning_rate=0.01)


def _outcome(report, flavour: str):  # type: ignore[no-untyped-def]
    return next(o for o in report.outcomes if o.flavour == flavour)


def _test_window(settings, report):  # type: ignore[no-untyped-def]
    dataset = storage.read_dataset(catalog.location("ml_features", settings), settings)
    split = time_split(date.fromisoformat(report.split["split_train_start"]),
                       date.fromisoformat(report.split["split_test_end"]), LABEL_DELAY_DAYS)
    return split, load_windows(dataset, FEATURE_COLUMNS, split, TrainConfig())


def test_full_model_ranks_fraud_far_above_the_base_rate(trained) -> None:  # type: ignore[no-untyped-def]
    _, report = trained
    full, basic = _outcome(report, "full"), _outcome(report, "basic")
    base_rate = full.metrics["base_rate"]
    assert full.metrics["frauds"] >= 5
    assert full.metrics["average_precision"] > 5 * base_rate, full.metrics
    assert basic.metrics["average_precision"] > 1.5 * base_rate, basic.metrics
    assert full.metrics["roc_auc"] > 0.8
    for outcome in (full, basic):
        assert 0.0 < outcome.threshold < 1.0
        assert set(outcome.baseline_metrics) == set(outcome.metrics)


def test_time_split_is_ordered_with_label_delay_gaps(trained) -> None:  # type: ignore[no-untyped-def]
    settings, report = trained
    split, windows = _test_window(settings, report)
    assert split.train_end + timedelta(days=LABEL_DELAY_DAYS) < split.val_start
    assert split.val_end + timedelta(days=LABEL_DELAY_DAYS) < split.test_start
    train_dates, val_dates, test_dates = (
        pd.to_datetime(w["tx_date"]) for w in (windows.train, windows.val, windows.test)
    )
    gap = pd.Timedelta(days=LABEL_DELAY_DAYS)
    assert train_dates.max() + gap < val_dates.min()
    assert val_dates.max() + gap < test_dates.min()
    for window in (windows.train, windows.val, windows.test):
        assert window["label"].notna().all()  # unlabeled rows are unknown, never "legitimate"


def test_a_period_too_short_for_the_split_is_refused() -> None:
    with pytest.raises(TrainingError, match="too short"):
        time_split(date(2019, 1, 1), date(2019, 1, 20), gap_days=7)


def test_registry_round_trip_gives_the_trained_scores(trained) -> None:  # type: ignore[no-untyped-def]
    settings, report = trained
    full = _outcome(report, "full")
    model = load_model(FULL_MODEL_NAME, tracking_uri=settings.mlflow_tracking_uri)
    assert (model.version, model.run_id, model.flavour) == (full.version, full.run_id, "full")
    assert model.feature_columns == FEATURE_COLUMNS
    assert model.feature_set_version == FEATURE_SET_VERSION
    assert model.data_versions == report.data_versions
    assert model.threshold == pytest.approx(full.threshold)
    _, windows = _test_window(settings, report)
    probability = model.predict_proba(windows.test)
    assert ((probability >= 0) & (probability <= 1)).all()
    ap = average_precision_score(windows.test["label"].astype(int), probability)
    assert ap == pytest.approx(full.metrics["average_precision"], rel=1e-9)
    reasons = model.contributions(windows.test.head(5), top=3)
    assert len(reasons) == 5 and all(len(r) == 3 for r in reasons)
    assert all(name in FEATURE_COLUMNS for row in reasons for name, _ in row)
    assert current_version(FULL_MODEL_NAME, tracking_uri=settings.mlflow_tracking_uri) == (
        full.version
    )
    assert current_version("no-such-model", tracking_uri=settings.mlflow_tracking_uri) is None


def test_basic_flavour_uses_the_eleven_seed_fields_only(trained) -> None:  # type: ignore[no-untyped-def]
    settings, _ = trained
    model = load_model(BASIC_MODEL_NAME, tracking_uri=settings.mlflow_tracking_uri)
    assert model.flavour == "basic"
    assert model.feature_columns == BASIC_FEATURE_COLUMNS and len(BASIC_FEATURE_COLUMNS) == 11
    assert model.booster.feature_name() == BASIC_FEATURE_COLUMNS


def test_promotion_only_for_a_better_model(tmp_path, feature_lake, caplog) -> None:  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    settings = lake_settings(tmp_path / "data", feature_lake)
    uri = settings.mlflow_tracking_uri
    first = _outcome(train_and_register(settings, WEAK, ("full",)), "full")
    assert first.promoted and "first registered version" in first.reason

    quick = TrainConfig(num_boost_round=80)
    better = _outcome(train_and_register(settings, quick, ("full",)), "full")
    assert better.metrics["average_precision"] > first.metrics["average_precision"]
    assert better.promoted and "beats" in better.reason
    assert current_version(FULL_MODEL_NAME, tracking_uri=uri) == better.version

    with caplog.at_level(logging.INFO, logger="lakehouse.ml.champion"):
        worse = _outcome(train_and_register(settings, WEAK, ("full",)), "full")
    assert not worse.promoted
    assert worse.champion_ap == pytest.approx(better.metrics["average_precision"])
    assert current_version(FULL_MODEL_NAME, tracking_uri=uri) == better.version
    assert current_version(FULL_MODEL_NAME, "challenger", tracking_uri=uri) == worse.version
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    reason = client.get_model_version(FULL_MODEL_NAME, worse.version).tags["promotion"]
    assert "does not beat" in reason and reason == worse.reason
    assert client.get_run(worse.run_id).data.tags["promotion"] == reason
    assert any("does not beat" in record.getMessage() for record in caplog.records)


def test_train_cli_without_feature_table_says_what_to_do(isolated_settings) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.cli import app

    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 1
    assert "lakehouse pipeline run" in result.output


def test_train_cli_prints_the_metrics_and_the_decision(  # type: ignore[no-untyped-def]
    isolated_settings, feature_lake, monkeypatch
) -> None:
    from lakehouse.cli import app
    from lakehouse.config import get_settings

    monkeypatch.setenv("LAKEHOUSE_LAKE_URI", feature_lake)
    monkeypatch.setenv("LAKEHOUSE_LABEL_DELAY_DAYS", str(LABEL_DELAY_DAYS))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["train", "--flavour", "basic"])
    assert result.exit_code == 0, result.output
    for text in ("average precision", "logistic baseline", "fraud-detector-basic v1 is champion",
                 "first registered version", "mlflow ui --backend-store-uri"):
        assert text in result.output


def test_too_few_frauds_is_refused(tmp_path, ml_features_table) -> None:  # type: ignore[no-untyped-def]
    settings = lake_settings(tmp_path / "data")
    labels = np.where(ml_features_table["label"].is_null().to_numpy(zero_copy_only=False),
                      None, 0).tolist()
    labels[0] = 1
    quiet = ml_features_table.set_column(
        ml_features_table.column_names.index("label"), "label", pa.array(labels, pa.int32())
    )
    storage.write(catalog.location("ml_features", settings), quiet, settings=settings)
    with pytest.raises(TrainingError, match="frauds"):
        train_and_register(settings)


def test_pipeline_stage_skips_an_unchanged_feature_table(trained) -> None:  # type: ignore[no-untyped-def]
    settings, _ = trained
    result = run_training_stage(settings)
    assert result.stage == "train" and result.status == "up_to_date"
    assert "already trained on gold/ml_features v" in result.message
