"""Hyperparameter search by rolling time folds (lakehouse.ml.tuning): the folds never look
ahead, and a real training run with a budget logs its choice and validation curve."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pandas as pd
from ml_lake import lake_settings

from lakehouse.ml.training_data import TrainConfig
from lakehouse.ml.tuning import FOLDS, fold_masks


def test_folds_learn_only_from_days_before_the_gap() -> None:
    dates = pd.Series(pd.date_range("2019-01-01", "2019-04-30", freq="6h").date)
    folds = fold_masks(dates, FOLDS, gap_days=7)
    assert len(folds) == FOLDS
    day = pd.to_datetime(dates).to_numpy("datetime64[D]")
    previous_end = None
    for learn, score in folds:
        assert not (learn & score).any()
        assert day[learn].max() + np.timedelta64(7, "D") < day[score].min()
        if previous_end is not None:  # rolling: each fold scores a later block
            assert day[score].min() > previous_end
        previous_end = day[score].max()
    # Expanding: every fold learns from at least what the previous one learned from.
    assert all((a[0] <= b[0]).all() for a, b in pairwise(folds))


def test_a_window_too_short_for_the_gap_yields_fewer_folds() -> None:
    dates = pd.Series(pd.date_range("2019-01-01", "2019-01-12").date)
    assert len(fold_masks(dates, FOLDS, gap_days=10)) < FOLDS


def test_training_with_a_budget_logs_tuned_parameters_and_the_curve(  # type: ignore[no-untyped-def]
    tmp_path, feature_lake
) -> None:
    from mlflow.tracking import MlflowClient

    from lakehouse.ml.tracking import train_and_register

    settings = lake_settings(tmp_path / "data", feature_lake)
    config = replace(TrainConfig(), tuning_trials=3)
    report = train_and_register(settings, config, flavours=("basic",))
    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(report.outcomes[0].run_id)
    curve = client.get_metric_history(run.info.run_id, "tuning_cv_average_precision")
    assert [m.step for m in curve] == [0, 1, 2]
    assert run.data.metrics["tuning_best_cv_average_precision"] == max(m.value for m in curve)
    assert run.data.params["tuning_trials"] == "3"
    assert run.data.params["learning_rate"] != str(TrainConfig().learning_rate)
    assert int(run.data.params["tuning_folds"]) >= 1


def test_the_budget_comes_from_the_settings_by_default(tmp_path, feature_lake,  # type: ignore[no-untyped-def]
                                                       monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    from lakehouse.ml.tracking import train_and_register

    monkeypatch.setenv("LAKEHOUSE_TUNING_TRIALS", "2")
    settings = lake_settings(tmp_path / "data", feature_lake)
    report = train_and_register(settings, flavours=("basic",))
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(report.outcomes[0].run_id)
    assert run.data.params["tuning_trials"] == "2"
