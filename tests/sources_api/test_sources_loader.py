"""The batch loader against real SQLite and real PostgreSQL: atomicity, idempotence, dates.

`source_engine` runs each test once on a SQLite file and once on a fresh PostgreSQL database.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sources_samples import HEADER, empty_source_db, transaction_lines, write_csv
from sqlalchemy.engine import Engine

from lakehouse.database import create_engine_for
from lakehouse.sources.loader import (
    BatchRejected,
    SituationDateConflict,
    load_batch,
    resolve_situation_date,
)
from lakehouse.sources.schema import (
    latest_situation_date,
    table_stats,
    transaction_data,
)
from lakehouse.sources.staging import PostgresStager, SqliteStager, open_stager


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """`make_csv(name, first_id, count, first_day)` writes a valid transactions CSV."""

    def build(name: str, first_id: int, count: int, first_day: date, per_day: int = 3) -> Path:
        return write_csv(tmp_path / name, transaction_lines(first_id, count, first_day, per_day))

    return build


@pytest.fixture(params=["sqlite", "postgres"])
def source_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty source DB with its schema: SQLite file, then a fresh PostgreSQL database."""
    with empty_source_db(request, tmp_path) as engine:
        yield engine


def _rows(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(transaction_data).order_by("id")))


def test_rows_are_stored_as_the_source_sent_them(source_engine, make_csv) -> None:
    path = make_csv("batch.csv", 100, 4, date(2010, 1, 1), per_day=4)
    result = load_batch(source_engine, path)
    assert (result.received, result.inserted, result.skipped) == (4, 4, 0)
    rows = _rows(source_engine)
    assert [r.id for r in rows] == [100, 101, 102, 103]
    first, online, abroad = rows[0], rows[2], rows[3]
    assert (first.date, first.amount, first.zip, first.mcc) == (
        "2010-01-01 08:00:00", "$-77.00", "58523.0", 5499)
    assert (online.merchant_city, online.merchant_state, online.zip) == ("ONLINE", None, None)
    assert (abroad.merchant_state, abroad.errors) == ("Italy", "Bad PIN,Insufficient Balance")
    assert first.errors is None
    assert all(r.situation_date == date(2010, 1, 1) for r in rows)
    assert all(r.loaded_at is not None for r in rows)


def test_resending_a_batch_inserts_nothing(source_engine, make_csv) -> None:
    path = make_csv("batch.csv", 1, 6, date(2010, 1, 1))
    load_batch(source_engine, path)
    again = load_batch(source_engine, path)
    assert (again.received, again.inserted, again.skipped) == (6, 0, 6)
    rows = _rows(source_engine)
    assert len(rows) == 6
    # The resent rows keep the date of the batch that brought them first.
    assert {r.situation_date for r in rows} == {date(2010, 1, 2)}


def test_overlapping_batch_inserts_only_new_ids(source_engine, make_csv) -> None:
    load_batch(source_engine, make_csv("a.csv", 1, 6, date(2010, 1, 1)))
    result = load_batch(source_engine, make_csv("b.csv", 4, 6, date(2010, 1, 2)))
    assert (result.received, result.inserted, result.skipped) == (6, 3, 3)
    assert [r.id for r in _rows(source_engine)] == list(range(1, 10))


def test_an_invalid_row_in_a_later_chunk_rejects_the_whole_batch(
    source_engine, make_csv, tmp_path
) -> None:
    load_batch(source_engine, make_csv("first.csv", 1, 3, date(2010, 1, 1)))
    before = _rows(source_engine)
    lines = transaction_lines(10, 150, date(2010, 1, 2))
    lines[101] = lines[101].replace("$80.00", "80 dollars")
    path = write_csv(tmp_path / "bad.csv", lines)
    seen: list[int] = []
    with pytest.raises(BatchRejected) as caught:
        # Small chunks: the first ones are staged before the bad one is read.
        load_batch(source_engine, path, chunk_rows=10, on_progress=seen.append)
    assert seen and seen[0] < 102
    errors = caught.value.errors
    assert [(e.row, e.column) for e in errors] == [(102, "amount")]
    assert "80 dollars" in errors[0].reason
    assert _rows(source_engine) == before


def test_errors_are_reported_for_every_bad_row(source_engine, tmp_path) -> None:
    lines = transaction_lines(1, 5, date(2010, 1, 1))
    lines[0] = lines[0].replace("Swipe Transaction", "Swipe")
    lines[3] = lines[3].replace("2010-01-02", "2010-02-30")
    with pytest.raises(BatchRejected) as caught:
        load_batch(source_engine, write_csv(tmp_path / "bad.csv", lines))
    assert [(e.row, e.column) for e in caught.value.errors] == [(1, "use_chip"), (4, "date")]
    assert _rows(source_engine) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (HEADER.encode() + b"\n", "no rows"),
        (b"id,date\n1,2010-01-01 00:00:00\n", "missing column"),
        (HEADER.encode() + b"\n1,2010-01-01 00:01:00,1,1,$1.00,Swipe Transaction,1,X,CA,,"
         b"5411,,extra,fields\n", "malformed CSV"),
        (HEADER.encode() + b'\n1,"2010-01-01 00:01:00,1,1\n', "malformed CSV"),
        (HEADER.encode() + b"\n1,2010-01-01 00:01:00,1,1,$1.00,Swipe Transaction,1,Z\xfcrich,"
         b"CA,,5411,\n", "not UTF-8"),
        (b"id,da\rte\n1,2\n", "not a CSV line"),
    ],
    ids=["empty", "header-only", "missing-columns", "extra-fields", "open-quote", "latin1",
         "carriage-return-in-header"],
)
def test_unreadable_input_is_rejected_with_a_message(source_engine, content, expected) -> None:
    with pytest.raises(BatchRejected) as caught:
        load_batch(source_engine, io.BytesIO(content))
    assert expected in str(caught.value)
    assert _rows(source_engine) == []


