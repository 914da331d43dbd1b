"""The lean `POST /predict/batch` path (`api_ml/api/lean_batch.py`) answers as the route does.

Two services on loopback serve the same champions and lake. One gets every batch as
`Content-Type: application/json`, which the lean path takes and answers from columns; the
other the same batch as `application/json; charset=utf-8`, which only FastAPI's route reads
(row by row, `PredictionResponse` objects). The same sequence of valid and invalid batches
must get the same status, headers and body bytes from both (random case ids aside), count
the same in `/metrics` and open the same cases. The invalid ones are the bad payloads of
`test_lean_predict.py` and `test_predict.py` as batch items: the lean path must hand exactly
those to FastAPI (a body it accepted where FastAPI refuses would answer differently).
Every reasons scope is sent, so the SHAP reasons of the explained rows land where the row-wise
path puts them. With Elasticsearch configured, both paths ship the same audit documents. Then
the column forms against their row-wise references: normalisation, confidence, decisions.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from api_ml_lake import payload_from_silver, seed_payload
from lean_kit import route_series, send

from api_ml.api import lean_batch
from api_ml.api.batch_answers import confidence_columns, decide_columns
from api_ml.api.main import create_app
from api_ml.api.normalise import InvalidRequest, Vocabulary, normalise_columns
from api_ml.api.normalise import normalise_seed_fields as normalise_row
from api_ml.api.schemas import MAX_BATCH
from api_ml.api.scoring import confidence
from lakehouse.config import Settings
from lakehouse.ml.policy import Policy, decide

LEAN = "application/json"
ROUTE = "application/json; charset=utf-8"


def _batches(silver_rows: list[dict]) -> list[tuple[str, bytes | None, bool]]:
    """(query string, body, whether the lean path answers it) of each request, in order."""
    full = [payload_from_silver(row) for row in silver_rows]
    anonymous = [{k: v for k, v in p.items() if k != "transaction_id"} for p in full[:4]]
    big = [seed_payload(amount=900_000.0), {**full[0], "amount": 900_000.0}]  # review/decline
    mixed = [
        seed_payload(), *full[:6], seed_payload(use_chip=True, card_brand="visa"),
        seed_payload(card_type="Crédit", merchant_state="ONLINE", use_chip="False"),
        seed_payload(merchant_state="Italy", credit_score=None, num_credit_cards=None),
        seed_payload(amount=-0.0), seed_payload(amount=-12.5),
    ]  # fmt: skip
    lean = [
        ("", mixed), ("", mixed),  # the second: resends, counted once by the online state
        ("?reasons=none", full), ("?include_features=true", big + anonymous),
        ("?reasons=all", big + mixed), ("?reasons=flagged", big + full[6:]),
        ("?include_features=true&reasons=false", mixed),
        ("?reasons=true&include_features=false", full[6:]),
        # the full model's other identifiers missing: the row-wise path's 422, its locations
        ("", [seed_payload(), seed_payload(card_id=100), seed_payload(), seed_payload(mcc=5)]),
        ("?reasons=false", [*full[:2], {**full[2], "mcc": None, "merchant_id": None}]),
    ]  # fmt: skip
    fastapi = [
        ("?reasons=1", mixed[:3]),  # not a scope: FastAPI's own 422
        ("?include_features=1", mixed[:3]),  # FastAPI's own bool parsing
        ("?reasons=false&reasons=true", mixed[:3]),
        ("", []),
        ("", [seed_payload(), seed_payload(card_brand="Diners")]),  # refused by the schema
        ("", [seed_payload(), seed_payload(merchant_state="ZZ")]),
        ("", [seed_payload()] * (MAX_BATCH + 1)),
        ("", [seed_payload(), {k: v for k, v in seed_payload().items() if k != "amount"}]),
        ("", [seed_payload(amount="lots")]),
        ("", [seed_payload(), seed_payload(credit_score=900)]),
        ("", [seed_payload(surprise_field=1)]),
        ("", [seed_payload(num_credit_cards=True)]),
        ("", [{**full[0], "card_id": "12"}]),
        ("", [{**full[0], "timestamp": 1700000000}]),
        ("", [seed_payload(use_chip="sometimes")]),
        ("", seed_payload()),  # an object, not a list
        ("", [[seed_payload()]]),
    ]
    raw = [(q, json.dumps(body).encode(), True) for q, body in lean]
    raw += [(q, json.dumps(body).encode(), False) for q, body in fastapi]
    nan = json.dumps([seed_payload()]).replace("123.45", "NaN").encode()
    return [*raw, ("", b"[{not json", False), ("", b"", False), ("", nan, False)]


def _send(http: httpx.Client, query: str, body: bytes | None, content_type: str) -> tuple:
    return send(http, "/predict/batch", query, body, content_type)


@pytest.fixture
def two_services(api_settings: Settings, live_server, monkeypatch) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    """Two services of the same champions; the batches the lean path answers are counted."""
    lean_app, route_app = create_app(api_settings), create_app(api_settings)
    answered = []
    columns = lean_batch.predict_columns

    async def counted(*args: object) -> object:
        answered.append(1)
        return await columns(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(lean_batch, "predict_columns", counted)
    persisted: tuple[list, list] = ([], [])
    for app, kept in zip((lean_app, route_app), persisted, strict=True):
        app.state.cases.persist = _keeping(app.state.cases.persist, kept)
    with (
        live_server(lean_app) as lean_url,
        live_server(route_app) as route_url,
        httpx.Client(base_url=lean_url, timeout=60) as lean,
        httpx.Client(base_url=route_url, timeout=60) as route,
    ):
        yield lean, route, answered, persisted


def _keeping(persist, kept: list):  # type: ignore[no-untyped-def]
    """`CaseDesk.persist` that also keeps what it was given (random and time fields masked)."""

    def persist_and_keep(records: list[dict]) -> None:
        kept.append(
            [
                {**r, "scored_at": None, "case_id": re.sub(r"^req-.*", "req", r["case_id"])}
                for r in records
            ]
        )
        persist(records)

    return persist_and_keep


def test_lean_batch_answers_as_the_route(two_services, trained_lake) -> None:  # type: ignore[no-untyped-def]
    lean, route, answered_lean, persisted = two_services
    rows = trained_lake.silver.slice(trained_lake.silver.num_rows - 60, 12).to_pylist()
    decisions = set()
    for query, body, lean_answers in _batches(rows):
        before = len(answered_lean)
        answered = _send(lean, query, body, LEAN)
        assert answered == _send(route, query, body, ROUTE), (query, body)
        assert (len(answered_lean) > before) is lean_answers, (query, body)  # who read it
        if answered[0] == 200:
            decisions |= {a["decision"] for a in json.loads(answered[2])["data"]}
    assert {"approve", "review"} <= decisions
    assert route_series(lean, "/predict/batch") == route_series(route, "/predict/batch")
    assert persisted[0] == persisted[1] and persisted[0]  # the same cases, in the same order


def test_normalise_columns_is_the_row_function() -> None:
    vocabulary = Vocabulary(countries=("Italy", "Haiti"))
    spellings = {
        "card_brand": ["VISA", "visa", "Mastercard", "amex", "Discover"],
        "card_type": ["CREDIT", "Crédit", "Débit", "prepaid", "Debit (Prepaid)"],
        "merchant_state": ["NY", "ca", "ONLINE", "Italy", "italy", "Peru"],
        "use_chip": ["True", "False", "Swipe Transaction", "chip", "online"],
    }
    rng = np.random.default_rng(5)
    payloads = [
        {
            **seed_payload(),
            **{name: str(rng.choice(values)) for name, values in spellings.items()},
            "credit_score": None if i % 7 == 0 else 700,
            "num_credit_cards": None if i % 5 == 0 else 3,
        }
        for i in range(300)
    ]
    expected = [normalise_row(p, vocabulary) for p in payloads]
    got = normalise_columns(payloads, vocabulary)
    assert got == expected
    assert [list(row) for row in got] == [list(row) for row in expected]  # key order too
    refused = [*payloads[:3], {**payloads[3], "merchant_state": "ZZ"}]
    with pytest.raises(InvalidRequest):
        normalise_row(refused[3], vocabulary)
    assert normalise_columns(refused, vocabulary) is None


def test_confidence_and_decisions_as_columns_equal_the_row_functions() -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.random(2000), rng.random(200) ** 8, [0.0, 1.0, 0.3, 0.8]])
    amounts = np.concatenate([rng.normal(80, 400, len(p) - 4), [-0.0, 0.0, -5.0, 1e6]])
    for threshold in (0.3, 0.05, 0.5):
        labels, margins = confidence_columns(p, threshold)
        rows = [confidence(x, threshold) for x in p.tolist()]
        assert labels == [label for label, _ in rows]
        assert margins == [round(margin, 4) for _, margin in rows]
    for policy in (Policy(0.8, 40.0), Policy(0.3, math.inf, "threshold")):
        outcomes = [decide(policy, x, a) for x, a in zip(p.tolist(), amounts.tolist(), strict=True)]
        assert decide_columns(policy, p, amounts) == [o.decision for o in outcomes]


def test_the_audit_gets_the_same_documents(  # type: ignore[no-untyped-def]
    api_settings, live_server, trained_lake, monkeypatch
) -> None:
    """With Elasticsearch configured, a batch through the lean path ships the documents the
    route ships for it (its answers are only built as objects for the audit then)."""
    from testkit import fake_es

    from lakehouse.config import get_settings

    rows = trained_lake.silver.slice(trained_lake.silver.num_rows - 30, 3).to_pylist()
    batch = [seed_payload(), *map(payload_from_silver, rows), seed_payload(amount=900_000.0)]
    body = json.dumps(batch).encode()
    with fake_es() as es:
        monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{es.server_address[1]}")
        get_settings.cache_clear()
        with live_server(create_app(get_settings())) as url, httpx.Client(base_url=url) as http:
            for content_type in (ROUTE, ROUTE, LEAN):  # the first: the events are recorded
                assert _send(http, "", body, content_type)[0] == 200
            deadline = time.monotonic() + 20
            while len(es.lines) < 6 * len(batch) and time.monotonic() < deadline:
                time.sleep(0.1)
    documents = es.lines[1::2]
    assert len(documents) == 3 * len(batch)

    def comparable(document: dict) -> str:
        kept = {k: v for k, v in document.items() if k not in ("@timestamp", "case_id")}
        return json.dumps(kept, sort_keys=True)

    routed = [comparable(d) for d in documents[len(batch) : 2 * len(batch)]]
    lean = [comparable(d) for d in documents[2 * len(batch) :]]
    assert routed == lean
