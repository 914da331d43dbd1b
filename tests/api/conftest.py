"""Fixtures of the datamarts API tests: datamarts published by the pipeline, and the API.

`pipeline_marts` runs the generated raw files (`small_raw_dir`) through the pipeline's own
bronze, silver and gold code once per session. `analytics_url` is parametrised over the two
databases the API supports — a SQLite file and a fresh PostgreSQL database (`pg_url`) — so
every test using it runs against both; `published_marts` publishes the datamarts into it
with the pipeline's `publish_table`, and `api_url` serves it over real HTTP on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from api_pipeline_marts import pipeline_datamarts, publish_with_pipeline
from testkit import sqlite_or_postgres

from api.fastapi_app import create_app
from lakehouse.config import Settings


@pytest.fixture(scope="session")
def pipeline_marts(small_raw_dir: Path) -> dict[str, pa.Table]:
    """The five gold datamarts the pipeline builds from the generated raw files (read-only)."""
    return pipeline_datamarts(small_raw_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def analytics_url(request: pytest.FixtureRequest, isolated_settings: Path) -> str:
    """An empty analytics DB: a SQLite file, or a brand-new PostgreSQL database."""
    return sqlite_or_postgres(request, isolated_settings, "analytics.db")


@pytest.fixture
def published_marts(analytics_url: str, pipeline_marts: dict[str, pa.Table]) -> str:
    """`analytics_url` with the five datamarts published into it by the pipeline."""
    publish_with_pipeline(analytics_url, pipeline_marts)
    return analytics_url


@pytest.fixture
def serve_api(live_server: Any) -> Any:
    """`with serve_api(db_url) as base_url:` — the API over `db_url` on a loopback port."""
    return lambda url: live_server(create_app(Settings(analytics_db_url=url)))


@pytest.fixture
def api_url(published_marts: str, serve_api: Any) -> Iterator[str]:
    """Base URL of the API serving the published datamarts."""
    with serve_api(published_marts) as base_url:
        yield base_url


@pytest.fixture
def db(published_marts: str) -> Iterator[sa.Engine]:
    """An engine on the same analytics DB, to read the tables back independently."""
    engine = sa.create_engine(published_marts)
    yield engine
    engine.dispose()
