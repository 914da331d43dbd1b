"""The case queue over real HTTP: /predict decides and opens cases; analysts log in and work them.

Real parts: the scoring API under uvicorn with the session's trained champions, the durable
outbox and its worker, the case store in a real SQLite file or a fresh PostgreSQL database,
scrypt-hashed analysts, and a sources_api receiving the labels of closed cases. The session's
models carry a cost policy (review above an expected loss of a few dollars), so a $900,000
purchase is always a case and a refund never is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from api_ml_lake import payload_from_silver, seed_payload
from promkit import wait_for

from api_ml.api.main import create_app
from lakehouse.cases import auth
from lakehouse.cases.schema import ensure_schema
from lakehouse.config import Settings, get_settings
from lakehouse.pipeline.publish import analytics_engine
from sources_api.api import create_app as create_sources_api

PASSWORD = "a long test password"
LARGE = 900_000.0


@dataclass
class Desk:
    http: httpx.Client
    settings: Settings

    def login(self, username: str) -> dict[str, str]:
        answer = self.http.post("/auth/token", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def case_appears(self, case_id: str, headers: dict[str, str]) -> dict:
        """The outbox worker delivers asynchronously: poll until the case is stored."""
        url = f"/cases/{case_id}"
        wait_for(lambda: self.http.get(url, headers=headers).status_code != 404, timeout=30)
        answer = self.http.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


def case_settings(api_settings: Settings, tmp_path: Path, url: str) -> Settings:
    """The session's models and lake, with this test's own case store and outbox."""
    engine = analytics_engine(url)
    ensure_schema(engine)
    for name, role in (("alice", "analyst"), ("bob", "analyst"), ("lena", "lead")):
        auth.add_user(engine, name, role, PASSWORD)
    engine.dispose()
    return api_settings.model_copy(
        update={"analytics_db_url": url, "case_outbox_dir": tmp_path / "outbox"}
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(
    request, api_settings: Settings, tmp_path: Path, live_server, monkeypatch
) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    url = (
        f"sqlite:///{tmp_path / 'analytics.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    # A source system of this test's own, to receive the analysts' labels.
    monkeypatch.setenv("LAKEHOUSE_SOURCE_DB_URL", f"sqlite:///{tmp_path / 'sources.db'}")
    get_settings.cache_clear()
    with live_server(create_sources_api()) as sources:
        settings = case_settings(api_settings, tmp_path, url).model_copy(
            update={"sources_api_url": sources}
        )
        with live_server(create_app(settings)) as base, httpx.Client(base_url=base) as http:
            yield Desk(http, settings)


def test_predict_decides_and_opens_one_case_per_transaction(desk: Desk, trained_lake) -> None:
    # A recent transaction whose label is not known yet: the analyst's verdict is its first.
    recent = trained_lake.silver.slice(trained_lake.silver.num_rows - 50).to_pylist()
    row = next(r for r in reversed(recent) if r["label"] is None)
    payload = {**payload_from_silver(row), "amount": LARGE}
    first = desk.http.post("/predict", json=payload).json()
    assert first["decision"] in {"review", "decline"}, first
    assert first["decision_rule"].startswith(first["decision"])
    assert first["expected_loss"] == pytest.approx(first["fraud_probability"] * LARGE, rel=1e-3)
    assert first["case_id"] == str(row["transaction_id"])
    assert "features" not in first  # computed for the case, not returned unasked
    desk.http.post("/predict", json=payload)  # scored again: still one case
    alice = desk.login("alice")
    case = desk.case_appears(first["case_id"], alice)
    assert case["state"] == "open" and case["model_version"] == first["model_version"]
    assert case["features"]["amount"] == LARGE and case["reasons"]
    assert case["card_transactions"] and case["card_transactions"][0]["transaction_id"]
    queue = desk.http.get("/cases", headers=alice).json()
    assert queue["count"] == 1 and queue["by_state"] == {"open": 1}
    assert queue["oldest_active_age_seconds"] >= 0

    # The next day's transaction at that merchant, before and after the analyst's verdict.
    next_day = {**payload, "transaction_id": row["transaction_id"] + 1_000_000,
                "timestamp": (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None)
                .isoformat(timespec="seconds"), "amount": 12.0}
    before = desk.http.post("/predict?include_features=true", json=next_day).json()["features"]
    closed = desk.http.post(
        f"/cases/{case['case_id']}/decision", json={"outcome": "confirmed_fraud"}, headers=alice
    ).json()
    after = desk.http.post("/predict?include_features=true", json=next_day).json()["features"]
    # The verdict reached the online risk tallies at once, counted from the next day.
    assert after["merchant_labels_known"] == before["merchant_labels_known"] + 1
    assert after["merchant_recent_frauds_1d"] == before["merchant_recent_frauds_1d"] + 1
    labels = f"{desk.settings.sources_api_url}/labels"
    wait_for(lambda: httpx.get(labels).json()["count"] == 1, timeout=30)
    label = httpx.get(labels).json()["data"][0]
    assert (label["transaction_id"], label["is_fraud"], label["reviewer"]) == (
        row["transaction_id"],
        True,
        "alice",
    )
    assert label["label_known_at"][:19] == closed["decided_at"][:19]

    refund = desk.http.post("/predict", json=seed_payload(amount=-20.0)).json()
    assert refund["decision"] == "approve" and "case_id" not in refund


def test_analysts_work_the_queue_under_the_rules(desk: Desk) -> None:
    opened = [
        desk.http.post("/predict", json=seed_payload(amount=LARGE / k)).json() for k in (1, 3)
    ]
    alice, bob, lena = (desk.login(name) for name in ("alice", "bob", "lena"))
    for answer in opened:
        desk.case_appears(answer["case_id"], alice)
    queue = desk.http.get("/cases", headers=alice).json()["data"]
    assert [c["case_id"] for c in queue] == [opened[0]["case_id"], opened[1]["case_id"]]
    top = queue[0]["case_id"]

    assert desk.http.post(f"/cases/{top}/assign", json={}, headers=alice).json()["owner"] == (
        "alice"
    )
    for path, body in (
        (f"/cases/{top}/decision", {"outcome": "legitimate"}),
        (f"/cases/{top}/notes", {"text": "mine now"}),
        (f"/cases/{top}/assign", {}),
    ):
        refused = desk.http.post(path, json=body, headers=bob)
        assert refused.status_code == 403, refused.text
        assert "alice" in refused.json()["error"]
    note = desk.http.post(
        f"/cases/{top}/notes", json={"text": "called the cardholder"}, headers=alice
    )
    assert note.status_code == 201
    decided = desk.http.post(
        f"/cases/{top}/decision", json={"outcome": "escalated"}, headers=alice
    ).json()
    assert decided["state"] == "escalated"
    assert (
        desk.http.post(
            f"/cases/{top}/decision", json={"outcome": "legitimate"}, headers=alice
        ).status_code
        == 403
    )
    closed = desk.http.post(
        f"/cases/{top}/decision",
        json={"outcome": "confirmed_fraud", "note": "card blocked"},
        headers=lena,
    ).json()
    assert (closed["state"], closed["decided_by"], closed["owner"]) == (
        "confirmed_fraud",
        "lena",
        "alice",
    )

    audit = desk.http.get("/audit", params={"case_id": top}, headers=bob).json()["data"]
    assert [(e["actor"], e["action"]) for e in audit] == [
        ("lena", "note"),
        ("lena", "decide:confirmed_fraud"),
        ("alice", "decide:escalated"),
        ("alice", "note"),
        ("alice", "assign"),
        ("api_ml", "create"),
    ]
    assert audit[1]["before"]["state"] == "escalated"
    assert audit[1]["after"]["state"] == "confirmed_fraud"
    mine = desk.http.get(
        "/cases", params={"owner": "alice", "state": "confirmed_fraud"}, headers=alice
    ).json()
    assert mine["count"] == 1


ROUTES = [
    ("GET", "/cases"),
    ("GET", "/cases/1"),
    ("POST", "/cases/1/assign"),
    ("POST", "/cases/1/decision"),
    ("POST", "/cases/1/notes"),
    ("GET", "/audit"),
    ("GET", "/auth/me"),
]


def test_every_case_route_needs_a_token(api_settings, tmp_path, live_server) -> None:  # type: ignore[no-untyped-def]
    settings = case_settings(api_settings, tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    forged = {"Authorization": "Bearer not-a-token"}
    with live_server(create_app(settings)) as base:
        for method, path in ROUTES:
            assert httpx.request(method, base + path, json={}).status_code == 401, path
            answer = httpx.request(method, base + path, json={}, headers=forged)
            assert answer.status_code == 401, path
        wrong = httpx.post(base + "/auth/token", json={"username": "alice", "password": "x"})
        assert wrong.status_code == 401


def test_a_case_keeps_its_reasons_when_the_answer_asks_for_none(desk: Desk, trained_lake) -> None:
    # `reasons=none` empties the answers' reasons; a case is still explained for its analyst.
    rows = trained_lake.silver.slice(trained_lake.silver.num_rows - 60, 2).to_pylist()
    single, batched = ({**payload_from_silver(row), "amount": LARGE} for row in rows)
    one = desk.http.post("/predict", params={"reasons": "none"}, json=single).json()
    many = desk.http.post("/predict/batch", params={"reasons": "none"}, json=[batched]).json()
    alice = desk.login("alice")
    for answer in (one, many["data"][0]):
        assert answer["reasons"] == [] and answer["case_id"], answer
        assert len(desk.case_appears(answer["case_id"], alice)["reasons"]) == 3
