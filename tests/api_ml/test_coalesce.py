"""Concurrent `/predict` requests scored together answer exactly as they would one by one.

`lean.Coalescer` scores the requests whose bodies arrived in the same turn of the event loop
with one call (`routes.predict_together`). Two services start from the same lake: one gets a
sequence of requests all at once, the other (`LAKEHOUSE_PREDICT_COALESCE=false`) the same
sequence one request at a time. Every status and body must be equal (case ids of requests
without a transaction id aside), so must the `/metrics` counts of requests, scores,
decisions and latencies; `api_ml_predict_group_requests` shows that groups formed.

In process (`httpx.ASGITransport`, one event loop) the requests reach the service in a known
order, so the sequence can hold a burst on one card whose rows see each other, resends, a
full-model row without its client (refused by scoring: its group is answered one by one, the
same 422) and a change of query in the middle. Over loopback (uvicorn, several client
threads) the arrival order is the network's: the requests there are lake transactions of
distinct cards and clients, whose answers do not depend on it. The in-process test runs on
both online store backends (on Redis a call's store work runs in the thread pool).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api_ml_lake import lake_and_burst, on_redis, payload_from_silver, seed_payload
from lean_kit import RANDOM_CASE_ID

from api_ml.api.main import create_app
from benchmarks.api_ml_cells import group_counts
from lakehouse.config import Settings

HEADERS = {"content-type": "application/json"}  # the lean path's requests
SERIES = (
    "api_ml_decisions_total",
    "api_ml_fraud_probability_count",
    "api_ml_prediction_seconds_count",
    'http_requests_total{method="POST",route="/predict"',
)


@pytest.fixture(params=["memory", "redis"])
def two_services(
    request: pytest.FixtureRequest, api_settings: Settings
) -> Iterator[tuple[Settings, Settings]]:
    """Settings of a coalescing service and of one scoring each request alone, with separate
    online states (Redis: a key prefix each)."""
    alone = {"predict_coalesce": False}
    if request.param == "memory":
        yield api_settings, api_settings.model_copy(update=alone)
        return
    with on_redis(api_settings, 2) as (coalescing, other):
        yield coalescing, other.model_copy(update=alone)


def _exchanges(trained_lake) -> list[tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    """(query, body) of each request: lake rows, a burst on one card, resends, a seed-only
    row, a row scoring refuses, a body FastAPI refuses, other queries."""
    lake, burst = lake_and_burst(trained_lake.silver, 12, 10, 9_600_000_000, 3)
    anonymous = {k: v for k, v in burst[9].items() if k != "transaction_id"}
    sequence: list[tuple[str, object]] = [
        *(("", row) for row in lake[:6]),
        *(("", row) for row in burst[:4]),
        ("", burst[1]),  # resent: counted once
        ("", seed_payload()),
        ("?include_features=true", burst[4]),  # another query: a call of its own
        ("", burst[5]),
        ("", {**burst[6], "client_id": None}),  # refused by scoring: its group goes one by one
        ("", burst[7]),
        ("", seed_payload(amount="lots")),  # FastAPI's 422, never coalesced
        ("", burst[8]),
        ("", anonymous),
        *(("", row) for row in lake[6:]),
        ("?reasons=all", burst[0]),
    ]
    return [(query, json.dumps(body).encode()) for query, body in sequence]


def _answer(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, re.sub(RANDOM_CASE_ID, '"case_id":"<case>"', response.text)


def _series(metrics: str) -> list[str]:
    return sorted(line for line in metrics.splitlines() if line.startswith(SERIES))


async def _in_process(
    settings: Settings, exchanges: list[tuple[str, bytes]], together: bool
) -> tuple[list[tuple[int, str]], str]:
    """The answers to `exchanges` (all sent at once, or one at a time) and `/metrics`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:

            async def post(query: str, body: bytes) -> httpx.Response:
                return await http.post(f"/predict{query}", content=body, headers=HEADERS)

            if together:
                responses = await asyncio.gather(*(post(q, b) for q, b in exchanges))
            else:
                responses = [await post(q, b) for q, b in exchanges]
            app.state.monitor.join()
            metrics = (await http.get("/metrics")).text
    return [_answer(r) for r in responses], metrics


