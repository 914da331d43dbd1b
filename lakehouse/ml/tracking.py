"""The training job: MLflow runs, registration and promotion of every flavour.

`train_and_register` is the whole training job used by `lakehouse train` and by the
pipeline's train stage: it opens the gold feature table (recording its Delta version), splits
it by time, fits both flavours (`lakehouse.ml.train`), chooses each one's decision policy on
the validation window (`lakehouse.ml.policy`), and logs an MLflow run per flavour (params,
metrics of the model and of its logistic-regression baseline, plots, feature list,
feature-set version, Delta versions, and the model files of `lakehouse.ml.registry`). Each
run's model is then registered and promoted, or kept as challenger, by `lakehouse.ml.champion`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.datagen.truth import read_mechanisms
from lakehouse.engines.base import TableLike
from lakehouse.engines.duckdb import session
from lakehouse.ml import evaluate, policy, psi
from lakehouse.ml.champion import FlavourOutcome, register_and_promote
from lakehouse.ml.features import FEATURE_SET_VERSION, foreign_places, request_vocabulary
from lakehouse.ml.label_sources import analyst_label_counts
from lakehouse.ml.mechanisms import mechanism_metrics
from lakehouse.ml.registry import (
    MODEL_DIR,
    MODEL_FILES,
    mlflow_client,
    model_name,
    write_model_files,
)
from lakehouse.ml.train import FLAVOUR_COLUMNS, FlavourResult, train_flavour
from lakehouse.ml.training_data import (
    TimeSplit,
    TrainConfig,
    TrainingError,
    Windows,
    check_windows,
    load_windows,
    time_split,
)

if TYPE_CHECKING:  # MLflow is the `ml` extra's: imported where a store is used
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

EXPERIMENT = "lakehouse-fraud"


@dataclass
class TrainingReport:
    """The whole job: the split, the data versions read, one outcome per flavour."""

    split: dict[str, str]
    data_versions: dict[str, int]
    labeled_rows: int
    outcomes: list[FlavourOutcome] = field(default_factory=list)
    # Labeled rows per window that came from analysts' reviews (lakehouse.ml.label_sources).
    analyst_labels: dict[str, int] = field(default_factory=dict)
    # What requests may carry, the training data's foreign places included (model metadata).
    vocabulary: dict[str, list[str]] = field(default_factory=dict)


def ensure_experiment(client: MlflowClient, settings: Settings) -> str:
    """The experiment id; local stores keep artifacts under LAKEHOUSE_DATA_DIR/mlartifacts.

    Args:
        client: an MLflow client (`registry.mlflow_client`).
        settings: the MLflow store and the data folder.

    Returns:
        The id of the experiment, created on first use.
    """
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    uri = str(settings.mlflow_tracking_uri)
    location = None
    if not uri.startswith(("http://", "https://", "databricks")):
        folder = (settings.data_dir / "mlartifacts").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def open_features(settings: Settings) -> storage.Snapshot:
    """The gold feature table's latest snapshot (lazy dataset and the Delta version read).

    Args:
        settings: the platform settings (where the lake is).

    Returns:
        The snapshot of `gold/ml_features`.

    Raises:
        TrainingError: the table does not exist yet.
    """
    uri = catalog.location("ml_features", settings)
    snapshot = storage.snapshot(uri, settings)
    if snapshot is None:
        raise TrainingError(
            f"the feature table gold/ml_features does not exist at {uri}; "
            "run `lakehouse pipeline run` first"
        )
    return snapshot


def _labeled_period(dataset: TableLike, settings: Settings) -> tuple[date, date, int, int]:
    """First and last labeled day, labeled rows and frauds of the feature table."""
    with session({"ml_features": dataset}, settings) as connection:
        return connection.execute(
            "SELECT MIN(tx_date), MAX(tx_date), COUNT(*), COALESCE(SUM(label), 0) "
            "FROM ml_features WHERE label IS NOT NULL"
        ).fetchall()[0]


def training_vocabulary(settings: Settings) -> dict[str, list[str]]:
    """The request vocabulary of a model trained on the lake's transactions.

    The foreign places are the distinct merchant states of `silver_transactions` (the rows
    `gold/ml_features` was computed from, one per transaction; gold keeps only their codes);
    the model carries the result, so serving never scans the lake for it.

    Args:
        settings: where the lake is; caps the DuckDB connection.

    Returns:
        `lakehouse.ml.features.request_vocabulary` with those places (none without silver).
    """
    uri = catalog.location("silver_transactions", settings)
    if not storage.exists(uri, settings):
        return request_vocabulary()
    with session({"silver": storage.read_dataset(uri, settings)}, settings) as connection:
        rows = connection.execute("SELECT DISTINCT merchant_state FROM silver").fetchall()
    return request_vocabulary(foreign_places(row[0] for row in rows))


def choose_flavour_policy(
    result: FlavourResult, windows: Windows, split: TimeSplit, settings: Settings
) -> policy.PolicyChoice:
    """Pick the approve/review/decline thresholds on the validation window (lakehouse.ml.policy).

    Args:
        result: the fitted flavour (its validation probabilities and threshold).
        windows: the validation rows (labels and amounts).
        split: the validation window's length in days.
        settings: review cost, decline friction and analysts' daily capacity.

    Returns:
        The chosen policy and the cost of each rival.
    """
    costs = policy.Costs(
        settings.review_cost, settings.decline_friction_cost, settings.review_capacity_per_day
    )
    days = (split.val_end - split.val_start).days + 1
    chosen, compared = policy.compare_policies(
        windows.val["label"].to_numpy("int64"), result.val_probability,
        windows.val["amount"].to_numpy("float64"), days, costs, result.threshold,
    )
    return policy.PolicyChoice(chosen, compared)


def _model_metadata(
    result: FlavourResult, report: TrainingReport, trained_at: str,
    drift_reference: dict[str, Any], choice: policy.PolicyChoice,
) -> dict[str, Any]:
    """What the model carries in its `metadata.json` (`lakehouse.ml.registry`) for serving."""
    return {
        "flavour": result.flavour,
        "feature_columns": result.feature_columns,
        "feature_set_version": FEATURE_SET_VERSION,
        "threshold": result.threshold,
        "policy": choice.policy.as_dict(),
        "calibration": result.calibration,
        "metrics": result.test_metrics,
        "baseline_metrics": result.baseline_metrics,
        "mechanism_metrics": result.mechanism_metrics,
        "data_versions": report.data_versions,
        "split": report.split,
        "trained_at": trained_at,
        # Fixed PSI bins of every input and of the score, the baseline of live drift.
        "drift_reference": drift_reference,
        "vocabulary": report.vocabulary,
    }


def _log_run(
    client: Any, run: Any, result: FlavourResult, report: TrainingReport, trained_at: str,
    drift_reference: dict[str, Any], examples: pd.DataFrame, choice: policy.PolicyChoice,
) -> str:
    """Log params, metrics, plots and the pyfunc model in `run`; returns the model's URI.

    `examples` (training-window rows) give the model's input example and signature.
    """
    import time

    import matplotlib.pyplot as plt
    from mlflow.entities import Metric, Param

    from lakehouse.ml.mlflow_model import save_pyfunc  # imports MLflow

    run_id = run.info.run_id
    params = {**result.params, **report.split, "flavour": result.flavour,
              "feature_set_version": FEATURE_SET_VERSION,
              "feature_count": len(result.feature_columns),
              **{f"delta_version_{k}": v for k, v in report.data_versions.items()}}
    now = int(time.time() * 1000)
    metrics = {
        **{f"test_{k}": v for k, v in result.test_metrics.items()},
        **{f"val_{k}": v for k, v in result.val_metrics.items()},
        **{f"baseline_test_{k}": v for k, v in result.baseline_metrics.items()},
        **{f"test_{k}": v for k, v in result.mechanism_metrics.items()},
        "threshold": result.threshold,
        **choice.metrics(),
        **report.analyst_labels,
    }
    if result.tuning is not None and result.tuning.trial_scores:
        metrics["tuning_best_cv_average_precision"] = result.tuning.best_score
        params["tuning_folds"] = result.tuning.folds
    # The validation curve: each trial's mean fold AP, one step per trial.
    curve = [] if result.tuning is None else [
        Metric("tuning_cv_average_precision", score, now, step)
        for step, score in enumerate(result.tuning.trial_scores)]
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()] + curve,
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.log_dict(run_id, {"feature_set_version": FEATURE_SET_VERSION,
                             "feature_columns": result.feature_columns}, "features.json")
    for name, figure in evaluate.figures(
        result.test_labels, {result.flavour: result.test_probability,
                             "logistic baseline": result.baseline_probability},
        result.importance, result.threshold,
    ).items():
        client.log_figure(run_id, figure, f"plots/{name}")
        plt.close(figure)
    metadata = _model_metadata(result, report, trained_at, drift_reference, choice)
    with tempfile.TemporaryDirectory(prefix="lakehouse-train-") as tmp:
        files = write_model_files(Path(tmp) / MODEL_FILES, result.booster, metadata)
        folder = save_pyfunc(Path(tmp) / MODEL_DIR, files, metadata, examples)
        client.log_artifacts(run_id, str(folder), MODEL_DIR)
    return f"{run.info.artifact_uri.rstrip('/')}/{MODEL_DIR}"


def train_and_register(
    settings: Settings,
    config: TrainConfig = TrainConfig(),
    flavours: tuple[str, ...] = ("full", "basic"),
    on_step: Callable[[str], None] | None = None,
) -> TrainingReport:
    """Train every flavour on the current feature table; log, register, promote each.

    Args:
        settings: lake, MLflow store, model name, label delay, costs.
        config: the training knobs.
        flavours: which models to train.
        on_step: called with a message at each step (the CLI's progress).

    Returns:
        The split, the data versions read and one outcome per flavour.

    Raises:
        TrainingError: no feature table, a period too short, or too few labeled frauds.
    """
    step = on_step or (lambda message: log.info(message))
    step("reading gold/ml_features")
    features = open_features(settings)
    dataset, version = features.dataset, features.version
    first, last, labeled, frauds = _labeled_period(dataset, settings)
    if not labeled or frauds < 3 * config.min_frauds_per_window:
        raise TrainingError(
            f"gold/ml_features holds {labeled} labeled rows with {frauds} frauds; training "
            f"needs at least {3 * config.min_frauds_per_window} frauds — load more history "
            "and run `lakehouse pipeline run`"
        )
    if config.tuning_trials is None:
        config = replace(config, tuning_trials=settings.tuning_trials)
    split = time_split(first, last, settings.label_delay_days, config)
    columns = sorted({c for f in flavours for c in FLAVOUR_COLUMNS[f]})
    windows = load_windows(dataset, columns, split, config, settings)
    check_windows(windows, config)
    truth = read_mechanisms(settings.raw_dir)
    report = TrainingReport(split.as_params(), {"ml_features": version}, int(labeled),
                            analyst_labels=analyst_label_counts(settings, windows),
                            vocabulary=training_vocabulary(settings))
    client, _ = mlflow_client(settings.mlflow_tracking_uri)
    experiment_id = ensure_experiment(client, settings)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    for flavour in flavours:
        step(f"training the {flavour} model")
        result = train_flavour(windows, flavour, config)
        if truth is not None:
            result.mechanism_metrics = mechanism_metrics(
                windows.test, result.test_probability, result.threshold, truth,
                settings.label_delay_days)
        choice = choose_flavour_policy(result, windows, split, settings)
        step(f"logging and registering the {flavour} model")
        run = client.create_run(experiment_id,
                                run_name=f"{model_name(settings, flavour)}-{trained_at}")
        try:
            reference = psi.reference(
                windows.test, result.feature_columns, result.test_probability
            ).as_dict()
            source = _log_run(
                client, run, result, report, trained_at, reference, windows.test, choice
            )
            report.outcomes.append(
                register_and_promote(
                    client, result, windows, settings, run.info.run_id, source, choice
                )
            )
        except BaseException:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
        client.set_terminated(run.info.run_id, "FINISHED")
    return report


def report_as_dict(report: TrainingReport) -> dict[str, Any]:
    """A JSON-friendly summary (the CLI's `--json` and the pipeline stage message).

    Args:
        report: what `train_and_register` returned.

    Returns:
        The report as plain JSON types.
    """
    return json.loads(json.dumps({
        "split": report.split, "data_versions": report.data_versions,
        "analyst_labels": report.analyst_labels,
        "labeled_rows": report.labeled_rows,
        "outcomes": [o.__dict__ for o in report.outcomes],
    }, default=lambda v: float(v) if isinstance(v, np.floating) else str(v)))

