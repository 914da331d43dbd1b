"""Delta tables on local disk or S3 (layout: `lakehouse.catalog`; I/O: `delta`)."""

from lakehouse.storage.delta import (
    MAINTENANCE_OPERATIONS,
    Snapshot,
    column_max,
    data_files,
    exists,
    history,
    last_metadata,
    open_table,
    read_dataset,
    read_files,
    read_table,
    snapshot,
    version,
    write,
)
from lakehouse.storage.objects import read_json, write_json

__all__ = [
    "MAINTENANCE_OPERATIONS",
    "Snapshot",
    "column_max",
    "data_files",
    "exists",
    "history",
    "last_metadata",
    "open_table",
    "read_dataset",
    "read_files",
    "read_json",
    "read_table",
    "snapshot",
    "version",
    "write",
    "write_json",
]
