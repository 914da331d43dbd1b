"""The five datamart resources over real HTTP, against SQLite and PostgreSQL.

Every value the API returns is compared with the published table read back independently
with SQLAlchemy: full listings page by page, get-by-key, sorting both ways, filters, and the
404 / 422 answers to unknown keys and bad parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from api_reference_marts import build_datamarts, read_table

from api.datamarts import DATAMARTS

NAMES = list(DATAMARTS)
# A rate column to sort and filter by, per datamart (velocity has no labels).
RATE = {name: "fraud_rate" for name in NAMES} | {"velocity": "avg_daily_txn"}
COUNT = {name: "tx_count" for name in NAMES} | {"velocity": "active_days"}


def _all_pages(base: str, name: str, page: int, **params: Any) -> tuple[list[dict], set[int]]:
    rows: list[dict] = []
    counts: set[int] = set()
    offset = 0
    while True:
        body = httpx.get(
            f"{base}/{name}", params={"limit": page, "offset": offset, **params}
        ).json()
        counts.add(body["count"])
        assert body["limit"] == page and body["offset"] == offset
        rows += body["data"]
        if len(body["data"]) < page:
            return rows, counts
        offset += page


def _sorted(rows: list[dict], column: str, key: str, descending: bool) -> list[dict]:
    present = [r for r in rows if r[column] is not None]
    missing = [r for r in rows if r[column] is None]
    present.sort(key=lambda r: (-r[column] if descending else r[column], r[key]))
    return present + sorted(missing, key=lambda r: r[key])


def test_lists_page_through_exactly_the_table(api_url: str, db: sa.Engine) -> None:
    for name in NAMES:
        table = read_table(db, name)
        assert table, f"{name} is empty: the fixture should publish rows"
        rows, counts = _all_pages(api_url, name, page=7)
        assert rows == table
        assert counts == {len(table)}


def test_default_page_and_bounds(api_url: str, db: sa.Engine) -> None:
    body = httpx.get(f"{api_url}/card_features").json()
    assert (body["limit"], body["offset"]) == (50, 0)
    assert body["data"] == read_table(db, "card_features")[:50]
    past_end = httpx.get(f"{api_url}/card_features", params={"offset": 10**6}).json()
    assert past_end["data"] == [] and past_end["count"] == body["count"]


@pytest.mark.parametrize("name", NAMES)
def test_get_by_key_returns_the_table_row(api_url: str, db: sa.Engine, name: str) -> None:
    table = read_table(db, name)
    key = DATAMARTS[name].key
    for row in (table[0], table[len(table) // 2], table[-1]):
        response = httpx.get(f"{api_url}/{name}/{row[key]}")
        assert response.status_code == 200
        assert response.json() == row


def test_sort_both_directions(api_url: str, db: sa.Engine) -> None:
    for name in NAMES:
        table = read_table(db, name)
        key = DATAMARTS[name].key
        for column in (RATE[name], COUNT[name]):
            for descending in (False, True):
                sort = f"-{column}" if descending else column
                rows, _ = _all_pages(api_url, name, page=1000, sort=sort)
                assert rows == _sorted(table, column, key, descending), (name, sort)


def test_filters_match_the_table(api_url: str, db: sa.Engine) -> None:
    table = read_table(db, "client_features")
    tx_counts = sorted(r["tx_count"] for r in table)
    rates = sorted(r["fraud_rate"] for r in table if r["fraud_rate"] is not None)
    low, high = tx_counts[len(tx_counts) // 4], rates[len(rates) // 2]
    rows, counts = _all_pages(
        api_url, "client_features", page=1000, min_tx_count=low, max_fraud_rate=high
    )
    expected = [
        r for r in table
        if r["tx_count"] >= low and r["fraud_rate"] is not None and r["fraud_rate"] <= high
    ]
    assert expected and len(expected) < len(table)
    assert rows == expected and counts == {len(expected)}

    minimum = rates[len(rates) // 2]
    body = httpx.get(f"{api_url}/mcc_risk", params={"min_fraud_rate": 0.0, "limit": 1000}).json()
    assert body["data"] == [r for r in read_table(db, "mcc_risk") if r["fraud_rate"] is not None]
    hours = httpx.get(
        f"{api_url}/time_distribution", params={"min_fraud_rate": minimum, "limit": 1000}
    ).json()
    assert all(r["fraud_rate"] >= minimum for r in hours["data"])
    velocity = httpx.get(f"{api_url}/velocity", params={"min_active_days": 10**9}).json()
    assert velocity == {"data": [], "count": 0, "limit": 50, "offset": 0}


def test_unknown_key_is_404_with_a_clear_message(api_url: str) -> None:
    response = httpx.get(f"{api_url}/client_features/987654321")
    assert response.status_code == 404
    assert response.json()["error"] == "no client_features row for client_id=987654321"
    response = httpx.get(f"{api_url}/mcc_risk/1")
    assert response.status_code == 404
    assert response.json()["error"] == "no mcc_risk row for mcc_code=1"


BAD_REQUESTS = [
    ("/client_features", {"limit": 1001}, "limit"),
    ("/client_features", {"limit": 0}, "limit"),
    ("/card_features", {"offset": -1}, "offset"),
    ("/client_features", {"sort": "card_type"}, "sort"),
    ("/mcc_risk", {"sort": "-mcc_description"}, "sort"),
    ("/velocity", {"sort": "fraud_rate"}, "sort"),
    ("/client_features", {"min_fraud_rate": "nan"}, "min_fraud_rate"),
    ("/client_features", {"min_tx_count": "many"}, "min_tx_count"),
    ("/client_features", {"min_txcount": 3}, "min_txcount"),
    ("/time_distribution/24", {}, "hour"),
    ("/time_distribution/-1", {}, "hour"),
    ("/client_features/abc", {}, "client_id"),
    ("/card_features/1.5", {}, "tx_card_id"),
    ("/summary", {"top": 0}, "top"),
    ("/summary", {"top": 10_000}, "top"),
]


def test_bad_parameters_are_422_naming_the_field(api_url: str) -> None:
    for path, params, field in BAD_REQUESTS:
        response = httpx.get(f"{api_url}{path}", params=params)
        assert response.status_code == 422, (path, params)
        body = response.json()
        assert body["status"] == 422 and field in body["error"], (path, params, body)


def test_values_equal_an_independent_computation_from_raw(
    api_url: str, small_raw_dir: Path
) -> None:
    """Raw files → pipeline → publish → HTTP equals pandas straight from the raw files."""
    expected_marts = build_datamarts(small_raw_dir)
    for name, datamart in DATAMARTS.items():
        rows, _ = _all_pages(api_url, name, page=1000)
        expected = expected_marts[datamart.table].sort_values(datamart.key)
        assert len(rows) == len(expected), name
        for column in expected.columns:
            served = [row[column] for row in rows]
            values = [None if pd.isna(v) else v for v in expected[column].tolist()]
            if expected[column].dtype.kind == "f":
                # Same NULLs, and floats equal up to the summation order.
                assert [v is None for v in served] == [v is None for v in values], (name, column)
                pairs = [(a, b) for a, b in zip(served, values, strict=True) if b is not None]
                assert [a for a, _ in pairs] == pytest.approx([b for _, b in pairs], rel=1e-9)
            else:
                assert served == values, (name, column)
