"""No batch, accepted or refused, can break the loading of the next one (issue 14, defect 1).

A row dated 9999-12-31 used to be accepted and then make every later default situation date
overflow (500); a row years ahead moved every later batch's situation date. Here the loader
runs against real SQLite and PostgreSQL: out-of-range dates are refused with their row and
column, the situation-date arithmetic never overflows (even on a table that already holds
9999-12-31 from before the fix), and — checked by hypothesis over arbitrary dates — a normal
batch always loads after whatever came before.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sources_samples import HEADER, empty_source_db, transaction_lines
from sqlalchemy.engine import Engine

from lakehouse.config import Settings
from lakehouse.sources.loader import (
    BatchRejected,
    DateWindow,
    SituationDateConflict,
    load_batch,
    resolve_situation_date,
)
from lakehouse.sources.schema import latest_situation_date, transaction_data

# One clock for the whole module: every load below is given this window, so a session that
# crosses midnight UTC does not move the loader's bounds away from the dates built here.
TODAY = datetime.now(UTC).date()
WINDOW = DateWindow.from_settings(Settings(), TODAY)
_ids = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_source_db(request, tmp_path) as db:
        yield db


def _batch(stamps: list[str]) -> io.BytesIO:
    """A valid CSV batch with fresh ids whose rows carry the given date texts."""
    lines = transaction_lines(next(_ids) * 1000, len(stamps), date(2010, 1, 1))
    dated = [
        f"{line.split(',', 2)[0]},{stamp},{line.split(',', 2)[2]}"
        for line, stamp in zip(lines, stamps, strict=True)
    ]
    return io.BytesIO((HEADER + "\n" + "".join(f"{line}\n" for line in dated)).encode())


def _normal() -> io.BytesIO:
    return _batch(["2010-01-01 08:00:00", "2010-01-01 08:01:00", "2010-01-02 09:00:00"])


def _stamp(day: date, time: str = "12:00:00") -> str:
    return f"{day.isoformat()} {time}"


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31 23:59:00",
        "1989-12-31 23:59:59",
        "0001-01-01 00:00:00",
        _stamp(TODAY + timedelta(days=2), "00:00:00"),
        _stamp(TODAY + timedelta(days=3 * 365)),
    ],
)
def test_out_of_range_dates_are_refused_with_row_and_column(engine: Engine, stamp: str) -> None:
    with pytest.raises(BatchRejected) as caught:
        load_batch(engine, _batch(["2010-01-01 08:00:00", stamp]), window=WINDOW)
    (error,) = caught.value.errors
    assert (error.row, error.column) == (2, "date")
    assert "outside the accepted range" in error.reason
    assert latest_situation_date(engine) is None


@pytest.mark.parametrize("stamp", ["1990-01-01 00:00:00", _stamp(WINDOW.latest, "23:59:59")])
def test_the_range_bounds_are_accepted(engine: Engine, stamp: str) -> None:
    assert load_batch(engine, _batch([stamp]), window=WINDOW).inserted == 1


def test_a_given_situation_date_out_of_range_is_refused(engine: Engine) -> None:
    with pytest.raises(BatchRejected) as caught:
        load_batch(engine, _normal(), date(9999, 12, 31), window=WINDOW)
    assert caught.value.errors[0].column == "situation_date"
    assert latest_situation_date(engine) is None


def test_a_table_already_at_the_end_of_time_still_takes_batches(engine: Engine) -> None:
    """A source DB written before the fix may hold 9999-12-31: no overflow, no step back."""
    row = {
        "id": 1,
        "date": "9999-12-31 23:59:00",
        "client_id": 1,
        "card_id": 1,
        "amount": "$1.00",
        "use_chip": "Swipe Transaction",
        "merchant_id": 1,
        "merchant_city": "ONLINE",
        "mcc": 5411,
        "situation_date": date.max,
        "loaded_at": datetime(2020, 1, 1),
    }
    with engine.begin() as connection:
        connection.execute(sa.insert(transaction_data), [row])
    result = load_batch(engine, _normal(), window=WINDOW)
    assert (result.inserted, result.situation_date) == (3, date.max)


def test_the_default_date_stops_at_the_end_of_the_window() -> None:
    window = DateWindow(date(1990, 1, 1), date(2020, 1, 1))
    assert resolve_situation_date(None, date(2019, 12, 31), date(2010, 1, 1), window) == date(
        2020, 1, 1
    )
    assert resolve_situation_date(None, date(2020, 1, 1), date(2010, 1, 1), window) == date(
        2020, 1, 1
    )
    assert resolve_situation_date(None, date.max, date(2010, 1, 1)) == date.max


ANY_DATE_TEXT = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda moment: moment.isoformat(sep=" ", timespec="seconds")
    ),
    st.sampled_from(
        [
            "9999-12-31 23:59:00",
            "1990-01-01 00:00:00",
            _stamp(WINDOW.latest),
            _stamp(WINDOW.latest + timedelta(days=1)),
            "2019-02-30 10:00:00",
        ]
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stamps=st.lists(ANY_DATE_TEXT, min_size=1, max_size=3),
    given_day=st.none() | st.dates() | st.just(WINDOW.latest),
)
def test_after_any_batch_a_normal_batch_still_loads(
    engine: Engine, stamps: list[str], given_day: date | None
) -> None:
    # The database keeps its rows from one example to the next: each example continues the
    # history the earlier ones left, which is exactly what must never get stuck.
    with contextlib.suppress(BatchRejected, SituationDateConflict):
        load_batch(engine, _batch(stamps), given_day, window=WINDOW)
    before = latest_situation_date(engine)
    result = load_batch(engine, _normal(), window=WINDOW)
    assert result.inserted == 3
    assert before is None or before <= result.situation_date <= max(before, WINDOW.latest)
    assert result.situation_date <= WINDOW.latest