def test_default_situation_date_moves_forward(source_engine, make_csv) -> None:
    # Empty table: the latest transaction date of the batch.
    first = load_batch(source_engine, make_csv("a.csv", 1, 6, date(2010, 1, 1)))
    assert first.situation_date == date(2010, 1, 2)
    # A batch of older transactions still gets the day after the latest present.
    older = load_batch(source_engine, make_csv("b.csv", 100, 3, date(2009, 6, 1)))
    assert older.situation_date == date(2010, 1, 3)
    # A batch reaching further than that gets its own latest transaction date.
    newer = load_batch(source_engine, make_csv("c.csv", 200, 3, date(2010, 3, 1)))
    assert newer.situation_date == date(2010, 3, 1)
    assert latest_situation_date(source_engine) == date(2010, 3, 1)


def test_given_situation_date_may_not_go_back(source_engine, make_csv) -> None:
    load_batch(source_engine, make_csv("a.csv", 1, 3, date(2010, 1, 1)), date(2010, 1, 10))
    before = _rows(source_engine)
    with pytest.raises(SituationDateConflict, match="earlier than the latest"):
        load_batch(source_engine, make_csv("b.csv", 10, 3, date(2010, 1, 1)), date(2010, 1, 9))
    assert _rows(source_engine) == before
    same_day = load_batch(source_engine, make_csv("c.csv", 20, 3, date(2010, 1, 1)),
                          date(2010, 1, 10))
    assert same_day.situation_date == date(2010, 1, 10)
    stats = table_stats(source_engine)
    assert stats["rows"] == 6
    assert stats["batches"] == [{"situation_date": date(2010, 1, 10), "rows": 6}]


def test_resolve_situation_date_rules() -> None:
    assert resolve_situation_date(None, None, date(2010, 1, 5)) == date(2010, 1, 5)
    assert resolve_situation_date(None, date(2010, 1, 9), date(2010, 1, 5)) == date(2010, 1, 10)
    assert resolve_situation_date(None, date(2010, 1, 3), date(2010, 1, 5)) == date(2010, 1, 5)
    assert resolve_situation_date(date(2010, 1, 3), date(2010, 1, 3), date(2011, 1, 1)) == date(
        2010, 1, 3)
    with pytest.raises(SituationDateConflict):
        resolve_situation_date(date(2010, 1, 2), date(2010, 1, 3), date(2010, 1, 1))


def test_frames_with_numbers_load_like_csv_text(source_engine) -> None:
    frame = pd.DataFrame([{
        "id": 7475327, "date": "2010-01-01 00:01:00", "client_id": 1556, "card_id": 2972,
        "amount": "$-77.00", "use_chip": "Swipe Transaction", "merchant_id": 59935,
        "merchant_city": "Beulah", "merchant_state": "ND", "zip": 58523.0, "mcc": 5499,
        "errors": None,
    }])
    result = load_batch(source_engine, frame)
    assert result.inserted == 1
    row = _rows(source_engine)[0]
    assert (row.id, row.zip, row.errors) == (7475327, "58523.0", None)


def test_each_dialect_uses_its_bulk_path(source_engine) -> None:
    expected = PostgresStager if source_engine.dialect.name == "postgresql" else SqliteStager
    with open_stager(source_engine) as stager:
        assert isinstance(stager, expected)


def test_bulk_load_in_many_chunks(source_engine, make_csv) -> None:
    path = make_csv("big.csv", 1, 5000, date(2011, 1, 1), per_day=50)
    seen: list[int] = []
    result = load_batch(source_engine, path, chunk_rows=700, on_progress=seen.append)
    assert (result.received, result.inserted) == (5000, 5000)
    assert seen[-1] == 5000 and seen == sorted(seen)
    with source_engine.connect() as connection:
        count, distinct = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(transaction_data.c.id)))
        ).one()
    assert count == distinct == 5000


def test_postgresql_urls_use_psycopg3(pg_url) -> None:
    engine = create_engine_for(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_malformed_row_is_located(source_engine, tmp_path) -> None:
    lines = transaction_lines(1, 300, date(2010, 1, 1))
    lines[250] += ",surplus"
    with pytest.raises(BatchRejected) as caught:
        load_batch(source_engine, write_csv(tmp_path / "t.csv", lines), chunk_rows=40)
    error = caught.value.errors[-1]
    assert error.row == 251
    assert "13 fields where the header has 12" in error.reason
    assert _rows(source_engine) == []


def test_generated_dataset_loads_whole(source_engine, small_raw_dir) -> None:
    # The generator's file is the real-world shape: every row must pass and land once.
    path = small_raw_dir / "transactions_data.csv"
    expected = sum(1 for _ in path.open()) - 1
    result = load_batch(source_engine, path, chunk_rows=15_000)
    assert (result.received, result.inserted, result.skipped) == (expected, expected, 0)
    last_day = pd.read_csv(path, usecols=["date"], dtype=str)["date"].max()[:10]
    assert result.situation_date == date.fromisoformat(last_day)
    assert table_stats(source_engine)["rows"] == expected


def test_concurrent_loads_of_the_same_batch_insert_each_row_once(source_engine, make_csv) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = make_csv("batch.csv", 1, 3000, date(2012, 1, 1), per_day=100)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: load_batch(source_engine, path, chunk_rows=500),
                                range(3)))
    assert sum(r.inserted for r in results) == 3000
    assert sorted(r.skipped for r in results) == [0, 3000, 3000]
    assert table_stats(source_engine)["rows"] == 3000
