"""Fixtures for the source-system tests: tiny transaction CSVs and source DB engines.

The CSVs are built from DATA.md's sample rows (amount strings, ONLINE rows, an abroad row, a
quoted multi-error field), so they are valid under `lakehouse.formats` without the generator.
`source_engine` runs a test once on SQLite and once on the machine's real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sources_samples import transaction_lines, write_csv
from sqlalchemy.engine import Engine

from sources_api.db import create_engine_for, ensure_schema


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """`make_csv(name, first_id, count, first_day)` writes a valid transactions CSV."""

    def build(name: str, first_id: int, count: int, first_day: date, per_day: int = 3) -> Path:
        return write_csv(tmp_path / name, transaction_lines(first_id, count, first_day, per_day))

    return build


@pytest.fixture(params=["sqlite", "postgres"])
def source_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty source DB with its schema: SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sources.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_engine_for(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()
