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
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse.config import Settings
from lakehouse.engines.base import TableLike
from lakehouse.engines.duckdb import session
from lakehouse.ml import evaluate
from lakehouse.ml.features import BASIC_FEATURE_COLUMNS, CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from lakehouse.ml.registry import platt
from lakehouse.ml.sampling import WEIGHT_COLUMN, choose_rate, downsample_sql
from lakehouse.ml.tuning import TuningResult, tune

if TYPE_CHECKING:  # LightGBM is the `ml` extra's: imported when a model is fitted
    import lightgbm

log = logging.getLogger(__name__)

FLAVOUR_COLUMNS: dict[str, list[str]] = {"full": FEATURE_COLUMNS, "basic": BASIC_FEATURE_COLUMNS}
ID_COLUMNS = ["transaction_id", "ts", "tx_date", "card_id", "merchant_id", "label"]


class TrainingError(RuntimeError):
    """Training cannot run on this data; the message says what to do."""


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (all logged as MLflow params)."""

    val_fraction: float = 0.2
    test_fraction: float = 0.2
    min_frauds_per_window: int = 5
    # Class imbalance by negative downsampling: the training window keeps every fraud and
    # about this many legitimate rows per fraud (sampled by id hash). On 1 M generated rows
    # this beat class weights clearly (test AP 0.61 vs 0.15-0.47 for weights 600, 10 and 3).
    # Platt calibration on the full-rate validation window corrects the probabilities.
    negatives_per_fraud: int = 40
    max_train_rows: int = 1_000_000
    num_boost_round: int = 400
    early_stopping_rounds: int = 40
    # Validation AP is scored every this many rounds (LightGBM's C++ metric sorts the whole
    # validation window each time: at 1.8 M rows that was about half of the fit). Early
    # stopping then picks the best of those rounds, at most this many rounds - 1 from the best
    # single round.
    validation_every: int = 5
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    feature_fraction: float = 0.8
    lambda_l2: float = 1.0
    # Trials of the time-series cross-validated search (lakehouse.ml.tuning) run before the
    # final fit; None = Settings.tuning_trials (LAKEHOUSE_TUNING_TRIALS), 0 = these defaults.
    tuning_trials: int | None = None
    # One thread by default: OpenMP threads spin-wait, and on a shared 2-core machine two of
    # them made training ten times slower than one. Raise it on a dedicated box.
    num_threads: int = 1
    seed: int = 42


@dataclass(frozen=True)
class TimeSplit:
    """Inclusive date windows; `gap_days` empty days separate train | validation | test."""

    train_start: date
    train_end: date
    val_start: date
    val_end: date
    test_start: date
    test_end: date
    gap_days: int

    def as_params(self) -> dict[str, str]:
        """The split as MLflow params.

        Returns:
            `{"split_<field>": "<value>"}` for every boundary and the gap.
        """
        return {f"split_{k}": str(v) for k, v in self.__dict__.items()}


@dataclass
class Windows:
    """The labeled rows of each window (train possibly negative-downsampled)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    train_negative_rate: float = 1.0
    gap_days: int = 0


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


def time_split(
    first: date, last: date, gap_days: int, config: TrainConfig = TrainConfig()
) -> TimeSplit:
    """Cut [first, last] into train | gap | validation | gap | test, latest last.

    Args:
        first: the first labeled day.
        last: the last labeled day.
        gap_days: days left out between windows (the label delay), so no label of a later
            window is known while an earlier one is fitted.
        config: the validation and test fractions.

    Returns:
        The window boundaries.

    Raises:
        TrainingError: the period is too short to leave a training window.
    """
    span = (last - first).days + 1
    test_days = max(1, round(span * config.test_fraction))
    val_days = max(1, round(span * config.val_fraction))
    test_start = last - timedelta(days=test_days - 1)
    val_end = test_start - timedelta(days=gap_days + 1)
    val_start = val_end - timedelta(days=val_days - 1)
    train_end = val_start - timedelta(days=gap_days + 1)
    if train_end < first:
        raise TrainingError(
            f"the labeled period {first}..{last} ({span} days) is too short for a time split "
            f"with {gap_days}-day gaps; load more history or lower LAKEHOUSE_LABEL_DELAY_DAYS"
        )
    return TimeSplit(first, train_end, val_start, val_end, test_start, last, gap_days)


def load_windows(
    dataset: TableLike,
    columns: list[str],
    split: TimeSplit,
    config: TrainConfig,
    settings: Settings | None = None,
) -> Windows:
    """Read the three windows' labeled rows from the feature table with DuckDB.

    Only the training window is sampled, and only its legitimate rows (negative downsampling,
    see `TrainConfig.negatives_per_fraud`): every fraud is kept, and validation/test stay
    complete so the calibration and the metrics see the true rates.

    Args:
        dataset: `gold/ml_features` (a Delta snapshot's lazy dataset, or a table).
        columns: the feature columns to read besides the ids and the label.
        split: the time windows.
        config: the run's knobs (negatives per fraud, row cap).
        settings: caps the DuckDB connection; None means `get_settings()`.

    Returns:
        The train (downsampled), validation and test rows.
    """
    with session({"ml_features": dataset}, settings) as connection:
        wanted = list(dict.fromkeys([*ID_COLUMNS, *columns]))

        def window(start: date, end: date, rate: float = 1.0) -> pd.DataFrame:
            # The one downsampling of `lakehouse.ml.sampling` (every fraud, negatives kept by
            # id hash: the same rows on every rerun and either engine); at rate 1.0 it keeps
            # every labeled row. Its weights are dropped: calibration on the complete
            # validation window corrects the probabilities instead.
            period = f"tx_date BETWEEN DATE '{start}' AND DATE '{end}'"
            sample = downsample_sql("ml_features", rate, columns=wanted, where=period)
            return connection.sql(
                f"SELECT * EXCLUDE ({WEIGHT_COLUMN}) FROM ({sample}) AS s "
                "ORDER BY ts, transaction_id"
            ).df()

        train_rows, train_frauds = connection.execute(
            "SELECT COUNT(*), COALESCE(SUM(label), 0) FROM ml_features WHERE label IS NOT NULL "
            f"AND tx_date BETWEEN DATE '{split.train_start}' AND DATE '{split.train_end}'"
        ).fetchall()[0]
        negatives = int(train_rows) - int(train_frauds)
        rate = choose_rate(
            int(train_frauds), negatives, config.negatives_per_fraud, config.max_train_rows
        )
        return Windows(
            train=window(split.train_start, split.train_end, rate),
            val=window(split.val_start, split.val_end),
            test=window(split.test_start, split.test_end),
            train_negative_rate=rate,
            gap_days=split.gap_days,
        )


def check_windows(windows: Windows, config: TrainConfig) -> None:
    """Refuse to train when a window has too few frauds to learn or to measure anything.

    Args:
        windows: the loaded windows.
        config: `min_frauds_per_window`.

    Raises:
        TrainingError: a window has fewer frauds than that.
    """
    for name in ("train", "val", "test"):
        frauds = int(getattr(windows, name)["label"].sum())
        if frauds < config.min_frauds_per_window:
            raise TrainingError(
                f"the {name} window has {frauds} labeled frauds (need at least "
                f"{config.min_frauds_per_window}); load more history (`lakehouse generate` "
                "with more transactions, then `lakehouse pipeline run`)"
            )


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
