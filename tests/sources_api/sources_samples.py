"""Tiny, valid transaction CSVs for the source-system tests, built from DATA.md's sample rows.

The rows cover amount strings, ONLINE rows, an abroad row and a quoted multi-error field, so they
are valid under `lakehouse.formats` without the generator. (A helper module rather than a
`conftest.py`: a second `conftest` module would shadow the suite's top-level one for the test
modules that do `from conftest import ...`.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from lakehouse.database import create_engine_for
from lakehouse.formats import TRANSACTION_COLUMNS
from lakehouse.sources.schema import ensure_schema

HEADER = ",".join(TRANSACTION_COLUMNS)
# DATA.md's four sample rows without id and date: (client, card, amount, chip, merchant, rest).
TEMPLATES = [
    "1556,2972,$-77.00,Swipe Transaction,59935,Beulah,ND,58523.0,5499,",
    "1129,102,$80.00,Swipe Transaction,27092,Vista,CA,92084.0,4829,",
    "1319,3006,$12.33,Online Transaction,39021,ONLINE,,,5815,",
    '566,3640,$94.50,Chip Transaction,61195,Rome,Italy,,5411,"Bad PIN,Insufficient Balance"',
]


def transaction_lines(first_id: int, count: int, first_day: date, per_day: int = 3) -> list[str]:
    """`count` valid data lines with ids from `first_id`, `per_day` rows a day, sorted by date."""
    lines = []
    for index in range(count):
        day = first_day + timedelta(days=index // per_day)
        minute = index % per_day
        stamp = f"{day.isoformat()} {8 + minute // 60:02d}:{minute % 60:02d}:00"
        lines.append(f"{first_id + index},{stamp},{TEMPLATES[index % len(TEMPLATES)]}")
    return lines


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n" + "".join(line + "\n" for line in lines))
    return path


def write_raw_dir(data_dir: Path, files: dict[str, bytes]) -> Path:
    """`data_dir/raw` holding `files` (name → content), as sources_api's raw folder."""
    raw = data_dir / "raw"
    raw.mkdir(parents=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    return raw


@contextmanager
def empty_source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty source DB with its schema: a SQLite file, or a fresh PostgreSQL database
    when the (parametrized) request's param is "postgres"."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sources.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_engine_for(url)
    ensure_schema(engine)
    yield engine
    engine.dispose()
