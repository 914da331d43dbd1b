"""The lake on an S3-compatible server running as its own process (moto, standing in for MinIO).

History and commit metadata are read back (the listing that hung when the server ran inside
the test process: see tests/serverkit.py), and two processes committing to one table at the
same time lose nothing: every commit is a conditional put (`If-None-Match: *`), so the loser
of a race retries on the next version instead of overwriting the winner's log entry.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import storage
from lakehouse.config import Settings

COMMITS_PER_WRITER = 6

WRITER = """
import sys
import pyarrow as pa
from lakehouse import storage
from lakehouse.config import get_settings

uri, writer, commits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for commit in range(commits):
    storage.write(uri, pa.table({"writer": [writer], "commit": [commit]}), mode="append",
                  settings=get_settings())
"""


def test_commits_are_conditional_puts_not_unsafe_renames(s3_lake: Settings) -> None:
    options = s3_lake.storage_options()
    assert options["aws_conditional_put"] == "etag"
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in options


def test_history_and_metadata_read_back_from_the_server(s3_lake: Settings) -> None:
    uri = f"{s3_lake.lake}/gold/history_probe"
    for run in range(3):
        storage.write(uri, pa.table({"run": [run]}), metadata={"run": run}, settings=s3_lake)
    assert [commit["version"] for commit in storage.history(uri, s3_lake)] == [2, 1, 0]
    assert storage.last_metadata(uri, s3_lake) == {"run": 2}
    assert storage.read_table(uri, s3_lake).column("run").to_pylist() == [2]


def test_json_documents_beside_the_tables_round_trip(s3_lake: Settings) -> None:
    """The feeder's validators (`<table>.source.json`) live in the lake, on S3 too."""
    uri = f"{s3_lake.lake}/bronze/cards.source.json"
    assert storage.read_json(uri, s3_lake) == {}
    storage.write_json(uri, {"etag": '"abc"', "content_sha256": "0" * 64}, s3_lake)
    storage.write_json(uri, {"etag": '"def"'}, s3_lake)
    assert storage.read_json(uri, s3_lake) == {"etag": '"def"'}


def test_two_concurrent_writers_lose_no_commit(s3_lake: Settings) -> None:
    uri = f"{s3_lake.lake}/bronze/two_writers"
    storage.write(uri, pa.table({"writer": [-1], "commit": [-1]}), settings=s3_lake)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, str(w), str(COMMITS_PER_WRITER)],
            env=os.environ.copy(),
            stderr=subprocess.PIPE,
        )
        for w in range(2)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err.decode()[-2000:]
    table = storage.read_table(uri, s3_lake)
    assert storage.version(uri, s3_lake) == 2 * COMMITS_PER_WRITER
    for w in range(2):
        mine = table.filter(pc.equal(table.column("writer"), w))
        assert sorted(mine.column("commit").to_pylist()) == list(range(COMMITS_PER_WRITER))


def test_a_writer_that_lost_the_race_commits_on_the_next_version(s3_lake: Settings) -> None:
    from deltalake import DeltaTable, write_deltalake

    uri = f"{s3_lake.lake}/bronze/stale_writer"
    storage.write(uri, pa.table({"writer": [0]}), settings=s3_lake)
    stale = DeltaTable(uri, storage_options=s3_lake.storage_options())  # at version 0
    storage.write(uri, pa.table({"writer": [1]}), mode="append", settings=s3_lake)
    # Its next version (1) now exists on the server: the put is refused and it retries on 2.
    write_deltalake(stale, pa.table({"writer": [2]}), mode="append")
    assert storage.version(uri, s3_lake) == 2
    assert sorted(storage.read_table(uri, s3_lake).column("writer").to_pylist()) == [0, 1, 2]