def test_requests_scored_together_answer_as_one_by_one(two_services, trained_lake) -> None:  # type: ignore[no-untyped-def]
    exchanges = _exchanges(trained_lake)
    coalescing, alone = two_services
    together, metrics = asyncio.run(_in_process(coalescing, exchanges, together=True))
    one_by_one, reference = asyncio.run(_in_process(alone, exchanges, together=False))
    for exchange, mine, theirs in zip(exchanges, together, one_by_one, strict=True):
        assert mine == theirs, exchange
    statuses = [status for status, _ in together]
    assert statuses.count(422) == 2 and statuses.count(200) == len(exchanges) - 2
    assert '"features":{' in together[12][1]
    assert _series(metrics) == _series(reference)
    groups, requests = group_counts(metrics)
    assert requests == len(exchanges) - 1  # all but FastAPI's 422 went through the coalescer
    assert groups < requests  # some were scored together
    assert group_counts(reference) == (0.0, 0.0)  # coalescing off: never grouped


def test_concurrent_clients_over_loopback(api_settings, trained_lake, live_server) -> None:  # type: ignore[no-untyped-def]
    rows, cards, clients = [], set(), set()
    for row in reversed(trained_lake.silver.to_pylist()):
        if row["card_id"] not in cards and row["client_id"] not in clients:
            rows.append(row)
            cards.add(row["card_id"])
            clients.add(row["client_id"])
    bodies = [json.dumps(payload_from_silver(row)).encode() for row in rows[:48]]
    assert len(bodies) >= 16
    alone = api_settings.model_copy(update={"predict_coalesce": False})
    with (
        live_server(create_app(api_settings)) as url,
        live_server(create_app(alone)) as reference_url,
        httpx.Client(base_url=url, timeout=30) as http,
        httpx.Client(base_url=reference_url, timeout=30) as reference,
    ):
        clients_ = [httpx.Client(base_url=url, timeout=30) for _ in range(8)]
        try:
            with ThreadPoolExecutor(len(clients_)) as pool:
                answered = list(
                    pool.map(
                        lambda i: _answer(clients_[i % 8].post("/predict", content=bodies[i],
                                                               headers=HEADERS)),
                        range(len(bodies)),
                    )
                )  # fmt: skip
        finally:
            for client in clients_:
                client.close()
        expected = [_answer(reference.post("/predict", content=b, headers=HEADERS)) for b in bodies]
        assert answered == expected
        assert [status for status, _ in answered] == [200] * len(bodies)
        groups, requests = group_counts(http.get("/metrics").text)
        assert requests == len(bodies) and 1 <= groups <= requests
        assert _series(http.get("/metrics").text) == _series(reference.get("/metrics").text)


def test_a_failing_call_fails_its_requests_only(api_settings, trained_lake, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from api_ml.api import lean

    bodies = [body for _, body in _exchanges(trained_lake)[:4]]
    scored_together = lean.predict_together

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the store went away")

    async def run() -> tuple[list[int], list[int]]:
        app = create_app(api_settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:

                async def post_all() -> list[int]:
                    answers = await asyncio.gather(
                        *(http.post("/predict", content=b, headers=HEADERS) for b in bodies)
                    )
                    return [a.status_code for a in answers]

                monkeypatch.setattr(lean, "predict_together", broken)
                failed = await asyncio.wait_for(post_all(), 60)  # answered, not left waiting
                monkeypatch.setattr(lean, "predict_together", scored_together)
                return failed, await asyncio.wait_for(post_all(), 60)

    failed, after = asyncio.run(run())
    assert failed == [500] * len(bodies)
    assert after == [200] * len(bodies)  # the next requests are served as ever
