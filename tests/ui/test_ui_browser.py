"""End to end in headless Chromium: the analyst's browser against the real platform on loopback.

`ui_server` runs `streamlit run api_ml/ui/streamlit_app.py` (the `lakehouse serve ui`
command) in a subprocess, its environment pointing at `ui_stack`: sources_api, the datamarts
API and the scoring API over a small platform the pipeline built and the trainer registered.
Playwright drives Debian's `/usr/bin/chromium` (never a downloaded browser): pick the fraud
scenario, score it, read the decision and probability the page shows and compare them with
the scoring API's own answer; open the datamarts and the model pages and check their charts
and plots are drawn; log in to the review queue as an analyst, confirm the top case and read
it in the audit log (nothing shows before the login); a UI deployed with its scoring API's URL
on a closed port shows a message, not a traceback.
Screenshots of every page land in `test-artifacts/ui/` (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from promkit import wait_for
from testkit import APT, free_port, skip_missing, wait_http

from api_ml.api.schemas import SEED_EXAMPLE
from api_ml.ui import scenarios
from api_ml.ui.client import Endpoints, LakehouseClient
from lakehouse.cases import auth, store
from lakehouse.cases.schema import ensure_schema
from lakehouse.pipeline.publish import analytics_engine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
TIMEOUT_MS = 90_000  # a shared 2-core machine: first renders can be slow
ANALYST_PASSWORD = "a long analyst password"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser_page(ui_server: str):  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        skip_missing(CHROMIUM, f"{APT} chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(ui_server)
        yield page
        browser.close()


def _settled(page) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit's run is over: no faded element left over from the last page."""
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    _settled(page)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _metric(page, label: str) -> str:  # type: ignore[no-untyped-def]
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def _open(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stSidebar"]').get_by_text(name, exact=True).click()
    page.get_by_role("heading", name=name).wait_for()
    _settled(page)


def _wait_charts(page, count: int) -> None:  # type: ignore[no-untyped-def]
    charts = page.locator('[data-testid="stVegaLiteChart"] canvas, '
                          '[data-testid="stVegaLiteChart"] svg.marks')
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] canvas, "
        "[data-testid=\"stVegaLiteChart\"] svg.marks').length >= n", arg=count)
    assert charts.count() >= count


def test_score_the_fraud_scenario(browser_page, ui_stack) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    page.get_by_role("heading", name="Score a transaction").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.locator('[data-testid="stAlertContentSuccess"]').count() == 3
    page.get_by_role("button", name="Scenario: fraud").click()
    # The scenario fills the form, ids included (in the collapsed "Known card" section).
    expect(page.get_by_label("Transaction id (re-score a known one)")).to_have_value(
        re.compile(r"^\d+$"))
    page.get_by_role("button", name="Score", exact=True).click()
    page.locator('[data-testid="stMetric"]').filter(has_text="Decision").wait_for()

    # What the scoring API answers for the same real transaction, asked directly.
    client = LakehouseClient(Endpoints("", ui_stack.env["LAKEHOUSE_API_ML_URL"], ""))
    sample = scenarios.sample_labeled(ui_stack.settings)
    scores = client.predict_each(sample.requests)
    chosen = scenarios.choose_scenarios(
        sample, [s["fraud_probability"] for s in scores], scores[0]["threshold"])["fraud"]
    expected = client.predict(chosen["request"])
    assert _metric(page, "Fraud probability") == f"{expected['fraud_probability']:.2%}"
    assert _metric(page, "Decision") == ("FRAUD" if expected["is_fraud"] else "legitimate")
    assert _metric(page, "Confidence").startswith(expected["confidence"])
    page.get_by_text("This session's predictions (1)").wait_for()
    _wait_charts(page, 2)  # the gauge and the session chart
    _shot(page, "score.png")


