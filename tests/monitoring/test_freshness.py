"""Freshness measured from real Delta tables and a real SQLite source DB, then exported.

The lake is written by hand with what each figure reads: `gold/ml_features` (ts),
`silver_transactions` (ts, label, label_known_at), `bronze_transactions` (situation_date),
and the source DB's `transaction_data` holds two more days of batches than bronze.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.monitoring import freshness
from lakehouse.observability.metrics import PipelineMetrics

NEWEST = datetime(2019, 3, 31, 18, 0)


@pytest.fixture
def settings(isolated_settings: Path) -> Settings:
    return Settings(data_dir=isolated_settings)


def write(settings: Settings, table: str, columns: dict[str, list]) -> None:
    storage.write(catalog.location(table, settings), pa.table(columns), settings=settings)


def test_nothing_measurable_before_the_pipeline_ran(settings: Settings) -> None:
    measured = freshness.measure(settings)
    assert measured.gold_newest_transaction is None
    assert measured.recent_label_known_ratio is None


def test_freshness_figures_from_the_lake_and_the_source(settings: Settings) -> None:
    write(settings, "ml_features", {"ts": [NEWEST - timedelta(days=3), NEWEST]})
    # Last 30 days: 4 transactions; one unlabeled, one labeled only after the newest time.
    ts = [NEWEST - timedelta(days=d) for d in (40, 20, 10, 2, 0)]
    write(
        settings,
        "silver_transactions",
        {
            "ts": ts,
            "label": [0, 1, 0, None, 0],
            "label_known_at": [t + timedelta(days=7) if d != 3 else None for d, t in enumerate(ts)],
        },
    )
    write(settings, "bronze_transactions", {"situation_date": ["2019-03-30", "2019-03-31"]})
    engine = sa.create_engine(settings.source_db_url.get_secret_value())
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE transaction_data (situation_date DATE)"))
        for day in (date(2019, 3, 31), date(2019, 4, 1), date(2019, 4, 2)):
            connection.execute(sa.text("INSERT INTO transaction_data VALUES (:d)"), {"d": day})
    engine.dispose()

    measured = freshness.measure(settings)
    assert measured.gold_newest_transaction == NEWEST
    assert measured.source_watermark_lag_seconds == 2 * 86400
    # Known by the newest time: the rows at -20 and -10 days (-2 is unlabeled, 0 too late).
    assert measured.recent_label_known_ratio == pytest.approx(2 / 4)

    metrics = PipelineMetrics()
    metrics.record_freshness(measured)
    text = generate_latest(metrics.registry).decode()
    assert "pipeline_source_watermark_lag_seconds 172800.0" in text
    assert "pipeline_recent_label_known_ratio 0.5" in text
    gold = metrics.registry.get_sample_value("pipeline_gold_newest_transaction_timestamp_seconds")
    assert gold == NEWEST.replace(tzinfo=UTC).timestamp()  # the lake's naive times are UTC
