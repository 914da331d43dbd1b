"""Hyperparameter search by time-series cross-validation: rolling folds with a label-delay gap.

Training (`lakehouse.ml.train.train_flavour`) calls `tune` with the training window before it
fits the final booster, when the trial budget (`Settings.tuning_trials`,
`LAKEHOUSE_TUNING_TRIALS`) is above zero. The training window is cut by date into `folds + 1`
consecutive blocks; fold i learns on blocks 0..i and is scored on block i+1, after skipping
the label-delay gap between them — the same rule the train | validation | test split follows,
so no fold ever learns from a day later than the one it is judged on, and never from a label
that would not yet be known. Random folds would mix future fraud waves into the past and
overstate every setting.

Optuna's TPE sampler (seeded, so reruns choose the same parameters) proposes LightGBM
settings; a trial's score is the mean average precision over the folds. What leaves this module
is a `TuningResult`: the best parameters (they override `TrainConfig`) and every trial's score
in order (the validation curve tracking logs to MLflow). The validation window and the test
window are never seen here: they stay for calibration, the threshold and the final figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

log = logging.getLogger(__name__)

FOLDS = 3
ROUNDS = 150


@dataclass
class TuningResult:
    """The chosen parameters and the score of every trial (trial order)."""

    params: dict[str, Any]
    best_score: float
    trial_scores: list[float] = field(default_factory=list)
    folds: int = FOLDS


def fold_masks(
    dates: pd.Series, folds: int, gap_days: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(learn, score) row masks of each rolling fold over the rows' dates.

    Args:
        dates: the date of each training row.
        folds: how many folds (the window is cut into folds + 1 blocks of equal days).
        gap_days: days skipped between a fold's last learning day and its first scored day.

    Returns:
        One (learn, score) pair of boolean masks per fold that has rows on both sides.
    """
    day = pd.to_datetime(dates).to_numpy("datetime64[D]")
    first, last = day.min(), day.max()
    span = int((last - first).astype(int)) + 1
    edges = [first + np.timedelta64(round(span * k / (folds + 1)), "D") for k in range(folds + 2)]
    out = []
    for i in range(1, folds + 1):
        learn = day < edges[i] - np.timedelta64(gap_days, "D")
        score = (day >= edges[i]) & (day < edges[i + 1])
        if learn.any() and score.any():
            out.append((learn, score))
    return out


def search_space(trial: Any) -> dict[str, Any]:
    """The LightGBM settings a trial proposes (names are `TrainConfig` fields).

    Args:
        trial: the Optuna trial that draws each value.

    Returns:
        `learning_rate`, `num_leaves`, `min_child_samples`, `feature_fraction` and
        `lambda_l2` -> the value drawn.
    """
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 127, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def tune(
    train: pd.DataFrame, columns: list[str], categorical: list[str], base: dict[str, Any],
    trials: int, gap_days: int, rounds: int = ROUNDS,
) -> TuningResult:
    """Search LightGBM settings on rolling time folds of the training window.

    Args:
        train: the training window (`tx_date`, `label` and the feature columns).
        columns: the flavour's feature columns.
        categorical: which of them are categorical.
        base: LightGBM parameters every trial starts from (objective, threads, `seed`, which
            also seeds the sampler, so the same data gives the same choice).
        trials: the trial budget.
        gap_days: the label delay, kept empty between a fold's learning and scored days.
        rounds: boosting rounds per fold (no early stopping: the scored block must not steer
            its own model).

    Returns:
        The best parameters (mean fold average precision) and every trial's score.
    """
    import lightgbm as lgb
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folds = fold_masks(train["tx_date"], FOLDS, gap_days)
    usable = [(a, b) for a, b in folds if train["label"].to_numpy()[b].sum() > 0]
    if not usable:
        log.warning("tuning skipped: no fold of the training window has fraud to score")
        return TuningResult(params={}, best_score=float("nan"), folds=0)
    matrix = train[columns].astype("float64")
    label = train["label"].to_numpy("int64")

    def objective(trial: Any) -> float:
        params = {**base, **search_space(trial)}
        scores = []
        for learn, score in usable:
            dataset = lgb.Dataset(matrix[learn], label[learn], categorical_feature=categorical)
            booster = lgb.train(params, dataset, num_boost_round=rounds)
            scores.append(average_precision_score(label[score], booster.predict(matrix[score])))
        return float(np.mean(scores))

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=base["seed"]))
    study.optimize(objective, n_trials=trials)
    scores = [float(t.value) for t in study.trials if t.value is not None]
    log.info("tuning: best mean fold AP %.4f after %d trials on %d folds",
             study.best_value, len(scores), len(usable))
    return TuningResult(params=dict(study.best_params), best_score=float(study.best_value),
                        trial_scores=scores, folds=len(usable))
