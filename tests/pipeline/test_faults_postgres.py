"""PostgreSQL restarted under a pipeline run and under the services: clear error, recovery.

A private PostgreSQL server (tests/pgkit.py; the machine's shared one is never touched) holds
the source DB and the analytics DB, and sources_api serves from it on loopback. The server is
stopped when the `silver` stage starts, so the run meets it down at `publish`. It is then
started again, and a rerun must converge.

- The failed run says which stage failed and why: the analytics database refused the
  connection. The lake keeps every table committed before the fault.
- Once the server is back, sources_api answers again from the same connection pool: pool
  pre-ping replaces the connections the restart killed. The rerun publishes, and a third run
  finds everything up to date.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pgkit import private_postgres
from runtime_helpers import load_parts, serving_raw, write_tiny_raw

from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline

pytestmark = pytest.mark.postgres


def _run(stop_when_silver_starts=None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    def on_stage(name: str, result: object) -> None:
        if name == "silver" and result is None and stop_when_silver_starts:
            stop_when_silver_starts()

    results = run_pipeline(get_settings(), skip=("train", "maintain"), on_stage=on_stage)
    return {r.stage: r for r in results}


def test_postgres_restart_during_a_run_fails_clearly_and_the_rerun_converges(
    isolated_settings: Path, live_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = write_tiny_raw(isolated_settings / "raw", days=6, per_day=40)
    with private_postgres() as pg:
        admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text("CREATE DATABASE analytics"))
        admin.dispose()
        monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", pg.url)
        monkeypatch.setenv("LAKEHOUSE_ANALYTICS_DB_URL", pg.url.rsplit("/", 1)[0] + "/analytics")
        monkeypatch.setenv("LAKEHOUSE_RETRY_ATTEMPTS", "2")
        monkeypatch.setenv("LAKEHOUSE_RETRY_DEADLINE_SECONDS", "3")
        with serving_raw(raw, live_server, monkeypatch):
            get_settings.cache_clear()
            load_parts(get_settings(), raw, 1, [0])

            failed = _run(stop_when_silver_starts=pg.stop)
            assert failed["bronze"].status == "success"
            assert failed["silver"].status == "success" and failed["gold"].status == "success"
            publish = failed["publish"]
            assert publish.status == "failed", publish
            assert "OperationalError" in publish.message and "connection" in publish.message

            pg.start()
            rerun = _run()
            assert rerun["publish"].status == "success", rerun["publish"].message
            assert rerun["bronze"].status == "up_to_date"  # sources_api's pool recovered
            again = _run()
            assert {s: r.status for s, r in again.items()} == {
                "bronze": "up_to_date", "silver": "up_to_date", "gold": "up_to_date",
                "publish": "up_to_date", "train": "skipped", "maintain": "skipped",
            }  # fmt: skip
