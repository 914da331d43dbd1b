"""`POST /predict`, `/predict/batch`, `/model/info`, `/health`, `/metrics` over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from api_ml_lake import payload_from_silver, seed_payload

from api_ml.api.main import create_app
from api_ml.api.schemas import MAX_BATCH


def test_seed_curl_example_answers_as_documented(client: httpx.Client) -> None:
    response = client.post("/predict", json=seed_payload())
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body)[:3] == ["fraud_probability", "is_fraud", "confidence"]
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert isinstance(body["is_fraud"], bool)
    assert body["confidence"] in {"Haute", "Moyenne"}
    assert body["flavour"] == "basic"
    assert body["model_name"] == "fraud-detector-basic"
    assert body["is_fraud"] == (body["fraud_probability"] >= body["threshold"])


@pytest.mark.parametrize(
    "changes",
    [
        {"card_brand": "visa", "card_type": "Credit"},
        {"card_brand": "Visa", "card_type": "credit", "use_chip": True},
        {"card_brand": " VISA ", "card_type": "CREDIT", "use_chip": "Chip Transaction"},
        {"use_chip": "chip"},
    ],
)
def test_spelling_variants_score_the_same(client: httpx.Client, changes: dict) -> None:
    reference = client.post("/predict", json=seed_payload()).json()
    variant = client.post("/predict", json=seed_payload(**changes)).json()
    assert variant["fraud_probability"] == pytest.approx(reference["fraud_probability"])


@pytest.mark.parametrize(
    "changes",
    [
        {"card_type": "Debit (Prepaid)"},
        {"card_type": "prepaid"},
        {"card_brand": "AMEX"},
        {"use_chip": "False"},
        {"use_chip": "Swipe Transaction"},
        {"merchant_state": "ONLINE", "use_chip": "Online Transaction"},
        {"merchant_state": "online", "use_chip": "false"},
        {"merchant_state": "Italy"},
        {"credit_score": None, "num_credit_cards": None},
        {"amount": -20.0},
    ],
)
def test_dataset_vocabulary_is_accepted(client: httpx.Client, changes: dict) -> None:
    response = client.post("/predict", json=seed_payload(**changes))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"card_brand": "Diners"}, "card_brand", "Visa"),
        ({"card_type": "Gold"}, "card_type", "Debit (Prepaid)"),
        ({"use_chip": "maybe"}, "use_chip", "Swipe Transaction"),
        ({"merchant_state": "ZZ"}, "merchant_state", "ONLINE"),
    ],
)
def test_unknown_values_get_422_with_allowed_values(
    client: httpx.Client, changes: dict, field: str, allowed: str
) -> None:
    response = client.post("/predict", json=seed_payload(**changes))
    assert response.status_code == 422
    body = response.json()
    assert field in body["error"] and "allowed" in body["error"]
    detail = body["detail"][0]
    assert detail["location"] == f"body.{field}"
    assert allowed in detail["allowed"]


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in seed_payload().items() if k != "amount"},
        seed_payload(amount="lots"),
        seed_payload(credit_score=-5),
        seed_payload(credit_score=900),
        seed_payload(num_credit_cards=-1),
        seed_payload(credit_limit=-100),
        seed_payload(amount=1e12),
        seed_payload(surprise_field=1),
    ],
)
def test_bad_payloads_get_422(client: httpx.Client, payload: dict) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["status"] == 422


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"])
def test_a_time_beyond_the_calendar_in_utc_is_a_422(  # type: ignore[no-untyped-def]
    client: httpx.Client, trained_lake, timestamp: str
) -> None:
    """The online store reads every time in UTC: an offset that takes it past year 9999 (or
    before year 1) is refused with its location, on every path, and nothing breaks after."""
    row = trained_lake.silver.slice(trained_lake.silver.num_rows - 5, 1).to_pylist()[0]
    body = {**payload_from_silver(row), "timestamp": timestamp}
    one = client.post("/predict", json=body)
    assert one.status_code == 422, one.text
    assert [d["location"] for d in one.json()["detail"]] == ["body.timestamp"]
    batch = client.post("/predict/batch", json=[payload_from_silver(row), body])
    assert batch.status_code == 422, batch.text
    assert [d["location"] for d in batch.json()["detail"]] == ["body.1.timestamp"]
    label = {"transaction_id": 1, "label": 1, "known_at": timestamp}
    assert client.post("/online/labels", json=label).status_code == 422
    on_the_edge = {**body, "timestamp": "9999-12-31T23:59:59Z"}
    assert client.post("/predict", json=on_the_edge).status_code == 200


def test_not_json_is_422_not_500(client: httpx.Client) -> None:
    response = client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_full_model_path(client: httpx.Client, trained_lake) -> None:
    row = trained_lake.silver.slice(trained_lake.silver.num_rows - 5, 1).to_pylist()[0]
    response = client.post("/predict", params={"reasons": "all"}, json=payload_from_silver(row))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["flavour"] == "full" and body["model_name"] == "fraud-detector"
    assert len(body["reasons"]) == 3
    assert all({"feature", "contribution"} <= set(r) for r in body["reasons"])


def test_full_model_needs_its_identifiers(client: httpx.Client) -> None:
    response = client.post("/predict", json=seed_payload(card_id=100))
    assert response.status_code == 422
    locations = {d["location"] for d in response.json()["detail"]}
    assert {"body.client_id", "body.merchant_id", "body.mcc"} <= locations


def test_batch_scores_like_single_requests(client: httpx.Client, trained_lake) -> None:
    row = trained_lake.silver.slice(100, 1).to_pylist()[0]
    payloads = [
        seed_payload(),
        seed_payload(amount=900.0, merchant_state="ONLINE", use_chip="Online Transaction"),
        payload_from_silver(row),
    ]
    batch = client.post("/predict/batch", json=payloads)
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["count"] == 3
    assert [a["flavour"] for a in body["data"]] == ["basic", "basic", "full"]
    for payload, answer in zip(payloads, body["data"], strict=True):
        single = client.post("/predict", json=payload).json()
        assert answer["fraud_probability"] == pytest.approx(single["fraud_probability"])


def test_batch_bounds(client: httpx.Client) -> None:
    assert client.post("/predict/batch", json=[]).status_code == 422
    too_many = client.post("/predict/batch", json=[seed_payload()] * (MAX_BATCH + 1))
    assert too_many.status_code == 413
    bad = client.post("/predict/batch", json=[seed_payload(), seed_payload(card_brand="Diners")])
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["location"] == "body.1.card_brand"


def test_model_info_and_health(client: httpx.Client) -> None:
    info = client.get("/model/info").json()
    for flavour, name in (("basic", "fraud-detector-basic"), ("full", "fraud-detector")):
        model = info["models"][flavour]
        assert model["name"] == name and model["flavour"] == flavour
        assert {"version", "metrics", "threshold", "data_versions", "feature_set_version"} <= set(
            model
        )
        assert model["compiled_trees"] is True  # LAKEHOUSE_COMPILED_TREES' default
    assert info["online_state"]["events"] > 0 and info["online_state"]["backend"] == "memory"
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_metrics_after_predictions(client: httpx.Client) -> None:
    client.post("/predict", json=seed_payload())
    text = client.get("/metrics").text
    for name in (
        "api_ml_prediction_seconds_bucket",
        "api_ml_fraud_probability_bucket",
        "api_ml_decisions_total",
        "api_ml_model_info",
        "http_requests_total",
    ):
        assert name in text
    assert 'api_ml_model_info{flavour="basic",name="fraud-detector-basic"' in text


def test_no_model_means_503(
    isolated_settings, live_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.config import get_settings

    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    with live_server(create_app(get_settings())) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503
        assert "run `lakehouse train`" in health.json()["error"]
        predict = httpx.post(f"{url}/predict", json=seed_payload())
        assert predict.status_code == 503
        assert "lakehouse train" in predict.json()["error"]


def test_without_a_lake_the_basic_model_serves_and_full_requests_get_503(
    trained_lake, isolated_settings, live_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.config import get_settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_lake.tracking_uri)
    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    with live_server(create_app(get_settings())) as url:
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "degraded"
        assert "lakehouse pipeline run" in health["unavailable"]["full"]
        assert httpx.post(f"{url}/predict", json=seed_payload()).status_code == 200
        full = httpx.post(
            f"{url}/predict", json=seed_payload(card_id=1, client_id=1, merchant_id=1, mcc=5411)
        )
        assert full.status_code == 503
        assert "lakehouse pipeline run" in full.json()["error"]


def test_batch_without_reasons_gives_the_same_scores(client: httpx.Client, trained_lake) -> None:
    rows = trained_lake.silver.slice(200, 3).to_pylist()
    payloads = [seed_payload(), *(payload_from_silver(row) for row in rows)]
    explained = client.post("/predict/batch", params={"reasons": "all"}, json=payloads)
    bulk = client.post("/predict/batch", params={"reasons": "false"}, json=payloads)
    assert explained.status_code == bulk.status_code == 200, bulk.text
    assert set(explained.json()) == set(bulk.json()) == {"data", "count"}
    for with_reasons, without in zip(explained.json()["data"], bulk.json()["data"], strict=True):
        assert with_reasons["reasons"] and without["reasons"] == []
        assert without["fraud_probability"] == with_reasons["fraud_probability"]
        assert without["decision"] == with_reasons["decision"]
        assert set(without) - {"case_id"} == set(with_reasons) - {"case_id"}
