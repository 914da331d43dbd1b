"""The orchestrator: pipeline stages as a small DAG — order, retries, metrics, logs, summary.

`run_pipeline()` runs `bronze → silver → gold → publish → train → maintain` in dependency
order (or one stage with `only=`), each through the stage runner (`lakehouse.pipeline.runner`),
the publisher or the table maintenance (`lakehouse.storage.maintenance`). Transient failures
(sources_api or a database not reachable) are retried under the one retry policy
(`lakehouse.retry`: jittered backoff, one overall deadline); anything else fails the
stage at once. A failed stage skips everything downstream, and because every table write is
one Delta commit (or one DB transaction for publish) the previous tables stay intact. Each
result feeds the Prometheus metrics and a JSON log line; `lakehouse pipeline run` prints the
summary table. After the stages, the freshness of the model's data and the online/offline
skew of the logged feature samples are measured for the metrics (`lakehouse.monitoring`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import sqlalchemy.exc

from lakehouse.config import Settings, get_settings
from lakehouse.engines import get_engine
from lakehouse.monitoring import freshness, skew
from lakehouse.observability.metrics import PipelineMetrics
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.ml import run_training_stage
from lakehouse.pipeline.publish import publish_datamarts
from lakehouse.pipeline.runner import StageResult, run_bronze
from lakehouse.pipeline.silver import run_silver
from lakehouse.pipeline.sources_http import SourceUnavailableError
from lakehouse.retry import call_with_retries
from lakehouse.storage.maintenance import maintain_lake

logger = logging.getLogger("lakehouse.orchestrator")

STOPPING = "not started: the process is stopping (SIGTERM)"
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    SourceUnavailableError,
    httpx.TransportError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)


@dataclass(frozen=True)
class Stage:
    name: str
    upstream: tuple[str, ...]
    reads: str  # what the stage reads, for `--stage NAME` and the docs
    run: Callable[[Settings, str | None], StageResult]


def _bronze(settings: Settings, engine_name: str | None) -> StageResult:
    return run_bronze(settings)


def _silver(settings: Settings, engine_name: str | None) -> StageResult:
    return run_silver(settings, get_engine(engine_name or settings.engine))


def _gold(settings: Settings, engine_name: str | None) -> StageResult:
    return run_gold(settings, get_engine(engine_name or settings.engine))


def _publish(settings: Settings, engine_name: str | None) -> StageResult:
    return publish_datamarts(settings)


def _train(settings: Settings, engine_name: str | None) -> StageResult:
    # The stage imports the `ml` extra (scikit-learn, LightGBM, MLflow) only when it trains.
    return run_training_stage(settings)


def _maintain(settings: Settings, engine_name: str | None) -> StageResult:
    result = StageResult("maintain")
    upkeep = maintain_lake(settings)
    result.tables = {u.table: u.vacuumed_files for u in upkeep if u.vacuumed_files}
    before = sum(u.before.files for u in upkeep)
    after = sum(u.after.files for u in upkeep)
    compacted = sum(u.compacted_files for u in upkeep)
    result.message = (
        f"{before} → {after} files; {compacted} compacted, "
        f"{sum(u.vacuumed_files for u in upkeep)} vacuumed"
    )
    if before == after and not compacted:
        result.status = "up_to_date"
    return result


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("bronze", (), "sources_api files + source DB transaction_data", _bronze),
        Stage("silver", ("bronze",), "bronze tables", _silver),
        Stage("gold", ("silver",), "silver tables", _gold),
        Stage("publish", ("gold",), "gold datamarts", _publish),
        Stage("train", ("gold",), "gold ml_features", _train),
        Stage("maintain", ("gold",), "every Delta table of the catalog", _maintain),
    )
}


def plan(only: str | None = None) -> list[Stage]:
    """The stages to run, in dependency order.

    Args:
        only: run just this stage (default: every stage).

    Returns:
        The stages: bronze, silver, gold, then publish, train and maintain; or just `only`.

    Raises:
        ValueError: `only` is not a stage name.
    """
    if only is not None:
        if only not in STAGES:
            raise ValueError(f"unknown stage {only!r}: choose one of {', '.join(STAGES)}")
        return [STAGES[only]]
    return list(STAGES.values())


def run_stage(
    stage: Stage,
    settings: Settings,
    engine_name: str | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> StageResult:
    """Run one stage, retrying transient errors under the one retry policy (lakehouse.retry).

    Args:
        stage: the stage to run.
        settings: the run's settings (`retry_attempts`, `retry_deadline_seconds` included).
        engine_name: the engine override of the run, if any.
        sleep: how to wait between attempts (replaced in tests).

    Returns:
        The stage's result; `failed` with the reason once the retries are exhausted.
    """
    start = time.perf_counter()
    try:
        result = call_with_retries(
            lambda: stage.run(settings, engine_name),
            settings,
            retry_on=TRANSIENT_ERRORS,
            what=f"stage {stage.name}",
            sleep=sleep,
        )
    except TRANSIENT_ERRORS as exc:
        logger.error("stage failed after its retries", extra={"stage": stage.name})
        result = _failed(stage.name, exc)
    except Exception as exc:
        logger.exception("stage failed", extra={"stage": stage.name})
        result = _failed(stage.name, exc)
    result.seconds = time.perf_counter() - start
    return result


def _failed(stage: str, exc: BaseException) -> StageResult:
    message = f"{exc.__class__.__name__}: {exc}"
    return StageResult(stage, status="failed", message=message)


def run_pipeline(
    settings: Settings | None = None,
    *,
    only: str | None = None,
    skip: tuple[str, ...] = (),
    engine_name: str | None = None,
    metrics: PipelineMetrics | None = None,
    on_stage: Callable[[str, StageResult | None], None] | None = None,
    stop: threading.Event | None = None,
) -> list[StageResult]:
    """Run the plan; returns one result per stage (failed upstream → downstream `skipped`).

    `skip` names stages left out of this run (e.g. `train` when only the tables are wanted).

    `on_stage(name, None)` is called when a stage starts and `on_stage(name, result)` when it
    ends, so a caller can drive a progress display. Once `stop` is set (SIGTERM), the stage
    running finishes and no other starts: they are `skipped`, so a shutdown never cuts a
    Delta commit or a publish transaction in half.

    Args:
        settings: the run's settings (default: the process's settings).
        only: run just this stage.
        skip: stages left out of this run.
        engine_name: the engine override of the run, if any.
        metrics: where each stage's outcome is recorded for Prometheus.
        on_stage: progress callback, as above.
        stop: set to stop after the running stage.

    Returns:
        One result per planned stage, in order.

    Raises:
        ValueError: `only` is not a stage name.
    """
    settings = settings or get_settings()
    results: dict[str, StageResult] = {}
    for stage in plan(only):
        blocked = [u for u in stage.upstream if results.get(u) and results[u].status in
                   ("failed", "skipped")]
        if stop is not None and stop.is_set():
            result = StageResult(stage.name, status="skipped", message=STOPPING)
        elif stage.name in skip:
            result = StageResult(stage.name, status="skipped", message="skipped on request")
        elif blocked:
            result = StageResult(stage.name, status="skipped",
                                 message=f"upstream stage {blocked[0]} did not succeed")
        else:
            if on_stage:
                on_stage(stage.name, None)
            logger.info("stage started", extra={"stage": stage.name, "reads": stage.reads})
            result = run_stage(stage, settings, engine_name)
        results[stage.name] = result
        log = logger.error if result.status == "failed" else logger.info
        log("stage finished", extra={
            "stage": result.stage, "status": result.status, "rows_in": result.rows_in,
            "rows_out": result.rows_out, "seconds": round(result.seconds, 3),
            "tables": result.tables, "reason": result.message})
        if metrics:
            metrics.record(result)
        if on_stage:
            on_stage(stage.name, result)
    if metrics:
        _watch_model(settings, metrics)
    return list(results.values())


def _watch_model(settings: Settings, metrics: PipelineMetrics) -> None:
    """Measure freshness and online/offline skew for the metrics; never fails the run."""
    try:
        metrics.record_freshness(freshness.measure(settings))
    except Exception:
        logger.exception("measuring freshness failed; the freshness gauges keep their values")
    try:
        report = skew.run(settings)
    except Exception:
        logger.exception("the skew check failed; the skew gauges keep their values")
        return
    metrics.record_skew(report)
    for feature in report.skewed:
        logger.warning("online/offline skew", extra={
            "feature": feature.feature, "mismatched": feature.mismatched,
            "compared": feature.compared, "transaction_ids": [e[0] for e in feature.examples]})
