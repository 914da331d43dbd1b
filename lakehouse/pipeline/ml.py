"""The pipeline's train stage: after gold, train and register the fraud models.

The orchestrator (`lakehouse/orchestrator.py`) calls `run_training_stage(settings)` once gold
has written `gold/ml_features`. It runs the same job as `lakehouse train`
(`lakehouse.ml.tracking.train_and_register`): both flavours on a time split, logged to MLflow,
registered, promoted only when they beat the champion. What leaves it is a `StageResult`
(rows in = labeled feature rows read, rows out = model versions registered). When the feature
table has not changed since the last registered model was trained on it, the stage reports
`up_to_date` instead of training the same model again, so a scheduled pipeline stays cheap.
"""

from __future__ import annotations

import logging
import time

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.pipeline.runner import StageResult

log = logging.getLogger("lakehouse.pipeline.ml")


def _already_trained_on(settings: Settings, version: int) -> bool:
    """True when the current champion was trained on this exact feature-table version."""
    from lakehouse.ml.registry import FULL_MODEL_NAME, ModelNotFoundError, load_model

    try:
        champion = load_model(FULL_MODEL_NAME, tracking_uri=settings.mlflow_tracking_uri)
    except ModelNotFoundError:
        return False
    return champion.data_versions.get("ml_features") == version


def run_training_stage(settings: Settings) -> StageResult:
    """Train, evaluate, register and maybe promote both flavours (see module docstring).

    Raises:
        lakehouse.ml.train.TrainingError: no feature table, or too few labeled frauds.
    """
    from lakehouse.ml.tracking import train_and_register

    started = time.perf_counter()
    result = StageResult("train")
    version = storage.version(catalog.location("ml_features", settings), settings)
    if version is not None and _already_trained_on(settings, version):
        result.status = "up_to_date"
        result.message = f"champion already trained on gold/ml_features v{version}"
        log.info(result.message)
        return result
    report = train_and_register(settings)
    result.rows_in = report.labeled_rows
    result.rows_out = len(report.outcomes)
    result.message = "; ".join(
        f"{o.model_name} v{o.version} AP {o.metrics['average_precision']:.3f} "
        f"({'champion' if o.promoted else 'challenger'})"
        for o in report.outcomes
    )
    result.seconds = time.perf_counter() - started
    log.info("train stage: %s", result.message)
    return result
