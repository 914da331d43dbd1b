"""Service-level behaviour of the datamarts API: /health, /summary, /metrics, and 503s.

Runs over real HTTP against SQLite and PostgreSQL: health is 503 with the reason before the
datamarts are published and 200 after; a database that is down gives 503 (never 500) on
every route; the summary equals figures recomputed from the published tables; and the
Prometheus metrics count requests per route template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import sqlalchemy as sa
from api_pipeline_marts import publish_with_pipeline
from api_reference_marts import read_table
from testkit import free_port

from api.datamarts import DATAMARTS
from api.fastapi_app import create_app
from api.routers.summary import DEFAULT_MIN_LABELED, DEFAULT_TOP
from lakehouse.config import Settings

TABLES = [datamart.table for datamart in DATAMARTS.values()]
HINT = "datamarts not published yet: run `lakehouse pipeline run`"


def test_health_is_503_before_publish_and_200_after(
    analytics_url: str, serve_api: Any, pipeline_marts: dict[str, pa.Table]
) -> None:
    with serve_api(analytics_url) as base:
        response = httpx.get(f"{base}/health")
        assert response.status_code == 503
        assert response.json()["error"].startswith(HINT)
        listing = httpx.get(f"{base}/client_features")
        assert listing.status_code == 503 and listing.json()["error"] == HINT
        assert httpx.get(f"{base}/summary").status_code == 503

        publish_with_pipeline(analytics_url, pipeline_marts)
        response = httpx.get(f"{base}/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == analytics_url.split(":")[0].split("+")[0]
        rows = {entry["table"]: entry["row_count"] for entry in body["datamarts"]}
        assert rows == {table: pipeline_marts[table].num_rows for table in TABLES}


def test_health_names_a_datamart_missing_from_publish_log(
    published_marts: str, serve_api: Any
) -> None:
    engine = sa.create_engine(published_marts)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM publish_log WHERE table_name = 'dm_card_features'"))
    engine.dispose()
    with serve_api(published_marts) as base:
        response = httpx.get(f"{base}/health")
    assert response.status_code == 503
    assert "no publish_log entry for: dm_card_features" in response.json()["error"]


def test_database_down_is_503_on_every_route(serve_api: Any, tmp_path: Path) -> None:
    unreachable = [
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/analytics",
        f"sqlite:///{tmp_path / 'no-such-folder' / 'analytics.db'}",
    ]
    for url in unreachable:
        with serve_api(url) as base:
            for path in ("/health", "/summary", "/client_features", "/time_distribution/3"):
                response = httpx.get(f"{base}{path}", timeout=30)
                assert response.status_code == 503, (url, path)
                assert response.json()["error"].startswith("analytics database unavailable")


def _riskiest(rows: list[dict], key: str, top: int, min_labeled: int) -> list[dict]:
    eligible = [
        r for r in rows if r["labeled_count"] >= min_labeled and r["fraud_rate"] is not None
    ]
    eligible.sort(key=lambda r: (-r["fraud_rate"], -r["fraud_count"], r[key]))
    return eligible[:top]


def test_summary_equals_the_published_tables(api_url: str, db: sa.Engine) -> None:
    hours = read_table(db, "time_distribution")
    for params in ({}, {"top": 3, "min_labeled": 1}):
        response = httpx.get(f"{api_url}/summary", params=params)
        assert response.status_code == 200
        body = response.json()
        top = params.get("top", DEFAULT_TOP)
        min_labeled = params.get("min_labeled", DEFAULT_MIN_LABELED)
        assert body["transaction_count"] == sum(r["tx_count"] for r in hours)
        assert body["labeled_count"] == sum(r["labeled_count"] for r in hours)
        assert body["fraud_count"] == sum(r["fraud_count"] for r in hours)
        assert body["fraud_rate"] == body["fraud_count"] / body["labeled_count"]
        assert (body["top"], body["min_labeled_count"]) == (top, min_labeled)
        for field, name in (
            ("riskiest_mccs", "mcc_risk"),
            ("riskiest_hours", "time_distribution"),
            ("riskiest_clients", "client_features"),
            ("riskiest_cards", "card_features"),
        ):
            expected = _riskiest(read_table(db, name), DATAMARTS[name].key, top, min_labeled)
            assert body[field] == expected, field
        assert body["published_at"] is not None


def test_metrics_count_requests_per_route_template(api_url: str) -> None:
    for client_id in (1, 2, 3):
        httpx.get(f"{api_url}/velocity/{client_id}")
    httpx.get(f"{api_url}/velocity", params={"limit": 5000})
    text = httpx.get(f"{api_url}/metrics").text
    series = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_request")
    }
    by_key = 'method="GET",route="/velocity/{client_id}",service="api"'
    counted = [
        value for name, value in series.items()
        if name.startswith("http_requests_total") and 'route="/velocity/{client_id}"' in name
    ]
    assert sum(counted) == 3  # one series per route template, not one per client id
    refused = 'method="GET",route="/velocity",service="api",status="422"'
    assert series[f"http_requests_total{{{refused}}}"] == 1
    assert series[f"http_request_duration_seconds_count{{{by_key}}}"] == 3


def test_a_malformed_database_url_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="LAKEHOUSE_ANALYTICS_DB_URL is not a database URL"):
        create_app(Settings(analytics_db_url="analytics.db"))


def test_a_plain_postgresql_url_uses_psycopg(
    pg_url: str, serve_api: Any, pipeline_marts: dict[str, pa.Table]
) -> None:
    publish_with_pipeline(pg_url, pipeline_marts)
    with serve_api(pg_url.replace("postgresql+psycopg://", "postgresql://")) as base:
        assert httpx.get(f"{base}/health").status_code == 200
