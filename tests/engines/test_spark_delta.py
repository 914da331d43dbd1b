"""Spark reads and writes the lake's Delta tables without the delta-spark jars.

Local disk: Spark writes Parquet inside the table folder and delta-rs commits it; the table
then reads identically through `deltalake` (as DuckDB and the runner read it) and back through
Spark, replaces atomically, keeps commit metadata and history. S3: moto's server (a process on
loopback) stands in for MinIO; the pyspark wheel has no hadoop-aws jars, so the S3 path hands Arrow
between `deltalake` and Spark — the test proves the same round trip there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from testkit import local_spark_engine

from lakehouse import storage
from lakehouse.config import Settings
from lakehouse.engines.spark import SparkEngine
from lakehouse.storage.spark_delta import read_delta, write_delta

pytestmark = pytest.mark.spark

ROWS = pa.table(
    {
        "transaction_id": pa.array([3, 1, 2], pa.int64()),
        "ts": pa.array(
            [dt.datetime(2019, 5, 1, 23, 59, 59), dt.datetime(2019, 5, 2, 0, 0, 1), None],
            pa.timestamp("us"),
        ),
        "tx_date": pa.array([dt.date(2019, 5, 1), dt.date(2019, 5, 2), None], pa.date32()),
        "amount": pa.array([12.5, -3.0, None], pa.float64()),
        "merchant_state": pa.array(["CA", "ONLINE", None], pa.string()),
        "label": pa.array([1, None, 0], pa.int32()),
    }
)


@pytest.fixture(scope="module")
def engine() -> Iterator[SparkEngine]:
    yield from local_spark_engine()


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("transaction_id")


def _round_trip(engine: SparkEngine, uri: str, settings: Settings) -> None:
    spark = engine.session
    _, first = write_delta(spark.createDataFrame(ROWS), uri, metadata={"run": 1}, settings=settings)
    # What DuckDB and the runner see (delta-rs) equals what Spark wrote, types included.
    assert _sorted(storage.read_table(uri, settings)).equals(_sorted(ROWS))
    assert _sorted(read_delta(spark, uri, settings).toArrow()).equals(_sorted(ROWS))
    # An overwrite replaces the snapshot in one commit; the old files are no longer read.
    smaller = engine.dataframe("SELECT * FROM t WHERE amount > 0", {"t": ROWS})
    rows, second = write_delta(smaller, uri, metadata={"run": 2}, settings=settings)
    assert (rows, second) == (1, first + 1)
    assert storage.read_table(uri, settings).column("transaction_id").to_pylist() == [3]
    assert read_delta(spark, uri, settings).count() == 1
    assert storage.last_metadata(uri, settings) == {"run": 2, "rows": 1}


def test_spark_round_trip_on_local_disk(engine: SparkEngine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    uri = str(tmp_path / "lake" / "gold" / "spark_table")
    _round_trip(engine, uri, settings)
    # The Parquet files sit inside the table folder, committed through the Delta log.
    files = storage.open_table(uri, settings).file_uris()  # type: ignore[union-attr]
    root = Path(uri).as_posix()
    assert files and all(f.startswith(f"{root}/spark-") and f.endswith(".parquet") for f in files)


def test_spark_continues_a_table_written_by_delta_rs(engine: SparkEngine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    uri = str(tmp_path / "lake" / "silver" / "t")
    storage.write(uri, ROWS, settings=settings)
    frame = read_delta(engine.session, uri, settings)
    assert write_delta(frame, uri, settings=settings) == (3, 1)
    assert _sorted(storage.read_table(uri, settings)).equals(_sorted(ROWS))


def test_reading_a_missing_table_says_so(engine: SparkEngine, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="upstream stage"):
        read_delta(engine.session, str(tmp_path / "nothing"), Settings(data_dir=tmp_path))  # type: ignore[call-arg]


def test_spark_round_trip_on_s3(engine: SparkEngine, s3_lake: Settings) -> None:
    _round_trip(engine, f"{s3_lake.lake}/gold/spark_table", s3_lake)
