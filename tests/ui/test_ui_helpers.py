"""The UI's page logic without Streamlit: request building, scenario choice, form choices,
the model comparison table, and the client's error messages over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.fastapi_app import create_app as api_app
from api_ml.ui import model_registry, page_score, scenarios
from api_ml.ui.client import Endpoints, LakehouseClient, ServiceError
from lakehouse.config import Settings

SEED = dict(page_score.SEED_EXAMPLE)


def _sample(labels: list[int]) -> scenarios.LabeledSample:
    return scenarios.LabeledSample([{**SEED, "transaction_id": i} for i in range(len(labels))],
                                   labels)


def test_choose_scenarios_by_the_models_scores() -> None:
    sample = _sample([0, 0, 0, 1, 1])
    found = scenarios.choose_scenarios(sample, [0.30, 0.01, 0.45, 0.20, 0.90], threshold=0.5)
    assert found["normal"]["request"]["transaction_id"] == 1  # lowest-scored legitimate
    assert found["fraud"]["request"]["transaction_id"] == 4  # highest-scored fraud
    assert found["suspect"]["request"]["transaction_id"] == 2  # closest to the threshold
    assert found["fraud"]["label"] == 1 and found["suspect"]["probability"] == 0.45


def test_choose_scenarios_without_frauds_offers_what_exists() -> None:
    found = scenarios.choose_scenarios(_sample([0]), [0.1], threshold=0.5)
    assert set(found) == {"normal"}


def test_request_from_a_silver_row_drops_the_no_error_placeholder() -> None:
    from datetime import datetime

    row = {**SEED, "transaction_id": 9, "card_id": 3, "client_id": 1, "merchant_id": 7,
           "mcc_code": 5411, "ts": datetime(2019, 1, 2, 3, 4), "merchant_city": "Austin",
           "zip": None, "errors": "no error"}
    body = scenarios.request_from_row(row)
    assert body["mcc"] == 5411 and body["timestamp"] == "2019-01-02T03:04:00"
    assert "errors" not in body and "zip" not in body and "mcc_code" not in body


def test_build_request_keeps_only_filled_optional_fields() -> None:
    values: dict[str, Any] = {**SEED, "card_id": " 12 ", "timestamp": "2019-06-01 14:30",
                              "errors": "Bad PIN", "client_id": ""}
    body = page_score.build_request(values)
    assert body["card_id"] == 12 and body["timestamp"] == "2019-06-01T14:30:00"
    assert body["errors"] == "Bad PIN" and "client_id" not in body
    assert isinstance(body["credit_score"], int)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("mcc", "54x", "MCC must be a whole number"),
    ("timestamp", "yesterday", "is not an ISO date-time"),
])
def test_build_request_refuses_bad_optional_values(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        page_score.build_request({**SEED, field: value})


def test_form_choices_expand_the_us_states() -> None:
    choices = page_score.form_choices({
        "card_brand": ["Visa"], "card_type": ["Debit"],
        "use_chip": ["True", "False", "Chip Transaction"],
        "merchant_state": ["<US state code>", "ONLINE", "Italy"]})
    assert choices["use_chip"] == ["Chip Transaction"]
    assert {"CA", "NY", "ONLINE", "Italy"} <= set(choices["merchant_state"])
    assert "<US state code>" not in choices["merchant_state"]


def test_comparison_rows_put_champion_challenger_and_baseline_side_by_side() -> None:
    def version(alias: str, ap: float) -> model_registry.RegisteredVersion:
        return model_registry.RegisteredVersion(
            "fraud-detector", alias, "2" if alias == "champion" else "3", "run", "",
            {"test_average_precision": ap, "baseline_test_average_precision": 0.1}, {})

    rows = model_registry.comparison_rows([version("champion", 0.4), version("challenger", 0.3)])
    assert rows == [{"metric": "average_precision", "fraud-detector v2 (champion)": 0.4,
                     "fraud-detector v3 (challenger)": 0.3, "logistic baseline": 0.1}]


def test_client_reports_the_services_own_error(isolated_settings: Path, live_server) -> None:  # type: ignore[no-untyped-def]
    isolated_settings.mkdir(parents=True)
    settings = Settings(analytics_db_url=f"sqlite:///{isolated_settings / 'empty.db'}")
    with live_server(api_app(settings)) as url:
        client = LakehouseClient(Endpoints(url, url, url))
        with pytest.raises(ServiceError, match="datamarts API answered 503: datamarts not"):
            client.summary()
        health = client.health_of("api")
        assert not health.ok and "503" in health.message


def test_client_names_the_service_and_command_when_down() -> None:
    client = LakehouseClient(Endpoints("http://127.0.0.1:9", "http://127.0.0.1:9", ""))
    with pytest.raises(ServiceError, match="lakehouse serve api-ml"):
        client.model_info()
    with pytest.raises(ServiceError, match="must start with http"):
        client.source_stats()
