"""Training of the fraud model: time-split the gold feature table, fit, calibrate, evaluate.

Data reaches training as the Delta table `gold/ml_features` (one row per transaction, point in
time, built by the `ml_features` SQL of `lakehouse.ml.features`); only labeled rows are used
and the table version read is recorded. Rows are split by TIME — train on the earliest
period, validate on a later window, test on the latest, with a gap of the label delay
between them, never at random — because a model is always used on days after the ones it
learned from, and fraud clusters in time. Two flavours are fitted on the same split: `full`
(behavioural + static features) and `basic` (the seed's eleven request fields). Each is a
LightGBM booster fitted on a negative-downsampled training window, Platt-calibrated on the
full-rate validation window, compared with a logistic-regression baseline, its threshold
chosen on validation. What leaves this module is a `FlavourResult` per flavour;
`lakehouse.ml.tracking` logs and registers it in MLflow.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse.ml import evaluate
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from lakehouse.ml.registry import platt
from lakehouse.ml.training_data import TrainConfig, Windows
from lakehouse.ml.tuning import TuningResult, tune

if TYPE_CHECKING:  # LightGBM is the `ml` extra's: imported when a model is fitted
    import lightgbm

log = logging.getLogger(__name__)

FLAVOUR_COLUMNS: dict[str, list[str]] = {"full": FEATURE_COLUMNS, "basic": BASIC_FEATURE_COLUMNS}


@dataclass
class FlavourResult:
    """One fitted flavour, everything tracking needs to log, register and promote it."""

    flavour: str
    feature_columns: list[str]
    booster: lightgbm.Booster
    calibration: dict[str, float]
    threshold: float
    test_metrics: dict[str, float]
    val_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    importance: pd.Series
    test_probability: np.ndarray
    baseline_probability: np.ndarray
    test_labels: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    # Per fraud mechanism on the test window (lakehouse.ml.mechanisms), when the generator's
    # ground truth is available; empty on the real dataset.
    mechanism_metrics: dict[str, float] = field(default_factory=dict)
    tuning: TuningResult | None = None
    # Calibrated validation scores: the decision policy is chosen on them (tracking.py).
    val_probability: np.ndarray = field(default_factory=lambda: np.empty(0))


def _matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].to_numpy("float64")


def booster_params(config: TrainConfig) -> dict[str, Any]:
    """LightGBM parameters of a training run.

    Args:
        config: the run's knobs.

    Returns:
        The parameters `lightgbm.train` gets (logged with the run).
    """
    return {
        "objective": "binary",
        "metric": "average_precision",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": config.lambda_l2,
        "seed": config.seed,
        "deterministic": True,
        "num_threads": config.num_threads,
        "verbose": -1,
    }


def fit_booster(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    columns: list[str],
    config: TrainConfig,
) -> lightgbm.Booster:
    """LightGBM on the (downsampled) training window, early-stopped on validation AP.

    Validation AP (LightGBM's own metric) is scored every `config.validation_every` rounds;
    training stops once `config.early_stopping_rounds` rounds pass without a better one, and
    the booster keeps the trees up to the best scored round.

    Args:
        train: the training window's matrix (columns in `columns` order) and labels.
        val: the validation window's matrix and labels.
        columns: the model inputs.
        config: the run's knobs.

    Returns:
        The fitted `lightgbm.Booster`, its `best_iteration` set.
    """
    import lightgbm as lgb

    params = booster_params(config)
    categorical = [c for c in CATEGORICAL_COLUMNS if c in columns]
    # The Datasets get the booster's parameters as `lightgbm.train` gives them (its thread
    # count above all: binning with OpenMP's default threads spin-waits on a shared machine).
    train_set = lgb.Dataset(*train, feature_name=columns, categorical_feature=categorical,
                            free_raw_data=False, params=params)
    val_set = lgb.Dataset(*val, reference=train_set, feature_name=columns,
                          categorical_feature=categorical, params=params)
    booster = lgb.Booster(params=params, train_set=train_set)
    booster.add_valid(val_set, "validation")
    best_score, best_round = -math.inf, 0
    for round_ in range(1, config.num_boost_round + 1):
        booster.update()
        if round_ % config.validation_every and round_ < config.num_boost_round:
            continue
        score = booster.eval_valid()[0][2]
        if score > best_score:
            best_score, best_round = score, round_
        elif round_ - best_round >= config.early_stopping_rounds:
            break
    fitted = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_round))
    fitted.best_iteration = best_round
    return fitted


def fit_platt(raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Platt scaling: a one-feature logistic regression from log-odds to P(fraud).

    Args:
        raw: log-odds of the validation rows.
        y: their labels (0/1).

    Returns:
        `{"a": slope, "b": intercept}` (`lakehouse.ml.registry.platt` applies them).
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(np.asarray(raw).reshape(-1, 1), y)
    return {"a": float(model.coef_[0][0]), "b": float(model.intercept_[0])}


def fit_baseline(
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], test: np.ndarray
) -> np.ndarray:
    """Logistic regression (imputed, scaled, class-balanced), calibrated the same way.

    Args:
        train: the training window's matrix and labels (fitted on).
        val: the validation window's matrix and labels (calibrated on).
        test: the test window's matrix (scored).

    Returns:
        Its calibrated test probabilities (the baseline the booster must beat).
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    model.fit(*train)
    calibration = fit_platt(model.decision_function(val[0]), val[1])
    return platt(model.decision_function(test), calibration)


def _metrics(frame: pd.DataFrame, probability: np.ndarray, threshold: float) -> dict[str, float]:
    return evaluate.window_metrics(
        frame["label"].to_numpy("int64"), probability, frame["tx_date"].to_numpy(),
        frame["card_id"].to_numpy(), threshold,
    )


def train_flavour(
    windows: Windows, flavour: str, config: TrainConfig, columns: list[str] | None = None
) -> FlavourResult:
    """Fit, calibrate, threshold and evaluate one flavour (and its baseline) on the windows.

    With a tuning budget, the LightGBM settings are first chosen by time-series
    cross-validation on the training window (`lakehouse.ml.tuning`).

    Args:
        windows: the labeled train, validation and test windows.
        flavour: "full" or "basic".
        config: the training knobs.
        columns: the model inputs; default the flavour's (`FLAVOUR_COLUMNS`). Benchmarks pass
            another feature set to compare two on the same windows.

    Returns:
        The booster, its calibration, threshold, metrics and the baseline's metrics.
    """
    columns = list(columns or FLAVOUR_COLUMNS[flavour])
    tuned = None
    if config.tuning_trials:
        tuned = tune(windows.train, columns, [c for c in CATEGORICAL_COLUMNS if c in columns],
                     booster_params(config), config.tuning_trials, windows.gap_days)
        config = replace(config, **tuned.params)
    # Each window's matrix is built once and each window scored once: at full scale a
    # validation or test matrix is about 1 GB and a LightGBM pass over it tens of seconds.
    train = (_matrix(windows.train, columns), windows.train["label"].to_numpy("int64"))
    val = (_matrix(windows.val, columns), windows.val["label"].to_numpy("int64"))
    test = _matrix(windows.test, columns)
    booster = fit_booster(train, val, columns, config)
    val_raw = booster.predict(val[0], raw_score=True)
    calibration = fit_platt(val_raw, val[1])
    val_probability = platt(val_raw, calibration)
    threshold = evaluate.choose_threshold(val[1], val_probability)
    test_probability = platt(booster.predict(test, raw_score=True), calibration)
    baseline_probability = fit_baseline(train, val, test)
    importance = pd.Series(
        booster.feature_importance(importance_type="gain"), index=columns, dtype="float64"
    )
    log.info("trained %s flavour: %d trees", flavour, booster.current_iteration())
    return FlavourResult(
        flavour=flavour,
        feature_columns=list(columns),
        booster=booster,
        calibration=calibration,
        threshold=threshold,
        test_metrics=_metrics(windows.test, test_probability, threshold),
        val_metrics=_metrics(windows.val, val_probability, threshold),
        baseline_metrics=_metrics(windows.test, baseline_probability, threshold),
        importance=importance,
        test_probability=test_probability,
        baseline_probability=baseline_probability,
        test_labels=windows.test["label"].to_numpy("int64"),
        val_probability=val_probability,
        params={**config.__dict__, "best_iteration": booster.best_iteration,
                "train_negative_rate": windows.train_negative_rate,
                "train_rows": len(windows.train), "val_rows": len(windows.val),
                "test_rows": len(windows.test)},
        tuning=tuned,
    )
