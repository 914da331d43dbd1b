"""The UI's pages under `streamlit.testing` (AppTest), against the real services on loopback.

`ui_env` runs sources_api, the datamarts API and the scoring API over a small platform built
by the pipeline (tests/ui/conftest.py); `down_env` points every URL at a closed port. The
app script is run as Streamlit runs it; assertions read the widgets and elements it drew
and compare them with what the services and the MLflow store hold.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest
from streamlit.testing.v1 import AppTest

from api_ml.ui import model_registry
from lakehouse import catalog, storage
from lakehouse.config import get_settings

APP = str(Path(__file__).resolve().parents[2] / "api_ml" / "ui" / "streamlit_app.py")


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def test_services_down_show_messages_not_tracebacks(down_env: Path) -> None:
    at = _app()
    health = " ".join(e.value for e in at.sidebar.error)
    for command in ("lakehouse serve api-ml", "lakehouse serve api", "lakehouse serve sources-api"):
        assert command in health
    assert len(at.sidebar.error) == 3 and not at.sidebar.success
    assert "Cannot score right now" in at.error[0].value
    _open(at, "Explore the datamarts")
    assert "does not answer" in at.error[0].value
    _open(at, "Model")
    assert "does not answer" in at.error[0].value
    assert "No registered model" in at.warning[0].value
    assert not (down_env / "mlflow.db").exists()  # looking did not create an empty store


def test_form_choices_are_the_models_vocabulary(ui_env) -> None:  # type: ignore[no-untyped-def]
    info = httpx.get(f"{ui_env.env['LAKEHOUSE_API_ML_URL']}/model/info").json()
    vocabulary = info["models"]["basic"]["vocabulary"]
    at = _app()
    assert [e.value for e in at.sidebar.success] == [
        "**scoring API** — ok", "**datamarts API** — ok", "**source system** — ok"]
    assert list(at.selectbox(key="f_card_brand").options) == vocabulary["card_brand"]
    assert list(at.selectbox(key="f_card_type").options) == vocabulary["card_type"]
    assert "True" not in at.selectbox(key="f_use_chip").options
    states = at.selectbox(key="f_merchant_state").options
    assert "ONLINE" in states and "CA" in states and "<US state code>" not in states


def test_fraud_scenario_is_a_real_labeled_fraud_and_scores(ui_env) -> None:  # type: ignore[no-untyped-def]
    at = _app()
    assert {b.key for b in at.button} >= {"scenario_normal", "scenario_suspect", "scenario_fraud"}
    at.button(key="scenario_fraud").click().run()
    transaction_id = int(at.text_input(key="f_transaction_id").value)
    settings = get_settings()
    silver = storage.read_table(catalog.location("silver_transactions", settings), settings,
                                filter=pc.field("transaction_id") == transaction_id)
    row = silver.to_pylist()[0]
    assert row["label"] == 1
    assert at.number_input(key="f_amount").value == pytest.approx(row["amount"])
    assert at.selectbox(key="f_card_brand").value == row["card_brand"]

    at.button(key="FormSubmitter:score_form-Score").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _metric(at, "Decision") in ("FRAUD", "legitimate")
    assert at.dataframe[-1].value["scenario"].tolist() == ["fraud"]

    at.button(key="scenario_normal").click().run()
    at.button(key="FormSubmitter:score_form-Score").click().run()
    history = at.dataframe[-1].value
    assert history["scenario"].tolist() == ["fraud", "normal"]
    # Scenarios are picked by the model's own scores: the fraud example scores above the normal.
    assert history["fraud_probability"][0] >= history["fraud_probability"][1]
    assert history["decision"][1] == "legitimate"


def test_seed_form_alone_uses_the_basic_model(ui_env) -> None:  # type: ignore[no-untyped-def]
    at = _app()
    at.number_input(key="f_amount").set_value(250.0)
    at.button(key="FormSubmitter:score_form-Score").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "basic model" in " ".join(c.value for c in at.caption)
    assert 0.0 <= float(at.dataframe[-1].value["fraud_probability"][0]) <= 1.0
    # The page asks for every answer's reasons (`reasons=all`): this approved answer would
    # have none under the service's default scope (`flagged`).
    assert at.dataframe[-1].value["decision"].tolist() == ["legitimate"]
    assert any("Reason codes" in m.value for m in at.markdown)


def test_bad_id_is_a_message(ui_env) -> None:  # type: ignore[no-untyped-def]
    at = _app()
    at.text_input(key="f_card_id").set_value("12ab")
    at.button(key="FormSubmitter:score_form-Score").click().run()
    assert not at.exception
    assert "Card id must be a whole number" in at.error[0].value


def test_explore_shows_the_served_datamarts(ui_env) -> None:  # type: ignore[no-untyped-def]
    at = _open(_app(), "Explore the datamarts")
    assert [t.label for t in at.tabs] == ["By merchant category", "By hour of day",
                                         "Riskiest clients", "Riskiest cards"]
    api = ui_env.env["LAKEHOUSE_API_URL"]
    params = {"sort": "-fraud_rate", "limit": 15, "min_labeled_count": 20}
    expected_mcc = httpx.get(f"{api}/mcc_risk", params=params).json()["data"]
    tables = [d.value for d in at.dataframe]
    assert tables[0]["mcc_code"].tolist() == [r["mcc_code"] for r in expected_mcc]
    assert tables[1]["hour"].tolist() == list(range(len(tables[1])))
    expected_clients = httpx.get(f"{api}/client_features", params=params).json()["data"]
    assert tables[2]["client_id"].tolist() == [r["client_id"] for r in expected_clients]
    summary = httpx.get(f"{api}/summary").json()
    assert _metric(at, "Frauds") == f"{summary['fraud_count']:,}"
    assert len(at.get("vega_lite_chart")) == 4


def test_model_page_shows_champion_plots_and_challenger(ui_env) -> None:  # type: ignore[no-untyped-def]
    at = _open(_app(), "Model")
    assert not at.error, [e.value for e in at.error]
    versions = model_registry.registered_versions(get_settings().mlflow_tracking_uri or "")
    champions = [v for v in versions if v.alias == "champion"]
    assert len(champions) == 2 and any(v.alias == "challenger" for v in versions)
    headers = " ".join(m.value for m in at.markdown)
    for champion in champions:
        assert f"{champion.name} — version {champion.version} (champion)" in headers
    assert len(at.get("image")) == 6  # ROC, PR and importance for both champions
    comparison = [d.value for d in at.dataframe if "metric" in d.value.columns]
    basic = next(t for t in comparison if any("challenger" in c for c in t.columns))
    assert "average_precision" in basic["metric"].tolist()
    assert "logistic baseline" in basic.columns
    # Per-mechanism table of each champion: the generator's three mechanisms, real figures.
    mechanisms = [d.value for d in at.dataframe if "mechanism" in d.value.columns]
    assert len(mechanisms) == 2
    full = next(v for v in champions if v.name == "fraud-detector")
    expected = model_registry.mechanism_rows(full)
    assert {r["mechanism"] for r in expected} == {"card burst", "account takeover",
                                                  "breached merchant"}
    shown = mechanisms[[v.name for v in champions].index("fraud-detector")]
    assert shown["mechanism"].tolist() == [r["mechanism"] for r in expected]
    assert shown["frauds in test window"].tolist() == [r["frauds in test window"]
                                                       for r in expected]
    assert not any(m.startswith(("card_burst", "breach_")) for m in basic["metric"])


def test_scoring_api_without_a_model_says_so(down_env: Path, live_server,  # type: ignore[no-untyped-def]
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from api_ml.api.main import create_app

    monkeypatch.setenv("LAKEHOUSE_MODEL_POLL_SECONDS", "0")
    get_settings.cache_clear()
    with live_server(create_app(get_settings())) as url:
        monkeypatch.setenv("LAKEHOUSE_API_ML_URL", url)
        get_settings.cache_clear()
        at = _app()
    assert "scoring API answered 503: not ready" in at.sidebar.error[0].value
    assert "serves no model yet" in at.warning[0].value
    assert "lakehouse train" in at.warning[0].value
