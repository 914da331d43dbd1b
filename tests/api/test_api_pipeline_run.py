"""End to end: the API in front of a real `lakehouse pipeline run`.

The generated raw files are loaded into the source DB, sources_api serves the reference
files over HTTP, and the orchestrator runs bronze → silver → gold → publish into the SQLite
analytics DB while the API is already up: its health goes from 503 ("not published yet") to
200, and every datamart it serves equals the table the run published.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from api_reference_marts import read_table

from api.datamarts import DATAMARTS
from lakehouse import orchestrator
from lakehouse.config import get_settings


def test_api_serves_what_a_full_pipeline_run_publishes(
    isolated_settings: Path,
    small_raw_dir: Path,
    live_server: Any,
    serve_api: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lakehouse.sources.loader import load_batch
    from lakehouse.sources.schema import source_engine
    from sources_api.api import create_app as create_sources_app

    shutil.copytree(small_raw_dir, isolated_settings / "raw")
    with live_server(create_sources_app()) as sources_url:
        monkeypatch.setenv("LAKEHOUSE_SOURCES_API_URL", sources_url)
        get_settings.cache_clear()
        settings = get_settings()
        source = source_engine(settings.source_db_url or "")
        transactions = pd.read_csv(
            small_raw_dir / "transactions_data.csv", dtype=str, keep_default_na=False
        )
        load_batch(source, transactions)
        source.dispose()

        assert settings.analytics_db_url is not None
        with serve_api(settings.analytics_db_url) as api:
            before = httpx.get(f"{api}/health")
            assert before.status_code == 503
            assert "run `lakehouse pipeline run`" in before.json()["error"]

            results = orchestrator.run_pipeline(settings, skip=("train",))
            statuses = {result.stage: result.status for result in results}
            assert statuses["publish"] == "success", results

            after = httpx.get(f"{api}/health")
            assert after.status_code == 200, after.text
            engine = sa.create_engine(settings.analytics_db_url.get_secret_value())
            for name in DATAMARTS:
                body = httpx.get(f"{api}/{name}", params={"limit": 1000}).json()
                assert body["data"] == read_table(engine, name), name
            engine.dispose()
