"""What a training run reads: its knobs, the time split and the labeled windows.

`TrainConfig` holds every knob of a run (logged as MLflow params). `time_split` cuts the
labeled period into train | gap | validation | gap | test by TIME, with the label delay as the
gap; `load_windows` reads the three windows' labeled rows from `gold/ml_features` (only the
training window negative-downsampled), and `check_windows` refuses windows with too few frauds.
`lakehouse.ml.train` fits on them; `lakehouse.ml.tracking` runs the whole job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from lakehouse.config import Settings
from lakehouse.engines.base import TableLike
from lakehouse.engines.duckdb import session
from lakehouse.ml.sampling import WEIGHT_COLUMN, choose_rate, downsample_sql

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
