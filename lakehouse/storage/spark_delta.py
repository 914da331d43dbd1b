"""Delta tables from Spark without the delta-spark jars: Spark moves the data, delta-rs commits.

The delta-spark connector comes from Maven, which this project cannot reach, so Spark talks
to the lake the way docs/spark.md describes:

- read (`read_delta`): `deltalake` resolves the current snapshot to its list of Parquet files
  and Spark scans exactly those (`spark.read.parquet(*files)`) — executors read in parallel,
  and files removed by later commits are never seen;
- write (`write_delta`): Spark writes Parquet (TIMESTAMP_MICROS, so delta-rs and DuckDB read
  the timestamps) into a fresh folder inside the table, then `deltalake` commits those files
  with `create_write_transaction([AddAction(...)], mode="overwrite")` — one atomic Delta commit;
  a crash before it leaves only unreferenced files, never a half-written table.

On S3 (MinIO) the pyspark wheel has no `hadoop-aws` jars (no `s3a://` file system), so both
directions go through Arrow: `deltalake` reads/writes the table on S3 and hands Arrow to Spark
(`createDataFrame`) or takes it back (`toArrow`). That runs through the driver — fine for the
tables of this project on one machine; on a cluster with hadoop-aws installed, point Spark at
`s3a://` and the local-disk path applies unchanged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction

from lakehouse import storage
from lakehouse.config import Settings, get_settings
from lakehouse.storage.delta import METADATA_KEY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def _local_path(uri: str) -> Path | None:
    """The folder of a table on local disk, None for an object store."""
    if "://" in uri and not uri.startswith("file://"):
        return None
    return Path(uri.removeprefix("file://"))


def read_delta(spark: SparkSession, uri: str, settings: Settings | None = None) -> DataFrame:
    """The table's current snapshot as a Spark DataFrame (columns in the table's order).

    Raises:
        FileNotFoundError: no Delta table at `uri`.
    """
    settings = settings or get_settings()
    table = storage.open_table(uri, settings)
    if table is None:
        raise FileNotFoundError(f"Delta table {uri} does not exist yet; run the upstream stage")
    schema = pa.schema(table.schema().to_arrow())
    files = table.file_uris()
    if _local_path(uri) is None or not files:
        # No S3A file system in the wheel (or nothing to scan): Arrow through the driver.
        return spark.createDataFrame(table.to_pyarrow_dataset().to_table())
    return spark.read.parquet(*files).select(*schema.names)


def write_delta(
    frame: DataFrame,
    uri: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> int:
    """Replace the table at `uri` with `frame` in one Delta commit; returns the new version."""
    settings = settings or get_settings()
    folder = _local_path(uri)
    if folder is None:
        return storage.write(uri, frame.toArrow(), metadata=metadata, settings=settings)
    batch = f"spark-{uuid.uuid4().hex}"
    frame.write.option("compression", "snappy").parquet(str(folder / batch))
    parts = sorted((folder / batch).glob("part-*.parquet"))
    schema = _files_schema(parts, frame)
    actions = [_add_action(folder, part) for part in parts]
    table = storage.open_table(uri, settings)
    if table is None:
        table = DeltaTable.create(str(folder), schema, mode="ignore")
    commit = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(dict(metadata or {}))})
    table.create_write_transaction(actions, mode="overwrite", schema=schema,
                                   commit_properties=commit)
    current = storage.version(uri, settings)
    assert current is not None
    return current


def _files_schema(parts: list[Path], frame: DataFrame) -> pa.Schema:
    if parts:
        schema = pq.read_schema(parts[0])
        return pa.schema(schema).remove_metadata()
    # An empty result: Spark writes no data file, so take the schema from the frame itself.
    return frame.limit(0).toArrow().schema


def _add_action(table_root: Path, part: Path) -> AddAction:
    """The Delta log entry for one Parquet file Spark wrote inside the table folder."""
    rows = pq.ParquetFile(part).metadata.num_rows
    return AddAction(
        path=part.relative_to(table_root).as_posix(),
        size=part.stat().st_size,
        partition_values={},
        modification_time=int(time.time() * 1000),
        data_change=True,
        # Row counts only: enough for delta-rs' counts; min/max would add data skipping.
        stats=json.dumps({"numRecords": rows}),
    )
