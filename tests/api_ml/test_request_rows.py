"""A batch's request rows as columns (`request_rows`, through `OnlineState.rows`) hold what
`request_row` gives one by one: every silver field the features read, the events recorded,
and the static model inputs (`compute.static_columns` against `compute.static_features`).

The requests vary every field a derivation reads: chip modes, a merchant city given, blank
or the ONLINE city, US, foreign and ONLINE states, zips and error lists present, blank and
absent, refunds, and times naive, with an offset, before 1970 and at the calendar's ends.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from api_ml.api.online import OnlineState
from api_ml.api.request_rows import _epoch_second, _micros, event_of
from lakehouse.features.declarations import BASIC_FEATURE_COLUMNS, STATIC_COLUMNS
from lakehouse.features.online.compute import static_columns, static_features
from lakehouse.features.online.memory_store import MemoryStore
from lakehouse.features.online.store import StoreMeta
from lakehouse.formats import ONLINE_CITY

TIMES = [
    datetime(2019, 3, 2, 23, 59, 59, 999_999),
    datetime(2019, 3, 3, 4, 0, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2019, 3, 3, 4, 0, tzinfo=timezone(timedelta(hours=9, minutes=30))),
    datetime(1969, 12, 31, 23, 59, 59, 500_000),
    datetime(1, 1, 1, 0, 0, 1),
    datetime(9999, 12, 31, 23, 59, 59, 999_999),
]


def _requests() -> tuple[list[dict], list[dict]]:
    seeds, extras = [], []
    grid = itertools.product(
        ("Swipe Transaction", "Chip Transaction", "Online Transaction"),
        ("CA", "Italy", ONLINE_CITY),
        (None, "Springfield", "  ", ONLINE_CITY),
        (None, "2134.0", " "),
        (None, "Bad PIN", "Bad CVV,Insufficient Balance", ""),
    )
    for i, (chip, state, city, zip_code, errors) in enumerate(grid):
        seeds.append(
            {
                "card_brand": ("Visa", "Mastercard", "Amex")[i % 3],
                "card_type": ("Debit", "Credit")[i % 2],
                "merchant_state": state,
                "use_chip": chip,
                "amount": (12.5, -40.0, 0.0)[i % 3],
                "credit_limit": 1000.0,
                "per_capita_income": 20000.0,
                "yearly_income": 40000.0,
                "total_debt": 100.0,
                "credit_score": None if i % 5 == 0 else 700.0,
                "num_credit_cards": None if i % 7 == 0 else 3.0,
            }
        )
        extras.append(
            {
                "transaction_id": 10_000 + i,
                "card_id": i % 4,
                "client_id": i % 3,
                "merchant_id": 50 + i % 6,
                "mcc": 5411,
                "timestamp": TIMES[i % len(TIMES)],
                "merchant_city": city,
                "zip": zip_code,
                "errors": errors,
            }
        )
    return seeds, extras


def _state() -> OnlineState:
    meta = StoreMeta()
    return OnlineState(MemoryStore(meta), "memory", 0, {0: True, 1: False}, 0.0, meta)


def test_batch_rows_equal_the_rows_one_by_one() -> None:
    seeds, extras = _requests()
    state = _state()
    batch = state.rows(seeds, extras)
    rows = [state.row(seed, extra) for seed, extra in zip(seeds, extras, strict=True)]
    assert batch.events == [event_of(row) for row in rows]
    for name, values in batch.columns.items():
        listed = values.tolist() if isinstance(values, np.ndarray) else list(values)
        expected = [row[name] for row in rows]
        assert listed == expected, name
        assert [type(v) for v in listed] == [type(v) for v in expected], name
    wanted = [*BASIC_FEATURE_COLUMNS, *STATIC_COLUMNS]
    static = static_columns(batch.columns, wanted)
    assert list(static) == wanted
    for i, row in enumerate(rows):
        one = static_features(row)
        for name in wanted:
            value = one[name]
            got = static[name][i]
            assert (math.isnan(got) if value is None else got == value), (name, i)


def test_requests_without_time_or_id_get_now_and_fresh_ids() -> None:
    seeds, extras = _requests()
    bare = [{**extra, "timestamp": None, "transaction_id": None} for extra in extras[:5]]
    before = int(datetime.now(UTC).timestamp())
    batch = _state().rows(seeds[:5], bare)
    ids = batch.columns["transaction_id"]
    assert all(i < 0 for i in ids) and len(set(ids)) == 5
    assert all(before <= ts <= before + 60 for ts in batch.columns["ts_s"])


def test_epoch_seconds_are_the_aware_times_timestamps() -> None:
    for ts in TIMES:
        naive = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
        expected = int(naive.replace(tzinfo=UTC).timestamp())
        assert _epoch_second(_micros(naive)) == expected, ts
