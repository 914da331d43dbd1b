"""The durable outbox: cases survive a case store that is down, and a restart of the service.

Real parts: the outbox's SQLite file, the worker thread, and a private PostgreSQL server
(initdb in a temp folder) that the test stops and starts — never the machine's shared one.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from promkit import wait_for
from testkit import private_postgres, sample_case

from lakehouse.cases import store
from lakehouse.cases.outbox import Outbox, OutboxWorker, drain_once
from lakehouse.cases.schema import ensure_schema
from lakehouse.pipeline.publish import analytics_engine


def _stored(engine: sa.Engine) -> set[str]:
    try:
        rows, _ = store.list_cases(engine, store.CaseFilter(), limit=500)
    except sa.exc.DBAPIError:  # not reachable, or no case table yet
        return set()
    return {r["case_id"] for r in rows}


def _worker(outbox: Outbox, engine: sa.Engine) -> OutboxWorker:
    def deliver(records: list[dict]) -> int:
        ensure_schema(engine)
        return store.insert_cases(engine, records, "api_ml")

    worker = OutboxWorker(outbox, deliver, max_retry_seconds=0.5)
    worker.start()
    return worker


def test_cases_wait_out_a_stopped_store_and_a_restart(tmp_path: Path) -> None:
    outbox_file = tmp_path / "outbox" / "cases.sqlite"
    with private_postgres() as server:
        engine = analytics_engine(server.url)
        outbox = Outbox(outbox_file)
        worker = _worker(outbox, engine)
        outbox.put([sample_case("1")])
        worker.wake()
        wait_for(lambda: _stored(engine) == {"1"})

        server.stop()
        outbox.put([sample_case("2"), sample_case("3")])
        worker.wake()
        wait_for(lambda: worker.failures > 0)
        assert outbox.pending() == 2
        worker.stop()  # the service goes down with two cases undelivered

        restarted = Outbox(outbox_file)
        assert restarted.pending() == 2
        server.start()
        worker = _worker(restarted, engine)
        wait_for(lambda: _stored(engine) == {"1", "2", "3"})
        wait_for(lambda: restarted.pending() == 0)
        worker.stop()
        engine.dispose()


def test_a_batch_delivered_twice_is_stored_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cases.sqlite")
    engine = analytics_engine(f"sqlite:///{tmp_path / 'analytics.db'}")
    ensure_schema(engine)
    outbox.put([sample_case("7"), sample_case("7")])
    assert outbox.pending() == 1
    store.insert_cases(engine, outbox.peek(), "api_ml")  # delivered, then a crash before removal
    assert drain_once(outbox, lambda batch: store.insert_cases(engine, batch, "api_ml")) == 1
    assert _stored(engine) == {"7"} and outbox.pending() == 0
    engine.dispose()
