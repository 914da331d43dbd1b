"""Crash safety: `lakehouse pipeline run` killed with SIGKILL in the middle of each stage leaves
every table readable, and the next run converges to the clean result — no row lost, none
duplicated.

The kill lands deterministically: `LAKEHOUSE_TEST_PAUSE_AT=<point>` makes the runner log a
`test_pause` line and sleep at that point inside the stage (for `bronze_transactions` and
`silver`, while the Delta writer is half-way through its stream), and the test kills the
process as soon as it reads that line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from runtime_helpers import (
    assert_tables_match,
    load_parts,
    serving_raw,
    sorted_table,
    use_data_dir,
    write_tiny_raw,
)

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline

PAUSE_POINTS = ("bronze", "bronze_transactions", "silver", "gold", "publish")


def _run_clean() -> None:
    for result in run_pipeline(get_settings(), skip=("train",)):
        assert result.status != "failed", (result.stage, result.message)


def _kill_at(point: str) -> str:
    """Start a pipeline run in a subprocess, SIGKILL it at `point`; returns its stderr so far."""
    env = {**os.environ, "LAKEHOUSE_TEST_PAUSE_AT": point, "LAKEHOUSE_TEST_PAUSE_SECONDS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "pipeline", "run", "--skip", "train"],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert process.stderr is not None
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if '"test_pause"' in line:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                return "".join(seen)
        raise AssertionError(f"the run never reached pause point {point}:\n{''.join(seen)[-3000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _published(settings) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(settings.analytics_db_url.get_secret_value())
    try:
        with engine.connect() as connection:
            return {name: sorted(connection.execute(sa.text(f"SELECT * FROM {name}")).all())
                    for name in catalog.DATAMARTS}
    finally:
        engine.dispose()


def _snapshot(settings) -> dict:  # type: ignore[no-untyped-def]
    tables = {name: sorted_table(name, settings) for name in catalog.CATALOG}
    return {"tables": tables, "published": _published(settings)}


@pytest.mark.parametrize("point", PAUSE_POINTS)
def test_kill_mid_stage_then_rerun_converges(point: str, tmp_path: Path, live_server,  # type: ignore[no-untyped-def]
                                             isolated_settings: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    raw = write_tiny_raw(tmp_path / "raw", days=12, per_day=50)
    # Both lakes hash card numbers with one key: otherwise each data folder would make its own
    # random key and the two bronze_cards tables could never be equal.
    monkeypatch.setenv("LAKEHOUSE_CARD_HASH_KEY", "crash-safety-test-key")
    with serving_raw(raw, live_server, monkeypatch):
        use_data_dir(monkeypatch, tmp_path / "clean")
        load_parts(get_settings(), raw, 3, [0, 1, 2])
        _run_clean()
        expected = _snapshot(get_settings())

        use_data_dir(monkeypatch, tmp_path / "crashed")
        load_parts(get_settings(), raw, 3, [0, 1])
        _run_clean()  # a previous good state, so the crash has something to damage
        load_parts(get_settings(), raw, 3, [2])
        _kill_at(point)

        settings = get_settings()
        for name in catalog.CATALOG:  # every table still opens at its last commit
            table = storage.read_table(catalog.location(name, settings), settings)
            if "transaction_id" in table.column_names and name != "bronze_fraud_labels":
                ids = table.column("transaction_id")
                assert len(ids.unique()) == len(ids), f"{name} has duplicates after the kill"
        _published(settings)  # every published table readable, none half-swapped

        _run_clean()
        converged = _snapshot(get_settings())
    for name, table in expected["tables"].items():
        assert_tables_match(converged["tables"][name], table, name)
    for name, rows in expected["published"].items():
        assert len(converged["published"][name]) == len(rows), name
