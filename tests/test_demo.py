"""`lakehouse demo` end to end on a small dataset: generate, load monthly batches, start
sources_api as a real background process, run the pipeline, print the tables."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from testkit import free_port
from typer.testing import CliRunner

from lakehouse import catalog, storage
from lakehouse.cli import app
from lakehouse.config import get_settings


def test_demo_runs_generate_load_pipeline_and_shows_tables(isolated_settings: Path) -> None:
    result = CliRunner().invoke(app, [
        "demo", "--clients", "15", "--transactions", "3000", "--start", "2019-01-01",
        "--end", "2019-03-31", "--no-train", "--no-serve", "--sources-port", str(free_port()),
    ])
    assert result.exit_code == 0, result.output
    assert "Tables produced" in result.output and "dm_mcc_fraud_risk" in result.output
    settings = get_settings()
    from lakehouse.sources.schema import source_engine, table_stats

    engine = source_engine(settings.source_db_url or "")
    stats = table_stats(engine)
    engine.dispose()
    assert len(stats["batches"]) == 3 and stats["rows"] == 3000  # one batch per month
    silver = storage.read_table(catalog.location("silver_transactions", settings), settings)
    assert silver.num_rows == 3000
    analytics = sa.create_engine(settings.analytics_db_url.get_secret_value())
    assert set(catalog.DATAMARTS) <= set(sa.inspect(analytics).get_table_names())
    analytics.dispose()

    again = CliRunner().invoke(app, [
        "demo", "--no-train", "--no-serve", "--sources-port", str(free_port())])
    assert again.exit_code == 0, again.output
    words = " ".join(again.output.split())  # rich wraps lines at the terminal width
    assert "keeping them" in words and "not loading again" in words
