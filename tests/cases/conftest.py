"""Fixtures of the case-queue tests: a case store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakehouse.cases.schema import ensure_schema
from lakehouse.pipeline.publish import analytics_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def case_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh case store on each database the platform supports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'analytics.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = analytics_engine(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()
