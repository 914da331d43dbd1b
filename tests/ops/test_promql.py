"""Every PromQL expression of the alert rules and dashboards, run by a real Prometheus.

The services run on loopback (sources_api, api and api_ml from their `create_app()`, and the
pipeline's `PipelineMetrics` registry served the way `lakehouse pipeline serve` serves it).
Prometheus (Debian's `prometheus` package) scrapes them every second with
prometheus/prometheus.yml — targets rewritten to loopback — and loads prometheus/alerts.yml
as is. After real traffic (health checks, a 404, a 422, a /predict answered 503 because no
model registry can be opened here), the test asks Prometheus:
  - to evaluate every dashboard expression: each must parse and return series;
  - for every metric selector inside the alert rules: each must match series, so a renamed
    metric or label fails here and not silently in production;
  - for the health of every loaded alert rule after several evaluation cycles.
No model is trained here, so the scoring series (scores, decisions, model version) are fed
through the app's own `ScoringMetrics` object, the one `/predict` feeds, and the drift gauges
through its own `DriftMonitor` (tests/api_ml/test_drift.py drives them with real traffic),
the freshness gauges read a stand-in snapshot of a served full model, and the case queue's
series come from two cases written into the app's case store (one decided by a lead).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import start_http_server
from promkit import prometheus_server, query, wait_for
from testkit import free_port, sample_case, serve_app

from lakehouse.monitoring.freshness import Freshness
from lakehouse.monitoring.skew import FeatureSkew, SkewReport

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s"}
SELECTOR = re.compile(r"\b((?:http|pipeline|api_ml|elasticsearch)_[a-z_]+|up)\b(\{[^}]*\})?")
pytestmark = pytest.mark.slow


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus target of every dashboard."""
    found = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                if target["datasource"]["type"] == "prometheus":
                    found.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return found


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((ROOT / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def grafana_to_promql(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


def _pipeline_metrics() -> object:
    """The orchestrator's metrics after a run with successes and one failed stage."""
    from types import SimpleNamespace

    from lakehouse.observability.metrics import PipelineMetrics

    metrics = PipelineMetrics()
    for stage, status, rows in (("bronze", "success", 1000), ("silver", "success", 990),
                                ("gold", "up_to_date", 0), ("publish", "failed", 0)):
        metrics.record(SimpleNamespace(stage=stage, status=status, rows_in=rows,
                                       rows_out=rows, seconds=1.5))
    metrics.record_freshness(Freshness(datetime(2026, 1, 1), 0.0, 0.6))
    metrics.record_skew(SkewReport(samples=10, matched=10,
                                   features=[FeatureSkew("card_tx_count_1h", 10, 0)]))
    return metrics


def _feed_drift(drift: object) -> None:
    """A scored window for the drift gauges, as the monitor's worker would count it."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from lakehouse.ml import psi

    rng = np.random.default_rng(0)
    inputs = pd.DataFrame({"amount": rng.lognormal(3.3, 0.8, 500)})
    scores = rng.random(500)
    model = SimpleNamespace(
        version="1", drift_reference=psi.reference(inputs, ["amount"], scores).as_dict()
    )
    drift.update("basic", model, inputs * 5, scores)  # type: ignore[attr-defined]


def _served_snapshot() -> object:
    """What the freshness gauges read from a loaded full model (none is trained here)."""
    from types import SimpleNamespace

    from api_ml.api.state import Snapshot

    online = SimpleNamespace(meta=SimpleNamespace(watermark_s=1_767_225_600))  # 2026-01-01
    model = SimpleNamespace(trained_at="2026-01-01T00:00:00+00:00")
    return Snapshot(models={"full": SimpleNamespace(version="1", model=model, online=online)})


def _decided_case(engine: object) -> None:
    """One case in the queue decided by an analyst: the per-analyst series need one."""
    from lakehouse.cases import store, workflow

    lead = workflow.Actor("lena", "lead")
    store.insert_cases(engine, [sample_case("1"), sample_case("2")], "api_ml")  # type: ignore[arg-type]
    store.change_case(engine, "1", lead, "decide:confirmed_fraud",  # type: ignore[arg-type]
                      lambda case, now: workflow.decide(case, lead, "confirmed_fraud", now))


@contextlib.contextmanager
def running_services() -> Iterator[dict[str, str]]:
    """The services on loopback; yields {prometheus job: base URL}."""
    from api.fastapi_app import create_app as create_api
    from api_ml.api.main import create_app as create_api_ml
    from sources_api.api import create_app as create_sources_api

    with contextlib.ExitStack() as stack:
        urls = {
            "sources_api": stack.enter_context(serve_app(create_sources_api())),
            "api": stack.enter_context(serve_app(create_api())),
        }
        api_ml = create_api_ml()
        urls["api_ml"] = stack.enter_context(serve_app(api_ml))
        scoring = api_ml.state.scoring_metrics
        scoring.observe("basic", 0.002, [0.02, 0.4, 0.93], [False, False, True])
        scoring.serving("basic", "fraud-detector-basic", "1", None)
        scoring.reloads.labels("basic", "loaded").inc()
        scoring.reloads.labels("full", "failed").inc()
        _feed_drift(api_ml.state.monitor.drift)
        api_ml.state.monitor.freshness.snapshot = _served_snapshot
        api_ml.state.monitor.shadow.scored.labels("full").inc(3)
        _decided_case(api_ml.state.cases.ready_engine())

        port = free_port()
        server, _thread = start_http_server(port, addr="127.0.0.1",
                                            registry=_pipeline_metrics().registry)
        stack.callback(server.shutdown)
        urls["pipeline"] = f"http://127.0.0.1:{port}"
        yield urls


def send_traffic(urls: dict[str, str]) -> None:
    """Real requests: successes, a 404, a 422 and a /predict the model-less API answers 503."""
    from api_ml.api.schemas import SEED_EXAMPLE as example
    with httpx.Client(timeout=30) as client:
        for job, url in urls.items():
            if job == "pipeline":
                continue
            client.get(f"{url}/health")
            client.get(f"{url}/openapi.json")
            client.get(f"{url}/no-such-route")
        client.post(f"{urls['api_ml']}/predict", json=example)
        client.post(f"{urls['api_ml']}/predict", json={"amount": "lots"})


def write_config(tmp: Path, urls: dict[str, str], prometheus_port: int) -> Path:
    """prometheus/prometheus.yml with loopback targets and a 1 s scrape interval."""
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ROOT / "prometheus" / "alerts.yml")]
    config.pop("alerting")  # no Alertmanager here: tests/ops/test_alertmanager.py runs one
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(urls) | {"prometheus"} == jobs, f"scrape jobs {jobs} vs services {set(urls)}"
    for job in config["scrape_configs"]:
        name = job["job_name"]
        target = f"127.0.0.1:{prometheus_port}" if name == "prometheus" else urls[name][7:]
        job["static_configs"] = [{"targets": [target]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus that has scraped the services several times after traffic."""
    from lakehouse.config import get_settings

    tmp = tmp_path_factory.mktemp("prometheus")
    saved = dict(os.environ)
    os.environ.update(LAKEHOUSE_DATA_DIR=str(tmp / "data"), LAKEHOUSE_MODEL_POLL_SECONDS="0",
                      # A registry that cannot be opened: the API starts without a model and
                      # answers /predict with 503 (the 5xx series the error alert needs).
                      MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'missing' / 'dir' / 'mlflow.db'}")
    for name in ("LAKEHOUSE_API_KEY", "ELASTICSEARCH_URL", "LAKEHOUSE_MODE"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    port = free_port()
    try:
        with running_services() as urls, \
                prometheus_server(write_config(tmp, urls, port), port, tmp) as url:
            send_traffic(urls)
            wait_for(lambda: len([s for s in query(url, "up == 1")]) == len(urls) + 1)
            # rate() needs two samples after the traffic: send more, let a few scrapes pass.
            send_traffic(urls)
            wait_for(lambda: query(url, 'sum(rate(http_requests_total{status="503"}[1m])) > 0'))
            wait_for(lambda: query(url, "count(pipeline_stage_duration_seconds_count) >= 3"))
            yield url
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.mark.parametrize(("where", "expression"), dashboard_expressions(),
                         ids=[where for where, _ in dashboard_expressions()])
def test_dashboard_expression_returns_data(prometheus: str, where: str, expression: str) -> None:
    result = query(prometheus, grafana_to_promql(expression))
    assert result, f"{where}: no series for {expression}"


@pytest.mark.parametrize("rule", alert_rules(), ids=[rule["alert"] for rule in alert_rules()])
def test_alert_rule_parses_and_its_series_exist(prometheus: str, rule: dict) -> None:
    query(prometheus, rule["expr"])  # must parse and evaluate
    selectors = {name + (labels or "") for name, labels in SELECTOR.findall(rule["expr"])}
    assert selectors, f"{rule['alert']}: no metric found in {rule['expr']}"
    for selector in sorted(selectors):
        assert query(prometheus, selector), f"{rule['alert']}: {selector} matches no series"


def test_every_alert_rule_is_loaded_and_healthy(prometheus: str) -> None:
    expected = {rule["alert"] for rule in alert_rules()}

    def evaluated() -> dict[str, str]:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        return {name: r["health"] for name, r in rules.items()} if set(rules) == expected and all(
            r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown"
            for r in rules.values()) else {}

    wait_for(evaluated, timeout=30)
    health = evaluated()
    assert all(state == "ok" for state in health.values()), health
