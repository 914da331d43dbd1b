"""`changes.id_filter`: the range it adds to `isin` only lets a scan skip row groups, never
changes which rows match — NULLs included (a NULL grain value matches a NULL)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import storage
from lakehouse.pipeline.changes import id_filter


def test_the_range_selects_the_same_rows_as_isin(isolated_settings: Path) -> None:
    uri = str(isolated_settings / "ids")
    ids = pa.array([*range(0, 300_000, 3), None], pa.int64())
    storage.write(uri, pa.table({"transaction_id": ids}))  # many row groups, in id order
    dataset = storage.read_dataset(uri)
    for wanted in ([3, 299_997, 7], [150_000], [1, 2], [None, 6], []):
        values = pa.array(wanted, pa.int64())
        expected = dataset.to_table(filter=pc.field("transaction_id").isin(values))
        got = dataset.to_table(filter=id_filter("transaction_id", values))
        assert got.equals(expected), wanted
