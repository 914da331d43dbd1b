"""The stage runner: every Delta read and write of the pipeline happens here.

Models (`lakehouse.pipeline.models`) are pure SQL from tables to a table. This module gives
them their inputs — Delta snapshots opened through the catalog as Arrow datasets — checks
their outputs (`assert_checks`: a failed check fails the stage and leaves the previous table
untouched) and commits the results as Delta versions. Each commit records what it was built
from (input table versions, the SQL's hash, the batches it covers), so a rerun with nothing
new is a no-op and a run killed halfway converges on the next one: Delta commits are atomic,
and whatever was not committed is simply recomputed.

Stages: `run_bronze` (feeder) here, with what every stage shares (`StageResult`, `build_model`,
the lineage helpers); the silver stage (incremental `silver_transactions`) lives in `silver.py`,
the gold stage (datamarts and ML features, merged day by day) in `gold.py`, publishing in
`publish.py`, the bucketed writing of `ml_features` in `features_stage.py`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines import Engine
from lakehouse.engines.base import TableBuilder, TableScan
from lakehouse.pipeline import feeder, source_extract
from lakehouse.pipeline.build import KNOWN_IDS
from lakehouse.pipeline.checks import assert_checks
from lakehouse.pipeline.features_stage import write_ml_features
from lakehouse.pipeline.models import MODELS, model_params, run_model
from lakehouse.pipeline.reference_feed import feed_reference_files
from lakehouse.sources.schema import source_engine

logger = logging.getLogger("lakehouse.pipeline.runner")


@dataclass
class StageResult:
    """What one stage did; the orchestrator turns it into the summary, metrics and logs."""

    stage: str
    status: str = "success"  # success | up_to_date | failed | skipped
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)  # table -> Delta version written
    message: str = ""
    # table -> seconds spent bringing it up to date (benchmarks' per-table figures, logs)
    table_seconds: dict[str, float] = field(default_factory=dict)

    def add_table(
        self, name: str, rows_in: int, rows_out: int, version: int | None, seconds: float
    ) -> None:
        """Count one table's build into the stage.

        Args:
            name: the table.
            rows_in: rows its build read.
            rows_out: rows it wrote.
            version: the Delta version written, None when it was up to date.
            seconds: time spent on it.
        """
        self.table_seconds[name] = seconds
        self.rows_in += rows_in
        self.rows_out += rows_out
        if version is not None:
            self.tables[name] = version


def pause_point(stage: str) -> None:
    """Test hook: with LAKEHOUSE_TEST_PAUSE_AT=<stage>, sleep here so a SIGKILL lands mid-stage.

    Sleeps LAKEHOUSE_TEST_PAUSE_SECONDS (default 60); without the variable, returns at once.

    Args:
        stage: the name of this pause point (a stage or a table being written).
    """
    if os.environ.get("LAKEHOUSE_TEST_PAUSE_AT") != stage:
        return
    logger.warning("test pause point reached", extra={"event": "test_pause", "stage": stage})
    time.sleep(float(os.environ.get("LAKEHOUSE_TEST_PAUSE_SECONDS", "60")))


def _uri(name: str, settings: Settings) -> str:
    return catalog.location(name, settings)


def sql_hash(sql: str, params: Mapping[str, Any]) -> str:
    """A short fingerprint of a model's SQL and parameters, recorded in each commit's lineage.

    Args:
        sql: the model's SQL text.
        params: the parameters substituted into it.

    Returns:
        The first 16 hex digits of the SHA-256 of both.
    """
    return hashlib.sha256(f"{sql}|{sorted(params.items())}".encode()).hexdigest()[:16]


def input_versions(names: tuple[str, ...], settings: Settings) -> dict[str, int | None]:
    """The current Delta version of each catalog table in `names` (None: not built yet).

    Args:
        names: a model's inputs; names outside the catalog are left out.
        settings: where the lake is.

    Returns:
        Table name -> its current version, or None.
    """
    return {n: storage.version(_uri(n, settings), settings) for n in names if n in catalog.CATALOG}


# ---------------------------------------------------------------- bronze -----------------


def run_bronze(settings: Settings) -> StageResult:
    """Feed bronze: reference files from sources_api, new transaction batches from the DB.

    A reference file that did not change is not downloaded (a conditional GET answered 304,
    `lakehouse.pipeline.reference_feed`), and one whose content (with the analysts' labels)
    is unchanged writes no new version; transaction batches are extracted from the bronze
    watermark on.

    Args:
        settings: where the lake, sources_api and the source DB are.

    Returns:
        The stage's result: tables written with their versions, rows, "up_to_date" when
        nothing changed.
    """
    result = StageResult("bronze")
    for written in feed_reference_files(settings):
        result.tables[written.table] = written.version
        result.rows_in += written.rows
        result.rows_out += written.rows
    pause_point("bronze")
    _feed_transactions(settings, result)
    if not result.tables:
        result.status = "up_to_date"
    return result


# The key of every bronze transactions commit's row counts per batch, all batches included.
BATCH_COUNTS = "batch_counts"
# uri -> ((table id, data version), its row count per situation_date): for a lake whose last
# bronze commit recorded no counts, bronze, silver and the freshness check all ask in one run,
# and each answer reads a whole column of bronze.
_batch_counts: dict[str, tuple[tuple[str, int], dict[str, int]]] = {}


def bronze_batch_counts(uri: str, settings: Settings) -> dict[str, int]:
    """Row count per situation_date ('YYYY-MM-DD') in a Delta table (empty when absent).

    Read from the counts the last commit recorded (`BATCH_COUNTS`), so no data is read: a
    scan of the whole column grows with the history (13.3 M dates at full scale). A lake
    written before the counts were recorded is scanned once per table version.

    Args:
        uri: the bronze transactions table.
        settings: where the lake is.

    Returns:
        Situation date as text -> rows under it.
    """
    recorded = storage.last_metadata(uri, settings).get(BATCH_COUNTS)
    if isinstance(recorded, dict):
        return {str(day): int(n) for day, n in recorded.items()}
    snapshot = storage.snapshot(uri, settings)
    if snapshot is None:
        return {}
    identity = (snapshot.table_id, snapshot.version)
    known = _batch_counts.get(uri)
    if known is None or known[0] != identity:
        days = snapshot.dataset.to_table(columns=["situation_date"])
        counts = days.group_by("situation_date").aggregate([("situation_date", "count")])
        known = (identity, {
            str(day): int(n) for day, n in zip(counts.column(0).to_pylist(),
                                               counts.column(1).to_pylist(), strict=True)})
        _batch_counts[uri] = known
    return dict(known[1])


def _feed_transactions(settings: Settings, result: StageResult) -> None:
    """Extract the batches at or after the bronze watermark that differ from bronze.

    The latest bronze date is re-checked because a batch of the same date may have grown;
    a date whose row count matches the source is left alone, so a rerun writes nothing.
    """
    uri = _uri("bronze_transactions", settings)
    bronze = bronze_batch_counts(uri, settings)
    watermark = max(bronze) if bronze else None
    engine = source_engine(settings.source_db_url or "")
    try:
        since = None if watermark is None else date.fromisoformat(watermark)
        source = source_extract.source_batch_counts(engine, since)
        changed = sorted(day for day, count in source.items() if bronze.get(day) != count)
        if not changed:
            return
        batches = source_extract.extract_batches(engine, changed)
        reader = pa.RecordBatchReader.from_batches(
            feeder.BRONZE_TRANSACTIONS_SCHEMA, _with_pause(batches, "bronze_transactions")
        )
        predicate = None if not bronze else dates_predicate(changed)
        result.tables["bronze_transactions"] = storage.write(
            uri, reader, mode="overwrite", predicate=predicate,
            metadata={"batches": {d: source[d] for d in changed},
                      BATCH_COUNTS: {**bronze, **{d: source[d] for d in changed}}},
            settings=settings,
        )
    finally:
        engine.dispose()
    rows = sum(source[d] for d in changed)
    result.rows_in += rows
    result.rows_out += rows
    logger.info("bronze transactions written", extra={"batches": changed, "rows": rows})


def _with_pause(batches: Iterator[pa.RecordBatch], stage: str) -> Iterator[pa.RecordBatch]:
    # The pause sits after the first batch so a crash test kills the writer mid-stream.
    for index, batch in enumerate(batches):
        yield batch
        if index == 0:
            pause_point(stage)


def dates_predicate(days: list[str]) -> str:
    """The Delta predicate selecting the batches of `days` (a partial overwrite's target).

    Args:
        days: situation dates as 'YYYY-MM-DD'.

    Returns:
        `situation_date IN (...)`.
    """
    # Dates come from Arrow date values we formatted ourselves, never from user text.
    return "situation_date IN (" + ", ".join(f"'{d}'" for d in days) + ")"


# ---------------------------------------------------------------- models -----------------


def read_inputs(names: tuple[str, ...], settings: Settings) -> dict[str, ds.Dataset]:
    """The catalog tables a model reads, as lazy Arrow datasets.

    Args:
        names: the model's inputs (`known_transaction_ids` is left out: the runner builds it).
        settings: where the lake is.

    Returns:
        Table name -> its current snapshot.
    """
    return {n: storage.read_dataset(_uri(n, settings), settings) for n in names if n != KNOWN_IDS}


def build_model(
    name: str, engine: Engine, settings: Settings, *, force: bool = False
) -> tuple[int, int, int | None]:
    """Recompute one model in full and overwrite its table; (rows_in, rows_out, version).

    Skips (version None) when the inputs' versions and the SQL are those of the last build.

    Args:
        name: the model's catalog name.
        engine: the SQL engine; a `TableBuilder` (Spark) reads and writes the tables itself.
        settings: where the lake is, and the model's parameters.
        force: rebuild even when nothing changed.

    Returns:
        (rows read from the inputs, rows written, the Delta version written or None).

    Raises:
        DataCheckError: the model's checks refused the result; nothing was committed.
    """
    model = MODELS[name]
    params = model_params(model, settings)
    uri = _uri(name, settings)
    lineage = {"inputs": input_versions(model.inputs, settings),
               "sql": sql_hash(model.sql, params)}
    previous = storage.last_metadata(uri, settings)
    if not force and all(previous.get(k) == v for k, v in lineage.items()):
        return 0, 0, None
    inputs = read_inputs(model.inputs, settings)
    rows_in = sum(d.count_rows() for d in inputs.values())
    if isinstance(engine, TableBuilder):  # Spark: its executors read and write the tables
        rows_out, written = engine.build_table(
            model.render_sql(params), {n: TableScan(_uri(n, settings)) for n in model.inputs},
            uri, check=lambda frame: assert_checks(model, frame, engine), metadata=lineage,
            settings=settings)
        logger.info("table written", extra={"table": name, "rows": rows_out, "version": written})
        return rows_in, rows_out, written
    if name == "ml_features":  # too large for one Arrow table: built bucket by bucket
        rows_out, written = write_ml_features(uri, engine, inputs["silver_transactions"],
                                              lineage, settings)
        return rows_in, rows_out, written
    table = run_model(engine, name, inputs, params)
    assert_checks(model, table)
    written = storage.write(uri, table, metadata={**lineage, "rows": table.num_rows},
                            settings=settings)
    logger.info("table written", extra={"table": name, "rows": table.num_rows, "version": written})
    return rows_in, table.num_rows, written
