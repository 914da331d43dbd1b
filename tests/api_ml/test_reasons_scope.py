"""`?reasons=flagged|all|none` on `/predict` and `/predict/batch`, over real HTTP.

The session's models carry a cost policy (review above an expected loss of a few dollars),
so a $900,000 purchase is always reviewed or declined and a refund always approved: each
request below mixes both. Under every scope the same request must get the same probability,
decision and case; only which answers carry their SHAP reasons changes.
"""

from __future__ import annotations

import httpx
import pytest
from api_ml_lake import payload_from_silver, seed_payload

from api_ml.api.main import create_app
from lakehouse.config import ConfigurationError, load_settings

LARGE = 900_000.0
SCOPES = ("flagged", "all", "none", "true", "false")
# What each scope leaves of the reasons `all` gives: every one, the flagged answers' only, none.
KEPT = {
    "all": lambda decision: True,
    "true": lambda decision: True,
    "flagged": lambda decision: decision != "approve",
    "none": lambda decision: False,
    "false": lambda decision: False,
}


def _payloads(trained_lake) -> list[dict]:  # type: ignore[no-untyped-def]
    """Basic and full requests, each once as a large purchase and once as a refund."""
    rows = trained_lake.silver.slice(trained_lake.silver.num_rows - 40, 2).to_pylist()
    full = [payload_from_silver(row) for row in rows]
    return [
        seed_payload(amount=LARGE),
        seed_payload(amount=-20.0),
        {**full[0], "amount": LARGE},
        {**full[1], "amount": -20.0},
    ]


def _decided(answer: dict) -> tuple:
    """What must not depend on the scope: score, decision and case."""
    return (
        answer["fraud_probability"],
        answer["decision"],
        answer["decision_rule"],
        answer["expected_loss"],
        answer.get("case_id", "") != "",
    )


def _check_scopes(by_scope: dict[str | None, list[dict]]) -> None:
    """Same decisions everywhere; each scope keeps exactly its share of `all`'s reasons."""
    explained = by_scope["all"]
    assert {a["decision"] for a in explained} >= {"approve"}
    assert {a["decision"] for a in explained} - {"approve"}, "no review or decline to explain"
    assert all(len(a["reasons"]) == 3 for a in explained)
    for scope, answers in by_scope.items():
        assert [_decided(a) for a in answers] == [_decided(a) for a in explained], scope
        kept = KEPT[scope or "flagged"]  # no parameter: the default scope, `flagged`
        for answer, reference in zip(answers, explained, strict=True):
            expected = reference["reasons"] if kept(reference["decision"]) else []
            assert answer["reasons"] == expected, (scope, answer["decision"])


def test_single_answers_under_each_scope(client: httpx.Client, trained_lake) -> None:  # type: ignore[no-untyped-def]
    payloads = _payloads(trained_lake)
    by_scope: dict[str | None, list[dict]] = {}
    for scope in (*SCOPES, None):
        params = {} if scope is None else {"reasons": scope}
        answers = [client.post("/predict", params=params, json=p) for p in payloads]
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        by_scope[scope] = [a.json() for a in answers]
    _check_scopes(by_scope)


def test_batch_answers_under_each_scope(client: httpx.Client, trained_lake) -> None:  # type: ignore[no-untyped-def]
    payloads = _payloads(trained_lake)
    by_scope: dict[str | None, list[dict]] = {}
    for scope in (*SCOPES, None):
        params = {} if scope is None else {"reasons": scope}
        answer = client.post("/predict/batch", params=params, json=payloads)
        assert answer.status_code == 200, answer.text
        by_scope[scope] = answer.json()["data"]
    _check_scopes(by_scope)


def test_a_case_keeps_the_reasons_of_its_answer(client: httpx.Client, trained_lake) -> None:  # type: ignore[no-untyped-def]
    explained = client.post("/predict", params={"reasons": "all"}, json=_payloads(trained_lake)[2])
    answer = client.post("/predict", json=_payloads(trained_lake)[2]).json()
    assert answer["case_id"] and answer["reasons"] == explained.json()["reasons"]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_an_unknown_scope_is_422_naming_the_allowed_ones(
    client: httpx.Client, path: str, content_type: str
) -> None:
    body = seed_payload() if path == "/predict" else [seed_payload()]
    answer = client.post(
        path, params={"reasons": "some"}, json=body, headers={"content-type": content_type}
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["location"] == "query.reasons"
    assert all(f"'{scope}'" in detail["message"] for scope in SCOPES), detail
    assert client.post(path, json=body).status_code == 200  # the next request is unaffected


def test_the_default_scope_is_a_setting(api_settings, live_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = api_settings.model_copy(update={"scoring_reasons": "all"})
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        refund = http.post("/predict", json=seed_payload(amount=-20.0)).json()
        assert refund["decision"] == "approve" and len(refund["reasons"]) == 3
        none = http.post("/predict", params={"reasons": "none"}, json=seed_payload()).json()
        assert none["reasons"] == []
    monkeypatch.setenv("LAKEHOUSE_SCORING_REASONS", "some")
    with pytest.raises(ConfigurationError, match=r"LAKEHOUSE_SCORING_REASONS.*'flagged'"):
        load_settings()
