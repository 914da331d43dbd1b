"""Table maintenance: compaction, checkpoints and vacuum shrink a table without changing it.

Real Delta tables on local disk (and one on the S3 server process): many small appends and
rewrites leave files behind; `maintain_table` compacts them, writes a checkpoint and deletes
what no version inside the retention needs. The rows stay identical, `storage.version` (what
lineage checks compare) does not move, and a second maintenance run has nothing left to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse import catalog, storage
from lakehouse.config import Settings, get_settings
from lakehouse.orchestrator import run_pipeline
from lakehouse.storage.maintenance import footprint, maintain_table


def _churn(settings: Settings, name: str = "silver_users") -> str:
    """A catalog table with 10 small appends after 3 full rewrites: 13 files, 10 live."""
    uri = catalog.location(name, settings)
    for run in range(3):
        storage.write(uri, pa.table({"id": [run], "run": [run]}), settings=settings)
    for day in range(10):
        storage.write(
            uri, pa.table({"id": [100 + day], "run": [3]}), mode="append", settings=settings
        )
    return uri


def _rows(uri: str, settings: Settings) -> list[dict]:
    return storage.read_table(uri, settings).sort_by("id").to_pylist()


@pytest.fixture
def no_retention(isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_VACUUM_RETENTION_HOURS", "0")
    get_settings.cache_clear()
    return get_settings()


def test_maintenance_compacts_checkpoints_and_vacuums(no_retention: Settings) -> None:
    uri = _churn(no_retention)
    rows, data_version = _rows(uri, no_retention), storage.version(uri, no_retention)
    upkeep = maintain_table("silver_users", no_retention)
    assert upkeep is not None
    assert upkeep.compacted_files == 11  # the 11 live small files became one
    assert upkeep.vacuumed_files == 13  # the 2 replaced rewrites and the 11 compacted files
    assert upkeep.after.files < upkeep.before.files
    assert _rows(uri, no_retention) == rows
    assert storage.version(uri, no_retention) == data_version  # maintenance is not new data
    snapshot = storage.snapshot(uri, no_retention)
    assert snapshot is not None and snapshot.version == data_version  # lineage agrees
    assert snapshot.dataset.to_table().sort_by("id").to_pylist() == rows
    assert len(storage.open_table(uri, no_retention).file_uris()) == 1  # type: ignore[union-attr]
    assert list((Path(uri) / "_delta_log").glob("*.checkpoint.parquet"))
    again = maintain_table("silver_users", no_retention)
    assert again is not None and (again.compacted_files, again.vacuumed_files) == (0, 0)


def test_a_maintained_table_keeps_a_bounded_log_and_its_lineage(no_retention: Settings) -> None:
    uri = catalog.location("silver_users", no_retention)
    log = Path(uri) / "_delta_log"
    counts = []
    for run in range(6):
        storage.write(uri, pa.table({"id": [run]}), metadata={"run": run}, settings=no_retention)
        maintain_table("silver_users", no_retention)
        counts.append(len(list(log.iterdir())))
        # the runs read back the data commit: its version and lineage survive the cleanup
        assert storage.last_metadata(uri, no_retention) == {"run": run}
        assert storage.version(uri, no_retention) == int(
            storage.history(uri, no_retention)[-1]["version"]
        )
    assert counts[-1] == counts[2] <= 6  # no growth with the number of runs
    table = storage.open_table(uri, no_retention)
    assert table is not None
    assert table.metadata().configuration["delta.logRetentionDuration"] == "interval 0 hours"
    assert _rows(uri, no_retention) == [{"id": 5}]


def test_retention_keeps_files_older_snapshots_still_need(isolated_settings: Path) -> None:
    settings = get_settings()  # default retention: a week
    uri = _churn(settings)
    upkeep = maintain_table("silver_users", settings)
    assert upkeep is not None and upkeep.vacuumed_files == 0
    old = storage.open_table(uri, settings)
    assert old is not None
    old.load_as_version(0)
    assert old.to_pyarrow_table().column("run").to_pylist() == [0]


def test_maintenance_on_s3(s3_lake: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_VACUUM_RETENTION_HOURS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    uri = _churn(settings)
    rows = _rows(uri, settings)
    upkeep = maintain_table("silver_users", settings)
    assert upkeep is not None and upkeep.vacuumed_files == 13
    assert footprint(uri, settings) == upkeep.after
    assert _rows(uri, settings) == rows


def test_the_pipeline_schedules_maintenance_after_gold(no_retention: Settings) -> None:
    _churn(no_retention)
    results = {r.stage: r for r in run_pipeline(no_retention, only="maintain")}
    assert results["maintain"].status == "success", results["maintain"].message
    assert results["maintain"].tables == {"silver_users": 13}
    assert run_pipeline(no_retention, only="maintain")[0].status == "up_to_date"


def test_compaction_rewrites_the_small_files_only(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A history file above the target is never rewritten: compaction follows the new days.
    monkeypatch.setenv("LAKEHOUSE_COMPACT_TARGET_MB", "1")
    monkeypatch.setenv("LAKEHOUSE_COMPACT_MIN_FILES", "3")
    get_settings.cache_clear()
    settings = get_settings()
    uri = catalog.location("silver_users", settings)
    history = np.random.default_rng(0).integers(0, 2**62, 300_000)  # ~2.4 MB, incompressible
    storage.write(uri, pa.table({"id": history}), settings=settings)
    (big,) = storage.data_files(uri, settings)
    storage.write(uri, pa.table({"id": [1, 2]}), mode="append", settings=settings)
    upkeep = maintain_table("silver_users", settings)
    assert upkeep is not None and upkeep.compacted_files == 0  # one small file: below 3
    for day in range(2):
        storage.write(uri, pa.table({"id": [10 + day]}), mode="append", settings=settings)
    upkeep = maintain_table("silver_users", settings)
    assert upkeep is not None and upkeep.compacted_files == 3  # the three small files
    files = storage.data_files(uri, settings)
    assert big in files and len(files) == 2
    assert sum(files.values()) == 300_004
