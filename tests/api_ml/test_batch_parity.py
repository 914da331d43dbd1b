"""`/predict/batch` answers exactly as the same transactions sent one by one to `/predict`.

Two services start from the same lake: one gets a generated batch, the other each of its
transactions in order. The batch mixes re-scored lake transactions, a burst on one card (its
rows see each other), resends inside the batch and of lake ids, a seed-only row, and rows on
the day after a label became known (recorded on both services first). Every answer, model
inputs included, must be equal (case ids aside: each case gets a fresh one). On both online
store backends: the batch's features are computed as columns (`columnar.feature_matrix` over
`read_batch`), a single request's row by row (`compute.feature_vector`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from api_ml_lake import lake_and_burst, on_redis, seed_payload

from api_ml.api.main import create_app
from lakehouse.config import Settings


@pytest.fixture(params=["memory", "redis"])
def two_services(
    request: pytest.FixtureRequest, api_settings: Settings
) -> Iterator[list[Settings]]:
    """Settings of two services with separate online states (Redis: a key prefix each)."""
    if request.param == "memory":
        yield [api_settings, api_settings]
        return
    with on_redis(api_settings, 2) as services:
        yield services


def _batch(trained_lake) -> tuple[list[dict], dict]:  # type: ignore[no-untyped-def]
    lake, burst = lake_and_burst(trained_lake.silver, 30, 12, 9_500_000_000, 7)
    first = lake[0]
    label = {"transaction_id": first["transaction_id"], "label": 1, "known_at": first["timestamp"]}
    batch = [
        *lake[:10],
        *burst[:6],
        burst[2],  # resent inside the batch
        seed_payload(),
        lake[3],  # a lake id resent
        *burst[6:],
        {**burst[0], "amount": 999.0},  # the same id again, other values: counted once
        *lake[10:],
    ]
    return batch, label


def _without_case_ids(answers: list[dict]) -> list[dict]:
    return [{k: v for k, v in a.items() if k != "case_id"} for a in answers]


def test_a_batch_answers_like_its_rows_one_by_one(two_services, trained_lake, live_server) -> None:  # type: ignore[no-untyped-def]
    batch, label = _batch(trained_lake)
    params = {"include_features": "true"}
    first, second = two_services
    with live_server(create_app(first)) as url, httpx.Client(timeout=60) as client:
        info = client.get(f"{url}/model/info").json()
        assert info["online_state"]["backend"] == first.online_store
        assert client.post(f"{url}/online/labels", json=label).status_code == 200
        response = client.post(f"{url}/predict/batch", params=params, json=batch)
        assert response.status_code == 200, response.text
        together = response.json()["data"]
    with live_server(create_app(second)) as url, httpx.Client(timeout=60) as client:
        assert client.post(f"{url}/online/labels", json=label).status_code == 200
        one_by_one = []
        for payload in batch:
            answer = client.post(f"{url}/predict", params=params, json=payload)
            assert answer.status_code == 200, answer.text
            one_by_one.append(answer.json())
    assert len(together) == len(batch)
    counts = [a["features"]["card_tx_count_1h"] for a in together if a["flavour"] == "full"]
    assert max(counts) >= 5  # the burst's rows saw each other
    assert _without_case_ids(together) == _without_case_ids(one_by_one)
