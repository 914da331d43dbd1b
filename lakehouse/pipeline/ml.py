"""The pipeline's train stage: after gold, train and register the fraud models.

The orchestrator (`lakehouse/orchestrator.py`) calls `run_training_stage(settings)` once gold
has written `gold/ml_features`. It runs the same job as `lakehouse train`
(`lakehouse.ml.tracking.train_and_register`): both flavours on a time split, logged to MLflow,
registered, promoted only when they beat the champion. What leaves it is a `StageResult`
(rows in = labeled feature rows read, rows out = model versions registered). When the champion
or the latest challenger was already trained on the current version of the feature table,
the stage reports `up_to_date` instead of training again, so a scheduled pipeline stays cheap.
"""

from __future__ import annotations

import logging
import time

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.ml.registry import CHALLENGER, CHAMPION, ModelNotFoundError, load_model, model_name
from lakehouse.pipeline.runner import StageResult

log = logging.getLogger("lakehouse.pipeline.ml")


def _already_trained_on(settings: Settings, version: int) -> bool:
    """True when the champion or the latest challenger was trained on this table version.

    A challenger counts too: retraining on the same data would only reach the same verdict.
    """
    for alias in (CHAMPION, CHALLENGER):
        try:
            model = load_model(model_name(settings, "full"), alias, settings.mlflow_tracking_uri)
        except ModelNotFoundError:
            continue
        if model.data_versions.get("ml_features") == version:
            return True
    return False


def run_training_stage(settings: Settings) -> StageResult:
    """Train, evaluate, register and maybe promote both flavours (see module docstring).

    Args:
        settings: the platform settings (lake, MLflow store, model name).

    Returns:
        The stage's result: `up_to_date`, or the versions registered and their AP.

    Raises:
        lakehouse.ml.training_data.TrainingError: no feature table, or too few labeled frauds.
    """
    from lakehouse.ml.tracking import train_and_register

    started = time.perf_counter()
    result = StageResult("train")
    version = storage.version(catalog.location("ml_features", settings), settings)
    if version is not None and _already_trained_on(settings, version):
        result.status = "up_to_date"
        result.message = f"a model was already trained on gold/ml_features v{version}"
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
