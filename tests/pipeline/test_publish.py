"""Publish: datamarts swapped into the analytics DB atomically (a concurrent reader sees the
old table or the new one, never half, never none), with an index and a publish_log row."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.pipeline.publish import analytics_engine, publish_datamarts, publish_table


def _mart(rows: int, offset: int = 0) -> pa.Table:
    ids = pa.array(range(offset, offset + rows), pa.int64())
    return pa.table({"client_id": ids, "tx_count": ids, "fraud_rate": pa.array([0.5] * rows),
                     "note": pa.array([None] * rows, pa.string())})


def _write_gold(settings, rows: int) -> None:  # type: ignore[no-untyped-def]
    for name in catalog.DATAMARTS:
        table = _mart(rows)
        key = {"dm_card_features": "tx_card_id", "dm_mcc_fraud_risk": "mcc_code",
               "dm_time_of_day_fraud": "hour"}.get(name)
        if key:
            table = table.rename_columns([key, *table.column_names[1:]])
        storage.write(catalog.location(name, settings), table, settings=settings)


def test_publish_writes_tables_log_and_indexes_and_skips_unchanged(isolated_settings: Path) -> None:
    settings = get_settings()
    _write_gold(settings, 30)
    first = publish_datamarts(settings)
    assert first.status == "success" and set(first.tables) == set(catalog.DATAMARTS)
    engine = sa.create_engine(settings.analytics_db_url.get_secret_value())
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM dm_client_features")).scalar() == 30
        log = connection.execute(sa.text(
            "SELECT table_name, row_count, lake_version FROM publish_log")).all()
        assert sorted(log) == sorted((name, 30, 0) for name in catalog.DATAMARTS)
    indexes = sa.inspect(engine).get_indexes("dm_card_features")
    assert [ix["column_names"] for ix in indexes] == [["tx_card_id"]]
    assert not sa.inspect(engine).has_table("_staging_dm_client_features")

    assert publish_datamarts(settings).status == "up_to_date"  # same lake versions
    _write_gold(settings, 40)
    assert publish_datamarts(settings).rows_out == 5 * 40
    engine.dispose()


def test_missing_gold_table_is_a_clear_error(isolated_settings: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run the gold stage"):
        publish_datamarts(get_settings())


# A reader of the analytics DB in a process of its own, as the datamarts API is: it counts the
# table's rows until told to stop, and fails on any error ("no such table" would be a gap).
_READER = """
import json, sys, pathlib
import sqlalchemy as sa
url, folder = sys.argv[1], pathlib.Path(sys.argv[2])
reader = sa.create_engine(url, connect_args={"timeout": 30})
count = sa.text("SELECT COUNT(*) FROM dm_client_features")
seen, reads = set(), 0
while not (folder / "stop").exists():
    with reader.connect() as connection:
        seen.add(connection.execute(count).scalar_one())
    reads += 1
    if reads == 1:
        (folder / "reading").touch()
print(json.dumps({"seen": sorted(seen), "reads": reads}))
"""


def test_a_reader_never_sees_half_a_table(isolated_settings: Path, tmp_path: Path) -> None:
    """A reading process sees the old table or the new one through every swap, never half of
    one and never none. (A reader thread of the writer's own process would instead starve the
    writer of the GIL, a minute for 12 swaps that take 0.3 s.)"""
    settings = get_settings()
    url = settings.analytics_db_url.get_secret_value()
    writer = analytics_engine(url)
    small, large = _mart(500), _mart(5000, offset=10_000)
    publish_table(writer, "dm_client_features", small, 0)
    command = [sys.executable, "-c", _READER, url, str(tmp_path)]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "reading").exists() and reader.poll() is None:
            assert time.monotonic() < deadline, "the reader never read"
            time.sleep(0.01)
        for round_ in range(1, 13):
            publish_table(writer, "dm_client_features", large if round_ % 2 else small, round_)
    finally:
        (tmp_path / "stop").touch()
        out, err = reader.communicate(timeout=60)
        writer.dispose()
    assert reader.returncode == 0, err
    found = json.loads(out)
    assert found["reads"] > 0 and set(found["seen"]) <= {500, 5000}, found


def test_a_swap_failing_halfway_leaves_the_old_table(isolated_settings: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """DROP and RENAME run in one transaction: if the index after them fails, both roll back.

    (Python's sqlite3 commits DDL on its own unless BEGIN is taken over; this would fail then.)
    """
    settings = get_settings()
    engine = analytics_engine(settings.analytics_db_url or "")
    publish_table(engine, "dm_client_features", _mart(500), 0)
    broken = replace(catalog.entry("dm_client_features"), key=("no_such_column",))
    monkeypatch.setitem(catalog.CATALOG, "dm_client_features", broken)
    with pytest.raises(sa.exc.DBAPIError):
        publish_table(engine, "dm_client_features", _mart(5000), 1)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT COUNT(*) FROM dm_client_features")).scalar()
        assert count == 500
        versions = connection.execute(sa.text("SELECT lake_version FROM publish_log")).scalars()
        assert list(versions) == [0]
    engine.dispose()
