"""The pipeline on a real Spark cluster, with the lake on S3, equals the pipeline on DuckDB.

A standalone master and two workers run as separate JVM processes from the pyspark wheel's own
jars (tests/serverkit.py); the driver connects with `SPARK_MASTER=spark://127.0.0.1:<port>`
and two small executors (512 MB). The lake of the Spark run lives in a bucket of the S3 server
process, so the executors read and write its Parquet files over S3 themselves, and the driver
only commits the file lists to the Delta log. Every silver and gold table must equal the one
the DuckDB run writes on local disk (`assert_tables_match`, as in the parity test), after a
first load, and silver again after a second batch that takes the incremental silver path.

The data is the smallest that exercises every table: a few hundred rows. Spark's start-up,
not the data, sets the time.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from runtime_helpers import assert_tables_match, sorted_table, write_tiny_raw
from serverkit import S3Server, SparkCluster, spark_cluster

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.engines.base import TableBuilder
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.engines.spark import SparkEngine, describe_session, session_config, stop_spark
from lakehouse.pipeline.feeder import bronze_from_raw_dir
from lakehouse.pipeline.gold import run_gold
from lakehouse.pipeline.silver import run_silver

# Three JVMs start before any work: on a busy 2-core machine that alone can take minutes.
pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]
TABLES = (*catalog.SILVER_TABLES, *catalog.GOLD_TABLES)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    from lakehouse.engines.spark_runtime import spark_available

    reason = spark_available()
    if reason:
        pytest.skip(reason)
    stop_spark()  # a local session of an earlier module must not be reused
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with spark_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1) as running:
        yield running
        stop_spark()


@pytest.fixture(scope="module")
def engine(cluster: SparkCluster) -> SparkEngine:
    config = session_config(cluster.master, "512m", 2, ui=False, executor_memory="512m")
    return SparkEngine(config)


def _bronze(raw: Path) -> tuple[dict[str, pa.Table], dt.date]:
    bronze = bronze_from_raw_dir(raw, "cluster-key")
    last_day = max(bronze["bronze_transactions"].column("situation_date").to_pylist())
    return bronze, last_day


def _write(
    settings: Settings, bronze: dict[str, pa.Table], last_day: dt.date, *, second_batch: bool
) -> None:
    """Bronze as the feeder leaves it: every day but the last, then the last day alone."""
    transactions = bronze["bronze_transactions"]
    is_last = pc.equal(transactions.column("situation_date"), pa.scalar(last_day, pa.date32()))
    if second_batch:
        storage.write(
            catalog.location("bronze_transactions", settings),
            transactions.filter(is_last),
            mode="append",
            settings=settings,
        )
        return
    for name, table in bronze.items():
        if name == "bronze_transactions":
            table = table.filter(pc.invert(is_last))
        storage.write(catalog.location(name, settings), table, settings=settings)


def _run(settings: Settings, engine: object, stages: tuple) -> None:
    for stage in stages:
        result = stage(settings, engine)  # type: ignore[arg-type]
        assert result.status == "success", (stage.__name__, result.message)


def test_the_pipeline_on_a_spark_cluster_over_s3_equals_duckdb(
    engine: SparkEngine,
    cluster: SparkCluster,
    s3: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bronze, last_day = _bronze(write_tiny_raw(tmp_path / "raw", clients=6, days=6, per_day=40))
    on_duckdb = Settings(data_dir=tmp_path / "duckdb")  # type: ignore[call-arg]
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path / "spark"))
    for name, value in s3.lake_env(s3.new_bucket()).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    on_spark = get_settings()
    assert isinstance(engine, TableBuilder)

    for second_batch in (False, True):
        # The second batch exercises silver's incremental path; gold is compared once.
        stages = (run_silver,) if second_batch else (run_silver, run_gold)
        for settings, chosen in ((on_duckdb, DuckDBEngine(threads=1)), (on_spark, engine)):
            _write(settings, bronze, last_day, second_batch=second_batch)
            _run(settings, chosen, stages)
        for table in catalog.SILVER_TABLES if second_batch else TABLES:
            assert_tables_match(
                sorted_table(table, on_duckdb),
                sorted_table(table, on_spark),
                f"{table} (DuckDB vs Spark cluster, second batch: {second_batch})",
            )

    # The work ran on the cluster: both workers' executors, and files the executors wrote.
    assert describe_session(engine.session)["master"] == cluster.master
    app = httpx.get(f"{cluster.ui}/json/").json()["activeapps"][0]
    assert app["cores"] == 2
    silver = storage.open_table(catalog.location("silver_transactions", on_spark), on_spark)
    assert silver is not None and all("/spark-" in uri for uri in silver.file_uris())
    assert (
        storage.last_metadata(catalog.location("silver_transactions", on_spark), on_spark)[
            "full_rebuild"
        ]
        is False
    )
