"""The lean `POST /predict` path (`api_ml/api/lean.py`) answers exactly as the FastAPI route.

Two services on loopback serve the same champions and lake. One gets every request as
`Content-Type: application/json`, which the lean path takes; the other the same request as
`application/json; charset=utf-8`, which only FastAPI's route reads. The same sequence of
valid and invalid requests must get the same status, headers and body from both (a random
case id aside), and count the same in `/metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from api_ml_lake import payload_from_silver, seed_payload
from lean_kit import route_series, send

from api_ml.api.deps import get_snapshot
from api_ml.api.main import create_app
from lakehouse.config import Settings

LEAN = "application/json"
ROUTE = "application/json; charset=utf-8"


def _exchanges(silver_rows: list[dict]) -> list[tuple[str, bytes | None]]:
    """(query string, body) of each request, valid and invalid, in the order they are sent."""
    full, other = (payload_from_silver(row) for row in silver_rows)
    anonymous = {k: v for k, v in other.items() if k != "transaction_id"}
    cases: list[tuple[str, object]] = [
        ("", seed_payload()),
        ("", seed_payload(use_chip=True, card_brand="visa")),
        ("", full),
        ("", full),  # a resend: counted once by the online state
        ("?include_features=true", other),
        ("?include_features=false", anonymous),
        ("?include_features=1", anonymous),  # FastAPI's own bool parsing on both sides
        ("?reasons=all", full),
        ("?reasons=none&include_features=true", other),
        ("?include_features=false&reasons=flagged", seed_payload(amount=900_000.0)),
        ("?reasons=true", seed_payload(amount=-20.0)),
        ("?reasons=false", seed_payload()),
        ("?reasons=all&reasons=none", seed_payload()),  # a repeat: FastAPI's to read
        ("?reasons=all&unknown=1", seed_payload()),
        ("?reasons=some", seed_payload()),  # not a scope: 422 naming the allowed ones
        ("?reasons=", seed_payload()),
        ("", seed_payload(card_brand="Diners")),  # outside the vocabulary: 422 with allowed
        ("", seed_payload(card_id=100)),  # the full model's other identifiers missing
        ("", {k: v for k, v in seed_payload().items() if k != "amount"}),
        ("", seed_payload(amount="lots")),
        ("", seed_payload(credit_score=900)),
        ("", seed_payload(surprise_field=1)),
        ("", seed_payload(num_credit_cards=True)),
        ("", [seed_payload()]),
    ]
    raw = [(query, json.dumps(body).encode()) for query, body in cases]
    return [*raw, ("", b"{not json"), ("", b""), ("", None)]


def _send(http: httpx.Client, query: str, body: bytes | None, content_type: str) -> tuple:
    return send(http, "/predict", query, body, content_type, r'"case_id":"[^"]*"')


@pytest.fixture
def two_services(api_settings: Settings, live_server) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    """Two services of the same champions; the lean one counts FastAPI's snapshot lookups."""
    lean_app = create_app(api_settings)
    routed = []

    async def counted_snapshot() -> object:
        routed.append(1)
        return lean_app.state.holder.snapshot

    lean_app.dependency_overrides[get_snapshot] = counted_snapshot
    with (
        live_server(lean_app) as lean_url,
        live_server(create_app(api_settings)) as route_url,
        httpx.Client(base_url=lean_url, timeout=30) as lean,
        httpx.Client(base_url=route_url, timeout=30) as route,
    ):
        yield lean, route, routed


def test_lean_path_answers_as_the_route(two_services, trained_lake) -> None:  # type: ignore[no-untyped-def]
    lean, route, _ = two_services
    rows = trained_lake.silver.slice(trained_lake.silver.num_rows - 20, 2).to_pylist()
    exchanges = _exchanges(rows)
    statuses = []
    for query, body in exchanges:
        answered = _send(lean, query, body, LEAN)
        assert answered == _send(route, query, body, ROUTE), (query, body)
        statuses.append(answered[0])
    assert statuses == [200] * 14 + [422] * 13
    assert route_series(lean, "/predict") == route_series(route, "/predict")
    answers = [_send(lean, q, b, LEAN) for q, b in exchanges[:2]]
    assert [status for status, _, _ in answers] == [200, 200]
    assert '"features":{' in _send(lean, "?include_features=true", exchanges[4][1], LEAN)[2]


def test_valid_requests_skip_fastapi_and_invalid_ones_reach_it(two_services) -> None:  # type: ignore[no-untyped-def]
    lean, _, routed = two_services
    for query in (
        "",
        "?include_features=true",
        "?include_features=false",
        "?reasons=all",
        "?reasons=none&include_features=true",
        "?include_features=false&reasons=flagged",
    ):
        assert _send(lean, query, json.dumps(seed_payload()).encode(), LEAN)[0] == 200
    assert routed == []  # never through FastAPI's dependencies
    assert _send(lean, "", json.dumps(seed_payload(amount="lots")).encode(), LEAN)[0] == 422
    assert _send(lean, "", json.dumps(seed_payload()).encode(), ROUTE)[0] == 200
    assert len(routed) == 2


def test_no_model_gets_the_same_503(isolated_settings, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.config import get_settings

    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    body = json.dumps(seed_payload()).encode()
    with live_server(create_app(get_settings())) as url, httpx.Client(base_url=url) as http:
        lean, routed = _send(http, "", body, LEAN), _send(http, "", body, ROUTE)
    assert lean == routed
    assert lean[0] == 503 and "lakehouse train" in lean[2]