def test_explore_the_datamarts(browser_page, ui_stack) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    _open(page, "Explore the datamarts")
    summary = httpx.get(f"{ui_stack.env['LAKEHOUSE_API_URL']}/summary").json()
    page.locator('[data-testid="stMetric"]').filter(has_text="Frauds").wait_for()
    assert _metric(page, "Frauds") == f"{summary['fraud_count']:,}"
    _wait_charts(page, 1)  # the visible tab (MCC); the others draw when opened
    _shot(page, "explore_mcc.png")
    page.get_by_role("tab", name="By hour of day").click()
    _wait_charts(page, 2)
    _shot(page, "explore_hours.png")
    page.get_by_role("tab", name="Riskiest clients").click()
    _wait_charts(page, 3)


def test_model_page(browser_page, ui_stack) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    _open(page, "Model")
    page.get_by_role("heading", name="Champion and challenger").wait_for()
    images = page.locator('[data-testid="stImage"] img')
    images.first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length >= 6")
    assert images.count() == 6
    _shot(page, "model.png")


def _cases_opened(ui_stack) -> tuple[object, str]:  # type: ignore[no-untyped-def]
    """An analyst account, and two cases opened by /predict; returns the top case's id."""
    engine = analytics_engine(ui_stack.settings.analytics_db_url or "")
    ensure_schema(engine)
    auth.add_user(engine, "alice", "analyst", ANALYST_PASSWORD)
    api_ml = ui_stack.env["LAKEHOUSE_API_ML_URL"]
    # Same fields, ten times the amount: ten times the expected loss, so it tops the queue.
    answers = [httpx.post(f"{api_ml}/predict", json={**SEED_EXAMPLE, "amount": amount}).json()
               for amount in (90_000.0, 900_000.0)]
    for answer in answers:
        assert answer["decision"] in {"review", "decline"}, answer
        wait_for(lambda a=answer: _stored(engine, a["case_id"]))
    return engine, answers[1]["case_id"]


def _stored(engine, case_id: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        store.get_case(engine, case_id)
    except store.CaseNotFound:
        return False
    return True


def test_an_analyst_confirms_the_top_case(browser_page, ui_stack) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    engine, top = _cases_opened(ui_stack)
    _open(page, "Review queue")
    page.get_by_role("button", name="Log in").wait_for()
    assert page.get_by_text("Oldest active case").count() == 0  # nothing before a login
    assert page.get_by_text(top).count() == 0
    page.get_by_label("Username").fill("alice")
    page.get_by_role("textbox", name="Password").fill(ANALYST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator('[data-testid="stMetric"]').filter(has_text="Oldest active case").wait_for()
    page.get_by_role("heading", name=f"Case {top} — open").wait_for()
    _shot(page, "review_case.png")
    page.get_by_role("button", name="Confirm fraud").click()
    page.get_by_text(f"Confirm fraud: case {top} done.").wait_for()
    activity = page.locator('[data-testid="stTable"]').last
    expect(activity).to_contain_text("decide:confirmed_fraud")
    expect(activity).to_contain_text(top)
    latest = store.audit_entries(engine, top)[0]
    assert (latest["actor"], latest["action"]) == ("alice", "decide:confirmed_fraud")
    _shot(page, "review_confirmed.png")


def test_a_service_down_is_a_message(browser_page, ui_stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Service URLs are deployment settings (the sidebar shows them read-only): a second UI
    # process is deployed with its scoring API URL on the discard port, where nothing listens.
    import subprocess

    from lakehouse.serve import ui_command

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LAKEHOUSE_") and k != "MLFLOW_TRACKING_URI"}
    env.update({**ui_stack.env, "LAKEHOUSE_API_ML_URL": "http://127.0.0.1:9"})
    with (tmp_path / "streamlit.log").open("wb") as out:
        process = subprocess.Popen(ui_command("127.0.0.1", port), env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_stcore/health", timeout=90)
        page = browser_page
        page.goto(url)
        _open(page, "Score a transaction")
        page.get_by_text("Cannot score right now.").wait_for()
        assert page.get_by_text("lakehouse serve api-ml").count() >= 1
        assert page.get_by_text("Traceback").count() == 0
        _shot(page, "scoring_api_down.png")
    finally:
        process.terminate()
        process.wait(timeout=10)
