"""PostgreSQL as the source DB and as the analytics DB (two databases on the real server):
the pipeline feeds, builds and publishes exactly what it does on SQLite, incrementally."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from runtime_helpers import load_parts, write_tiny_raw

from lakehouse import catalog, storage
from lakehouse.config import get_settings
from lakehouse.orchestrator import run_pipeline
from lakehouse.sources.schema import source_engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def second_pg_url(pg_url: str) -> Iterator[str]:
    """A second fresh database next to `pg_url` (the analytics DB), dropped afterwards."""
    admin = sa.create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _statuses() -> dict[str, str]:
    return {r.stage: r.status for r in run_pipeline(get_settings(), skip=("train",))}


def test_postgres_source_and_analytics(isolated_settings: Path, pg_url: str, second_pg_url: str,  # type: ignore[no-untyped-def]
                                       live_server, monkeypatch: pytest.MonkeyPatch) -> None:
    from sources_api.api import create_app

    raw = write_tiny_raw(isolated_settings / "raw", days=8, per_day=50)
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", pg_url)
    monkeypatch.setenv("LAKEHOUSE_ANALYTICS_DB_URL", second_pg_url)
    with live_server(create_app()) as url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", url)
        get_settings.cache_clear()
        settings = get_settings()
        load_parts(settings, raw, 2, [0])
        first = _statuses()
        assert all(first[s] == "success" for s in ("bronze", "silver", "gold", "publish")), first
        load_parts(settings, raw, 2, [1])
        second = _statuses()
        assert second["bronze"] == "success" and second["publish"] == "success", second
        assert _statuses()["bronze"] == "up_to_date"

    silver = storage.read_table(catalog.location("silver_transactions", settings), settings)
    assert silver.num_rows == 400
    engine = sa.create_engine(second_pg_url)
    with engine.connect() as connection:
        for name in catalog.DATAMARTS:
            gold = storage.read_table(catalog.location(name, settings), settings)
            count = connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar()
            assert count == gold.num_rows, name
            logged = connection.execute(sa.text(
                "SELECT lake_version FROM publish_log WHERE table_name = :t ORDER BY id DESC"),
                {"t": name}).scalars().first()
            assert logged == storage.version(catalog.location(name, settings), settings)
        client = connection.execute(sa.text(
            "SELECT tx_count, fraud_rate FROM dm_client_features ORDER BY client_id LIMIT 1")).one()
        gold = storage.read_table(catalog.location("dm_client_features", settings), settings)
        expected = gold.sort_by("client_id").slice(0, 1).to_pylist()[0]
        assert client.tx_count == expected["tx_count"]
        if expected["fraud_rate"] is None:
            assert client.fraud_rate is None
        else:
            assert client.fraud_rate == pytest.approx(expected["fraud_rate"])
    engine.dispose()


def test_copy_extraction_matches_sqlite_extraction(isolated_settings: Path, pg_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL streams through COPY ... CSV, SQLite through ADBC: same bronze rows."""
    import pyarrow as pa

    from lakehouse.pipeline import feeder, source_extract

    raw = write_tiny_raw(isolated_settings / "raw", days=4, per_day=60)
    extracted = {}
    for name, url in (("sqlite", None), ("postgres", pg_url)):
        if url:
            monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", url)
        get_settings.cache_clear()
        load_parts(get_settings(), raw, 2, [0, 1])
        engine = source_engine(get_settings().source_db_url or "")
        days = sorted(source_extract.source_batch_counts(engine, None))
        extracted[name] = pa.Table.from_batches(
            list(source_extract.extract_batches(engine, days)),
            schema=feeder.BRONZE_TRANSACTIONS_SCHEMA,
        ).sort_by("id")
        engine.dispose()
    assert extracted["postgres"].num_rows == 240
    assert extracted["postgres"].equals(extracted["sqlite"])
    assert extracted["postgres"].column("zip").null_count > 0  # NULLs survive the CSV trip
