"""Delta tables from Spark without the delta-spark jars: executors move the data, the driver
commits the log.

The delta-spark connector comes from Maven, which this project cannot reach, so Spark talks
to the lake this way, on local disk and on S3 alike:

- read (`read_delta`): `deltalake` resolves the current snapshot to its list of Parquet files,
  and the executors scan exactly those — Spark's own reader on local disk, and on S3 (the
  pyspark wheel has no hadoop-aws jars, hence no `s3a://`) one Python task per file that opens
  it with pyarrow's S3 file system. Files removed by later commits are never seen.
- write (`write_delta`): every executor writes its partitions as Parquet files (pyarrow, cast
  to the table's schema, so delta-rs and DuckDB read exactly the types DuckDB would write)
  into a fresh folder inside the table, and sends back only each file's name, size and row
  count. The driver checks the written rows (a Spark job over those files), then commits the
  file list with `create_write_transaction([AddAction(...)], mode="overwrite")` — one atomic
  Delta commit. A crash or a failed check leaves only unreferenced files, which the
  maintenance step vacuums; no table ever passes through the driver.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction

from lakehouse import storage
from lakehouse.config import Settings, get_settings
from lakehouse.storage.delta import METADATA_KEY, filesystem, require_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# What each executor reports for a file it wrote: all the driver needs for the Delta log.
WRITTEN_FILES = pa.schema([("path", pa.string()), ("size", pa.int64()), ("rows", pa.int64())])


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def spark_field(field: pa.Field) -> pa.Field:
    """`field` with a type Spark maps (plain strings; microsecond timestamps).

    Args:
        field: an Arrow field.

    Returns:
        The same field, its type changed only where Spark has no mapping.
    """
    if pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
        return field.with_type(pa.string())
    if pa.types.is_timestamp(field.type) and field.type.unit != "us":
        return field.with_type(pa.timestamp("us", field.type.tz))
    return field


def table_schema(uri: str, settings: Settings, columns: tuple[str, ...] | None = None) -> pa.Schema:
    """The Arrow schema of the Delta table at `uri` (only `columns`, in that order, if given).

    Args:
        uri: the table's location.
        settings: storage options.
        columns: the columns wanted (None: all).

    Returns:
        The schema, with Spark-mappable types.

    Raises:
        FileNotFoundError: no Delta table at `uri`.
    """
    schema = _schema(require_table(uri, settings))
    return pa.schema([schema.field(c) for c in columns]) if columns else schema


def _schema(table: DeltaTable) -> pa.Schema:
    return pa.schema([spark_field(f) for f in pa.schema(table.schema().to_arrow())])


def read_delta(
    spark: SparkSession,
    uri: str,
    settings: Settings | None = None,
    *,
    where: str | None = None,
    columns: tuple[str, ...] | None = None,
) -> DataFrame:
    """The table's current snapshot as a Spark DataFrame scanned by the executors.

    Args:
        spark: the session the executors belong to.
        uri: the table's location.
        settings: storage options; None means `get_settings()`.
        where: a SQL predicate keeping only some rows.
        columns: the columns wanted (default: all, in the table's order).

    Returns:
        A lazy DataFrame over the snapshot's Parquet files.

    Raises:
        FileNotFoundError: no Delta table at `uri`.
    """
    settings = settings or get_settings()
    table = require_table(uri, settings)
    schema = _schema(table)
    frame = scan_files(spark, table.file_uris(), schema, settings.storage_options())
    if where:
        frame = frame.where(where)
    return frame.select(*(columns or schema.names))


def scan_files(
    spark: SparkSession, files: list[str], schema: pa.Schema, options: Mapping[str, str]
) -> DataFrame:
    """A DataFrame over Parquet `files` of one table, read by the executors.

    Args:
        spark: the session.
        files: absolute URIs of the files.
        schema: the table's schema (each file is cast to it).
        options: `Settings.storage_options()` for S3.

    Returns:
        A lazy DataFrame (empty with `schema` when there are no files).
    """
    if not files:
        return spark.createDataFrame(schema.empty_table())
    if _is_local(files[0]):
        return spark.read.parquet(*files).select(*schema.names)
    from pyspark.sql.pandas.types import from_arrow_schema

    paths = spark.createDataFrame([(f,) for f in files], "path string")
    paths = paths.repartition(min(len(files), spark.sparkContext.defaultParallelism))
    return paths.mapInArrow(_file_reader(schema, dict(options)), from_arrow_schema(schema))


def _file_reader(schema: pa.Schema, options: dict[str, str]) -> Callable:
    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for uri in batch.column(0).to_pylist():
                fs, path = filesystem(uri, options)
                for piece in pq.ParquetFile(fs.open_input_file(path)).iter_batches(
                    columns=schema.names
                ):
                    yield from pa.Table.from_batches([piece]).cast(schema).to_batches()

    return read


def write_delta(
    frame: DataFrame,
    uri: str,
    *,
    schema: pa.Schema | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    check: Callable[[DataFrame], None] | None = None,
) -> tuple[int, int]:
    """Replace the table at `uri` with `frame` in one Delta commit; (rows, new version).

    Args:
        frame: the rows to write (computed by the executors).
        uri: the table's location.
        schema: the table's Arrow schema (default: the frame's own); the executors cast to it.
        metadata: the lakehouse commit metadata (lineage); `rows` is added.
        settings: storage options; None means `get_settings()`.
        check: called with a DataFrame over the written files; raising abandons the commit.

    Returns:
        `(rows written, the table's new version)`.
    """
    settings = settings or get_settings()
    options = settings.storage_options()
    schema = schema or pa.schema([spark_field(f) for f in frame.limit(0).toArrow().schema])
    folder = f"spark-{uuid.uuid4().hex}"
    written = frame.mapInArrow(
        _file_writer(uri, folder, schema, options), "path string, size long, rows long"
    ).collect()
    root = uri.rstrip("/")
    if check is not None:
        check(
            scan_files(frame.sparkSession, [f"{root}/{f.path}" for f in written], schema, options)
        )
    now = int(time.time() * 1000)
    actions = [
        AddAction(
            path=f.path,
            size=f.size,
            partition_values={},
            modification_time=now,
            data_change=True,
            stats=json.dumps({"numRecords": f.rows}),
        )
        for f in written
    ]
    rows = sum(f.rows for f in written)
    table = storage.open_table(uri, settings) or DeltaTable.create(
        uri, schema, mode="ignore", storage_options=options or None
    )
    commit = CommitProperties(
        custom_metadata={METADATA_KEY: json.dumps({**dict(metadata or {}), "rows": rows})}
    )
    table.create_write_transaction(
        actions, mode="overwrite", schema=schema, commit_properties=commit
    )
    version = storage.version(uri, settings)
    assert version is not None
    return rows, version


def _file_writer(uri: str, folder: str, schema: pa.Schema, options: dict[str, str]) -> Callable:
    """The executor side of `write_delta`: one Parquet file per non-empty partition."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs, root = filesystem(uri, options)
        name = f"{folder}/part-{uuid.uuid4().hex}.snappy.parquet"
        path = f"{root.rstrip('/')}/{name}"
        writer, rows = None, 0
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    if _is_local(uri):
                        fs.create_dir(f"{root.rstrip('/')}/{folder}", recursive=True)
                    writer = pq.ParquetWriter(path, schema, filesystem=fs, compression="snappy")
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            size = fs.get_file_info(path).size
            yield pa.RecordBatch.from_pylist(
                [{"path": name, "size": size, "rows": rows}], schema=WRITTEN_FILES
            )

    return write
