"""Incremental equals full: the history loaded as three batches, with a pipeline run after
each, gives exactly the gold tables of one run over the whole history in one batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import (
    assert_tables_match,
    gold_snapshot,
    load_parts,
    serving_raw,
    sorted_table,
    use_data_dir,
    write_tiny_raw,
)

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline
from lakehouse.pipeline import silver

PIPELINE_STAGES = ("bronze", "silver", "gold", "publish")


def _run_ok() -> None:
    for result in run_pipeline(get_settings(), skip=("train",)):
        if result.stage in PIPELINE_STAGES:
            assert result.status in ("success", "up_to_date"), (result.stage, result.message)


def test_three_batches_equal_one(isolated_settings: Path, tmp_path: Path, live_server,  # type: ignore[no-untyped-def]
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    raw = write_tiny_raw(tmp_path / "raw", days=15, per_day=60)
    with serving_raw(raw, live_server, monkeypatch):
        use_data_dir(monkeypatch, tmp_path / "incremental")
        for part in range(3):
            load_parts(get_settings(), raw, 3, [part])
            _run_ok()
        settings = get_settings()
        silver_uri = catalog.location("silver_transactions", settings)
        history = [
            commit
            for commit in storage.history(silver_uri, settings)
            if commit["operation"] not in storage.MAINTENANCE_OPERATIONS
        ]
        assert len(history) == 3  # three commits: the later two replaced only their batches
        incremental = gold_snapshot(settings)
        incremental_silver = sorted_table("silver_transactions", settings)

        use_data_dir(monkeypatch, tmp_path / "full")
        # The one big batch is also cut into id buckets (as at full scale): 900 rows → 8 chunks.
        monkeypatch.setattr(silver, "SILVER_CHUNK_ROWS", 120)
        load_parts(get_settings(), raw, 1, [0])
        _run_ok()
        full = gold_snapshot(get_settings())
        full_silver = sorted_table("silver_transactions", get_settings())

    assert set(incremental) == set(full) and "dm_client_features" in full
    for name, table in full.items():
        assert_tables_match(incremental[name], table, name)
    # Silver differs only in which batch (situation_date) a row came in.
    drop = ["situation_date"]
    assert_tables_match(incremental_silver.drop_columns(drop).sort_by("transaction_id"),
                        full_silver.drop_columns(drop).sort_by("transaction_id"), "silver")


def test_a_resent_batch_adds_no_row_and_a_new_one_gets_its_label(  # type: ignore[no-untyped-def]
        isolated_settings: Path, tmp_path: Path, live_server,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A daily batch reads silver's ids and the labels for its own ids only: rows it resends
    # must still be recognised, and its new rows must still find their labels.
    raw = write_tiny_raw(tmp_path / "raw", days=6, per_day=30)
    with serving_raw(raw, live_server, monkeypatch):
        use_data_dir(monkeypatch, tmp_path / "lake")
        settings = get_settings()
        load_parts(settings, raw, 2, [0])
        _run_ok()
        first = storage.read_table(catalog.location("silver_transactions", settings), settings)
        load_parts(settings, raw, 2, [1, 0])  # the next days, then the first half resent
        _run_ok()
        after = sorted_table("silver_transactions", settings).sort_by("transaction_id")
        use_data_dir(monkeypatch, tmp_path / "full")
        load_parts(get_settings(), raw, 1, [0])
        _run_ok()
        full = sorted_table("silver_transactions", get_settings()).sort_by("transaction_id")
    assert after.num_rows == full.num_rows > first.num_rows
    assert after.column("transaction_id").equals(full.column("transaction_id"))
    assert after.column("label").null_count < after.num_rows  # labels were there to find
    assert after.column("label").equals(full.column("label"))
