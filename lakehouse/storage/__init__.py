"""Delta tables on local disk or S3 (layout: `lakehouse.catalog`; I/O: `delta`)."""

from lakehouse.storage.delta import (
    exists,
    history,
    last_metadata,
    open_table,
    read_dataset,
    read_table,
    version,
    write,
)

__all__ = [
    "exists",
    "history",
    "last_metadata",
    "open_table",
    "read_dataset",
    "read_table",
    "version",
    "write",
]
