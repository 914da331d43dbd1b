"""Delta Lake tables on local disk or S3: open, read, write, history.

The stage runner and the feeder are the only callers: they name a table through the catalog,
this module turns the location into `deltalake` calls with `Settings.storage_options()`
(empty on local disk, endpoint and credentials for MinIO/S3). Every write is one Delta commit,
so a crash leaves the previous version readable; commits carry a small metadata dictionary
(content hash, input versions) that later runs read back to decide whether work is needed.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from lakehouse.config import Settings, get_settings

# Commit metadata is namespaced so it never collides with delta-rs' own keys.
METADATA_KEY = "lakehouse"
# Rows per Parquet row group (delta-rs' default is about a million). Each group's min/max
# statistics let a filtered scan skip it, so a time range of a table written in time order
# reads that range, not the whole table; and the writer buffers one group at a time.
ROW_GROUP_ROWS = 128 * 1024
# Commits that rewrite or delete files, or set table properties, without changing the rows.
MAINTENANCE_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"})


class StorageFull(OSError):
    """The device holding a table filled up during a write: no commit was made."""

    def __init__(self, uri: str, kept_version: int | None) -> None:
        kept = "does not exist yet" if kept_version is None else f"stays at version {kept_version}"
        super().__init__(
            errno.ENOSPC,
            f"no space left on the device holding {uri}: the Delta commit was not made (the "
            f"table {kept}); free space, then rerun",
        )


def _options(settings: Settings | None) -> dict[str, str]:
    return (settings or get_settings()).storage_options()


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def open_table(uri: str, settings: Settings | None = None) -> DeltaTable | None:
    """The Delta table at `uri`, or None when no table was ever committed there.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The opened table (its latest version), or None.
    """
    if _is_local(uri) and not (Path(uri.removeprefix("file://")) / "_delta_log").is_dir():
        return None
    try:
        return DeltaTable(uri, storage_options=_options(settings))
    except TableNotFoundError:
        return None


def require_table(uri: str, settings: Settings | None = None) -> DeltaTable:
    """The Delta table at `uri`, for a reader that cannot go on without it.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The opened table (its latest version).

    Raises:
        FileNotFoundError: no table exists at `uri` yet.
    """
    table = open_table(uri, settings)
    if table is None:
        raise FileNotFoundError(f"Delta table {uri} does not exist yet; run the upstream stage")
    return table


def exists(uri: str, settings: Settings | None = None) -> bool:
    """Whether a Delta table was ever committed at `uri`.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        True when the table exists.
    """
    return open_table(uri, settings) is not None


def version(uri: str, settings: Settings | None = None) -> int | None:
    """Version of the table's current data, None when it does not exist.

    Maintenance commits (compaction, vacuum: `lakehouse.storage.maintenance`) change no row,
    so they are skipped: a stage that compares input versions to decide whether to rebuild
    must not redo its work because the lake was tidied.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The newest version that changed rows, or None.
    """
    table = open_table(uri, settings)
    return None if table is None else _data_version(table)


def _data_version(table: DeltaTable) -> int:
    """The newest version of `table` that changed rows (not a maintenance commit)."""
    for commit in table.history(limit=8):
        if commit.get("operation") not in MAINTENANCE_OPERATIONS:
            return int(commit["version"])
    return int(table.version())


def read_dataset(uri: str, settings: Settings | None = None) -> ds.Dataset:
    """The latest snapshot as a lazy Arrow dataset (engines scan only what they need).

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The dataset over the snapshot's Parquet files.

    Raises:
        FileNotFoundError: no table exists at `uri` yet.
    """
    table = require_table(uri, settings)
    return table.to_pyarrow_dataset()


@dataclass(frozen=True)
class Snapshot:
    """The latest rows of a table as a lazy Arrow dataset, and their version (as `version`)."""

    dataset: ds.Dataset
    version: int
    table_id: str = ""  # the table's id (a new one if the table is ever created anew)


def snapshot(uri: str, settings: Settings | None = None) -> Snapshot | None:
    """The latest snapshot and its data version, read from one look at the log (so they agree).

    The version is `version`'s: maintenance commits are skipped, so lineage recorded from a
    snapshot (a model's training data, the online store's lake version) still matches after
    the lake is compacted.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The snapshot, or None when no table was ever committed at `uri`.
    """
    table = open_table(uri, settings)
    if table is None:
        return None
    return Snapshot(table.to_pyarrow_dataset(), _data_version(table), str(table.metadata().id))


def column_max(uri: str, column: str, settings: Settings | None = None) -> Any | None:
    """The largest value of `column` in the latest snapshot, from the log's file statistics.

    No data file is read: each file's add action carries its min/max. When a file with
    non-null values has no statistics for the column (delta-rs collects them for the first
    32 columns), the answer is unknown and the caller must scan.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        column: a top-level column.
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The maximum as a Python value; None when the table does not exist, holds no non-null
        value, or the statistics cannot tell.
    """
    table = open_table(uri, settings)
    if table is None:
        return None
    actions = pa.table(table.get_add_actions(flatten=True))
    names = (f"max.{column}", f"null_count.{column}", "num_records")
    if actions.num_rows == 0 or any(name not in actions.column_names for name in names):
        return None
    maxima, nulls, records = (actions.column(name) for name in names)
    unknown = pc.and_kleene(pc.is_null(maxima), pc.not_equal(nulls, records))
    if pc.any(pc.fill_null(unknown, True)).as_py():
        return None
    return pc.max(maxima).as_py()


def read_table(
    uri: str,
    settings: Settings | None = None,
    *,
    columns: Sequence[str] | None = None,
    filter: pc.Expression | None = None,
) -> pa.Table:
    """The latest snapshot in memory: only `columns`, only the rows matching `filter`.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.
        columns: the columns to read (None: all); the other Parquet columns are not read.
        filter: a pyarrow expression, e.g. `pc.field("transaction_id") == 7` (None: all rows).

    Returns:
        The rows, as one Arrow table.

    Raises:
        FileNotFoundError: no table exists at `uri` yet.
    """
    scan_columns = None if columns is None else list(columns)
    return read_dataset(uri, settings).to_table(columns=scan_columns, filter=filter)


def write(
    uri: str,
    data: pa.Table | pa.RecordBatchReader,
    *,
    mode: str = "overwrite",
    predicate: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> int:
    """Commit `data` to the table at `uri` in one Delta transaction; returns the new version.

    `mode="overwrite"` with a `predicate` replaces only the matching rows (a partition
    replace); without one it replaces the whole table. The schema is overwritten on full
    replaces so a model whose columns change does not wedge its table.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        data: the rows, in memory or streamed.
        mode: "overwrite" or "append".
        predicate: with "overwrite", the SQL predicate of the rows replaced.
        metadata: recorded in the commit (read back by `last_metadata`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The table's data version after the commit.

    Raises:
        StorageFull: the device filled up; no commit was made.
    """
    commit = CommitProperties(custom_metadata={METADATA_KEY: json.dumps(dict(metadata or {}))})
    schema_mode = "overwrite" if mode == "overwrite" and predicate is None else None
    try:
        write_deltalake(
            uri,
            data,
            mode=mode,  # type: ignore[arg-type]
            predicate=predicate,
            schema_mode=schema_mode,  # type: ignore[arg-type]
            storage_options=_options(settings),
            commit_properties=commit,
            writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
        )
    except (DeltaError, OSError) as exc:
        # delta-rs reports a full disk as "Failed to parse parquet: ... os error 28".
        if "No space left on device" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
            raise StorageFull(uri, version(uri, settings)) from exc
        raise
    current = version(uri, settings)
    assert current is not None
    return current


def last_metadata(uri: str, settings: Settings | None = None) -> dict[str, Any]:
    """The lakehouse metadata of the latest commit that carried some (empty when none).

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.

    Returns:
        The dictionary `write` recorded, or `{}`.
    """
    table = open_table(uri, settings)
    if table is None:
        return {}
    for commit in table.history(limit=20):
        raw = commit.get(METADATA_KEY)
        if raw:
            return dict(json.loads(raw))
    return {}


def history(uri: str, settings: Settings | None = None, limit: int | None = None) -> list[dict]:
    """Commit history, newest first, as delta-rs reports it.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.
        limit: at most this many commits (None: all).

    Returns:
        One dictionary per commit (`version`, `operation`, `timestamp`, ...); empty when the
        table does not exist.
    """
    table = open_table(uri, settings)
    return [] if table is None else table.history(limit=limit)


def filesystem(uri: str, options: Mapping[str, str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow file system and path for `uri` (a folder or s3://bucket/key).

    `options` are `Settings.storage_options()`; Spark executors get them to read and write
    the lake's Parquet files themselves, the maintenance step to measure the lake.

    Args:
        uri: a local folder, `file://` URI or `s3://bucket/key`.
        options: `Settings.storage_options()` (endpoint, credentials, region).

    Returns:
        The file system and the path inside it.

    Raises:
        ValueError: a scheme other than local or s3.
    """
    if _is_local(uri):
        return pafs.LocalFileSystem(), uri.removeprefix("file://")
    if not uri.startswith("s3://"):
        raise ValueError(f"unsupported lake location {uri!r}: use a folder or s3://bucket/key")
    endpoint = options.get("AWS_ENDPOINT_URL")
    s3 = pafs.S3FileSystem(
        access_key=options.get("AWS_ACCESS_KEY_ID"),
        secret_key=options.get("AWS_SECRET_ACCESS_KEY"),
        region=options.get("AWS_REGION", "us-east-1"),
        endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
        scheme="http" if endpoint and endpoint.startswith("http://") else "https",
    )
    return s3, uri.removeprefix("s3://")


def data_files(uri: str, settings: Settings | None = None,
               at_version: int | None = None) -> dict[str, int]:
    """The data files of a snapshot (the latest, or `at_version`): path -> row count.

    Comparing two snapshots' files tells what a commit rewrote: files only in the newer one
    hold added rows, files only in the older one hold the rows they replaced.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.
        at_version: the snapshot to list (None: the latest).

    Returns:
        `{path relative to the table: row count}`; empty when the table does not exist.
    """
    table = open_table(uri, settings)
    if table is None:
        return {}
    if at_version is not None:
        table.load_as_version(at_version)
    actions = pa.table(table.get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(),
                    actions.column("num_records").to_pylist(), strict=True))


def read_files(uri: str, paths: Collection[str], settings: Settings | None = None,
               at_version: int | None = None) -> ds.Dataset:
    """Only the given data files of a snapshot (paths as `data_files` names them), lazily.

    Args:
        uri: the table's location (`lakehouse.catalog.location`).
        settings: the platform settings (storage options); None means `get_settings()`.
        paths: the data files to read.
        at_version: the snapshot they belong to (None: the latest).

    Returns:
        A dataset over those files only, with the table's schema.

    Raises:
        FileNotFoundError: no table exists at `uri` yet.
    """
    table = require_table(uri, settings)
    if at_version is not None:
        table.load_as_version(at_version)
    dataset = table.to_pyarrow_dataset()
    wanted = set(paths)
    fragments = [f for f in dataset.get_fragments() if f.path in wanted]
    return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
