"""Incremental gold equals full recompute: datamarts merged from partial aggregates, and
`ml_features` recomputed only for the rows whose inputs changed, give, day after day, exactly
the tables of one full run — counts exact, floats within 1e-9 — across new days, labels that
arrive late and a batch corrected after it was first processed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from runtime_helpers import (
    assert_tables_match,
    gold_snapshot,
    serving_raw,
    transaction_frame,
    use_data_dir,
    write_tiny_raw,
)

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline
from lakehouse.pipeline import changes, features_incremental, partials
from lakehouse.sources.loader import load_batch
from lakehouse.sources.schema import source_engine

STAGES = ("bronze", "silver", "gold", "publish")


def _run(expect: str = "success") -> dict[str, str]:
    results = run_pipeline(get_settings(), skip=("train",))
    statuses = {r.stage: r.status for r in results if r.stage in STAGES}
    failed = [(r.stage, r.message) for r in results if r.status == "failed"]
    assert not failed, failed
    if expect == "up_to_date":
        assert statuses == dict.fromkeys(STAGES, "up_to_date"), statuses
    return statuses


def _load(frame: pd.DataFrame, situation_date: str | None = None) -> None:
    engine = source_engine(get_settings().source_db_url or "")
    try:
        day = None if situation_date is None else pd.Timestamp(situation_date).date()
        load_batch(engine, frame, day)
    finally:
        engine.dispose()


def _incremental(name: str) -> bool:
    return bool(storage.last_metadata(catalog.location(name, get_settings())).get("incremental"))


def _write_labels(raw: Path, labels: dict[str, str]) -> None:
    (raw / "train_fraud_labels.json").write_text(json.dumps({"target": labels}))


def test_incremental_gold_equals_full_recompute(
    isolated_settings: Path,
    tmp_path: Path,
    live_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = write_tiny_raw(tmp_path / "raw", days=16, per_day=50)
    all_labels = json.loads((raw / "train_fraud_labels.json").read_text())["target"]
    frame = transaction_frame(raw)
    days = frame["date"].str[:10]
    first, second, third, fourth = (
        frame[days < "2018-01-07"],
        frame[(days >= "2018-01-07") & (days < "2018-01-10")],
        frame[(days >= "2018-01-10") & (days < "2018-01-13")],
        frame[days >= "2018-01-13"],
    )
    withheld = third.iloc[::4]  # sent later, as a correction of the third batch
    # The labels of the first days arrive late: only half of them are known at first.
    early = {k: v for k, v in all_labels.items() if int(k) % 2 == 0}
    # At this size a full silver rebuild (labels changed) would fall back to a recompute;
    # diffing always exercises the incremental path the test is about.
    monkeypatch.setattr(changes, "DIFF_MAX_FRACTION", 1.0)
    # Likewise the late labels move most feature rows: recompute them rather than rebuild.
    monkeypatch.setattr(features_incremental, "FULL_REBUILD_FRACTION", 1.0)
    # Maintenance compacts silver between runs: its commits move rows, they change none.
    monkeypatch.setenv("LAKEHOUSE_COMPACT_MIN_FILES", "2")
    with serving_raw(raw, live_server, monkeypatch):
        use_data_dir(monkeypatch, tmp_path / "incremental")
        _write_labels(raw, early)
        _load(first)
        _run()
        _load(second)
        _run()
        assert _incremental("dm_client_features")
        assert _incremental("ml_features")
        # The label tallies are the stored ones plus the day's, not a tally of all silver.
        assert _incremental("ml_features_partials")
        # The merged partials carry the parsed plan the next merge reuses.
        stored = storage.last_metadata(catalog.location("dm_client_features_partials",
                                                        get_settings()))
        assert stored["plan"] == partials.plan("dm_client_features").record()
        _write_labels(raw, all_labels)  # late labels arrive with the third batch
        _load(third.drop(withheld.index))
        _run()
        assert _incremental("dm_mcc_fraud_risk")
        assert _incremental("ml_features")
        _load(withheld, situation_date=str(third["date"].str[:10].max()))  # corrected batch
        _run()
        assert _incremental("dm_client_velocity")
        assert _incremental("ml_features")
        assert _incremental("ml_features_partials")  # across the corrected batch too
        _load(fourth)
        _run()
        assert _incremental("ml_features")
        _run(expect="up_to_date")
        silver = catalog.location("silver_transactions", get_settings())
        assert any(c.get("operation") == "OPTIMIZE" for c in storage.history(silver))
        incremental = gold_snapshot(get_settings())

        use_data_dir(monkeypatch, tmp_path / "full")
        _load(frame)
        _run()
        assert not _incremental("dm_client_features")
        assert not _incremental("ml_features")
        full = gold_snapshot(get_settings())

    assert set(incremental) == set(catalog.GOLD_TABLES)
    for name in catalog.GOLD_TABLES:
        assert_tables_match(incremental[name], full[name], name)
